//! The verifier: every check of DESIGN.md, in DESIGN.md's order, one error code out.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::audit::{AuditEvent, AuditHook, AuditKind, AuditSink, Trace};
use crate::cache::VerifyCache;
use crate::claims::{audiences, bound_key, check_claims, Authenticated, VerifiedClaims};
use crate::delegation::{chain_claims, check_link, denied, split, MAX_DELEGATION_DEPTH};
use crate::dpop::{
    verify_proof_with, ProofKeyCache, ProofReplayStore, ProofRequest, DEFAULT_PROOF_MAX_AGE,
    MAX_PROOF_MAX_AGE,
};
use crate::error::{malformed, Error, ErrorKind};
use crate::keys::{KeySet, PublicKey};
use crate::policy::{action_allowed, resource_allowed};
use crate::revocation::filter::Revocation;
use crate::token::UnverifiedToken;
use alloc::sync::Arc;

/// Default largest accepted lifetime (`exp - min(iat, nbf)`), in seconds.
pub const DEFAULT_MAX_LIFETIME: u32 = 900;
/// The action a token must grant, on `tokens/<jti>`, to revoke another token (see
/// [`Verifier::authorize_revocation_at`]).
pub const REVOKE_ACTION: &str = "tokens:revoke";
/// Default tolerance for clock differences, in seconds.
pub const DEFAULT_CLOCK_SKEW: u32 = 30;
/// The largest clock skew a verifier accepts as configuration (5 minutes): beyond it, a
/// setting is a mistake or an attack that makes expired tokens valid again.
pub const MAX_CLOCK_SKEW: u32 = 300;
/// The largest `max_lifetime` a verifier accepts as configuration (one day): a task token
/// that lives longer is not a task token.
pub const MAX_LIFETIME_LIMIT: u32 = 86_400;

/// What the caller is about to do with the token: the action and the resource it must allow,
/// and the proof of possession it carried, if any.
///
/// Built with [`Request::new`] and the `with_*` methods (fields may be added).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Request<'a> {
    /// The action, matched exactly against one of the token's `scope` entries.
    pub action: &'a str,
    /// The resource, matched against the token's `res` patterns.
    pub resource: &'a str,
    /// The RFC 7638 thumbprint of a key the caller proved possession of by other means
    /// (mutual TLS, a proof it verified itself), if any.
    pub key_thumbprint: Option<&'a str>,
    /// The DPoP proof the request carried, with its method and URL: the verifier checks it
    /// (RFC 9449) and binds the token to its key.
    pub dpop: Option<ProofRequest<'a>>,
}

impl<'a> Request<'a> {
    /// A request for `action` on `resource`, with no proof of possession.
    pub fn new(action: &'a str, resource: &'a str) -> Self {
        Request { action, resource, key_thumbprint: None, dpop: None }
    }

    /// The same request, carrying the DPoP proof `dpop` (checked by the verifier, RFC 9449).
    pub fn with_proof(self, dpop: ProofRequest<'a>) -> Self {
        Request { dpop: Some(dpop), ..self }
    }

    /// The same request, with the RFC 7638 thumbprint of a key the caller proved possession
    /// of by other means (mutual TLS, a proof it verified itself). A bound token whose
    /// `cnf.jkt` differs is `binding_mismatch`; a request with both this and a DPoP proof is
    /// `malformed`.
    pub fn with_key_thumbprint(self, thumbprint: &'a str) -> Self {
        Request { key_thumbprint: Some(thumbprint), ..self }
    }
}

/// Verifies task tokens for one audience against the key sets of trusted issuers.
///
/// Checks, in order: size → structure → header → key lookup → signature → claim types →
/// issuer → audience → time → lifetime → revocation → binding → action → resource. The key is found by
/// `kid` among all trusted keys, never by the unverified `iss`.
#[derive(Clone, Debug)]
pub struct Verifier {
    audience: String,
    /// Every trusted key with its issuer's index. A short list, searched by `kid` (a map
    /// type more would cost the verify-only wasm its code, not buy speed).
    keys: Vec<(usize, PublicKey)>,
    issuers: Vec<String>,
    max_lifetime: i64,
    clock_skew: i64,
    proof_max_age: u32,
    require_binding: bool,
    /// The most links a delegation chain may have here (0: chains are refused).
    max_delegation_depth: u32,
    /// Revocation of a token of a trusted issuer needs no audience of this verifier.
    revoke_any_audience: bool,
    /// Reported as `decided_by` in audit events.
    name: String,
    /// Identifies this configuration of keys and audience, so a [`VerifyCache`] filled by
    /// one verifier is never used by another.
    id: u64,
    audit: Option<AuditHook>,
}

impl Verifier {
    /// A verifier for tokens addressed to `audience`, trusting no issuer yet.
    ///
    /// Rejects an empty audience (`malformed`).
    pub fn new(audience: &str) -> Result<Self, Error> {
        if audience.is_empty() {
            return Err(malformed("verifier audience is empty"));
        }
        Ok(Verifier {
            audience: audience.into(),
            keys: Vec::new(),
            issuers: Vec::new(),
            max_lifetime: i64::from(DEFAULT_MAX_LIFETIME),
            clock_skew: i64::from(DEFAULT_CLOCK_SKEW),
            proof_max_age: DEFAULT_PROOF_MAX_AGE,
            require_binding: false,
            max_delegation_depth: MAX_DELEGATION_DEPTH,
            revoke_any_audience: false,
            name: String::from("verifier"),
            audit: None,
            id: next_id(),
        })
    }

    /// Trusts `issuer`'s keys. Calling it again for the same issuer adds keys (rotation).
    ///
    /// Rejects an empty issuer name or a `kid` already trusted, for this or another issuer
    /// (`malformed`): a `kid` must name one key, or a token could pick its issuer.
    pub fn trust(mut self, issuer: &str, keys: &KeySet) -> Result<Self, Error> {
        if issuer.is_empty() {
            return Err(malformed("trusted issuer name is empty"));
        }
        let index = match self.issuers.iter().position(|i| i == issuer) {
            Some(index) => index,
            None => {
                self.issuers.push(issuer.into());
                self.issuers.len() - 1
            }
        };
        self.id = next_id();
        for key in keys.keys() {
            if self.key(key.kid()).is_some() {
                return Err(malformed("two trusted keys share a `kid`"));
            }
            // Build the key's table now, with the configuration, not on the first request.
            key.prepared();
            self.keys.push((index, key.clone()));
        }
        Ok(self)
    }

    /// Sets the largest accepted lifetime in seconds (default 900): `exp - iat`, or
    /// `exp - nbf` when `nbf` is earlier, so a token cannot widen its window with an `iat`
    /// in the future.
    ///
    /// Rejects more than [`MAX_LIFETIME_LIMIT`] (one day) as `malformed`.
    pub fn max_lifetime(mut self, seconds: u32) -> Result<Self, Error> {
        if seconds > MAX_LIFETIME_LIMIT {
            return Err(malformed("maximum lifetime is over one day (86400 s)"));
        }
        self.max_lifetime = i64::from(seconds);
        Ok(self)
    }

    /// Sets the tolerated clock difference in seconds (default 30).
    ///
    /// Rejects more than [`MAX_CLOCK_SKEW`] (300 s) as `malformed`.
    pub fn clock_skew(mut self, seconds: u32) -> Result<Self, Error> {
        if seconds > MAX_CLOCK_SKEW {
            return Err(malformed("clock skew is over 300 s"));
        }
        self.clock_skew = i64::from(seconds);
        Ok(self)
    }

    /// Sets how old a DPoP proof may be, by its `iat`, in seconds (default 60), besides the
    /// clock skew.
    ///
    /// Rejects more than [`MAX_PROOF_MAX_AGE`] (300 s) as `malformed`.
    pub fn proof_max_age(mut self, seconds: u32) -> Result<Self, Error> {
        if seconds > MAX_PROOF_MAX_AGE {
            return Err(malformed("proof max age is over 300 s"));
        }
        self.proof_max_age = seconds;
        Ok(self)
    }

    /// Requires every token to be key-bound (`cnf.jkt`); unbound ones are
    /// `binding_required`.
    pub fn require_binding(mut self, required: bool) -> Self {
        self.require_binding = required;
        self
    }

    /// Caps the links of a delegation chain (default and most: [`MAX_DELEGATION_DEPTH`], 4);
    /// 0 refuses every chain. A longer chain is `delegation_denied`.
    ///
    /// Rejects more than 4 (`malformed`).
    pub fn max_delegation_depth(mut self, links: u32) -> Result<Self, Error> {
        if links > MAX_DELEGATION_DEPTH {
            return Err(malformed("a delegation chain has at most 4 links"));
        }
        self.max_delegation_depth = links;
        Ok(self)
    }

    /// For an issuer's own authority (the token service): a token of a trusted issuer may be
    /// revoked — by itself, or as the target of an authorized caller — whatever its `aud`
    /// ([`Verifier::verify_for_revocation_at`], [`Verifier::authorize_revocation_at`]). The
    /// caller of a revocation of another token is still checked for this verifier's
    /// audience. Ending a genuine token early grants nothing, so no audience is needed for it.
    pub fn revoke_any_audience(mut self, allow: bool) -> Self {
        self.revoke_any_audience = allow;
        self
    }

    /// Names this verifier in audit events (`decided_by`; default `"verifier"`).
    pub fn named(mut self, name: &str) -> Self {
        self.name = name.into();
        self
    }

    /// Records every decision of this verifier (and its clones) to `sink`.
    pub fn with_audit(mut self, sink: Arc<dyn AuditSink + Send + Sync>) -> Self {
        self.audit = Some(AuditHook { sink });
        self
    }

    /// Verifies `token` for `request` at `now`, as [`Verifier::verify_at`], consulting what
    /// `context` holds: revocation data (after the lifetime check, a `jti` in the filter is
    /// `revoked` unless the exact check overrules the hit; missing or stale data is
    /// `stale_revocation` unless failing open), a per-call audit sink, a replay store for DPoP
    /// proofs (a request with a proof and no store is `invalid_proof`), prepared proof keys,
    /// and a [`VerifyCache`] of tokens this verifier already authenticated (their signature,
    /// claim types, issuer and audience are not checked again; time, lifetime, revocation,
    /// binding, action and resource are checked on every call).
    pub fn verify_with(
        &self,
        token: &str,
        request: &Request<'_>,
        now: i64,
        context: VerifyContext<'_>,
    ) -> Result<VerifiedClaims, Error> {
        // Runs the checks and, when anyone listens, records the decision.
        let VerifyContext { revocation, audit: sink, cache, proof_replay, proof_keys } = context;
        let enabled = sink.is_some() || self.audit.is_some();
        let mut trace = Trace::new(enabled);
        let checks = Checks { revocation, proof_replay, proof_keys };
        let result = if request.dpop.is_some() && request.key_thumbprint.is_some() {
            // Two answers to "which key did the caller prove?": refused, never one ignored.
            Err(malformed("give either a DPoP proof or a key thumbprint, not both"))
        } else {
            self.verify_inner(token, request, now, checks, &mut trace, cache)
        };
        self.record(trace, now, &result, Some(request), sink);
        result
    }

    /// Records one decision, when anyone listens: to `sink` (this call's) and to the
    /// verifier's own sink; with the request's action and resource if there is one.
    fn record(
        &self,
        trace: Trace,
        now: i64,
        result: &Result<VerifiedClaims, Error>,
        request: Option<&Request<'_>>,
        sink: Option<&dyn AuditSink>,
    ) {
        if !trace.enabled {
            return;
        }
        let outcome = result.as_ref().map_or_else(Error::code, |_| "ok");
        let mut event = trace.into_event(AuditKind::Verify, now, outcome, &self.name);
        if let Some(request) = request {
            event.action = Some(request.action.into());
            event.resource = Some(request.resource.into());
        }
        if let Some(sink) = sink {
            sink.record(&event);
        }
        if let Some(hook) = &self.audit {
            hook.sink.record(&event);
        }
    }

    /// Verifies `token` for `request` at the current system time, as
    /// [`Verifier::verify_at`] (std only, and not on `wasm32-unknown-unknown`, which has no
    /// clock: pass the time to [`Verifier::verify_at`] there).
    #[cfg(all(feature = "std", not(all(target_arch = "wasm32", target_os = "unknown"))))]
    pub fn verify(&self, token: &str, request: &Request<'_>) -> Result<VerifiedClaims, Error> {
        self.verify_at(token, request, crate::unix_now())
    }

    /// Verifies `token` for `request` at `now` (seconds since the epoch) and returns its
    /// claims, or the first failed check's error. Does not consult revocation data: use
    /// [`Verifier::verify_with`] and [`VerifyContext::with_revocation`] where tokens can be
    /// revoked. A bound token's DPoP proof is refused here (`invalid_proof`: no replay store).
    pub fn verify_at(
        &self,
        token: &str,
        request: &Request<'_>,
        now: i64,
    ) -> Result<VerifiedClaims, Error> {
        self.verify_with(token, request, now, VerifyContext::new())
    }

    /// Identifies this configuration of keys and audience (see [`VerifyCache`]).
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The name of the trusted issuer at `index`.
    pub(crate) fn issuer_name(&self, index: usize) -> &str {
        &self.issuers[index]
    }

    /// The trusted key named `kid`, with its issuer's index.
    fn key(&self, kid: &str) -> Option<&(usize, PublicKey)> {
        self.keys.iter().find(|(_, key)| key.kid() == kid)
    }

    /// The trusted issuer that owns every key of `keys` (same `kid`, same key), if exactly
    /// one does: the issuer revocation data signed by those keys may govern when no issuer
    /// was named for it. `None` for an empty set or keys of several or no issuers.
    pub fn issuer_owning(&self, keys: &KeySet) -> Option<&str> {
        let mut owner = None;
        for key in keys.keys() {
            // Keys compare by `kid` and point, and a `kid` names one trusted key (`trust`
            // refuses a second): at most one trusted key, so one issuer, matches.
            let (index, _) = self.keys.iter().find(|(_, known)| known == key)?;
            if owner.is_some_and(|o| o != *index) {
                return None;
            }
            owner = Some(*index);
        }
        owner.map(|index| self.issuers[index].as_str())
    }

    /// True if `issuer` is trusted.
    pub fn trusts(&self, issuer: &str) -> bool {
        self.issuers.iter().any(|i| i == issuer)
    }

    /// Verifies `token` as genuine and current — every check up to and including the
    /// lifetime, none after (no revocation, binding, action or resource).
    ///
    /// This is not an authorization to revoke: it checks no binding, so a key-bound token
    /// copied out of a log passes it. A revocation endpoint decides with
    /// [`Verifier::authorize_revocation_at`], which requires the bound key's DPoP proof. Use
    /// this to learn whether a token is live (a scanner, an operator's own revocation).
    pub fn verify_for_revocation_at(&self, token: &str, now: i64) -> Result<VerifiedClaims, Error> {
        let mut trace = Trace::new(self.audit.is_some());
        let result = self
            .authenticate(token, now, &mut trace)
            .map(|g| VerifiedClaims::new(g.authenticated, false));
        self.record(trace, now, &result, None, None);
        result
    }

    /// Authorizes a revocation request and returns the claims of the token to revoke (its
    /// `jti` and `exp` are what an authority stores).
    ///
    /// `dpop` is the DPoP proof the revocation request carried, with that request's method
    /// and URL (the revocation endpoint's own, e.g. `POST <service>/revocation/revoke`).
    ///
    /// With no `target`, `bearer` revokes itself: it must be genuine and current (see
    /// [`Verifier::verify_for_revocation_at`]), and if it is key-bound (`cnf.jkt`) it must
    /// prove possession of that key exactly as
    /// [`Verifier::verify_with`] requires for any request: without a proof
    /// `binding_required`, a proof by another key `binding_mismatch`, a proof that does not
    /// verify (signature, `htm`, `htu`, `iat`, `ath`, nonce) `invalid_proof`, one already
    /// used `proof_replayed`; the proof is recorded in `context.proof_replay` only once it
    /// is valid, and without a store it is refused (`invalid_proof`). An unbound token needs
    /// no proof, and one sent with a proof is `binding_mismatch` (RFC 9449 §7.1). A copied
    /// bound token therefore cannot end its holder's task. No revocation data is consulted
    /// (revoking a revoked token again is harmless) and this verifier's
    /// [`Verifier::require_binding`] does not apply (an unbound token may always end its task).
    ///
    /// With a `target`, the caller is authorized **first**: `bearer` must pass every check,
    /// revocation in `context` and binding with `dpop` included, for action
    /// [`REVOKE_ACTION`] on resource `tokens/<jti>`, the `jti` read from `target` without
    /// trusting it; only then is `target` verified as genuine and current (the target needs
    /// no proof: the caller's grant is the authorization). So a caller who may not revoke it
    /// learns nothing about the target: the same error for a genuine token, a forged one and
    /// garbage.
    ///
    /// A delegation chain is neither the caller nor the target (`delegation_denied`): a
    /// link's `jti` is chosen by its signer and could name any other token's.
    pub fn authorize_revocation_at(
        &self,
        bearer: &str,
        target: Option<&str>,
        dpop: Option<ProofRequest<'_>>,
        now: i64,
        context: VerifyContext<'_>,
    ) -> Result<VerifiedClaims, Error> {
        // A link's `jti` is chosen by whoever signed the link, so it could name any other
        // token's: an authority storing it would revoke that token. Chains are revoked
        // through their root (which ends every link made from it) or end at their `exp`.
        if bearer.contains('~') || target.is_some_and(|t| t.contains('~')) {
            let refused = Err(denied(
                "a delegation chain neither revokes nor is revoked by its own `jti`: revoke its \
                 root, or let it expire",
            ));
            if context.audit.is_some() || self.audit.is_some() {
                let resource = revocation_resource(target.unwrap_or(bearer));
                let request = Request::new(REVOKE_ACTION, &resource);
                self.record(Trace::new(true), now, &refused, Some(&request), context.audit);
            }
            return refused;
        }
        let Some(target) = target else {
            return self.revoke_self(bearer, dpop, now, context);
        };
        let resource = revocation_resource(target);
        let request = Request { dpop, ..Request::new(REVOKE_ACTION, &resource) };
        // The call's own listener gets one event for the whole decision: the caller's, with
        // the target's refusal as its outcome when the caller passed and the target did not
        // (the verifier's own hook sees both verifications).
        let sink = context.audit;
        let caller = Capture::default();
        let context = VerifyContext { audit: sink.map(|_| &caller as &dyn AuditSink), ..context };
        let result = self
            .verify_with(bearer, &request, now, context)
            .and_then(|_| self.verify_for_revocation_at(target, now));
        if let (Some(sink), Some(mut event)) = (sink, caller.0.borrow_mut().take()) {
            if let Err(error) = &result {
                event.outcome = error.code();
            }
            sink.record(&event);
        }
        result
    }

    /// A token's revocation of itself (see [`Verifier::authorize_revocation_at`]): genuine,
    /// current, and the bound key proved; one audit event for the decision.
    fn revoke_self(
        &self,
        token: &str,
        dpop: Option<ProofRequest<'_>>,
        now: i64,
        context: VerifyContext<'_>,
    ) -> Result<VerifiedClaims, Error> {
        let VerifyContext { audit: sink, proof_replay, proof_keys, .. } = context;
        let enabled = sink.is_some() || self.audit.is_some();
        let mut trace = Trace::new(enabled);
        let checks = Checks { revocation: None, proof_replay, proof_keys };
        let result = self.authenticate(token, now, &mut trace).and_then(|genuine| {
            // Action and resource are not checked: a token may end its own task, whatever
            // it was scoped for. Only the binding is.
            let request = Request { dpop, ..Request::new("", "") };
            self.check_proof(bound_key(&genuine.authenticated.map), token, &request, now, checks)?;
            Ok(VerifiedClaims::new(genuine.authenticated, false))
        });
        if enabled {
            let resource = revocation_resource(token);
            self.record(trace, now, &result, Some(&Request::new(REVOKE_ACTION, &resource)), sink);
        }
        result
    }

    /// Size → … → audience, then time → lifetime: the checks that make a token genuine and
    /// current.
    fn authenticate(&self, token: &str, now: i64, trace: &mut Trace) -> Result<Genuine, Error> {
        if token.contains('~') {
            let audience = !self.revoke_any_audience;
            return self.chain(token, now, audience, None, trace).map(|(genuine, _)| genuine);
        }
        let genuine = self.genuine_for(token, trace, !self.revoke_any_audience)?;
        self.current(&genuine, now)?;
        Ok(genuine)
    }

    /// A delegation chain (DESIGN.md, "Delegation"), genuine and current: the root passes
    /// every check up to revocation, then each link its own (`crate::delegation`), each
    /// element's `jti` against `revocation`; the claims are the last link's with the root's
    /// `iss` and an `act` claim, and must name this verifier's audience if `audience`.
    /// Returns them with whether stale revocation data was ignored.
    fn chain(
        &self,
        chain: &str,
        now: i64,
        audience: bool,
        revocation: Option<&Revocation<'_>>,
        trace: &mut Trace,
    ) -> Result<(Genuine, bool), Error> {
        let elements = split(chain)?;
        let (root_text, links) = elements.split_first().ok_or_else(|| malformed("empty"))?;
        if links.len() > self.max_delegation_depth as usize {
            return Err(if self.max_delegation_depth == 0 {
                denied("this verifier accepts no delegation chains")
            } else {
                denied("the chain has more links than this verifier accepts")
            });
        }
        let root = self.genuine_for(root_text, trace, audience)?;
        self.current(&root, now)?;
        let issuer = self.issuers[root.issuer].as_str();
        let root_claims = &root.authenticated.map;
        let mut stale_ignored = self.revoked(root_claims, root.issuer, now, revocation)?;
        let mut subs: Vec<String> = Vec::with_capacity(links.len());
        let mut prev_text = *root_text;
        let mut last: Option<crate::delegation::CheckedLink> = None;
        let window = (self.max_lifetime, self.clock_skew);
        for link in links {
            let prev = last.as_ref().map_or(root_claims, |l| &l.claims);
            let checked = check_link(prev_text, prev, link, now, window)?;
            stale_ignored |= self.revoked(&checked.claims, root.issuer, now, revocation)?;
            subs.push(prev.get("sub").and_then(|v| v.as_str()).unwrap_or_default().into());
            prev_text = link;
            last = Some(checked);
        }
        // `links` is not empty: `chain` is called for tokens holding a `~`.
        let last = last.ok_or_else(|| malformed("a delegation chain has no link"))?;
        let times = last.times;
        let claims = chain_claims(root_claims, last.claims, issuer, &subs);
        trace.claims(&claims);
        if audience && !audiences(claims.get("aud")).any(|aud| aud == self.audience) {
            return Err(Error::new(
                ErrorKind::WrongAudience,
                "the last link's `aud` does not include this verifier's audience",
            ));
        }
        let json = serde_json::to_string(&claims).map_err(|_| malformed("chain claims"))?;
        let kid = root.authenticated.kid.clone();
        let authenticated = Arc::new(Authenticated { map: claims, json, kid });
        Ok((Genuine { authenticated, issuer: root.issuer, times }, stale_ignored))
    }

    /// Revocation of one token or chain element (its `jti`, for the issuer at `issuer`):
    /// `revoked`, or `stale_revocation` unless fail-open; `Ok(true)` when stale data was
    /// ignored. Nothing to check without revocation data.
    fn revoked(
        &self,
        claims: &serde_json::Map<String, serde_json::Value>,
        issuer: usize,
        now: i64,
        revocation: Option<&Revocation<'_>>,
    ) -> Result<bool, Error> {
        let Some(revocation) = revocation else {
            return Ok(false);
        };
        let jti = claims.get("jti").and_then(|v| v.as_str()).unwrap_or_default();
        revocation.check(&self.issuers[issuer], jti, now)
    }

    /// Size → structure → header → key → signature → claim types → issuer → audience: what
    /// does not depend on the time, and so may be cached.
    pub(crate) fn genuine(&self, token: &str, trace: &mut Trace) -> Result<Genuine, Error> {
        self.genuine_for(token, trace, true)
    }

    /// [`Verifier::genuine`], with the audience checked only if `audience` is true.
    fn genuine_for(
        &self,
        token: &str,
        trace: &mut Trace,
        audience: bool,
    ) -> Result<Genuine, Error> {
        let parsed = UnverifiedToken::parse(token)?;
        let kid = parsed.checked_kid()?;
        let (issuer_index, key) = self
            .key(kid)
            .ok_or(Error::new(ErrorKind::UnknownKey, "no trusted key has the token's `kid`"))?;
        if trace.enabled {
            trace.kid = Some(key.kid().into());
            trace.issuer = Some(self.issuers[*issuer_index].clone());
        }
        // Strict Ed25519 (`verify_strict` semantics) through the key's precomputed table.
        let genuine = parsed.signature().is_some_and(|signature| {
            key.prepared().verify(parsed.signing_input().as_bytes(), signature)
        });
        if !genuine {
            return Err(Error::new(ErrorKind::BadSignature, "signature verification failed"));
        }

        let (claims, json) = parsed.into_claims();
        trace.claims(&claims);
        let times = check_claims(&claims)?;
        let issuer = &self.issuers[*issuer_index];
        if claims.get("iss").and_then(|v| v.as_str()) != Some(issuer.as_str()) {
            return Err(Error::new(
                ErrorKind::UntrustedIssuer,
                "`iss` is not the issuer that owns the signing key",
            ));
        }
        if audience && !audiences(claims.get("aud")).any(|aud| aud == self.audience) {
            return Err(Error::new(
                ErrorKind::WrongAudience,
                "`aud` does not include this verifier's audience",
            ));
        }
        let authenticated = Arc::new(Authenticated { map: claims, json, kid: key.kid().into() });
        Ok(Genuine { authenticated, issuer: *issuer_index, times })
    }

    /// Time (`nbf`, `exp`, with the clock skew) → lifetime.
    fn current(&self, genuine: &Genuine, now: i64) -> Result<(), Error> {
        let times = genuine.times;
        if now < times.nbf.saturating_sub(self.clock_skew) {
            let wait = times.nbf.saturating_sub(now);
            return Err(Error::new(
                ErrorKind::NotYetValid,
                format!("token is not valid for another {wait} s"),
            ));
        }
        if now >= times.exp.saturating_add(self.clock_skew) {
            let ago = now.saturating_sub(times.exp);
            return Err(Error::new(ErrorKind::Expired, format!("token expired {ago} s ago")));
        }
        // The window the token is usable in starts at the earlier of `iat` and `nbf`.
        let lifetime = times.exp.saturating_sub(times.iat.min(times.nbf));
        if lifetime > self.max_lifetime {
            return Err(Error::new(
                ErrorKind::LifetimeTooLong,
                format!("token lifetime {lifetime} s exceeds the maximum {} s", self.max_lifetime),
            ));
        }
        Ok(())
    }

    fn verify_inner(
        &self,
        token: &str,
        request: &Request<'_>,
        now: i64,
        checks: Checks<'_>,
        trace: &mut Trace,
        cache: Option<&mut VerifyCache>,
    ) -> Result<VerifiedClaims, Error> {
        let (genuine, stale_ignored) = if token.contains('~') {
            self.chain(token, now, true, checks.revocation, trace)?
        } else {
            let genuine = match cache {
                Some(cache) => cache.genuine(self, token, trace)?,
                None => self.genuine(token, trace)?,
            };
            self.current(&genuine, now)?;
            let map = &genuine.authenticated.map;
            let stale_ignored = self.revoked(map, genuine.issuer, now, checks.revocation)?;
            (genuine, stale_ignored)
        };
        let claims = &genuine.authenticated.map;
        self.check_binding(claims, token, request, now, checks)?;
        let scope = claims.get("scope").and_then(|v| v.as_str()).unwrap_or_default();
        if !action_allowed(scope, request.action) {
            return Err(Error::new(
                ErrorKind::ActionDenied,
                "the requested action is not in the token's scope",
            ));
        }
        let patterns = claims.get("res").and_then(|v| v.as_array());
        if !resource_allowed(
            patterns.into_iter().flatten().filter_map(|v| v.as_str()),
            request.resource,
        ) {
            return Err(Error::new(
                ErrorKind::ResourceDenied,
                "the requested resource is not covered by the token's `res`",
            ));
        }
        Ok(VerifiedClaims::new(genuine.authenticated, stale_ignored))
    }
}

/// What a verification may consult besides the token and the request (see
/// [`Verifier::verify_with`]); nothing by default.
///
/// Built with [`VerifyContext::new`] and the `with_*` methods (fields may be added).
#[derive(Default)]
#[non_exhaustive]
pub struct VerifyContext<'a> {
    /// Revocation data: a hit is `revoked`, missing or stale data `stale_revocation`.
    pub revocation: Option<&'a Revocation<'a>>,
    /// A sink for this call's audit event (besides the verifier's own).
    pub audit: Option<&'a dyn AuditSink>,
    /// Tokens already authenticated by this verifier.
    pub cache: Option<&'a mut VerifyCache>,
    /// Where accepted DPoP proofs are remembered. A request with a proof and no store is
    /// refused (`invalid_proof`): without one, a proof could be replayed.
    pub proof_replay: Option<&'a dyn ProofReplayStore>,
    /// Prepared tables of bound tokens' Ed25519 proof keys, for speed (same verdicts).
    pub proof_keys: Option<&'a ProofKeyCache>,
}

impl<'a> VerifyContext<'a> {
    /// A context that consults nothing: no revocation data, no per-call audit sink, no
    /// cache, no replay store (so a request with a DPoP proof is `invalid_proof`).
    pub fn new() -> Self {
        VerifyContext::default()
    }

    /// Consults `revocation`: a hit is `revoked`, missing or stale data `stale_revocation`.
    pub fn with_revocation(self, revocation: &'a Revocation<'a>) -> Self {
        VerifyContext { revocation: Some(revocation), ..self }
    }

    /// Records this call's audit event to `sink` too (besides the verifier's own sink).
    pub fn with_audit(self, sink: &'a dyn AuditSink) -> Self {
        VerifyContext { audit: Some(sink), ..self }
    }

    /// Uses and fills `cache` of tokens this verifier already authenticated.
    pub fn with_cache(self, cache: &'a mut VerifyCache) -> Self {
        VerifyContext { cache: Some(cache), ..self }
    }

    /// Remembers accepted DPoP proofs in `store`, refusing one seen before
    /// (`proof_replayed`).
    pub fn with_proof_replay(self, store: &'a dyn ProofReplayStore) -> Self {
        VerifyContext { proof_replay: Some(store), ..self }
    }

    /// Uses `keys`' prepared tables of bound tokens' proof keys (faster, same verdicts).
    pub fn with_proof_keys(self, keys: &'a ProofKeyCache) -> Self {
        VerifyContext { proof_keys: Some(keys), ..self }
    }
}

/// The checks of [`VerifyContext`] that the verification itself consults.
#[derive(Clone, Copy)]
struct Checks<'a> {
    revocation: Option<&'a Revocation<'a>>,
    proof_replay: Option<&'a dyn ProofReplayStore>,
    proof_keys: Option<&'a ProofKeyCache>,
}

/// A token whose signature, claim types, issuer and audience hold.
#[derive(Clone, Debug)]
pub(crate) struct Genuine {
    pub(crate) authenticated: Arc<Authenticated>,
    /// The index of its issuer in the verifier's list.
    pub(crate) issuer: usize,
    times: crate::claims::Times,
}

/// A fresh identity for a verifier configuration.
fn next_id() -> u64 {
    static NEXT: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, core::sync::atomic::Ordering::Relaxed)
}

impl Verifier {
    /// Proof of possession, in DESIGN.md's order: a DPoP proof is verified (structure,
    /// header, signature, `htm`, `htu`, `iat`, `ath`), then its key's thumbprint must be the
    /// token's `cnf.jkt`, then its `jti` must be new to the replay store. A proof with an
    /// unbound token is `binding_mismatch`. Without a proof, a bound token needs the caller's
    /// own `key_thumbprint`, and the same one.
    fn check_binding(
        &self,
        claims: &serde_json::Map<String, serde_json::Value>,
        token: &str,
        request: &Request<'_>,
        now: i64,
        checks: Checks<'_>,
    ) -> Result<(), Error> {
        let bound = bound_key(claims);
        if bound.is_none() && self.require_binding {
            return Err(Error::new(
                ErrorKind::BindingRequired,
                "this verifier accepts only key-bound tokens",
            ));
        }
        self.check_proof(bound, token, request, now, checks)
    }

    /// [`Verifier::check_binding`] without the verifier's `require_binding`: a bound token
    /// needs its key proved (a DPoP proof, or the caller's own `key_thumbprint`); a proof
    /// with an unbound token is `binding_mismatch`; an unbound token without one passes.
    fn check_proof(
        &self,
        bound: Option<&str>,
        token: &str,
        request: &Request<'_>,
        now: i64,
        checks: Checks<'_>,
    ) -> Result<(), Error> {
        let presented = match &request.dpop {
            // RFC 9449 §7.1: a proof is for a bound token; with an unbound one it proves
            // nothing, and it is not recorded (no one can fill the replay store with them).
            Some(_) if bound.is_none() => return Err(mismatch()),
            Some(dpop) => {
                let skew = u32::try_from(self.clock_skew).unwrap_or(MAX_CLOCK_SKEW);
                let window = (self.proof_max_age, skew);
                let fast = checks.proof_keys.zip(bound);
                let proof = verify_proof_with(dpop, Some(token), now, window, fast)?;
                if bound.is_some_and(|jkt| jkt != proof.jkt) {
                    return Err(mismatch());
                }
                let store = checks.proof_replay.ok_or_else(|| {
                    Error::new(ErrorKind::InvalidProof, "no replay store is configured for proofs")
                })?;
                let expires = proof
                    .iat
                    .saturating_add(i64::from(self.proof_max_age))
                    .saturating_add(self.clock_skew);
                if !store.record(&proof.jti, expires, now) {
                    return Err(Error::new(
                        ErrorKind::ProofReplayed,
                        "the proof's `jti` was already used",
                    ));
                }
                return Ok(());
            }
            None => request.key_thumbprint,
        };
        match (bound, presented) {
            (None, _) => Ok(()),
            (Some(_), None) => Err(Error::new(
                ErrorKind::BindingRequired,
                "the token is key-bound and the request proved no key",
            )),
            (Some(jkt), Some(presented)) if jkt == presented => Ok(()),
            (Some(_), Some(_)) => Err(mismatch()),
        }
    }
}

fn mismatch() -> Error {
    Error::new(
        ErrorKind::BindingMismatch,
        "the token is bound to a different key than the one presented",
    )
}

/// The resource a revocation of `token` is about, `tokens/<jti>`, its `jti` read without
/// trust (`-` when there is none): what the caller's grant must cover, and the audit
/// event's resource.
fn revocation_resource(token: &str) -> String {
    let root = token.split('~').next().unwrap_or_default();
    let unverified = UnverifiedToken::parse(root).ok();
    let jti = unverified.as_ref().and_then(|t| t.claims().get("jti")).and_then(|v| v.as_str());
    format!("tokens/{}", jti.unwrap_or("-"))
}

/// A sink that keeps the one event of a verification, to be forwarded once the decision it
/// is part of is complete.
#[derive(Default)]
struct Capture(core::cell::RefCell<Option<AuditEvent>>);

impl AuditSink for Capture {
    fn record(&self, event: &AuditEvent) {
        *self.0.borrow_mut() = Some(event.clone());
    }
}
