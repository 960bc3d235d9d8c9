//! Revocation of a key-bound token (DESIGN.md, "Proof of possession"): a bound token, or a
//! delegation chain whose last element is bound, revokes itself only with a DPoP proof by
//! its key for the revocation request, as any other request; so does the caller of a
//! revocation of another token. A copy of a bound token out of a log cannot end its
//! holder's task. Unbound tokens revoke themselves as before, with no proof.

use std::cell::RefCell;

use tasktoken::{
    delegate, Issuer, KeySet, LinkRequest, MintRequest, ProofReplayCache, ProofReplayStore,
    ProofRequest, ProofSigningKey, SigningKey, Verifier, VerifyContext,
};

const NOW: i64 = 1_767_225_600;
const ISS: &str = "https://auth.example";
const AUD: &str = "https://auth.example";
const URL: &str = "https://auth.example/revocation/revoke";

fn issuer_key() -> SigningKey {
    SigningKey::from_seed("k1", &[7; 32]).expect("kid")
}

fn verifier() -> Verifier {
    let keys = KeySet::from_keys([issuer_key().public_key()]).expect("keys");
    Verifier::new(AUD).expect("aud").trust(ISS, &keys).expect("trust")
}

fn mint(scope: &str, res: &str, key: Option<&ProofSigningKey>, dlg: u32) -> String {
    let mut request = MintRequest::new("agent:lookup-bot", "lookup-4821")
        .with_aud([AUD])
        .with_scope(scope)
        .with_res([res])
        .with_ttl(300)
        .with_dlg(dlg);
    request.cnf_jkt = key.map(ProofSigningKey::thumbprint);
    Issuer::new(ISS, issuer_key())
        .expect("iss")
        .max_delegation(4)
        .expect("depth")
        .mint_at(&request, NOW)
        .expect("mint")
}

fn key() -> ProofSigningKey {
    ProofSigningKey::generate("EdDSA").expect("key")
}

/// A proof by `key` for `method` on `url`, for `token`.
fn proof(key: &ProofSigningKey, method: &str, url: &str, token: &str) -> String {
    key.proof(method, url, Some(token), None, NOW).expect("proof")
}

fn post(proof: &str) -> Option<ProofRequest<'_>> {
    Some(ProofRequest::new(proof, "POST", URL))
}

/// A replay store that remembers what it was asked to record.
#[derive(Default)]
struct Recording {
    inner: RefCell<Vec<String>>,
}

impl ProofReplayStore for Recording {
    fn record(&self, jti: &str, _expires: i64, _now: i64) -> bool {
        let mut seen = self.inner.borrow_mut();
        if seen.iter().any(|j| j == jti) {
            return false;
        }
        seen.push(jti.into());
        true
    }
}

fn with(store: &dyn ProofReplayStore) -> VerifyContext<'_> {
    VerifyContext::new().with_proof_replay(store)
}

/// The code of a self-revocation of `token` with `dpop`, against `store`.
fn revoke_self(
    token: &str,
    dpop: Option<ProofRequest<'_>>,
    store: &dyn ProofReplayStore,
) -> &'static str {
    match verifier().authorize_revocation_at(token, None, dpop, NOW, with(store)) {
        Ok(_) => "ok",
        Err(e) => e.code(),
    }
}

#[test]
fn a_bound_token_revokes_itself_only_with_a_proof_by_its_key() {
    let (holder, thief) = (key(), key());
    let token = mint("customers:read", "customers/4821", Some(&holder), 0);
    let store = Recording::default();
    // Copied out of a log and sent as Bearer: refused. This passed before the fix.
    assert_eq!(revoke_self(&token, None, &store), "binding_required");
    // A proof by another key, valid in every other respect: refused, and not recorded.
    let stolen = proof(&thief, "POST", URL, &token);
    assert_eq!(revoke_self(&token, post(&stolen), &store), "binding_mismatch");
    assert!(store.inner.borrow().is_empty(), "a refused proof is not recorded");
    // Proofs that do not verify: another URL, another method, another token, garbage.
    let elsewhere = proof(&holder, "POST", "https://api.example/revocation/revoke", &token);
    assert_eq!(revoke_self(&token, post(&elsewhere), &store), "invalid_proof");
    let get = proof(&holder, "GET", URL, &token);
    assert_eq!(revoke_self(&token, post(&get), &store), "invalid_proof");
    let other = mint("customers:read", "customers/4821", Some(&holder), 0);
    let for_other = proof(&holder, "POST", URL, &other);
    assert_eq!(revoke_self(&token, post(&for_other), &store), "invalid_proof");
    assert_eq!(revoke_self(&token, post("a.b.c"), &store), "invalid_proof");
    assert!(store.inner.borrow().is_empty(), "no invalid proof is recorded");
    // The holder's proof: the token's own claims, the proof recorded once.
    let good = proof(&holder, "POST", URL, &token);
    let claims = verifier()
        .authorize_revocation_at(&token, None, post(&good), NOW, with(&store))
        .expect("the holder revokes its token");
    assert_eq!(claims.sub(), "agent:lookup-bot");
    assert_eq!(store.inner.borrow().len(), 1);
    assert_eq!(revoke_self(&token, post(&good), &store), "proof_replayed");
}

#[test]
fn a_proof_needs_a_replay_store() {
    let holder = key();
    let token = mint("customers:read", "customers/4821", Some(&holder), 0);
    let good = proof(&holder, "POST", URL, &token);
    let result =
        verifier().authorize_revocation_at(&token, None, post(&good), NOW, VerifyContext::new());
    assert_eq!(result.map(|_| "ok").unwrap_or_else(|e| e.code()), "invalid_proof");
}

#[test]
fn an_unbound_token_revokes_itself_as_before() {
    let token = mint("customers:read", "customers/4821", None, 0);
    let store = ProofReplayCache::new(16);
    assert_eq!(revoke_self(&token, None, &store), "ok");
    // Even where the verifier requires binding for requests: ending a task needs none.
    let strict = verifier().require_binding(true);
    assert!(strict.authorize_revocation_at(&token, None, None, NOW, with(&store)).is_ok());
    // A proof with an unbound token proves nothing (RFC 9449 §7.1).
    let holder = key();
    let needless = proof(&holder, "POST", URL, &token);
    assert_eq!(revoke_self(&token, post(&needless), &store), "binding_mismatch");
}

/// A link's `jti` is chosen by whoever signed the link: a chain that could revoke itself could
/// write any other token's `jti` into the revocation data. Chains are ended through their
/// root (every link made from it falls) or by their `exp` (docs/delegation.md).
#[test]
fn a_chain_neither_revokes_itself_nor_another_token_nor_is_a_target() {
    let (orchestrator, sub) = (key(), key());
    let root = mint("customers:read", "customers/*", Some(&orchestrator), 1);
    let victim = mint("customers:read", "customers/4822", None, 0);
    let victim_jti = tasktoken::UnverifiedToken::parse(&victim).expect("parse").claims()["jti"]
        .as_str()
        .expect("jti")
        .to_owned();
    let link = LinkRequest::new("agent:sub-4821", "lookup-4821/one")
        .with_aud([AUD])
        .with_scope("customers:read")
        .with_res(["customers/4821"])
        .with_ttl(120)
        .with_cnf_jkt(sub.thumbprint());
    let chain = delegate(&root, &orchestrator, &link, NOW).expect("chain");
    let store = Recording::default();
    let good = proof(&sub, "POST", URL, &chain);
    assert_eq!(revoke_self(&chain, post(&good), &store), "delegation_denied");
    assert_eq!(revoke_self(&chain, None, &store), "delegation_denied");
    let admin = mint("tokens:revoke", "tokens/*", None, 0);
    let as_target =
        verifier().authorize_revocation_at(&admin, Some(&chain), None, NOW, with(&store));
    assert_eq!(as_target.map(|_| ()).map_err(|e| e.code()), Err("delegation_denied"));
    // The root, the orchestrator's own token, still ends itself (and with it the chain).
    let root_proof = proof(&orchestrator, "POST", URL, &root);
    assert_eq!(revoke_self(&root, post(&root_proof), &store), "ok");
    assert!(!victim_jti.is_empty(), "no chain could have named it");
}

#[test]
fn a_bound_caller_revokes_another_token_only_with_its_proof() {
    let (admin_key, thief) = (key(), key());
    let admin = mint("tokens:revoke", "tokens/*", Some(&admin_key), 0);
    let target = mint("customers:read", "customers/4821", None, 0);
    let store = Recording::default();
    let code = |dpop: Option<ProofRequest<'_>>, target: &str| {
        verifier()
            .authorize_revocation_at(&admin, Some(target), dpop, NOW, with(&store))
            .map(|c| c.jti().to_owned())
            .map_err(|e| e.code())
    };
    assert_eq!(code(None, &target), Err("binding_required"));
    let stolen = proof(&thief, "POST", URL, &admin);
    assert_eq!(code(post(&stolen), &target), Err("binding_mismatch"));
    // The caller fails first, whatever the target: garbage gives the same answer.
    assert_eq!(code(None, "garbage"), Err("binding_required"));
    let good = proof(&admin_key, "POST", URL, &admin);
    let revoked = code(post(&good), &target).expect("authorized");
    let own = verifier().verify_for_revocation_at(&target, NOW).expect("genuine");
    assert_eq!(revoked, own.jti());
    assert_eq!(code(post(&good), &target), Err("proof_replayed"));
}
