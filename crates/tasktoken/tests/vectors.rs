//! Runs the shared vectors in `tests/vectors/` and checks that they are what the checked-in
//! generator produces. `REGENERATE_VECTORS=1 cargo test -p tasktoken --test vectors`
//! (`make vectors`) rewrites them.

mod common;
mod generate;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::{load, request, revocation, revocation_filter, vectors_dir, verifier};
use serde_json::Value;
use tasktoken::{
    Error, KeySet, ProofKeyCache, ProofReplayCache, PublicKey, Request, RevocationFilter,
    SigningKey, Verifier, VerifyContext,
};

#[test]
fn vectors_match_their_generator() {
    let regenerate = std::env::var_os("REGENERATE_VECTORS").is_some();
    for (name, text) in generate::generate() {
        let path = vectors_dir().join(name);
        if regenerate {
            std::fs::write(&path, &text).expect("vector file is writable");
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(committed == text, "{name} differs from its generator: run `make vectors`");
    }
}

#[test]
fn token_vectors() {
    // A fresh proof key cache per case: each proof is verified the slow way.
    run_token_vectors(None);
}

/// The same vectors through one proof key cache shared by every case, twice over: from the
/// second proof of a key on, its header is recognised and its table used (dpop.rs), and
/// every verdict must stay the same.
#[test]
fn token_vectors_with_held_proof_keys() {
    let keys = ProofKeyCache::new();
    run_token_vectors(Some(&keys));
    run_token_vectors(Some(&keys));
}

fn run_token_vectors(shared: Option<&ProofKeyCache>) {
    let file = load("tokens.json");
    let cases = file["cases"].as_array().expect("cases");
    let mut codes_seen = std::collections::BTreeSet::new();
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let config = &file["verifiers"][case["verifier"].as_str().expect("verifier name")];
        let request = request(case);
        let token = case["token"].as_str().expect("token");
        let now = case["now"].as_i64().expect("now");
        let got = verifier(config).and_then(|v| {
            // `repeat`: the same request twice with one verifier (a replayed proof); the
            // expected result is the second's.
            let replay = ProofReplayCache::new(16);
            let fresh = ProofKeyCache::new();
            let keys = shared.unwrap_or(&fresh);
            if case["repeat"] == true {
                let _ = verify_case(&v, config, case, token, &request, now, (&replay, keys));
            }
            verify_case(&v, config, case, token, &request, now, (&replay, keys))
        });
        let expect = &case["expect"];
        match (got, expect["error"].as_str()) {
            (Ok(claims), None) => {
                assert_eq!(&Value::Object(claims.into_map()), &expect["claims"], "{name}")
            }
            (Err(e), Some(code)) => {
                assert_eq!(e.code(), code, "{name}: {e}");
                codes_seen.insert(code);
            }
            (Ok(_), Some(code)) => panic!("{name}: accepted, expected {code}"),
            (Err(e), None) => panic!("{name}: rejected with {e}, expected valid"),
        }
    }
    // Every stable code has at least one vector.
    for code in Error::CODES {
        assert!(codes_seen.contains(code), "no vector for {code}");
    }
}

/// Verifies one case: against its revocation data if it has any (loaded with its issuer's
/// keys), remembering proofs in `replay` and proof keys' tables in `keys`.
fn verify_case(
    verifier: &Verifier,
    config: &Value,
    case: &Value,
    token: &str,
    request: &Request<'_>,
    now: i64,
    (replay, keys): (&ProofReplayCache, &ProofKeyCache),
) -> Result<tasktoken::VerifiedClaims, Error> {
    let rev = case.get("revocation");
    let filter = match rev {
        Some(rev) => revocation_filter(config, rev, now)?,
        None => None,
    };
    let revocation = rev.map(|rev| revocation(filter.as_ref(), rev));
    // The prepared-table path for proof keys, as the package takes it.
    let mut context = VerifyContext::new().with_proof_replay(replay).with_proof_keys(keys);
    context.revocation = revocation.as_ref();
    verifier.verify_with(token, request, now, context)
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

#[test]
fn revocation_vectors() {
    let file = load("revocation.json");
    let keys = KeySet::from_jwks(&file["keys"].to_string()).expect("keys");
    let issuer = file["issuer"].as_str().expect("issuer");
    let now = file["now"].as_i64().expect("now");
    let bytes = |v: &Value| URL_SAFE_NO_PAD.decode(v.as_str().expect("base64url")).expect("b64");
    let load = |v: &Value| RevocationFilter::from_snapshot(&bytes(v), issuer, &keys, now);
    let mut filter = load(&file["snapshot"]["bytes"]).expect("ok");
    assert_eq!(filter.freshness().serial, 41);
    let check = |filter: &RevocationFilter, list: &Value, want: bool| {
        for jti in list.as_array().expect("list") {
            assert_eq!(filter.contains(jti.as_str().expect("jti")), want, "{jti}");
        }
    };
    check(&filter, &file["snapshot"]["revoked"], true);
    check(&filter, &file["snapshot"]["notRevoked"], false);
    let example = &file["entryExample"];
    let entry = filter.bloom().entry(example["jti"].as_str().expect("jti"));
    let hex: String = entry.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, example["entry"]);

    for case in file["deltaErrors"].as_array().expect("cases") {
        let mut copy = filter.clone();
        let got = if case["asSnapshot"] == true {
            load(&case["bytes"]).map(|_| ())
        } else {
            copy.apply_delta(&bytes(&case["bytes"]), &keys, now)
        };
        assert_eq!(got.map_err(|e| e.code()), Err(case["expect"]["error"].as_str().expect("code")));
        assert_eq!(copy, filter, "{}: a refused delta changes nothing", case["name"]);
    }
    filter.apply_delta(&bytes(&file["delta"]["bytes"]), &keys, now).expect("delta applies");
    assert_eq!(filter.freshness().serial, 42);
    check(&filter, &file["delta"]["revokedAfter"], true);
    let again = filter.apply_delta(&bytes(&file["delta"]["bytes"]), &keys, now);
    assert_eq!(again.map_err(|e| e.code()), Err("stale_revocation"), "a delta applies once");

    for case in file["snapshotErrors"].as_array().expect("cases") {
        let got = load(&case["bytes"]);
        let want = case["expect"]["error"].as_str().expect("code");
        assert_eq!(got.map(|_| ()).map_err(|e| e.code()), Err(want), "{}", case["name"]);
    }
}
