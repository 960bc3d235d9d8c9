//! End-to-end tests of the `tasktoken` binary: each runs the built executable in its own
//! temporary directory and checks exit status, stdout and stderr.

mod common;

use common::{error_code, error_code_or_ok, keygen, mint_with, now, run, stderr, stdout, TempDir};
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::process::Output;

use serde_json::Value;

/// Mints with key `kid` for issuer `iss`: scope `customers:read`, res `customers/*`.
fn mint(dir: &TempDir, kid: &str, iss: &str) -> String {
    let key = format!("{kid}.jwk");
    let token = mint_with(
        dir,
        &[
            "--key",
            &key,
            "--iss",
            iss,
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
            "--claim",
            "ticket=OPS-12",
            "--claim",
            "n=3",
        ],
    );
    assert_eq!(token.split('.').count(), 3);
    token
}

/// `verify` arguments for one issuer `iss` trusting `<kid>.jwks`, then `extra`.
fn verify(dir: &TempDir, kid: &str, iss: &str, extra: &[&str], stdin: Option<&str>) -> Output {
    let jwks = format!("{kid}.jwks");
    let mut args = vec![
        "verify",
        "--jwks",
        &jwks,
        "--iss",
        iss,
        "--aud",
        "crm-api",
        "--action",
        "customers:read",
        "--resource",
        "customers/4821",
    ];
    args.extend_from_slice(extra);
    run(dir, &args, stdin)
}

#[test]
fn keygen_writes_a_private_0600_file_and_prints_only_public_keys() {
    let dir = TempDir::new();
    let jwks = keygen(&dir, "k1");
    let mode = fs::metadata(dir.path("k1.jwk")).expect("key file").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    let keys = jwks["keys"].as_array().expect("keys array");
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kid"], "k1");
    assert!(keys[0].get("d").is_none());
    assert!(!fs::read_to_string(dir.path("k1.jwks")).expect("JWKS").contains("\"d\""));
    let private: Value =
        serde_json::from_str(&fs::read_to_string(dir.path("k1.jwk")).expect("JWK")).expect("JWK");
    assert!(private["d"].is_string(), "the file holds the private key");
    assert_eq!(private["x"], keys[0]["x"]);
}

#[test]
fn keygen_refuses_to_overwrite_without_force() {
    let dir = TempDir::new();
    keygen(&dir, "k1");
    let before = fs::read(dir.path("k1.jwk")).expect("key file");

    let again = run(&dir, &["keygen", "--kid", "k1", "--out", "k1.jwk"], None);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("--force"), "{}", stderr(&again));
    assert!(again.stdout.is_empty());
    assert_eq!(fs::read(dir.path("k1.jwk")).expect("key file"), before, "untouched");

    fs::set_permissions(dir.path("k1.jwk"), fs::Permissions::from_mode(0o644)).expect("chmod");
    let forced = run(&dir, &["keygen", "--kid", "k1", "--out", "k1.jwk", "--force"], None);
    assert_eq!(forced.status.code(), Some(0), "stderr: {}", stderr(&forced));
    assert_ne!(fs::read(dir.path("k1.jwk")).expect("key file"), before, "replaced");
    let mode = fs::metadata(dir.path("k1.jwk")).expect("key file").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let names: Vec<_> = fs::read_dir(&dir.0).expect("dir").collect();
    assert_eq!(names.len(), 2, "no temporary file left behind");
}

#[test]
fn keygen_rejects_a_bad_kid_with_error_json() {
    let dir = TempDir::new();
    let out = run(&dir, &["keygen", "--kid", "", "--out", "k.jwk"], None);
    assert_eq!(error_code(&out), "malformed");
    assert!(!dir.path("k.jwk").exists());
}

#[test]
fn mint_then_verify_round_trip() {
    let dir = TempDir::new();
    keygen(&dir, "k1");
    let token = mint(&dir, "k1", "https://auth.example");
    let out = verify(&dir, "k1", "https://auth.example", &[&token], None);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert!(out.stderr.is_empty());
    let claims: Value = serde_json::from_str(&stdout(&out)).expect("claims JSON");
    assert_eq!(claims["iss"], "https://auth.example");
    assert_eq!(claims["sub"], "agent:lookup-bot");
    assert_eq!(claims["task"], "lookup-4821");
    assert_eq!(claims["ticket"], "OPS-12");
    assert_eq!(claims["n"], 3);
    let lifetime = claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat");
    assert_eq!(lifetime, 300);
}

#[test]
fn verify_with_a_wrong_action_is_action_denied() {
    let dir = TempDir::new();
    keygen(&dir, "k1");
    let token = mint(&dir, "k1", "iss");
    let out = run(
        &dir,
        &[
            "verify",
            "--jwks",
            "k1.jwks",
            "--iss",
            "iss",
            "--aud",
            "crm-api",
            "--action",
            "customers:write",
            "--resource",
            "customers/4821",
            &token,
        ],
        None,
    );
    assert_eq!(error_code(&out), "action_denied");
    assert!(out.stdout.is_empty());
    assert!(!stderr(&out).contains(&token));
}

#[test]
fn token_from_stdin() {
    let dir = TempDir::new();
    keygen(&dir, "k1");
    let token = mint(&dir, "k1", "iss");
    let out = verify(&dir, "k1", "iss", &["-"], Some(&format!("  {token}\r\n\n")));
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let claims: Value = serde_json::from_str(&stdout(&out)).expect("claims JSON");
    assert_eq!(claims["task"], "lookup-4821");

    let inspect = run(&dir, &["inspect", "-"], Some(&format!("{token}\n")));
    assert_eq!(inspect.status.code(), Some(0));
}

#[test]
fn empty_or_oversized_stdin_is_malformed() {
    let dir = TempDir::new();
    keygen(&dir, "k1");
    assert_eq!(error_code(&verify(&dir, "k1", "iss", &["-"], None)), "malformed");
    assert_eq!(error_code(&verify(&dir, "k1", "iss", &["-"], Some(" \n"))), "malformed");
    let huge = "a".repeat(100 * 1024);
    assert_eq!(error_code(&verify(&dir, "k1", "iss", &["-"], Some(&huge))), "malformed");
    assert_eq!(error_code(&run(&dir, &["inspect", "-"], Some(""))), "malformed");
}

#[test]
fn a_tampered_token_is_rejected() {
    let dir = TempDir::new();
    keygen(&dir, "k1");
    let token = mint(&dir, "k1", "iss");
    let parts: Vec<&str> = token.split('.').collect();
    let mut payload: Vec<char> = parts[1].chars().collect();
    let middle = payload.len() / 2;
    payload[middle] = if payload[middle] == 'A' { 'B' } else { 'A' };
    let payload: String = payload.into_iter().collect();
    let tampered = format!("{}.{payload}.{}", parts[0], parts[2]);
    assert_ne!(tampered, token);

    let code = error_code(&verify(&dir, "k1", "iss", &[&tampered], None));
    assert!(code == "bad_signature" || code == "malformed", "{code}");
}

#[test]
fn an_expired_token_is_expired() {
    let dir = TempDir::new();
    keygen(&dir, "k1");
    let token = mint(&dir, "k1", "iss");
    let later = (now() + 86_400).to_string();
    let out = verify(&dir, "k1", "iss", &["--now", &later, &token], None);
    assert_eq!(error_code(&out), "expired");
    // Within the clock skew after `exp` (5 minutes from now) it still verifies.
    let just_after = (now() + 300 + 10).to_string();
    let out = verify(&dir, "k1", "iss", &["--now", &just_after, &token], None);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let out = verify(&dir, "k1", "iss", &["--now", &just_after, "--clock-skew", "0", &token], None);
    assert_eq!(error_code(&out), "expired");
}

#[test]
fn verify_max_lifetime_is_applied() {
    let dir = TempDir::new();
    keygen(&dir, "k1");
    let token = mint(&dir, "k1", "iss");
    let out = verify(&dir, "k1", "iss", &["--max-lifetime", "4m59s", &token], None);
    assert_eq!(error_code(&out), "lifetime_too_long");
}

#[test]
fn mint_refuses_a_ttl_over_the_maximum_and_broad_scope() {
    let dir = TempDir::new();
    keygen(&dir, "k1");
    let base = [
        "mint", "--key", "k1.jwk", "--iss", "iss", "--sub", "s", "--aud", "a", "--task", "t",
        "--scope", "x:read",
    ];
    let with = |extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        run(&dir, &args, None)
    };
    let long = with(&["--res", "r/1", "--ttl", "1h"]);
    assert_eq!(error_code(&long), "lifetime_too_long");
    let allowed = with(&["--res", "r/1", "--ttl", "1h", "--max-ttl", "2h"]);
    assert_eq!(allowed.status.code(), Some(0), "stderr: {}", stderr(&allowed));
    assert_eq!(error_code(&with(&["--res", "*", "--ttl", "1m"])), "invalid_claim");
    let broad = with(&["--res", "*", "--ttl", "1m", "--allow-broad-scope"]);
    assert_eq!(broad.status.code(), Some(0), "stderr: {}", stderr(&broad));
}

#[test]
fn inspect_decodes_without_verifying() {
    let dir = TempDir::new();
    keygen(&dir, "k1");
    let token = mint(&dir, "k1", "iss");
    let out = run(&dir, &["inspect", &token], None);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.contains("\"verified\": false"), "{text}");
    let value: Value = serde_json::from_str(&text).expect("inspect JSON");
    assert_eq!(value["verified"], false);
    assert!(value["warning"].as_str().expect("warning").starts_with("NOT VERIFIED"));
    assert_eq!(value["header"]["kid"], "k1");
    assert_eq!(value["claims"]["task"], "lookup-4821");
    assert!(stderr(&out).contains("NOT verified"), "{}", stderr(&out));

    assert_eq!(error_code(&run(&dir, &["inspect", "not.a.token"], None)), "malformed");
}

#[test]
fn a_bad_duration_is_a_usage_error() {
    let dir = TempDir::new();
    keygen(&dir, "k1");
    for bad in ["5x", "", "-5m", "1h30", "99999999999"] {
        let out = run(
            &dir,
            &[
                "mint", "--key", "k1.jwk", "--iss", "i", "--sub", "s", "--aud", "a", "--task", "t",
                "--scope", "x:read", "--res", "r/1", "--ttl", bad,
            ],
            None,
        );
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", stderr(&out));
        assert!(stderr(&out).contains("1h30m"), "names the accepted forms");
    }
    let out = verify(&dir, "k1", "iss", &["--clock-skew", "30 s", "x.y.z"], None);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_missing_file_is_a_plain_error_with_exit_2() {
    let dir = TempDir::new();
    let out = run(
        &dir,
        &[
            "mint",
            "--key",
            "missing.jwk",
            "--iss",
            "i",
            "--sub",
            "s",
            "--aud",
            "a",
            "--task",
            "t",
            "--scope",
            "x:read",
            "--res",
            "r/1",
            "--ttl",
            "1m",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let text = stderr(&out);
    assert!(text.starts_with("tasktoken: cannot read --key file 'missing.jwk': "), "{text}");
    assert!(out.stdout.is_empty());

    let out = verify(&dir, "missing", "iss", &["x.y.z"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).starts_with("tasktoken: cannot read --jwks file"));
}

#[test]
fn a_bad_key_file_is_error_json_naming_the_file() {
    let dir = TempDir::new();
    keygen(&dir, "k1");
    // A private key where a public key set belongs, and a public key set where a key belongs.
    // The JWKS file is mode 0644, yet stderr stays one JSON line: the warning is for success.
    let out = run(
        &dir,
        &[
            "verify",
            "--jwks",
            "k1.jwk",
            "--iss",
            "i",
            "--aud",
            "a",
            "--action",
            "x",
            "--resource",
            "r",
            "x.y.z",
        ],
        None,
    );
    assert_eq!(error_code(&out), "malformed");
    assert!(stderr(&out).contains("--jwks '"));
    let out = run(
        &dir,
        &[
            "mint", "--key", "k1.jwks", "--iss", "i", "--sub", "s", "--aud", "a", "--task", "t",
            "--scope", "x:read", "--res", "r/1", "--ttl", "1m",
        ],
        None,
    );
    assert_eq!(error_code(&out), "malformed");
    assert!(stderr(&out).contains("--key '"));
    let private = fs::read_to_string(dir.path("k1.jwk")).expect("key");
    let d: Value = serde_json::from_str(&private).expect("JWK");
    let d = d["d"].as_str().expect("d");
    assert!(!stderr(&out).contains(d), "no key material in errors");
}

#[test]
fn a_readable_key_file_warns() {
    let dir = TempDir::new();
    keygen(&dir, "k1");
    fs::set_permissions(dir.path("k1.jwk"), fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = run(
        &dir,
        &[
            "mint", "--key", "k1.jwk", "--iss", "i", "--sub", "s", "--aud", "a", "--task", "t",
            "--scope", "x:read", "--res", "r/1", "--ttl", "1m",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("chmod 600"), "{}", stderr(&out));
}

#[test]
fn help_works_for_every_subcommand() {
    let dir = TempDir::new();
    let top = run(&dir, &["--help"], None);
    assert_eq!(top.status.code(), Some(0));
    assert!(stdout(&top).contains("Exit status"));
    for sub in ["keygen", "mint", "proof", "delegate", "verify", "inspect"] {
        let out = run(&dir, &[sub, "--help"], None);
        assert_eq!(out.status.code(), Some(0), "{sub}");
        let text = stdout(&out);
        assert!(text.contains(&format!("Usage: tasktoken {sub}")), "{text}");
        assert!(text.contains("Exit status"), "{sub}");
    }
    assert_eq!(run(&dir, &[], None).status.code(), Some(2));
    assert_eq!(run(&dir, &["verify", "--bogus"], None).status.code(), Some(2));
}

#[test]
fn rotation_one_jwks_with_two_keys_verifies_both() {
    let dir = TempDir::new();
    let old = keygen(&dir, "old");
    let new = keygen(&dir, "new");
    let mut keys = old["keys"].as_array().expect("keys").clone();
    keys.extend(new["keys"].as_array().expect("keys").iter().cloned());
    let both = serde_json::json!({ "keys": keys }).to_string();
    fs::write(dir.path("both.jwks"), both).expect("write JWKS");

    for kid in ["old", "new"] {
        let token = mint(&dir, kid, "iss");
        let out = verify(&dir, "both", "iss", &[&token], None);
        assert_eq!(out.status.code(), Some(0), "{kid}: {}", stderr(&out));
        // The other single-key set does not know this key.
        let other = if kid == "old" { "new" } else { "old" };
        assert_eq!(error_code(&verify(&dir, other, "iss", &[&token], None)), "unknown_key");
    }
}

#[test]
fn two_issuers_pair_with_their_key_sets() {
    let dir = TempDir::new();
    keygen(&dir, "ka");
    keygen(&dir, "kb");
    let two = |token: &str| {
        run(
            &dir,
            &[
                "verify",
                "--iss",
                "A",
                "--jwks",
                "ka.jwks",
                "--iss",
                "B",
                "--jwks",
                "kb.jwks",
                "--aud",
                "crm-api",
                "--action",
                "customers:read",
                "--resource",
                "customers/4821",
                token,
            ],
            None,
        )
    };
    for (kid, iss) in [("ka", "A"), ("kb", "B")] {
        let out = two(&mint(&dir, kid, iss));
        assert_eq!(out.status.code(), Some(0), "{iss}: {}", stderr(&out));
        let claims: Value = serde_json::from_str(&stdout(&out)).expect("claims");
        assert_eq!(claims["iss"], iss);
    }
    // B's key signing a token that claims to come from A.
    assert_eq!(error_code(&two(&mint(&dir, "kb", "A"))), "untrusted_issuer");

    let out = run(
        &dir,
        &[
            "verify",
            "--iss",
            "A",
            "--jwks",
            "ka.jwks",
            "--jwks",
            "kb.jwks",
            "--aud",
            "a",
            "--action",
            "x",
            "--resource",
            "r",
            "x.y.z",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("pair up"), "{}", stderr(&out));
}

#[test]
fn key_binding_is_checked() {
    let dir = TempDir::new();
    keygen(&dir, "k1");
    let jkt = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";
    let out = run(
        &dir,
        &[
            "mint",
            "--key",
            "k1.jwk",
            "--iss",
            "iss",
            "--sub",
            "s",
            "--aud",
            "crm-api",
            "--task",
            "t",
            "--scope",
            "customers:read",
            "--res",
            "customers/*",
            "--ttl",
            "1m",
            "--cnf-jkt",
            jkt,
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let token = stdout(&out).trim_end().to_owned();
    assert_eq!(error_code(&verify(&dir, "k1", "iss", &[&token], None)), "binding_required");
    let wrong = verify(&dir, "k1", "iss", &["--key-thumbprint", "other", &token], None);
    assert_eq!(error_code(&wrong), "binding_mismatch");
    let right = verify(&dir, "k1", "iss", &["--key-thumbprint", jkt, &token], None);
    assert_eq!(right.status.code(), Some(0), "stderr: {}", stderr(&right));

    let unbound = mint(&dir, "k1", "iss");
    let required = verify(&dir, "k1", "iss", &["--require-binding", &unbound], None);
    assert_eq!(error_code(&required), "binding_required");
}

#[test]
fn an_extra_claim_may_not_reuse_a_v1_name() {
    let dir = TempDir::new();
    keygen(&dir, "k1");
    let out = run(
        &dir,
        &[
            "mint", "--key", "k1.jwk", "--iss", "i", "--sub", "s", "--aud", "a", "--task", "t",
            "--scope", "x:read", "--res", "r/1", "--ttl", "1m", "--claim", "exp=1",
        ],
        None,
    );
    assert_eq!(error_code(&out), "invalid_claim");
}

/// Proof of possession on the command line: a proof key, a token bound to it, a proof for
/// one request, and `verify --proof`.
#[test]
fn proof_keys_proofs_and_verify_with_a_proof() {
    let dir = TempDir::new();
    keygen(&dir, "k1");
    for alg in ["EdDSA", "ES256"] {
        let file = format!("proof-{alg}.jwk");
        let made = run(&dir, &["proof", "--generate", "--alg", alg, "--out", &file], None);
        assert_eq!(made.status.code(), Some(0), "stderr: {}", stderr(&made));
        let made: Value = serde_json::from_str(&stdout(&made)).expect("JSON");
        assert!(made["publicJwk"].get("d").is_none(), "no private member on stdout");
        let mode = fs::metadata(dir.path(&file)).expect("key file").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let jkt = made["jkt"].as_str().expect("jkt");
        let minted = run(
            &dir,
            &[
                "mint",
                "--key",
                "k1.jwk",
                "--iss",
                "https://auth.example",
                "--sub",
                "agent:x",
                "--aud",
                "crm-api",
                "--task",
                "t",
                "--scope",
                "customers:read",
                "--res",
                "customers/4821",
                "--ttl",
                "1m",
                "--cnf-jkt",
                jkt,
            ],
            None,
        );
        let token = stdout(&minted).trim_end().to_owned();
        let url = "https://api.example/customers/4821";
        let proof = run(
            &dir,
            &["proof", "--key", &file, "--method", "GET", "--url", url, "-"],
            Some(&token),
        );
        assert_eq!(proof.status.code(), Some(0), "stderr: {}", stderr(&proof));
        let proof = stdout(&proof).trim_end().to_owned();
        let with = |method: &str, proof: &str| {
            let extra = ["--proof", proof, "--method", method, "--url", url, "-"];
            verify(&dir, "k1", "https://auth.example", &extra, Some(&token))
        };
        let ok = with("GET", &proof);
        assert_eq!(ok.status.code(), Some(0), "{alg}: {}", stderr(&ok));
        assert_eq!(error_code(&with("POST", &proof)), "invalid_proof");
        let plain = verify(&dir, "k1", "https://auth.example", &["-"], Some(&token));
        assert_eq!(error_code(&plain), "binding_required", "a bound token needs its proof");
        let other = run(&dir, &["proof", "--generate", "--out", "other.jwk", "--force"], None);
        assert_eq!(other.status.code(), Some(0));
        let foreign = run(
            &dir,
            &["proof", "--key", "other.jwk", "--method", "GET", "--url", url, "-"],
            Some(&token),
        );
        let foreign = stdout(&foreign).trim_end().to_owned();
        assert_eq!(error_code(&with("GET", &foreign)), "binding_mismatch");
    }
    let bad = run(&dir, &["proof", "--generate", "--alg", "RS256", "--out", "x.jwk"], None);
    assert_eq!(error_code(&bad), "malformed");
}

/// Delegation on the command line: a root bound to the orchestrator's key with `--dlg 1`,
/// `tasktoken delegate` to a sub-agent bound to its own key, `verify` of the chain with the
/// sub-agent's proof, and the refusals.
#[test]
fn delegate_extends_a_bound_token_and_verify_accepts_the_chain() {
    let dir = TempDir::new();
    keygen(&dir, "k1");
    let proof_key = |file: &str| {
        let made = run(&dir, &["proof", "--generate", "--out", file], None);
        assert_eq!(made.status.code(), Some(0), "stderr: {}", stderr(&made));
        let made: Value = serde_json::from_str(&stdout(&made)).expect("JSON");
        made["jkt"].as_str().expect("jkt").to_owned()
    };
    let (orch, sub) = (proof_key("orch.jwk"), proof_key("sub.jwk"));
    let mint = |dlg: &str| {
        let args = [
            "mint",
            "--key",
            "k1.jwk",
            "--iss",
            "https://auth.example",
            "--sub",
            "agent:orchestrator",
            "--aud",
            "crm-api",
            "--task",
            "lookup-48xx",
            "--scope",
            "customers:read customers:list",
            "--res",
            "customers/*",
            "--ttl",
            "5m",
            "--cnf-jkt",
            &orch,
            "--dlg",
            dlg,
        ];
        let out = run(&dir, &args, None);
        (out.status.code(), stdout(&out).trim_end().to_owned(), error_code_or_ok(&out))
    };
    let (status, root, _) = mint("1");
    assert_eq!(status, Some(0));
    assert_eq!(mint("2").2, "invalid_claim", "over the issuer's default maximum of 1");
    let delegate = |key: &str, res: &str, chain: &str| {
        let args = [
            "delegate",
            "--key",
            key,
            "--sub",
            "agent:sub-4821",
            "--aud",
            "crm-api",
            "--task",
            "lookup-48xx/4821",
            "--scope",
            "customers:read",
            "--res",
            res,
            "--ttl",
            "2m",
            "--cnf-jkt",
            &sub,
            "-",
        ];
        run(&dir, &args, Some(chain))
    };
    let out = delegate("orch.jwk", "customers/4821", &root);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let chain = stdout(&out).trim_end().to_owned();
    assert_eq!(chain.split('~').count(), 2);
    assert_eq!(error_code(&delegate("orch.jwk", "orders/1", &root)), "delegation_denied");
    assert_eq!(error_code(&delegate("sub.jwk", "customers/4821", &root)), "delegation_denied");
    // The chain verifies with the sub-agent's proof, and only for what the link grants.
    let url = "https://api.example/customers/4821";
    let proof = run(
        &dir,
        &["proof", "--key", "sub.jwk", "--method", "GET", "--url", url, "-"],
        Some(&chain),
    );
    let proof = stdout(&proof).trim_end().to_owned();
    let extra = ["--proof", proof.as_str(), "--method", "GET", "--url", url, "-"];
    let ok = verify(&dir, "k1", "https://auth.example", &extra, Some(&chain));
    assert_eq!(ok.status.code(), Some(0), "stderr: {}", stderr(&ok));
    let claims: Value = serde_json::from_str(&stdout(&ok)).expect("claims");
    assert_eq!(claims["sub"], "agent:sub-4821");
    assert_eq!(claims["act"]["sub"], "agent:orchestrator");
    let refuse = ["--max-delegation-depth", "0", "-"];
    let none = verify(&dir, "k1", "https://auth.example", &refuse, Some(&chain));
    assert_eq!(error_code(&none), "delegation_denied");
}
