//! Revocation: the Bloom filter of revoked `jti`, its signed snapshots and deltas, and the
//! replica state a verifier consults (DESIGN.md, "Revocation filter v1").

pub(crate) mod bloom;
pub(crate) mod filter;
pub(crate) mod format;
pub(crate) mod planner;
pub(crate) mod replica;
