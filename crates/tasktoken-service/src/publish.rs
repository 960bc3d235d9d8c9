//! Publishing the store as signed revocation data: one routine for `tasktoken filter build`,
//! `tasktoken filter delta` and the token service's publisher. The core's
//! [`PublicationPlanner`] decides serial, validity, delta or new generation, and capacity;
//! this module reads the store under its publication lock, signs, and records the bytes.

use tasktoken::{
    BloomFilter, Error, ErrorKind, Generation, Publication, PublicationPlanner, SigningKey, Step,
};

use crate::store::{Publishing, Record, Store, StoreError};

/// What to publish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    /// A new generation: a snapshot of every live revocation (`filter build`).
    Snapshot,
    /// A delta from the publication with this serial, or a new generation when its filter
    /// cannot take the additions at the target rate (`filter delta --since`).
    DeltaSince(u64),
    /// What a running service publishes at `now`: nothing while the latest publication is
    /// current for at least half its validity and nothing was revoked since it; else a delta
    /// on it; a new generation when there is none, when the current one's snapshot is older
    /// than `rotate_after` seconds (expired revocations leave only at a snapshot), or when it
    /// is full.
    Next {
        /// The age of a generation's snapshot after which a new generation is made.
        rotate_after: i64,
    },
}

/// Why nothing could be published.
#[derive(Debug)]
pub enum PublishError {
    /// The store failed.
    Store(StoreError),
    /// The core refused (an unknown base is `stale_revocation`; exhausted serials, a bad
    /// clock or a filter over 16 MiB are `malformed`).
    Core(Error),
}

impl From<StoreError> for PublishError {
    fn from(error: StoreError) -> Self {
        PublishError::Store(error)
    }
}

impl From<Error> for PublishError {
    fn from(error: Error) -> Self {
        PublishError::Core(error)
    }
}

impl std::fmt::Display for PublishError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PublishError::Store(e) => e.fmt(f),
            PublishError::Core(e) => f.write_str(e.message()),
        }
    }
}

/// One publication made: its record (as stored) and its signed bytes.
#[derive(Clone, Debug)]
pub struct Published {
    /// The record stored with it.
    pub record: Record,
    /// The signed snapshot or delta.
    pub bytes: Vec<u8>,
    /// Entries in its generation's filter once it is applied.
    pub filter_entries: u64,
    /// The expected false-positive rate at that fill.
    pub expected_fpr: f64,
}

/// Signs and records publications for one issuer with one key.
pub struct Publisher {
    key: SigningKey,
    iss: String,
    planner: PublicationPlanner,
    skew: u32,
}

impl Publisher {
    /// A publisher of `iss`'s revocations signed by `key`, planned by `planner`, keeping a
    /// revocation in the filter `skew` seconds past its token's `exp` (verifiers accept a
    /// token until `exp` plus their clock skew). Rejects a skew over 300 s (`malformed`).
    pub fn new(
        key: SigningKey,
        iss: &str,
        planner: PublicationPlanner,
        skew: u32,
    ) -> Result<Publisher, Error> {
        if skew > tasktoken::MAX_CLOCK_SKEW {
            return Err(Error::new(ErrorKind::Malformed, "the clock skew is over 300 s"));
        }
        Ok(Publisher { key, iss: iss.to_owned(), planner, skew })
    }

    /// The signing key.
    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// The issuer.
    pub fn iss(&self) -> &str {
        &self.iss
    }

    /// Publishes what `want` asks for at `now`, in one transaction under the store's
    /// publication lock; `Ok(None)` when [`Want::Next`] finds nothing due. The bytes are
    /// stored with the record: once this returns, any reader of the store can serve them.
    pub fn publish(
        &self,
        store: &mut dyn Store,
        want: Want,
        now: i64,
    ) -> Result<Option<Published>, PublishError> {
        let servable = store.latest_snapshot()?;
        let name = store.name().to_owned();
        let mut tx = store.publish()?;
        let want = match want {
            Want::Next { rotate_after } => {
                match self.next(tx.as_mut(), servable, rotate_after, now)? {
                    Some(want) => want,
                    None => return Ok(None),
                }
            }
            other => other,
        };
        let upto = tx.max_seq()?;
        let live_after = now.saturating_sub(i64::from(self.skew));
        let live = tx.live(0, upto, live_after)?;
        let freshness = self.planner.freshness(tx.last_serial()?, now)?;
        let delta_base = match want {
            Want::DeltaSince(since) => {
                let unknown = |what: String| {
                    PublishError::Core(Error::new(
                        ErrorKind::StaleRevocation,
                        format!("{name}: {what}; build a snapshot with `tasktoken filter build`"),
                    ))
                };
                let base = tx
                    .record(since)?
                    .ok_or_else(|| unknown(format!("no publication has serial {since}")))?;
                let snapshot = tx
                    .record(base.generation)?
                    .filter(|s| s.base_serial.is_none())
                    .ok_or_else(|| unknown(format!("the snapshot of serial {since} is missing")))?;
                let added = tx.live(base.upto_seq, upto, live_after)?;
                // Entries in the generation once the delta is applied: its snapshot's, and
                // every revocation since it, expired or not (an entry stays in the bits
                // until the next generation).
                let since_snapshot = count(&tx.live(snapshot.upto_seq, upto, i64::MIN)?);
                let in_filter = snapshot.entries.saturating_add(since_snapshot);
                let entries = in_filter.saturating_sub(count(&added));
                let generation = Generation::new(snapshot.geometry, entries);
                match self.planner.plan(Some(generation), count(&added), count(&live))? {
                    Step::Delta => Some((base, snapshot, added, in_filter)),
                    Step::Snapshot(_) => None,
                }
            }
            _ => None,
        };
        let published = match delta_base {
            Some((base, snapshot, added, in_filter)) => {
                // An empty filter of the generation's geometry and salt computes the entries.
                let filter = BloomFilter::new(snapshot.geometry, snapshot.salt);
                let entries: Vec<_> = added.iter().map(|jti| filter.entry(jti)).collect();
                let bytes = Publication::sign_delta(
                    &filter,
                    base.serial,
                    &entries,
                    freshness,
                    &self.iss,
                    &self.key,
                )?;
                let record = Record {
                    base_serial: Some(base.serial),
                    generation: snapshot.serial,
                    entries: count(&entries),
                    kid: self.key.kid().to_owned(),
                    ..Record::new(freshness, upto, snapshot.geometry, snapshot.salt)
                };
                let expected_fpr = snapshot.geometry.false_positive_rate(in_filter);
                Published { record, bytes, filter_entries: in_filter, expected_fpr }
            }
            None => {
                let geometry = self.planner.geometry_for(count(&live))?;
                let mut filter = BloomFilter::with_random_salt(geometry)?;
                for jti in &live {
                    filter.insert(jti);
                }
                let bytes = Publication::sign_snapshot(&filter, freshness, &self.iss, &self.key)?;
                let record = Record {
                    entries: count(&live),
                    kid: self.key.kid().to_owned(),
                    ..Record::new(freshness, upto, geometry, *filter.salt())
                };
                let expected_fpr = geometry.false_positive_rate(count(&live));
                Published { record, bytes, filter_entries: count(&live), expected_fpr }
            }
        };
        tx.insert(&published.record, &published.bytes)?;
        tx.commit()?;
        Ok(Some(published))
    }

    /// What [`Want::Next`] means now, or `None` if nothing is due.
    fn next(
        &self,
        tx: &mut dyn Publishing,
        servable: Option<u64>,
        rotate_after: i64,
        now: i64,
    ) -> Result<Option<Want>, PublishError> {
        let last = tx.last_serial()?;
        let Some(base) = tx.record(last)? else {
            return Ok(Some(Want::Snapshot));
        };
        // A generation whose snapshot bytes are not in the store (made by an older CLI)
        // cannot be served: start a new one.
        let Some(snapshot) = tx.record(base.generation)?.filter(|s| Some(s.serial) == servable)
        else {
            return Ok(Some(Want::Snapshot));
        };
        if now.saturating_sub(snapshot.issued_at) >= rotate_after || base.issued_at > now {
            return Ok(Some(Want::Snapshot));
        }
        let half = base.next_update.saturating_sub(base.issued_at) / 2;
        if tx.max_seq()? > base.upto_seq || now >= base.next_update.saturating_sub(half) {
            return Ok(Some(Want::DeltaSince(base.serial)));
        }
        Ok(None)
    }
}

/// A length as a count of entries.
fn count<T>(items: &[T]) -> u64 {
    u64::try_from(items.len()).unwrap_or(u64::MAX)
}
