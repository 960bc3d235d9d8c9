//! The verify-only module (`tasktoken/verify`): verifiers, revocation filters, replicas.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use serde::Deserialize;
use serde_json::{Map, Value};
use tasktoken::{
    AuditSink, Error, ErrorKind, KeySet, Offered, ProofKeyCache, ProofReplayCache, ProofRequest,
    PublicKey, Publication, Request, Revocation, RevocationFilter, RevocationReplica,
    VerifiedClaims, Verifier, VerifyCache, VerifyContext, MAX_REVOCATION_GRACE,
};
use wasm_bindgen::prelude::*;

use crate::{options, seconds, Capture, Decisions, Failure, JsResult};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct VerifierOptions {
    issuers: Map<String, Value>,
    audience: String,
    max_lifetime: Option<u32>,
    clock_skew: Option<u32>,
    proof_max_age: Option<u32>,
    require_binding: Option<bool>,
    max_delegation_depth: Option<u32>,
    name: Option<String>,
    cache_size: Option<usize>,
}

/// Verifies task tokens; the JS `Verifier` wraps it.
#[wasm_bindgen]
pub struct CoreVerifier {
    verifier: Verifier,
    /// Where revocation data comes from and how it is treated, set once (`useReplica`,
    /// `useFilter`); every verification consults it.
    revocation: Option<Revocable>,
    /// Whether the last verification accepted stale data (fail-open).
    stale_ignored: Cell<bool>,
    decisions: Decisions,
    cache: RefCell<VerifyCache>,
    /// The DPoP proofs this verifier accepted, so that none is accepted twice.
    proofs: ProofReplayCache,
    /// Prepared tables of the proof keys its bound tokens come with.
    proof_keys: ProofKeyCache,
    /// Verifications of this verifier in progress: an `exactCheck` callback may verify again
    /// with it, up to `MAX_NESTING` deep; deeper would exhaust the wasm stack, and a trap
    /// would leave the shared revocation source borrowed for good.
    depth: Cell<u8>,
}

/// How deep verifications of one verifier may nest through callbacks.
const MAX_NESTING: u8 = 4;

/// The most DPoP proofs one verifier remembers (each for its window, 60 s by default).
const PROOF_REPLAY_CAPACITY: usize = 100_000;

/// A verifier's revocation settings: the source, shared with the JS object that refreshes
/// it, and the policy.
struct Revocable {
    source: Source,
    grace: u32,
    fail_open_when_stale: bool,
    exact_check: Option<js_sys::Function>,
}

/// A revocation source, shared by the JS replica or filter and every verifier using it.
enum Source {
    Replica(Rc<RefCell<RevocationReplica>>),
    Filter(Rc<RefCell<RevocationFilter>>),
}

/// The DPoP proof of a call as the package hands it over (JSON text): the `DPoP` header,
/// the request's method and URL, and the server nonce if it requires one.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProofArgs {
    proof: String,
    method: String,
    url: String,
    nonce: Option<String>,
}

impl ProofArgs {
    /// Reads `{ proof, method, url, nonce? }` strictly (`malformed` otherwise), or nothing.
    fn read(json: Option<&str>) -> JsResult<Option<ProofArgs>> {
        json.map(|json| options(json, "dpop")).transpose()
    }

    fn request(&self) -> ProofRequest<'_> {
        let mut request = ProofRequest::new(&self.proof, &self.method, &self.url);
        request.nonce = self.nonce.as_deref();
        request
    }
}

/// Tokens a JS `Verifier` remembers as authenticated, unless `cacheSize` says otherwise.
const DEFAULT_CACHE_SIZE: usize = 1024;
/// The most tokens a `cacheSize` may ask for (each entry holds a token of at most 8 KiB).
const MAX_CACHE_SIZE: usize = 100_000;

#[wasm_bindgen]
impl CoreVerifier {
    /// `{ issuers: { [iss]: { keys: [publicJwk, ...] } }, audience, maxLifetime?,
    /// clockSkew?, proofMaxAge?, requireBinding?, maxDelegationDepth?, name?, cacheSize? }`
    /// as JSON text.
    #[wasm_bindgen(constructor)]
    pub fn new(json: &str) -> JsResult<CoreVerifier> {
        let o: VerifierOptions = options(json, "Verifier options")?;
        let mut verifier =
            Verifier::new(&o.audience)?.require_binding(o.require_binding.unwrap_or(false));
        if let Some(name) = &o.name {
            verifier = verifier.named(name);
        }
        if let Some(seconds) = o.max_lifetime {
            verifier = verifier.max_lifetime(seconds)?;
        }
        if let Some(seconds) = o.clock_skew {
            verifier = verifier.clock_skew(seconds)?;
        }
        if let Some(seconds) = o.proof_max_age {
            verifier = verifier.proof_max_age(seconds)?;
        }
        if let Some(links) = o.max_delegation_depth {
            verifier = verifier.max_delegation_depth(links)?;
        }
        if o.issuers.is_empty() {
            return Err(Error::new(ErrorKind::Malformed, "verifier trusts no issuer").into());
        }
        for (iss, jwks) in &o.issuers {
            let jwks = jwks.as_object().ok_or_else(|| {
                Error::new(
                    ErrorKind::Malformed,
                    "invalid Verifier options: an issuer's keys must be a JWKS",
                )
            })?;
            verifier = verifier.trust(iss, &shared(KeySet::from_jwks_object(jwks)?)?)?;
        }
        let cache_size = o.cache_size.unwrap_or(DEFAULT_CACHE_SIZE);
        if cache_size > MAX_CACHE_SIZE {
            return Err(Error::new(ErrorKind::Malformed, "cacheSize is over 100000").into());
        }
        // Tokens already authenticated skip the signature; time, revocation, action and
        // resource are checked on every call (see `VerifyCache` in the core).
        Ok(CoreVerifier {
            verifier,
            revocation: None,
            stale_ignored: Cell::new(false),
            decisions: Decisions::default(),
            cache: RefCell::new(VerifyCache::new(cache_size)),
            proofs: ProofReplayCache::new(PROOF_REPLAY_CAPACITY),
            proof_keys: ProofKeyCache::new(),
            depth: Cell::new(0),
        })
    }

    /// Consults `replica` on every verification, with the policy given. A replica made
    /// without an issuer is bound here to the one trusted issuer that owns all its keys.
    ///
    /// Rejects a grace over one day, a replica whose issuer this verifier does not trust, and
    /// one with no issuer whose keys are not exactly one trusted issuer's (`malformed`).
    #[wasm_bindgen(js_name = useReplica)]
    pub fn use_replica(
        &mut self,
        replica: &CoreReplica,
        grace: u32,
        fail_open_when_stale: bool,
        exact_check: Option<js_sys::Function>,
    ) -> JsResult<()> {
        {
            let mut inner = replica.0.try_borrow_mut().map_err(|_| busy())?;
            let issuer = match inner.issuer() {
                Some(issuer) => issuer.to_owned(),
                None => self.owner_of(inner.keys())?,
            };
            self.require_trusted(&issuer)?;
            inner.bind(&issuer)?;
        }
        let source = Source::Replica(replica.0.clone());
        self.set_revocation(source, grace, fail_open_when_stale, exact_check)
    }

    /// Consults `filter` on every verification, with the policy given. A filter loaded
    /// without an issuer must have been verified with keys of the issuer it names.
    ///
    /// Rejects what `useReplica` rejects (`malformed`).
    #[wasm_bindgen(js_name = useFilter)]
    pub fn use_filter(
        &mut self,
        filter: &CoreRevocationFilter,
        grace: u32,
        fail_open_when_stale: bool,
        exact_check: Option<js_sys::Function>,
    ) -> JsResult<()> {
        let issuer = filter.filter.try_borrow().map_err(|_| busy())?.issuer().to_owned();
        self.require_trusted(&issuer)?;
        if !filter.bound && self.owner_of(&filter.keys)? != issuer {
            return Err(Error::new(
                ErrorKind::Malformed,
                "the revocation filter names an issuer whose keys did not sign it; pass { issuer }",
            )
            .into());
        }
        let source = Source::Filter(filter.filter.clone());
        self.set_revocation(source, grace, fail_open_when_stale, exact_check)
    }

    /// Hands every later decision of this verifier (`verify`, `authorizeRevocation`) to
    /// `sink` as an audit event in JSON text, built by the core; `undefined` stops it.
    #[wasm_bindgen(js_name = setDecisionSink)]
    pub fn set_decision_sink(&self, sink: Option<js_sys::Function>) {
        self.decisions.set(sink);
    }

    /// Verifies `token` as genuine and current, without action, resource, binding or
    /// revocation checks: only so that a token can revoke itself. Returns the claims as JSON.
    #[wasm_bindgen(js_name = verifyForRevocation)]
    pub fn verify_for_revocation(&self, token: &str, now: f64) -> JsResult<String> {
        let claims = self.verifier.verify_for_revocation_at(token, seconds(now)?)?;
        Ok(claims.as_json().to_owned())
    }

    /// Authorizes a revocation (the core's `authorize_revocation_at`): with no `target`,
    /// `bearer` revokes itself (a key-bound one only with the DPoP proof of its key, `dpop`
    /// as `verify` takes it); with one, `bearer` must first pass every check, revocation and
    /// binding included, for `tokens:revoke` on `tokens/<jti of target>`, and then `target`
    /// must be genuine and current. Proofs are remembered in this verifier's replay cache.
    /// Returns the claims of the token to revoke as JSON text.
    #[wasm_bindgen(js_name = authorizeRevocation)]
    pub fn authorize_revocation(
        &self,
        bearer: &str,
        target: Option<String>,
        dpop: Option<String>,
        now: f64,
    ) -> JsResult<String> {
        let dpop = ProofArgs::read(dpop.as_deref())?;
        let now = seconds(now)?;
        let capture = self.decisions.capturing();
        let result = self.with_revocation(|revocation| {
            let context = self.context(revocation, capture.as_ref());
            let dpop = dpop.as_ref().map(ProofArgs::request);
            self.verifier.authorize_revocation_at(bearer, target.as_deref(), dpop, now, context)
        });
        let claims = self.decisions.deliver(result)?;
        Ok(claims.as_json().to_owned())
    }

    /// True if the last verification accepted the token on stale data.
    #[wasm_bindgen(js_name = staleIgnored)]
    pub fn stale_ignored(&self) -> bool {
        self.stale_ignored.get()
    }

    /// Verifies `token` for `action` on `resource` at `now` (seconds), with every setting
    /// made once on this verifier (revocation source and policy, replay cache, decision
    /// sink). `key_thumbprint`: the key the caller proved by other means (mTLS); `dpop`: the
    /// request's DPoP proof as JSON text `{ proof, method, url, nonce? }` (`malformed` if it
    /// is anything else; this verifier's replay cache remembers the proof). Returns the
    /// claims as JSON text, which the package parses (so a `__proto__` claim stays plain
    /// data).
    pub fn verify(
        &self,
        token: &str,
        action: &str,
        resource: &str,
        key_thumbprint: Option<String>,
        dpop: Option<String>,
        now: f64,
    ) -> JsResult<String> {
        let dpop = ProofArgs::read(dpop.as_deref())?;
        let key_thumbprint = key_thumbprint.as_deref();
        let mut request = Request::new(action, resource);
        request.key_thumbprint = key_thumbprint;
        request.dpop = dpop.as_ref().map(ProofArgs::request);
        let now = seconds(now)?;
        self.stale_ignored.set(false);
        let result =
            self.with_revocation(|revocation| self.decide(token, &request, now, revocation));
        let claims = self.decisions.deliver(result)?;
        self.stale_ignored.set(claims.stale_revocation_ignored());
        Ok(claims.as_json().to_owned())
    }
}

impl CoreVerifier {
    /// Verifies, through the audited path when the caller asked for the decision.
    fn decide(
        &self,
        token: &str,
        request: &Request<'_>,
        now: i64,
        revocation: Option<&Revocation<'_>>,
    ) -> Result<VerifiedClaims, Error> {
        let capture = self.decisions.capturing();
        // A re-entrant call (an exactCheck callback verifying with this same verifier)
        // finds the cache borrowed and goes without it, rather than trapping.
        let mut cache = self.cache.try_borrow_mut().ok();
        let mut context = self.context(revocation, capture.as_ref());
        context.cache = cache.as_deref_mut();
        self.verifier.verify_with(token, request, now, context)
    }

    /// What every decision of this verifier consults: its proof replay cache and proof-key
    /// tables, the revocation settings, and the call's audit capture if anyone listens.
    fn context<'a>(
        &'a self,
        revocation: Option<&'a Revocation<'a>>,
        capture: Option<&'a Capture>,
    ) -> VerifyContext<'a> {
        let mut context =
            VerifyContext::new().with_proof_replay(&self.proofs).with_proof_keys(&self.proof_keys);
        context.revocation = revocation;
        context.audit = capture.map(|c| c as &dyn AuditSink);
        context
    }

    /// Runs `work` with the revocation settings as the core takes them (none if unset), at
    /// most `MAX_NESTING` calls deep.
    fn with_revocation<T>(
        &self,
        work: impl FnOnce(Option<&Revocation<'_>>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let depth = self.depth.get();
        if depth >= MAX_NESTING {
            return Err(Error::new(
                ErrorKind::Malformed,
                "verifications nest too deep in callbacks",
            ));
        }
        self.depth.set(depth + 1);
        let result = self.with_revocation_inner(work);
        self.depth.set(depth);
        result
    }

    fn with_revocation_inner<T>(
        &self,
        work: impl FnOnce(Option<&Revocation<'_>>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let Some(settings) = &self.revocation else {
            return work(None);
        };
        // A callback that throws leaves the hit standing: fail closed.
        let exact = settings.exact_check.as_ref().map(|f| {
            move |jti: &str| {
                // Only an explicit `false` overrules the hit: undefined (a forgotten return),
                // a Promise (an async callback), a throw — all leave the token revoked.
                f.call1(&JsValue::NULL, &JsValue::from_str(jti))
                    .map_or(true, |v| v.as_bool() != Some(false))
            }
        });
        let exact_check = exact.as_ref().map(|f| f as &dyn Fn(&str) -> bool);
        // The source is only ever borrowed mutably by `offer`/`applyDelta`, which call no
        // JS; an exactCheck callback calling them meanwhile gets `busy`, not a trap.
        match &settings.source {
            Source::Replica(replica) => {
                let replica = replica.try_borrow().map_err(|_| busy_error())?;
                work(Some(&settings.policy(replica.filter(), exact_check)))
            }
            Source::Filter(filter) => {
                let filter = filter.try_borrow().map_err(|_| busy_error())?;
                work(Some(&settings.policy(Some(&filter), exact_check)))
            }
        }
    }

    fn set_revocation(
        &mut self,
        source: Source,
        grace: u32,
        fail_open_when_stale: bool,
        exact_check: Option<js_sys::Function>,
    ) -> JsResult<()> {
        if grace > MAX_REVOCATION_GRACE {
            return Err(Error::new(
                ErrorKind::Malformed,
                "revocationGrace is over one day (86400 s)",
            )
            .into());
        }
        self.revocation = Some(Revocable { source, grace, fail_open_when_stale, exact_check });
        Ok(())
    }

    /// The one trusted issuer that owns every key of `keys`, or `malformed`.
    fn owner_of(&self, keys: &KeySet) -> JsResult<String> {
        self.verifier.issuer_owning(keys).map(str::to_owned).ok_or_else(|| {
            Error::new(
                ErrorKind::Malformed,
                "revocation data keys are not the keys of exactly one trusted issuer; pass \
                 { issuer }",
            )
            .into()
        })
    }

    fn require_trusted(&self, issuer: &str) -> JsResult<()> {
        if self.verifier.trusts(issuer) {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::Malformed,
            "the revocation data is for an issuer this verifier does not trust",
        )
        .into())
    }
}

impl Revocable {
    /// The core's `Revocation` over `filter`, with these settings.
    fn policy<'a>(
        &self,
        filter: Option<&'a RevocationFilter>,
        exact_check: Option<&'a dyn Fn(&str) -> bool>,
    ) -> Revocation<'a> {
        let mut policy = Revocation::new(filter)
            .with_grace(self.grace)
            .with_fail_open_when_stale(self.fail_open_when_stale);
        policy.exact_check = exact_check;
        policy
    }
}

fn busy_error() -> Error {
    Error::new(
        ErrorKind::Malformed,
        "the revocation data is being updated by a callback of this call",
    )
}

fn busy() -> Failure {
    busy_error().into()
}

/// Reads a JWKS (`{ keys: [...] }`) given from JS as JSON text.
fn key_set(jwks: &str) -> JsResult<KeySet> {
    let map: Map<String, Value> = options(jwks, "key set")?;
    shared(KeySet::from_jwks_object(&map)?)
}

/// Keys imported recently, kept so that their verification tables (225 KiB each, shared by
/// every clone of a `PublicKey`) are built once per module instance rather than once per
/// `new Verifier`: JS frees wasm objects only when its garbage collector runs their
/// finalizers, which it is in no hurry to do for small wrappers, so a program that builds a
/// verifier per request would otherwise grow wasm memory by a table set each time.
const SHARED_KEYS: usize = 16;

thread_local! {
    static KEYS: RefCell<Vec<PublicKey>> = const { RefCell::new(Vec::new()) };
}

/// The same set, with every key that equals (same `kid`, same point) one imported before
/// replaced by that one, sharing its table. At most `SHARED_KEYS` are remembered (oldest
/// forgotten first), so at most that many tables outlive their verifiers.
fn shared(set: KeySet) -> JsResult<KeySet> {
    let keys = KEYS.with(|cache| {
        let mut cache = cache.borrow_mut();
        let interned: Vec<PublicKey> = set
            .keys()
            .iter()
            .map(|key| match cache.iter().find(|known| *known == key) {
                Some(known) => known.clone(),
                None => {
                    if cache.len() >= SHARED_KEYS {
                        cache.remove(0);
                    }
                    cache.push(key.clone());
                    key.clone()
                }
            })
            .collect();
        interned
    });
    Ok(KeySet::from_keys(keys)?)
}

/// Serial and times of a filter, for JS, as JSON text.
fn filter_info(filter: &RevocationFilter) -> String {
    let f = filter.freshness();
    let g = filter.bloom().geometry();
    let info = serde_json::json!({
        // Serials stay far below 2^53 in practice; JS numbers hold them exactly there.
        "serial": f.serial as f64,
        "issuedAt": f.issued_at,
        "nextUpdate": f.next_update,
        "kid": filter.kid(),
        "iss": filter.issuer(),
        "bits": g.bits(),
        "hashes": g.hashes(),
    });
    info.to_string()
}

/// A verified revocation filter; the JS `RevocationFilter` wraps it, and verifiers using it
/// share it.
#[wasm_bindgen]
pub struct CoreRevocationFilter {
    keys: KeySet,
    filter: Rc<RefCell<RevocationFilter>>,
    /// True if the filter was loaded for a named issuer (its keys are that issuer's
    /// revocation keys); false if it took the issuer its data names, which a verifier then
    /// checks against the keys.
    bound: bool,
}

#[wasm_bindgen]
impl CoreRevocationFilter {
    /// Verifies a snapshot with the keys of a JWKS object, for `issuer` if given (data for
    /// another issuer is `untrusted_issuer`), plausible at `now`.
    #[wasm_bindgen(js_name = fromSnapshot)]
    pub fn from_snapshot(
        bytes: &[u8],
        jwks: &str,
        issuer: Option<String>,
        now: f64,
    ) -> JsResult<CoreRevocationFilter> {
        let keys = key_set(jwks)?;
        let now = seconds(now)?;
        let named = match &issuer {
            Some(issuer) => issuer.clone(),
            None => Publication::decode(bytes)?.issuer().to_owned(),
        };
        let filter = RevocationFilter::from_snapshot(bytes, &named, &keys, now)?;
        Ok(CoreRevocationFilter {
            keys,
            filter: Rc::new(RefCell::new(filter)),
            bound: issuer.is_some(),
        })
    }

    /// Verifies a delta with the same keys and applies it (unchanged on error).
    #[wasm_bindgen(js_name = applyDelta)]
    pub fn apply_delta(&self, bytes: &[u8], now: f64) -> JsResult<()> {
        let now = seconds(now)?;
        let mut filter = self.filter.try_borrow_mut().map_err(|_| busy())?;
        Ok(filter.apply_delta(bytes, &self.keys, now)?)
    }

    /// True if `jti` hits the filter.
    pub fn has(&self, jti: &str) -> bool {
        self.filter.try_borrow().is_ok_and(|f| f.contains(jti))
    }

    /// `{ serial, issuedAt, nextUpdate, kid, iss, bits, hashes }` as JSON text.
    pub fn info(&self) -> String {
        self.filter.try_borrow().map(|f| filter_info(&f)).unwrap_or_default()
    }
}

/// A replica's bookkeeping (which snapshots and deltas to take); the JS `RevocationReplica`
/// wraps it and does the fetching, and verifiers using it share it.
#[wasm_bindgen]
pub struct CoreReplica(Rc<RefCell<RevocationReplica>>);

#[wasm_bindgen]
impl CoreReplica {
    /// An empty replica trusting the keys of a JWKS (JSON text) to sign `issuer`'s revocation
    /// data; without an issuer, the verifier it is given to names one (see `useReplica`).
    #[wasm_bindgen(constructor)]
    pub fn new(jwks: &str, issuer: Option<String>) -> JsResult<CoreReplica> {
        let keys = key_set(jwks)?;
        let replica = match issuer {
            Some(issuer) => RevocationReplica::new(&issuer, keys),
            None => RevocationReplica::unbound(keys),
        };
        Ok(CoreReplica(Rc::new(RefCell::new(replica))))
    }

    /// Verifies and offers a snapshot or delta at `now`: `"replaced"`, `"applied"`,
    /// `"buffered"` or `"ignored"`.
    pub fn offer(&self, bytes: &[u8], now: f64) -> JsResult<String> {
        let now = seconds(now)?;
        let mut replica = self.0.try_borrow_mut().map_err(|_| busy())?;
        let outcome = match replica.offer(bytes, now)? {
            Offered::Replaced => "replaced",
            Offered::Applied => "applied",
            Offered::Buffered => "buffered",
            Offered::Ignored => "ignored",
        };
        Ok(outcome.into())
    }

    /// True while a snapshot is needed (none yet, or deltas wait for a missing one).
    #[wasm_bindgen(js_name = hasGap)]
    pub fn has_gap(&self) -> bool {
        self.0.try_borrow().map_or(true, |r| r.has_gap())
    }

    /// True if `jti` hits the current filter (false with no filter).
    pub fn has(&self, jti: &str) -> bool {
        self.0.try_borrow().is_ok_and(|r| r.latest().is_some_and(|f| f.contains(jti)))
    }

    /// The current filter's info (see `CoreRevocationFilter.info`), or `undefined`.
    pub fn info(&self) -> Option<String> {
        self.0.try_borrow().ok().and_then(|r| r.latest().map(filter_info))
    }
}

/// The `nonce` a DPoP proof carries, read without verifying anything (see the core's
/// `unverified_proof_nonce`), or `undefined`.
#[wasm_bindgen(js_name = proofNonce)]
pub fn proof_nonce(proof: &str) -> Option<String> {
    tasktoken::unverified_proof_nonce(proof)
}
