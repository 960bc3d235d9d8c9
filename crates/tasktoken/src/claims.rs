//! The v1 claims: their types, checked once, and the verified view handed to callers.

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::sync::Arc;
use serde_json::{Map, Value};

use crate::error::{Error, ErrorKind};
use crate::policy::is_scope;

/// Claims of a token whose signature, issuer, audience, time, lifetime and policy checks all
/// passed. Only [`crate::Verifier`] makes one.
///
/// Unknown claims are kept, never interpreted: read them with [`VerifiedClaims::get`].
#[derive(Clone, Debug, PartialEq)]
pub struct VerifiedClaims {
    /// Shared with the verified-token cache: a cache hit hands out the same claims without
    /// copying them.
    inner: Arc<Authenticated>,
    stale_revocation_ignored: bool,
}

/// What authentication established about a token: its claims and the key that signed it.
#[derive(Debug, PartialEq)]
pub(crate) struct Authenticated {
    pub(crate) map: Map<String, Value>,
    /// The payload exactly as the token carried it (a strict, duplicate-free JSON object).
    pub(crate) json: String,
    pub(crate) kid: String,
}

impl VerifiedClaims {
    pub(crate) fn new(inner: Arc<Authenticated>, stale_revocation_ignored: bool) -> Self {
        VerifiedClaims { inner, stale_revocation_ignored }
    }

    /// All claims as the JSON text the token carried (a strict JSON object without
    /// duplicate members): what the JS binding hands to `JSON.parse`, with no re-encoding.
    pub fn as_json(&self) -> &str {
        &self.inner.json
    }

    /// True if the token was accepted although the revocation data was missing or stale
    /// (only with `fail_open_when_stale`): report it, it is a degraded check.
    pub fn stale_revocation_ignored(&self) -> bool {
        self.stale_revocation_ignored
    }

    /// The issuer (`iss`).
    pub fn iss(&self) -> &str {
        self.str_claim("iss")
    }

    /// The non-human identity the task was granted to (`sub`).
    pub fn sub(&self) -> &str {
        self.str_claim("sub")
    }

    /// The workflow segment the token serves (`task`).
    pub fn task(&self) -> &str {
        self.str_claim("task")
    }

    /// The unique token id (`jti`), the revocation key.
    pub fn jti(&self) -> &str {
        self.str_claim("jti")
    }

    /// The granted actions, space-separated (`scope`).
    pub fn scope(&self) -> &str {
        self.str_claim("scope")
    }

    /// The granted resource patterns (`res`).
    pub fn resources(&self) -> impl Iterator<Item = &str> {
        self.inner
            .map
            .get("res")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
    }

    /// The audiences (`aud`, a string or an array, as a list).
    pub fn audiences(&self) -> impl Iterator<Item = &str> {
        audiences(self.inner.map.get("aud"))
    }

    /// Issued at (`iat`), seconds since the epoch.
    pub fn iat(&self) -> i64 {
        self.inner.map.get("iat").and_then(numeric_date).unwrap_or_default()
    }

    /// Not before (`nbf`, or `iat` when absent).
    pub fn nbf(&self) -> i64 {
        self.inner.map.get("nbf").and_then(numeric_date).unwrap_or_else(|| self.iat())
    }

    /// Expiry (`exp`), seconds since the epoch.
    pub fn exp(&self) -> i64 {
        self.inner.map.get("exp").and_then(numeric_date).unwrap_or_default()
    }

    /// The `kid` of the key that signed the token.
    pub fn kid(&self) -> &str {
        &self.inner.kid
    }

    /// Any claim by name, including unknown ones.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.inner.map.get(name)
    }

    /// All claims, as the token carried them.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.inner.map
    }

    /// All claims, by value (copied if the verified-token cache still shares them).
    pub fn into_map(self) -> Map<String, Value> {
        Arc::try_unwrap(self.inner).map_or_else(|shared| shared.map.clone(), |own| own.map)
    }

    fn str_claim(&self, name: &str) -> &str {
        self.inner.map.get(name).and_then(Value::as_str).unwrap_or_default()
    }
}

/// The times a claim set carries, read by [`check_claims`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Times {
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
}

/// Required claims, in the order they are checked for presence.
const REQUIRED: [&str; 9] = ["iss", "sub", "aud", "iat", "exp", "jti", "task", "scope", "res"];

/// Claim names an issuer fills in itself; extra claims may not use them.
pub(crate) const REGISTERED: [&str; 14] = [
    "iss", "sub", "aud", "iat", "nbf", "exp", "jti", "task", "scope", "res", "cnf", "dlg", "prev",
    "act",
];

/// Checks presence (first, all of them) and then type of every v1 claim.
pub(crate) fn check_claims(map: &Map<String, Value>) -> Result<Times, Error> {
    check_types(map, &REQUIRED, &["iss", "sub", "jti", "task"])
}

/// Claims a delegation link must carry (DESIGN.md, "Delegation"), in the order they are
/// checked for presence.
const LINK_REQUIRED: [&str; 9] =
    ["prev", "sub", "aud", "iat", "exp", "jti", "task", "scope", "res"];

/// Checks presence and then type of a delegation link's claims: those of a token without
/// `iss`, plus `prev` (a string) and `dlg` (an integer from 0, when present).
pub(crate) fn check_link_claims(map: &Map<String, Value>) -> Result<Times, Error> {
    let times = check_types(map, &LINK_REQUIRED, &["prev", "sub", "jti", "task"])?;
    match map.get("dlg") {
        None => Ok(times),
        Some(v) if v.as_u64().is_some() => Ok(times),
        Some(_) => Err(invalid("dlg", "an integer from 0")),
    }
}

/// Presence of `required` (first, all of them), then the types: `strings` non-empty
/// strings, and `aud`, `iat`, `nbf`, `exp`, `scope`, `res`, `cnf` as v1 defines them.
fn check_types(
    map: &Map<String, Value>,
    required: &[&str],
    strings: &[&str],
) -> Result<Times, Error> {
    if let Some(name) = required.iter().find(|name| !map.contains_key(**name)) {
        return Err(Error::new(
            ErrorKind::MissingClaim,
            alloc::format!("claim `{name}` is missing"),
        ));
    }
    for name in strings {
        match map.get(*name) {
            Some(Value::String(s)) if !s.is_empty() => {}
            _ => return Err(invalid(name, "a non-empty string")),
        }
    }
    match map.get("aud") {
        Some(Value::String(_)) => {}
        Some(Value::Array(a)) if !a.is_empty() && a.iter().all(Value::is_string) => {}
        _ => return Err(invalid("aud", "a string or a non-empty array of strings")),
    }
    let time = |name: &'static str| match map.get(name) {
        None => Ok(None),
        Some(v) => numeric_date(v).map(Some).ok_or_else(|| invalid(name, "an integer")),
    };
    let iat = time("iat")?.unwrap_or_default();
    let nbf = time("nbf")?.unwrap_or(iat);
    let exp = time("exp")?.unwrap_or_default();
    // A token issued after it expires is no token anyone minted: refuse it outright rather
    // than let the lifetime arithmetic make sense of it.
    if iat > exp {
        return Err(invalid("iat", "no later than `exp`"));
    }
    match map.get("scope") {
        Some(Value::String(s)) if is_scope(s) => {}
        _ => return Err(invalid("scope", "actions separated by single spaces")),
    }
    match map.get("res") {
        Some(Value::Array(a))
            if !a.is_empty() && a.iter().all(|r| r.as_str().is_some_and(|r| !r.is_empty())) => {}
        _ => return Err(invalid("res", "a non-empty array of non-empty strings")),
    }
    match map.get("cnf") {
        None => {}
        Some(Value::Object(cnf)) if cnf.get("jkt").and_then(Value::as_str).is_some_and(is_jkt) => {}
        Some(_) => return Err(invalid("cnf", "an object with a `jkt` SHA-256 thumbprint")),
    }
    Ok(Times { iat, nbf, exp })
}

/// The key checked claims are bound to (`cnf.jkt`), if any.
pub(crate) fn bound_key(claims: &Map<String, Value>) -> Option<&str> {
    claims.get("cnf").and_then(|c| c.get("jkt")).and_then(Value::as_str)
}

/// An RFC 7638 SHA-256 thumbprint: 43 characters of unpadded base64url.
pub(crate) fn is_jkt(jkt: &str) -> bool {
    crate::encoding::b64_decode_array::<32>(jkt).is_some()
}

/// The audiences of an `aud` value already checked by [`check_claims`].
pub(crate) fn audiences(aud: Option<&Value>) -> impl Iterator<Item = &str> {
    let (one, many) = match aud {
        Some(Value::String(s)) => (Some(s.as_str()), None),
        Some(Value::Array(a)) => (None, Some(a.iter().filter_map(Value::as_str))),
        _ => (None, None),
    };
    one.into_iter().chain(many.into_iter().flatten())
}

/// A JSON integer as seconds. Integers beyond `i64` saturate (they are past any real time,
/// and never wrap); `-0` is 0. A fraction or an exponent on a value within the `i64` range
/// (`1.5`, `1.0`, `1e3`) is refused.
pub(crate) fn numeric_date(v: &Value) -> Option<i64> {
    let n = v.as_number()?;
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    if n.is_u64() {
        return Some(i64::MAX);
    }
    // serde_json keeps integer literals outside the 64-bit ranges only as f64. Every f64 of
    // magnitude 2^63 or more is a whole number, so no fraction test is needed there. The
    // bound is inclusive on both sides: -9223372036854775809, just below i64::MIN, parses
    // as exactly -2^63 and saturates like every other integer beyond the range.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0; // 2^63
    match n.as_f64()? {
        0.0 => Some(0),
        f if f >= LIMIT => Some(i64::MAX),
        f if f <= -LIMIT => Some(i64::MIN),
        _ => None,
    }
}

fn invalid(name: &str, expected: &str) -> Error {
    Error::new(
        ErrorKind::InvalidClaim,
        Cow::Owned(alloc::format!("claim `{name}` must be {expected}")),
    )
}
