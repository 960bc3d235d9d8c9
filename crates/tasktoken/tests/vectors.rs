//! Runs the shared vectors in `tests/vectors/` and checks that they are what the checked-in
//! generator produces. `REGENERATE_VECTORS=1 cargo test -p tasktoken --test vectors`
//! (`make vectors`) rewrites them.

mod generate;

use std::path::PathBuf;

use serde_json::Value;
use tasktoken::{Error, KeySet, PublicKey, Request, SigningKey, Verifier};

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors")
}

fn load(name: &str) -> Value {
    let text = std::fs::read_to_string(vectors_dir().join(name)).expect("vector file is readable");
    serde_json::from_str(&text).expect("vector file is JSON")
}

#[test]
fn vectors_match_their_generator() {
    let regenerate = std::env::var_os("REGENERATE_VECTORS").is_some();
    for (name, text) in generate::generate() {
        let path = vectors_dir().join(name);
        if regenerate {
            std::fs::write(&path, &text).expect("vector file is writable");
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == text,
            "{name} differs from its generator: run `make vectors`"
        );
    }
}

/// Builds a verifier from a vector's configuration, as a user would from JWKS documents.
fn verifier(config: &Value) -> Result<Verifier, Error> {
    let mut verifier = Verifier::new(config["audience"].as_str().expect("audience"))?
        .max_lifetime(config["maxLifetime"].as_u64().expect("maxLifetime") as u32)
        .clock_skew(config["clockSkew"].as_u64().expect("clockSkew") as u32)
        .require_binding(config["requireBinding"].as_bool().unwrap_or(false));
    for (iss, set) in config["issuers"].as_object().expect("issuers") {
        verifier = verifier.trust(iss, &KeySet::from_jwks(&set.to_string())?)?;
    }
    Ok(verifier)
}

#[test]
fn token_vectors() {
    let file = load("tokens.json");
    let cases = file["cases"].as_array().expect("cases");
    let mut codes_seen = std::collections::BTreeSet::new();
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let config = &file["verifiers"][case["verifier"].as_str().expect("verifier name")];
        let req = &case["request"];
        let request = Request {
            action: req["action"].as_str().expect("action"),
            resource: req["resource"].as_str().expect("resource"),
            key_thumbprint: req["keyThumbprint"].as_str(),
        };
        let token = case["token"].as_str().expect("token");
        let now = case["now"].as_i64().expect("now");
        let got = verifier(config).and_then(|v| v.verify_at(token, &request, now));
        let expect = &case["expect"];
        match (got, expect["error"].as_str()) {
            (Ok(claims), None) => {
                assert_eq!(
                    &Value::Object(claims.into_map()),
                    &expect["claims"],
                    "{name}"
                )
            }
            (Err(e), Some(code)) => {
                assert_eq!(e.code(), code, "{name}: {e}");
                codes_seen.insert(code);
            }
            (Ok(_), Some(code)) => panic!("{name}: accepted, expected {code}"),
            (Err(e), None) => panic!("{name}: rejected with {e}, expected valid"),
        }
    }
    // Every code this part of the product can produce has at least one vector.
    for code in Error::CODES {
        if code != "revoked" && code != "stale_revocation" {
            assert!(codes_seen.contains(code), "no vector for {code}");
        }
    }
}

#[test]
fn key_vectors() {
    for case in load("keys.json")["cases"].as_array().expect("cases") {
        let name = case["name"].as_str().expect("name");
        let text = case["jwk"].as_str().expect("jwk");
        let got: Result<Vec<String>, Error> = match case["kind"].as_str().expect("kind") {
            "public" => PublicKey::from_jwk(text).map(|k| vec![k.kid().to_string()]),
            "private" => SigningKey::from_jwk(text).map(|k| vec![k.kid().to_string()]),
            _ => KeySet::from_jwks(text)
                .map(|s| s.keys().iter().map(|k| k.kid().to_string()).collect()),
        };
        let expect = &case["expect"];
        match (got, expect["error"].as_str()) {
            (Ok(kids), None) => {
                let want = expect
                    .get("kids")
                    .cloned()
                    .unwrap_or_else(|| Value::Array(vec![expect["kid"].clone()]));
                assert_eq!(serde_json::json!(kids), want, "{name}");
            }
            (Err(e), Some(code)) => assert_eq!(e.code(), code, "{name}: {e}"),
            (got, _) => panic!("{name}: got {got:?}, expected {expect}"),
        }
    }
}

#[test]
fn resource_vectors() {
    for case in load("resources.json")["cases"].as_array().expect("cases") {
        let patterns: Vec<&str> = case["patterns"]
            .as_array()
            .expect("patterns")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let resource = case["resource"].as_str().expect("resource");
        let allowed = case["allowed"].as_bool().expect("allowed");
        assert_eq!(
            tasktoken::resource_allowed(patterns.iter().copied(), resource),
            allowed,
            "{patterns:?} vs {resource:?}"
        );
    }
}
