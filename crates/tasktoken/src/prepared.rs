//! Strict Ed25519 verification with a per-key precomputed table.
//!
//! An issuer's key is fixed and long-lived, so the verifier prepares, once per key, a
//! fixed-base table of `-A`. Checking `[S]B - [k]A == R` then takes two table
//! multiplications (no doublings per bit) instead of one variable-base double-scalar
//! multiplication. The semantics are exactly ed25519-dalek's `verify_strict`, which a
//! differential test (`tests/prepared.rs`) checks on random and edge-case inputs:
//!
//! | `verify_strict` rejects | here |
//! |---|---|
//! | an `R` that does not decompress | `compress(R')` is a valid canonical encoding, so it never equals such bytes |
//! | a non-canonical encoding of `R` | likewise: `compress` is canonical |
//! | a small-order `R` | `R'.is_small_order()` (then `R = R'`) |
//! | a small-order `A` | refused when the key is imported ([`crate::PublicKey`]) |
//! | a non-canonical `S` (`S >= L`) | `Scalar::from_canonical_bytes` |
//! | `compress([S]B - [k]A) != R`, `k = SHA-512(R ‖ A ‖ M) mod L` | the same equation |

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::EdwardsBasepointTable;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::BasepointTable as _;
use once_cell::race::OnceBox;
use sha2::{Digest, Sha512};

/// The basepoint's table, built on first use rather than linked in: curve25519-dalek's
/// constant `ED25519_BASEPOINT_TABLE` is 30 KB of incompressible data, which would be most of
/// the verify-only wasm budget (docs/performance.md). Building it costs one table creation,
/// once per process (or wasm instance).
static BASEPOINT: OnceBox<EdwardsBasepointTable> = OnceBox::new();

fn basepoint() -> &'static EdwardsBasepointTable {
    BASEPOINT.get_or_init(|| {
        alloc::boxed::Box::new(EdwardsBasepointTable::create(&ED25519_BASEPOINT_POINT))
    })
}

/// A public key ready for fast strict verification.
#[derive(Clone)]
pub(crate) struct PreparedKey {
    /// The key's 32-byte encoding, hashed into `k`.
    encoded: [u8; 32],
    /// Fixed-base table of `-A`.
    minus_a: EdwardsBasepointTable,
}

impl PreparedKey {
    /// Prepares `key` (about 30 KB of table). The key must already have passed the import
    /// checks (canonical, not small-order), as every [`crate::PublicKey`] has.
    pub(crate) fn new(key: &ed25519_dalek::VerifyingKey) -> Self {
        let minus_a = EdwardsBasepointTable::create(&-key.to_edwards());
        PreparedKey { encoded: key.to_bytes(), minus_a }
    }

    /// Strict Ed25519 verification of `signature` over `message`.
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let (r, s) = signature.split_at(32);
        let mut s_bytes = [0u8; 32];
        s_bytes.copy_from_slice(s);
        let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)) else {
            return false;
        };
        let digest = Sha512::new().chain_update(r).chain_update(self.encoded).chain_update(message);
        let k = Scalar::from_bytes_mod_order_wide(&digest.finalize().into());
        let r_prime = basepoint() * &s + &self.minus_a * &k;
        !r_prime.is_small_order() && r_prime.compress().as_bytes() == r
    }
}

impl core::fmt::Debug for PreparedKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("PreparedKey")
    }
}

/// Test hook: verifies with a freshly prepared key (for the differential test); `None` for
/// bytes that are not a point.
pub(crate) fn prepared_verify_strict(
    key: &[u8; 32],
    message: &[u8],
    signature: &[u8; 64],
) -> Option<bool> {
    let key = ed25519_dalek::VerifyingKey::from_bytes(key).ok()?;
    if key.is_weak() {
        return Some(false);
    }
    Some(PreparedKey::new(&key).verify(message, signature))
}
