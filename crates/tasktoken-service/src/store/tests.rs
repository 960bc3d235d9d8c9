//! One suite for both stores: SQLite always, PostgreSQL when `TASKTOKEN_TEST_POSTGRES` names
//! a server (`postgres://user@host:port/db`; `make test` starts a throwaway cluster). Each
//! PostgreSQL case gets a database of its own.

use super::*;
use crate::publish::{Publisher, Want};
use tasktoken::{PublicationPlanner, RevocationReplica, SigningKey};

/// Every store the suite runs on, each new and empty, with its name.
fn stores() -> Vec<(&'static str, Box<dyn Store>, Option<std::path::PathBuf>)> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("tt-store-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let sqlite = SqliteStore::open(&dir.join("store.db"), Open::CreateIfMissing).expect("sqlite");
    let mut out: Vec<(&'static str, Box<dyn Store>, Option<std::path::PathBuf>)> =
        vec![("sqlite", Box::new(sqlite), Some(dir))];
    if let Ok(url) = std::env::var("TASKTOKEN_TEST_POSTGRES") {
        out.push((
            "postgres",
            Box::new(PostgresStore::connect(&fresh_database(&url, n)).expect("pg")),
            None,
        ));
    }
    out
}

/// A new database on the server of `url`, for one test.
pub(crate) fn fresh_database(url: &str, n: usize) -> String {
    let name = format!("tt_{}_{n}_{}", std::process::id(), tasktoken_nanos());
    let mut admin = ::postgres::Client::connect(url, ::postgres::NoTls).expect("admin connection");
    admin.batch_execute(&format!("CREATE DATABASE {name}")).expect("create database");
    let base = url.rsplit_once('/').map_or(url, |(base, _)| base);
    format!("{base}/{name}")
}

fn tasktoken_nanos() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
}

const NOW: i64 = 1_800_000_000;

#[test]
fn revocations_are_kept_and_raised_never_lowered() {
    for (name, mut store, _) in stores() {
        assert_eq!(
            store.revoke("a", NOW + 60, NOW).expect("a"),
            Revoked { new: true, exp: NOW + 60 },
            "{name}"
        );
        assert_eq!(
            store.revoke("a", NOW + 30, NOW).expect("a"),
            Revoked { new: false, exp: NOW + 60 },
            "{name}"
        );
        assert_eq!(
            store.revoke("a", NOW + 90, NOW).expect("a"),
            Revoked { new: false, exp: NOW + 90 },
            "{name}"
        );
        assert_eq!(store.revoked("a").expect("q"), Some(NOW + 90), "{name}");
        assert_eq!(store.revoked("b").expect("q"), None, "{name}");
    }
}

#[test]
fn subjects_are_new_once_even_twice_in_one_batch() {
    for (name, mut store, _) in stores() {
        // Real time: PostgreSQL forgets by the database's clock.
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        let now = i64::try_from(now.expect("clock").as_secs()).expect("now");
        let (a, b, c) = ([1u8; 32], [2u8; 32], [3u8; 32]);
        let batch = [(a, now + 10), (b, now + 10), (a, now + 10)];
        let fresh = store.record_subjects(&batch, now).expect("r");
        assert_eq!(fresh, vec![true, true, false], "{name}");
        assert_eq!(store.record_subjects(&[(b, now + 10)], now).expect("r"), vec![false], "{name}");
        // Forgotten once its time (and, on PostgreSQL, a margin of 300 s) has passed.
        let kept = store.record_subjects(&[(a, now + 99)], now + 5).expect("r");
        assert_eq!(kept, vec![false], "{name}: kept until its time");
        let old = store.record_subjects(&[(c, now - 1000)], now + 6).expect("r");
        assert_eq!(old, vec![true], "{name}");
        assert_eq!(
            store.record_subjects(&[(c, now + 99)], now + 20).expect("r"),
            vec![true],
            "{name}"
        );
    }
}

#[test]
fn publications_follow_the_store_and_replicas_follow_them() {
    let key = SigningKey::generate("k1").expect("key");
    let keys = tasktoken::KeySet::from_keys([key.public_key()]).expect("keys");
    let planner = PublicationPlanner::new(1e-6, 1000, 300).expect("planner");
    let publisher = Publisher::new(key, "https://auth.test", planner, 30).expect("publisher");
    for (name, mut store, _) in stores() {
        let store = store.as_mut();
        let next = Want::Next { rotate_after: 3600 };
        let first = publisher.publish(store, next, NOW).expect("first").expect("a snapshot");
        assert!(first.record.base_serial.is_none(), "{name}: the first is a snapshot");
        assert_eq!(store.latest_snapshot().expect("latest"), Some(first.record.serial));
        assert!(
            publisher.publish(store, next, NOW + 1).expect("none").is_none(),
            "{name}: nothing due"
        );
        store.revoke("gone", NOW + 100, NOW + 1).expect("revoke");
        let delta = publisher.publish(store, next, NOW + 2).expect("d").expect("a delta");
        assert_eq!(delta.record.base_serial, Some(first.record.serial), "{name}");
        assert!(delta.record.serial > first.record.serial);
        // Half the validity later, an empty delta keeps replicas fresh.
        let keepalive = publisher.publish(store, next, NOW + 160).expect("k").expect("due");
        assert_eq!(keepalive.record.entries, 0, "{name}");
        let mut replica = RevocationReplica::new("https://auth.test", keys.clone());
        let (_, bytes) = store.publication(first.record.serial).expect("p").expect("stored");
        replica.offer(&bytes.expect("bytes"), NOW + 160).expect("snapshot");
        for (record, bytes) in
            store.deltas_after(first.record.serial, first.record.serial).expect("deltas")
        {
            assert!(record.serial > first.record.serial);
            replica.offer(&bytes, NOW + 160).expect("delta");
        }
        assert_eq!(replica.serial(), Some(keepalive.record.serial), "{name}");
        assert!(replica.filter().expect("filter").contains("gone"), "{name}");
        // An old generation is replaced once it is older than `rotate_after`.
        let rotated = publisher
            .publish(store, Want::Next { rotate_after: 100 }, NOW + 170)
            .expect("r")
            .expect("new");
        assert!(rotated.record.base_serial.is_none(), "{name}");
        assert!(store.deltas_after(rotated.record.serial, 0).expect("d").is_empty());
        store.maintain().expect("maintain");
        let (_, old_bytes) = store.publication(first.record.serial).expect("p").expect("record");
        assert!(old_bytes.is_none(), "{name}: an old generation's bytes are dropped");
        let (_, new_bytes) = store.publication(rotated.record.serial).expect("p").expect("record");
        assert!(new_bytes.is_some(), "{name}: the current one's stay");
        // A delta from an unknown serial is `stale_revocation`.
        let unknown = publisher.publish(store, Want::DeltaSince(7), NOW + 171);
        assert!(
            matches!(unknown, Err(crate::publish::PublishError::Core(e)) if e.code() == "stale_revocation")
        );
    }
}

#[test]
fn a_version_1_sqlite_store_is_upgraded_in_place() {
    let dir =
        std::env::temp_dir().join(format!("tt-v1-{}-{}", std::process::id(), tasktoken_nanos()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("v1.db");
    {
        let conn = rusqlite::Connection::open(&path).expect("open");
        conn.execute_batch(
            "CREATE TABLE revocations (seq INTEGER PRIMARY KEY AUTOINCREMENT, jti TEXT NOT NULL UNIQUE, \
             exp INTEGER NOT NULL, revoked_at INTEGER NOT NULL) STRICT;
             CREATE TABLE publications (serial INTEGER PRIMARY KEY, kind TEXT NOT NULL, kid TEXT NOT NULL, \
             issued_at INTEGER NOT NULL, next_update INTEGER NOT NULL, base_serial INTEGER, \
             upto_seq INTEGER NOT NULL, generation INTEGER NOT NULL, entries INTEGER NOT NULL, \
             bits INTEGER NOT NULL, hashes INTEGER NOT NULL, salt BLOB NOT NULL) STRICT;
             INSERT INTO revocations (jti, exp, revoked_at) VALUES ('old', 1900000000, 1);
             PRAGMA application_id = 1414812243; PRAGMA user_version = 1;",
        )
        .expect("v1 schema");
    }
    let mut store = SqliteStore::open(&path, Open::Existing).expect("upgraded");
    assert_eq!(store.revoked("old").expect("kept"), Some(1_900_000_000));
    assert_eq!(store.record_subjects(&[([9; 32], NOW)], NOW).expect("new table"), vec![true]);
    let _ = std::fs::remove_dir_all(dir);
}
