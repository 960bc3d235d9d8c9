//! Delegation chains (`ROOT~LINK...`): never a panic, only stable codes, and no chain is
//! granted what its root alone is not.
#![no_main]
libfuzzer_sys::fuzz_target!(|text: &str| tasktoken_fuzz::chain(text));
