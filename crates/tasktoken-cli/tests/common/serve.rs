//! What the `tasktoken serve` tests share: a local OIDC provider (its own RSA and P-256
//! keys, JWKS over HTTP on 127.0.0.1), identity tokens shaped like GitHub Actions' and
//! Kubernetes', a running service, and a throwaway PostgreSQL database.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use super::{now, now_nanos, run, TempDir, BIN};

pub const GITHUB_ISS: &str = "https://token.actions.githubusercontent.com";
pub const K8S_ISS: &str = "https://kubernetes.default.svc";
/// The service's issuer and public URL (it runs behind a proxy in this picture).
pub const ISSUER: &str = "https://auth.test";

fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    std::fs::read_to_string(path).expect("fixture")
}

/// A local OIDC provider: serves its JWKS (replaceable, for rotation) and counts fetches.
pub struct Oidc {
    pub jwks_url: String,
    pub jwks: Arc<Mutex<String>>,
    pub fetches: Arc<AtomicUsize>,
}

impl Oidc {
    pub fn start() -> Oidc {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let jwks = Arc::new(Mutex::new(fixture("oidc-jwks.json")));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (served, counted) = (Arc::clone(&jwks), Arc::clone(&fetches));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut request = Vec::new();
                let mut byte = [0u8; 1];
                while !request.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                    request.push(byte[0]);
                }
                counted.fetch_add(1, Ordering::SeqCst);
                let body = served.lock().expect("jwks").clone();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                     connection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Oidc { jwks_url: format!("http://127.0.0.1:{port}/.well-known/jwks"), jwks, fetches }
    }

    pub fn rotate(&self) {
        *self.jwks.lock().expect("jwks") = fixture("oidc-jwks-next.json");
    }
}

/// Signs `claims` with the provider's RSA key (`rsa-1`).
pub fn sign_rs256(claims: &Value) -> String {
    let key = EncodingKey::from_rsa_pem(fixture("oidc-rsa.pem").as_bytes()).expect("rsa");
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("rsa-1".into());
    jsonwebtoken::encode(&header, claims, &key).expect("sign")
}

/// Signs header and payload *texts* as they are with the provider's RSA key (`rsa-1`): for
/// identity tokens no serializer would write (duplicate members, `crit`).
pub fn sign_rs256_text(header: &str, payload: &str) -> String {
    use base64::Engine as _;
    let b64 = |t: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(t);
    let input = format!("{}.{}", b64(header), b64(payload));
    let key = EncodingKey::from_rsa_pem(fixture("oidc-rsa.pem").as_bytes()).expect("rsa");
    let signature =
        jsonwebtoken::crypto::sign(input.as_bytes(), &key, Algorithm::RS256).expect("sign");
    format!("{input}.{signature}")
}

/// Signs `claims` with a P-256 key: `ec-1`, or `ec-2` (only in the rotated JWKS).
pub fn sign_es256(claims: &Value, kid: &str) -> String {
    let file = if kid == "ec-2" { "oidc-p256-next.pem" } else { "oidc-p256.pem" };
    let key = EncodingKey::from_ec_pem(fixture(file).as_bytes()).expect("ec");
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, claims, &key).expect("sign")
}

/// A fresh `jti` for an identity token.
pub fn identity_jti() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("id-{}-{}-{}", std::process::id(), now(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Claims of a GitHub Actions OIDC token of `acme/app` on main, run 8812.
pub fn github_claims() -> Value {
    let now = now();
    json!({
        "iss": GITHUB_ISS, "aud": ISSUER, "sub": "repo:acme/app:ref:refs/heads/main",
        "repository": "acme/app", "repository_owner": "acme", "ref": "refs/heads/main",
        "run_id": "8812", "workflow": "deploy", "event_name": "push",
        "jti": identity_jti(), "iat": now, "nbf": now - 5, "exp": now + 300
    })
}

/// Claims of a Kubernetes service-account token of `ci/deployer`.
pub fn k8s_claims() -> Value {
    let now = now();
    json!({
        "iss": K8S_ISS, "aud": [ISSUER], "sub": "system:serviceaccount:ci:deployer",
        "kubernetes.io": { "namespace": "ci", "serviceaccount": { "name": "deployer" } },
        "jti": identity_jti(), "iat": now, "nbf": now, "exp": now + 600
    })
}

/// The configuration of the tests: a GitHub provider (keys by URL) and a Kubernetes one
/// (keys from a file), and their policies; `store` is the store line.
pub fn config(oidc: &Oidc, dir: &TempDir, store: &str, extra: &str) -> String {
    std::fs::write(dir.path("k8s-jwks.json"), fixture("oidc-jwks.json")).expect("jwks file");
    format!(
        r#"
issuer = "{ISSUER}"
key = "issuer.jwk"
store = "{store}"
max_ttl = "15m"
publish_interval = 1
revocation_valid_for = "1m"
{extra}

[[identity]]
name = "github"
issuer = "{GITHUB_ISS}"
jwks = "{jwks}"
audience = "{ISSUER}"
jwks_refresh_floor = "2s"

[[identity]]
name = "k8s"
issuer = "{K8S_ISS}"
jwks = "k8s-jwks.json"
audience = "{ISSUER}"
algorithms = ["ES256"]

[[policy]]
name = "deploy-read-artifacts"
identity = "github"
claims = {{ repository = "acme/*", ref = "refs/heads/main" }}
sub = "ci:{{repository}}#{{run_id}}"
aud = ["artifact-repo"]
task = "deploy-{{run_id}}/*"
scope = ["artifacts:read", "artifacts:list"]
res = ["repos/{{repository}}/*"]
max_ttl = "10m"
dlg = 2

[[policy]]
name = "bound-only"
identity = "github"
claims = {{ workflow = "release" }}
sub = "ci:{{repository}}"
aud = ["signer"]
task = "release-*"
scope = ["sign:artifact"]
res = ["artifacts/*"]
require_binding = true

[[policy]]
name = "k8s-deployer"
identity = "k8s"
claims = {{ "kubernetes.io/namespace" = "ci" }}
sub = "k8s:{{kubernetes.io/namespace}}/{{kubernetes.io/serviceaccount/name}}"
aud = ["cluster-api"]
task = "rollout-*"
scope = ["deployments:patch"]
res = ["namespaces/{{kubernetes.io/namespace}}/deployments/*"]
max_ttl = "5m"
"#,
        jwks = oidc.jwks_url
    )
}

/// A running `tasktoken serve`, killed when dropped. Its audit lines are collected.
pub struct Service {
    pub child: Child,
    pub url: String,
    pub audit: Arc<Mutex<Vec<Value>>>,
}

impl Service {
    /// Writes the issuer key (once per directory) and `config` into `dir` and starts the
    /// service on a free port; returns once it has printed its `listening` line.
    pub fn start(dir: &TempDir, config: &str) -> Service {
        if !dir.path("issuer.jwk").exists() {
            let out = run(dir, &["keygen", "--kid", "svc-1", "--out", "issuer.jwk"], None);
            assert!(out.status.success(), "keygen");
        }
        std::fs::write(dir.path("service.toml"), config).expect("config");
        let mut child = Command::new(BIN)
            .args(["serve", "--config"])
            .arg(dir.path("service.toml"))
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn serve");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_else(|| {
            let mut err = String::new();
            let _ = child.stderr.take().expect("stderr").read_to_string(&mut err);
            panic!("serve did not start: {err}")
        });
        let listening: Value = serde_json::from_str(&first).expect("first line is JSON");
        let url = listening["listening"].as_str().expect("listening").to_owned();
        let audit = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&audit);
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let value: Value = serde_json::from_str(&line).expect("audit lines are JSON");
                sink.lock().expect("audit").push(value);
            }
        });
        Service { child, url, audit }
    }

    /// Audit lines of `event` seen so far.
    pub fn audit_of(&self, event: &str) -> Vec<Value> {
        self.audit.lock().expect("audit").iter().filter(|l| l["event"] == event).cloned().collect()
    }

    /// POSTs `form` to `/token` (with `headers`) and returns the status and JSON answer.
    pub fn exchange(&self, form: &[(&str, &str)], headers: &[(&str, &str)]) -> (u16, Value) {
        let body = form_body(form);
        let mut request = client()
            .post(format!("{}/token", self.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().expect("POST /token");
        let status = response.status().as_u16();
        assert_eq!(response.headers()["cache-control"], "no-store");
        (status, response.json().expect("JSON answer"))
    }

    pub fn get(&self, path: &str) -> reqwest::blocking::Response {
        client().get(format!("{}{path}", self.url)).send().expect("GET")
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
        assert!(sent.success());
        self.child.wait().expect("wait")
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().timeout(Duration::from_secs(20)).build().expect("client")
}

pub fn form_body(form: &[(&str, &str)]) -> String {
    form.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&")
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The form of a token exchange for `subject`, with the request parameters `extra`.
pub fn exchange_form<'a>(
    subject: &'a str,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
        ("subject_token", subject),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
    ];
    form.extend_from_slice(extra);
    form
}

/// The request the deploy policy grants for run 8812.
pub const DEPLOY: [(&str, &str); 4] = [
    ("audience", "artifact-repo"),
    ("scope", "artifacts:read"),
    ("res", "repos/acme/app/*"),
    ("task", "deploy-8812/stage:deploy"),
];

/// The service's keys, for a verifier.
pub fn service_keys(service: &Service) -> tasktoken::KeySet {
    let text = service.get("/.well-known/jwks.json").text().expect("jwks");
    tasktoken::KeySet::from_jwks(&text).expect("service JWKS")
}

/// A new database named `<prefix>_<pid>_<nanos>` on the test server, or `None` (and a note
/// that `what` is skipped) when `TASKTOKEN_TEST_POSTGRES` is not set (`make test` sets it).
pub fn postgres_database(prefix: &str, what: &str) -> Option<String> {
    let Ok(url) = std::env::var("TASKTOKEN_TEST_POSTGRES") else {
        eprintln!("TASKTOKEN_TEST_POSTGRES is not set: {what} skipped (make test sets it)");
        return None;
    };
    let name = format!("{prefix}_{}_{}", std::process::id(), now_nanos());
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).expect("admin");
    admin.batch_execute(&format!("CREATE DATABASE {name}")).expect("create database");
    let base = url.rsplit_once('/').map_or(url.as_str(), |(base, _)| base).to_owned();
    Some(format!("{base}/{name}"))
}
