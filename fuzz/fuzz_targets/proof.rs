//! `proof NL method NL url`: DPoP proof verification on arbitrary text; never a panic, only
//! `invalid_proof`, and what verifies was made for this method and URL.
#![no_main]
libfuzzer_sys::fuzz_target!(|text: &str| tasktoken_fuzz::proof(text));
