//! Revocation: the Bloom filter of revoked `jti`, its signed snapshots and deltas, and the
//! replica state a verifier consults (DESIGN.md, "Revocation filter v1"; the binary format is v2, docs/revocation.md).

pub(crate) mod bloom;
pub(crate) mod filter;
pub(crate) mod format;
pub(crate) mod planner;
pub(crate) mod replica;
