//! Delegation chains (DESIGN.md, "Delegation"): the `delegate` API end to end, and the
//! property that no chain ever grants what its root does not.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::Signer as _;
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use tasktoken::{
    delegate, Issuer, KeySet, LinkRequest, MintRequest, ProofSigningKey, Request, SigningKey,
    Verifier,
};

const NOW: i64 = 1_767_225_600;
const ISS: &str = "https://auth.example";
const AUD: &str = "crm-api";

fn issuer_key() -> SigningKey {
    SigningKey::from_seed("k1", &[3; 32]).expect("kid")
}

fn verifier() -> Verifier {
    let keys = KeySet::from_keys([issuer_key().public_key()]).expect("keys");
    Verifier::new(AUD).expect("aud").trust(ISS, &keys).expect("trust")
}

fn issuer() -> Issuer {
    Issuer::new(ISS, issuer_key()).expect("iss").max_delegation(4).expect("depth")
}

fn ed_key() -> ProofSigningKey {
    ProofSigningKey::generate("EdDSA").expect("key")
}

/// A root for the orchestrator holding `key`: customers 48xx, read and list, `dlg` given.
fn root(key: &ProofSigningKey, dlg: u32) -> String {
    issuer()
        .mint_at(
            &MintRequest::new("agent:orchestrator", "lookup-48xx")
                .with_aud([AUD, "billing-api"])
                .with_scope("customers:read customers:list")
                .with_res(["customers/*"])
                .with_ttl(300)
                .with_cnf_jkt(key.thumbprint())
                .with_dlg(dlg),
            NOW,
        )
        .expect("mint")
}

fn narrower(next: Option<&ProofSigningKey>, dlg: u32) -> LinkRequest {
    let mut link = LinkRequest::new("agent:sub-4821", "lookup-48xx/4821")
        .with_aud([AUD])
        .with_scope("customers:read")
        .with_res(["customers/4821"])
        .with_ttl(120)
        .with_dlg(dlg);
    link.cnf_jkt = next.map(ProofSigningKey::thumbprint);
    link
}

fn code<T>(result: Result<T, tasktoken::Error>) -> &'static str {
    result.map(|_| "ok").unwrap_or_else(|e| e.code())
}

#[test]
fn a_delegated_chain_verifies_with_the_last_links_claims() {
    let (orch, sub) = (ed_key(), ed_key());
    let root = root(&orch, 2);
    let chain = delegate(&root, &orch, &narrower(Some(&sub), 1), NOW + 1).expect("delegate");
    let thumb = sub.thumbprint();
    let request = read(4821).with_key_thumbprint(&thumb);
    let claims = verifier().verify_at(&chain, &request, NOW + 2).expect("valid chain");
    assert_eq!(claims.sub(), "agent:sub-4821");
    assert_eq!(claims.iss(), ISS);
    assert_eq!(claims.get("act"), Some(&json!({"sub": "agent:orchestrator"})));
    assert!(claims.exp() <= NOW + 1 + 120);
    // The sub-agent delegates once more (dlg 1 → 0); the grand-child is unbound.
    let mut deeper = narrower(None, 0);
    deeper.sub = "agent:leaf".into();
    let chain2 = delegate(&chain, &sub, &deeper, NOW + 3).expect("second link");
    let claims = verifier().verify_at(&chain2, &read(4821), NOW + 4).expect("valid");
    assert_eq!(
        claims.get("act"),
        Some(&json!({"sub": "agent:sub-4821", "act": {"sub": "agent:orchestrator"}}))
    );
    // No third link: the last one allows no delegation, and no key is bound.
    assert_eq!(code(delegate(&chain2, &sub, &narrower(None, 0), NOW)), "delegation_denied");
    // The root's own request is refused through the chain: the link narrowed it.
    assert_eq!(code(verifier().verify_at(&chain2, &read(4822), NOW + 4)), "resource_denied");
}

fn read(customer: u32) -> Request<'static> {
    let resource: &'static str = Box::leak(format!("customers/{customer}").into_boxed_str());
    Request::new("customers:read", resource)
}

#[test]
fn delegate_refuses_what_a_verifier_would_refuse() {
    let (orch, other) = (ed_key(), ed_key());
    let root = root(&orch, 1);
    let widen = |edit: &dyn Fn(&mut LinkRequest)| {
        let mut link = narrower(None, 0);
        edit(&mut link);
        code(delegate(&root, &orch, &link, NOW))
    };
    assert_eq!(widen(&|l| l.scope = "customers:write".into()), "delegation_denied");
    assert_eq!(widen(&|l| l.res = vec!["orders/1".into()]), "delegation_denied");
    assert_eq!(widen(&|l| l.aud = vec!["other-api".into()]), "delegation_denied");
    assert_eq!(widen(&|l| l.task = "export".into()), "delegation_denied");
    assert_eq!(widen(&|l| l.dlg = 1), "delegation_denied");
    assert_eq!(widen(&|l| l.res = vec!["customers/../x".into()]), "invalid_claim");
    assert_eq!(widen(&|_| {}), "ok");
    // Only the bound key signs; links are Ed25519.
    assert_eq!(code(delegate(&root, &other, &narrower(None, 0), NOW)), "delegation_denied");
    let p256 = ProofSigningKey::generate("ES256").expect("key");
    assert_eq!(code(delegate(&root, &p256, &narrower(None, 0), NOW)), "malformed");
    // A root without `dlg`, and an unbound root (the issuer refuses to mint one with dlg).
    assert_eq!(
        code(delegate(&root_plain(&orch), &orch, &narrower(None, 0), NOW)),
        "delegation_denied"
    );
    let unbound = mint_plain().with_dlg(1);
    assert_eq!(code(issuer().mint_at(&unbound, NOW)), "invalid_claim");
    // The issuer's lint: dlg above its maximum (default 1).
    let deep = mint_plain().with_dlg(2).with_cnf_jkt(orch.thumbprint());
    let default_issuer = Issuer::new(ISS, issuer_key()).expect("iss");
    assert_eq!(code(default_issuer.mint_at(&deep, NOW)), "invalid_claim");
    assert_eq!(code(issuer().mint_at(&deep, NOW)), "ok");
    // Expiry: a link never outlives its root, and a root past `exp` is not delegated.
    let long = narrower(None, 0).with_ttl(10_000);
    let chain = delegate(&root, &orch, &long, NOW).expect("clamped");
    let exp = verifier().verify_at(&chain, &read(4821), NOW).expect("valid").exp();
    assert_eq!(exp, NOW + 300);
    assert_eq!(code(delegate(&root, &orch, &narrower(None, 0), NOW + 300)), "expired");
}

fn mint_plain() -> MintRequest {
    MintRequest::new("agent:orchestrator", "lookup-48xx")
        .with_aud([AUD])
        .with_scope("customers:read")
        .with_res(["customers/*"])
        .with_ttl(300)
}

fn root_plain(key: &ProofSigningKey) -> String {
    let mint = mint_plain().with_cnf_jkt(key.thumbprint());
    issuer().mint_at(&mint, NOW).expect("mint")
}

#[test]
fn verifiers_can_refuse_chains_or_cap_their_depth() {
    let (orch, sub) = (ed_key(), ed_key());
    let root = root(&orch, 2);
    let one = delegate(&root, &orch, &narrower(Some(&sub), 1), NOW).expect("one");
    let two = delegate(&one, &sub, &narrower(None, 0), NOW).expect("two");
    let capped = verifier().max_delegation_depth(1).expect("cap");
    let thumb = sub.thumbprint();
    let bound = read(4821).with_key_thumbprint(&thumb);
    assert_eq!(code(capped.verify_at(&one, &bound, NOW)), "ok");
    assert_eq!(code(capped.verify_at(&two, &read(4821), NOW)), "delegation_denied");
    let none = verifier().max_delegation_depth(0).expect("none");
    assert_eq!(code(none.verify_at(&one, &bound, NOW)), "delegation_denied");
    assert_eq!(code(none.verify_at(&root, &read(4821), NOW)), "binding_required");
    assert!(verifier().max_delegation_depth(5).is_err());
}

#[test]
fn a_chain_revokes_itself_by_its_last_link() {
    let orch = ed_key();
    let root = root(&orch, 1);
    let chain = delegate(&root, &orch, &narrower(None, 0), NOW).expect("chain");
    let claims = verifier().verify_for_revocation_at(&chain, NOW).expect("genuine");
    assert_ne!(claims.jti(), verifier().verify_for_revocation_at(&root, NOW).expect("ok").jti());
    assert_eq!(claims.sub(), "agent:sub-4821");
}

// ---------------------------------------------------------------------------------------
// No chain grants what its root does not: links crafted with arbitrary claims (widening
// or not), each signed by the previous element's bound key; whenever the verifier accepts
// the chain for a request, the root alone accepts the same request.

const ACTIONS: [&str; 4] = ["customers:read", "customers:list", "customers:write", "orders:read"];
const PATTERNS: [&str; 7] = [
    "customers/*",
    "customers/48/*",
    "customers/4821",
    "customers/48/1",
    "orders/1",
    "*",
    "customers/48",
];
const RESOURCES: [&str; 6] =
    ["customers/4821", "customers/48/1", "customers/48/2", "orders/1", "orders/2", "customers/48"];
const AUDS: [&str; 3] = [AUD, "billing-api", "other-api"];
const TASKS: [&str; 5] = ["t", "t/a", "t/a/b", "u", "tx"];

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn dalek(i: u8) -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[i.wrapping_add(40); 32])
}

fn thumbprint(key: &ed25519_dalek::SigningKey) -> String {
    let x = b64(key.verifying_key().as_bytes());
    b64(&Sha256::digest(format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#).as_bytes()))
}

/// One element's grant, as indexes into the pools above.
#[derive(Clone, Debug)]
struct Grant {
    actions: Vec<usize>,
    patterns: Vec<usize>,
    auds: Vec<usize>,
    task: usize,
    iat: i64,
    exp: i64,
    dlg: u64,
}

fn grant() -> impl Strategy<Value = Grant> {
    (
        prop::collection::btree_set(0..ACTIONS.len(), 1..3),
        prop::collection::btree_set(0..PATTERNS.len(), 1..3),
        prop::collection::btree_set(0..AUDS.len(), 1..3),
        0..TASKS.len(),
        -100i64..0,
        1i64..400,
        0u64..5,
    )
        .prop_map(|(a, p, d, task, iat, exp, dlg)| Grant {
            actions: a.into_iter().collect(),
            patterns: p.into_iter().collect(),
            auds: d.into_iter().collect(),
            task,
            iat: NOW + iat,
            exp: NOW + exp,
            dlg,
        })
}

fn claims_of(g: &Grant) -> Map<String, Value> {
    let pick = |ix: &[usize], pool: &[&str]| ix.iter().map(|i| json!(pool[*i])).collect();
    let scope: Vec<&str> = g.actions.iter().map(|i| ACTIONS[*i]).collect();
    let mut c = Map::new();
    c.insert("aud".into(), Value::Array(pick(&g.auds, &AUDS)));
    c.insert("scope".into(), json!(scope.join(" ")));
    c.insert("res".into(), Value::Array(pick(&g.patterns, &PATTERNS)));
    c.insert("task".into(), json!(TASKS[g.task]));
    c.insert("iat".into(), json!(g.iat));
    c.insert("exp".into(), json!(g.exp));
    if g.dlg > 0 {
        c.insert("dlg".into(), json!(g.dlg));
    }
    c
}

fn sign(header: &Value, claims: &Map<String, Value>, key: &ed25519_dalek::SigningKey) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(Value::Object(claims.clone()).to_string().as_bytes())
    );
    format!("{input}.{}", b64(&key.sign(input.as_bytes()).to_bytes()))
}

/// The grant of the link after `prev`: a narrowing of it chosen by `bits`, then changed by
/// `mutation` (3–10: one way a link could widen or just differ; any other: none).
fn next_grant(prev: &Grant, bits: u64, mutation: u8, pick: usize) -> Grant {
    let subset = |items: &[usize], shift: u32| {
        let kept: Vec<usize> = items
            .iter()
            .enumerate()
            .filter(|(i, _)| bits >> (shift + *i as u32) & 1 == 1)
            .map(|(_, v)| *v)
            .collect();
        if kept.is_empty() {
            vec![items[0]]
        } else {
            kept
        }
    };
    let child = match TASKS[prev.task] {
        "t" if bits & 1 == 1 => 1,
        "t/a" if bits & 2 == 2 => 2,
        _ => prev.task,
    };
    let mut g = Grant {
        actions: subset(&prev.actions, 4),
        patterns: subset(&prev.patterns, 8),
        // This verifier's audience stays (the chain is for it), the others may go.
        auds: {
            let mut auds = subset(&prev.auds, 12);
            if prev.auds.contains(&0) && !auds.contains(&0) {
                auds.insert(0, 0);
            }
            auds
        },
        task: child,
        iat: prev.iat + (bits >> 16) as i64 % 10,
        exp: prev.exp - (bits >> 20) as i64 % 10,
        dlg: prev.dlg.saturating_sub(1 + (bits >> 24) % 2),
    };
    match mutation {
        3 => g.actions.push(pick % ACTIONS.len()),
        4 => g.patterns.push(pick % PATTERNS.len()),
        5 => g.patterns = vec![pick % PATTERNS.len()],
        6 => g.auds.push(pick % AUDS.len()),
        7 => g.task = pick % TASKS.len(),
        8 => g.iat = prev.iat - 1 - (pick % 5) as i64,
        9 => g.exp = prev.exp + 1 + (pick % 5) as i64,
        10 => g.dlg = prev.dlg,
        _ => {}
    }
    g.actions.dedup();
    g
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]
    #[test]
    fn no_chain_grants_what_its_root_does_not(
        root_grant in grant(),
        links in prop::collection::vec((any::<u64>(), 0u8..18, any::<usize>()), 1..5),
        action in any::<usize>(),
        resource in 0..RESOURCES.len(),
    ) {
        // Roots for this verifier, mostly deep enough for their links: the rules, not the
        // setup, should refuse most chains that are refused.
        let mut root_grant = root_grant;
        if !root_grant.auds.contains(&0) {
            root_grant.auds.insert(0, 0);
        }
        root_grant.dlg = 4 - root_grant.dlg % 2;
        // The root: signed by the issuer, bound to key 0.
        let mut root_claims = claims_of(&root_grant);
        root_claims.insert("iss".into(), json!(ISS));
        root_claims.insert("sub".into(), json!("agent:root"));
        root_claims.insert("jti".into(), json!("root-jti"));
        root_claims.insert("cnf".into(), json!({"jkt": thumbprint(&dalek(0))}));
        let header = json!({"alg": "EdDSA", "typ": "tt+jwt", "kid": "k1"});
        let root_key = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
        let root = sign(&header, &root_claims, &root_key);
        let mut chain = root.clone();
        let mut prev_text = root.clone();
        let mut prev = root_grant.clone();
        let mut grants = Vec::new();
        for (i, (bits, mutation, pick)) in links.iter().enumerate() {
            let g = next_grant(&prev, *bits, *mutation, *pick);
            let signer = dalek(i as u8);
            let mut c = claims_of(&g);
            c.insert("prev".into(), json!(b64(&Sha256::digest(prev_text.as_bytes()))));
            c.insert("sub".into(), json!(format!("agent:{i}")));
            c.insert("jti".into(), json!(format!("link-{i}")));
            c.insert("cnf".into(), json!({"jkt": thumbprint(&dalek(i as u8 + 1))}));
            let jwk = json!({"kty": "OKP", "crv": "Ed25519",
                             "x": b64(signer.verifying_key().as_bytes())});
            let link = sign(&json!({"alg": "EdDSA", "typ": "tt-link+jwt", "jwk": jwk}), &c, &signer);
            chain = format!("{chain}~{link}");
            prev_text = link;
            prev = g.clone();
            grants.push(g);
        }
        let last_key = thumbprint(&dalek(links.len() as u8));
        // An action the last link names (so the action check is not what refuses).
        let last_actions = &prev.actions;
        let action = ACTIONS[last_actions[action % last_actions.len()]];
        let request = Request::new(action, RESOURCES[resource]).with_key_thumbprint(&last_key);
        if verifier().verify_at(&chain, &request, NOW).is_ok() {
            let root_key = thumbprint(&dalek(0));
            let alone = request.with_key_thumbprint(&root_key);
            prop_assert!(verifier().verify_at(&root, &alone, NOW).is_ok(),
                "a chain granted what its root does not");
            // Every link narrowed: its task extends the previous one, its window inside it.
            let mut before = &root_grant;
            for g in &grants {
                prop_assert!(g.iat >= before.iat && g.exp <= before.exp && g.dlg < before.dlg);
                let (t, p) = (TASKS[g.task], TASKS[before.task]);
                let sub_task = t == p || t.starts_with(&format!("{}/", p));
                prop_assert!(sub_task);
                before = g;
            }
        }
    }
}

/// A link's signer chooses its claims: the chain's claims take from the last link only the
/// claims of DESIGN.md's list, keep the root's other claims (the issuer signed those), and a
/// sub-task never normalises back out of its task.
#[test]
fn a_link_cannot_forge_the_roots_other_claims_or_escape_its_task() {
    let holder = dalek(0);
    let mut extra = Map::new();
    extra.insert("tenant".into(), json!("acme"));
    extra.insert("apv".into(), json!({"sub": "human:alice", "at": NOW - 5}));
    let root = issuer()
        .mint_at(
            &MintRequest::new("agent:orchestrator", "lookup")
                .with_aud([AUD])
                .with_scope("customers:read")
                .with_res(["customers/*"])
                .with_ttl(300)
                .with_cnf_jkt(thumbprint(&holder))
                .with_dlg(1)
                .with_extra(extra),
            NOW,
        )
        .expect("root");
    let link_with = |task: &str, extra: Value| {
        let mut c = json!({
            "prev": b64(&Sha256::digest(root.as_bytes())), "sub": "agent:sub", "aud": AUD,
            "iat": NOW, "exp": NOW + 60, "jti": "link-1", "task": task,
            "scope": "customers:read", "res": ["customers/4821"],
        });
        for (k, v) in extra.as_object().expect("object") {
            c[k] = v.clone();
        }
        let jwk =
            json!({"kty": "OKP", "crv": "Ed25519", "x": b64(holder.verifying_key().as_bytes())});
        let header = json!({"alg": "EdDSA", "typ": "tt-link+jwt", "jwk": jwk});
        format!("{root}~{}", sign(&header, c.as_object().expect("object"), &holder))
    };
    let forged =
        link_with("lookup/4821", json!({"tenant": "globex", "apv": {"sub": "human:mallory"}}));
    let claims = verifier().verify_at(&forged, &read(4821), NOW).expect("valid chain");
    assert_eq!(claims.get("tenant"), Some(&json!("acme")), "the root's claim, not the link's");
    assert_eq!(claims.get("apv").and_then(|a| a.get("sub")), Some(&json!("human:alice")));
    assert_eq!(claims.sub(), "agent:sub");
    for escape in ["lookup/../export", "lookup/./x", "lookup//x", "lookup/", "lookup/%2E%2E"] {
        let chain = link_with(escape, json!({}));
        let code = verifier().verify_at(&chain, &read(4821), NOW).map(|_| ()).map_err(|e| e.code());
        assert_eq!(code, Err("delegation_denied"), "{escape}");
    }
    assert!(verifier().verify_at(&link_with("lookup/4821/a", json!({})), &read(4821), NOW).is_ok());
}
