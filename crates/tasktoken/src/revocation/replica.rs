//! A replica's bookkeeping: which snapshot and deltas to take, in which order, whatever
//! order they arrive in. Fetching and scheduling belong to the caller (the npm package's
//! `RevocationReplica`, a Worker); every decision is here.

use alloc::collections::BTreeMap;

use crate::error::Error;
use crate::keys::KeySet;
use crate::revocation::filter::RevocationFilter;
use crate::revocation::format::{Delta, Publication};

/// What [`RevocationReplica::offer`] did with a verified snapshot or delta.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offered {
    /// The snapshot replaced the filter (it was the first, or newer).
    Replaced,
    /// The delta applied on the current serial (and any buffered deltas after it).
    Applied,
    /// The delta is for a later serial: kept until the deltas before it arrive, or a
    /// snapshot makes it moot. [`RevocationReplica::has_gap`] is now true.
    Buffered,
    /// Not newer than what the replica has: ignored, the filter never goes back.
    Ignored,
}

/// Holds the newest verified filter built from the snapshots and deltas offered to it.
#[derive(Clone, Debug)]
pub struct RevocationReplica {
    keys: KeySet,
    filter: Option<RevocationFilter>,
    /// Verified deltas waiting for their base serial, by base serial.
    pending: BTreeMap<u64, Delta>,
}

/// The most deltas kept waiting for a missing one; beyond this the oldest is dropped (the
/// replica then needs a snapshot anyway).
const MAX_PENDING: usize = 64;

impl RevocationReplica {
    /// An empty replica trusting revocation data signed by `keys`.
    pub fn new(keys: KeySet) -> Self {
        RevocationReplica { keys, filter: None, pending: BTreeMap::new() }
    }

    /// Verifies a snapshot or delta and takes it if it moves the replica forward.
    ///
    /// Rejects malformed data, an unknown `kid` and a bad signature (see
    /// [`Publication::verify`]), and a delta on the current serial for another geometry or
    /// salt (`malformed`, a new snapshot is needed); the replica is unchanged on error.
    pub fn offer(&mut self, bytes: &[u8]) -> Result<Offered, Error> {
        match Publication::verify(bytes, &self.keys)? {
            Publication::Snapshot(snapshot) => {
                let current = self.serial();
                if current.is_some_and(|serial| snapshot.freshness.serial <= serial) {
                    return Ok(Offered::Ignored);
                }
                let serial = snapshot.freshness.serial;
                self.filter = Some(RevocationFilter::from_verified(snapshot));
                self.pending.retain(|base, _| *base >= serial);
                self.drain();
                Ok(Offered::Replaced)
            }
            Publication::Delta(delta) => {
                let Some(filter) = self.filter.as_mut() else {
                    self.buffer(delta);
                    return Ok(Offered::Buffered);
                };
                let serial = filter.freshness().serial;
                if delta.base_serial < serial {
                    return Ok(Offered::Ignored);
                }
                if delta.base_serial > serial {
                    self.buffer(delta);
                    return Ok(Offered::Buffered);
                }
                filter.apply(&delta)?;
                self.drain();
                Ok(Offered::Applied)
            }
        }
    }

    /// The current filter, if a snapshot has been taken.
    pub fn filter(&self) -> Option<&RevocationFilter> {
        self.filter.as_ref()
    }

    /// The current serial, if a snapshot has been taken.
    pub fn serial(&self) -> Option<u64> {
        self.filter.as_ref().map(|f| f.freshness().serial)
    }

    /// True while deltas wait for one that has not arrived, or no snapshot has been taken:
    /// the caller should fetch a snapshot.
    pub fn has_gap(&self) -> bool {
        self.filter.is_none() || !self.pending.is_empty()
    }

    fn buffer(&mut self, delta: Delta) {
        self.pending.insert(delta.base_serial, delta);
        while self.pending.len() > MAX_PENDING {
            self.pending.pop_first();
        }
    }

    /// Applies buffered deltas while one starts at the current serial.
    fn drain(&mut self) {
        while let Some(filter) = self.filter.as_mut() {
            let serial = filter.freshness().serial;
            let Some(delta) = self.pending.remove(&serial) else {
                break;
            };
            if filter.apply(&delta).is_err() {
                // Another geometry or salt: only a snapshot can move the replica on.
                break;
            }
        }
        if let Some(serial) = self.serial() {
            self.pending.retain(|base, _| *base >= serial);
        }
    }
}
