//! The verify-only module (`tasktoken/verify`): verifiers, revocation filters, replicas.

use std::cell::{Cell, RefCell};

use serde::Deserialize;
use serde_json::{Map, Value};
use tasktoken::{
    AuditSink, Error, KeySet, Offered, PublicKey, Request, Revocation, RevocationFilter,
    RevocationReplica, VerifiedClaims, Verifier, VerifyCache, VerifyContext,
};
use wasm_bindgen::prelude::*;

use crate::{options, seconds, Decisions, JsResult};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct VerifierOptions {
    issuers: Map<String, Value>,
    audience: String,
    max_lifetime: Option<u32>,
    clock_skew: Option<u32>,
    require_binding: Option<bool>,
    name: Option<String>,
    cache_size: Option<usize>,
}

/// Verifies task tokens; the JS `Verifier` wraps it.
#[wasm_bindgen]
pub struct CoreVerifier {
    verifier: Verifier,
    /// Whether the last revocable verification accepted stale data (fail-open).
    stale_ignored: Cell<bool>,
    decisions: Decisions,
    cache: RefCell<VerifyCache>,
}

/// Tokens a JS `Verifier` remembers as authenticated, unless `cacheSize` says otherwise.
const DEFAULT_CACHE_SIZE: usize = 1024;

#[wasm_bindgen]
impl CoreVerifier {
    /// `{ issuers: { [iss]: { keys: [publicJwk, ...] } }, audience, maxLifetime?,
    /// clockSkew?, requireBinding?, name?, cacheSize? }` as JSON text.
    #[wasm_bindgen(constructor)]
    pub fn new(json: &str) -> JsResult<CoreVerifier> {
        let o: VerifierOptions = options(json, "Verifier options")?;
        let mut verifier =
            Verifier::new(&o.audience)?.require_binding(o.require_binding.unwrap_or(false));
        if let Some(name) = &o.name {
            verifier = verifier.named(name);
        }
        if let Some(seconds) = o.max_lifetime {
            verifier = verifier.max_lifetime(seconds);
        }
        if let Some(seconds) = o.clock_skew {
            verifier = verifier.clock_skew(seconds);
        }
        if o.issuers.is_empty() {
            return Err(Error::Malformed("verifier trusts no issuer".into()).into());
        }
        for (iss, jwks) in &o.issuers {
            let jwks = jwks.as_object().ok_or_else(|| {
                Error::Malformed("invalid Verifier options: an issuer's keys must be a JWKS".into())
            })?;
            verifier = verifier.trust(iss, &shared(KeySet::from_jwks_object(jwks)?)?)?;
        }
        // Tokens already authenticated skip the signature; time, revocation, action and
        // resource are checked on every call (see `VerifyCache` in the core).
        let cache = RefCell::new(VerifyCache::new(o.cache_size.unwrap_or(DEFAULT_CACHE_SIZE)));
        Ok(CoreVerifier {
            verifier,
            stale_ignored: Cell::new(false),
            decisions: Decisions::default(),
            cache,
        })
    }

    /// Like `verify`, consulting a revocation filter (see `Revocation` in the core).
    #[allow(clippy::too_many_arguments)]
    #[wasm_bindgen(js_name = verifyWithFilter)]
    pub fn verify_with_filter(
        &self,
        token: &str,
        action: &str,
        resource: &str,
        key_thumbprint: Option<String>,
        now: f64,
        filter: &CoreRevocationFilter,
        grace: u32,
        fail_open_when_stale: bool,
        exact_check: Option<js_sys::Function>,
    ) -> JsResult<String> {
        let policy = (grace, fail_open_when_stale, exact_check);
        let filter = Some(&filter.filter);
        self.verify_revocable(token, action, resource, key_thumbprint, now, filter, policy)
    }

    /// Like `verify`, consulting a replica's current filter (none yet: `stale_revocation`).
    #[allow(clippy::too_many_arguments)]
    #[wasm_bindgen(js_name = verifyWithReplica)]
    pub fn verify_with_replica(
        &self,
        token: &str,
        action: &str,
        resource: &str,
        key_thumbprint: Option<String>,
        now: f64,
        replica: &CoreReplica,
        grace: u32,
        fail_open_when_stale: bool,
        exact_check: Option<js_sys::Function>,
    ) -> JsResult<String> {
        let policy = (grace, fail_open_when_stale, exact_check);
        let filter = replica.0.filter();
        self.verify_revocable(token, action, resource, key_thumbprint, now, filter, policy)
    }

    /// Verifies `token` as genuine and current, without action, resource, binding or
    /// revocation checks: only so that a token can revoke itself. Returns the claims as JSON.
    #[wasm_bindgen(js_name = verifyForRevocation)]
    pub fn verify_for_revocation(&self, token: &str, now: f64) -> JsResult<String> {
        let claims = self.verifier.verify_for_revocation_at(token, seconds(now)?)?;
        Ok(claims.as_json().to_owned())
    }

    /// True if the last revocable verification accepted the token on stale data.
    #[wasm_bindgen(js_name = staleIgnored)]
    pub fn stale_ignored(&self) -> bool {
        self.stale_ignored.get()
    }

    /// Verifies `token` for `action` on `resource` at `now` (seconds); returns the claims as
    /// JSON text, which the package parses (so a `__proto__` claim stays plain data).
    pub fn verify(
        &self,
        token: &str,
        action: &str,
        resource: &str,
        key_thumbprint: Option<String>,
        now: f64,
    ) -> JsResult<String> {
        let request = Request { action, resource, key_thumbprint: key_thumbprint.as_deref() };
        let claims = self.decide(token, &request, seconds(now)?, None)?;
        Ok(claims.as_json().to_owned())
    }

    /// Records the next verification's decision, to be read with `takeDecision`.
    #[wasm_bindgen(js_name = captureNextDecision)]
    pub fn capture_next_decision(&self) {
        self.decisions.capture.set(true);
    }

    /// The captured decision as an audit event in JSON text, or `undefined`.
    #[wasm_bindgen(js_name = takeDecision)]
    pub fn take_decision(&self) -> Option<String> {
        self.decisions.take()
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
        let context = VerifyContext {
            revocation,
            audit: capture.as_ref().map(|c| c as &dyn AuditSink),
            cache: cache.as_deref_mut(),
        };
        self.verifier.verify_with_at(token, request, now, context)
    }

    #[allow(clippy::too_many_arguments)]
    fn verify_revocable(
        &self,
        token: &str,
        action: &str,
        resource: &str,
        key_thumbprint: Option<String>,
        now: f64,
        filter: Option<&RevocationFilter>,
        (grace, fail_open_when_stale, exact_check): (u32, bool, Option<js_sys::Function>),
    ) -> JsResult<String> {
        // A callback that throws leaves the hit standing: fail closed.
        let exact = exact_check.map(|f| {
            move |jti: &str| {
                // Only an explicit `false` overrules the hit: undefined (a forgotten return),
                // a Promise (an async callback), a throw — all leave the token revoked.
                f.call1(&JsValue::NULL, &JsValue::from_str(jti))
                    .map_or(true, |v| v.as_bool() != Some(false))
            }
        });
        let revocation = Revocation {
            filter,
            grace,
            fail_open_when_stale,
            exact_check: exact.as_ref().map(|f| f as &dyn Fn(&str) -> bool),
        };
        let request = Request { action, resource, key_thumbprint: key_thumbprint.as_deref() };
        self.stale_ignored.set(false);
        let claims = self.decide(token, &request, seconds(now)?, Some(&revocation))?;
        self.stale_ignored.set(claims.stale_revocation_ignored());
        Ok(claims.as_json().to_owned())
    }
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
        "bits": g.bits(),
        "hashes": g.hashes(),
    });
    info.to_string()
}

/// A verified revocation filter; the JS `RevocationFilter` wraps it.
#[wasm_bindgen]
pub struct CoreRevocationFilter {
    keys: KeySet,
    filter: RevocationFilter,
}

#[wasm_bindgen]
impl CoreRevocationFilter {
    /// Verifies a snapshot with the keys of a JWKS object.
    #[wasm_bindgen(js_name = fromSnapshot)]
    pub fn from_snapshot(bytes: &[u8], jwks: &str) -> JsResult<CoreRevocationFilter> {
        let keys = key_set(jwks)?;
        let filter = RevocationFilter::from_snapshot(bytes, &keys)?;
        Ok(CoreRevocationFilter { keys, filter })
    }

    /// Verifies a delta with the same keys and applies it (unchanged on error).
    #[wasm_bindgen(js_name = applyDelta)]
    pub fn apply_delta(&mut self, bytes: &[u8]) -> JsResult<()> {
        Ok(self.filter.apply_delta(bytes, &self.keys)?)
    }

    /// True if `jti` hits the filter.
    pub fn has(&self, jti: &str) -> bool {
        self.filter.contains(jti)
    }

    /// `{ serial, issuedAt, nextUpdate, kid, bits, hashes }` as JSON text.
    pub fn info(&self) -> String {
        filter_info(&self.filter)
    }
}

/// A replica's bookkeeping (which snapshots and deltas to take); the JS `RevocationReplica`
/// wraps it and does the fetching.
#[wasm_bindgen]
pub struct CoreReplica(RevocationReplica);

#[wasm_bindgen]
impl CoreReplica {
    /// An empty replica trusting the keys of a JWKS (JSON text).
    #[wasm_bindgen(constructor)]
    pub fn new(jwks: &str) -> JsResult<CoreReplica> {
        Ok(CoreReplica(RevocationReplica::new(key_set(jwks)?)))
    }

    /// Verifies and offers a snapshot or delta: `"replaced"`, `"applied"`, `"buffered"` or
    /// `"ignored"`.
    pub fn offer(&mut self, bytes: &[u8]) -> JsResult<String> {
        let outcome = match self.0.offer(bytes)? {
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
        self.0.has_gap()
    }

    /// True if `jti` hits the current filter (false with no filter).
    pub fn has(&self, jti: &str) -> bool {
        self.0.filter().is_some_and(|f| f.contains(jti))
    }

    /// The current filter's info (see `CoreRevocationFilter.info`), or `undefined`.
    pub fn info(&self) -> Option<String> {
        self.0.filter().map(filter_info)
    }
}
