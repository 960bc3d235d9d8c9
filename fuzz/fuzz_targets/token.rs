//! Arbitrary text as a token: `UnverifiedToken::parse`, `Verifier::verify_at`,
//! `verify_with` (revocation data) and `verify_for_revocation_at` against the vector keys
//! (oracles in `src/lib.rs`).
#![no_main]
libfuzzer_sys::fuzz_target!(|token: &str| tasktoken_fuzz::token(token));
