//! The Bloom filter of revoked `jti`: geometry from a capacity and a false-positive rate,
//! salted SHA-256 of the `jti`, double hashing, OR-merge.

use alloc::vec;
use alloc::vec::Vec;

use sha2::{Digest, Sha256};

use crate::error::{malformed, Error};

/// The default target false-positive rate (DESIGN.md).
pub const DEFAULT_FPR: f64 = 1e-6;
/// The largest filter accepted or built, in bytes of bits (16 MiB: about 4.6 million
/// revocations at the default rate).
pub const MAX_FILTER_BYTES: u64 = 16 * 1024 * 1024;
/// The most hash functions a geometry may use.
pub const MAX_HASHES: u8 = 30;
/// Length of the per-snapshot random salt.
pub const SALT_LEN: usize = 16;

/// A revocation entry: the first 16 bytes of SHA-256(salt ‖ jti). Deltas carry these, not
/// the `jti` themselves.
pub type Entry = [u8; 16];

/// The shape of a Bloom filter: `bits` (a multiple of 8) and `hashes` per entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BloomGeometry {
    bits: u64,
    hashes: u8,
}

impl BloomGeometry {
    /// The geometry that holds `capacity` entries at false-positive rate `fpr`:
    /// `m = ceil(-n ln p / (ln 2)^2)` rounded up to a multiple of 64, `k = round(m / n · ln 2)`.
    ///
    /// Rejects a capacity of 0, an `fpr` outside (0, 1), or a filter over 16 MiB
    /// (`malformed`).
    pub fn for_capacity(capacity: u64, fpr: f64) -> Result<Self, Error> {
        if capacity == 0 || !(fpr > 0.0 && fpr < 1.0) {
            return Err(malformed("filter capacity must be at least 1 and fpr in (0, 1)"));
        }
        let ln2 = core::f64::consts::LN_2;
        let n = capacity as f64;
        let m = libm::ceil(-n * libm::log(fpr) / (ln2 * ln2));
        // `fpr` in (0, 1) and `n >= 1` make `m` finite and positive.
        if m > (MAX_FILTER_BYTES * 8) as f64 {
            return Err(malformed("filter for this capacity and fpr would exceed 16 MiB"));
        }
        let bits = ((m as u64).max(64)).div_ceil(64) * 64;
        let k = libm::round(bits as f64 / n * ln2).clamp(1.0, f64::from(MAX_HASHES));
        Self::new(bits, k as u8)
    }

    /// A geometry as given. Rejects `bits` that is 0, not a multiple of 8 or over 16 MiB,
    /// and `hashes` outside 1..=30 (`malformed`).
    pub fn new(bits: u64, hashes: u8) -> Result<Self, Error> {
        if bits == 0 || bits % 8 != 0 || bits / 8 > MAX_FILTER_BYTES {
            return Err(malformed(
                "filter bit count must be a positive multiple of 8, at most 16 MiB",
            ));
        }
        if hashes == 0 || hashes > MAX_HASHES {
            return Err(malformed("filter hash count must be 1 to 30"));
        }
        Ok(BloomGeometry { bits, hashes })
    }

    /// Number of bits, `m`.
    pub fn bits(&self) -> u64 {
        self.bits
    }

    /// Number of hash functions, `k`.
    pub fn hashes(&self) -> u8 {
        self.hashes
    }

    /// Size of the bit array in bytes.
    pub fn byte_len(&self) -> usize {
        // At most 16 MiB, so it fits any usize of 32 bits or more.
        (self.bits / 8) as usize
    }

    /// The expected false-positive rate once `entries` are in: `(1 - e^(-kn/m))^k`.
    pub fn false_positive_rate(&self, entries: u64) -> f64 {
        let k = f64::from(self.hashes);
        libm::pow(1.0 - libm::exp(-k * entries as f64 / self.bits as f64), k)
    }
}

/// A Bloom filter of revoked `jti`. No false negatives: an inserted `jti` is always found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BloomFilter {
    geometry: BloomGeometry,
    salt: [u8; SALT_LEN],
    bits: Vec<u8>,
}

impl BloomFilter {
    /// An empty filter.
    pub fn new(geometry: BloomGeometry, salt: [u8; SALT_LEN]) -> Self {
        BloomFilter { geometry, salt, bits: vec![0; geometry.byte_len()] }
    }

    /// An empty filter with a fresh random salt. Fails (`malformed`) only if the system
    /// has no randomness.
    pub fn with_random_salt(geometry: BloomGeometry) -> Result<Self, Error> {
        let mut salt = [0u8; SALT_LEN];
        getrandom::fill(&mut salt)
            .map_err(|_| malformed("the system's random number generator is unavailable"))?;
        Ok(Self::new(geometry, salt))
    }

    pub(crate) fn from_parts(
        geometry: BloomGeometry,
        salt: [u8; SALT_LEN],
        bits: Vec<u8>,
    ) -> Option<Self> {
        (bits.len() == geometry.byte_len()).then_some(BloomFilter { geometry, salt, bits })
    }

    /// The salted hash of `jti` under this filter's salt.
    pub fn entry(&self, jti: &str) -> Entry {
        entry(&self.salt, jti)
    }

    /// Adds `jti`.
    pub fn insert(&mut self, jti: &str) {
        self.insert_entry(&self.entry(jti));
    }

    /// Adds a precomputed entry (from a delta).
    pub fn insert_entry(&mut self, entry: &Entry) {
        for index in self.indices(entry) {
            self.bits[index / 8] |= 1 << (index % 8);
        }
    }

    /// True if `jti` may have been inserted (false positives at the geometry's rate), false
    /// if it certainly was not.
    pub fn contains(&self, jti: &str) -> bool {
        self.contains_entry(&self.entry(jti))
    }

    /// Like [`BloomFilter::contains`], for a precomputed entry.
    pub fn contains_entry(&self, entry: &Entry) -> bool {
        self.indices(entry).all(|index| self.bits[index / 8] & (1 << (index % 8)) != 0)
    }

    /// ORs `other` into this filter. Commutative and idempotent; refuses (`malformed`) a
    /// filter of another geometry or salt, whose bits mean something else.
    pub fn merge(&mut self, other: &BloomFilter) -> Result<(), Error> {
        if self.geometry != other.geometry || self.salt != other.salt {
            return Err(malformed("filters of different geometry or salt cannot be merged"));
        }
        for (mine, theirs) in self.bits.iter_mut().zip(&other.bits) {
            *mine |= theirs;
        }
        Ok(())
    }

    /// The geometry.
    pub fn geometry(&self) -> BloomGeometry {
        self.geometry
    }

    /// The salt.
    pub fn salt(&self) -> &[u8; SALT_LEN] {
        &self.salt
    }

    /// The bit array, bit `i` at `bits[i / 8] & (1 << (i % 8))`.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bits
    }

    /// Number of bits set.
    pub fn ones(&self) -> u64 {
        self.bits.iter().map(|b| u64::from(b.count_ones())).sum()
    }

    /// The estimated number of entries, from the bits set: `-m/k · ln(1 - X/m)`.
    pub fn estimated_entries(&self) -> u64 {
        let m = self.geometry.bits as f64;
        let x = self.ones() as f64;
        if x >= m {
            return u64::MAX;
        }
        libm::round(-m / f64::from(self.geometry.hashes) * libm::log(1.0 - x / m)) as u64
    }

    /// The `k` bit positions of an entry: `(h1 + i·h2) mod m` for `i` in `0..k`, with `h1`,
    /// `h2` the two little-endian 64-bit halves of the entry and `h2` forced odd.
    fn indices(&self, entry: &Entry) -> impl Iterator<Item = usize> {
        let (lo, hi) = entry.split_at(8);
        let h1 = u64::from_le_bytes(lo.try_into().unwrap_or_default());
        let h2 = u64::from_le_bytes(hi.try_into().unwrap_or_default()) | 1;
        let m = self.geometry.bits;
        // m is at most 2^27 bits here, so the index fits a usize.
        (0..u64::from(self.geometry.hashes))
            .map(move |i| (h1.wrapping_add(i.wrapping_mul(h2)) % m) as usize)
    }
}

/// SHA-256(salt ‖ jti), first 16 bytes.
pub(crate) fn entry(salt: &[u8; SALT_LEN], jti: &str) -> Entry {
    let digest = Sha256::new().chain_update(salt).chain_update(jti.as_bytes()).finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_for_the_default_rate() {
        let g = BloomGeometry::for_capacity(1000, DEFAULT_FPR).expect("geometry");
        assert_eq!(g.bits(), 28_800, "ceil(1000 · ln(1e6) / ln2²) = 28756, up to 64");
        assert_eq!(g.hashes(), 20);
        assert!(g.false_positive_rate(1000) < 1.1e-6);
        assert!(BloomGeometry::for_capacity(0, 0.01).is_err());
        assert!(BloomGeometry::for_capacity(10, 1.0).is_err());
        assert!(BloomGeometry::for_capacity(10, f64::NAN).is_err());
        assert!(BloomGeometry::for_capacity(u64::MAX, 1e-6).is_err());
    }

    #[test]
    fn inserted_entries_are_found_and_merge_is_or() {
        let g = BloomGeometry::for_capacity(100, 1e-4).expect("geometry");
        let mut a = BloomFilter::new(g, [1; 16]);
        let mut b = BloomFilter::new(g, [1; 16]);
        a.insert("jti-a");
        b.insert("jti-b");
        assert!(a.contains("jti-a") && !a.contains("jti-b"));
        let mut ab = a.clone();
        ab.merge(&b).expect("same geometry");
        let mut ba = b.clone();
        ba.merge(&a).expect("same geometry");
        assert_eq!(ab, ba, "commutative");
        let before = ab.clone();
        ab.merge(&b).expect("same geometry");
        assert_eq!(ab, before, "idempotent");
        assert!(ab.contains("jti-a") && ab.contains("jti-b"));
        assert!(a.merge(&BloomFilter::new(g, [2; 16])).is_err(), "another salt");
    }
}
