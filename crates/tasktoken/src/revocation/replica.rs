//! A replica's bookkeeping: which snapshot and deltas to take, in which order, whatever
//! order they arrive in. Fetching and scheduling belong to the caller (the npm package's
//! `RevocationReplica`, a Worker); every decision is here.

use alloc::collections::BTreeMap;
use alloc::string::String;

use crate::error::{Error, ErrorKind};
use crate::keys::KeySet;
use crate::revocation::filter::{verify_for, RevocationFilter};
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

/// Holds the newest verified filter built from the snapshots and deltas offered to it, for
/// the tokens of one issuer.
///
/// "Newer" is a larger serial; a serial or issue time from the future (beyond
/// [`crate::MAX_FUTURE_SKEW`]) is refused, so that no signer can pin a replica to its data.
#[derive(Clone, Debug)]
pub struct RevocationReplica {
    keys: KeySet,
    /// The issuer whose revocation data it takes; `None` until [`RevocationReplica::bind`].
    issuer: Option<String>,
    filter: Option<RevocationFilter>,
    /// Verified deltas waiting for their base serial, by base serial.
    pending: BTreeMap<u64, Delta>,
}

/// The most deltas kept waiting for a missing one; beyond this the oldest is dropped (the
/// replica then needs a snapshot anyway).
const MAX_PENDING: usize = 64;

impl RevocationReplica {
    /// An empty replica of `issuer`'s revocation data, trusting `keys` to sign it: the
    /// issuer's own token keys, or a revocation key set configured for it.
    pub fn new(issuer: &str, keys: KeySet) -> Self {
        RevocationReplica {
            keys,
            issuer: Some(issuer.into()),
            filter: None,
            pending: BTreeMap::new(),
        }
    }

    /// An empty replica that does not know its issuer yet: it takes data signed by `keys`
    /// for any issuer, but [`RevocationReplica::filter`] is `None` (so verification fails
    /// closed) until [`RevocationReplica::bind`] names the issuer. For adapters whose issuer
    /// is decided by the verifier the replica is given to (the npm package).
    pub fn unbound(keys: KeySet) -> Self {
        RevocationReplica { keys, issuer: None, filter: None, pending: BTreeMap::new() }
    }

    /// Names the issuer of an unbound replica; data already taken for another issuer is
    /// dropped. Rejects a replica bound to another issuer (`untrusted_issuer`).
    pub fn bind(&mut self, issuer: &str) -> Result<(), Error> {
        match &self.issuer {
            Some(bound) if bound == issuer => Ok(()),
            Some(_) => Err(Error::new(
                ErrorKind::UntrustedIssuer,
                "the revocation data source is for another issuer",
            )),
            None => {
                self.issuer = Some(issuer.into());
                if self.filter.as_ref().is_some_and(|f| f.issuer() != issuer) {
                    self.filter = None;
                }
                self.pending.retain(|_, d| d.issuer == issuer);
                Ok(())
            }
        }
    }

    /// The issuer it is bound to, if any.
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// The keys it trusts.
    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    /// Verifies a snapshot or delta and takes it if it moves the replica forward.
    ///
    /// Rejects malformed data, an unknown `kid` and a bad signature (see
    /// [`Publication::verify`]), data implausible at `now` (`malformed`, see
    /// [`crate::Freshness::check_plausible_at`]), data for another issuer than the bound one
    /// (`untrusted_issuer`), and a delta on the current serial for another geometry or salt
    /// (`malformed`, a new snapshot is needed); the replica is unchanged on error.
    pub fn offer(&mut self, bytes: &[u8], now: i64) -> Result<Offered, Error> {
        let publication = match &self.issuer {
            Some(issuer) => verify_for(bytes, issuer, &self.keys, now)?,
            None => {
                let publication = Publication::verify(bytes, &self.keys)?;
                publication.freshness().check_plausible_at(now)?;
                if let Some(current) = &self.filter {
                    if current.issuer() != publication.issuer() {
                        return Err(Error::new(
                            ErrorKind::UntrustedIssuer,
                            "revocation data for two issuers under one replica",
                        ));
                    }
                }
                publication
            }
        };
        match publication {
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

    /// The current filter, if a snapshot has been taken and the replica is bound to an
    /// issuer.
    pub fn filter(&self) -> Option<&RevocationFilter> {
        self.issuer.as_ref().and(self.filter.as_ref())
    }

    /// The newest filter taken, whether or not the replica is bound yet: for reporting
    /// (serial, times, a lookup), never for verification (that is [`RevocationReplica::filter`]).
    pub fn latest(&self) -> Option<&RevocationFilter> {
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
