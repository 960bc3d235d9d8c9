//! `resource NL pattern NL pattern ...`: `resource_allowed` and `action_allowed` (the first
//! pattern as the scope, the resource as the action), checked against the matching rules.
#![no_main]
libfuzzer_sys::fuzz_target!(|text: &str| tasktoken_fuzz::resource(text));
