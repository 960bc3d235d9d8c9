//! The mint module (added by `tasktoken`): keys, issuers, signed revocation data.

use serde::Deserialize;
use serde_json::{Map, Value};
use tasktoken::{
    delegate, BloomFilter, Error, ErrorKind, Freshness, Generation, Issuer, LinkRequest,
    MintRequest, ProofSigningKey, Publication, PublicationPlanner, SigningKey, Step, DEFAULT_FPR,
    DEFAULT_MIN_CAPACITY, DEFAULT_VALID_FOR,
};
use wasm_bindgen::prelude::*;

use crate::{options, seconds, Decisions, JsResult};

/// Generates an Ed25519 key with `kid`; returns `{ privateJwk, publicJwk }` as JSON text.
#[wasm_bindgen(js_name = generateKey)]
pub fn generate_key(kid: &str) -> JsResult<String> {
    let key = SigningKey::generate(kid)?;
    let (private, public) = (key.to_jwk(), key.public_key().to_jwk());
    // Both are JSON objects the core wrote; the pair is spliced, not re-encoded. The result
    // goes to JS, where no copy of the private key can be wiped (the core's own is).
    Ok(format!(r#"{{"privateJwk":{},"publicJwk":{public}}}"#, *private))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct IssuerOptions {
    iss: String,
    key: Map<String, Value>,
    max_ttl: Option<u32>,
    max_actions: Option<usize>,
    max_delegation: Option<u32>,
    allow_broad_scope: Option<bool>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    /// The audiences as a list.
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        }
    }
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
    dlg: Option<u32>,
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
    /// `{ iss, key: privateJwk, maxTtl?, maxActions?, maxDelegation?, allowBroadScope? }` as
    /// JSON text.
    #[wasm_bindgen(constructor)]
    pub fn new(json: &str) -> JsResult<CoreIssuer> {
        let o: IssuerOptions = options(json, "Issuer options")?;
        let mut issuer = Issuer::new(&o.iss, SigningKey::from_jwk_object(&o.key)?)?;
        if let Some(seconds) = o.max_ttl {
            issuer = issuer.max_ttl(seconds)?;
        }
        if let Some(count) = o.max_actions {
            issuer = issuer.max_actions(count);
        }
        if let Some(depth) = o.max_delegation {
            issuer = issuer.max_delegation(depth)?;
        }
        let issuer = issuer.allow_broad_scope(o.allow_broad_scope.unwrap_or(false));
        Ok(CoreIssuer { issuer, decisions: Decisions::default() })
    }

    /// Mints a token for `{ sub, aud, task, scope, res, ttl, nbf?, cnfJkt?, dlg?, claims? }` at
    /// `now` (seconds); the request is JSON text.
    pub fn mint(&self, request: &str, now: f64) -> JsResult<String> {
        let o: MintOptions = options(request, "mint request")?;
        let mut request = MintRequest::new(o.sub, o.task)
            .with_aud(o.aud.into_vec())
            .with_scope(o.scope)
            .with_res(o.res)
            .with_ttl(o.ttl)
            .with_dlg(o.dlg.unwrap_or(0))
            .with_extra(o.claims.unwrap_or_default());
        request.nbf = o.nbf;
        request.cnf_jkt = o.cnf_jkt;
        let now = seconds(now)?;
        let result = match self.decisions.capturing() {
            Some(sink) => self.issuer.mint_audited_at(&request, now, &sink),
            None => self.issuer.mint_at(&request, now),
        };
        Ok(self.decisions.deliver(result)?)
    }

    /// Hands every later mint decision to `sink` as an audit event in JSON text, built by
    /// the core; `undefined` stops it.
    #[wasm_bindgen(js_name = setDecisionSink)]
    pub fn set_decision_sink(&self, sink: Option<js_sys::Function>) {
        self.decisions.set(sink);
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SnapshotOptions {
    issuer: String,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PlanOptions {
    previous_serial: u64,
    now: i64,
    adding: u64,
    live: u64,
    entries: Option<u64>,
    valid_for: Option<u32>,
    fpr: Option<f64>,
    min_capacity: Option<u64>,
}

/// The core's planner for `fpr`, a least capacity and a validity (defaults when absent).
fn planner(
    fpr: Option<f64>,
    capacity: Option<u64>,
    valid_for: Option<u32>,
) -> JsResult<PublicationPlanner> {
    Ok(PublicationPlanner::new(
        fpr.unwrap_or(DEFAULT_FPR),
        capacity.unwrap_or(DEFAULT_MIN_CAPACITY),
        valid_for.unwrap_or(DEFAULT_VALID_FOR),
    )?)
}

/// The generation an earlier snapshot starts (geometry, salt, issuer), read without its
/// signature: it is the caller's own publication.
fn generation_of(bytes: &[u8]) -> JsResult<tasktoken::Snapshot> {
    match Publication::decode(bytes)? {
        Publication::Snapshot(snapshot) => Ok(snapshot),
        Publication::Delta(_) => {
            Err(Error::new(ErrorKind::Malformed, "a generation must be a snapshot").into())
        }
    }
}

/// What an authority publishes next (the core's `PublicationPlanner`): options `{
/// previousSerial, now, adding, live, entries?, validFor?, fpr?, minCapacity? }` as JSON
/// text, and the current generation's snapshot if there is one (`entries`: the entries it
/// holds). Returns `{ step: "delta" | "snapshot", serial, issuedAt, nextUpdate }` as JSON
/// text: a delta while the generation holds the additions at the target rate, else a new
/// generation.
#[wasm_bindgen(js_name = planPublication)]
pub fn plan_publication(options: &str, generation: Option<Vec<u8>>) -> JsResult<String> {
    let o: PlanOptions = self::options(options, "plan options")?;
    let planner = planner(o.fpr, o.min_capacity, o.valid_for)?;
    let current = match generation {
        Some(bytes) => {
            Some(Generation::new(generation_of(&bytes)?.filter.geometry(), o.entries.unwrap_or(0)))
        }
        None => None,
    };
    let step = match planner.plan(current, o.adding, o.live)? {
        Step::Delta => "delta",
        Step::Snapshot(_) => "snapshot",
    };
    let f = planner.freshness(o.previous_serial, o.now)?;
    Ok(serde_json::json!({
        "step": step,
        // At most 2^53 - 1 (the core refuses more), so exact as a JS number.
        "serial": f.serial,
        "issuedAt": f.issued_at,
        "nextUpdate": f.next_update,
    })
    .to_string())
}

/// Builds and signs a snapshot of `issuer`'s revocations holding `jtis` (key and options as
/// JSON text): `{ issuer, jtis, serial, issuedAt, nextUpdate, capacity?, fpr? }`. A new
/// generation (fresh random salt) is sized by the core's planner: twice the entries, at least
/// `capacity` (default 1000), at `fpr` (default 1e-6). Given `generation` (an earlier
/// snapshot), its geometry and salt are kept instead, so that deltas of that generation still
/// apply on top of the new snapshot.
#[wasm_bindgen(js_name = signSnapshot)]
pub fn sign_snapshot(key: &str, options: &str, generation: Option<Vec<u8>>) -> JsResult<Vec<u8>> {
    let key = signing_key(key)?;
    let o: SnapshotOptions = self::options(options, "snapshot options")?;
    let mut filter = match generation {
        Some(bytes) => {
            let old = generation_of(&bytes)?;
            BloomFilter::new(old.filter.geometry(), *old.filter.salt())
        }
        None => {
            let planner = planner(o.fpr, o.capacity, None)?;
            BloomFilter::with_random_salt(planner.geometry_for(o.jtis.len() as u64)?)?
        }
    };
    o.jtis.iter().for_each(|jti| filter.insert(jti));
    let freshness = Freshness::new(o.serial, o.issued_at, o.next_update);
    Ok(Publication::sign_snapshot(&filter, freshness, &o.issuer, &key)?)
}

/// Builds and signs a delta adding `jtis` to the generation of `snapshot` (its geometry,
/// salt and issuer): `{ jtis, baseSerial, serial, issuedAt, nextUpdate }`.
#[wasm_bindgen(js_name = signDelta)]
pub fn sign_delta(key: &str, snapshot: &[u8], options: &str) -> JsResult<Vec<u8>> {
    let key = signing_key(key)?;
    let o: DeltaOptions = self::options(options, "delta options")?;
    let generation = generation_of(snapshot)?;
    let empty = BloomFilter::new(generation.filter.geometry(), *generation.filter.salt());
    let entries: Vec<_> = o.jtis.iter().map(|jti| empty.entry(jti)).collect();
    let freshness = Freshness::new(o.serial, o.issued_at, o.next_update);
    let issuer = &generation.issuer;
    Ok(Publication::sign_delta(&empty, o.base_serial, &entries, freshness, issuer, &key)?)
}

/// A private JWK given as JSON text.
fn signing_key(jwk: &str) -> JsResult<SigningKey> {
    let map: Map<String, Value> = options(jwk, "private key")?;
    Ok(SigningKey::from_jwk_object(&map)?)
}

/// A new DPoP proof key for `alg` (`EdDSA` or `ES256`): `{ privateJwk, publicJwk, jkt }` as
/// JSON text, `jkt` being the thumbprint a token bound to it carries in `cnf.jkt`.
#[wasm_bindgen(js_name = generateProofKey)]
pub fn generate_proof_key(alg: &str) -> JsResult<String> {
    let key = ProofSigningKey::generate(alg)?;
    let private = key.private_jwk();
    // Built as text so that the private JWK is never held by a value that is not wiped.
    let public = Value::Object(key.public_jwk()).to_string();
    let jkt = key.thumbprint();
    Ok(format!(r#"{{"privateJwk":{},"publicJwk":{public},"jkt":"{jkt}"}}"#, private.as_str()))
}

/// A fresh DPoP proof signed by the private JWK `key` (JSON text) for `method` on `url`, at
/// `now` (seconds), with `ath` for `token` and the server's `nonce` if given.
#[wasm_bindgen(js_name = createProof)]
pub fn create_proof(
    key: &str,
    method: &str,
    url: &str,
    token: Option<String>,
    nonce: Option<String>,
    now: f64,
) -> JsResult<String> {
    let map: Map<String, Value> = options(key, "proof key")?;
    let key = ProofSigningKey::from_jwk_object(&map)?;
    Ok(key.proof(method, url, token.as_deref(), nonce.as_deref(), seconds(now)?)?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LinkOptions {
    sub: String,
    aud: OneOrMany,
    task: String,
    scope: String,
    res: Vec<String>,
    ttl: u32,
    cnf_jkt: Option<String>,
    dlg: Option<u32>,
}

/// Appends a delegation link to `chain`, signed by the private Ed25519 proof JWK `key` (JSON
/// text) the chain's last element is bound to, for `{ sub, aud, task, scope, res, ttl,
/// cnfJkt?, dlg? }` (JSON text) at `now` (seconds); returns the longer chain.
#[wasm_bindgen(js_name = delegate)]
pub fn delegate_link(chain: &str, key: &str, link: &str, now: f64) -> JsResult<String> {
    let map: Map<String, Value> = options(key, "delegation key")?;
    let key = ProofSigningKey::from_jwk_object(&map)?;
    let o: LinkOptions = options(link, "delegation")?;
    let mut link = LinkRequest::new(o.sub, o.task)
        .with_aud(o.aud.into_vec())
        .with_scope(o.scope)
        .with_res(o.res)
        .with_ttl(o.ttl)
        .with_dlg(o.dlg.unwrap_or(0));
    link.cnf_jkt = o.cnf_jkt;
    Ok(delegate(chain, &key, &link, seconds(now)?)?)
}
