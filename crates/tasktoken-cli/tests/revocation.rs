//! End-to-end tests of the revocation authority in the `tasktoken` binary: `revoke` into a
//! SQLite store, `filter build|delta|inspect|check`, and `verify --filter`. Each test runs
//! the built executable in its own temporary directory.

mod common;

use common::{
    command, error_code, file_error, jti, keygen, mint_with, now, ok_json, run, stderr, stdout,
    TempDir,
};
use std::fs;
use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Output, Stdio};

use serde_json::Value;

const ISS: &str = "https://auth.example";

/// A 5-minute token signed by `k1`, for `customers:read` on `customers/*`.
fn mint(dir: &TempDir) -> String {
    mint_by(dir, "k1.jwk")
}

/// The same token signed by the private key in `key`.
fn mint_by(dir: &TempDir, key: &str) -> String {
    let args = [
        "--key",
        key,
        "--iss",
        ISS,
        "--sub",
        "agent:lookup-bot",
        "--aud",
        "crm-api",
        "--task",
        "lookup-4821",
        "--scope",
        "customers:read",
        "--res",
        "customers/*",
        "--ttl",
        "5m",
    ];
    mint_with(dir, &args)
}

/// `verify` of `token` (on stdin) trusting `k1.jwks`, with `extra` arguments.
fn verify(dir: &TempDir, token: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "verify",
        "--jwks",
        "k1.jwks",
        "--iss",
        ISS,
        "--aud",
        "crm-api",
        "--action",
        "customers:read",
        "--resource",
        "customers/4821",
    ];
    args.extend_from_slice(extra);
    args.push("-");
    run(dir, &args, Some(token))
}

/// `filter build` from `store.db` signed with `k1`, to `out`, with `extra` arguments.
fn build(dir: &TempDir, out: &str, extra: &[&str]) -> Value {
    let mut args = vec![
        "filter",
        "build",
        "--db",
        "store.db",
        "--key",
        "k1.jwk",
        "--iss",
        "https://auth.example",
        "--out",
        out,
    ];
    args.extend_from_slice(extra);
    ok_json(&run(dir, &args, None))
}

/// `filter check` of `jti` in `snapshot` trusting `k1.jwks`, with `extra` arguments.
fn check(dir: &TempDir, snapshot: &str, jti: &str, extra: &[&str]) -> Output {
    let mut args = vec!["filter", "check", snapshot, jti, "--jwks", "k1.jwks"];
    args.extend_from_slice(extra);
    run(dir, &args, None)
}

fn revoke_jti(dir: &TempDir, jti: &str, exp: i64) -> Value {
    let exp = exp.to_string();
    ok_json(&run(dir, &["revoke", "--db", "store.db", "--jti", jti, "--exp", &exp], None))
}

/// The issue's "done" path: revoke a token, publish, and verifiers refuse it (and only it).
#[test]
fn a_revoked_token_is_refused_and_others_pass() {
    let dir = TempDir::new();
    keygen(&dir, "k1");
    let (revoked, other) = (mint(&dir), mint(&dir));

    let first = ok_json(&run(&dir, &["revoke", "--db", "store.db", "-"], Some(&revoked)));
    let revoked_jti = jti(&revoked);
    assert_eq!(first["revoked"], revoked_jti.as_str());
    assert_eq!(first["new"], true);
    let exp = first["exp"].as_i64().expect("exp");
    assert!(exp > now() && exp <= now() + 300);
    let again = run(&dir, &["revoke", "--db", "store.db", "-"], Some(&revoked));
    assert_eq!(stdout(&again).lines().count(), 1, "one JSON line");
    let again = ok_json(&again);
    assert_eq!(again["new"], false, "revoking twice is harmless");
    assert_eq!(again["exp"], exp);

    let summary = build(&dir, "snapshot.ttrf", &[]);
    assert_eq!(summary["kind"], "snapshot");
    // Serials follow the clock (docs/revocation.md): at least the publication time << 20.
    let serial = summary["serial"].as_u64().expect("serial");
    assert!(serial >= (now() as u64) << 20 && serial <= ((now() as u64) + 1) << 20, "{serial}");
    assert_eq!(summary["iss"], "https://auth.example");
    assert_eq!(summary["entries"], 1);
    assert_eq!(summary["bits"], 28_800, "capacity 1000 at 1e-6");
    assert_eq!(summary["hashes"], 20);
    let bytes = fs::metadata(dir.path("snapshot.ttrf")).expect("snapshot written").len();
    assert_eq!(summary["bytes"], bytes);
    assert!(summary["expected_fpr"].as_f64().expect("fpr") < 1e-6);
    let next_update = summary["next_update"].as_i64().expect("next_update");
    assert_eq!(next_update - summary["issued_at"].as_i64().expect("issued_at"), 300);

    let refused = verify(&dir, &revoked, &["--filter", "snapshot.ttrf"]);
    assert_eq!(error_code(&refused), "revoked");
    assert!(refused.stdout.is_empty());
    let accepted = ok_json(&verify(&dir, &other, &["--filter", "snapshot.ttrf"]));
    assert_eq!(accepted["jti"], jti(&other).as_str());
    assert_eq!(ok_json(&verify(&dir, &revoked, &[]))["jti"], revoked_jti.as_str(), "no --filter");

    let hit = check(&dir, "snapshot.ttrf", &revoked_jti, &[]);
    assert_eq!(error_code(&hit), "revoked");
    let hit: Value = serde_json::from_str(&stdout(&hit)).expect("check JSON");
    assert_eq!(hit["revoked"], true);
    assert_eq!(hit["serial"], serial);
    assert_eq!(hit["iss"], "https://auth.example");
    assert_eq!(hit["stale"], false);
    let miss = ok_json(&check(&dir, "snapshot.ttrf", &jti(&other), &[]));
    assert_eq!(miss["revoked"], false);
    assert!(stdout(&check(&dir, "snapshot.ttrf", "x", &[])).starts_with(r#"{"jti":"x","#));
}

#[test]
fn jti_values_may_start_with_a_hyphen() {
    let dir = TempDir::new();
    keygen(&dir, "k1");
    assert_eq!(revoke_jti(&dir, "-Ab_9", now() + 600)["revoked"], "-Ab_9");
    build(&dir, "snapshot.ttrf", &[]);
    assert_eq!(error_code(&check(&dir, "snapshot.ttrf", "-Ab_9", &[])), "revoked");
}

/// Expired revocations leave at the next snapshot; unexpired ones stay.
#[test]
fn rotation_drops_expired_revocations() {
    let dir = TempDir::new();
    keygen(&dir, "k1");
    let live_exp = now() + 600;
    revoke_jti(&dir, "expired-long-ago", now() - 3600);
    revoke_jti(&dir, "still-live", live_exp);
    let summary = build(&dir, "snapshot.ttrf", &[]);
    let first = summary["serial"].as_u64().expect("serial");
    assert_eq!(summary["entries"], 1);
    assert_eq!(ok_json(&check(&dir, "snapshot.ttrf", "expired-long-ago", &[]))["revoked"], false);
    assert_eq!(error_code(&check(&dir, "snapshot.ttrf", "still-live", &[])), "revoked");

    let inspect = ok_json(&run(&dir, &["filter", "inspect", "snapshot.ttrf"], None));
    assert_eq!(inspect["estimated_entries"], 1);
    assert_eq!(inspect["ones"], 20, "one entry sets k = 20 bits");

    // Raising the `exp` of a stored revocation brings it back.
    let raised = revoke_jti(&dir, "expired-long-ago", live_exp);
    assert_eq!((raised["new"].as_bool(), raised["exp"].as_i64()), (Some(false), Some(live_exp)));
    let summary = build(&dir, "snapshot.ttrf", &[]);
    assert!(summary["serial"].as_u64().expect("serial") > first, "serials only grow");
    assert_eq!(summary["entries"], 2);
    assert_eq!(error_code(&check(&dir, "snapshot.ttrf", "expired-long-ago", &[])), "revoked");
    // A lower `exp` does not shorten a revocation.
    assert_eq!(revoke_jti(&dir, "still-live", now() - 10)["exp"].as_i64(), Some(live_exp));
}

/// A delta carries what was revoked since its base, and applies only on that base.
#[test]
fn deltas_carry_new_revocations() {
    let dir = TempDir::new();
    keygen(&dir, "k1");
    let (first, second) = (mint(&dir), mint(&dir));
    ok_json(&run(&dir, &["revoke", "--db", "store.db", &first], None));
    let base = build(&dir, "snapshot.ttrf", &[])["serial"].as_u64().expect("serial");
    ok_json(&run(&dir, &["revoke", "--db", "store.db", "-"], Some(&second)));

    let delta_args = |since: &str, out: &'static str| -> Vec<String> {
        [
            "filter",
            "delta",
            "--db",
            "store.db",
            "--key",
            "k1.jwk",
            "--iss",
            "https://auth.example",
            "--since",
            since,
            "--out",
            out,
        ]
        .iter()
        .map(|a| a.to_string())
        .collect()
    };
    let run_delta = |since: &str, out: &'static str| {
        let args = delta_args(since, out);
        run(&dir, &args.iter().map(String::as_str).collect::<Vec<_>>(), None)
    };
    let delta = ok_json(&run_delta(&base.to_string(), "delta-2.ttrf"));
    assert_eq!(delta["kind"], "delta");
    let second_serial = delta["serial"].as_u64().expect("serial");
    assert!(second_serial > base);
    assert_eq!(delta["base_serial"], base);
    assert_eq!(delta["generation"], base);
    assert_eq!(delta["entries"], 1);
    assert_eq!(delta["filter_entries"], 2);

    // The snapshot alone does not know the second revocation; with the delta it does.
    ok_json(&verify(&dir, &second, &["--filter", "snapshot.ttrf"]));
    let with_delta = ["--filter", "snapshot.ttrf", "--delta", "delta-2.ttrf"];
    assert_eq!(error_code(&verify(&dir, &second, &with_delta)), "revoked");
    assert_eq!(error_code(&verify(&dir, &first, &with_delta)), "revoked");
    let checked = check(&dir, "snapshot.ttrf", &jti(&second), &["--delta", "delta-2.ttrf"]);
    assert_eq!(error_code(&checked), "revoked");

    // An empty delta only refreshes; it applies on the delta's serial, not the snapshot's.
    let empty = ok_json(&run_delta(&second_serial.to_string(), "delta-3.ttrf"));
    assert!(empty["serial"].as_u64().expect("serial") > second_serial);
    assert_eq!(empty["entries"], 0);
    let inspect = ok_json(&run(&dir, &["filter", "inspect", "delta-3.ttrf"], None));
    assert_eq!(
        (inspect["kind"].as_str(), inspect["base_serial"].as_u64()),
        (Some("delta"), Some(second_serial))
    );
    assert_eq!(inspect["entries"], 0);
    let chain = ["--filter", "snapshot.ttrf", "--delta", "delta-2.ttrf", "--delta", "delta-3.ttrf"];
    assert_eq!(error_code(&verify(&dir, &second, &chain)), "revoked");
    let skipped = ["--filter", "snapshot.ttrf", "--delta", "delta-3.ttrf"];
    assert_eq!(error_code(&verify(&dir, &second, &skipped)), "stale_revocation");
    let not_a_snapshot = ["--filter", "delta-2.ttrf"];
    assert_eq!(error_code(&verify(&dir, &second, &not_a_snapshot)), "malformed");

    let unknown = run_delta("99", "delta-99.ttrf");
    assert_eq!(error_code(&unknown), "stale_revocation");
    assert!(stderr(&unknown).contains("filter build"), "says to build a snapshot");
    assert!(!dir.path("delta-99.ttrf").exists());
}

#[test]
fn tampered_or_foreign_filters_are_refused() {
    let dir = TempDir::new();
    keygen(&dir, "k1");
    keygen(&dir, "k2");
    let token = mint(&dir);
    revoke_jti(&dir, "someone-else", now() + 600);
    build(&dir, "snapshot.ttrf", &[]);

    let mut bytes = fs::read(dir.path("snapshot.ttrf")).expect("snapshot");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    fs::write(dir.path("tampered.ttrf"), &bytes).expect("write tampered");
    let code = error_code(&verify(&dir, &token, &["--filter", "tampered.ttrf"]));
    assert!(code == "bad_signature" || code == "malformed", "{code}");
    let inspect = ["filter", "inspect", "tampered.ttrf", "--jwks", "k1.jwks"];
    assert_eq!(error_code(&run(&dir, &inspect, None)), "bad_signature");
    let unchecked = run(&dir, &["filter", "inspect", "tampered.ttrf"], None);
    assert_eq!(ok_json(&unchecked)["verified"], false);
    assert!(stderr(&unchecked).contains("NOT checked"), "{}", stderr(&unchecked));

    bytes.truncate(middle);
    fs::write(dir.path("truncated.ttrf"), &bytes).expect("write truncated");
    assert_eq!(error_code(&verify(&dir, &token, &["--filter", "truncated.ttrf"])), "malformed");

    let foreign = [
        "filter",
        "build",
        "--db",
        "store.db",
        "--key",
        "k2.jwk",
        "--iss",
        "https://auth.example",
        "--out",
        "foreign.ttrf",
    ];
    ok_json(&run(&dir, &foreign, None));
    let refused = verify(&dir, &token, &["--filter", "foreign.ttrf"]);
    assert_eq!(error_code(&refused), "unknown_key");
    assert!(stderr(&refused).contains("--filter 'foreign.ttrf'"), "names the file");

    let missing = verify(&dir, &token, &["--filter", "missing.ttrf"]);
    assert!(file_error(&missing).contains("missing.ttrf"));
}

/// Data past `next_update` plus the grace fails closed, or open when asked (with a warning).
#[test]
fn stale_filters_fail_closed_unless_told_otherwise() {
    let dir = TempDir::new();
    keygen(&dir, "k1");
    let token = mint(&dir);
    let summary = build(&dir, "snapshot.ttrf", &["--valid-for", "1s", "--create"]);
    assert_eq!(summary["entries"], 0, "a new authority's first snapshot is empty");
    let later = (summary["next_update"].as_i64().expect("next_update") + 5).to_string();

    let fresh = ["--filter", "snapshot.ttrf", "--now", &later];
    ok_json(&verify(&dir, &token, &fresh));
    let stale = ["--filter", "snapshot.ttrf", "--now", &later, "--revocation-grace", "0s"];
    let refused = verify(&dir, &token, &stale);
    assert_eq!(error_code(&refused), "stale_revocation");

    let open = [&stale[..], &["--fail-open-when-stale"]].concat();
    let accepted = verify(&dir, &token, &open);
    ok_json(&accepted);
    assert!(stderr(&accepted).contains("warning"), "{}", stderr(&accepted));
    assert!(stderr(&accepted).contains("stale"), "{}", stderr(&accepted));

    let checked = check(&dir, "snapshot.ttrf", "anything", &["--now", &later, "--grace", "0s"]);
    assert_eq!(ok_json(&checked)["stale"], true);
    assert!(stderr(&checked).contains("stale"));

    // The danger flag means nothing without a filter, so it is refused alone.
    assert_eq!(verify(&dir, &token, &["--fail-open-when-stale"]).status.code(), Some(2));
}

/// Every `jti` reported `revoked` survives a SIGKILL, and the store opens cleanly after it.
#[test]
fn reported_revocations_survive_a_kill() {
    let dir = TempDir::new();
    let mut child = command(&dir, &["revoke", "--db", "store.db", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn tasktoken revoke --batch");
    let mut input = child.stdin.take().expect("stdin");
    let exp = now() + 600;
    let writer = std::thread::spawn(move || {
        for i in 0..5000 {
            // The pipe breaks once the child is killed; that is the point of the test.
            if writeln!(input, "jti-{i:05} {exp}").is_err() {
                break;
            }
        }
    });
    let mut reported = Vec::new();
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    while reported.len() < 300 {
        let line = lines.next().expect("a report before 5000 lines").expect("UTF-8 line");
        reported.push(line.strip_prefix("revoked ").expect("`revoked JTI`").to_owned());
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    writer.join().expect("writer thread");
    assert_eq!(reported[0], "jti-00000");

    let db = rusqlite::Connection::open(dir.path("store.db")).expect("open store");
    let integrity: String =
        db.query_row("PRAGMA integrity_check", [], |row| row.get(0)).expect("integrity_check");
    assert_eq!(integrity, "ok");
    let mut lookup = db.prepare("SELECT exp FROM revocations WHERE jti = ?1").expect("prepare");
    for jti in &reported {
        let stored: i64 = lookup.query_row([jti], |row| row.get(0)).expect("reported is stored");
        assert_eq!(stored, exp, "{jti}");
    }
    let count: i64 =
        db.query_row("SELECT count(*) FROM revocations", [], |row| row.get(0)).expect("count");
    assert!((300..=5000).contains(&count), "{count}");
    drop(lookup);
    drop(db);

    // The killed store is usable: the next revocation and snapshot work.
    ok_json(&run(
        &dir,
        &["revoke", "--db", "store.db", "--jti", "after", "--exp", "9999999999"],
        None,
    ));
}

#[test]
fn batch_lines_are_committed_up_to_a_bad_line() {
    let dir = TempDir::new();
    let input = "a 4102444800\n\n  b\t4102444800  \nc\nd 4102444800\n";
    let out = run(&dir, &["revoke", "--db", "store.db", "--batch"], Some(input));
    assert_eq!(stdout(&out), "revoked a\nrevoked b\n");
    assert_eq!(error_code(&out), "malformed");
    assert!(stderr(&out).contains("line 4"), "{}", stderr(&out));
    let out = run(&dir, &["revoke", "--db", "store.db", "--batch"], Some("e soon\n"));
    assert_eq!(error_code(&out), "invalid_claim");
    let out = run(&dir, &["revoke", "--db", "store.db", "--batch"], Some("a 1\n"));
    assert_eq!((out.status.code(), stdout(&out)), (Some(0), "revoked a\n".to_owned()));
    assert_eq!(revoke_jti(&dir, "d", 4102444800)["new"], true, "d was never reached");
}

#[test]
fn bad_inputs_are_clear_errors() {
    let dir = TempDir::new();
    keygen(&dir, "k1");
    let revoke = |db: &str, stdin: Option<&str>| run(&dir, &["revoke", "--db", db, "-"], stdin);
    let token = mint(&dir);

    let message = file_error(&revoke("no/such/dir/store.db", Some(&token)));
    assert!(message.contains("does not exist"), "{message}");

    // Random bytes (a fixed pattern: SQLite's own header check must reject it).
    let garbage: Vec<u8> =
        (0..8192u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    fs::write(dir.path("garbage.db"), &garbage).expect("write garbage");
    let message = file_error(&revoke("garbage.db", Some(&token)));
    assert!(message.contains("garbage.db"), "{message}");
    assert_eq!(fs::read(dir.path("garbage.db")).expect("still there"), garbage, "untouched");
    let build = [
        "filter",
        "build",
        "--db",
        "garbage.db",
        "--key",
        "k1.jwk",
        "--iss",
        "https://auth.example",
        "--out",
        "s.ttrf",
    ];
    file_error(&run(&dir, &build, None));

    assert_eq!(error_code(&revoke("store.db", None)), "malformed", "empty stdin");
    assert_eq!(error_code(&revoke("store.db", Some("not a token"))), "malformed");
    // Decoded without verifying: only the claims' presence and types matter.
    let crafted = |payload: &str| format!("e30.{payload}.");
    assert_eq!(error_code(&revoke("store.db", Some(&crafted("eyJleHAiOjV9")))), "missing_claim");
    let jti_number = crafted("eyJqdGkiOjUsImV4cCI6MX0");
    assert_eq!(error_code(&revoke("store.db", Some(&jti_number))), "invalid_claim");
    let exp_float = crafted("eyJqdGkiOiJ4IiwiZXhwIjoxLjV9");
    assert_eq!(error_code(&revoke("store.db", Some(&exp_float))), "invalid_claim");
    assert_eq!(error_code(&revoke("store.db", Some(&crafted("eyJqdGkiOiJ4In0")))), "missing_claim");

    // Publishing needs an existing store: a mistyped path must not publish an empty filter.
    let typo = [
        "filter",
        "build",
        "--db",
        "stor.db",
        "--key",
        "k1.jwk",
        "--iss",
        "https://auth.example",
        "--out",
        "s.ttrf",
    ];
    assert!(file_error(&run(&dir, &typo, None)).contains("does not exist"));
    assert!(!dir.path("stor.db").exists() && !dir.path("s.ttrf").exists());

    // Another program's SQLite database is refused, and not changed.
    {
        let other = rusqlite::Connection::open(dir.path("other.db")).expect("create other.db");
        other.execute_batch("CREATE TABLE notes (text TEXT)").expect("create table");
    }
    assert!(file_error(&revoke("other.db", Some(&token))).contains("another program"));

    let usage = |args: &[&str]| run(&dir, args, None).status.code();
    assert_eq!(usage(&["revoke", "--db", "store.db"]), Some(2), "nothing to revoke");
    assert_eq!(usage(&["revoke", "--db", "store.db", "--jti", "a"]), Some(2), "no --exp");
    assert_eq!(usage(&["revoke", "--db", "store.db", "--jti", "a", "--exp", "1", "t"]), Some(2));
    assert_eq!(usage(&["revoke", "--db", "store.db", "--batch", "t"]), Some(2));
    assert_eq!(usage(&["revoke", "--db", "store.db", "--jti", "", "--exp", "1"]), Some(2));
    let capacity = [
        "filter",
        "build",
        "--db",
        "store.db",
        "--create",
        "--key",
        "k1.jwk",
        "--iss",
        "https://auth.example",
        "--out",
        "s.ttrf",
    ];
    assert_eq!(usage(&[&capacity[..], &["--capacity", "0"]].concat()), Some(2));
    let fpr = run(&dir, &[&capacity[..], &["--fpr", "1.5"]].concat(), None);
    assert_eq!(error_code(&fpr), "malformed");
    assert_eq!(usage(&["verify", "--delta", "d.ttrf"]), Some(2));
}

#[test]
fn help_covers_the_revocation_commands() {
    let dir = TempDir::new();
    let top = stdout(&run(&dir, &["--help"], None));
    assert!(top.contains("revoke") && top.contains("filter"), "{top}");
    for sub in [&["revoke"][..], &["filter"], &["filter", "build"], &["filter", "delta"]]
        .into_iter()
        .chain([&["filter", "inspect"][..], &["filter", "check"]])
    {
        let out = run(&dir, &[sub, &["--help"]].concat(), None);
        assert_eq!(out.status.code(), Some(0), "{sub:?}");
        let text = stdout(&out);
        assert!(text.contains(&format!("Usage: tasktoken {}", sub.join(" "))), "{text}");
        assert!(text.contains("Exit status"), "{sub:?}");
    }
    assert_eq!(run(&dir, &["filter"], None).status.code(), Some(2));
}

/// Issue 13, point 2: revocation data governs only the tokens of the issuer it names, signed
/// by that issuer's keys or by a revocation key set configured for it. Before, `--filter` was
/// checked against every trusted issuer's keys, so issuer B could un-revoke A's tokens.
#[test]
fn revocation_data_governs_only_its_issuer() {
    let dir = TempDir::new();
    keygen(&dir, "k1"); // issuer A's token key
    keygen(&dir, "kb"); // issuer B's token key
    keygen(&dir, "ka"); // A's authority key: signs revocation data, not trusted for tokens
    let token = mint(&dir);
    ok_json(&run(&dir, &["revoke", "--db", "store.db", "-"], Some(&token)));
    let publish = |key: &str, iss: &str, out: &str, db: &str| {
        let args =
            ["filter", "build", "--db", db, "--create", "--key", key, "--iss", iss, "--out", out];
        ok_json(&run(&dir, &args, None))
    };
    let both = |extra: &[&str]| {
        let mut args = vec!["--jwks", "kb.jwks", "--iss", "https://b.example"];
        args.extend_from_slice(extra);
        verify(&dir, &token, &args)
    };
    // B's empty snapshot, under B's name: it says nothing about A's tokens.
    publish("kb.jwk", "https://b.example", "b.ttrf", "empty-b.db");
    assert_eq!(error_code(&both(&["--filter", "b.ttrf"])), "stale_revocation");
    // B's key signing data that names A: refused, A's keys did not sign it.
    publish("kb.jwk", ISS, "b-as-a.ttrf", "empty-b.db");
    assert_eq!(error_code(&both(&["--filter", "b-as-a.ttrf"])), "unknown_key");
    // A's own data still revokes, with B trusted beside A.
    publish("k1.jwk", ISS, "a.ttrf", "store.db");
    assert_eq!(error_code(&both(&["--filter", "a.ttrf"])), "revoked");
    // An authority key outside the token JWKS, given as --revocation-jwks.
    publish("ka.jwk", ISS, "by-authority.ttrf", "store.db");
    let plain = verify(&dir, &token, &["--filter", "by-authority.ttrf"]);
    assert_eq!(error_code(&plain), "unknown_key", "not a token key");
    let with = ["--filter", "by-authority.ttrf", "--revocation-jwks", "ka.jwks"];
    assert_eq!(error_code(&verify(&dir, &token, &with)), "revoked");
    // The authority key cannot mint: its tokens are refused.
    let forged = mint_by(&dir, "ka.jwk");
    assert_eq!(error_code(&verify(&dir, &forged, &with)), "unknown_key");
}

/// Issue 13, point 4: a generation that cannot take the new revocations at the target rate
/// is replaced: `filter delta` writes a new snapshot, and verifiers take it as a --delta.
#[test]
fn a_full_filter_becomes_a_new_generation() {
    let dir = TempDir::new();
    keygen(&dir, "k1");
    let exp = now() + 600;
    revoke_jti(&dir, "first", exp);
    let base = build(&dir, "snapshot.ttrf", &["--capacity", "2"]);
    assert_eq!(base["entries"], 1);
    for i in 0..10 {
        revoke_jti(&dir, &format!("later-{i}"), exp);
    }
    // `filter delta` on `since`, signed with `k1`, to `out`, with `extra` arguments.
    let delta = |since: &Value, out: &str, extra: &[&str]| {
        let since = since.to_string();
        let mut args = vec!["filter", "delta", "--db", "store.db", "--key", "k1.jwk"];
        args.extend(["--iss", ISS, "--since", &since, "--out", out]);
        args.extend_from_slice(extra);
        ok_json(&run(&dir, &args, None))
    };
    let next = delta(&base["serial"], "next.ttrf", &["--capacity", "2"]);
    assert_eq!(next["kind"], "snapshot", "the filter was full: a new generation");
    assert_eq!(next["entries"], 11);
    assert!(next["expected_fpr"].as_f64().expect("fpr") <= 1e-6);
    assert!(next["bits"].as_u64().expect("bits") > base["bits"].as_u64().expect("bits"));
    let checked = check(&dir, "snapshot.ttrf", "later-9", &["--delta", "next.ttrf"]);
    assert_eq!(error_code(&checked), "revoked");
    // With room left, the next one is a delta again.
    revoke_jti(&dir, "one-more", exp);
    assert_eq!(delta(&next["serial"], "delta.ttrf", &[])["kind"], "delta");
}

/// Issue 13, point 8: timing options have an upper bound.
#[test]
fn timing_options_are_bounded() {
    let dir = TempDir::new();
    keygen(&dir, "k1");
    let token = mint(&dir);
    revoke_jti(&dir, "x", now() + 600);
    build(&dir, "snapshot.ttrf", &[]);
    for extra in [
        &["--clock-skew", "5m1s"][..],
        &["--max-lifetime", "24h1s"],
        &["--filter", "snapshot.ttrf", "--revocation-grace", "24h1s"],
    ] {
        assert_eq!(error_code(&verify(&dir, &token, extra)), "malformed", "{extra:?}");
    }
    for extra in [&["--clock-skew", "5m"][..], &["--max-lifetime", "24h"]] {
        ok_json(&verify(&dir, &token, extra));
    }
    let long = build_err(&dir, &["--valid-for", "24h1s"]);
    assert_eq!(error_code(&long), "malformed");
}

/// `filter build` expected to fail.
fn build_err(dir: &TempDir, extra: &[&str]) -> Output {
    let mut args =
        vec!["filter", "build", "--db", "store.db", "--key", "k1.jwk", "--iss", ISS, "--out", "x"];
    args.extend_from_slice(extra);
    run(dir, &args, None)
}
