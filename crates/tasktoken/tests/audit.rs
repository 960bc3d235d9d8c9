//! Audit events: one per decision, the right outcome and fields, and never the token text
//! or key material.

mod common;

use std::sync::{Arc, Mutex};

use common::{load, request, revocation, revocation_filter, verifier};
use serde_json::Value;
use tasktoken::{
    AuditEvent, AuditKind, AuditSink, Issuer, MintRequest, OutcomeCounters, SigningKey,
    VerifyContext,
};

#[derive(Default)]
struct Collect(Mutex<Vec<AuditEvent>>);

impl AuditSink for Collect {
    fn record(&self, event: &AuditEvent) {
        self.0.lock().expect("not poisoned").push(event.clone());
    }
}

#[test]
fn every_vector_decision_is_one_event_with_its_outcome_and_no_secrets() {
    let file = load("tokens.json");
    let private_keys: Vec<String> = file["privateKeys"]
        .as_object()
        .expect("keys")
        .values()
        .map(|k| k["d"].as_str().expect("d").to_string())
        .collect();
    let counters = Arc::new(OutcomeCounters::new());
    let mut decisions = 0u64;
    for case in file["cases"].as_array().expect("cases") {
        let config = &file["verifiers"][case["verifier"].as_str().expect("name")];
        let Ok(v) = verifier(config) else {
            continue; // configurations that are refused never decide anything
        };
        let v = v.named("crm-api-verifier").with_audit(counters.clone());
        let token = case["token"].as_str().expect("token");
        let request = request(case);
        let sink = Collect::default();
        let rev = case.get("revocation");
        let now = case["now"].as_i64().expect("now");
        let replay = tasktoken::ProofReplayCache::new(16);
        let Ok(filter) = rev.map_or(Ok(None), |rev| revocation_filter(config, rev, now)) else {
            continue; // revocation data that is refused never reaches a decision
        };
        let revocation = rev.map(|rev| revocation(filter.as_ref(), rev));
        let mut context = VerifyContext::new().with_audit(&sink).with_proof_replay(&replay);
        context.revocation = revocation.as_ref();
        let result = v.verify_with(token, &request, now, context);
        decisions += 1;
        let events = sink.0.into_inner().expect("not poisoned");
        assert_eq!(events.len(), 1, "{}", case["name"]);
        let event = &events[0];
        let name = case["name"].as_str().expect("name");
        assert_eq!(event.kind, AuditKind::Verify);
        assert_eq!(event.outcome, result.as_ref().map_or_else(|e| e.code(), |_| "ok"), "{name}");
        assert_eq!(event.decided_by, "crm-api-verifier");
        assert_eq!(event.action.as_deref(), Some(request.action));
        if result.is_ok() {
            assert!(event.sub.is_some() && event.jti.is_some() && event.kid.is_some(), "{name}");
        }
        if event.outcome == "bad_signature" || event.outcome == "malformed" {
            // A chain whose root verified may name the root (genuine claims); nothing of a
            // link that failed is logged.
            let root = tasktoken::UnverifiedToken::parse(token.split('~').next().unwrap_or(""));
            let root_jti = root.ok().and_then(|t| t.claims()["jti"].as_str().map(String::from));
            let trusted = token.contains('~') && event.jti.is_some() && event.jti == root_jti;
            assert!(
                trusted || (event.sub.is_none() && event.jti.is_none()),
                "{name}: untrusted claims logged"
            );
        }
        let text = event.to_json().to_string();
        for part in token.split('.').filter(|p| p.len() > 8) {
            assert!(!text.contains(part), "{name}: the event contains token text");
        }
        for d in &private_keys {
            assert!(!text.contains(d.as_str()), "{name}: the event contains a private key");
        }
    }
    let total: u64 = counters.counts().iter().map(|(_, n)| n).sum();
    assert_eq!(total, decisions, "the counters saw every decision");
    assert!(counters.counts().iter().filter(|(_, n)| *n > 0).count() >= 15, "{counters:?}");
}

#[test]
fn mints_and_refusals_are_events_too() {
    let key = SigningKey::from_seed("m1", &[9u8; 32]).expect("kid");
    let d = serde_json::from_str::<Value>(&key.to_jwk()).expect("JSON")["d"].clone();
    let sink = Arc::new(Collect::default());
    let issuer = Issuer::new("https://auth.example", key).expect("issuer").with_audit(sink.clone());
    let request = MintRequest::new("agent:x", "t-1")
        .with_aud(["crm-api"])
        .with_scope("customers:read")
        .with_res(["customers/1"])
        .with_ttl(60);
    let token = issuer.mint_at(&request, 1_000).expect("minted");
    let refused = issuer.mint_at(&request.clone().with_ttl(3600), 1_000);
    assert_eq!(refused.map_err(|e| e.code()), Err("lifetime_too_long"));
    let events = sink.0.lock().expect("not poisoned").clone();
    assert_eq!(events.len(), 2);
    assert_eq!((events[0].kind, events[0].outcome), (AuditKind::Mint, "ok"));
    assert_eq!(events[0].resource.as_deref(), Some("customers/1"));
    assert!(events[0].jti.is_some());
    assert_eq!(events[1].outcome, "lifetime_too_long");
    assert!(events[1].jti.is_none(), "a refused mint has no jti");
    for e in &events {
        let text = e.to_json().to_string();
        assert!(!text.contains(d.as_str().expect("d")));
        assert!(!text.contains(token.split('.').nth(2).expect("signature")));
    }
}
