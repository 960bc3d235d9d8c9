//! `tasktoken serve` against real parts: the built binary, a local OIDC provider over HTTP on
//! 127.0.0.1, a SQLite store; every refusal of DESIGN.md's list (PostgreSQL: postgres.rs).

mod common;

use common::serve::*;
use common::{eventually, mint_with, now, run, TempDir};
use serde_json::{json, Value};
use tasktoken::{ProofSigningKey, Request, RevocationReplica, Verifier};

fn sqlite_service(dir: &TempDir, oidc: &Oidc, extra: &str) -> Service {
    Service::start(dir, &config(oidc, dir, "sqlite:authority.db", extra))
}

fn verifier(service: &Service, audience: &str) -> Verifier {
    Verifier::new(audience).expect("verifier").trust(ISSUER, &service_keys(service)).expect("trust")
}

#[test]
fn a_github_identity_is_exchanged_for_exactly_the_task_it_asked_for() {
    let (dir, oidc) = (TempDir::new(), Oidc::start());
    let service = sqlite_service(&dir, &oidc, "");
    let subject = sign_rs256(&github_claims());
    let (status, body) = service.exchange(&exchange_form(&subject, &DEPLOY), &[]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["issued_token_type"], "urn:ietf:params:oauth:token-type:jwt");
    assert_eq!(body["scope"], "artifacts:read");
    assert_eq!(body["expires_in"], 300, "default ttl: min(300, policy max_ttl)");
    let token = body["access_token"].as_str().expect("token");
    let claims = verifier(&service, "artifact-repo")
        .verify(token, &Request::new("artifacts:read", "repos/acme/app/manifest"))
        .expect("the minted token verifies");
    assert_eq!(claims.sub(), "ci:acme/app#8812");
    assert_eq!(claims.task(), "deploy-8812/stage:deploy");
    assert_eq!(claims.get("res"), Some(&json!(["repos/acme/app/*"])));
    assert_eq!(claims.get("iss"), Some(&json!(ISSUER)));
    // The action it did not ask for is not in it, though the policy grants it.
    let list = verifier(&service, "artifact-repo")
        .verify(token, &Request::new("artifacts:list", "repos/acme/app/x"));
    assert_eq!(list.expect_err("not requested").code(), "action_denied");
    let granted = service.audit_of("exchange");
    let line = &granted[0];
    assert_eq!(line["outcome"], "granted");
    assert_eq!(line["policy"], "deploy-read-artifacts");
    assert_eq!(line["identity"], "github");
    assert_eq!(line["external_iss"], GITHUB_ISS);
    assert_eq!(line["external_sub"], "repo:acme/app:ref:refs/heads/main");
    assert_eq!(line["jti"], json!(claims.jti()));
    let all = serde_json::to_string(&*service.audit.lock().expect("audit")).expect("json");
    assert!(!all.contains(token) && !all.contains(&subject), "no token text in audit lines");
}

#[test]
fn a_kubernetes_identity_with_nested_claims_and_keys_from_a_file() {
    let (dir, oidc) = (TempDir::new(), Oidc::start());
    let service = sqlite_service(&dir, &oidc, "");
    let subject = sign_es256(&k8s_claims(), "ec-1");
    let request = [
        ("audience", "cluster-api"),
        ("scope", "deployments:patch"),
        ("res", "namespaces/ci/deployments/web"),
        ("task", "rollout-42"),
        ("ttl", "120"),
    ];
    let (status, body) = service.exchange(&exchange_form(&subject, &request), &[]);
    assert_eq!(status, 200, "{body}");
    let claims = verifier(&service, "cluster-api")
        .verify(
            body["access_token"].as_str().expect("token"),
            &Request::new("deployments:patch", "namespaces/ci/deployments/web"),
        )
        .expect("verifies");
    assert_eq!(claims.sub(), "k8s:ci/deployer");
    assert_eq!(claims.exp() - claims.get("iat").and_then(Value::as_i64).expect("iat"), 120);
    // RS256 is not in this provider's algorithms.
    let rsa = sign_rs256(&k8s_claims());
    let (status, body) = service.exchange(&exchange_form(&rsa, &request), &[]);
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
    assert!(body["error_description"].as_str().expect("d").contains("`alg`"));
}

/// One request per refusal in DESIGN.md's list, each with the error it must get.
#[test]
fn every_refusal_has_its_error_and_names_its_rule() {
    let (dir, oidc) = (TempDir::new(), Oidc::start());
    let service = sqlite_service(&dir, &oidc, "");
    let good = || sign_rs256(&github_claims());
    let with = |f: &dyn Fn(&mut Value)| {
        let mut claims = github_claims();
        f(&mut claims);
        sign_rs256(&claims)
    };
    let deploy = |subject: &str, changes: &[(&'static str, &'static str)]| {
        let mut form = exchange_form("", &DEPLOY)
            .into_iter()
            .map(
                |(k, v)| {
                    if k == "subject_token" {
                        (k, subject.to_owned())
                    } else {
                        (k, v.to_owned())
                    }
                },
            )
            .collect::<Vec<(&'static str, String)>>();
        for (k, v) in changes {
            form.retain(|(name, _)| name != k);
            if !v.is_empty() {
                form.push((k, (*v).to_owned()));
            }
        }
        form
    };
    let ask = |form: Vec<(&str, String)>| {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        service.exchange(&form, &[])
    };
    let expect = |what: &str, (status, body): (u16, Value), error: &str, says: &str| {
        assert_eq!(status, 400, "{what}: {body}");
        assert_eq!(body["error"], error, "{what}: {body}");
        let description = body["error_description"].as_str().expect("description");
        assert!(description.contains(says), "{what}: `{description}` should say `{says}`");
    };
    let subject = good();
    expect(
        "grant type",
        ask(deploy(&subject, &[("grant_type", "client_credentials")])),
        "unsupported_grant_type",
        "token exchange",
    );
    expect(
        "no grant type",
        ask(deploy(&subject, &[("grant_type", "")])),
        "invalid_request",
        "`grant_type` is missing",
    );
    expect(
        "no audience",
        ask(deploy(&subject, &[("audience", "")])),
        "invalid_request",
        "`audience` is missing",
    );
    expect("no res", ask(deploy(&subject, &[("res", "")])), "invalid_request", "`res` is missing");
    let mut repeated = deploy(&subject, &[]);
    repeated.push(("audience", "artifact-repo".into()));
    expect("repeated", ask(repeated), "invalid_request", "`audience` is repeated");
    expect("ill-formed ttl", ask(deploy(&subject, &[("ttl", "-5")])), "invalid_request", "`ttl`");
    expect(
        "ttl above the policy",
        ask(deploy(&subject, &[("ttl", "601")])),
        "invalid_request",
        "ceiling of policy `deploy-read-artifacts`",
    );
    expect(
        "bad token type",
        ask(deploy(&subject, &[("subject_token_type", "urn:x")])),
        "invalid_request",
        "subject_token_type",
    );
    expect(
        "unknown parameter",
        ask(deploy(&subject, &[("colour", "red")])),
        "invalid_request",
        "unknown parameter `colour`",
    );
    expect(
        "actor token",
        ask(deploy(&subject, &[("actor_token", "x")])),
        "invalid_request",
        "actor tokens",
    );
    expect(
        "ill-formed res",
        ask(deploy(&subject, &[("res", "repos/../etc")])),
        "invalid_request",
        "`res`",
    );
    // Another content type, and a body over 64 KiB.
    let response = client()
        .post(format!("{}/token", service.url))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .expect("post");
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().expect("json");
    assert_eq!(body["error"], "invalid_request");
    let big =
        format!("{}&pad={}", form_body(&exchange_form(&subject, &DEPLOY)), "x".repeat(70 * 1024));
    let response = client()
        .post(format!("{}/token", service.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big)
        .send()
        .expect("post");
    let body: Value = response.json().expect("json");
    assert_eq!(body["error"], "invalid_request", "{body}");
    assert!(body["error_description"].as_str().expect("d").contains("64 KiB"));

    // invalid_grant: the subject token is not acceptable.
    let mut tampered = good();
    tampered.replace_range(tampered.len() - 6.., "AAAAAA");
    expect("signature", ask(deploy(&tampered, &[])), "invalid_grant", "signature");
    let hs256 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &github_claims(),
        &jsonwebtoken::EncodingKey::from_secret(b"k"),
    )
    .expect("hs");
    expect("HS256", ask(deploy(&hs256, &[])), "invalid_grant", "`alg`");
    // Texts no serializer writes, signed by the provider itself: a duplicate claim (read
    // "lexically last" by one parser, first by another) and a `crit` header.
    let claims = github_claims().to_string();
    let doubled = claims.replacen('{', r#"{"repository":"acme/evil","#, 1);
    let duplicate = sign_rs256_text(r#"{"alg":"RS256","kid":"rsa-1"}"#, &doubled);
    expect("duplicate claim", ask(deploy(&duplicate, &[])), "invalid_grant", "duplicate");
    let crit = sign_rs256_text(r#"{"alg":"RS256","kid":"rsa-1","crit":["exp"]}"#, &claims);
    expect("crit", ask(deploy(&crit, &[])), "invalid_grant", "changes its meaning");
    let none = format!("{}.{}.", b64(&json!({"alg":"none","kid":"rsa-1"})), b64(&github_claims()));
    expect("none", ask(deploy(&none, &[])), "invalid_grant", "");
    expect(
        "issuer",
        ask(deploy(&with(&|c| c["iss"] = json!("https://evil.example")), &[])),
        "invalid_grant",
        "not a configured identity provider",
    );
    expect(
        "audience of the identity",
        ask(deploy(&with(&|c| c["aud"] = json!("https://other.example")), &[])),
        "invalid_grant",
        "`aud`",
    );
    expect(
        "expired",
        ask(deploy(&with(&|c| c["exp"] = json!(now() - 120)), &[])),
        "invalid_grant",
        "expired",
    );
    expect(
        "not yet valid",
        ask(deploy(&with(&|c| c["nbf"] = json!(now() + 600)), &[])),
        "invalid_grant",
        "`nbf`",
    );
    expect(
        "no jti",
        ask(deploy(
            &with(&|c| {
                c.as_object_mut().expect("o").remove("jti");
            }),
            &[],
        )),
        "invalid_grant",
        "no `jti`",
    );
    expect(
        "no policy matches",
        ask(deploy(&with(&|c| c["repository"] = json!("other/app")), &[])),
        "invalid_grant",
        "no policy matches",
    );
    let task_token = run(
        &dir,
        &[
            "mint",
            "--key",
            "issuer.jwk",
            "--iss",
            GITHUB_ISS,
            "--sub",
            "x",
            "--aud",
            ISSUER,
            "--task",
            "t",
            "--scope",
            "a:b",
            "--res",
            "r/1",
            "--ttl",
            "60",
        ],
        None,
    );
    let task_token = String::from_utf8(task_token.stdout).expect("utf8").trim().to_owned();
    expect("a task token", ask(deploy(&task_token, &[])), "invalid_grant", "not an identity token");

    // invalid_scope and invalid_target: what no matching policy grants.
    expect("action", ask(deploy(&good(), &[("scope", "artifacts:write")])), "invalid_scope", "");
    expect(
        "audience",
        ask(deploy(&good(), &[("audience", "billing")])),
        "invalid_target",
        "audience",
    );
    expect(
        "res",
        ask(deploy(&good(), &[("res", "repos/acme/other/*")])),
        "invalid_target",
        "resource",
    );
    expect("wider res", ask(deploy(&good(), &[("res", "repos/*")])), "invalid_target", "resource");
    expect("task", ask(deploy(&good(), &[("task", "deploy-9999/x")])), "invalid_target", "task");
    // A claim that would escape its resource pattern is a refusal, not an escape.
    let escaping = with(&|c| c["repository"] = json!("acme/../../etc"));
    expect(
        "template escape",
        ask(deploy(&escaping, &[("res", "repos/acme/app/*")])),
        "invalid_grant",
        "not a safe string",
    );
    // Grants never add up: two policies' pieces do not make one grant.
    let release = with(&|c| c["workflow"] = json!("release"));
    expect(
        "require binding",
        ask(deploy(
            &release,
            &[
                ("audience", "signer"),
                ("scope", "sign:artifact"),
                ("res", "artifacts/1"),
                ("task", "release-1"),
            ],
        )),
        "invalid_request",
        "DPoP-bound",
    );

    for line in service.audit_of("exchange") {
        assert_eq!(line["outcome"], "refused");
        assert!(line["reason"].is_string() && line["error"].is_string());
    }
}

fn b64(value: &Value) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

#[test]
fn a_subject_token_is_exchanged_once_unless_its_identity_allows_reuse() {
    let (dir, oidc) = (TempDir::new(), Oidc::start());
    let service = sqlite_service(&dir, &oidc, "");
    let subject = sign_rs256(&github_claims());
    assert_eq!(service.exchange(&exchange_form(&subject, &DEPLOY), &[]).0, 200);
    let (status, body) = service.exchange(&exchange_form(&subject, &DEPLOY), &[]);
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
    assert!(body["error_description"].as_str().expect("d").contains("exchanged before"));
    // A refused request does not use the token up.
    let fresh = sign_rs256(&github_claims());
    assert_eq!(
        service
            .exchange(
                &exchange_form(
                    &fresh,
                    &[
                        ("scope", "nope:x"),
                        ("audience", "artifact-repo"),
                        ("res", "repos/acme/app/*"),
                        ("task", "deploy-8812/a")
                    ]
                ),
                &[]
            )
            .0,
        400
    );
    assert_eq!(service.exchange(&exchange_form(&fresh, &DEPLOY), &[]).0, 200);
    drop(service);
    // The record survives a restart (it is in the store).
    let service = sqlite_service(&dir, &oidc, "");
    assert_eq!(service.exchange(&exchange_form(&fresh, &DEPLOY), &[]).0, 400);
}

#[test]
fn a_dpop_proof_binds_the_minted_token_and_a_policy_can_require_it() {
    let (dir, oidc) = (TempDir::new(), Oidc::start());
    let service = sqlite_service(&dir, &oidc, "");
    let key = ProofSigningKey::generate("ES256").expect("key");
    let proof = key.proof("POST", &format!("{ISSUER}/token"), None, None, now()).expect("proof");
    let mut claims = github_claims();
    claims["workflow"] = json!("release");
    let subject = sign_rs256(&claims);
    let request = [
        ("audience", "signer"),
        ("scope", "sign:artifact"),
        ("res", "artifacts/9"),
        ("task", "release-9"),
    ];
    let (status, body) = service.exchange(&exchange_form(&subject, &request), &[("dpop", &proof)]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    let token = body["access_token"].as_str().expect("token");
    let parsed = tasktoken::UnverifiedToken::parse(token).expect("parse");
    assert_eq!(parsed.claims()["cnf"]["jkt"], json!(key.thumbprint()));
    // The same proof again, a proof for another URL, garbage: invalid_dpop_proof.
    let again = sign_rs256(&claims);
    let (status, body) = service.exchange(&exchange_form(&again, &request), &[("dpop", &proof)]);
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_dpop_proof")));
    let elsewhere =
        key.proof("POST", "https://evil.example/token", None, None, now()).expect("proof");
    let (_, body) = service.exchange(&exchange_form(&again, &request), &[("dpop", &elsewhere)]);
    assert_eq!(body["error"], "invalid_dpop_proof");
    let (_, body) = service.exchange(&exchange_form(&again, &request), &[("dpop", "x.y.z")]);
    assert_eq!(body["error"], "invalid_dpop_proof");
}

#[test]
fn tokens_revoke_themselves_and_the_published_data_carries_it() {
    let (dir, oidc) = (TempDir::new(), Oidc::start());
    let service = sqlite_service(&dir, &oidc, "");
    let (_, body) = service.exchange(&exchange_form(&sign_rs256(&github_claims()), &DEPLOY), &[]);
    let token = body["access_token"].as_str().expect("token").to_owned();
    let jti = tasktoken::UnverifiedToken::parse(&token).expect("p").claims()["jti"]
        .as_str()
        .expect("jti")
        .to_owned();
    let keys = service_keys(&service);
    let mut replica = RevocationReplica::new(ISSUER, keys.clone());
    let snapshot = service.get("/revocation/snapshot");
    assert_eq!(snapshot.status().as_u16(), 200);
    replica.offer(&snapshot.bytes().expect("bytes"), now()).expect("snapshot verifies");
    let first = replica.serial().expect("serial");
    assert_eq!(
        service.get(&format!("/revocation/delta/{first}")).status().as_u16(),
        404,
        "nothing new"
    );
    // completeTask: the token revokes itself.
    let response = client()
        .post(format!("{}/revocation/revoke", service.url))
        .bearer_auth(&token)
        .send()
        .expect("revoke");
    assert_eq!(response.status().as_u16(), 200);
    let answer: Value = response.json().expect("json");
    assert_eq!(
        (answer["revoked"].as_str(), answer["new"].as_bool()),
        (Some(jti.as_str()), Some(true))
    );
    // Within the publish interval, a delta from the replica's serial carries it.
    let started = std::time::Instant::now();
    loop {
        let serial = replica.serial().expect("serial");
        let delta = service.get(&format!("/revocation/delta/{serial}"));
        if delta.status().as_u16() == 200 {
            replica.offer(&delta.bytes().expect("bytes"), now()).expect("delta verifies");
            if replica.filter().expect("filter").contains(&jti) {
                break;
            }
        }
        assert!(started.elapsed().as_secs() < 5, "published within 5 s");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // The revoked token cannot revoke anything else, and a token without `tokens:revoke`
    // cannot revoke another.
    let (_, other) = service.exchange(&exchange_form(&sign_rs256(&github_claims()), &DEPLOY), &[]);
    let other = other["access_token"].as_str().expect("token");
    let response = client()
        .post(format!("{}/revocation/revoke", service.url))
        .bearer_auth(other)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(&[("token", &token)]))
        .send()
        .expect("revoke");
    assert_eq!(response.status().as_u16(), 401, "aud of the caller is not the service");
    let response =
        client().post(format!("{}/revocation/revoke", service.url)).send().expect("revoke");
    assert_eq!(response.status().as_u16(), 401);
    let lines = service.audit_of("revoke");
    assert!(lines.iter().any(|l| l["outcome"] == "ok" && l["jti"] == json!(jti)));
    assert!(!service.audit_of("publish").is_empty());
}

#[test]
fn an_old_generation_is_gone_and_replicas_read_the_snapshot() {
    let (dir, oidc) = (TempDir::new(), Oidc::start());
    let service = sqlite_service(&dir, &oidc, "rotate_after = 2");
    let first = RevocationReplica::new(ISSUER, service_keys(&service));
    let mut first = first;
    first.offer(&service.get("/revocation/snapshot").bytes().expect("b"), now()).expect("ok");
    let old = first.serial().expect("serial");
    let started = std::time::Instant::now();
    loop {
        let status = service.get(&format!("/revocation/delta/{old}")).status().as_u16();
        if status == 410 {
            break;
        }
        assert!(status == 404 || status == 200, "{status}");
        assert!(started.elapsed().as_secs() < 8, "a new generation within rotate_after");
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

#[test]
fn an_unknown_kid_fetches_the_keys_again_but_a_flood_does_not() {
    let (dir, oidc) = (TempDir::new(), Oidc::start());
    let service = sqlite_service(&dir, &oidc, "");
    assert_eq!(
        service.exchange(&exchange_form(&sign_rs256(&github_claims()), &DEPLOY), &[]).0,
        200
    );
    let before = oidc.fetches.load(std::sync::atomic::Ordering::SeqCst);
    for i in 0..40 {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(format!("made-up-{i}"));
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(
            std::fs::read(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/fixtures/oidc-rsa.pem"),
            )
            .expect("pem")
            .as_slice(),
        )
        .expect("key");
        let forged = jsonwebtoken::encode(&header, &github_claims(), &key).expect("sign");
        let (_, body) = service.exchange(&exchange_form(&forged, &DEPLOY), &[]);
        assert_eq!(body["error"], "invalid_grant");
    }
    let after = oidc.fetches.load(std::sync::atomic::Ordering::SeqCst);
    assert!(after - before <= 1, "40 unknown kids caused {} fetches", after - before);
    // The provider rotates: a token signed by its new key is accepted once the floor passed.
    oidc.rotate();
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let mut claims = github_claims();
    claims["iss"] = json!(GITHUB_ISS);
    let rotated = sign_es256(&claims, "ec-2");
    let (status, body) = service.exchange(&exchange_form(&rotated, &DEPLOY), &[]);
    assert_eq!(status, 200, "{body}");
}

#[test]
fn a_bad_config_is_refused_at_start_with_the_key_and_the_reason() {
    let (dir, oidc) = (TempDir::new(), Oidc::start());
    let out = run(&dir, &["keygen", "--kid", "svc-1", "--out", "issuer.jwk"], None);
    assert!(out.status.success());
    let good = config(&oidc, &dir, "sqlite:authority.db", "");
    let cases = [
        (
            good.replace("max_ttl = \"15m\"", "max_ttl = \"15m\"\ncolour = 1"),
            "unknown field `colour`",
        ),
        (good.replace("store = \"sqlite:authority.db\"", "store = \"mysql://x\""), "store"),
        (
            good.replace("algorithms = [\"ES256\"]", "algorithms = [\"HS256\"]"),
            "identity[1].algorithms",
        ),
        (
            good.replace("res = [\"repos/{repository}/*\"]", "res = [\"repos/*/x\"]"),
            "policy[0].res",
        ),
        (
            good.replace("identity = \"k8s\"\nclaims", "identity = \"gitlab\"\nclaims"),
            "policy[2].identity",
        ),
        (good.replace("max_ttl = \"10m\"", "max_ttl = \"1h\""), "policy[0].max_ttl"),
        (good.replace("key = \"issuer.jwk\"", "key = \"missing.jwk\""), "key"),
        (good.replace(&oidc.jwks_url, "http://example.com/jwks"), "identity[0].jwks"),
        (
            good.replace(&oidc.jwks_url, "http://evil.example\\\\@127.0.0.1/jwks"),
            "identity[0].jwks",
        ),
        (good.replace("claims = { workflow = \"release\" }\n", ""), "policy[1].claims"),
    ];
    for (text, says) in cases {
        std::fs::write(dir.path("bad.toml"), text).expect("write");
        let out = run(&dir, &["serve", "--config", "bad.toml", "--listen", "127.0.0.1:0"], None);
        assert_eq!(out.status.code(), Some(2), "{says}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "`{err}` should name `{says}`");
        assert!(out.stdout.is_empty(), "nothing listens");
    }
}

#[test]
fn sigterm_finishes_and_exits_zero() {
    let (dir, oidc) = (TempDir::new(), Oidc::start());
    let service = sqlite_service(&dir, &oidc, "");
    assert_eq!(service.get("/healthz").status().as_u16(), 200);
    assert_eq!(service.get("/nope").status().as_u16(), 404);
    let status = service.terminate();
    assert!(status.success(), "{status:?}");
}

/// Delegation depth (`dlg`): granted up to the policy's, only with a DPoP binding (only the
/// bound key can sign a link); the minted token carries it and its holder delegates offline.
#[test]
fn a_bound_token_with_dlg_can_be_delegated_and_an_unbound_one_is_refused() {
    let (dir, oidc) = (TempDir::new(), Oidc::start());
    let service = sqlite_service(&dir, &oidc, "");
    let with = |dlg: &'static str| {
        let mut request = DEPLOY.to_vec();
        request.push(("dlg", dlg));
        request
    };
    let (status, body) =
        service.exchange(&exchange_form(&sign_rs256(&github_claims()), &with("1")), &[]);
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "{body}");
    assert!(body["error_description"].as_str().expect("why").contains("DPoP"));
    let key = ProofSigningKey::generate("EdDSA").expect("key");
    let proof = |at| key.proof("POST", &format!("{ISSUER}/token"), None, None, at).expect("proof");
    let subject = sign_rs256(&github_claims());
    let (status, body) =
        service.exchange(&exchange_form(&subject, &with("3")), &[("dpop", &proof(now()))]);
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request")),
        "over the policy's 2"
    );
    let subject = sign_rs256(&github_claims());
    let (status, body) =
        service.exchange(&exchange_form(&subject, &with("2")), &[("dpop", &proof(now()))]);
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().expect("token");
    assert_eq!(tasktoken::UnverifiedToken::parse(token).expect("parse").claims()["dlg"], json!(2));
    let link = tasktoken::LinkRequest::new("agent:sub", "deploy-8812/stage:deploy/manifest")
        .with_aud(["artifact-repo"])
        .with_scope("artifacts:read")
        .with_res(["repos/acme/app/manifest"])
        .with_ttl(60);
    let chain = tasktoken::delegate(token, &key, &link, now()).expect("delegate");
    let claims = verifier(&service, "artifact-repo")
        .verify(&chain, &Request::new("artifacts:read", "repos/acme/app/manifest"))
        .expect("the chain verifies");
    assert_eq!(claims.sub(), "agent:sub");
}

/// `POST /revocation/revoke` with `Authorization: DPoP` and one proof for the endpoint's
/// public URL (DESIGN.md, "Proof of possession"): a bound token copied out of a log cannot
/// end its holder's task (Bearer: 401 `binding_required` with a DPoP challenge), nor with
/// another key's proof; its holder can, once per proof. The caller of a revocation of
/// another token proves its key too. Unbound tokens revoke themselves as Bearer, as before.
#[test]
fn a_bound_token_revokes_itself_only_with_a_proof_by_its_key() {
    let (dir, oidc) = (TempDir::new(), Oidc::start());
    let service = sqlite_service(&dir, &oidc, "");
    let url = format!("{}/revocation/revoke", service.url);
    let htu = format!("{ISSUER}/revocation/revoke");
    let key = ProofSigningKey::generate("EdDSA").expect("key");
    let thief = ProofSigningKey::generate("ES256").expect("key");
    let exchange = key.proof("POST", &format!("{ISSUER}/token"), None, None, now()).expect("p");
    let subject = sign_rs256(&github_claims());
    let (status, body) =
        service.exchange(&exchange_form(&subject, &DEPLOY), &[("dpop", &exchange)]);
    assert_eq!((status, body["token_type"].as_str()), (200, Some("DPoP")), "{body}");
    let token = body["access_token"].as_str().expect("token").to_owned();
    let revoke = |scheme: &str, token: &str, proofs: &[&str], form: Option<&str>| {
        let mut request = client().post(&url).header("authorization", format!("{scheme} {token}"));
        for proof in proofs {
            request = request.header("dpop", *proof);
        }
        if let Some(target) = form {
            request = request
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form_body(&[("token", target)]));
        }
        let response = request.send().expect("revoke");
        let status = response.status().as_u16();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().expect("ascii").to_owned())
            .unwrap_or_default();
        let body: Value = response.json().expect("json");
        assert!(!body.to_string().contains(token), "no token text in an answer");
        (status, body["error"].as_str().unwrap_or("ok").to_owned(), challenge)
    };
    let proof = |key: &ProofSigningKey, url: &str, token: &str| {
        key.proof("POST", url, Some(token), None, now()).expect("proof")
    };
    // As Bearer, what a copy out of a log would send: refused, with the DPoP challenge.
    let (status, code, challenge) = revoke("Bearer", &token, &[], None);
    assert_eq!((status, code.as_str()), (401, "binding_required"));
    assert!(challenge.starts_with("DPoP ") && challenge.contains("error=\"invalid_token\""));
    // Another key's proof, a proof for another URL, none or two with DPoP.
    let (status, code, _) = revoke("DPoP", &token, &[&proof(&thief, &htu, &token)], None);
    assert_eq!((status, code.as_str()), (401, "binding_mismatch"));
    let elsewhere = proof(&key, "https://evil.example/revocation/revoke", &token);
    let (status, code, challenge) = revoke("DPoP", &token, &[&elsewhere], None);
    assert_eq!((status, code.as_str()), (401, "invalid_proof"));
    assert!(challenge.contains("error=\"invalid_dpop_proof\""), "{challenge}");
    assert_eq!(revoke("DPoP", &token, &[], None).1, "invalid_proof");
    let good = proof(&key, &htu, &token);
    assert_eq!(revoke("DPoP", &token, &[&good, &good], None).1, "invalid_proof");
    assert_eq!(revoke("Bearer", &token, &[&good], None).1, "invalid_proof", "a proof is for DPoP");
    // The holder's proof: revoked, once per proof.
    assert_eq!(revoke("DPoP", &token, &[&good], None).1, "ok");
    assert_eq!(revoke("DPoP", &token, &[&good], None).1, "proof_replayed");
    eventually("the revocations' audit lines", || {
        let lines = service.audit_of("revoke");
        let line = |outcome: &str, dpop: bool| {
            lines.iter().any(|l| l["outcome"] == outcome && l["dpop"] == json!(dpop))
        };
        line("ok", true) && line("binding_required", false) && line("proof_replayed", true)
    });
    // A bound caller of a revocation of another token: its own proof, not the target's.
    let (_, other) = service.exchange(&exchange_form(&sign_rs256(&github_claims()), &DEPLOY), &[]);
    let other = other["access_token"].as_str().expect("token").to_owned();
    let admin = mint_with(
        &dir,
        &[
            "--key",
            "issuer.jwk",
            "--iss",
            ISSUER,
            "--sub",
            "human:ops",
            "--aud",
            ISSUER,
            "--task",
            "cleanup",
            "--scope",
            "tokens:revoke",
            "--res",
            "tokens/*",
            "--ttl",
            "300",
            "--cnf-jkt",
            &key.thumbprint(),
        ],
    );
    let (status, code, _) = revoke("Bearer", &admin, &[], Some(&other));
    assert_eq!((status, code.as_str()), (401, "binding_required"));
    let (status, code, _) = revoke("DPoP", &admin, &[&proof(&key, &htu, &admin)], Some(&other));
    assert_eq!((status, code.as_str()), (200, "ok"));
    // An unbound token still revokes itself as Bearer; as DPoP it is refused (RFC 9449 §7.1).
    let (_, body) = service.exchange(&exchange_form(&sign_rs256(&github_claims()), &DEPLOY), &[]);
    let bearer = body["access_token"].as_str().expect("token").to_owned();
    let (status, code, _) = revoke("DPoP", &bearer, &[&proof(&key, &htu, &bearer)], None);
    assert_eq!((status, code.as_str()), (401, "binding_mismatch"));
    assert_eq!(revoke("Bearer", &bearer, &[], None).1, "ok");
    // No token at all: both schemes offered, no error code (RFC 6750 §3.1).
    let response = client().post(&url).send().expect("revoke");
    assert_eq!(response.status().as_u16(), 401);
    let challenge = response.headers()["www-authenticate"].to_str().expect("ascii").to_owned();
    assert!(challenge.starts_with("Bearer, DPoP ") && !challenge.contains("error="), "{challenge}");
}
