//! wasm-bindgen bindings of the tasktoken core. Thin by rule: values are converted at the
//! boundary and every decision is the core's. The npm package (`js/`) wraps these exports.
//!
//! The public interface (as seen from JS) is:
//! - `setErrorClass(ctor)`: the package registers its `TaskTokenError` class once;
//! - `generateKey(kid)`: a fresh Ed25519 key as `{ privateJwk, publicJwk }`;
//! - `CoreIssuer`: `new CoreIssuer(options)`, `mint(request, now)` → token;
//! - `CoreVerifier`: `new CoreVerifier(options)`,
//!   `verify(token, action, resource, keyThumbprint, now)` → the claims as JSON text;
//!   `verifyWithFilter`/`verifyWithReplica` (the same, consulting revocation data),
//!   `verifyForRevocation(token, now)` (genuine and current only, for self-revocation);
//! - `CoreRevocationFilter`, `CoreReplica`: verified revocation data and replica bookkeeping;
//! - `signSnapshot(key, options)`, `signDelta(key, snapshot, options)`: for authorities.
#![deny(missing_docs)]

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize as _};
use serde_json::{Map, Value};
use tasktoken::{
    AuditEvent, AuditSink, BloomFilter, BloomGeometry, Error, Freshness, Issuer, KeySet,
    MintRequest, Offered, Publication, Request, Revocation, RevocationFilter, RevocationReplica,
    SigningKey, VerifiedClaims, Verifier, VerifyCache, VerifyContext, DEFAULT_FPR,
};
use wasm_bindgen::prelude::*;

thread_local! {
    /// The package's `TaskTokenError` constructor, once registered.
    static ERROR_CLASS: RefCell<Option<js_sys::Function>> = const { RefCell::new(None) };
}

/// Registers the JS class that errors are thrown as: `new ctor(code, message)`.
#[wasm_bindgen(js_name = setErrorClass)]
pub fn set_error_class(ctor: js_sys::Function) {
    ERROR_CLASS.with(|class| *class.borrow_mut() = Some(ctor));
}

/// An error on its way to JS: the one place core errors become JS exceptions.
pub struct Failure(Error);

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        Failure(err)
    }
}

/// Reads an options object strictly: every member known (`deny_unknown_fields`), so that a
/// misspelt `maxLifeTime` is an error instead of a silently ignored limit. serde-wasm-bindgen
/// reads only the fields a struct names, so the object goes through a JSON value first.
fn options<T: serde::de::DeserializeOwned>(value: JsValue, what: &str) -> JsResult<T> {
    let value: Value = serde_wasm_bindgen::from_value(value)
        .map_err(|e| Failure(Error::Malformed(format!("invalid {what}: {}", redact(&e)).into())))?;
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." { String::new() } else { format!(" at `{path}`") };
        Failure(Error::Malformed(format!("invalid {what}{at}: {}", redact(e.inner())).into()))
    })
}

/// serde's message with every quoted string value cut out: the field name and the expected
/// type stay, a value (which could be a token or a private key put in the wrong place) never
/// reaches an error message.
fn redact(err: &dyn core::fmt::Display) -> String {
    let text = err.to_string();
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '"' {
            // Skip to the closing quote, honouring backslash escapes.
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        chars.next();
                    }
                    '"' => break,
                    _ => {}
                }
            }
            out.push_str("…\"");
        }
    }
    out
}

impl From<serde_wasm_bindgen::Error> for Failure {
    fn from(err: serde_wasm_bindgen::Error) -> Self {
        Failure(Error::Malformed(format!("cannot convert a value for JS: {err}").into()))
    }
}

impl From<Failure> for JsValue {
    fn from(Failure(err): Failure) -> JsValue {
        let (code, message) = (JsValue::from_str(err.code()), JsValue::from_str(err.message()));
        let registered = ERROR_CLASS.with(|class| class.borrow().clone());
        if let Some(ctor) = registered {
            if let Ok(error) =
                js_sys::Reflect::construct(&ctor, &js_sys::Array::of2(&code, &message))
            {
                return error;
            }
        }
        // Before registration (never, through the package): a plain Error carrying `code`.
        let error = js_sys::Error::new(err.message());
        let _ = js_sys::Reflect::set(&error, &JsValue::from_str("code"), &code);
        error.into()
    }
}

type JsResult<T> = Result<T, Failure>;

/// Generates an Ed25519 key with `kid`; returns `{ privateJwk, publicJwk }` as objects.
#[wasm_bindgen(js_name = generateKey)]
pub fn generate_key(kid: &str) -> JsResult<JsValue> {
    let key = SigningKey::generate(kid)?;
    let private: Value = serde_json::from_str(&key.to_jwk()).map_err(internal)?;
    let public: Value = serde_json::from_str(&key.public_key().to_jwk()).map_err(internal)?;
    let pair = serde_json::json!({ "privateJwk": private, "publicJwk": public });
    Ok(pair.serialize(&serde_wasm_bindgen::Serializer::json_compatible())?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct IssuerOptions {
    iss: String,
    key: Map<String, Value>,
    max_ttl: Option<u32>,
    max_actions: Option<usize>,
    allow_broad_scope: Option<bool>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct MintOptions {
    sub: String,
    aud: OneOrMany,
    task: String,
    scope: String,
    res: Vec<String>,
    ttl: u32,
    nbf: Option<i64>,
    cnf_jkt: Option<String>,
    claims: Option<Map<String, Value>>,
}

/// Mints task tokens; the JS `Issuer` wraps it.
#[wasm_bindgen]
pub struct CoreIssuer {
    issuer: Issuer,
    decisions: Decisions,
}

#[wasm_bindgen]
impl CoreIssuer {
    /// `{ iss, key: privateJwk, maxTtl?, maxActions?, allowBroadScope? }`.
    #[wasm_bindgen(constructor)]
    pub fn new(value: JsValue) -> JsResult<CoreIssuer> {
        let o: IssuerOptions = options(value, "Issuer options")?;
        let mut issuer = Issuer::new(&o.iss, SigningKey::from_jwk_object(&o.key)?)?;
        if let Some(seconds) = o.max_ttl {
            issuer = issuer.max_ttl(seconds);
        }
        if let Some(count) = o.max_actions {
            issuer = issuer.max_actions(count);
        }
        let issuer = issuer.allow_broad_scope(o.allow_broad_scope.unwrap_or(false));
        Ok(CoreIssuer { issuer, decisions: Decisions::default() })
    }

    /// Mints a token for `{ sub, aud, task, scope, res, ttl, nbf?, cnfJkt?, claims? }` at
    /// `now` (seconds).
    pub fn mint(&self, request: JsValue, now: f64) -> JsResult<String> {
        let o: MintOptions = options(request, "mint request")?;
        let request = MintRequest {
            sub: o.sub,
            aud: match o.aud {
                OneOrMany::One(aud) => vec![aud],
                OneOrMany::Many(auds) => auds,
            },
            task: o.task,
            scope: o.scope,
            res: o.res,
            ttl: o.ttl,
            nbf: o.nbf,
            cnf_jkt: o.cnf_jkt,
            extra: o.claims.unwrap_or_default(),
        };
        let now = seconds(now)?;
        Ok(match self.decisions.capturing() {
            Some(sink) => self.issuer.mint_audited_at(&request, now, &sink),
            None => self.issuer.mint_at(&request, now),
        }?)
    }

    /// Records the next mint's decision, to be read with `takeDecision`.
    #[wasm_bindgen(js_name = captureNextDecision)]
    pub fn capture_next_decision(&self) {
        self.decisions.capture.set(true);
    }

    /// The captured decision as an audit event object, or `null`.
    #[wasm_bindgen(js_name = takeDecision)]
    pub fn take_decision(&self) -> JsResult<JsValue> {
        self.decisions.take()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct VerifierOptions {
    issuers: BTreeMap<String, Map<String, Value>>,
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
    /// clockSkew?, requireBinding? }`.
    #[wasm_bindgen(constructor)]
    pub fn new(value: JsValue) -> JsResult<CoreVerifier> {
        let o: VerifierOptions = options(value, "Verifier options")?;
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
            verifier = verifier.trust(iss, &KeySet::from_jwks_object(jwks)?)?;
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

    /// The captured decision as an audit event object, or `null`.
    #[wasm_bindgen(js_name = takeDecision)]
    pub fn take_decision(&self) -> JsResult<JsValue> {
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SnapshotOptions {
    jtis: Vec<String>,
    serial: u64,
    issued_at: i64,
    next_update: i64,
    capacity: Option<u64>,
    fpr: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DeltaOptions {
    jtis: Vec<String>,
    base_serial: u64,
    serial: u64,
    issued_at: i64,
    next_update: i64,
}

/// Builds and signs a revocation snapshot holding `jtis`:
/// `{ jtis, serial, issuedAt, nextUpdate, capacity?, fpr? }` (capacity defaults to twice the
/// entries, at least 1000; fpr to 1e-6). A fresh random salt makes it a new generation,
/// unless `generation` (an earlier snapshot) is given: then its geometry and salt are kept,
/// so deltas of that generation still apply on top of the new snapshot.
#[wasm_bindgen(js_name = signSnapshot)]
pub fn sign_snapshot(
    key: JsValue,
    options: JsValue,
    generation: Option<Vec<u8>>,
) -> JsResult<Vec<u8>> {
    let key = signing_key(key)?;
    let o: SnapshotOptions = self::options(options, "snapshot options")?;
    let mut filter = match generation {
        Some(bytes) => {
            let Publication::Snapshot(old) = Publication::decode(&bytes)? else {
                return Err(Error::Malformed("a generation must be a snapshot".into()).into());
            };
            BloomFilter::new(old.filter.geometry(), *old.filter.salt())
        }
        None => {
            let count = o.jtis.len() as u64;
            let capacity = o.capacity.unwrap_or_else(|| (2 * count).max(1000));
            let geometry = BloomGeometry::for_capacity(capacity, o.fpr.unwrap_or(DEFAULT_FPR))?;
            BloomFilter::with_random_salt(geometry)?
        }
    };
    o.jtis.iter().for_each(|jti| filter.insert(jti));
    let freshness =
        Freshness { serial: o.serial, issued_at: o.issued_at, next_update: o.next_update };
    Ok(Publication::sign_snapshot(&filter, freshness, &key)?)
}

/// Builds and signs a delta adding `jtis` to the generation of `snapshot` (its geometry and
/// salt): `{ jtis, baseSerial, serial, issuedAt, nextUpdate }`.
#[wasm_bindgen(js_name = signDelta)]
pub fn sign_delta(key: JsValue, snapshot: &[u8], options: JsValue) -> JsResult<Vec<u8>> {
    let key = signing_key(key)?;
    let o: DeltaOptions = self::options(options, "delta options")?;
    let Publication::Snapshot(generation) = Publication::decode(snapshot)? else {
        return Err(Error::Malformed("signDelta needs the generation's snapshot".into()).into());
    };
    let empty = BloomFilter::new(generation.filter.geometry(), *generation.filter.salt());
    let entries: Vec<_> = o.jtis.iter().map(|jti| empty.entry(jti)).collect();
    let freshness =
        Freshness { serial: o.serial, issued_at: o.issued_at, next_update: o.next_update };
    Ok(Publication::sign_delta(&empty, o.base_serial, &entries, freshness, &key)?)
}

fn signing_key(jwk: JsValue) -> JsResult<SigningKey> {
    let map: Map<String, Value> = options(jwk, "private key")?;
    Ok(SigningKey::from_jwk_object(&map)?)
}

/// Audit decisions the JS side asked for: capture the next one, hand it over once.
#[derive(Default)]
struct Decisions {
    capture: Cell<bool>,
    last: std::rc::Rc<RefCell<Option<AuditEvent>>>,
}

/// A sink that keeps the one event of a call.
struct Capture(std::rc::Rc<RefCell<Option<AuditEvent>>>);

impl AuditSink for Capture {
    fn record(&self, event: &AuditEvent) {
        *self.0.borrow_mut() = Some(event.clone());
    }
}

impl Decisions {
    /// A sink for this call if the next decision was asked for (and resets the request).
    fn capturing(&self) -> Option<Capture> {
        self.capture.replace(false).then(|| Capture(self.last.clone()))
    }

    fn take(&self) -> JsResult<JsValue> {
        match self.last.borrow_mut().take() {
            Some(event) => {
                Ok(event.to_json().serialize(&serde_wasm_bindgen::Serializer::json_compatible())?)
            }
            None => Ok(JsValue::NULL),
        }
    }
}

/// Reads a JWKS object (`{ keys: [...] }`) given from JS.
fn key_set(jwks: JsValue) -> JsResult<KeySet> {
    let map: Map<String, Value> = options(jwks, "key set")?;
    Ok(KeySet::from_jwks_object(&map)?)
}

/// Serial and times of a filter, for JS.
fn filter_info(filter: &RevocationFilter) -> JsResult<JsValue> {
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
    Ok(info.serialize(&serde_wasm_bindgen::Serializer::json_compatible())?)
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
    pub fn from_snapshot(bytes: &[u8], jwks: JsValue) -> JsResult<CoreRevocationFilter> {
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

    /// `{ serial, issuedAt, nextUpdate, kid, bits, hashes }`.
    pub fn info(&self) -> JsResult<JsValue> {
        filter_info(&self.filter)
    }
}

/// A replica's bookkeeping (which snapshots and deltas to take); the JS `RevocationReplica`
/// wraps it and does the fetching.
#[wasm_bindgen]
pub struct CoreReplica(RevocationReplica);

#[wasm_bindgen]
impl CoreReplica {
    /// An empty replica trusting the keys of a JWKS object.
    #[wasm_bindgen(constructor)]
    pub fn new(jwks: JsValue) -> JsResult<CoreReplica> {
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

    /// The current filter's info (see `CoreRevocationFilter.info`), or `null`.
    pub fn info(&self) -> JsResult<JsValue> {
        self.0.filter().map_or(Ok(JsValue::NULL), filter_info)
    }
}

/// A JS time in seconds as the core's integer seconds; NaN and infinities are refused.
fn seconds(now: f64) -> Result<i64, Failure> {
    if !now.is_finite() {
        return Err(Error::Malformed("`now` must be a finite number of seconds".into()).into());
    }
    // `as` saturates out-of-range floats, which is the intent for absurd clocks.
    Ok(now.floor() as i64)
}

/// serde_json failing to (de)serialize a value the core produced: a bug, reported not panicked.
fn internal(_: serde_json::Error) -> Failure {
    Failure(Error::Malformed("internal serialization failure".into()))
}
