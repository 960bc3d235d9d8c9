//! Differential test: the verifier's precomputed-table Ed25519 path must accept and reject
//! exactly what ed25519-dalek's `verify_strict` does — on valid signatures, random bytes,
//! single-bit mutations, `S + L`, small-order `R` (canonical and non-canonical encodings),
//! and small-order or arbitrary keys.

use curve25519_dalek::constants::EIGHT_TORSION;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use proptest::prelude::*;
use tasktoken::__private::prepared_verify_strict;

fn strict(key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> Option<bool> {
    let key = VerifyingKey::from_bytes(key).ok()?;
    Some(key.verify_strict(message, &Signature::from_bytes(signature)).is_ok())
}

fn same(key: &[u8; 32], message: &[u8], signature: &[u8; 64]) {
    assert_eq!(
        prepared_verify_strict(key, message, signature),
        strict(key, message, signature),
        "key {key:02x?} sig {signature:02x?}"
    );
}

/// `s + L` (little-endian), the non-canonical twin of a canonical scalar.
fn plus_l(s: &[u8]) -> [u8; 32] {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = u16::from(s[i]) + u16::from(L[i]) + carry;
        out[i] = sum as u8;
        carry = sum >> 8;
    }
    out
}

/// Canonical encodings of the 8 small-order points, and non-canonical ones (y + p).
fn small_order_encodings() -> Vec<[u8; 32]> {
    let mut out: Vec<[u8; 32]> = EIGHT_TORSION.iter().map(|p| p.compress().to_bytes()).collect();
    let mut identity_plus_p = [0xffu8; 32];
    identity_plus_p[0] = 0xee;
    identity_plus_p[31] = 0x7f;
    let mut zero_plus_p = [0xffu8; 32];
    zero_plus_p[0] = 0xed;
    zero_plus_p[31] = 0x7f;
    out.push(identity_plus_p);
    out.push(zero_plus_p);
    let mut with_sign = zero_plus_p;
    with_sign[31] |= 0x80;
    out.push(with_sign);
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn valid_signatures_and_their_mutations(
        seed in any::<[u8; 32]>(),
        message in proptest::collection::vec(any::<u8>(), 0..200),
        bit in 0usize..512,
    ) {
        let key = SigningKey::from_bytes(&seed);
        let public = key.verifying_key().to_bytes();
        let signature = key.sign(&message).to_bytes();
        prop_assert_eq!(prepared_verify_strict(&public, &message, &signature), Some(true));
        same(&public, &message, &signature);
        let mut flipped = signature;
        flipped[bit / 8] ^= 1 << (bit % 8);
        same(&public, &message, &flipped);
        let mut malleable = signature;
        malleable[32..].copy_from_slice(&plus_l(&signature[32..]));
        same(&public, &message, &malleable);
        let mut other_message = message.clone();
        other_message.push(0);
        same(&public, &other_message, &signature);
    }

    #[test]
    fn random_bytes(key in any::<[u8; 32]>(), signature in proptest::collection::vec(any::<u8>(), 64),
                    message in proptest::collection::vec(any::<u8>(), 0..64)) {
        let signature: [u8; 64] = signature.try_into().expect("64 bytes");
        same(&key, &message, &signature);
    }
}

#[test]
fn small_order_r_and_small_order_keys() {
    let key = SigningKey::from_bytes(&[7u8; 32]);
    let public = key.verifying_key().to_bytes();
    let message = b"edge cases";
    for r in small_order_encodings() {
        for s in [[0u8; 32], {
            let mut s = [0u8; 32];
            s[0] = 1;
            s
        }] {
            let mut signature = [0u8; 64];
            signature[..32].copy_from_slice(&r);
            signature[32..].copy_from_slice(&s);
            same(&public, message, &signature);
            // A small-order key with R = identity, S = 0: the classic forgery.
            for key in small_order_encodings() {
                same(&key, message, &signature);
            }
        }
    }
}
