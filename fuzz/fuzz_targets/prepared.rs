//! The per-key-table Ed25519 path against ed25519-dalek's `verify_strict`: identical
//! accept/reject on every input (mutated genuine signatures and raw bytes).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| tasktoken_fuzz::prepared(data));
