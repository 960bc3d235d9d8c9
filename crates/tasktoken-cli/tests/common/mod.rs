//! The one helper module of the integration tests of the `tasktoken` binary (each test file
//! says `mod common;`): a temporary working directory per test, running the built
//! executable, reading its answers, the keys and tokens most tests start from, and, in
//! [`serve`], a local OIDC provider and a running `tasktoken serve`.
#![allow(dead_code)] // each test file uses its own subset

pub mod serve;

use std::ffi::OsStr;
use std::fs;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// A directory removed when the test ends, unique per process and test.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "tasktoken-test-{}-{}-{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The built `tasktoken` executable.
pub const BIN: &str = env!("CARGO_BIN_EXE_tasktoken");

/// The built binary, to run in `dir` with `args`.
pub fn command<S: AsRef<OsStr>>(dir: &TempDir, args: &[S]) -> Command {
    let mut command = Command::new(BIN);
    command.args(args).current_dir(&dir.0);
    command
}

/// Runs the binary in `dir` with `args`, feeding `stdin` (empty if `None`).
pub fn run(dir: &TempDir, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = command(dir, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tasktoken");
    {
        let mut input = child.stdin.take().expect("stdin");
        if let Some(text) = stdin {
            // A command that refuses its arguments exits without reading stdin.
            if let Err(e) = input.write_all(text.as_bytes()) {
                assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write stdin: {e}");
            }
        }
    }
    child.wait_with_output().expect("wait for tasktoken")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8 stdout")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("UTF-8 stderr")
}

/// Asserts exit 0 and returns stdout parsed as JSON.
pub fn ok_json(output: &Output) -> Value {
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(output));
    serde_json::from_str(&stdout(output)).expect("stdout is JSON")
}

/// Asserts exit 1 and a single-line error JSON on stderr, and returns its code.
pub fn error_code(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(1), "stderr: {}", stderr(output));
    let text = stderr(output);
    let line = text.trim_end();
    assert!(!line.contains('\n'), "one line: {text}");
    let value: Value = serde_json::from_str(line).expect("stderr is error JSON");
    assert!(value["message"].is_string());
    value["error"].as_str().expect("code").to_owned()
}

/// The code of a refusal (see [`error_code`]), or `ok` for exit 0.
pub fn error_code_or_ok(output: &Output) -> String {
    if output.status.code() == Some(0) {
        "ok".into()
    } else {
        error_code(output)
    }
}

/// Asserts exit 2 with a plain `tasktoken: ...` message (no panic), and returns it.
pub fn file_error(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(2), "stderr: {}", stderr(output));
    let text = stderr(output);
    assert!(text.starts_with("tasktoken: "), "{text}");
    assert!(!text.contains("panicked"), "{text}");
    text
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_secs();
    i64::try_from(secs).expect("time fits i64")
}

/// Nanoseconds since the epoch, for names that must not repeat.
pub fn now_nanos() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

/// Generates key `kid`: private JWK in `<kid>.jwk`, public JWKS in `<kid>.jwks`; returns the
/// JWKS.
pub fn keygen(dir: &TempDir, kid: &str) -> Value {
    let out = run(dir, &["keygen", "--kid", kid, "--out", &format!("{kid}.jwk")], None);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    fs::write(dir.path(&format!("{kid}.jwks")), &out.stdout).expect("write JWKS");
    serde_json::from_str(&stdout(&out)).expect("stdout is a JWKS")
}

/// Runs `mint` in `dir` with `args` (after `mint`), asserts exit 0, and returns the token.
pub fn mint_with(dir: &TempDir, args: &[&str]) -> String {
    let out = run(dir, &[&["mint"], args].concat(), None);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let text = stdout(&out);
    text.strip_suffix('\n').expect("ends with a newline").to_owned()
}

/// The claims of a token, read without verifying (the payload decoded).
pub fn claims_of(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("payload");
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).expect("b64");
    serde_json::from_slice(&json).expect("payload is JSON")
}

/// The `jti` of a token.
pub fn jti(token: &str) -> String {
    claims_of(token)["jti"].as_str().expect("jti").to_owned()
}

/// Waits (at most 10 s) until `check` holds.
pub fn eventually(what: &str, check: impl Fn() -> bool) {
    let started = std::time::Instant::now();
    while !check() {
        let waited = started.elapsed();
        assert!(waited < std::time::Duration::from_secs(10), "{what}: not within 10 s");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
