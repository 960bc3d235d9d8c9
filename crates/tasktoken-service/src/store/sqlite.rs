//! The embedded store: one SQLite file, shared by `tasktoken revoke`, `tasktoken filter` and
//! a single `tasktoken serve`.
//!
//! The file is opened in WAL mode with `synchronous=FULL`, so a transaction that returned
//! from its commit survives a crash or a power loss. Writers take the write lock at the start
//! of their transaction (`BEGIN IMMEDIATE`) and wait up to [`BUSY_TIMEOUT`] for another
//! process to release it; that lock is also the publication lock.

use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension as _, Transaction};
use rusqlite::{Row, TransactionBehavior};

use tasktoken::{Approval, ApprovalState};

use super::RECORD_COLUMNS;
use super::{corrupt, decision_parts, int, Publishing, RawRecord, Record, Revoked, Store};
use super::{RawApproval, StoreError, Stored, APPROVAL_COLUMNS, FORGET_APPROVALS_AFTER};

/// How long a command waits for another process that holds the store's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// `PRAGMA application_id` of a tasktoken store ("TTRS"), so that no other SQLite file is
/// mistaken for one, nor one for another program's file.
const APPLICATION_ID: i32 = 0x5454_5253;

/// `PRAGMA user_version` of the schema below; a store of version 1 or 2 is upgraded in
/// place, one of another version is refused.
const SCHEMA_VERSION: i32 = 3;

/// The schema, created in a new store.
///
/// `seq` orders revocations and is never reused (AUTOINCREMENT), so "everything revoked
/// after publication P" is `seq > P.upto_seq`. `upto_seq` of a publication: every revocation
/// with a smaller or equal `seq` is in the state it publishes, or had expired when it was made.
/// `data` holds the signed bytes served by `tasktoken serve`. `subjects` holds the digests of
/// subject tokens already exchanged, until they may be forgotten.
const SCHEMA: &str = "
CREATE TABLE revocations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    jti TEXT NOT NULL UNIQUE,
    exp INTEGER NOT NULL,
    revoked_at INTEGER NOT NULL
) STRICT;
CREATE INDEX revocations_by_exp ON revocations (exp);
CREATE TABLE publications (
    serial INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('snapshot', 'delta')),
    kid TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    next_update INTEGER NOT NULL,
    base_serial INTEGER,
    upto_seq INTEGER NOT NULL,
    generation INTEGER NOT NULL,
    entries INTEGER NOT NULL,
    bits INTEGER NOT NULL,
    hashes INTEGER NOT NULL,
    salt BLOB NOT NULL,
    data BLOB
) STRICT;
";

/// What version 2 adds, for a new store and for a store of version 1.
const SCHEMA_V2: &str = "
CREATE TABLE subjects (
    key INTEGER PRIMARY KEY,
    until INTEGER NOT NULL
) STRICT;
CREATE INDEX subjects_by_until ON subjects (until);
";

/// What version 3 adds: requests waiting for a person's approval. The state lives in
/// columns that one conditional `UPDATE` moves (so a request is decided once and collected
/// once); `record` holds what was fixed at request time (JSON).
const SCHEMA_V3: &str = "
CREATE TABLE approvals (
    id TEXT PRIMARY KEY,
    policy TEXT NOT NULL,
    state TEXT NOT NULL
        CHECK (state IN ('pending', 'approved', 'denied', 'expired', 'collected')),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    decided_by TEXT,
    decided_at INTEGER,
    collected_at INTEGER,
    record TEXT NOT NULL
) STRICT;
CREATE INDEX approvals_by_state ON approvals (state, expires_at);
";

/// An open SQLite store.
pub struct SqliteStore {
    conn: Connection,
    /// When expired subject records were last dropped.
    pruned_at: i64,
    /// `--db '<path>'`, the prefix of every error message about the store.
    name: String,
}

/// Whether [`SqliteStore::open`] may create a missing store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Open {
    /// Create the file and schema if missing (`revoke`, `serve`).
    CreateIfMissing,
    /// The store must exist: publishing from a mistyped path must not publish an empty filter.
    Existing,
}

impl SqliteStore {
    /// Opens the store at `path` in WAL mode with `synchronous=FULL`, creating it if allowed,
    /// and upgrading a version 1 store.
    ///
    /// Refuses a file that is not SQLite, and a SQLite file with tables of its own that is
    /// not a tasktoken store (naming the file).
    pub fn open(path: &Path, open: Open) -> Result<SqliteStore, StoreError> {
        let name = format!("--db '{}'", path.display());
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.is_dir() {
                return Err(StoreError(format!(
                    "cannot open {name}: directory '{}' does not exist",
                    dir.display()
                )));
            }
        }
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if open == Open::CreateIfMissing {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        } else if !path.exists() {
            return Err(StoreError(format!(
                "cannot open {name}: it does not exist (`tasktoken revoke` creates it, and \
                 so does `tasktoken filter build --create`)"
            )));
        }
        let cannot_open = |e: rusqlite::Error| StoreError(format!("cannot open {name}: {e}"));
        let mut conn = Connection::open_with_flags(path, flags).map_err(cannot_open)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(cannot_open)?;
        // The first read of the file: one that is not SQLite fails here. Another program's
        // database is refused before anything in it is changed, its journal mode included.
        check(identify(&conn).map_err(cannot_open)?, &name)?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(cannot_open)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError(format!(
                "cannot open {name}: SQLite cannot use WAL mode here (journal mode is {mode})"
            )));
        }
        conn.pragma_update(None, "synchronous", "FULL").map_err(cannot_open)?;
        init(&mut conn, &name)?;
        Ok(SqliteStore { conn, name, pruned_at: i64::MIN })
    }

    fn write(&mut self) -> Result<Transaction<'_>, StoreError> {
        let name = &self.name;
        self.conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| db_error(name, e))
    }
}

impl Store for SqliteStore {
    fn revoke(&mut self, jti: &str, exp: i64, now: i64) -> Result<Revoked, StoreError> {
        let name = self.name.clone();
        let failed = |e| db_error(&name, e);
        let tx = self.write()?;
        let stored: Option<(i64, i64)> = tx
            .query_row("SELECT exp, revoked_at FROM revocations WHERE jti = ?1", [jti], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .optional()
            .map_err(failed)?;
        let insert = "INSERT INTO revocations (jti, exp, revoked_at) VALUES (?1, ?2, ?3)";
        let revoked = match stored {
            None => {
                tx.execute(insert, params![jti, exp, now]).map_err(failed)?;
                Revoked { new: true, exp }
            }
            Some((old, revoked_at)) if exp > old => {
                // Delete and insert again: AUTOINCREMENT hands out a `seq` never used before.
                tx.execute("DELETE FROM revocations WHERE jti = ?1", [jti]).map_err(failed)?;
                tx.execute(insert, params![jti, exp, revoked_at]).map_err(failed)?;
                Revoked { new: false, exp }
            }
            Some((old, _)) => Revoked { new: false, exp: old },
        };
        tx.commit().map_err(failed)?;
        Ok(revoked)
    }

    fn revoked(&mut self, jti: &str) -> Result<Option<i64>, StoreError> {
        self.conn
            .query_row("SELECT exp FROM revocations WHERE jti = ?1", [jti], |row| row.get(0))
            .optional()
            .map_err(|e| db_error(&self.name, e))
    }

    fn publish(&mut self) -> Result<Box<dyn Publishing + '_>, StoreError> {
        let name = self.name.clone();
        let tx = self.write()?;
        Ok(Box::new(SqlitePublishing { tx, name }))
    }

    fn latest_snapshot(&mut self) -> Result<Option<u64>, StoreError> {
        let serial: Option<i64> = self
            .conn
            .query_row(
                "SELECT max(serial) FROM publications WHERE kind = 'snapshot' AND data IS NOT NULL",
                [],
                |row| row.get(0),
            )
            .map_err(|e| db_error(&self.name, e))?;
        serial
            .map(|s| u64::try_from(s).map_err(|_| corrupt(&self.name, "a negative serial")))
            .transpose()
    }

    fn publication(&mut self, serial: u64) -> Result<Option<Stored>, StoreError> {
        let Ok(serial) = i64::try_from(serial) else {
            return Ok(None);
        };
        let row = self
            .conn
            .query_row(
                &format!("SELECT {RECORD_COLUMNS}, data FROM publications WHERE serial = ?1"),
                [serial],
                |row| Ok((raw_record(row)?, row.get::<_, Option<Vec<u8>>>(11)?)),
            )
            .optional()
            .map_err(|e| db_error(&self.name, e))?;
        row.map(|(raw, data)| Ok((raw.check(&self.name)?, data))).transpose()
    }

    fn deltas_after(
        &mut self,
        generation: u64,
        after: u64,
    ) -> Result<Vec<(Record, Vec<u8>)>, StoreError> {
        let name = self.name.clone();
        let failed = |e| db_error(&name, e);
        let mut statement = self
            .conn
            .prepare(&format!(
                "SELECT {RECORD_COLUMNS}, data FROM publications WHERE kind = 'delta' \
                 AND generation = ?1 AND serial > ?2 AND data IS NOT NULL ORDER BY serial"
            ))
            .map_err(failed)?;
        let rows = statement
            .query_map(params![int(&name, generation)?, int(&name, after)?], |row| {
                Ok((raw_record(row)?, row.get::<_, Vec<u8>>(11)?))
            })
            .map_err(failed)?;
        let mut out = Vec::new();
        for row in rows {
            let (raw, data) = row.map_err(failed)?;
            out.push((raw.check(&name)?, data));
        }
        Ok(out)
    }

    fn record_subjects(
        &mut self,
        keys: &[([u8; 32], i64)],
        now: i64,
    ) -> Result<Vec<bool>, StoreError> {
        let name = self.name.clone();
        let failed = |e| db_error(&name, e);
        let prune = now.saturating_sub(self.pruned_at) >= PRUNE_EVERY;
        let tx = self.write()?;
        if prune {
            tx.execute("DELETE FROM subjects WHERE until < ?1", [now]).map_err(failed)?;
        }
        let mut fresh = Vec::with_capacity(keys.len());
        {
            let mut insert = tx
                .prepare("INSERT OR IGNORE INTO subjects (key, until) VALUES (?1, ?2)")
                .map_err(failed)?;
            for (key, until) in keys {
                fresh.push(insert.execute(params![row_key(key), until]).map_err(failed)? == 1);
            }
        }
        tx.commit().map_err(failed)?;
        if prune {
            self.pruned_at = now;
        }
        Ok(fresh)
    }

    fn relax_durability(&mut self) -> Result<(), StoreError> {
        let failed = |e| db_error(&self.name, e);
        self.conn.pragma_update(None, "synchronous", "NORMAL").map_err(failed)?;
        self.conn.pragma_update(None, "wal_autocheckpoint", 0).map_err(failed)
    }

    fn maintain(&mut self) -> Result<(), StoreError> {
        let failed = |e| db_error(&self.name, e);
        self.conn.execute(DROP_OLD_DATA, []).map_err(failed)?;
        self.conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())).map_err(failed)
    }

    fn insert_approval(&mut self, approval: &Approval) -> Result<(), StoreError> {
        let name = self.name.clone();
        let failed = |e| db_error(&name, e);
        let tx = self.write()?;
        tx.execute(
            "INSERT INTO approvals (id, policy, state, created_at, expires_at, record) \
             VALUES (?1, ?2, 'pending', ?3, ?4, ?5)",
            params![
                approval.id,
                approval.policy(),
                approval.created_at,
                approval.expires_at,
                approval.record().to_string()
            ],
        )
        .map_err(failed)?;
        tx.commit().map_err(failed)
    }

    fn approval(&mut self, id: &str) -> Result<Option<Approval>, StoreError> {
        let row = self
            .conn
            .query_row(
                &format!("SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = ?1"),
                [id],
                raw_approval,
            )
            .optional()
            .map_err(|e| db_error(&self.name, e))?;
        row.map(|raw| raw.check(&self.name)).transpose()
    }

    fn pending_approvals(
        &mut self,
        policies: &[String],
        now: i64,
        limit: usize,
    ) -> Result<Vec<Approval>, StoreError> {
        let name = self.name.clone();
        let failed = |e| db_error(&name, e);
        let policies = serde_json::Value::from(policies.to_vec()).to_string();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut statement = self
            .conn
            .prepare(&format!(
                "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE state = 'pending' \
                 AND expires_at > ?1 AND policy IN (SELECT value FROM json_each(?2)) \
                 ORDER BY created_at, id LIMIT ?3"
            ))
            .map_err(failed)?;
        let rows =
            statement.query_map(params![now, policies, limit], raw_approval).map_err(failed)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row.map_err(failed)?.check(&name)?);
        }
        Ok(out)
    }

    fn decide_approval(
        &mut self,
        id: &str,
        decided: &ApprovalState,
        now: i64,
    ) -> Result<bool, StoreError> {
        let Some((state, by, at)) = decision_parts(decided) else {
            return Ok(false);
        };
        let name = self.name.clone();
        let failed = |e| db_error(&name, e);
        let tx = self.write()?;
        let changed = tx
            .execute(
                "UPDATE approvals SET state = ?2, decided_by = ?3, decided_at = ?4 \
                 WHERE id = ?1 AND state = 'pending' AND expires_at > ?5",
                params![id, state, by, at, now],
            )
            .map_err(failed)?;
        tx.commit().map_err(failed)?;
        Ok(changed == 1)
    }

    fn collect_approval(&mut self, id: &str, now: i64) -> Result<bool, StoreError> {
        let name = self.name.clone();
        let failed = |e| db_error(&name, e);
        let tx = self.write()?;
        let changed = tx
            .execute(
                "UPDATE approvals SET state = 'collected', collected_at = ?2 \
                 WHERE id = ?1 AND state = 'approved'",
                params![id, now],
            )
            .map_err(failed)?;
        tx.commit().map_err(failed)?;
        Ok(changed == 1)
    }

    fn expire_approvals(&mut self, now: i64) -> Result<Vec<Approval>, StoreError> {
        let name = self.name.clone();
        let failed = |e| db_error(&name, e);
        let tx = self.write()?;
        let mut expired = Vec::new();
        {
            let mut statement = tx
                .prepare(&format!(
                    "UPDATE approvals SET state = 'expired' \
                     WHERE state = 'pending' AND expires_at <= ?1 RETURNING {APPROVAL_COLUMNS}"
                ))
                .map_err(failed)?;
            let rows = statement.query_map([now], raw_approval).map_err(failed)?;
            for row in rows {
                expired.push(row.map_err(failed)?);
            }
        }
        tx.execute(
            "DELETE FROM approvals WHERE expires_at < ?1",
            [now.saturating_sub(FORGET_APPROVALS_AFTER)],
        )
        .map_err(failed)?;
        tx.commit().map_err(failed)?;
        expired.into_iter().map(|raw| raw.check(&name)).collect()
    }

    fn name(&self) -> &str {
        &self.name
    }
}

fn raw_approval(row: &Row<'_>) -> rusqlite::Result<RawApproval> {
    Ok(RawApproval {
        state: row.get(0)?,
        decided_by: row.get(1)?,
        decided_at: row.get(2)?,
        collected_at: row.get(3)?,
        record: row.get(4)?,
    })
}

/// Older generations' bytes are never served again (a replica on one gets `410` and reads
/// the current snapshot): they are dropped, the records stay.
const DROP_OLD_DATA: &str = "UPDATE publications SET data = NULL WHERE data IS NOT NULL \
     AND generation < (SELECT max(serial) FROM publications \
     WHERE kind = 'snapshot' AND data IS NOT NULL)";

/// Seconds between two deletions of expired subject records: a record outlives its time by
/// at most this much, and no exchange pays for a deletion.
const PRUNE_EVERY: i64 = 10;

/// A subject digest as the table's integer key (its first 64 bits): a collision, at 2^-64 a
/// pair, would refuse a good token as a replay, never accept a replayed one.
fn row_key(digest: &[u8; 32]) -> i64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// A publication in progress: one write transaction on the store.
struct SqlitePublishing<'a> {
    tx: Transaction<'a>,
    name: String,
}

impl Publishing for SqlitePublishing<'_> {
    fn last_serial(&mut self) -> Result<u64, StoreError> {
        let last: i64 = self
            .tx
            .query_row("SELECT coalesce(max(serial), 0) FROM publications", [], |row| row.get(0))
            .map_err(|e| db_error(&self.name, e))?;
        u64::try_from(last).map_err(|_| corrupt(&self.name, "a publication serial is out of range"))
    }

    fn max_seq(&mut self) -> Result<i64, StoreError> {
        self.tx
            .query_row("SELECT coalesce(max(seq), 0) FROM revocations", [], |row| row.get(0))
            .map_err(|e| db_error(&self.name, e))
    }

    fn live(
        &mut self,
        after_seq: i64,
        upto_seq: i64,
        live_after: i64,
    ) -> Result<Vec<String>, StoreError> {
        let name = &self.name;
        let failed = |e| db_error(name, e);
        let mut statement = self
            .tx
            .prepare(
                "SELECT jti FROM revocations WHERE seq > ?1 AND seq <= ?2 AND exp > ?3 \
                 ORDER BY seq",
            )
            .map_err(failed)?;
        let rows = statement
            .query_map(params![after_seq, upto_seq, live_after], |row| row.get(0))
            .map_err(failed)?;
        rows.collect::<Result<_, _>>().map_err(failed)
    }

    fn record(&mut self, serial: u64) -> Result<Option<Record>, StoreError> {
        let Ok(serial) = i64::try_from(serial) else {
            return Ok(None);
        };
        let row = self
            .tx
            .query_row(
                &format!("SELECT {RECORD_COLUMNS} FROM publications WHERE serial = ?1"),
                [serial],
                raw_record,
            )
            .optional()
            .map_err(|e| db_error(&self.name, e))?;
        row.map(|raw| raw.check(&self.name)).transpose()
    }

    fn insert(&mut self, record: &Record, bytes: &[u8]) -> Result<(), StoreError> {
        let name = &self.name;
        let kind = if record.base_serial.is_some() { "delta" } else { "snapshot" };
        let base_serial = record.base_serial.map(|s| int(name, s)).transpose()?;
        self.tx
            .execute(
                "INSERT INTO publications (serial, kind, kid, issued_at, next_update, \
                 base_serial, upto_seq, generation, entries, bits, hashes, salt, data) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                params![
                    int(name, record.serial)?,
                    kind,
                    record.kid,
                    record.issued_at,
                    record.next_update,
                    base_serial,
                    record.upto_seq,
                    int(name, record.generation)?,
                    int(name, record.entries)?,
                    int(name, record.geometry.bits())?,
                    record.geometry.hashes(),
                    &record.salt[..],
                    bytes,
                ],
            )
            .map(drop)
            .map_err(|e| db_error(name, e))
    }

    fn commit(self: Box<Self>) -> Result<(), StoreError> {
        let name = self.name;
        self.tx.commit().map_err(|e| db_error(&name, e))
    }
}

fn raw_record(row: &Row<'_>) -> rusqlite::Result<RawRecord> {
    Ok(RawRecord {
        serial: row.get(0)?,
        base_serial: row.get(1)?,
        kid: row.get(2)?,
        issued_at: row.get(3)?,
        next_update: row.get(4)?,
        upto_seq: row.get(5)?,
        generation: row.get(6)?,
        entries: row.get(7)?,
        bits: row.get(8)?,
        hashes: row.get(9)?,
        salt: row.get(10)?,
    })
}

/// What an opened SQLite file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Identity {
    /// A store of this schema version.
    Store,
    /// A store of version 1, upgraded in place by [`init`].
    Version1,
    /// A store of version 2, upgraded in place by [`init`].
    Version2,
    /// A new file, without any table yet.
    Empty,
    /// A store of another schema version.
    OtherVersion(i32),
    /// Another program's database.
    Foreign,
}

fn identify(conn: &Connection) -> rusqlite::Result<Identity> {
    let pragma = |name| conn.pragma_query_value(None, name, |row| row.get::<_, i32>(0));
    let (application_id, version) = (pragma("application_id")?, pragma("user_version")?);
    let objects: i64 =
        conn.query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))?;
    Ok(match (application_id, version) {
        (APPLICATION_ID, SCHEMA_VERSION) => Identity::Store,
        (APPLICATION_ID, 1) => Identity::Version1,
        (APPLICATION_ID, 2) => Identity::Version2,
        (APPLICATION_ID, version) => Identity::OtherVersion(version),
        (0, 0) if objects == 0 => Identity::Empty,
        _ => Identity::Foreign,
    })
}

/// Refuses a file that is not a store of this version and will not become one.
fn check(identity: Identity, name: &str) -> Result<Identity, StoreError> {
    match identity {
        Identity::Store | Identity::Version1 | Identity::Version2 | Identity::Empty => Ok(identity),
        Identity::OtherVersion(version) => Err(StoreError(format!(
            "cannot use {name}: its schema version is {version}, this tasktoken reads \
             version {SCHEMA_VERSION}"
        ))),
        Identity::Foreign => Err(StoreError(format!(
            "cannot use {name}: it is a SQLite database of another program, not a tasktoken \
             revocation store"
        ))),
    }
}

/// Creates the schema in a new, empty file, upgrades a version 1 or 2 store, or checks again
/// (under the write lock: another process may have done either meanwhile) that the file is a
/// store of this version.
fn init(conn: &mut Connection, name: &str) -> Result<(), StoreError> {
    let failed = |e| db_error(name, e);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(failed)?;
    match check(identify(&tx).map_err(failed)?, name)? {
        Identity::Store => return Ok(()),
        Identity::Version2 => {}
        Identity::Version1 => {
            tx.execute_batch("ALTER TABLE publications ADD COLUMN data BLOB;").map_err(failed)?;
            tx.execute_batch(SCHEMA_V2).map_err(failed)?;
        }
        _ => {
            tx.execute_batch(SCHEMA).map_err(failed)?;
            tx.pragma_update(None, "application_id", APPLICATION_ID).map_err(failed)?;
            tx.execute_batch(SCHEMA_V2).map_err(failed)?;
        }
    }
    tx.execute_batch(SCHEMA_V3).map_err(failed)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION).map_err(failed)?;
    tx.commit().map_err(failed)
}

/// A failed statement on an open store, with SQLite's own description.
fn db_error(name: &str, error: rusqlite::Error) -> StoreError {
    StoreError(format!("cannot use {name}: {error}"))
}
