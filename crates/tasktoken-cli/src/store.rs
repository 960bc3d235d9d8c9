//! The revocation store: the authority's exact, durable list of revoked `jti` (with each
//! token's `exp`) and the record of every snapshot and delta published from it, in one SQLite
//! file (DESIGN.md, "Revocation filter v1"; the binary format is v2, docs/revocation.md).
//!
//! The file is opened in WAL mode with `synchronous=FULL`, so a transaction that returned
//! from its commit survives a crash or a power loss. Writers take the write lock at the start
//! of their transaction (`BEGIN IMMEDIATE`) and wait up to [`BUSY_TIMEOUT`] for another
//! process to release it.

use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension as _, Transaction};
use rusqlite::{Row, TransactionBehavior};
use tasktoken::{BloomGeometry, SALT_LEN};

use crate::failure::Failure;

/// How long a command waits for another process that holds the store's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// `PRAGMA application_id` of a tasktoken store ("TTRS"), so that no other SQLite file is
/// mistaken for one, nor one for another program's file.
const APPLICATION_ID: i32 = 0x5454_5253;

/// `PRAGMA user_version` of the schema below; a store of another version is refused.
const SCHEMA_VERSION: i32 = 1;

/// The schema, created in a new store.
///
/// `seq` orders revocations and is never reused (AUTOINCREMENT), so "everything revoked
/// after publication P" is `seq > P.upto_seq`. `upto_seq` of a publication: every revocation
/// with a smaller or equal `seq` is in the state it publishes, or had expired when it was made.
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
    salt BLOB NOT NULL
) STRICT;
";

/// An open store.
pub struct Store {
    conn: Connection,
    /// `--db '<path>'`, the prefix of every error message about the store.
    name: String,
}

/// Whether [`Store::open`] may create a missing store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Open {
    /// Create the file and schema if missing (`revoke`).
    CreateIfMissing,
    /// The store must exist: publishing from a mistyped path must not publish an empty filter.
    Existing,
}

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
        freshness: tasktoken::Freshness,
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

impl Store {
    /// Opens the store at `path` in WAL mode with `synchronous=FULL`, creating it if allowed.
    ///
    /// Refuses a file that is not SQLite, and a SQLite file with tables of its own that is
    /// not a tasktoken store (exit 2, naming the file).
    pub fn open(path: &Path, open: Open) -> Result<Store, Failure> {
        let name = format!("--db '{}'", path.display());
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.is_dir() {
                return Err(Failure::Io(format!(
                    "cannot open {name}: directory '{}' does not exist",
                    dir.display()
                )));
            }
        }
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if open == Open::CreateIfMissing {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        } else if !path.exists() {
            return Err(Failure::Io(format!(
                "cannot open {name}: it does not exist (`tasktoken revoke` creates it, and \
                 so does `tasktoken filter build --create`)"
            )));
        }
        let cannot_open = |e: rusqlite::Error| Failure::Io(format!("cannot open {name}: {e}"));
        let mut conn = Connection::open_with_flags(path, flags).map_err(cannot_open)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(cannot_open)?;
        // The first read of the file: one that is not SQLite fails here. Another program's
        // database is refused before anything in it is changed, its journal mode included.
        check(identify(&conn).map_err(cannot_open)?, &name)?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(cannot_open)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Failure::Io(format!(
                "cannot open {name}: SQLite cannot use WAL mode here (journal mode is {mode})"
            )));
        }
        conn.pragma_update(None, "synchronous", "FULL").map_err(cannot_open)?;
        init(&mut conn, &name)?;
        Ok(Store { conn, name })
    }

    /// Records that `jti` (of a token expiring at `exp`) is revoked as of `now`, and commits.
    ///
    /// Revoking a `jti` again keeps its row and raises its `exp` to the larger of both. A
    /// raised `exp` also gives the row a new `seq`: an entry that had expired out of the
    /// snapshots must reach the next delta again (adding it twice to a filter is harmless).
    pub fn revoke(&mut self, jti: &str, exp: i64, now: i64) -> Result<Revoked, Failure> {
        let name = &self.name;
        let failed = |e| db_error(name, e);
        let tx =
            self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(failed)?;
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

    /// Starts a publication: holds the write lock until [`Publishing::commit`], so that the
    /// serial, the revocations read and the record written are one consistent state.
    pub fn publish(&mut self) -> Result<Publishing<'_>, Failure> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| db_error(&self.name, e))?;
        Ok(Publishing { tx, name: &self.name })
    }

    /// `--db '<path>'`, to prefix messages about the store.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// A publication in progress: one write transaction on the store.
pub struct Publishing<'a> {
    tx: Transaction<'a>,
    name: &'a str,
}

impl Publishing<'_> {
    /// The largest serial recorded, 0 before the first publication (the core's planner
    /// decides the next).
    pub fn last_serial(&self) -> Result<u64, Failure> {
        let last: i64 = self
            .tx
            .query_row("SELECT coalesce(max(serial), 0) FROM publications", [], |row| row.get(0))
            .map_err(|e| db_error(self.name, e))?;
        u64::try_from(last).map_err(|_| corrupt(self.name, "a publication serial is out of range"))
    }

    /// The largest `seq` of any revocation, 0 if there is none.
    pub fn max_seq(&self) -> Result<i64, Failure> {
        self.tx
            .query_row("SELECT coalesce(max(seq), 0) FROM revocations", [], |row| row.get(0))
            .map_err(|e| db_error(self.name, e))
    }

    /// The `jti` revoked after `after_seq` (and up to `upto_seq`) whose `exp` is later than
    /// `live_after`, in the order they were revoked.
    pub fn live(
        &self,
        after_seq: i64,
        upto_seq: i64,
        live_after: i64,
    ) -> Result<Vec<String>, Failure> {
        let failed = |e| db_error(self.name, e);
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

    /// The recorded publication with `serial`, if any.
    pub fn record(&self, serial: u64) -> Result<Option<Record>, Failure> {
        let Ok(serial) = i64::try_from(serial) else {
            return Ok(None);
        };
        let row = self
            .tx
            .query_row(
                "SELECT serial, base_serial, kid, issued_at, next_update, upto_seq, generation, \
                 entries, bits, hashes, salt FROM publications WHERE serial = ?1",
                [serial],
                RawRecord::from_row,
            )
            .optional()
            .map_err(|e| db_error(self.name, e))?;
        row.map(|raw| raw.check(self.name)).transpose()
    }

    /// Records a publication; it is durable once [`Publishing::commit`] returns.
    pub fn insert(&self, record: &Record) -> Result<(), Failure> {
        let int = |n: u64| {
            i64::try_from(n).map_err(|_| corrupt(self.name, "a number is too large to store"))
        };
        let kind = match record.base_serial {
            None => "snapshot",
            Some(_) => "delta",
        };
        let base_serial = record.base_serial.map(int).transpose()?;
        self.tx
            .execute(
                "INSERT INTO publications (serial, kind, kid, issued_at, next_update, \
                 base_serial, upto_seq, generation, entries, bits, hashes, salt) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    int(record.serial)?,
                    kind,
                    record.kid,
                    record.issued_at,
                    record.next_update,
                    base_serial,
                    record.upto_seq,
                    int(record.generation)?,
                    int(record.entries)?,
                    int(record.geometry.bits())?,
                    record.geometry.hashes(),
                    &record.salt[..],
                ],
            )
            .map(drop)
            .map_err(|e| db_error(self.name, e))
    }

    /// Commits: everything inserted is on disk when this returns `Ok`.
    pub fn commit(self) -> Result<(), Failure> {
        self.tx.commit().map_err(|e| db_error(self.name, e))
    }
}

/// A publications row as stored, before its values are checked.
struct RawRecord {
    serial: i64,
    base_serial: Option<i64>,
    kid: String,
    issued_at: i64,
    next_update: i64,
    upto_seq: i64,
    generation: i64,
    entries: i64,
    bits: i64,
    hashes: i64,
    salt: Vec<u8>,
}

impl RawRecord {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
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

    fn check(self, name: &str) -> Result<Record, Failure> {
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

/// What an opened SQLite file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Identity {
    /// A store of this schema version.
    Store,
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
        (APPLICATION_ID, version) => Identity::OtherVersion(version),
        (0, 0) if objects == 0 => Identity::Empty,
        _ => Identity::Foreign,
    })
}

/// Refuses a file that is not a store of this version and will not become one.
fn check(identity: Identity, name: &str) -> Result<Identity, Failure> {
    match identity {
        Identity::Store | Identity::Empty => Ok(identity),
        Identity::OtherVersion(version) => Err(Failure::Io(format!(
            "cannot use {name}: its schema version is {version}, this tasktoken reads \
             version {SCHEMA_VERSION}"
        ))),
        Identity::Foreign => Err(Failure::Io(format!(
            "cannot use {name}: it is a SQLite database of another program, not a tasktoken \
             revocation store"
        ))),
    }
}

/// Creates the schema in a new, empty file, or checks again (under the write lock: another
/// process may have created it meanwhile) that the file is a store of this version.
fn init(conn: &mut Connection, name: &str) -> Result<(), Failure> {
    let failed = |e| db_error(name, e);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(failed)?;
    if check(identify(&tx).map_err(failed)?, name)? == Identity::Store {
        return Ok(());
    }
    tx.execute_batch(SCHEMA).map_err(failed)?;
    tx.pragma_update(None, "application_id", APPLICATION_ID).map_err(failed)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION).map_err(failed)?;
    tx.commit().map_err(failed)
}

/// A failed statement on an open store: a file error (exit 2), like a file that cannot be
/// read, with SQLite's own description.
fn db_error(name: &str, error: rusqlite::Error) -> Failure {
    Failure::Io(format!("cannot use {name}: {error}"))
}

fn corrupt(name: &str, what: &str) -> Failure {
    Failure::Io(format!("cannot use {name}: {what}"))
}
