//! wasm-bindgen bindings of the tasktoken core. Thin by rule: values are converted at the
//! boundary and every decision is the core's. The npm package (`js/`) wraps these exports.
//!
//! The public interface (as seen from JS) is:
//! - `setErrorClass(ctor)`: the package registers its `TaskTokenError` class once;
//! - `generateKey(kid)`: a fresh Ed25519 key as `{ privateJwk, publicJwk }`;
//! - `CoreIssuer`: `new CoreIssuer(options)`, `mint(request, now)` → token;
//! - `CoreVerifier`: `new CoreVerifier(options)`,
//!   `verify(token, action, resource, keyThumbprint, now)` → the claims as JSON text.
#![deny(missing_docs)]

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize as _};
use serde_json::{Map, Value};
use tasktoken::{Error, Issuer, KeySet, MintRequest, Request, SigningKey, Verifier};
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
    let bad = |err: &dyn core::fmt::Display| {
        // The message names the field and the expected type, never a whole value.
        Failure(Error::Malformed(format!("invalid {what}: {err}").into()))
    };
    let value: Value = serde_wasm_bindgen::from_value(value).map_err(|e| bad(&e))?;
    serde_json::from_value(value).map_err(|e| bad(&e))
}

impl From<serde_wasm_bindgen::Error> for Failure {
    fn from(err: serde_wasm_bindgen::Error) -> Self {
        Failure(Error::Malformed(
            format!("cannot convert a value for JS: {err}").into(),
        ))
    }
}

impl From<Failure> for JsValue {
    fn from(Failure(err): Failure) -> JsValue {
        let (code, message) = (
            JsValue::from_str(err.code()),
            JsValue::from_str(err.message()),
        );
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
pub struct CoreIssuer(Issuer);

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
        Ok(CoreIssuer(
            issuer.allow_broad_scope(o.allow_broad_scope.unwrap_or(false)),
        ))
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
        Ok(self.0.mint_at(&request, seconds(now)?)?)
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
}

/// Verifies task tokens; the JS `Verifier` wraps it.
#[wasm_bindgen]
pub struct CoreVerifier(Verifier);

#[wasm_bindgen]
impl CoreVerifier {
    /// `{ issuers: { [iss]: { keys: [publicJwk, ...] } }, audience, maxLifetime?,
    /// clockSkew?, requireBinding? }`.
    #[wasm_bindgen(constructor)]
    pub fn new(value: JsValue) -> JsResult<CoreVerifier> {
        let o: VerifierOptions = options(value, "Verifier options")?;
        let mut verifier =
            Verifier::new(&o.audience)?.require_binding(o.require_binding.unwrap_or(false));
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
        Ok(CoreVerifier(verifier))
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
        let request = Request {
            action,
            resource,
            key_thumbprint: key_thumbprint.as_deref(),
        };
        let claims = self.0.verify_at(token, &request, seconds(now)?)?;
        serde_json::to_string(claims.as_map()).map_err(internal)
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
