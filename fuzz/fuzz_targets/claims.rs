//! Arbitrary bytes as a payload (or `header NUL payload`), signed with vector key `a1` so
//! that every check after the signature is reached; then the `token` oracles.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| tasktoken_fuzz::signed_claims(data));
