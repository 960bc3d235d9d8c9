//! Approval (DESIGN.md, "Approval") against real parts: the built binary, a local OIDC
//! provider, a SQLite store, a real HTTP receiver for the webhook, approver tokens minted by
//! the CLI with the service's key. Every branch: pending, approved then collected once,
//! denied, expired, wrong scope, not an approver, self-approval, replayed collection, a
//! restart in between, DPoP binding; the CLI at the service and in the store; PostgreSQL
//! with two instances (when `TASKTOKEN_TEST_POSTGRES` is set).

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::serve::*;
use common::{eventually, mint_with, now, run, TempDir};
use serde_json::{json, Value};
use tasktoken::{ProofSigningKey, Request, Verifier};

const POLICY: &str = "prod-migrate";
const APPROVAL_GRANT: &str = "urn:tasktoken:grant-type:approval";

/// The tests' configuration plus a policy that waits for alice or bob (or the CI job itself,
/// to show that the requester never approves), expiring after `expires`.
fn approval_config(oidc: &Oidc, dir: &TempDir, store: &str, expires: &str, hook: &str) -> String {
    let webhook = if hook.is_empty() { String::new() } else { format!(", webhook = \"{hook}\"") };
    format!(
        r#"{}
[[policy]]
name = "{POLICY}"
identity = "github"
claims = {{ repository = "acme/app", workflow = "migrate" }}
sub = "ci:{{repository}}#{{run_id}}"
aud = ["prod-db"]
task = "migrate-{{run_id}}"
scope = ["db:migrate"]
res = ["dbs/prod"]
max_ttl = "5m"
dlg = 1
approval = {{ approvers = ["human:alice", "human:bob", "ci:acme/app#8812"], expires = "{expires}", interval = 1{webhook} }}
"#,
        config(oidc, dir, store, "")
    )
}

/// The migration request; with `dlg` 1 only when bound (a DPoP proof goes with it): only the
/// holder of a bound key can delegate, so the service grants `dlg` to bound requests only.
fn migrate_request_for(bound: bool) -> Vec<(&'static str, String)> {
    let mut form = migrate_request();
    if bound {
        form.push(("dlg", "1".into()));
    }
    form
}

fn migrate_request() -> Vec<(&'static str, String)> {
    let mut claims = github_claims();
    claims["workflow"] = json!("migrate");
    vec![
        ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange".into()),
        ("subject_token", sign_rs256(&claims)),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt".into()),
        ("audience", "prod-db".into()),
        ("scope", "db:migrate".into()),
        ("res", "dbs/prod".into()),
        ("task", "migrate-8812".into()),
        ("ttl", "120".into()),
    ]
}

fn post(service: &Service, form: &[(&str, String)], headers: &[(&str, &str)]) -> (u16, Value) {
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    service.exchange(&form, headers)
}

/// Asks for the migration; returns the client's `approval_id` and the answer.
fn ask(service: &Service, headers: &[(&str, &str)]) -> (String, Value) {
    let bound = headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("dpop"));
    let (status, body) = post(service, &migrate_request_for(bound), headers);
    assert_eq!((status, body["error"].as_str()), (400, Some("authorization_pending")), "{body}");
    (body["approval_id"].as_str().expect("approval_id").to_owned(), body)
}

fn poll(service: &Service, approval_id: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    post(
        service,
        &[("grant_type", APPROVAL_GRANT.into()), ("approval_id", approval_id.into())],
        headers,
    )
}

/// The public id (what approvers see) of a client's `approval_id`.
fn public(approval_id: &str) -> &str {
    approval_id.split_once('.').expect("<id>.<secret>").0
}

/// A task token of the service for `sub`, granting `scope` on `res`, for audience `aud`.
fn approver_token(dir: &TempDir, sub: &str, scope: &str, res: &str, aud: &str) -> String {
    mint_with(
        dir,
        &[
            "--key",
            "issuer.jwk",
            "--iss",
            ISSUER,
            "--sub",
            sub,
            "--aud",
            aud,
            "--task",
            "approve-migrations",
            "--scope",
            scope,
            "--res",
            res,
            "--ttl",
            "300",
        ],
    )
}

fn alice(dir: &TempDir) -> String {
    approver_token(dir, "human:alice", "approvals:decide", &format!("approvals/{POLICY}"), ISSUER)
}

fn approvals_call(
    service: &Service,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> (u16, Option<String>, Value) {
    let url = format!("{}{path}", service.url);
    let mut request = if method == "GET" { client().get(url) } else { client().post(url) };
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().expect("approvals call");
    let status = response.status().as_u16();
    let challenge =
        response.headers().get("www-authenticate").map(|v| v.to_str().expect("ascii").to_owned());
    (status, challenge, response.json().expect("JSON answer"))
}

fn decide(service: &Service, token: &str, id: &str, verb: &str) -> (u16, Value) {
    let (status, _, body) =
        approvals_call(service, "POST", &format!("/approvals/{id}/{verb}"), Some(token));
    (status, body)
}

/// A real HTTP receiver: records each POSTed JSON body, answers `status`.
struct Receiver {
    url: String,
    bodies: Arc<Mutex<Vec<Value>>>,
}

impl Receiver {
    fn start(status: u16) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/hook/secret-path", listener.local_addr().expect("addr"));
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&bodies);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut request = Vec::new();
                let mut byte = [0u8; 1];
                while !request.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                    request.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&request).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                let mut body = vec![0u8; length];
                let _ = stream.read_exact(&mut body);
                if let Ok(value) = serde_json::from_slice::<Value>(&body) {
                    seen.lock().expect("bodies").push(value);
                }
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
            }
        });
        Receiver { url, bodies }
    }
}

fn no_token_text(service: &Service, tokens: &[&str]) {
    let all = serde_json::to_string(&*service.audit.lock().expect("audit")).expect("json");
    for token in tokens {
        assert!(!all.contains(token), "no token text (or collection secret) in audit lines");
    }
}

#[test]
fn a_request_waits_is_approved_and_its_token_is_collected_once() {
    let (dir, oidc) = (TempDir::new(), Oidc::start());
    let receiver = Receiver::start(200);
    let text = approval_config(&oidc, &dir, "sqlite:authority.db", "30m", &receiver.url);
    let service = Service::start(&dir, &text);
    let (approval_id, pending) = ask(&service, &[]);
    assert_eq!(
        (pending["expires_in"].as_u64(), pending["interval"].as_u64()),
        (Some(1800), Some(1))
    );
    let id = public(&approval_id).to_owned();
    // Polling before a decision: authorization_pending.
    let (status, body) = poll(&service, &approval_id, &[]);
    assert_eq!((status, body["error"].as_str()), (400, Some("authorization_pending")));
    // The webhook got who asked for what, and no token, no secret.
    eventually("the webhook", || !receiver.bodies.lock().expect("b").is_empty());
    let note = receiver.bodies.lock().expect("b")[0].clone();
    assert_eq!(note["approval_id"], json!(id));
    assert_eq!(note["policy"], POLICY);
    assert_eq!(note["identity"], "github");
    assert_eq!(note["iss"], GITHUB_ISS);
    assert_eq!(note["sub"], "repo:acme/app:ref:refs/heads/main");
    assert_eq!(
        (note["task"].as_str(), note["scope"].as_str()),
        (Some("migrate-8812"), Some("db:migrate"))
    );
    assert_eq!((note["res"].clone(), note["aud"].clone()), (json!(["dbs/prod"]), json!("prod-db")));
    assert!(note["expires_at"].as_i64().expect("expires_at") > now());
    assert!(!note.to_string().contains(&approval_id), "the collection secret is the client's");
    // alice lists it, with what it grants.
    let token = alice(&dir);
    let (status, _, listed) = approvals_call(&service, "GET", "/approvals", Some(&token));
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["approver"], "human:alice");
    let item = &listed["approvals"][0];
    assert_eq!(
        (item["id"].as_str(), item["token_sub"].as_str()),
        (Some(id.as_str()), Some("ci:acme/app#8812"))
    );
    assert_eq!(
        (item["ttl"].as_u64(), item["dlg"].as_u64(), item["state"].as_str()),
        (Some(120), Some(0), Some("pending"))
    );
    // Approved; the token carries apv and lives from its collection.
    let before = now();
    let (status, decided) = decide(&service, &token, &id, "approve");
    assert_eq!(status, 200, "{decided}");
    assert_eq!(decided["approval"]["state"], "approved");
    std::thread::sleep(Duration::from_millis(1100));
    let (status, body) = poll(&service, &approval_id, &[]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["token_type"].as_str(), body["expires_in"].as_u64()),
        (Some("Bearer"), Some(120))
    );
    let minted = body["access_token"].as_str().expect("token").to_owned();
    let verifier =
        Verifier::new("prod-db").expect("v").trust(ISSUER, &service_keys(&service)).expect("trust");
    let claims =
        verifier.verify(&minted, &Request::new("db:migrate", "dbs/prod")).expect("verifies");
    assert_eq!(claims.sub(), "ci:acme/app#8812");
    assert_eq!(claims.get("apv").expect("apv")["sub"], "human:alice");
    let at = claims.get("apv").expect("apv")["at"].as_i64().expect("at");
    assert!(at >= before && at <= now());
    let iat = claims.get("iat").and_then(Value::as_i64).expect("iat");
    assert!(iat > at, "minted at collection, after the decision");
    assert_eq!(claims.exp() - iat, 120);
    assert_eq!(claims.get("dlg"), None, "unbound: no delegation");
    // Once: a second collection, and deciding again, are refused.
    let (status, again) = poll(&service, &approval_id, &[]);
    assert_eq!((status, again["error"].as_str()), (400, Some("invalid_grant")), "{again}");
    let (status, body) = decide(&service, &token, &id, "deny");
    assert_eq!((status, body["error"].as_str()), (409, Some("already_decided")));
    // Nothing pending any more.
    let (_, _, listed) = approvals_call(&service, "GET", "/approvals", Some(&token));
    assert_eq!(listed["approvals"], json!([]));
    // Every step is audited, without token text or the collection secret.
    eventually("request audit", || !service.audit_of("approval_request").is_empty());
    let requested = service.audit_of("approval_request");
    assert_eq!(
        (requested[0]["outcome"].as_str(), requested[0]["approval"].as_str()),
        (Some("pending"), Some(id.as_str()))
    );
    eventually("webhook audit", || !service.audit_of("approval_webhook").is_empty());
    assert_eq!(service.audit_of("approval_webhook")[0]["outcome"], "ok");
    // Audit lines are written by a thread of their own: wait for them.
    let seen = |event: &str, check: &dyn Fn(&Value) -> bool| {
        eventually(event, || service.audit_of(event).iter().any(check));
    };
    seen("approval_decide", &|l| l["outcome"] == "approved" && l["approver"] == "human:alice");
    seen("approval_decide", &|l| l["outcome"] == "refused" && l["error"] == "already_decided");
    seen("approval_collect", &|l| l["outcome"] == "collected" && l["jti"] == json!(claims.jti()));
    seen("approval_collect", &|l| l["outcome"] == "refused" && l["error"] == "invalid_grant");
    no_token_text(&service, &[&minted, &token, approval_id.split_once('.').expect("secret").1]);
}

#[test]
fn denied_is_access_denied_and_a_failing_webhook_blocks_nothing() {
    let (dir, oidc) = (TempDir::new(), Oidc::start());
    // A webhook that refuses connections: the flow goes on, the failure is audited.
    let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
    let hook = format!("http://{}/hook", closed.local_addr().expect("addr"));
    drop(closed);
    let service =
        Service::start(&dir, &approval_config(&oidc, &dir, "sqlite:authority.db", "30m", &hook));
    let (approval_id, _) = ask(&service, &[]);
    let (status, body) = decide(&service, &alice(&dir), public(&approval_id), "deny");
    assert_eq!(status, 200, "{body}");
    let (status, body) = poll(&service, &approval_id, &[]);
    assert_eq!((status, body["error"].as_str()), (400, Some("access_denied")), "{body}");
    eventually("the webhook failure", || !service.audit_of("approval_webhook").is_empty());
    let line = &service.audit_of("approval_webhook")[0];
    assert_eq!(line["outcome"], "failed");
    assert!(!line.to_string().contains("/hook"), "the URL is not in the audit line");
    // A receiver answering 500 is a failure too.
    drop(service);
    let receiver = Receiver::start(500);
    let service = Service::start(
        &dir,
        &approval_config(&oidc, &dir, "sqlite:authority.db", "30m", &receiver.url),
    );
    ask(&service, &[]);
    eventually("the webhook 500", || !service.audit_of("approval_webhook").is_empty());
    let line = &service.audit_of("approval_webhook")[0];
    assert_eq!(
        (line["outcome"].as_str(), line["reason"].as_str()),
        (Some("failed"), Some("the receiver answered 500"))
    );
}

#[test]
fn an_undecided_request_expires_and_is_audited_once() {
    let (dir, oidc) = (TempDir::new(), Oidc::start());
    let service =
        Service::start(&dir, &approval_config(&oidc, &dir, "sqlite:authority.db", "2s", ""));
    let (approval_id, pending) = ask(&service, &[]);
    assert_eq!(pending["expires_in"], 2);
    std::thread::sleep(Duration::from_millis(2200));
    let (status, body) = poll(&service, &approval_id, &[]);
    assert_eq!((status, body["error"].as_str()), (400, Some("expired_token")), "{body}");
    let (status, body) = decide(&service, &alice(&dir), public(&approval_id), "approve");
    assert_eq!((status, body["error"].as_str()), (409, Some("expired_token")), "{body}");
    eventually("the expiry audit line", || !service.audit_of("approval_expire").is_empty());
    std::thread::sleep(Duration::from_millis(1500));
    let expired = service.audit_of("approval_expire");
    assert_eq!(expired.len(), 1, "once");
    assert_eq!(expired[0]["approval"], json!(public(&approval_id)));
}

#[test]
fn only_listed_approvers_with_the_right_token_decide_and_never_their_own_request() {
    let (dir, oidc) = (TempDir::new(), Oidc::start());
    let service =
        Service::start(&dir, &approval_config(&oidc, &dir, "sqlite:authority.db", "30m", ""));
    let (approval_id, _) = ask(&service, &[]);
    let id = public(&approval_id);
    let path = format!("/approvals/{id}/approve");
    // No token, garbage, another audience: 401 with a Bearer challenge.
    let (status, challenge, body) = approvals_call(&service, "GET", "/approvals", None);
    assert_eq!((status, challenge.as_deref()), (401, Some("Bearer")), "{body}");
    let (status, challenge, body) = approvals_call(&service, "POST", &path, Some("a.b.c"));
    assert_eq!(status, 401);
    assert_eq!(challenge.as_deref(), Some("Bearer error=\"invalid_token\""));
    assert_eq!(body["error"], "invalid_token");
    let elsewhere = approver_token(
        &dir,
        "human:alice",
        "approvals:decide",
        &format!("approvals/{POLICY}"),
        "prod-db",
    );
    let (status, _, body) = approvals_call(&service, "POST", &path, Some(&elsewhere));
    assert_eq!(status, 401, "{body}");
    assert!(!body.to_string().contains(&elsewhere), "the description never echoes the token");
    // Genuine, but without approvals:decide on approvals/<policy>: 403 insufficient_scope.
    let wrong_scope = approver_token(
        &dir,
        "human:alice",
        "approvals:read",
        &format!("approvals/{POLICY}"),
        ISSUER,
    );
    let (status, challenge, body) = approvals_call(&service, "POST", &path, Some(&wrong_scope));
    assert_eq!((status, body["error"].as_str()), (403, Some("insufficient_scope")), "{body}");
    assert!(challenge.expect("challenge").contains("insufficient_scope"));
    let other_policy =
        approver_token(&dir, "human:alice", "approvals:decide", "approvals/other", ISSUER);
    let (status, body) = decide(&service, &other_policy, id, "approve");
    assert_eq!((status, body["error"].as_str()), (403, Some("insufficient_scope")));
    // The right token, but a `sub` the policy does not list.
    let mallory = approver_token(
        &dir,
        "human:mallory",
        "approvals:decide",
        &format!("approvals/{POLICY}"),
        ISSUER,
    );
    let (status, body) = decide(&service, &mallory, id, "approve");
    assert_eq!((status, body["error"].as_str()), (403, Some("insufficient_scope")));
    let (status, _, _) = approvals_call(&service, "GET", "/approvals", Some(&mallory));
    assert_eq!(status, 403);
    // Listed, but the token would be theirs: never their own request.
    let own = approver_token(
        &dir,
        "ci:acme/app#8812",
        "approvals:decide",
        &format!("approvals/{POLICY}"),
        ISSUER,
    );
    let (status, body) = decide(&service, &own, id, "approve");
    assert_eq!((status, body["error"].as_str()), (403, Some("insufficient_scope")), "{body}");
    assert!(body["error_description"].as_str().expect("d").contains("own request"));
    // Unknown ids, unknown decisions.
    let token = alice(&dir);
    let (status, body) = decide(&service, &token, "AAAAAAAAAAAAAAAAAAAAAA", "approve");
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
    let (status, _) = decide(&service, &token, id, "maybe");
    assert_eq!(status, 404);
    // A revoked approver token decides nothing.
    let revoked = alice(&dir);
    let response = client()
        .post(format!("{}/revocation/revoke", service.url))
        .bearer_auth(&revoked)
        .send()
        .expect("revoke");
    assert_eq!(response.status().as_u16(), 200);
    let (status, body) = decide(&service, &revoked, id, "approve");
    assert_eq!(status, 401, "{body}");
    // Still pending after all of that.
    let (status, body) = poll(&service, &approval_id, &[]);
    assert_eq!((status, body["error"].as_str()), (400, Some("authorization_pending")));
}

#[test]
fn the_public_id_or_a_wrong_secret_collects_nothing() {
    let (dir, oidc) = (TempDir::new(), Oidc::start());
    let service =
        Service::start(&dir, &approval_config(&oidc, &dir, "sqlite:authority.db", "30m", ""));
    let (approval_id, _) = ask(&service, &[]);
    let id = public(&approval_id).to_owned();
    assert_eq!(decide(&service, &alice(&dir), &id, "approve").0, 200);
    let (_, body) = poll(&service, &id, &[]);
    assert_eq!(body["error"], "invalid_grant", "{body}");
    let mut wrong = approval_id.clone();
    let last = wrong.pop().expect("char");
    wrong.push(if last == 'A' { 'B' } else { 'A' });
    let (_, body) = poll(&service, &wrong, &[]);
    assert_eq!(body["error"], "invalid_grant");
    let (_, body) = post(
        &service,
        &[
            ("grant_type", APPROVAL_GRANT.into()),
            ("approval_id", approval_id.clone()),
            ("scope", "x".into()),
        ],
        &[],
    );
    assert_eq!(body["error"], "invalid_request", "unknown parameters are refused");
    // The right one still works, once.
    assert_eq!(poll(&service, &approval_id, &[]).0, 200);
    assert_eq!(poll(&service, &approval_id, &[]).1["error"], "invalid_grant");
}

#[test]
fn a_request_survives_a_restart_and_is_approved_and_collected_after_it() {
    let (dir, oidc) = (TempDir::new(), Oidc::start());
    let text = approval_config(&oidc, &dir, "sqlite:authority.db", "30m", "");
    let service = Service::start(&dir, &text);
    let (approval_id, _) = ask(&service, &[]);
    assert!(service.terminate().success());
    let service = Service::start(&dir, &text);
    let (status, body) = poll(&service, &approval_id, &[]);
    assert_eq!(body["error"], "authorization_pending", "{status} {body}");
    assert_eq!(decide(&service, &alice(&dir), public(&approval_id), "approve").0, 200);
    drop(service);
    let service = Service::start(&dir, &text);
    let (status, body) = poll(&service, &approval_id, &[]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(poll(&service, &approval_id, &[]).1["error"], "invalid_grant");
}

#[test]
fn a_bound_request_is_collected_only_with_a_proof_by_its_key() {
    let (dir, oidc) = (TempDir::new(), Oidc::start());
    let service =
        Service::start(&dir, &approval_config(&oidc, &dir, "sqlite:authority.db", "30m", ""));
    let key = ProofSigningKey::generate("ES256").expect("key");
    let other = ProofSigningKey::generate("EdDSA").expect("key");
    let token_url = format!("{ISSUER}/token");
    let proof = |k: &ProofSigningKey| k.proof("POST", &token_url, None, None, now()).expect("p");
    let (approval_id, _) = ask(&service, &[("dpop", &proof(&key))]);
    let listed = approvals_call(&service, "GET", "/approvals", Some(&alice(&dir))).2;
    assert_eq!(listed["approvals"][0]["bound"], true);
    assert_eq!(decide(&service, &alice(&dir), public(&approval_id), "approve").0, 200);
    let (_, body) = poll(&service, &approval_id, &[]);
    assert_eq!(body["error"], "invalid_dpop_proof", "no proof: {body}");
    let (_, body) = poll(&service, &approval_id, &[("dpop", &proof(&other))]);
    assert_eq!(body["error"], "invalid_dpop_proof", "another key: {body}");
    let good = proof(&key);
    let (status, body) = poll(&service, &approval_id, &[("dpop", &good)]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    let token = body["access_token"].as_str().expect("token");
    let claims = tasktoken::UnverifiedToken::parse(token).expect("parse").claims().clone();
    assert_eq!(claims["cnf"]["jkt"], json!(key.thumbprint()));
    assert_eq!(claims["dlg"], json!(1), "bound: the delegation depth asked for");
    // The same proof again is a replay (every poll's proof is used once, pending or not);
    // a fresh one finds the token collected.
    let (_, body) = poll(&service, &approval_id, &[("dpop", &good)]);
    assert_eq!(body["error"], "invalid_dpop_proof", "{body}");
    let (_, body) = poll(&service, &approval_id, &[("dpop", &proof(&key))]);
    assert_eq!(body["error"], "invalid_grant", "{body}");
}

/// An approver presents their own token, never a delegation chain: a chain's `sub` is the
/// last link's, chosen by the delegator, and could name any listed approver.
#[test]
fn a_delegation_chain_cannot_act_as_an_approver() {
    let (dir, oidc) = (TempDir::new(), Oidc::start());
    let service =
        Service::start(&dir, &approval_config(&oidc, &dir, "sqlite:authority.db", "30m", ""));
    let bob = ProofSigningKey::generate("EdDSA").expect("key");
    let jkt = bob.thumbprint();
    let root = mint_with(
        &dir,
        &[
            "--key",
            "issuer.jwk",
            "--iss",
            ISSUER,
            "--sub",
            "human:bob",
            "--aud",
            ISSUER,
            "--task",
            "approve",
            "--scope",
            "approvals:decide",
            "--res",
            "approvals/*",
            "--ttl",
            "5m",
            "--cnf-jkt",
            &jkt,
            "--dlg",
            "1",
        ],
    );
    let link = tasktoken::LinkRequest::new("human:alice", "approve")
        .with_aud([ISSUER])
        .with_scope("approvals:decide")
        .with_res(vec![format!("approvals/{POLICY}")])
        .with_ttl(60);
    let chain = tasktoken::delegate(&root, &bob, &link, now()).expect("delegate");
    let (status, _, body) = approvals_call(&service, "GET", "/approvals", Some(&chain));
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_token", "{body}");
}

#[test]
fn the_command_line_decides_at_the_service_and_in_the_store() {
    let (dir, oidc) = (TempDir::new(), Oidc::start());
    let text = approval_config(&oidc, &dir, "sqlite:authority.db", "30m", "");
    let service = Service::start(&dir, &text);
    let (first, _) = ask(&service, &[]);
    let (second, _) = ask(&service, &[]);
    // At the service, the token from a file (never an argument).
    std::fs::write(dir.path("alice.token"), alice(&dir)).expect("token file");
    let out = run(
        &dir,
        &["approvals", "list", "--url", &service.url, "--token-file", "alice.token"],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let listed: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(listed["approvals"].as_array().expect("list").len(), 2);
    let out = run(
        &dir,
        &["approvals", "approve", public(&first), "--url", &service.url, "--token-file", "-"],
        Some(&alice(&dir)),
    );
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(poll(&service, &first, &[]).0, 200);
    let mallory = approver_token(
        &dir,
        "human:mallory",
        "approvals:decide",
        &format!("approvals/{POLICY}"),
        ISSUER,
    );
    std::fs::write(dir.path("mallory.token"), &mallory).expect("token file");
    let out = run(
        &dir,
        &[
            "approvals",
            "deny",
            public(&second),
            "--url",
            &service.url,
            "--token-file",
            "mallory.token",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let error: Value = serde_json::from_slice(&out.stderr).expect("error json");
    assert_eq!(error["error"], "insufficient_scope");
    assert!(!String::from_utf8_lossy(&out.stderr).contains(&mallory));
    // In the store, on the authority's machine, as a listed approver.
    let out =
        run(&dir, &["approvals", "list", "--config", "service.toml", "--as", "human:bob"], None);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let listed: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(listed["approvals"][0]["id"], json!(public(&second)));
    let out = run(
        &dir,
        &[
            "approvals",
            "deny",
            public(&second),
            "--config",
            "service.toml",
            "--as",
            "human:mallory",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1), "not listed");
    let out = run(
        &dir,
        &[
            "approvals",
            "deny",
            public(&second),
            "--config",
            "service.toml",
            "--db",
            "sqlite:authority.db",
            "--as",
            "human:bob",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let audit: Value = serde_json::from_str(String::from_utf8_lossy(&out.stderr).trim())
        .expect("audit line on stderr");
    assert_eq!(
        (audit["event"].as_str(), audit["outcome"].as_str()),
        (Some("approval_decide"), Some("denied"))
    );
    assert_eq!(poll(&service, &second, &[]).1["error"], "access_denied");
    let out = run(
        &dir,
        &["approvals", "approve", public(&second), "--config", "service.toml", "--as", "human:bob"],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let last = stderr.trim().lines().last().expect("the error line");
    assert_eq!(serde_json::from_str::<Value>(last).expect("json")["error"], "already_decided");
    // Usage: a token is never an argument; a way to reach the requests is required.
    let out = run(&dir, &["approvals", "list", "--url", &service.url], None);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&dir, &["approvals", "list"], None);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_bad_approval_config_is_refused_at_start_with_the_key_and_the_reason() {
    let (dir, oidc) = (TempDir::new(), Oidc::start());
    let out = run(&dir, &["keygen", "--kid", "svc-1", "--out", "issuer.jwk"], None);
    assert!(out.status.success());
    let good = approval_config(&oidc, &dir, "sqlite:authority.db", "30m", "");
    let cases = [
        (
            good.replace(
                "approvers = [\"human:alice\", \"human:bob\", \"ci:acme/app#8812\"]",
                "approvers = []",
            ),
            "policy[3].approval.approvers",
        ),
        (good.replace("expires = \"30m\"", "expires = \"25h\""), "policy[3].approval.expires"),
        (
            good.replace("\"30m\", interval = 1", "\"30m\", interval = 1, colour = 2"),
            "unknown field `colour`",
        ),
        (
            good.replace("\"30m\", interval = 1", "\"30m\", interval = 90"),
            "policy[3].approval.interval",
        ),
        (
            good.replace(
                "\"30m\", interval = 1",
                "\"30m\", interval = 1, webhook = \"http://example.com/hook\"",
            ),
            "policy[3].approval.webhook",
        ),
        (
            good.replace(
                "approvers = [\"human:alice\"",
                "approvers = [\"human:alice\", \"human:alice\"",
            ),
            "listed twice",
        ),
    ];
    for (text, says) in cases {
        std::fs::write(dir.path("bad.toml"), text).expect("write");
        let out = run(&dir, &["serve", "--config", "bad.toml", "--listen", "127.0.0.1:0"], None);
        assert_eq!(out.status.code(), Some(2), "{says}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "`{err}` should name `{says}`");
    }
}

/// Two instances on one PostgreSQL database: asked at one, approved at the other, collected
/// once though both are asked at the same moment.
#[test]
fn on_postgres_two_instances_share_requests_and_hand_a_token_out_once() {
    let Some(db) = postgres_database("tt_apv", "PostgreSQL approval test") else { return };
    let (dir, oidc) = (TempDir::new(), Oidc::start());
    let text = approval_config(&oidc, &dir, &db, "30m", "");
    let a = Service::start(&dir, &text);
    let b = Service::start(&dir, &text);
    for _ in 0..5 {
        let (approval_id, _) = ask(&a, &[]);
        assert_eq!(poll(&b, &approval_id, &[]).1["error"], "authorization_pending");
        assert_eq!(decide(&b, &alice(&dir), public(&approval_id), "approve").0, 200);
        let (x, y) = std::thread::scope(|scope| {
            let x = scope.spawn(|| poll(&a, &approval_id, &[]).0);
            let y = scope.spawn(|| poll(&b, &approval_id, &[]).0);
            (x.join().expect("a"), y.join().expect("b"))
        });
        let mut statuses = [x, y];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 400], "exactly one instance hands the token out");
    }
}

#[test]
fn an_id_that_begins_with_a_hyphen_is_an_id_not_an_option() {
    // One public id in 64 begins with `-` (base64url): the command line takes it as the ID.
    let dir = TempDir::new();
    for verb in ["approve", "deny"] {
        let out = run(
            &dir,
            &["approvals", verb, "-IabcdefghijklmnopqrstU", "--url", "http://127.0.0.1:9"],
            None,
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("unexpected argument"), "{verb}: {stderr}");
    }
}
