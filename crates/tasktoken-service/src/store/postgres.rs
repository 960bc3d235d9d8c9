//! The shared store: one PostgreSQL database for any number of `tasktoken serve` instances.
//!
//! - A revocation is committed before it is acknowledged (PostgreSQL's own durability: the
//!   commit has reached the WAL on disk), so a crash of any instance loses none.
//! - **Publication lock.** Publishers take a transaction-scoped advisory lock exclusively;
//!   revocations take it shared for their short transaction. So when a publisher reads the
//!   largest `seq`, every revocation that drew a smaller one has committed (a `BIGSERIAL`
//!   is drawn in one order and may commit in another; without the lock a revocation could
//!   commit below a published `upto_seq` and be missed forever). Two publishers never see
//!   the same last serial, so serials never repeat; the primary key enforces it too.
//! - Approval requests move between states with one conditional `UPDATE` each (row locks):
//!   of two instances deciding or collecting one request at once, exactly one succeeds.
//! - Tables are prefixed `tasktoken_`, so the database may hold other things.

use postgres::{Client, NoTls, Row, Transaction};

use tasktoken::{Approval, ApprovalState};

use super::RECORD_COLUMNS;
use super::{corrupt, decision_parts, int, Publishing, RawRecord, Record, Revoked, Store};
use super::{RawApproval, StoreError, Stored, APPROVAL_COLUMNS, FORGET_APPROVALS_AFTER};

/// The advisory lock key of the publication lock ("ttpl").
const PUBLICATION_LOCK: i64 = 0x7474_706c;

/// The version of the schema below, in `tasktoken_meta`. Version 2 is upgraded in place
/// (version 3 only adds `tasktoken_approvals`).
const SCHEMA_VERSION: i32 = 3;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tasktoken_meta (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tasktoken_revocations (
    seq BIGSERIAL PRIMARY KEY,
    jti TEXT NOT NULL UNIQUE,
    exp BIGINT NOT NULL,
    revoked_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS tasktoken_revocations_by_exp ON tasktoken_revocations (exp);
CREATE TABLE IF NOT EXISTS tasktoken_publications (
    serial BIGINT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('snapshot', 'delta')),
    kid TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    next_update BIGINT NOT NULL,
    base_serial BIGINT,
    upto_seq BIGINT NOT NULL,
    generation BIGINT NOT NULL,
    entries BIGINT NOT NULL,
    bits BIGINT NOT NULL,
    hashes INTEGER NOT NULL,
    salt BYTEA NOT NULL,
    data BYTEA
);
CREATE INDEX IF NOT EXISTS tasktoken_publications_by_generation
    ON tasktoken_publications (generation, serial);
CREATE TABLE IF NOT EXISTS tasktoken_subjects (
    key BYTEA PRIMARY KEY,
    until BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS tasktoken_subjects_by_until ON tasktoken_subjects (until);
CREATE TABLE IF NOT EXISTS tasktoken_approvals (
    id TEXT PRIMARY KEY,
    policy TEXT NOT NULL,
    state TEXT NOT NULL
        CHECK (state IN ('pending', 'approved', 'denied', 'expired', 'collected')),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    decided_by TEXT,
    decided_at BIGINT,
    collected_at BIGINT,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tasktoken_approvals_by_state
    ON tasktoken_approvals (state, expires_at);
";

/// A connection to a PostgreSQL store.
pub struct PostgresStore {
    /// Always `Some` until dropped.
    client: Option<Client>,
    /// `postgres://host/db` (no user, no password), for messages.
    name: String,
}

impl PostgresStore {
    /// Connects to `url` (a libpq-style `postgres://` URL; plain TCP or a Unix socket, no
    /// TLS: run it on a private network or a local socket), creates the schema if missing.
    ///
    /// Refuses a database whose tasktoken schema is of another version.
    pub fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        let name = redact(url);
        let failed = |e: postgres::Error| StoreError(format!("cannot use {name}: {e}"));
        let mut client = Client::connect(url, NoTls).map_err(failed)?;
        let mut tx = client.transaction().map_err(failed)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&PUBLICATION_LOCK]).map_err(failed)?;
        tx.batch_execute(SCHEMA).map_err(failed)?;
        let version: Option<i32> = tx
            .query_opt("SELECT version FROM tasktoken_meta", &[])
            .map_err(failed)?
            .map(|row| row.get(0));
        match version {
            None => {
                tx.execute("INSERT INTO tasktoken_meta (version) VALUES ($1)", &[&SCHEMA_VERSION])
                    .map_err(failed)?;
            }
            Some(SCHEMA_VERSION) => {}
            Some(2) => {
                tx.execute("UPDATE tasktoken_meta SET version = $1", &[&SCHEMA_VERSION])
                    .map_err(failed)?;
            }
            Some(other) => {
                return Err(StoreError(format!(
                    "cannot use {name}: its schema version is {other}, this tasktoken reads \
                     version {SCHEMA_VERSION}"
                )))
            }
        }
        tx.commit().map_err(failed)?;
        Ok(PostgresStore { client: Some(client), name })
    }
}

impl PostgresStore {
    fn client(&mut self) -> &mut Client {
        // Only `Drop` takes the client out.
        #[allow(clippy::expect_used)]
        self.client.as_mut().expect("the client is present until drop")
    }
}

impl Drop for PostgresStore {
    /// The synchronous client blocks on a runtime of its own when it closes, which panics on
    /// an async thread: there, it is closed on a thread of its own.
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                let _ = std::thread::Builder::new().spawn(move || drop(client));
            }
        }
    }
}

impl Store for PostgresStore {
    fn revoke(&mut self, jti: &str, exp: i64, now: i64) -> Result<Revoked, StoreError> {
        let name = self.name.clone();
        let failed = |e| db_error(&name, e);
        let mut tx = self.client().transaction().map_err(failed)?;
        tx.execute("SELECT pg_advisory_xact_lock_shared($1)", &[&PUBLICATION_LOCK])
            .map_err(failed)?;
        let inserted = tx
            .query_opt(
                "INSERT INTO tasktoken_revocations (jti, exp, revoked_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (jti) DO NOTHING RETURNING seq",
                &[&jti, &exp, &now],
            )
            .map_err(failed)?;
        let revoked = if inserted.is_some() {
            Revoked { new: true, exp }
        } else {
            let row = tx
                .query_one(
                    "SELECT exp, revoked_at FROM tasktoken_revocations WHERE jti = $1 FOR UPDATE",
                    &[&jti],
                )
                .map_err(failed)?;
            let (old, revoked_at): (i64, i64) = (row.get(0), row.get(1));
            if exp > old {
                // Delete and insert again: the sequence hands out a `seq` never used before.
                tx.execute("DELETE FROM tasktoken_revocations WHERE jti = $1", &[&jti])
                    .map_err(failed)?;
                tx.execute(
                    "INSERT INTO tasktoken_revocations (jti, exp, revoked_at) VALUES ($1, $2, $3)",
                    &[&jti, &exp, &revoked_at],
                )
                .map_err(failed)?;
                Revoked { new: false, exp }
            } else {
                Revoked { new: false, exp: old }
            }
        };
        tx.commit().map_err(failed)?;
        Ok(revoked)
    }

    fn revoked(&mut self, jti: &str) -> Result<Option<i64>, StoreError> {
        let row = self
            .client()
            .query_opt("SELECT exp FROM tasktoken_revocations WHERE jti = $1", &[&jti])
            .map_err(|e| db_error(&self.name, e))?;
        Ok(row.map(|row| row.get(0)))
    }

    fn publish(&mut self) -> Result<Box<dyn Publishing + '_>, StoreError> {
        let name = self.name.clone();
        let mut tx = self.client().transaction().map_err(|e| db_error(&name, e))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&PUBLICATION_LOCK])
            .map_err(|e| db_error(&name, e))?;
        Ok(Box::new(PostgresPublishing { tx, name }))
    }

    fn latest_snapshot(&mut self) -> Result<Option<u64>, StoreError> {
        let row = self
            .client()
            .query_one(
                "SELECT max(serial) FROM tasktoken_publications \
                 WHERE kind = 'snapshot' AND data IS NOT NULL",
                &[],
            )
            .map_err(|e| db_error(&self.name, e))?;
        let serial: Option<i64> = row.get(0);
        serial
            .map(|s| u64::try_from(s).map_err(|_| corrupt(&self.name, "a negative serial")))
            .transpose()
    }

    fn publication(&mut self, serial: u64) -> Result<Option<Stored>, StoreError> {
        let Ok(serial) = i64::try_from(serial) else {
            return Ok(None);
        };
        let row = self
            .client()
            .query_opt(
                &format!(
                    "SELECT {RECORD_COLUMNS}, data FROM tasktoken_publications WHERE serial = $1"
                ),
                &[&serial],
            )
            .map_err(|e| db_error(&self.name, e))?;
        row.map(|row| Ok((raw_record(&row).check(&self.name)?, row.get(11)))).transpose()
    }

    fn deltas_after(
        &mut self,
        generation: u64,
        after: u64,
    ) -> Result<Vec<(Record, Vec<u8>)>, StoreError> {
        let name = self.name.clone();
        let rows = self.client()
            .query(
                &format!(
                    "SELECT {RECORD_COLUMNS}, data FROM tasktoken_publications WHERE kind = 'delta' \
                     AND generation = $1 AND serial > $2 AND data IS NOT NULL ORDER BY serial"
                ),
                &[&int(&name, generation)?, &int(&name, after)?],
            )
            .map_err(|e| db_error(&name, e))?;
        rows.iter().map(|row| Ok((raw_record(row).check(&name)?, row.get(11)))).collect()
    }

    fn record_subjects(
        &mut self,
        keys: &[([u8; 32], i64)],
        now: i64,
    ) -> Result<Vec<bool>, StoreError> {
        let name = self.name.clone();
        let failed = |e| db_error(&name, e);
        let mut tx = self.client().transaction().map_err(failed)?;
        // The database's clock, less a margin, decides what is forgotten: an instance whose
        // clock runs ahead must not drop records a slower one still needs.
        let _ = now;
        tx.execute(
            "DELETE FROM tasktoken_subjects \
             WHERE until < extract(epoch FROM now())::bigint - 300",
            &[],
        )
        .map_err(failed)?;
        let digests: Vec<Vec<u8>> = keys.iter().map(|(k, _)| k.to_vec()).collect();
        let until: Vec<i64> = keys.iter().map(|(_, u)| *u).collect();
        // One round trip for the whole batch; a key twice in one batch is inserted once.
        let rows = tx
            .query(
                "INSERT INTO tasktoken_subjects (key, until) \
                 SELECT * FROM unnest($1::bytea[], $2::bigint[]) \
                 ON CONFLICT (key) DO NOTHING RETURNING key",
                &[&digests, &until],
            )
            .map_err(failed)?;
        tx.commit().map_err(failed)?;
        let mut inserted: Vec<Vec<u8>> = rows.iter().map(|row| row.get(0)).collect();
        Ok(digests
            .iter()
            .map(|digest| match inserted.iter().position(|k| k == digest) {
                Some(at) => {
                    inserted.swap_remove(at);
                    true
                }
                None => false,
            })
            .collect())
    }

    fn maintain(&mut self) -> Result<(), StoreError> {
        // Older generations' bytes are never served again: dropped, the records stay.
        self.client()
            .execute(
                "UPDATE tasktoken_publications SET data = NULL WHERE data IS NOT NULL \
                 AND generation < (SELECT max(serial) FROM tasktoken_publications \
                 WHERE kind = 'snapshot' AND data IS NOT NULL)",
                &[],
            )
            .map(drop)
            .map_err(|e| db_error(&self.name, e))
    }

    fn relax_durability(&mut self) -> Result<(), StoreError> {
        self.client()
            .batch_execute("SET synchronous_commit = off")
            .map_err(|e| db_error(&self.name, e))
    }

    fn insert_approval(&mut self, approval: &Approval) -> Result<(), StoreError> {
        let record = approval.record().to_string();
        self.client()
            .execute(
                "INSERT INTO tasktoken_approvals (id, policy, state, created_at, expires_at, \
                 record) VALUES ($1, $2, 'pending', $3, $4, $5)",
                &[
                    &approval.id,
                    &approval.policy(),
                    &approval.created_at,
                    &approval.expires_at,
                    &record,
                ],
            )
            .map(drop)
            .map_err(|e| db_error(&self.name, e))
    }

    fn approval(&mut self, id: &str) -> Result<Option<Approval>, StoreError> {
        let row = self
            .client()
            .query_opt(
                &format!("SELECT {APPROVAL_COLUMNS} FROM tasktoken_approvals WHERE id = $1"),
                &[&id],
            )
            .map_err(|e| db_error(&self.name, e))?;
        row.map(|row| raw_approval(&row).check(&self.name)).transpose()
    }

    fn pending_approvals(
        &mut self,
        policies: &[String],
        now: i64,
        limit: usize,
    ) -> Result<Vec<Approval>, StoreError> {
        let name = self.name.clone();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .client()
            .query(
                &format!(
                    "SELECT {APPROVAL_COLUMNS} FROM tasktoken_approvals WHERE state = 'pending' \
                     AND expires_at > $1 AND policy = ANY($2) ORDER BY created_at, id LIMIT $3"
                ),
                &[&now, &policies, &limit],
            )
            .map_err(|e| db_error(&name, e))?;
        rows.iter().map(|row| raw_approval(row).check(&name)).collect()
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
        let changed = self
            .client()
            .execute(
                "UPDATE tasktoken_approvals SET state = $2, decided_by = $3, decided_at = $4 \
                 WHERE id = $1 AND state = 'pending' AND expires_at > $5",
                &[&id, &state, &by, &at, &now],
            )
            .map_err(|e| db_error(&self.name, e))?;
        Ok(changed == 1)
    }

    fn collect_approval(&mut self, id: &str, now: i64) -> Result<bool, StoreError> {
        let changed = self
            .client()
            .execute(
                "UPDATE tasktoken_approvals SET state = 'collected', collected_at = $2 \
                 WHERE id = $1 AND state = 'approved'",
                &[&id, &now],
            )
            .map_err(|e| db_error(&self.name, e))?;
        Ok(changed == 1)
    }

    fn expire_approvals(&mut self, now: i64) -> Result<Vec<Approval>, StoreError> {
        let name = self.name.clone();
        let failed = |e| db_error(&name, e);
        let mut tx = self.client().transaction().map_err(failed)?;
        let rows = tx
            .query(
                &format!(
                    "UPDATE tasktoken_approvals SET state = 'expired' \
                     WHERE state = 'pending' AND expires_at <= $1 RETURNING {APPROVAL_COLUMNS}"
                ),
                &[&now],
            )
            .map_err(failed)?;
        tx.execute(
            "DELETE FROM tasktoken_approvals WHERE expires_at < $1",
            &[&now.saturating_sub(FORGET_APPROVALS_AFTER)],
        )
        .map_err(failed)?;
        tx.commit().map_err(failed)?;
        rows.iter().map(|row| raw_approval(row).check(&name)).collect()
    }

    fn name(&self) -> &str {
        &self.name
    }
}

fn raw_approval(row: &Row) -> RawApproval {
    RawApproval {
        state: row.get(0),
        decided_by: row.get(1),
        decided_at: row.get(2),
        collected_at: row.get(3),
        record: row.get(4),
    }
}

/// A publication in progress: one transaction holding the publication lock.
struct PostgresPublishing<'a> {
    tx: Transaction<'a>,
    name: String,
}

impl Publishing for PostgresPublishing<'_> {
    fn last_serial(&mut self) -> Result<u64, StoreError> {
        let row = self
            .tx
            .query_one("SELECT coalesce(max(serial), 0) FROM tasktoken_publications", &[])
            .map_err(|e| db_error(&self.name, e))?;
        u64::try_from(row.get::<_, i64>(0))
            .map_err(|_| corrupt(&self.name, "a publication serial is out of range"))
    }

    fn max_seq(&mut self) -> Result<i64, StoreError> {
        let row = self
            .tx
            .query_one("SELECT coalesce(max(seq), 0) FROM tasktoken_revocations", &[])
            .map_err(|e| db_error(&self.name, e))?;
        Ok(row.get(0))
    }

    fn live(
        &mut self,
        after_seq: i64,
        upto_seq: i64,
        live_after: i64,
    ) -> Result<Vec<String>, StoreError> {
        let rows = self
            .tx
            .query(
                "SELECT jti FROM tasktoken_revocations WHERE seq > $1 AND seq <= $2 \
                 AND exp > $3 ORDER BY seq",
                &[&after_seq, &upto_seq, &live_after],
            )
            .map_err(|e| db_error(&self.name, e))?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    fn record(&mut self, serial: u64) -> Result<Option<Record>, StoreError> {
        let Ok(serial) = i64::try_from(serial) else {
            return Ok(None);
        };
        let row = self
            .tx
            .query_opt(
                &format!("SELECT {RECORD_COLUMNS} FROM tasktoken_publications WHERE serial = $1"),
                &[&serial],
            )
            .map_err(|e| db_error(&self.name, e))?;
        row.map(|row| raw_record(&row).check(&self.name)).transpose()
    }

    fn insert(&mut self, record: &Record, bytes: &[u8]) -> Result<(), StoreError> {
        let name = &self.name;
        let kind = if record.base_serial.is_some() { "delta" } else { "snapshot" };
        let base_serial = record.base_serial.map(|s| int(name, s)).transpose()?;
        let hashes = i32::from(record.geometry.hashes());
        self.tx
            .execute(
                "INSERT INTO tasktoken_publications (serial, kind, kid, issued_at, next_update, \
                 base_serial, upto_seq, generation, entries, bits, hashes, salt, data) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                &[
                    &int(name, record.serial)?,
                    &kind,
                    &record.kid,
                    &record.issued_at,
                    &record.next_update,
                    &base_serial,
                    &record.upto_seq,
                    &int(name, record.generation)?,
                    &int(name, record.entries)?,
                    &int(name, record.geometry.bits())?,
                    &hashes,
                    &&record.salt[..],
                    &bytes,
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

fn raw_record(row: &Row) -> RawRecord {
    RawRecord {
        serial: row.get(0),
        base_serial: row.get(1),
        kid: row.get(2),
        issued_at: row.get(3),
        next_update: row.get(4),
        upto_seq: row.get(5),
        generation: row.get(6),
        entries: row.get(7),
        bits: row.get(8),
        hashes: i64::from(row.get::<_, i32>(9)),
        salt: row.get(10),
    }
}

/// `postgres://host:port/db`: the URL without user, password or parameters, for messages.
fn redact(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let rest = rest.split_once('?').map_or(rest, |(base, _)| base);
    format!("postgres://{rest}")
}

/// A failed statement, with PostgreSQL's own description.
fn db_error(name: &str, error: postgres::Error) -> StoreError {
    StoreError(format!("cannot use {name}: {error}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_lose_their_credentials_in_messages() {
        assert_eq!(
            super::redact("postgres://u:secret@db:5432/tt?sslmode=x"),
            "postgres://db:5432/tt"
        );
        assert_eq!(super::redact("postgresql://db/tt"), "postgres://db/tt");
    }
}
