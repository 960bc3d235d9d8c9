//! The verify cache: tokens a verifier has already authenticated, so that a token seen again
//! skips the checks that do not depend on the time.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;

use crate::audit::Trace;
use crate::error::Error;
use crate::verifier::{Genuine, Verifier};

/// A bounded cache of tokens a [`Verifier`] has already authenticated: a token seen again,
/// byte for byte, skips parsing, the signature, claim types, issuer and audience — never the
/// time, lifetime, revocation, binding, action or resource checks. Only successes are cached.
/// Entries are found by a fast 64-bit hash of the token and then compared with the whole
/// token (in constant time), so a hash collision is only a miss, never a wrong hit. A cache
/// used with another verifier (or after its keys changed) is cleared first. Memory: at most
/// `capacity` entries, each a token and its claims (≤ 8 KiB each).
#[derive(Debug)]
pub struct VerifyCache {
    owner: u64,
    capacity: usize,
    entries: BTreeMap<u64, (String, Genuine)>,
    order: VecDeque<u64>,
}

impl VerifyCache {
    /// An empty cache holding at most `capacity` tokens (0 disables it).
    pub fn new(capacity: usize) -> Self {
        VerifyCache { owner: 0, capacity, entries: BTreeMap::new(), order: Default::default() }
    }

    /// How many tokens it holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The cached authentication of `token` by `verifier`, or a fresh one (kept if it holds).
    pub(crate) fn genuine(
        &mut self,
        verifier: &Verifier,
        token: &str,
        trace: &mut Trace,
    ) -> Result<Genuine, Error> {
        if self.owner != verifier.id() {
            self.entries.clear();
            self.order.clear();
            self.owner = verifier.id();
        }
        let key = token_hash(token.as_bytes());
        if let Some((cached, hit)) = self.entries.get(&key) {
            if same_bytes(cached.as_bytes(), token.as_bytes()) {
                if trace.enabled {
                    trace.kid = Some(hit.authenticated.kid.clone());
                    trace.issuer = Some(verifier.issuer_name(hit.issuer).into());
                    trace.claims(&hit.authenticated.map);
                }
                return Ok(hit.clone());
            }
        }
        let genuine = verifier.genuine(token, trace)?;
        if self.capacity > 0 {
            if self.order.len() >= self.capacity {
                if let Some(oldest) = self.order.pop_front() {
                    self.entries.remove(&oldest);
                }
            }
            // A colliding token replaces the older entry; `order` may then name a key twice,
            // which only evicts earlier: the bound holds.
            self.order.push_back(key);
            self.entries.insert(key, (token.into(), genuine.clone()));
        }
        Ok(genuine)
    }
}

/// A fast, non-cryptographic 64-bit hash of the token, 8 bytes at a time: an index only,
/// every hit is confirmed against the whole token.
fn token_hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut chunks = bytes.chunks_exact(8);
    let mut h = bytes.len() as u64;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        h = (h.rotate_left(5) ^ word).wrapping_mul(K);
    }
    for &byte in chunks.remainder() {
        h = (h.rotate_left(5) ^ u64::from(byte)).wrapping_mul(K);
    }
    h ^ (h >> 29)
}

/// Byte equality whose time depends only on the lengths: tokens are bearer secrets.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
