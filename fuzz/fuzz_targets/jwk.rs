//! Arbitrary text as a JWK or JWKS: `PublicKey::from_jwk`, `SigningKey::from_jwk`,
//! `KeySet::from_jwks`, with round trips of whatever is accepted.
#![no_main]
libfuzzer_sys::fuzz_target!(|text: &str| tasktoken_fuzz::jwk(text));
