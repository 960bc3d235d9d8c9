//! Negative-input sweep of the `tasktoken` binary: every subcommand with bad flags, missing,
//! unreadable and garbage files, garbage keys and JWKS, empty, huge and binary stdin, huge and
//! binary argv. Each run must end with exit 1 (one line of error JSON on stderr with a stable
//! code, nothing on stdout) or exit 2 (a plain message on stderr), never a panic, and never a
//! hang: every run has a deadline and is killed, and the test fails, if it passes.
//!
//! Notes on the inputs:
//! - "Unreadable" files: the tests run as root in CI, where `chmod 000` does not stop a read.
//!   So an unreadable input is a directory where a file is expected (open succeeds, read fails
//!   with EISDIR), plus a `chmod 000` file holding garbage, which fails with exit 2 as a user
//!   and with exit 1 (the garbage) as root. No FIFOs: opening one blocks by design.
//! - "Huge argv": Linux refuses a single argument over 128 KiB (`MAX_ARG_STRLEN`, E2BIG from
//!   execve), so the largest token argument that can reach the binary is 131071 bytes; 1 MB
//!   reaches it only through stdin, which is tested with 10 MB.
//! - "Binary argv": an argument cannot hold a NUL byte; one that is not UTF-8 is a usage
//!   error (exit 2), one of control and bidi characters is a `malformed` token (exit 1).
//! - `scan` reads arbitrary files by design: garbage there is not an error (exit 0, nothing
//!   found); its flags and files are swept like the others.

use std::ffi::OsString;
use std::fs;
use std::io::{Read as _, Write as _};
use std::os::unix::ffi::OsStringExt as _;
use std::os::unix::fs::PermissionsExt as _;
use std::process::{Child, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

mod common;
use common::{command, TempDir};

/// Longest any one run may take; a run still going then is a hang.
const DEADLINE: Duration = Duration::from_secs(30);
/// The largest single argument Linux passes to a program (`MAX_ARG_STRLEN` - 1).
const MAX_ARG: usize = 128 * 1024 - 1;
/// The stable error codes: the core's list, one source (DESIGN.md).
const CODES: &[&str] = &tasktoken::Error::CODES;

/// Writes a fixture file in `dir`.
fn write(dir: &TempDir, name: &str, bytes: impl AsRef<[u8]>) {
    fs::write(dir.path(name), bytes).expect("write fixture");
}

/// What one run of the binary did.
#[derive(Debug)]
struct Outcome {
    status: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
}

/// Runs the binary in `dir` with `args` and `stdin`, killing it at the deadline. Stdin is
/// written, and stdout and stderr read, on their own threads, so that neither side can block
/// the other; a program that exits without reading all of stdin is fine (EPIPE is ignored).
fn run(dir: &TempDir, args: &[OsString], stdin: &[u8]) -> Outcome {
    let mut child = command(dir, args)
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tasktoken");
    let mut input = child.stdin.take().expect("stdin");
    let bytes = stdin.to_vec();
    let writer = thread::spawn(move || {
        let _ = input.write_all(&bytes);
    });
    let mut out = child.stdout.take().expect("stdout");
    let reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let mut err = child.stderr.take().expect("stderr");
    let err_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err.read_to_end(&mut buf);
        buf
    });
    let status = wait_with_deadline(&mut child, args);
    let _ = writer.join();
    let stdout = reader.join().expect("stdout reader");
    let stderr = String::from_utf8_lossy(&err_reader.join().expect("stderr reader")).into_owned();
    Outcome { status, stdout, stderr }
}

fn wait_with_deadline(child: &mut Child, args: &[OsString]) -> Option<i32> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait for tasktoken") {
            return status.code();
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("hang: tasktoken {} did not exit within {DEADLINE:?}", describe(args));
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// The arguments for a message, each cut to 40 characters.
fn describe(args: &[OsString]) -> String {
    let cut = |a: &OsString| {
        let text = a.to_string_lossy();
        if text.chars().count() > 40 {
            format!("{}…({} bytes)", text.chars().take(40).collect::<String>(), a.len())
        } else {
            text.into_owned()
        }
    };
    args.iter().map(cut).collect::<Vec<_>>().join(" ")
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

/// How a bad input must be refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// Exit 1 with this stable code.
    Rejected(&'static str),
    /// Exit 1 with any stable code (the input is refused, the code is not the point).
    RejectedAny,
    /// Exit 2, a usage or file error.
    Usage,
    /// Exit 1 or 2 (a chmod 000 file: a file error as a user, garbage as root).
    Either,
    /// Exit 0: not an error for this command (`scan` of garbage finds nothing).
    Fine,
}

/// Collects every case's problems, so that one run reports all of them.
struct Sweep {
    dir: TempDir,
    problems: Vec<String>,
    cases: usize,
}

impl Sweep {
    fn new() -> Self {
        Sweep { dir: TempDir::new(), problems: Vec::new(), cases: 0 }
    }

    fn case(&mut self, args: &[&str], stdin: &[u8], expect: Expect) {
        self.case_os(&os(args), stdin, expect);
    }

    fn case_os(&mut self, args: &[OsString], stdin: &[u8], expect: Expect) {
        self.cases += 1;
        let out = run(&self.dir, args, stdin);
        if let Err(problem) = check(&out, expect) {
            self.problems.push(format!("tasktoken {}: {problem}", describe(args)));
        }
    }

    /// Runs a setup command that must succeed; returns its stdout.
    fn setup(&self, args: &[&str]) -> Vec<u8> {
        let out = run(&self.dir, &os(args), b"");
        assert_eq!(out.status, Some(0), "setup {args:?}: {}", out.stderr);
        out.stdout
    }

    fn finish(self) {
        println!("{} cases, {} problems", self.cases, self.problems.len());
        assert!(self.cases > 0);
        assert!(
            self.problems.is_empty(),
            "{} of {} cases:\n{}",
            self.problems.len(),
            self.cases,
            self.problems.join("\n")
        );
    }
}

/// Checks one outcome: the exit status, no panic, and the stderr format of that status.
fn check(out: &Outcome, expect: Expect) -> Result<(), String> {
    let stderr = &out.stderr;
    if stderr.contains("panicked") || stderr.contains("RUST_BACKTRACE") {
        return Err(format!("panicked: {stderr}"));
    }
    let status = out.status.ok_or_else(|| format!("killed by a signal; stderr: {stderr}"))?;
    let want: &[i32] = match expect {
        Expect::Rejected(_) | Expect::RejectedAny => &[1],
        Expect::Usage => &[2],
        Expect::Either => &[1, 2],
        Expect::Fine => &[0],
    };
    if !want.contains(&status) {
        return Err(format!("exit {status}, expected {want:?}; stderr: {}", cut(stderr)));
    }
    match status {
        1 => {
            let line = stderr.trim_end();
            if line.contains('\n') {
                return Err(format!("exit 1 must print one line: {}", cut(stderr)));
            }
            let value: Value =
                serde_json::from_str(line).map_err(|_| format!("not error JSON: {}", cut(line)))?;
            let code = value["error"].as_str().unwrap_or_default();
            let message = value["message"].as_str().unwrap_or_default();
            if !CODES.contains(&code) || message.is_empty() {
                return Err(format!("error JSON without a stable code and message: {line}"));
            }
            if let Expect::Rejected(want) = expect {
                if code != want {
                    return Err(format!("code {code}, expected {want}: {line}"));
                }
            }
            if line.len() > 1024 {
                return Err(format!("an error line of {} bytes echoes input", line.len()));
            }
            if !out.stdout.is_empty() {
                return Err("a rejected command printed on stdout".into());
            }
        }
        2 => {
            if stderr.trim().is_empty() {
                return Err("exit 2 with nothing on stderr".into());
            }
            if serde_json::from_str::<Value>(stderr.trim()).is_ok() {
                return Err(format!("exit 2 prints a plain message, not JSON: {stderr}"));
            }
            if !out.stdout.is_empty() {
                return Err("a failed command printed on stdout".into());
            }
        }
        _ => {}
    }
    Ok(())
}

fn cut(text: &str) -> String {
    let text = text.trim_end();
    if text.len() > 300 {
        format!("{}…", text.chars().take(300).collect::<String>())
    } else {
        text.to_owned()
    }
}

/// Bytes that are not UTF-8, with NULs, controls and every byte value.
fn binary() -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..=255u8).rev().collect();
    bytes.extend_from_slice(b"\xff\xfe\x00.\xc0\xae.\xed\xa0\x80\n");
    bytes
}

/// Writes every garbage fixture, a real key pair (`k1.jwk`, `k1.jwks`), another key's JWKS
/// (`k2.jwks`), a store with one revocation (`authority.db`) and its snapshot (`snap.ttrf`),
/// and a valid token (returned).
fn fixtures(sweep: &Sweep) -> String {
    let dir = &sweep.dir;
    let jwks = sweep.setup(&["keygen", "--kid", "k1", "--out", "k1.jwk"]);
    write(dir, "k1.jwks", jwks);
    let other = sweep.setup(&["keygen", "--kid", "k2", "--out", "k2.jwk"]);
    write(dir, "k2.jwks", other);
    let public: Value = serde_json::from_slice(&fs::read(dir.path("k1.jwks")).expect("jwks"))
        .expect("JWKS is JSON");
    write(dir, "public.jwk", public["keys"][0].to_string());
    write(dir, "garbage.txt", "this is { not JSON");
    write(dir, "binary.bin", binary());
    write(dir, "empty", "");
    write(dir, "null.json", "null");
    write(dir, "array.json", "[]");
    write(dir, "deep.json", "[".repeat(50_000));
    write(dir, "no-keys.json", r#"{"keys":[]}"#);
    write(dir, "rsa.json", r#"{"keys":[{"kty":"RSA","kid":"r","n":"AQAB","e":"AQAB"}]}"#);
    write(
        dir,
        "small-order.json",
        r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"s","x":"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}]}"#,
    );
    write(dir, "huge-key.jwk", " ".repeat(70 * 1024));
    write(dir, "huge.json", " ".repeat(2 * 1024 * 1024));
    write(dir, "huge.ttrf", vec![0u8; 18 * 1024 * 1024]);
    write(dir, "not-a-db.db", "SQLite format 2\0 and then garbage");
    write(dir, "noperm", "garbage, unreadable");
    fs::set_permissions(dir.path("noperm"), fs::Permissions::from_mode(0o000)).expect("chmod");
    fs::create_dir_all(dir.path("dir")).expect("mkdir");
    let future =
        (SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs() + 3600).to_string();
    sweep.setup(&["revoke", "--db", "authority.db", "--jti", "some-jti", "--exp", &future]);
    sweep.setup(&[
        "filter",
        "build",
        "--db",
        "authority.db",
        "--key",
        "k1.jwk",
        "--iss",
        "https://a",
        "--out",
        "snap.ttrf",
    ]);
    let mut token = sweep.setup(&[
        "mint",
        "--key",
        "k1.jwk",
        "--iss",
        "https://a",
        "--sub",
        "s",
        "--aud",
        "crm-api",
        "--task",
        "t",
        "--scope",
        "customers:read",
        "--res",
        "customers/4821",
        "--ttl",
        "60",
    ]);
    token.pop();
    String::from_utf8(token).expect("token")
}

/// Files where a readable file of the right kind is expected, and how each must fail.
/// `garbage` is the expectation for files that read but do not parse.
fn bad_files(garbage: Expect) -> Vec<(&'static str, Expect)> {
    vec![
        ("missing-file", Expect::Usage),
        ("dir", Expect::Usage),
        ("noperm", Expect::Either),
        ("garbage.txt", garbage),
        ("empty", garbage),
        ("null.json", garbage),
        ("array.json", garbage),
        ("deep.json", garbage),
        ("binary.bin", Expect::Either),
    ]
}

const TEN_MB: usize = 10 * 1024 * 1024;

#[test]
fn top_level_and_unknown_commands() {
    let mut s = Sweep::new();
    s.case(&[], b"", Expect::Usage);
    s.case(&["frobnicate"], b"", Expect::Usage);
    s.case(&["--bogus"], b"", Expect::Usage);
    s.case(&["filter"], b"", Expect::Usage);
    s.case(&["filter", "frobnicate"], b"", Expect::Usage);
    s.case_os(&[OsString::from_vec(b"\xff\xfe".to_vec())], b"", Expect::Usage);
    s.finish();
}

/// Every subcommand `--help` lists (so that a new one is swept too) refuses an unknown flag
/// and a non-UTF-8 argument as usage errors.
#[test]
fn every_subcommand_refuses_unknown_flags_and_non_utf8_arguments() {
    let mut s = Sweep::new();
    let help = run(&s.dir, &os(&["--help"]), b"");
    let text = String::from_utf8(help.stdout).expect("help is UTF-8");
    let commands: Vec<String> = text
        .split("Commands:")
        .nth(1)
        .expect("a Commands section")
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .filter(|c| c != "help")
        .collect();
    assert!(commands.len() >= 6, "{commands:?}");
    let mut paths: Vec<Vec<String>> = commands.iter().map(|c| vec![c.clone()]).collect();
    for sub in ["build", "delta", "inspect", "check"] {
        paths.push(vec!["filter".into(), sub.into()]);
    }
    for path in paths {
        let mut bogus: Vec<OsString> = path.iter().map(OsString::from).collect();
        bogus.push("--no-such-flag".into());
        s.case_os(&bogus, b"", Expect::Usage);
        let mut binary: Vec<OsString> = path.iter().map(OsString::from).collect();
        binary.push("--no-such-flag".into());
        binary.push(OsString::from_vec(b"\xff\xc0\xae".to_vec()));
        s.case_os(&binary, b"", Expect::Usage);
    }
    s.finish();
}

#[test]
fn keygen() {
    let mut s = Sweep::new();
    fixtures(&s);
    s.case(&["keygen"], b"", Expect::Usage);
    s.case(&["keygen", "--kid", "k"], b"", Expect::Usage);
    s.case(&["keygen", "--out", "k.jwk"], b"", Expect::Usage);
    s.case(&["keygen", "--kid", "k", "--out", "dir"], b"", Expect::Usage);
    s.case(&["keygen", "--kid", "k", "--out", "missing/sub/k.jwk"], b"", Expect::Usage);
    s.case(&["keygen", "--kid", "k", "--out", "k1.jwk"], b"", Expect::Usage);
    s.case(&["keygen", "--kid", "k", "--out", ""], b"", Expect::Usage);
    s.case(&["keygen", "--kid", "k", "--out", "dir", "--force"], b"", Expect::Usage);
    s.case(&["keygen", "--kid", "", "--out", "k.jwk"], b"", Expect::Rejected("malformed"));
    let long = "k".repeat(257);
    s.case(&["keygen", "--kid", &long, "--out", "k.jwk"], b"", Expect::Rejected("malformed"));
    let huge = "k".repeat(MAX_ARG);
    s.case(&["keygen", "--kid", &huge, "--out", "k.jwk"], b"", Expect::Rejected("malformed"));
    s.finish();
}

#[test]
fn mint() {
    let mut s = Sweep::new();
    fixtures(&s);
    // `mint` with every required flag, `key` as --key, and `extra` flags replacing the
    // defaults of the same name (or added, for the repeatable ones).
    let with = |key: &str, extra: &[&str]| -> Vec<OsString> {
        let mut flags = vec![
            ("--key", key),
            ("--iss", "https://a"),
            ("--sub", "s"),
            ("--aud", "crm-api"),
            ("--task", "t"),
            ("--scope", "customers:read"),
            ("--res", "customers/4821"),
            ("--ttl", "60"),
        ];
        for pair in extra.chunks(2) {
            let repeatable = pair[0] == "--claim";
            match flags.iter_mut().find(|(flag, _)| *flag == pair[0] && !repeatable) {
                Some(slot) => slot.1 = pair[1],
                None => flags.push((pair[0], pair[1])),
            }
        }
        let mut args = vec![OsString::from("mint")];
        for (flag, value) in flags {
            args.push(flag.into());
            args.push(value.into());
        }
        args
    };
    s.case_os(&with("k1.jwk", &[]), b"", Expect::Fine); // the control: the flags compose
    for (file, expect) in bad_files(Expect::Rejected("malformed")) {
        s.case_os(&with(file, &[]), b"", expect);
    }
    s.case_os(&with("huge-key.jwk", &[]), b"", Expect::Usage);
    s.case_os(&with("public.jwk", &[]), b"", Expect::Rejected("malformed"));
    s.case_os(&with("k1.jwks", &[]), b"", Expect::Rejected("malformed"));
    s.case(&["mint", "--key", "k1.jwk"], b"", Expect::Usage);
    for (flag, value) in [
        ("--ttl", "5x"),
        ("--ttl", "-5"),
        ("--ttl", "99999999999999"),
        ("--ttl", ""),
        ("--max-ttl", "1y"),
        ("--max-actions", "abc"),
        ("--max-actions", "-1"),
        ("--nbf", "soon"),
        ("--claim", "no-equals-sign"),
    ] {
        s.case_os(&with("k1.jwk", &[flag, value]), b"", Expect::Usage);
    }
    s.case_os(&with("k1.jwk", &["--claim", "a=1", "--claim", "a=2"]), b"", Expect::Usage);
    for (flag, value, code) in [
        ("--ttl", "0", "lifetime_too_long"),
        ("--ttl", "16m", "lifetime_too_long"),
        ("--res", "*", "invalid_claim"),
        ("--res", "customers/../admin", "invalid_claim"),
        ("--res", "customers/%2e%2e", "invalid_claim"),
        ("--res", "", "invalid_claim"),
        ("--scope", "", "invalid_claim"),
        ("--scope", "a  b", "invalid_claim"),
        ("--scope", "a b c d e", "invalid_claim"),
        ("--aud", "", "invalid_claim"),
        ("--iss", "", "malformed"),
        ("--sub", "", "invalid_claim"),
        ("--cnf-jkt", "short", "invalid_claim"),
        ("--claim", "iss=https://evil", "invalid_claim"),
        ("--claim", "exp=1", "invalid_claim"),
    ] {
        s.case_os(&with("k1.jwk", &[flag, value]), b"", Expect::Rejected(code));
    }
    let huge = "s".repeat(MAX_ARG);
    s.case_os(&with("k1.jwk", &["--sub", &huge]), b"", Expect::Rejected("invalid_claim"));
    let deep = format!("ctx={}", "[".repeat(100_000));
    s.case_os(&with("k1.jwk", &["--claim", &deep]), b"", Expect::RejectedAny);
    s.finish();
}

#[test]
fn verify() {
    let mut s = Sweep::new();
    let token = fixtures(&s);
    let with = |jwks: &str, extra: &[&str], token: &str| -> Vec<OsString> {
        let mut args = os(&[
            "verify",
            "--jwks",
            jwks,
            "--iss",
            "https://a",
            "--aud",
            "crm-api",
            "--action",
            "customers:read",
            "--resource",
            "customers/4821",
        ]);
        args.extend(extra.iter().map(OsString::from));
        args.push(token.into());
        args
    };
    s.case_os(&with("k1.jwks", &[], &token), b"", Expect::Fine); // the control
    s.case_os(&with("k1.jwks", &["--filter", "snap.ttrf"], &token), b"", Expect::Fine);
    for (file, expect) in bad_files(Expect::Rejected("malformed")) {
        s.case_os(&with(file, &[], &token), b"", expect);
    }
    s.case_os(&with("huge.json", &[], &token), b"", Expect::Usage);
    s.case_os(&with("no-keys.json", &[], &token), b"", Expect::Rejected("malformed"));
    s.case_os(&with("k1.jwk", &[], &token), b"", Expect::Rejected("malformed"));
    s.case_os(&with("rsa.json", &[], &token), b"", Expect::Rejected("unsupported_alg"));
    s.case_os(&with("small-order.json", &[], &token), b"", Expect::Rejected("bad_signature"));
    s.case_os(&with("k2.jwks", &[], &token), b"", Expect::Rejected("unknown_key"));
    s.case_os(&with("k1.jwks", &["--jwks", "k2.jwks"], &token), b"", Expect::Usage);
    // The token itself: garbage, empty, huge, binary, on argv and on stdin.
    for bad in ["not-a-token", "", "a.b.c", "....", &format!("{token}x"), "\u{1}\u{202e}.\u{7f}.é"]
    {
        s.case_os(&with("k1.jwks", &[], bad), b"", Expect::Rejected("malformed"));
    }
    let huge = format!("{token}{}", "A".repeat(MAX_ARG - token.len()));
    s.case_os(&with("k1.jwks", &[], &huge), b"", Expect::Rejected("malformed"));
    let mut non_utf8 = with("k1.jwks", &[], "");
    non_utf8.pop();
    non_utf8.push(OsString::from_vec(b"ey\xff.\xfe.\xc0".to_vec()));
    s.case_os(&non_utf8, b"", Expect::Usage);
    for stdin in [&b""[..], b"\n\n  \t", &binary(), &vec![b'A'; TEN_MB], &vec![0u8; TEN_MB]] {
        s.case_os(&with("k1.jwks", &[], "-"), stdin, Expect::Rejected("malformed"));
    }
    s.case_os(
        &with("k1.jwks", &[], "-"),
        format!("{token}\n{token}").as_bytes(),
        Expect::Rejected("malformed"),
    );
    // Flags.
    for (flag, value) in [
        ("--now", "yesterday"),
        ("--now", "99999999999999999999"),
        ("--max-lifetime", "-5"),
        ("--clock-skew", "1y"),
        ("--revocation-grace", "soon"),
        ("--audit-log", "dir"),
        ("--audit-log", "missing/sub/audit.log"),
    ] {
        s.case_os(&with("k1.jwks", &[flag, value], &token), b"", Expect::Usage);
    }
    s.case_os(&with("k1.jwks", &["--delta", "snap.ttrf"], &token), b"", Expect::Usage);
    let mut no_token = with("k1.jwks", &[], "");
    no_token.pop();
    s.case_os(&no_token, b"", Expect::Usage);
    // Revocation files.
    for (file, expect) in bad_files(Expect::Rejected("malformed")) {
        s.case_os(&with("k1.jwks", &["--filter", file], &token), b"", expect);
    }
    s.case_os(&with("k1.jwks", &["--filter", "huge.ttrf"], &token), b"", Expect::Usage);
    s.case_os(
        &with("k1.jwks", &["--filter", "k1.jwk"], &token),
        b"",
        Expect::Rejected("malformed"),
    );
    s.case_os(
        &with("k2.jwks", &["--filter", "snap.ttrf"], &token),
        b"",
        Expect::Rejected("unknown_key"),
    );
    for (file, expect) in bad_files(Expect::Rejected("malformed")) {
        let args = with("k1.jwks", &["--filter", "snap.ttrf", "--delta", file], &token);
        s.case_os(&args, b"", expect);
    }
    s.finish();
}

#[test]
fn inspect() {
    let mut s = Sweep::new();
    let token = fixtures(&s);
    s.case(&["inspect", &token], b"", Expect::Fine); // the control
    s.case(&["inspect"], b"", Expect::Usage);
    s.case(&["inspect", &token, "extra"], b"", Expect::Usage);
    for bad in
        ["not-a-token", "", "a.b.c", "e30.e30", "\u{1}\u{202e}.\u{7f}.é", &format!("{token}=")]
    {
        s.case(&["inspect", bad], b"", Expect::Rejected("malformed"));
    }
    let huge = "A".repeat(MAX_ARG);
    s.case(&["inspect", &huge], b"", Expect::Rejected("malformed"));
    s.case_os(
        &[OsString::from("inspect"), OsString::from_vec(b"\xff.\xfe.\x80".to_vec())],
        b"",
        Expect::Usage,
    );
    for stdin in [&b""[..], b" \n", &binary(), &vec![b'A'; TEN_MB], &vec![0xffu8; TEN_MB]] {
        s.case(&["inspect", "-"], stdin, Expect::Rejected("malformed"));
    }
    s.finish();
}

#[test]
fn revoke() {
    let mut s = Sweep::new();
    let token = fixtures(&s);
    s.case(&["revoke", "--db", "r.db", &token], b"", Expect::Fine); // the control
    s.case(&["revoke"], b"", Expect::Usage);
    s.case(&["revoke", "--db", "r.db"], b"", Expect::Usage);
    s.case(&["revoke", &token], b"", Expect::Usage);
    s.case(&["revoke", "--db", "r.db", "--jti", "j"], b"", Expect::Usage);
    s.case(&["revoke", "--db", "r.db", "--exp", "1"], b"", Expect::Usage);
    s.case(&["revoke", "--db", "r.db", "--jti", "j", "--exp", "soon"], b"", Expect::Usage);
    s.case(&["revoke", "--db", "r.db", "--jti", "", "--exp", "1"], b"", Expect::Usage);
    s.case(&["revoke", "--db", "r.db", "--jti", "j", "--exp", "1", &token], b"", Expect::Usage);
    s.case(&["revoke", "--db", "r.db", "--batch", &token], b"", Expect::Usage);
    for db in
        ["dir", "missing/sub/r.db", "garbage.txt", "binary.bin", "not-a-db.db", "noperm", "k1.jwk"]
    {
        s.case(&["revoke", "--db", db, "--jti", "j", "--exp", "1"], b"", Expect::Usage);
    }
    for bad in ["not-a-token", "", "a.b.c", "\u{1}\u{202e}.\u{7f}.é"] {
        s.case(&["revoke", "--db", "r.db", bad], b"", Expect::Rejected("malformed"));
    }
    let huge = "A".repeat(MAX_ARG);
    s.case(&["revoke", "--db", "r.db", &huge], b"", Expect::Rejected("malformed"));
    let no_jti = token_without("jti");
    s.case(&["revoke", "--db", "r.db", &no_jti], b"", Expect::Rejected("missing_claim"));
    for stdin in [&b""[..], &binary(), &vec![b'A'; TEN_MB]] {
        s.case(&["revoke", "--db", "r.db", "-"], stdin, Expect::Rejected("malformed"));
    }
    for (stdin, code) in [
        (&b"only-one-field\n"[..], "malformed"),
        (b"a b c\n", "malformed"),
        (b"j soon\n", "invalid_claim"),
        (b"j 99999999999999999999\n", "invalid_claim"),
        (&binary(), "malformed"),
        (&vec![b'A'; TEN_MB], "malformed"),
    ] {
        s.case(&["revoke", "--db", "r.db", "--batch"], stdin, Expect::Rejected(code));
    }
    s.finish();
}

/// The claims of a token without `name`, as an unsigned token (revoke does not verify).
fn token_without(name: &str) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    let mut claims = serde_json::json!({"jti": "j", "exp": 1, "sub": "s"});
    claims.as_object_mut().expect("object").remove(name);
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"EdDSA","typ":"tt+jwt","kid":"k1"}"#);
    format!(
        "{header}.{}.{}",
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode([0u8; 64])
    )
}

#[test]
fn filter_build_and_delta() {
    let mut s = Sweep::new();
    fixtures(&s);
    let build = |extra: &[&str]| -> Vec<OsString> {
        let mut args = os(&[
            "filter",
            "build",
            "--db",
            "authority.db",
            "--key",
            "k1.jwk",
            "--iss",
            "https://auth.example",
            "--out",
            "new.ttrf",
        ]);
        args.extend(extra.iter().map(OsString::from));
        args
    };
    s.case_os(&build(&[]), b"", Expect::Fine); // the control
    s.case(&["filter", "build"], b"", Expect::Usage);
    for db in ["absent.db", "dir", "garbage.txt", "binary.bin", "not-a-db.db", "noperm"] {
        let args = [
            "filter",
            "build",
            "--db",
            db,
            "--key",
            "k1.jwk",
            "--iss",
            "https://auth.example",
            "--out",
            "new.ttrf",
        ];
        s.case(&args, b"", Expect::Usage);
    }
    for (file, expect) in bad_files(Expect::Rejected("malformed")) {
        let args = [
            "filter",
            "build",
            "--db",
            "authority.db",
            "--key",
            file,
            "--iss",
            "https://auth.example",
            "--out",
            "new.ttrf",
        ];
        s.case(&args, b"", expect);
    }
    for (flag, value) in [
        ("--capacity", "0"),
        ("--capacity", "many"),
        ("--capacity", "-1"),
        ("--fpr", "often"),
        ("--fpr", "-0.5"),
        ("--valid-for", "forever"),
        ("--clock-skew", "-1"),
    ] {
        s.case_os(&build(&[flag, value]), b"", Expect::Usage);
    }
    for (flag, value) in [
        ("--fpr", "0"),
        ("--fpr", "1"),
        ("--fpr", "2"),
        ("--fpr", "NaN"),
        ("--fpr", "inf"),
        ("--capacity", "18446744073709551615"),
        ("--valid-for", "2d"),
        ("--valid-for", "24h1s"),
        ("--clock-skew", "5m1s"),
    ] {
        s.case_os(&build(&[flag, value]), b"", Expect::RejectedAny);
    }
    for out in ["dir", "missing/sub/new.ttrf", ""] {
        let args = [
            "filter",
            "build",
            "--db",
            "authority.db",
            "--key",
            "k1.jwk",
            "--iss",
            "https://auth.example",
            "--out",
            out,
        ];
        s.case(&args, b"", Expect::Usage);
    }
    // Serials follow the clock (the core's planner): read the one to build a delta on.
    let built = s.setup(&[
        "filter",
        "build",
        "--db",
        "authority.db",
        "--key",
        "k1.jwk",
        "--iss",
        "https://auth.example",
        "--out",
        "base.ttrf",
    ]);
    let summary: serde_json::Value = serde_json::from_slice(&built).expect("summary");
    let since = summary["serial"].to_string();
    let delta = |since: &str, key: &str| -> Vec<OsString> {
        os(&[
            "filter",
            "delta",
            "--db",
            "authority.db",
            "--key",
            key,
            "--iss",
            "https://auth.example",
            "--since",
            since,
            "--out",
            "d.ttrf",
        ])
    };
    s.case_os(&delta(&since, "k1.jwk"), b"", Expect::Fine); // the control
    s.case(&["filter", "delta"], b"", Expect::Usage);
    s.case_os(&delta("99", "k1.jwk"), b"", Expect::Rejected("stale_revocation"));
    s.case_os(&delta("x", "k1.jwk"), b"", Expect::Usage);
    s.case_os(&delta("-1", "k1.jwk"), b"", Expect::Usage);
    for (file, expect) in bad_files(Expect::Rejected("malformed")) {
        s.case_os(&delta(&since, file), b"", expect);
    }
    for db in ["absent.db", "dir", "garbage.txt", "not-a-db.db"] {
        let args = [
            "filter",
            "delta",
            "--db",
            db,
            "--key",
            "k1.jwk",
            "--iss",
            "https://auth.example",
            "--since",
            &since,
            "--out",
            "d.ttrf",
        ];
        s.case(&args, b"", Expect::Usage);
    }
    s.finish();
}

#[test]
fn filter_inspect_and_check() {
    let mut s = Sweep::new();
    fixtures(&s);
    s.case(&["filter", "check", "snap.ttrf", "j", "--jwks", "k1.jwks"], b"", Expect::Fine);
    s.case(&["filter", "inspect", "snap.ttrf", "--jwks", "k1.jwks"], b"", Expect::Fine);
    s.case(&["filter", "inspect"], b"", Expect::Usage);
    for (file, expect) in bad_files(Expect::Rejected("malformed")) {
        s.case(&["filter", "inspect", file], b"", expect);
        s.case(&["filter", "inspect", file, "--jwks", "k1.jwks"], b"", expect);
        s.case(&["filter", "check", file, "some-jti", "--jwks", "k1.jwks"], b"", expect);
    }
    s.case(&["filter", "inspect", "huge.ttrf"], b"", Expect::Usage);
    s.case(&["filter", "inspect", "k1.jwk"], b"", Expect::Rejected("malformed"));
    for (jwks, expect) in bad_files(Expect::Rejected("malformed")) {
        s.case(&["filter", "inspect", "snap.ttrf", "--jwks", jwks], b"", expect);
        s.case(&["filter", "check", "snap.ttrf", "j", "--jwks", jwks], b"", expect);
    }
    s.case(
        &["filter", "inspect", "snap.ttrf", "--jwks", "k2.jwks"],
        b"",
        Expect::Rejected("unknown_key"),
    );
    s.case(
        &["filter", "check", "snap.ttrf", "j", "--jwks", "k2.jwks"],
        b"",
        Expect::Rejected("unknown_key"),
    );
    s.case(&["filter", "check", "snap.ttrf", "--jwks", "k1.jwks"], b"", Expect::Usage);
    s.case(&["filter", "check", "snap.ttrf", "j"], b"", Expect::Usage);
    for (flag, value) in [("--now", "later"), ("--grace", "1y"), ("--grace", "-1")] {
        s.case(
            &["filter", "check", "snap.ttrf", "j", "--jwks", "k1.jwks", flag, value],
            b"",
            Expect::Usage,
        );
    }
    for (file, expect) in bad_files(Expect::Rejected("malformed")) {
        let args = ["filter", "check", "snap.ttrf", "j", "--jwks", "k1.jwks", "--delta", file];
        s.case(&args, b"", expect);
    }
    // The same snapshot again as a --delta does not move the filter forward.
    s.case(
        &["filter", "check", "snap.ttrf", "j", "--jwks", "k1.jwks", "--delta", "snap.ttrf"],
        b"",
        Expect::Rejected("stale_revocation"),
    );
    s.finish();
}

#[test]
fn scan() {
    let mut s = Sweep::new();
    let token = fixtures(&s);
    write(&s.dir, "has-token.txt", format!("export TOKEN={token}\n"));
    s.case(&["scan", "garbage.txt", "--jwks", "k1.jwks", "--iss", "https://a"], b"", Expect::Fine);
    s.case(&["scan"], b"", Expect::Usage);
    s.case(&["scan", "missing-file"], b"", Expect::Usage);
    for garbage in ["binary.bin", "huge.ttrf", "deep.json", "empty", "dir"] {
        s.case(&["scan", garbage], b"", Expect::Fine);
    }
    for stdin in [&b""[..], &binary(), &vec![b'.'; TEN_MB], &vec![0u8; TEN_MB]] {
        s.case(&["scan", "-"], stdin, Expect::Fine);
    }
    for (jwks, expect) in bad_files(Expect::Rejected("malformed")) {
        s.case(&["scan", "has-token.txt", "--jwks", jwks, "--iss", "https://a"], b"", expect);
    }
    s.case(&["scan", "has-token.txt", "--jwks", "k1.jwks"], b"", Expect::Usage);
    s.case(&["scan", "has-token.txt", "--revoke"], b"", Expect::Usage);
    s.case(&["scan", "has-token.txt", "--now", "later"], b"", Expect::Usage);
    s.finish();
}
