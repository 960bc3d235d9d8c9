//! The signed binary format v1 of revocation snapshots and deltas (docs/revocation.md).
//!
//! ```text
//! magic "TTRF" | version 2 | kind (1 snapshot, 2 delta) | kid_len u8 | kid | iss_len u16 | iss
//! serial u64 | base_serial u64 (delta only) | issued_at i64 | next_update i64
//! bits u64 | hashes u8 | salt [16]
//! snapshot: the bit array, bits / 8 bytes      delta: count u32 | count × 16-byte entries
//! signature [64]: Ed25519 over every byte before it
//! ```
//! Integers are big-endian. Parsing is strict: exact lengths, no trailing bytes.
//!
//! Version 2 names the issuer whose tokens the data governs (`iss`, 1 to 1024 bytes of
//! UTF-8): revocation data of one issuer never un-revokes another's tokens. Version 1 data is
//! refused. Implausible values are refused at decoding, whoever signed them: a serial above
//! 2^53 - 1, and a `next_update` more than [`MAX_VALID_FOR`] after `issued_at` (data that
//! would never go stale); a replica also refuses data from the future (see
//! [`Freshness::check_plausible_at`]).

use alloc::string::String;
use alloc::vec::Vec;

use crate::error::{malformed, Error, ErrorKind};
use crate::keys::{KeySet, SigningKey};
use crate::revocation::bloom::{BloomFilter, BloomGeometry, Entry, MAX_FILTER_BYTES, SALT_LEN};
use crate::revocation::planner::{MAX_FUTURE_SKEW, MAX_SERIAL, MAX_VALID_FOR, SERIAL_TIME_SHIFT};

const MAGIC: &[u8; 4] = b"TTRF";
const VERSION: u8 = 2;
/// The longest issuer name revocation data may carry, in bytes.
const MAX_ISSUER_LEN: usize = 1024;
const KIND_SNAPSHOT: u8 = 1;
const KIND_DELTA: u8 = 2;
/// The most entries one delta may carry.
pub const MAX_DELTA_ENTRIES: u32 = 1 << 20;
/// The largest snapshot or delta accepted, in bytes.
pub const MAX_PUBLICATION_LEN: usize = MAX_FILTER_BYTES as usize + 1024;

/// When a snapshot or delta was made and until when it is fresh.
///
/// Plausible values (checked at decoding and signing): `serial` at most [`MAX_SERIAL`],
/// `issued_at <= next_update <= issued_at + MAX_VALID_FOR`.
///
/// Built with [`Freshness::new`] (fields may be added), or by
/// [`crate::PublicationPlanner::freshness`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Freshness {
    /// The publication's serial; later publications have larger serials.
    pub serial: u64,
    /// When it was made, seconds since the epoch.
    pub issued_at: i64,
    /// When the next one is due; after this plus a grace, replicas call the data stale.
    pub next_update: i64,
}

impl Freshness {
    /// Serial `serial`, made at `issued_at`, next due at `next_update`. Nothing is checked
    /// here: signing and decoding refuse implausible values (`malformed`).
    pub const fn new(serial: u64, issued_at: i64, next_update: i64) -> Self {
        Freshness { serial, issued_at, next_update }
    }

    /// Refuses (`malformed`) what no authority publishes: data issued more than
    /// [`MAX_FUTURE_SKEW`] seconds after `now`, or whose serial encodes such a time (a serial
    /// is at least its issue time shifted left by [`SERIAL_TIME_SHIFT`], see
    /// [`crate::PublicationPlanner::freshness`]). This is what keeps a replica from being
    /// pinned: a far-ahead serial would make it ignore every later publication.
    pub fn check_plausible_at(&self, now: i64) -> Result<(), Error> {
        let limit = now.saturating_add(MAX_FUTURE_SKEW);
        if self.issued_at > limit {
            return Err(malformed("revocation data is issued in the future"));
        }
        let serial_time = i64::try_from(self.serial >> SERIAL_TIME_SHIFT).unwrap_or(i64::MAX);
        if serial_time > limit {
            return Err(malformed("revocation data serial is implausibly far ahead"));
        }
        Ok(())
    }

    /// The structural rules every publication obeys, signed or decoded.
    fn check(&self) -> Result<(), Error> {
        if self.next_update < self.issued_at {
            return Err(malformed("revocation data `next_update` is before `issued_at`"));
        }
        if self.next_update.saturating_sub(self.issued_at) > i64::from(MAX_VALID_FOR) {
            return Err(malformed("revocation data is valid for more than one day"));
        }
        if self.serial > MAX_SERIAL {
            return Err(malformed("revocation data serial is above 2^53 - 1"));
        }
        Ok(())
    }
}

/// A decoded snapshot: the whole filter. Only [`Publication::decode`] and
/// [`Publication::verify`] make one (fields may be added).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Snapshot {
    /// Serial and times.
    pub freshness: Freshness,
    /// The issuer whose tokens it governs.
    pub issuer: String,
    /// The key that signed it.
    pub kid: String,
    /// The filter.
    pub filter: BloomFilter,
}

/// A decoded delta: entries added since `base_serial`, for a filter of one geometry and salt.
/// Only [`Publication::decode`] and [`Publication::verify`] make one (fields may be added).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delta {
    /// Serial and times of the state the delta leads to.
    pub freshness: Freshness,
    /// The serial the delta applies to.
    pub base_serial: u64,
    /// The issuer whose tokens it governs.
    pub issuer: String,
    /// The key that signed it.
    pub kid: String,
    /// The geometry of the filter it applies to.
    pub geometry: BloomGeometry,
    /// The salt of the filter it applies to.
    pub salt: [u8; SALT_LEN],
    /// The added entries.
    pub entries: Vec<Entry>,
}

/// A decoded snapshot or delta whose signature has been checked, or not (see
/// [`Publication::decode`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Publication {
    /// A full filter.
    Snapshot(Snapshot),
    /// Entries added since a base serial.
    Delta(Delta),
}

impl Publication {
    /// Decodes and verifies: structure and plausibility (`malformed`), then the key named by
    /// `kid` in `keys` (`unknown_key`), then the Ed25519 signature, strictly
    /// (`bad_signature`). Says nothing about which issuer's keys `keys` are: callers
    /// ([`crate::RevocationFilter`], [`crate::RevocationReplica`]) check [`Publication::issuer`].
    pub fn verify(bytes: &[u8], keys: &KeySet) -> Result<Self, Error> {
        let (publication, signed_len) = Self::decode_inner(bytes)?;
        let kid = match &publication {
            Publication::Snapshot(s) => &s.kid,
            Publication::Delta(d) => &d.kid,
        };
        let key = keys.get(kid).ok_or(Error::new(
            ErrorKind::UnknownKey,
            "no trusted key has the revocation data's `kid`",
        ))?;
        let (message, signature) = bytes.split_at(signed_len);
        let signature: [u8; 64] = signature.try_into().map_err(|_| malformed("bad length"))?;
        // The same strict check as tokens get (`verify_strict` semantics), so that verify-only
        // builds link one Ed25519 verification, not two.
        if !key.prepared().verify(message, &signature) {
            return Err(Error::new(
                ErrorKind::BadSignature,
                "revocation data signature verification failed",
            ));
        }
        Ok(publication)
    }

    /// Decodes **without** checking the signature: for inspection only.
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        Self::decode_inner(bytes).map(|(p, _)| p)
    }

    /// The issuer whose tokens the publication governs.
    pub fn issuer(&self) -> &str {
        match self {
            Publication::Snapshot(s) => &s.issuer,
            Publication::Delta(d) => &d.issuer,
        }
    }

    /// Serial and times.
    pub fn freshness(&self) -> Freshness {
        match self {
            Publication::Snapshot(s) => s.freshness,
            Publication::Delta(d) => d.freshness,
        }
    }

    /// Encodes and signs a snapshot of `filter` for the tokens of `issuer`. Refuses a `kid`
    /// over 255 bytes, an issuer that is empty or over 1024 bytes, and implausible
    /// `freshness` (see [`Freshness`]) as `malformed`.
    pub fn sign_snapshot(
        filter: &BloomFilter,
        freshness: Freshness,
        issuer: &str,
        key: &SigningKey,
    ) -> Result<Vec<u8>, Error> {
        let mut out = header(KIND_SNAPSHOT, key.kid(), issuer, freshness, None)?;
        geometry(&mut out, filter.geometry(), filter.salt());
        out.extend_from_slice(filter.as_bytes());
        Ok(sign(out, key))
    }

    /// Encodes and signs a delta from `base_serial` adding `entries` to a filter of
    /// `filter`'s geometry and salt, for the tokens of `issuer`. Refuses more than 2^20
    /// entries, a serial not above the base, and what [`Publication::sign_snapshot`] refuses
    /// (`malformed`).
    pub fn sign_delta(
        filter: &BloomFilter,
        base_serial: u64,
        entries: &[Entry],
        freshness: Freshness,
        issuer: &str,
        key: &SigningKey,
    ) -> Result<Vec<u8>, Error> {
        let count = u32::try_from(entries.len())
            .ok()
            .filter(|c| *c <= MAX_DELTA_ENTRIES)
            .ok_or_else(|| malformed("a delta carries at most 2^20 entries"))?;
        if freshness.serial <= base_serial {
            return Err(malformed("a delta's serial must be greater than its base serial"));
        }
        let mut out = header(KIND_DELTA, key.kid(), issuer, freshness, Some(base_serial))?;
        geometry(&mut out, filter.geometry(), filter.salt());
        out.extend_from_slice(&count.to_be_bytes());
        for entry in entries {
            out.extend_from_slice(entry);
        }
        Ok(sign(out, key))
    }

    /// Parses everything; returns the publication and the length of the signed part.
    fn decode_inner(bytes: &[u8]) -> Result<(Self, usize), Error> {
        if bytes.len() > MAX_PUBLICATION_LEN {
            return Err(malformed("revocation data is larger than 16 MiB"));
        }
        let mut r = Reader { bytes, pos: 0 };
        if r.take(4)? != MAGIC {
            return Err(malformed("not tasktoken revocation data (bad magic)"));
        }
        if r.u8()? != VERSION {
            return Err(malformed("unsupported revocation data version"));
        }
        let kind = r.u8()?;
        if kind != KIND_SNAPSHOT && kind != KIND_DELTA {
            return Err(malformed("unknown revocation data kind"));
        }
        let kid_len = usize::from(r.u8()?);
        let kid = core::str::from_utf8(r.take(kid_len)?)
            .ok()
            .filter(|k| !k.is_empty())
            .ok_or_else(|| malformed("revocation data `kid` is not a non-empty UTF-8 string"))?
            .into();
        let issuer_len = usize::from(r.u16()?);
        let issuer: String = core::str::from_utf8(r.take(issuer_len)?)
            .ok()
            .filter(|i| !i.is_empty() && i.len() <= MAX_ISSUER_LEN)
            .ok_or_else(|| {
                malformed("revocation data `iss` is not a UTF-8 string of 1 to 1024 bytes")
            })?
            .into();
        let serial = r.u64()?;
        let base_serial = if kind == KIND_DELTA { Some(r.u64()?) } else { None };
        let freshness = Freshness { serial, issued_at: r.i64()?, next_update: r.i64()? };
        freshness.check()?;
        let geometry = BloomGeometry::new(r.u64()?, r.u8()?)?;
        let salt: [u8; SALT_LEN] = r.array()?;
        let publication = match base_serial {
            None => {
                let bits = r.take(geometry.byte_len())?.to_vec();
                let filter = BloomFilter::from_parts(geometry, salt, bits)
                    .ok_or_else(|| malformed("filter length does not match its geometry"))?;
                Publication::Snapshot(Snapshot { freshness, issuer, kid, filter })
            }
            Some(base_serial) => {
                if serial <= base_serial {
                    return Err(malformed("delta serial is not greater than its base serial"));
                }
                let count = r.u32()?;
                if count > MAX_DELTA_ENTRIES {
                    return Err(malformed("delta carries more than 2^20 entries"));
                }
                let mut entries = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    entries.push(r.array()?);
                }
                Publication::Delta(Delta {
                    freshness,
                    base_serial,
                    issuer,
                    kid,
                    geometry,
                    salt,
                    entries,
                })
            }
        };
        let signed_len = r.pos;
        r.take(64)?;
        if r.pos != bytes.len() {
            return Err(malformed("trailing bytes after the revocation data signature"));
        }
        Ok((publication, signed_len))
    }
}

fn header(
    kind: u8,
    kid: &str,
    issuer: &str,
    freshness: Freshness,
    base_serial: Option<u64>,
) -> Result<Vec<u8>, Error> {
    let kid_len = u8::try_from(kid.len()).map_err(|_| {
        malformed("a key signing revocation data needs a `kid` of at most 255 bytes")
    })?;
    if issuer.is_empty() || issuer.len() > MAX_ISSUER_LEN {
        return Err(malformed("revocation data needs an issuer of 1 to 1024 bytes"));
    }
    freshness.check()?;
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(kind);
    out.push(kid_len);
    out.extend_from_slice(kid.as_bytes());
    // At most 1024 bytes (checked above), so the length fits.
    out.extend_from_slice(&(issuer.len() as u16).to_be_bytes());
    out.extend_from_slice(issuer.as_bytes());
    out.extend_from_slice(&freshness.serial.to_be_bytes());
    if let Some(base) = base_serial {
        out.extend_from_slice(&base.to_be_bytes());
    }
    out.extend_from_slice(&freshness.issued_at.to_be_bytes());
    out.extend_from_slice(&freshness.next_update.to_be_bytes());
    Ok(out)
}

fn geometry(out: &mut Vec<u8>, geometry: BloomGeometry, salt: &[u8; SALT_LEN]) {
    out.extend_from_slice(&geometry.bits().to_be_bytes());
    out.push(geometry.hashes());
    out.extend_from_slice(salt);
}

fn sign(mut out: Vec<u8>, key: &SigningKey) -> Vec<u8> {
    let signature = key.sign(&out);
    out.extend_from_slice(&signature);
    out
}

/// A bounds-checked cursor: every read past the end is `malformed` ("truncated").
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self.pos.checked_add(n).filter(|end| *end <= self.bytes.len());
        let end = end.ok_or_else(|| malformed("revocation data is truncated"))?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, Error> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, Error> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, Error> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn i64(&mut self) -> Result<i64, Error> {
        Ok(i64::from_be_bytes(self.array()?))
    }
}
