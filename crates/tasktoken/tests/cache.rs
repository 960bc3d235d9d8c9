//! The verified-token cache: the same verdict as without it on every vector (verified twice,
//! the second time from the cache), time and request still checked on every hit, and a cache
//! never shared across verifiers.

use tasktoken::{
    Issuer, KeySet, MintRequest, Request, SigningKey, Verifier, VerifyCache, VerifyContext,
};

mod common;

use common::{load, request, verifier};

#[test]
fn every_vector_gets_the_same_verdict_from_the_cache() {
    let file = load("tokens.json");
    let mut checked = 0;
    for case in file["cases"].as_array().expect("cases") {
        if case.get("revocation").is_some() {
            continue;
        }
        let config = &file["verifiers"][case["verifier"].as_str().expect("name")];
        let Ok(verifier) = verifier(config) else {
            continue; // a refused configuration
        };
        let request = request(case);
        let token = case["token"].as_str().expect("token");
        let now = case["now"].as_i64().expect("now");
        let plain = verifier.verify_at(token, &request, now).map_err(|e| e.code());
        let mut cache = VerifyCache::new(8);
        for round in 0..2 {
            let context = VerifyContext::new().with_cache(&mut cache);
            let cached = verifier.verify_with(token, &request, now, context).map_err(|e| e.code());
            assert_eq!(cached, plain, "{} (round {round})", case["name"]);
        }
        checked += 1;
    }
    assert!(checked > 140);
}

#[test]
fn hits_still_check_time_request_and_owner() {
    let key = SigningKey::from_seed("c1", &[4u8; 32]).expect("kid");
    let issuer = Issuer::new("https://a", key.clone()).expect("issuer");
    let request = MintRequest::new("agent:x", "t")
        .with_aud(["crm"])
        .with_scope("r")
        .with_res(["r/1"])
        .with_ttl(60);
    let token = issuer.mint_at(&request, 1_000).expect("mint");
    let keys = KeySet::from_keys([key.public_key()]).expect("keys");
    let crm = Verifier::new("crm").expect("v").trust("https://a", &keys).expect("trust");
    let billing = Verifier::new("billing").expect("v").trust("https://a", &keys).expect("trust");
    let mut cache = VerifyCache::new(4);
    let mut verify = |v: &Verifier, action: &str, now: i64| {
        let context = VerifyContext::new().with_cache(&mut cache);
        v.verify_with(&token, &Request::new(action, "r/1"), now, context)
            .map(|_| ())
            .map_err(|e| e.code())
    };
    assert_eq!(verify(&crm, "r", 1_010), Ok(()));
    assert_eq!(verify(&crm, "w", 1_010), Err("action_denied"), "a hit still checks the action");
    assert_eq!(verify(&crm, "r", 1_200), Err("expired"), "a hit still checks the time");
    assert_eq!(verify(&billing, "r", 1_010), Err("wrong_audience"), "never another verifier's");
    assert_eq!(verify(&crm, "r", 1_010), Ok(()));
}
