//! `tasktoken scan` on a generated corpus — tokens in JSON logs, Markdown, URLs, wrapped
//! lines, binary files, nested directories — and `--audit-log` for mint, verify and revoke:
//! every token found with its place and status, no lookalike JWT reported, no token text in
//! any output, live tokens revoked with --revoke.

mod common;

use common::{jti, mint_with, run, TempDir};
use std::fs;
use std::io::Write as _;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn mint(dir: &TempDir, task: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "--key",
        "k1.jwk",
        "--iss",
        "https://auth.example",
        "--sub",
        "agent:leaky",
        "--aud",
        "crm-api",
        "--task",
        task,
        "--scope",
        "customers:read",
        "--res",
        "customers/4821",
        "--ttl",
        "5m",
    ];
    args.extend_from_slice(extra);
    mint_with(dir, &args)
}

/// A JWT that looks like ours but has another `typ`.
fn lookalike(typ: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"EdDSA","typ":"{typ}","kid":"k1"}}"#));
    let payload = URL_SAFE_NO_PAD.encode(r#"{"sub":"x","exp":9999999999,"jti":"lookalike"}"#);
    format!("{header}.{payload}.{}", URL_SAFE_NO_PAD.encode([7u8; 64]))
}

fn setup() -> (TempDir, Vec<String>) {
    let dir = TempDir::new();
    let keygen = run(&dir, &["keygen", "--kid", "k1", "--out", "k1.jwk"], None);
    assert!(keygen.status.success());
    fs::write(dir.path("jwks.json"), &keygen.stdout).expect("write jwks");
    let tokens: Vec<String> = (0..4).map(|i| mint(&dir, &format!("task-{i}"), &[])).collect();
    let corpus = dir.path("corpus");
    fs::create_dir_all(corpus.join("tickets/2026")).expect("dirs");
    fs::write(
        corpus.join("app.log"),
        format!(
            "{{\"level\":\"info\",\"msg\":\"request\",\"authorization\":\"Bearer {}\"}}\n\
             {{\"level\":\"warn\",\"token\":\"{}\"}}\n{{\"jwt\":\"{}\"}}\n",
            tokens[0],
            lookalike("JWT"),
            lookalike("at+jwt")
        ),
    )
    .expect("log");
    fs::write(
        corpus.join("tickets/2026/OPS-1182.md"),
        format!(
            "# OPS-1182\n\nThe agent failed with this token:\n\n```\n{}\n```\n\n\
             Export link: https://app.example/exports/1/download#tt={}&from=mail\n",
            tokens[1], tokens[2]
        ),
    )
    .expect("markdown");
    let wrapped: Vec<&str> =
        tokens[3].as_bytes().chunks(72).map(|c| std::str::from_utf8(c).expect("ascii")).collect();
    fs::write(
        corpus.join("chat-export.txt"),
        format!("alice: can you check this?\n> {}\nbob: on it\n", wrapped.join("\n> ")),
    )
    .expect("chat");
    let mut binary: Vec<u8> =
        (0..5000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    binary.extend_from_slice(format!("\0{}\0", tokens[0]).as_bytes());
    fs::write(corpus.join("core.dump"), binary).expect("binary");
    (dir, tokens)
}

#[test]
fn finds_every_token_with_its_place_and_no_lookalike() {
    let (dir, tokens) = setup();
    let out = run(
        &dir,
        &["scan", "corpus", "--jwks", "jwks.json", "--iss", "https://auth.example"],
        None,
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "live tokens found: exit 1\n{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 5, "four tokens, one of them also in the binary dump\n{stdout}");
    for (place, token) in [
        ("corpus/app.log:1:", &tokens[0]),
        ("corpus/tickets/2026/OPS-1182.md:6:", &tokens[1]),
        ("corpus/tickets/2026/OPS-1182.md:9:", &tokens[2]),
        ("corpus/chat-export.txt:2:", &tokens[3]),
    ] {
        let line = lines
            .iter()
            .find(|l| l.starts_with(place))
            .unwrap_or_else(|| panic!("{place}\n{stdout}"));
        assert!(line.contains(" live ") && line.contains(&jti(token)), "{line}");
        assert!(line.contains("sub=agent:leaky"), "{line}");
    }
    assert!(lines.iter().any(|l| l.starts_with("corpus/core.dump:")), "binary files are scanned");
    assert!(!stdout.contains("lookalike"), "other JWT types are not reported");
    let all = format!("{stdout}{}", text(&out.stderr));
    for token in &tokens {
        for part in token.split('.') {
            assert!(!all.contains(part), "token text in the output");
        }
    }
}

#[test]
fn statuses_revoked_expired_and_unverified() {
    let (dir, tokens) = setup();
    let revoked = run(&dir, &["revoke", "--db", "a.db", "-"], Some(&tokens[1]));
    assert!(revoked.status.success());
    let build = run(
        &dir,
        &[
            "filter",
            "build",
            "--db",
            "a.db",
            "--key",
            "k1.jwk",
            "--iss",
            "https://auth.example",
            "--out",
            "f.bin",
        ],
        None,
    );
    assert!(build.status.success(), "{}", text(&build.stderr));
    let out = run(
        &dir,
        &[
            "scan",
            "corpus",
            "--json",
            "--jwks",
            "jwks.json",
            "--iss",
            "https://auth.example",
            "--filter",
            "f.bin",
        ],
        None,
    );
    let findings: Vec<Value> =
        text(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("json")).collect();
    let status_of = |token: &String| {
        findings.iter().find(|f| f["jti"] == jti(token)).map(|f| f["status"].clone())
    };
    assert_eq!(status_of(&tokens[1]), Some(Value::from("revoked")));
    assert_eq!(status_of(&tokens[2]), Some(Value::from("live")));

    let later = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + 7200)
        .to_string();
    let out = run(
        &dir,
        &[
            "scan",
            "corpus",
            "--now",
            &later,
            "--jwks",
            "jwks.json",
            "--iss",
            "https://auth.example",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "nothing live two hours later");
    assert!(text(&out.stdout).lines().all(|l| l.contains(" expired ")), "{}", text(&out.stdout));

    let out = run(&dir, &["scan", "-"], Some(&format!("x {} y", tokens[0])));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).starts_with("-:1: live-unverified "), "{}", text(&out.stdout));
}

#[test]
fn revoke_every_live_token_found() {
    let (dir, tokens) = setup();
    let out = run(
        &dir,
        &[
            "scan",
            "corpus",
            "--revoke",
            "--db",
            "leak.db",
            "--jwks",
            "jwks.json",
            "--iss",
            "https://auth.example",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let build = run(
        &dir,
        &[
            "filter",
            "build",
            "--db",
            "leak.db",
            "--key",
            "k1.jwk",
            "--iss",
            "https://auth.example",
            "--out",
            "f.bin",
        ],
        None,
    );
    assert!(build.status.success(), "{}", text(&build.stderr));
    for token in &tokens {
        let check =
            run(&dir, &["filter", "check", "f.bin", &jti(token), "--jwks", "jwks.json"], None);
        assert_eq!(check.status.code(), Some(1), "{} is revoked", jti(token));
    }
}

#[test]
fn a_large_input_streams() {
    let (dir, tokens) = setup();
    let mut big = fs::File::create(dir.path("big.log")).expect("create");
    let line = "2026-11-28T12:00:00Z INFO GET /customers/4821 200 1.2ms user-agent=curl/8.0\n"
        .repeat(1000);
    for _ in 0..400 {
        big.write_all(line.as_bytes()).expect("write"); // ~30 MB of noise
    }
    writeln!(big, "leaked: {}", tokens[2]).expect("write");
    drop(big);
    let out = run(&dir, &["scan", "big.log"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).starts_with("big.log:400001: live-unverified"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn audit_log_records_mint_verify_and_revoke_without_secrets() {
    let (dir, tokens) = setup();
    let token = mint(&dir, "audited", &["--audit-log", "audit.jsonl"]);
    let verify = |action: &str| {
        run(
            &dir,
            &[
                "verify",
                "--audit-log",
                "audit.jsonl",
                "--jwks",
                "jwks.json",
                "--iss",
                "https://auth.example",
                "--aud",
                "crm-api",
                "--action",
                action,
                "--resource",
                "customers/4821",
                "-",
            ],
            Some(&token),
        )
    };
    assert!(verify("customers:read").status.success());
    assert_eq!(verify("customers:write").status.code(), Some(1));
    let revoke =
        run(&dir, &["revoke", "--audit-log", "audit.jsonl", "--db", "a.db", "-"], Some(&token));
    assert!(revoke.status.success());
    let log = fs::read_to_string(dir.path("audit.jsonl")).expect("log");
    let events: Vec<Value> =
        log.lines().map(|l| serde_json::from_str(l).expect("json line")).collect();
    let summary: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            (e["event"].as_str().unwrap_or("").into(), e["outcome"].as_str().unwrap_or("").into())
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("mint".into(), "ok".into()),
            ("verify".into(), "ok".into()),
            ("verify".into(), "action_denied".into()),
            ("revoke".into(), "ok".into())
        ]
    );
    assert!(events.iter().all(|e| e["jti"] == jti(&token)));
    let key = fs::read_to_string(dir.path("k1.jwk")).expect("key");
    let d: Value = serde_json::from_str(&key).expect("jwk");
    assert!(!log.contains(d["d"].as_str().expect("d")));
    for part in token.split('.').chain(tokens.iter().flat_map(|t| t.split('.'))) {
        assert!(!log.contains(part));
    }
}
