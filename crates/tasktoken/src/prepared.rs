//! Strict Ed25519 verification with a per-key precomputed table.
//!
//! An issuer's key is fixed and long-lived, so the verifier prepares, once per key, a
//! fixed-base table of `-A` (and, once per process, of the basepoint `B`). Checking
//! `[S]B - [k]A == R` then takes at most 88 point additions (two scalars of 44 signed
//! 6-bit digits) and no doublings, instead of one variable-base double-scalar
//! multiplication (about 256 doublings). The semantics are
//! exactly ed25519-dalek's `verify_strict`, which a differential test (`tests/prepared.rs`)
//! checks on random and edge-case inputs:
//!
//! | `verify_strict` rejects | here |
//! |---|---|
//! | an `R` that does not decompress | `compress(R')` is a valid canonical encoding, so it never equals such bytes |
//! | a non-canonical encoding of `R` | likewise: `compress` is canonical |
//! | a small-order `R` | `R'.is_small_order()` (then `R = R'`) |
//! | a small-order `A` | refused when the key is imported ([`crate::PublicKey`]) |
//! | a non-canonical `S` (`S >= L`) | `Scalar::from_canonical_bytes` |
//! | `compress([S]B - [k]A) != R`, `k = SHA-512(R ‖ A ‖ M) mod L` | the same equation |
//!
//! **Variable time, on purpose.** Every input of a verification is public: the key, the
//! signed message and the signature travel in the token. ed25519-dalek's own `verify_strict`
//! is variable-time too. The lookups here index the table by the scalars' digits directly;
//! constant-time selection (curve25519-dalek's `EdwardsBasepointTable`, used before) spent
//! about a quarter of every verification reading all eight entries of each row. Nothing
//! secret is ever multiplied here: signing keeps curve25519-dalek's constant-time code.

use alloc::boxed::Box;
use alloc::vec::Vec;

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity as _;
use once_cell::race::OnceBox;
use sha2::{Digest, Sha512};

/// Bits per digit of the fixed-base tables (radix `2^WIDTH`). Measured in wasm, same
/// process, against the constant-time radix-16 table used before (docs/performance.md):
/// 4 bits 0.83–0.88×, 5 bits 0.73–0.79×, **6 bits 0.66–0.72×**, 7 bits 0.66×, 8 bits 0.64×.
/// Six bits: 44 rows of 32 points, 225 KiB per key, built in about 1,400 point additions;
/// seven and eight bits would cost 389 and 676 KiB per key for a few percent more.
const WIDTH: usize = 6;
/// Multiples per row: signed digits run over −`HALF` ..= `HALF`.
const HALF: usize = 1 << (WIDTH - 1);
/// Rows: digit positions of a reduced scalar (below 2^253), plus one for the last carry.
const ROWS: usize = 253_usize.div_ceil(WIDTH) + 1;

/// `rows[i][j] = (j + 1) · 2^(WIDTH·i) · P`: every multiple a signed digit of a reduced
/// scalar can ask for, as extended points (160 bytes each).
struct FixedBase {
    rows: Vec<[EdwardsPoint; HALF]>,
}

impl FixedBase {
    fn new(point: &EdwardsPoint) -> Self {
        let mut rows = Vec::with_capacity(ROWS);
        let mut base = *point; // 2^(WIDTH·i) · P
        for _ in 0..ROWS {
            let mut row = [base; HALF];
            for j in 1..HALF {
                row[j] = row[j - 1] + base;
            }
            base = row[HALF - 1] + row[HALF - 1];
            rows.push(row);
        }
        FixedBase { rows }
    }

    /// `acc + [scalar]P`, in variable time (public scalars only).
    fn add_multiple(&self, acc: EdwardsPoint, scalar: &Scalar) -> EdwardsPoint {
        let digits = signed_digits(scalar);
        let mut acc = acc;
        for (row, &digit) in self.rows.iter().zip(digits.iter()) {
            if digit > 0 {
                acc += &row[digit.unsigned_abs() as usize - 1];
            } else if digit < 0 {
                acc -= &row[digit.unsigned_abs() as usize - 1];
            }
        }
        acc
    }
}

/// The scalar's little-endian radix-`2^WIDTH` digits, recentred into −`HALF` .. `HALF`
/// (the last one into 0 ..= `HALF`), so that `Σ dᵢ·2^(WIDTH·i)` is the scalar.
fn signed_digits(scalar: &Scalar) -> [i16; ROWS] {
    let bytes = scalar.as_bytes();
    let bit = |n: usize| n < 256 && (bytes[n / 8] >> (n % 8)) & 1 == 1;
    let mut digits = [0i16; ROWS];
    for (i, digit) in digits.iter_mut().enumerate() {
        for b in 0..WIDTH {
            if bit(i * WIDTH + b) {
                *digit |= 1 << b;
            }
        }
    }
    let half = HALF as i16;
    for i in 0..ROWS - 1 {
        let carry = (digits[i] + half) >> WIDTH;
        digits[i] -= carry << WIDTH;
        digits[i + 1] += carry;
    }
    digits
}

/// The basepoint's table, built on first use rather than linked in (curve25519-dalek's
/// constant tables are tens of KB of incompressible data, most of the verify-only wasm
/// budget; docs/performance.md). Building it costs about as much as 16 verifications, once
/// per process (or wasm instance).
static BASEPOINT: OnceBox<FixedBase> = OnceBox::new();

fn basepoint() -> &'static FixedBase {
    BASEPOINT.get_or_init(|| Box::new(FixedBase::new(&ED25519_BASEPOINT_POINT)))
}

/// A public key ready for fast strict verification.
pub(crate) struct PreparedKey {
    /// The key's 32-byte encoding, hashed into `k`.
    encoded: [u8; 32],
    /// Fixed-base table of `-A`.
    minus_a: FixedBase,
}

impl PreparedKey {
    /// Prepares `key` (225 KiB of table). The key must already have passed the import checks
    /// (canonical, not small-order), as every [`crate::PublicKey`] has.
    pub(crate) fn new(key: &ed25519_dalek::VerifyingKey) -> Self {
        // The basepoint's table too, so that preparing keys (with the configuration) is
        // where the one-time cost falls, not the first verification.
        basepoint();
        let minus_a = FixedBase::new(&-key.to_edwards());
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
        let r_prime = basepoint().add_multiple(EdwardsPoint::identity(), &s);
        let r_prime = self.minus_a.add_multiple(r_prime, &k);
        !r_prime.is_small_order() && r_prime.compress().as_bytes() == r
    }
}

impl core::fmt::Debug for PreparedKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("PreparedKey")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::traits::IsIdentity as _;

    #[test]
    fn the_table_multiplies_like_curve25519_dalek() {
        let table = basepoint();
        let samples = [
            Scalar::ZERO,
            Scalar::ONE,
            -Scalar::ONE,
            Scalar::from(8u64),
            Scalar::from(0x8888_8888_8888_8888u64),
            Scalar::from_bytes_mod_order([0xff; 32]),
            Scalar::from_bytes_mod_order_wide(&[0x5a; 64]),
        ];
        for scalar in samples {
            let expected = ED25519_BASEPOINT_POINT * scalar;
            assert_eq!(table.add_multiple(EdwardsPoint::identity(), &scalar), expected);
            let digits = signed_digits(&scalar);
            let half = HALF as i16;
            assert!(digits[..ROWS - 1].iter().all(|d| (-half..half).contains(d)), "{digits:?}");
            assert!((0..=half).contains(&digits[ROWS - 1]));
        }
        assert!(table.add_multiple(EdwardsPoint::identity(), &Scalar::ZERO).is_identity());
    }
}
