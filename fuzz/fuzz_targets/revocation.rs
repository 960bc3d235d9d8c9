//! Arbitrary bytes as revocation data: `Publication::decode`, `RevocationFilter::from_snapshot`
//! and `RevocationReplica::offer` on a replica holding the vector snapshot.
#![no_main]
libfuzzer_sys::fuzz_target!(|bytes: &[u8]| tasktoken_fuzz::revocation(bytes));
