//! Several `tasktoken serve` instances on one real PostgreSQL database (`make test` starts a
//! throwaway cluster and sets `TASKTOKEN_TEST_POSTGRES`; without it these tests say so and
//! pass). A revocation acknowledged by one instance is published by every other; serials
//! never repeat; a subject token is exchanged once across instances; `kill -9` loses no
//! acknowledged revocation.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::serve::*;
use common::{jti as jti_of, now, TempDir};
use serde_json::Value;
use tasktoken::RevocationReplica;

/// A new database on the test server, or `None` (and a note) without one.
fn database() -> Option<String> {
    postgres_database("tt_serve", "PostgreSQL tests")
}

/// Two instances sharing `url`, with one issuer key (one directory).
fn two(url: &str) -> (TempDir, Oidc, Service, Service) {
    let (dir, oidc) = (TempDir::new(), Oidc::start());
    let text = config(&oidc, &dir, url, "");
    let a = Service::start(&dir, &text);
    let b = Service::start(&dir, &text);
    (dir, oidc, a, b)
}

fn mint(service: &Service) -> String {
    let (status, body) =
        service.exchange(&exchange_form(&sign_rs256(&github_claims()), &DEPLOY), &[]);
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().expect("token").to_owned()
}

/// A replica that follows `service` (snapshot, then deltas) until `done` holds of it.
fn follow(service: &Service, done: impl Fn(&RevocationReplica) -> bool) -> RevocationReplica {
    let mut replica = RevocationReplica::new(ISSUER, service_keys(service));
    let started = Instant::now();
    loop {
        match replica.serial() {
            None => {
                let snapshot = service.get("/revocation/snapshot");
                if snapshot.status().as_u16() == 200 {
                    replica.offer(&snapshot.bytes().expect("bytes"), now()).expect("snapshot");
                }
            }
            Some(serial) => {
                let delta = service.get(&format!("/revocation/delta/{serial}"));
                match delta.status().as_u16() {
                    200 => {
                        replica.offer(&delta.bytes().expect("bytes"), now()).expect("delta");
                        continue;
                    }
                    410 => {
                        let snapshot = service.get("/revocation/snapshot").bytes().expect("bytes");
                        replica.offer(&snapshot, now()).expect("snapshot");
                        continue;
                    }
                    _ => {}
                }
            }
        }
        if replica.serial().is_some() && done(&replica) {
            return replica;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "not published within 10 s");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn revoke(service: &Service, token: &str) -> reqwest::Result<reqwest::blocking::Response> {
    client().post(format!("{}/revocation/revoke", service.url)).bearer_auth(token).send()
}

#[test]
fn a_revocation_acknowledged_by_one_instance_is_published_by_the_other() {
    let Some(url) = database() else { return };
    let (_dir, _oidc, a, b) = two(&url);
    let token = mint(&a);
    let jti = jti_of(&token);
    assert_eq!(revoke(&a, &token).expect("revoke").status().as_u16(), 200);
    let replica = follow(&b, |r| r.filter().is_some_and(|f| f.contains(&jti)));
    assert!(replica.filter().expect("filter").contains(&jti));
    // And the other way round.
    let other = mint(&b);
    let other_jti = jti_of(&other);
    assert_eq!(revoke(&b, &other).expect("revoke").status().as_u16(), 200);
    follow(&a, |r| r.filter().is_some_and(|f| f.contains(&other_jti)));
}

#[test]
fn a_subject_token_is_exchanged_once_across_instances() {
    let Some(url) = database() else { return };
    let (_dir, _oidc, a, b) = two(&url);
    let subject = sign_rs256(&github_claims());
    assert_eq!(a.exchange(&exchange_form(&subject, &DEPLOY), &[]).0, 200);
    let (status, body) = b.exchange(&exchange_form(&subject, &DEPLOY), &[]);
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
}

#[test]
fn serials_never_repeat_and_kill_9_loses_no_acknowledged_revocation() {
    let Some(url) = database() else { return };
    let (_dir, _oidc, a, b) = two(&url);
    let tokens: Vec<String> = (0..40).map(|i| mint(if i % 2 == 0 { &a } else { &b })).collect();
    let acknowledged = std::sync::Mutex::new(Vec::new());
    let a_pid = a.child.id();
    std::thread::scope(|scope| {
        for chunk in tokens.chunks(10) {
            let (a, acknowledged) = (&a, &acknowledged);
            scope.spawn(move || {
                for token in chunk {
                    if let Ok(response) = revoke(a, token) {
                        if response.status().as_u16() == 200 {
                            acknowledged.lock().expect("lock").push(jti_of(token));
                        }
                    }
                }
            });
        }
        // kill -9 in the middle of the revocations.
        std::thread::sleep(Duration::from_millis(60));
        let killed = std::process::Command::new("kill").args(["-9", &a_pid.to_string()]).status();
        assert!(killed.expect("kill").success());
    });
    let acknowledged = acknowledged.into_inner().expect("lock");
    eprintln!("{} of 40 revocations were acknowledged before kill -9", acknowledged.len());
    // Every acknowledged revocation is in the database and in what B publishes.
    let mut db = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
    let stored: HashSet<String> = db
        .query("SELECT jti FROM tasktoken_revocations", &[])
        .expect("query")
        .iter()
        .map(|row| row.get(0))
        .collect();
    for jti in &acknowledged {
        assert!(stored.contains(jti), "an acknowledged revocation was lost");
    }
    let replica =
        follow(&b, |r| acknowledged.iter().all(|j| r.filter().is_some_and(|f| f.contains(j))));
    assert!(replica.serial().is_some());
    // Serials: unique (the primary key) and each instance's publications in the order made.
    let serials: Vec<i64> = db
        .query("SELECT serial FROM tasktoken_publications ORDER BY issued_at, serial", &[])
        .expect("query")
        .iter()
        .map(|row| row.get(0))
        .collect();
    let unique: HashSet<i64> = serials.iter().copied().collect();
    assert_eq!(unique.len(), serials.len());
    assert!(serials.windows(2).all(|w| w[0] < w[1]), "serials grow with time: {serials:?}");
    let bases: Vec<(i64, Option<i64>)> = db
        .query("SELECT serial, base_serial FROM tasktoken_publications WHERE kind = 'delta'", &[])
        .expect("query")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    for (serial, base) in bases {
        assert!(base.is_some_and(|b| b < serial), "a delta follows its base");
    }
    let health: Value = b.get("/healthz").json().expect("healthz");
    assert_eq!(health["status"], "ok");
    assert!(b.terminate().success(), "SIGTERM on PostgreSQL exits 0");
}
