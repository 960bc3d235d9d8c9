//! The authority's stores: the exact, durable list of revoked `jti` (with each token's
//! `exp`), every snapshot and delta published from it (with its bytes), and the subject
//! tokens already exchanged, and the requests waiting for a person's approval. One trait, [`Store`], with two implementations run by the same
//! tests: [`SqliteStore`] (one file, the CLI's and a single service's) and
//! [`PostgresStore`] (any number of `tasktoken serve` instances on one database).
//!
//! Every method that changes the store returns only once the change is committed: a
//! revocation acknowledged is a revocation kept, whatever happens to the process after.

mod postgres;
mod sqlite;

use tasktoken::{Approval, ApprovalState, BloomGeometry, Freshness, SALT_LEN};

pub use self::postgres::PostgresStore;
pub use self::sqlite::{Open, SqliteStore};

/// A store that cannot be used: its location and the database's own description (never a
/// token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

/// What [`Store::revoke`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Revoked {
    /// True if the `jti` was not revoked before.
    pub new: bool,
    /// The `exp` now stored: the larger of the given one and any stored before.
    pub exp: i64,
}

/// One published snapshot or delta, as recorded in the store.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// Its serial, decided by the core's planner: larger than every earlier one.
    pub serial: u64,
    /// For a delta, the serial it applies to; `None` for a snapshot.
    pub base_serial: Option<u64>,
    /// The key that signed it.
    pub kid: String,
    /// When it was made.
    pub issued_at: i64,
    /// When the next publication is due.
    pub next_update: i64,
    /// Every revocation with `seq <= upto_seq` is in the state it publishes (or had expired).
    pub upto_seq: i64,
    /// The serial of the snapshot whose geometry and salt it uses (its own, for a snapshot).
    pub generation: u64,
    /// Entries it carries: the `jti` in a snapshot, the entries added by a delta.
    pub entries: u64,
    /// The filter's geometry.
    pub geometry: BloomGeometry,
    /// The filter's salt.
    pub salt: [u8; SALT_LEN],
}

impl Record {
    /// A snapshot's record at `freshness` (its own generation), holding every revocation up
    /// to `upto_seq`; set `kid`, `entries` (and, for a delta, `base_serial`, `generation`).
    pub fn new(
        freshness: Freshness,
        upto_seq: i64,
        geometry: BloomGeometry,
        salt: [u8; SALT_LEN],
    ) -> Record {
        Record {
            serial: freshness.serial,
            base_serial: None,
            kid: String::new(),
            issued_at: freshness.issued_at,
            next_update: freshness.next_update,
            upto_seq,
            generation: freshness.serial,
            entries: 0,
            geometry,
            salt,
        }
    }
}

/// A publication's record and its bytes (`None` for one recorded without them).
pub type Stored = (Record, Option<Vec<u8>>);

/// The authority's durable state. Implementations are used from one thread at a time (the
/// service runs them on blocking threads); several processes may share one database.
pub trait Store: Send {
    /// Records that `jti` (of a token expiring at `exp`) is revoked as of `now`, and commits.
    ///
    /// Revoking a `jti` again keeps its row and raises its `exp` to the larger of both. A
    /// raised `exp` also gives the row a new `seq`: an entry that had expired out of the
    /// snapshots must reach the next delta again (adding it twice to a filter is harmless).
    fn revoke(&mut self, jti: &str, exp: i64, now: i64) -> Result<Revoked, StoreError>;

    /// Whether `jti` is revoked, and until which `exp`.
    fn revoked(&mut self, jti: &str) -> Result<Option<i64>, StoreError>;

    /// Starts a publication: holds the store's publication lock until
    /// [`Publishing::commit`], so that the serial, the revocations read and the record
    /// written are one consistent state, and no two publishers pick one serial.
    fn publish(&mut self) -> Result<Box<dyn Publishing + '_>, StoreError>;

    /// The largest serial of a snapshot whose bytes are stored, if any.
    fn latest_snapshot(&mut self) -> Result<Option<u64>, StoreError>;

    /// The publication `serial` and its bytes (`None` for one recorded without them).
    fn publication(&mut self, serial: u64) -> Result<Option<Stored>, StoreError>;

    /// The deltas of `generation` with a serial above `after`, with their bytes, by serial.
    fn deltas_after(
        &mut self,
        generation: u64,
        after: u64,
    ) -> Result<Vec<(Record, Vec<u8>)>, StoreError>;

    /// Records each subject-token key (a digest of its issuer and `jti`) with the time after
    /// which it may be forgotten, and commits once for all of them. For each: true if it
    /// was new, false if it had been recorded before (a replay). Keys forgotten before `now`
    /// are dropped.
    fn record_subjects(
        &mut self,
        keys: &[([u8; 32], i64)],
        now: i64,
    ) -> Result<Vec<bool>, StoreError>;

    /// Makes this connection's commits return before they reach the disk (SQLite
    /// `synchronous=NORMAL` in WAL mode and no checkpoints of its own, PostgreSQL
    /// `synchronous_commit=off`): they survive a
    /// crash of the process, not always one of the machine. Only for the connection that
    /// records subject tokens (whose loss after a power failure lets a token of a few minutes'
    /// life be exchanged a second time); revocations always commit to disk first.
    fn relax_durability(&mut self) -> Result<(), StoreError>;

    /// Housekeeping off the exchange path, run by the publisher: the bytes of older
    /// generations are dropped (their records stay), and SQLite copies the WAL back into the
    /// database file here (a passive checkpoint), so that the connection that records
    /// subjects never stops to do it.
    fn maintain(&mut self) -> Result<(), StoreError>;

    /// Records a new pending approval request, and commits. Refuses an id stored before.
    fn insert_approval(&mut self, approval: &Approval) -> Result<(), StoreError>;

    /// The approval request with public id `id`, in its stored state.
    fn approval(&mut self, id: &str) -> Result<Option<Approval>, StoreError>;

    /// Approval requests of `policies` still pending at `now` (not past `expires_at`),
    /// oldest first, at most `limit`.
    fn pending_approvals(
        &mut self,
        policies: &[String],
        now: i64,
        limit: usize,
    ) -> Result<Vec<Approval>, StoreError>;

    /// Moves request `id` from `pending` to `decided` (approved or denied, as
    /// [`Approval::decide`] said) if it is still pending and not past `expires_at` at `now`,
    /// and commits. True if this call moved it: of two deciders (two instances on one
    /// database), exactly one gets true.
    fn decide_approval(
        &mut self,
        id: &str,
        decided: &ApprovalState,
        now: i64,
    ) -> Result<bool, StoreError>;

    /// Moves request `id` from `approved` to `collected` at `now`, and commits. True if this
    /// call moved it: a token is handed out once, whoever else collects at the same time.
    fn collect_approval(&mut self, id: &str, now: i64) -> Result<bool, StoreError>;

    /// Marks every request still pending at `now` past its `expires_at` as `expired`,
    /// commits, and returns them (each is returned once, across instances); forgets requests
    /// that expired more than [`FORGET_APPROVALS_AFTER`] seconds ago.
    fn expire_approvals(&mut self, now: i64) -> Result<Vec<Approval>, StoreError>;

    /// A description of the store for messages: `--db '<path>'` or `postgres://host/db`.
    fn name(&self) -> &str;
}

/// Seconds after `expires_at` (and any collection window) after which a request is deleted.
pub const FORGET_APPROVALS_AFTER: i64 = 86_400;

/// An approvals row as both stores keep it: the state in columns (updated atomically), what
/// was fixed at request time as JSON text.
pub(crate) struct RawApproval {
    pub state: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub collected_at: Option<i64>,
    pub record: String,
}

/// The columns of [`RawApproval`], in its order.
pub(crate) const APPROVAL_COLUMNS: &str = "state, decided_by, decided_at, collected_at, record";

impl RawApproval {
    /// The approval, or an error naming the store if the row is not a valid one.
    pub(crate) fn check(self, name: &str) -> Result<Approval, StoreError> {
        let bad = || corrupt(name, "an approval record is not valid");
        let state = ApprovalState::from_parts(
            &self.state,
            self.decided_by,
            self.decided_at,
            self.collected_at,
        )
        .ok_or_else(bad)?;
        let record: serde_json::Value = serde_json::from_str(&self.record).map_err(|_| bad())?;
        Approval::from_record(&record, state).map_err(|_| bad())
    }
}

/// The columns a decision writes: state name, approver, time.
pub(crate) fn decision_parts(decided: &ApprovalState) -> Option<(&'static str, &str, i64)> {
    match decided {
        ApprovalState::Approved { by, at } => Some(("approved", by, *at)),
        ApprovalState::Denied { by, at } => Some(("denied", by, *at)),
        _ => None,
    }
}

/// A publication in progress: one transaction under the store's publication lock.
pub trait Publishing {
    /// The largest serial recorded, 0 before the first publication.
    fn last_serial(&mut self) -> Result<u64, StoreError>;

    /// The largest `seq` of any revocation, 0 if there is none.
    fn max_seq(&mut self) -> Result<i64, StoreError>;

    /// The `jti` revoked after `after_seq` (and up to `upto_seq`) whose `exp` is later than
    /// `live_after`, in the order they were revoked.
    fn live(
        &mut self,
        after_seq: i64,
        upto_seq: i64,
        live_after: i64,
    ) -> Result<Vec<String>, StoreError>;

    /// The recorded publication with `serial`, if any.
    fn record(&mut self, serial: u64) -> Result<Option<Record>, StoreError>;

    /// Records a publication with its bytes; durable once [`Publishing::commit`] returns.
    fn insert(&mut self, record: &Record, bytes: &[u8]) -> Result<(), StoreError>;

    /// Commits: everything inserted is on disk when this returns `Ok`.
    fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

/// Opens the store a service configuration names: `sqlite:PATH` (created if missing) or
/// `postgres://…` / `postgresql://…`.
///
/// Refuses any other scheme, and whatever the store itself refuses.
pub fn open(location: &str) -> Result<Box<dyn Store>, StoreError> {
    if let Some(path) = location.strip_prefix("sqlite:") {
        let store = SqliteStore::open(std::path::Path::new(path), Open::CreateIfMissing)?;
        return Ok(Box::new(store));
    }
    if location.starts_with("postgres://") || location.starts_with("postgresql://") {
        return Ok(Box::new(PostgresStore::connect(location)?));
    }
    Err(StoreError("a store is `sqlite:PATH` or `postgres://...`".into()))
}

/// A publications row as stored, before its values are checked.
pub(crate) struct RawRecord {
    pub serial: i64,
    pub base_serial: Option<i64>,
    pub kid: String,
    pub issued_at: i64,
    pub next_update: i64,
    pub upto_seq: i64,
    pub generation: i64,
    pub entries: i64,
    pub bits: i64,
    pub hashes: i64,
    pub salt: Vec<u8>,
}

/// The columns of [`RawRecord`], in its order, for both stores' queries.
pub(crate) const RECORD_COLUMNS: &str = "serial, base_serial, kid, issued_at, next_update, \
     upto_seq, generation, entries, bits, hashes, salt";

impl RawRecord {
    /// The record, or an error naming the store if a value is impossible.
    pub(crate) fn check(self, name: &str) -> Result<Record, StoreError> {
        let bad = || corrupt(name, "a publication record holds an impossible value");
        let count = |n: i64| u64::try_from(n).map_err(|_| bad());
        let geometry = u64::try_from(self.bits)
            .ok()
            .zip(u8::try_from(self.hashes).ok())
            .and_then(|(bits, hashes)| BloomGeometry::new(bits, hashes).ok())
            .ok_or_else(bad)?;
        Ok(Record {
            serial: count(self.serial)?,
            base_serial: self.base_serial.map(count).transpose()?,
            kid: self.kid,
            issued_at: self.issued_at,
            next_update: self.next_update,
            upto_seq: self.upto_seq,
            generation: count(self.generation)?,
            entries: count(self.entries)?,
            geometry,
            salt: self.salt.try_into().map_err(|_| bad())?,
        })
    }
}

/// A number of the record as the databases store it (signed 64-bit).
pub(crate) fn int(name: &str, n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| corrupt(name, "a number is too large to store"))
}

pub(crate) fn corrupt(name: &str, what: &str) -> StoreError {
    StoreError(format!("cannot use {name}: {what}"))
}

#[cfg(test)]
mod tests;
