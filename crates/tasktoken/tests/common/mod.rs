//! The shared vectors (`tests/vectors/`), read the way every test here needs them: one
//! verifier per configuration, one request and one revocation setting per case, so that the
//! vector, audit and cache tests judge exactly the same verifiers.
#![allow(dead_code)] // each test crate uses its own part

use std::path::PathBuf;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value;
use tasktoken::{Error, KeySet, ProofRequest, Request, Revocation, RevocationFilter, Verifier};

pub fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors")
}

pub fn load(name: &str) -> Value {
    let text = std::fs::read_to_string(vectors_dir().join(name)).expect("vector file is readable");
    serde_json::from_str(&text).expect("vector file is JSON")
}

/// Builds a verifier from a vector's configuration, as a user would from JWKS documents.
pub fn verifier(config: &Value) -> Result<Verifier, Error> {
    let mut verifier = Verifier::new(config["audience"].as_str().expect("audience"))?
        .max_lifetime(config["maxLifetime"].as_u64().expect("maxLifetime") as u32)?
        .clock_skew(config["clockSkew"].as_u64().expect("clockSkew") as u32)?
        .require_binding(config["requireBinding"].as_bool().unwrap_or(false))
        .max_delegation_depth(config["maxDelegationDepth"].as_u64().unwrap_or(4) as u32)?;
    for (iss, set) in config["issuers"].as_object().expect("issuers") {
        verifier = verifier.trust(iss, &KeySet::from_jwks(&set.to_string())?)?;
    }
    Ok(verifier)
}

/// The case's request.
pub fn request(case: &Value) -> Request<'_> {
    let req = &case["request"];
    let mut request = Request::new(
        req["action"].as_str().expect("action"),
        req["resource"].as_str().expect("resource"),
    );
    request.key_thumbprint = req["keyThumbprint"].as_str();
    request.dpop = req.get("dpop").map(|d| {
        let str = |name: &str| d[name].as_str().expect(name);
        let mut dpop = ProofRequest::new(str("proof"), str("method"), str("url"));
        dpop.nonce = d["nonce"].as_str();
        dpop
    });
    request
}

/// The case's revocation data (`revocation`: the issuer it is loaded for, a snapshot or
/// none, then deltas), verified at `now` with that issuer's keys in `config`.
pub fn revocation_filter(
    config: &Value,
    rev: &Value,
    now: i64,
) -> Result<Option<RevocationFilter>, Error> {
    let issuer = rev["issuer"].as_str().expect("revocation issuer");
    let keys = KeySet::from_jwks(&config["issuers"][issuer].to_string())?;
    let bytes = |v: &Value| URL_SAFE_NO_PAD.decode(v.as_str().expect("base64url")).expect("b64");
    let mut filter = match &rev["snapshot"] {
        Value::Null => None,
        snapshot => Some(RevocationFilter::from_snapshot(&bytes(snapshot), issuer, &keys, now)?),
    };
    for delta in rev["deltas"].as_array().expect("deltas") {
        let filter = filter.as_mut().expect("a delta needs a snapshot");
        filter.apply_delta(&bytes(delta), &keys, now)?;
    }
    Ok(filter)
}

/// The case's revocation policy over `filter`.
pub fn revocation<'a>(filter: Option<&'a RevocationFilter>, rev: &Value) -> Revocation<'a> {
    Revocation::new(filter)
        .with_grace(rev["grace"].as_u64().expect("grace") as u32)
        .with_fail_open_when_stale(rev["failOpenWhenStale"].as_bool().expect("failOpenWhenStale"))
}
