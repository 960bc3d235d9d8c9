//! One suite for both stores: SQLite always, PostgreSQL when `TASKTOKEN_TEST_POSTGRES` names
//! a server (`postgres://user@host:port/db`; `make test` starts a throwaway cluster). Each
//! PostgreSQL case gets a database of its own.

use super::*;
use crate::publish::{Publisher, Want};
use tasktoken::{PublicationPlanner, RevocationReplica, SigningKey};

/// Every store the suite runs on, each new and empty, with its name and its location (for
/// [`open`]: a second connection, as another process or instance would have).
fn stores() -> Vec<(&'static str, Box<dyn Store>, String)> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("tt-store-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let sqlite = SqliteStore::open(&dir.join("store.db"), Open::CreateIfMissing).expect("sqlite");
    let location = format!("sqlite:{}", dir.join("store.db").display());
    let mut out: Vec<(&'static str, Box<dyn Store>, String)> =
        vec![("sqlite", Box::new(sqlite), location)];
    if let Ok(url) = std::env::var("TASKTOKEN_TEST_POSTGRES") {
        let url = fresh_database(&url, n);
        out.push(("postgres", Box::new(PostgresStore::connect(&url).expect("pg")), url));
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

/// A pending approval of policy `policy` made at `now`, expiring after `expires` seconds.
fn approval(policy: &str, now: i64, expires: u32) -> tasktoken::Approval {
    let rule = tasktoken::ApprovalPolicy::new(["human:alice"], expires).expect("rule");
    let p = tasktoken::Policy::new(policy, "github")
        .and_then(|p| p.claim("repository", "acme/app"))
        .and_then(|p| p.subject("ci:{repository}"))
        .and_then(|p| p.audiences(["db"]))
        .and_then(|p| p.task("migrate-*"))
        .and_then(|p| p.scope(["db:migrate"]))
        .and_then(|p| p.resources(["dbs/prod"]))
        .expect("policy");
    let claims = serde_json::json!({"repository": "acme/app"});
    let res = vec!["dbs/prod".to_owned()];
    let request = tasktoken::ExchangeRequest::new("db", "db:migrate", &res, "migrate-1");
    let grant =
        tasktoken::decide_exchange(&[p], "github", claims.as_object().expect("o"), &request, 900)
            .expect("grant");
    let handle = tasktoken::new_approval_handle().expect("handle");
    let requester = tasktoken::Requester::new("github", "https://gh", Some("repo:acme/app"));
    tasktoken::Approval::pending(&handle, grant, Some("jkt".into()), requester, &rule, now)
}

#[test]
fn approvals_are_decided_once_and_collected_once() {
    use tasktoken::ApprovalState;
    for (name, mut store, _) in stores() {
        let a = approval("prod", NOW, 60);
        store.insert_approval(&a).expect("insert");
        assert!(store.insert_approval(&a).is_err(), "{name}: an id is stored once");
        assert_eq!(store.approval(&a.id).expect("read"), Some(a.clone()), "{name}");
        assert_eq!(store.approval("nope").expect("read"), None, "{name}");
        let other = approval("other", NOW + 1, 60);
        store.insert_approval(&other).expect("insert");
        let listed = store.pending_approvals(&["prod".into()], NOW + 1, 10).expect("list");
        assert_eq!(listed, vec![a.clone()], "{name}: only the policies asked for");
        let both =
            store.pending_approvals(&["prod".into(), "other".into()], NOW + 1, 10).expect("l");
        assert_eq!(both.len(), 2, "{name}");
        assert_eq!(store.pending_approvals(&["prod".into()], NOW + 1, 0).expect("l").len(), 0);
        let approved = ApprovalState::Approved { by: "human:alice".into(), at: NOW + 2 };
        assert!(store.decide_approval(&a.id, &approved, NOW + 2).expect("decide"), "{name}");
        let denied = ApprovalState::Denied { by: "human:bob".into(), at: NOW + 3 };
        assert!(!store.decide_approval(&a.id, &denied, NOW + 3).expect("d"), "{name}: once");
        let stored = store.approval(&a.id).expect("read").expect("there");
        assert_eq!(stored.state, approved, "{name}");
        assert!(store.pending_approvals(&["prod".into()], NOW + 3, 10).expect("l").is_empty());
        assert!(store.collect_approval(&a.id, NOW + 4).expect("collect"), "{name}");
        assert!(!store.collect_approval(&a.id, NOW + 5).expect("again"), "{name}: once");
        assert_eq!(
            store.approval(&a.id).expect("read").expect("there").state,
            ApprovalState::Collected {
                by: "human:alice".into(),
                at: NOW + 2,
                collected_at: NOW + 4
            },
            "{name}"
        );
        // A pending one is not collected, an expired one is not decided.
        assert!(!store.collect_approval(&other.id, NOW + 5).expect("c"), "{name}");
        assert!(!store.decide_approval(&other.id, &approved, NOW + 61).expect("d"), "{name}");
        let expired = store.expire_approvals(NOW + 61).expect("expire");
        assert_eq!(
            expired.iter().map(|a| a.id.clone()).collect::<Vec<_>>(),
            vec![other.id.clone()]
        );
        assert!(store.expire_approvals(NOW + 62).expect("expire").is_empty(), "{name}: once");
        assert_eq!(
            store.approval(&other.id).expect("r").expect("there").state,
            ApprovalState::Expired
        );
        // Forgotten a day after they expired.
        store.expire_approvals(NOW + 62 + FORGET_APPROVALS_AFTER).expect("forget");
        assert_eq!(store.approval(&other.id).expect("r"), None, "{name}");
    }
}

#[test]
fn approvals_survive_reopening_and_are_decided_once_across_connections() {
    use tasktoken::ApprovalState;
    for (name, mut store, location) in stores() {
        let a = approval("prod", NOW, 60);
        store.insert_approval(&a).expect("insert");
        // A second connection to the same store: another process, or another instance.
        let mut second = open(&location).expect("second connection");
        assert_eq!(second.approval(&a.id).expect("read"), Some(a.clone()), "{name}");
        let approved = ApprovalState::Approved { by: "human:alice".into(), at: NOW + 1 };
        assert!(second.decide_approval(&a.id, &approved, NOW + 1).expect("d"));
        assert!(!store.decide_approval(&a.id, &approved, NOW + 1).expect("d"));
        let collected = [
            store.collect_approval(&a.id, NOW + 2).expect("c"),
            second.collect_approval(&a.id, NOW + 2).expect("c"),
        ];
        assert_eq!(collected, [true, false], "{name}");
    }
}
