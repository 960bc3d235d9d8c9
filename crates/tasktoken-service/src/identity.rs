//! Identity tokens of other issuers (GitHub Actions, GitLab CI, Kubernetes, SPIFFE, any
//! OIDC provider), verified with `jsonwebtoken` against each provider's JWKS.
//!
//! - Asymmetric algorithms only, from the provider's configured list; `none`, `HS*` and
//!   symmetric JWKs never; our own token types (`tt+jwt`, `tt-link+jwt`, `dpop+jwt`) are
//!   refused as subject tokens.
//! - `iss` exact, `aud` must include the provider's audience, `exp` required, `nbf` and `iat`
//!   honoured, all with the service's clock skew.
//! - Keys from a file (read at start) or fetched over HTTPS, cached for `jwks_cache`. An
//!   unknown `kid` asks for a fetch, but fetches are at least `jwks_refresh_floor` apart and
//!   concurrent askers share one, so made-up `kid`s cannot turn into a flood; a fetch waits at
//!   most [`FETCH_TIMEOUT`]. When no keys can be had, every token of the provider is refused.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use base64::Engine as _;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use crate::config::{IdentityConfig, JwksLocation};

/// The longest subject token considered: 16 KiB.
pub const MAX_SUBJECT_TOKEN: usize = 16 * 1024;
/// The largest JWKS read from a provider: 1 MiB.
const MAX_JWKS: usize = 1 << 20;
/// The most keys kept from one JWKS.
const MAX_KEYS: usize = 64;
/// How long one fetch of a JWKS may take, connection included.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// A verified identity: which provider vouched for it, and its claims.
#[derive(Clone, Debug)]
pub struct Identity {
    /// The provider's configured name.
    pub provider: String,
    /// Its `iss`.
    pub iss: String,
    /// Its `sub`, if a string.
    pub sub: Option<String>,
    /// Its claims, as the token carries them.
    pub claims: Map<String, Value>,
    /// The replay key of the subject token (a digest of `iss` and `jti`) and when it may be
    /// forgotten; `None` when the provider allows reuse.
    pub replay: Option<([u8; 32], i64)>,
}

/// The configured providers and their keys.
pub struct Providers {
    providers: Vec<Provider>,
    http: reqwest::Client,
    skew: u32,
}

struct Provider {
    config: IdentityConfig,
    keys: RwLock<Keys>,
    /// Held while a fetch runs: concurrent askers wait for it and then use its result.
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Keys {
    by_kid: HashMap<String, Key>,
    /// The only key of a JWKS whose keys have no `kid`, for tokens without one.
    fetched_at: Option<Instant>,
    attempted_at: Option<Instant>,
    /// Counts fetches, so a waiter sees whether one happened while it waited.
    generation: u64,
}

struct Key {
    decoding: DecodingKey,
    alg: Option<Algorithm>,
}

impl Providers {
    /// The providers of a configuration; files are read now, URLs at the first use (or by
    /// [`Providers::prefetch`]). Refuses an unreadable or empty JWKS file (the message names
    /// the provider).
    pub fn new(configs: &[IdentityConfig], skew: u32) -> Result<Providers, String> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(FETCH_TIMEOUT)
            .timeout(FETCH_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot start the HTTP client: {e}"))?;
        let mut providers = Vec::new();
        for config in configs {
            let mut keys = Keys::default();
            if let JwksLocation::File(path) = &config.jwks {
                let text = std::fs::read(path).map_err(|e| {
                    format!("identity `{}`: cannot read '{}': {e}", config.name, path.display())
                })?;
                keys.by_kid = parse_jwks(&text).map_err(|e| {
                    format!("identity `{}`: '{}': {e}", config.name, path.display())
                })?;
                keys.fetched_at = Some(Instant::now());
            }
            providers.push(Provider {
                config: config.clone(),
                keys: RwLock::new(keys),
                fetching: tokio::sync::Mutex::new(()),
            });
        }
        Ok(Providers { providers, http, skew })
    }

    /// Fetches the keys of every provider with a URL, reporting failures (which are not
    /// fatal: tokens are refused until a later fetch succeeds).
    pub async fn prefetch(&self, report: &(dyn Fn(String) + Sync)) {
        for provider in &self.providers {
            if matches!(provider.config.jwks, JwksLocation::Url(_)) {
                if let Err(e) = self.fetch(provider, None).await {
                    report(format!("identity `{}`: {e}", provider.config.name));
                }
            }
        }
    }

    /// Verifies `token` as an identity token of one configured provider at `now`. The error
    /// is an `invalid_grant` description naming the rule, never the token.
    pub async fn verify(&self, token: &str, now: i64) -> Result<Identity, String> {
        if token.len() > MAX_SUBJECT_TOKEN {
            return Err("the subject token is longer than 16 KiB".into());
        }
        // Held to the rules of our own tokens: no duplicate members (one parser reads the
        // first, another the last), and no member that changes how the JWS is processed
        // (RFC 7515 §4.1.11: a `crit` naming what we do not understand must be refused).
        // Decoded once; `jsonwebtoken` reads its typed header from the same object.
        let strict_header = strict_part(token, 0)
            .ok_or_else(|| "the subject token's header is not a strict JSON object".to_owned())?;
        if ["crit", "b64", "zip", "enc"].iter().any(|m| strict_header.contains_key(*m)) {
            return Err("the subject token's header has a member that changes its meaning".into());
        }
        let header: jsonwebtoken::Header = serde_json::from_value(Value::Object(strict_header))
            .map_err(|_| "the subject token is not a JWT".to_owned())?;
        if let Some(typ) = &header.typ {
            let typ = typ.to_ascii_lowercase();
            let typ = typ.strip_prefix("application/").unwrap_or(&typ);
            if matches!(typ, "tt+jwt" | "tt-link+jwt" | "dpop+jwt") {
                return Err("a task token, link or proof is not an identity token".into());
            }
        }
        let unverified = strict_part(token, 1).ok_or_else(|| {
            "the subject token's claims are not a strict JSON object (duplicate members?)"
                .to_owned()
        })?;
        let iss = unverified.get("iss").and_then(Value::as_str).unwrap_or_default();
        let audiences: Vec<&str> = match unverified.get("aud") {
            Some(Value::String(a)) => vec![a.as_str()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let provider = self
            .providers
            .iter()
            .find(|p| p.config.issuer == iss && audiences.contains(&p.config.audience.as_str()))
            .or_else(|| self.providers.iter().find(|p| p.config.issuer == iss))
            .ok_or_else(|| {
                "the subject token's issuer is not a configured identity provider".to_owned()
            })?;
        let config = &provider.config;
        if !config.algorithms.contains(&header.alg) {
            return Err(format!(
                "identity `{}` does not accept the subject token's `alg`",
                config.name
            ));
        }
        let kid = header.kid.as_deref();
        if self.key(provider, kid, header.alg).is_none()
            && matches!(config.jwks, JwksLocation::Url(_))
        {
            // An unknown `kid`: a fetch, unless one ran less than the floor ago.
            let seen = provider.keys.read().map(|k| k.generation).unwrap_or(0);
            let _ = self.fetch(provider, Some(seen)).await;
        } else if self.stale(provider) {
            let seen = provider.keys.read().map(|k| k.generation).unwrap_or(0);
            let _ = self.fetch(provider, Some(seen)).await;
        }
        let result = {
            let keys = provider.keys.read().map_err(|_| "the key cache failed".to_owned())?;
            let key = pick(&keys, kid).ok_or_else(|| {
                format!("no key of identity `{}` has the subject token's `kid`", config.name)
            })?;
            if key.alg.is_some_and(|alg| alg != header.alg) {
                return Err(format!(
                    "the key of identity `{}` is for another `alg` than the token's",
                    config.name
                ));
            }
            let mut validation = Validation::new(header.alg);
            validation.leeway = u64::from(self.skew);
            validation.set_issuer(&[&config.issuer]);
            validation.set_audience(&[&config.audience]);
            validation.set_required_spec_claims(&["exp", "iss", "aud"]);
            validation.validate_nbf = true;
            jsonwebtoken::decode::<Map<String, Value>>(token, &key.decoding, &validation)
        };
        let claims = result.map_err(|e| describe(e.kind(), &config.name))?.claims;
        if claims
            .get("iat")
            .and_then(Value::as_i64)
            .is_some_and(|iat| iat > now + i64::from(self.skew))
        {
            return Err(format!(
                "the subject token of identity `{}` is issued in the future",
                config.name
            ));
        }
        // An integer `exp` only: the replay record lives until it (a fractional or huge
        // one would make the record expire early and the token exchangeable again).
        let exp = claims.get("exp").and_then(Value::as_i64).ok_or_else(|| {
            format!(
                "the subject token of identity `{}` has an `exp` that is not an integer",
                config.name
            )
        })?;
        let replay = if config.reuse {
            None
        } else {
            let jti = claims.get("jti").and_then(Value::as_str).filter(|j| !j.is_empty());
            let jti = jti.ok_or_else(|| {
                format!(
                    "the subject token has no `jti`, and identity `{}` does not allow reuse",
                    config.name
                )
            })?;
            let mut digest = Sha256::new();
            digest.update(config.issuer.as_bytes());
            digest.update([0]);
            digest.update(jti.as_bytes());
            Some((digest.finalize().into(), exp.saturating_add(i64::from(self.skew))))
        };
        Ok(Identity {
            provider: config.name.clone(),
            iss: config.issuer.clone(),
            sub: claims.get("sub").and_then(Value::as_str).map(str::to_owned),
            claims,
            replay,
        })
    }

    /// True if the provider's fetched keys are older than its cache time.
    fn stale(&self, provider: &Provider) -> bool {
        let Ok(keys) = provider.keys.read() else { return true };
        matches!(provider.config.jwks, JwksLocation::Url(_))
            && keys.fetched_at.is_none_or(|at| {
                at.elapsed() >= Duration::from_secs(u64::from(provider.config.jwks_cache))
            })
    }

    fn key(&self, provider: &Provider, kid: Option<&str>, _alg: Algorithm) -> Option<()> {
        let keys = provider.keys.read().ok()?;
        pick(&keys, kid).map(drop)
    }

    /// Fetches the provider's JWKS, unless another fetch completed since the caller saw
    /// generation `seen`, or the last attempt is less than the floor ago.
    async fn fetch(&self, provider: &Provider, seen: Option<u64>) -> Result<(), String> {
        let JwksLocation::Url(url) = &provider.config.jwks else {
            return Ok(());
        };
        let _running = provider.fetching.lock().await;
        {
            let keys = provider.keys.read().map_err(|_| "the key cache failed".to_owned())?;
            if seen.is_some_and(|seen| keys.generation != seen) {
                return Ok(());
            }
            let floor = Duration::from_secs(u64::from(provider.config.jwks_refresh_floor));
            if seen.is_some() && keys.attempted_at.is_some_and(|at| at.elapsed() < floor) {
                return Err("the last fetch of the keys is too recent".into());
            }
        }
        if let Ok(mut keys) = provider.keys.write() {
            keys.attempted_at = Some(Instant::now());
        }
        let fetched = self.download(url).await.and_then(|bytes| parse_jwks(&bytes));
        let mut keys = provider.keys.write().map_err(|_| "the key cache failed".to_owned())?;
        keys.generation += 1;
        match fetched {
            Ok(by_kid) => {
                keys.by_kid = by_kid;
                keys.fetched_at = Some(Instant::now());
                Ok(())
            }
            // The last good keys stay: a provider that is down for a moment does not stop
            // every exchange, and a fetch failure cannot add keys.
            Err(e) => Err(e),
        }
    }

    async fn download(&self, url: &str) -> Result<Vec<u8>, String> {
        let mut response = self
            .http
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| format!("the JWKS fetch failed: {}", without_url(&e)))?;
        if !response.status().is_success() {
            return Err(format!("the JWKS fetch answered HTTP {}", response.status().as_u16()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("the JWKS fetch failed: {}", without_url(&e)))?
        {
            if body.len() + chunk.len() > MAX_JWKS {
                return Err("the JWKS is larger than 1 MiB".into());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// A reqwest error's description without the URL (it may carry a token in a query).
fn without_url(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".into()
    } else if error.is_connect() {
        "cannot connect".into()
    } else {
        "the request failed".into()
    }
}

/// The key for `kid`: by `kid`, or the only key when the token names none.
fn pick<'k>(keys: &'k Keys, kid: Option<&str>) -> Option<&'k Key> {
    match kid {
        Some(kid) => keys.by_kid.get(kid),
        None if keys.by_kid.len() == 1 => keys.by_kid.values().next(),
        None => None,
    }
}

/// The signature keys of a JWKS, by `kid` (a key without one is kept as `""`); symmetric
/// keys, keys for encryption and keys of unknown types are left out. Refuses text that is
/// not a JWKS, and a JWKS with no usable key.
fn parse_jwks(bytes: &[u8]) -> Result<HashMap<String, Key>, String> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|_| "the JWKS is not JSON".to_owned())?;
    let list = value
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| "the JWKS has no `keys` array".to_owned())?;
    let mut by_kid = HashMap::new();
    for item in list.iter().take(MAX_KEYS) {
        if item.get("use").and_then(Value::as_str).is_some_and(|u| u != "sig") {
            continue;
        }
        let Ok(jwk) = serde_json::from_value::<Jwk>(item.clone()) else {
            continue;
        };
        if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)) {
            continue;
        }
        let Ok(decoding) = DecodingKey::from_jwk(&jwk) else {
            continue;
        };
        let alg = item.get("alg").and_then(Value::as_str).and_then(|a| a.parse::<Algorithm>().ok());
        if item.get("alg").is_some() && alg.is_none() {
            continue;
        }
        let kid = jwk.common.key_id.clone().unwrap_or_default();
        by_kid.entry(kid).or_insert(Key { decoding, alg });
    }
    if by_kid.is_empty() {
        return Err("the JWKS holds no usable signature key".into());
    }
    Ok(by_kid)
}

/// Part `n` of a JWS (0 the header, 1 the claims), decoded without verifying, read
/// strictly: `None` for duplicate members at any depth, as for our own tokens. The verified
/// claims are the same text, so no policy ever matches a value another parser reads
/// differently.
fn strict_part(token: &str, n: usize) -> Option<Map<String, Value>> {
    let part = token.split('.').nth(n)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).ok()?;
    tasktoken::parse_json_object(&bytes)
}

/// A `jsonwebtoken` failure as a description naming the rule.
fn describe(kind: &jsonwebtoken::errors::ErrorKind, provider: &str) -> String {
    use jsonwebtoken::errors::ErrorKind as K;
    let rule = match kind {
        K::InvalidSignature | K::Crypto(_) => "its signature does not verify",
        K::ExpiredSignature => "it has expired",
        K::ImmatureSignature => "it is not valid yet (`nbf`)",
        K::InvalidIssuer => "its `iss` is not the provider's",
        K::InvalidAudience => "its `aud` does not include the provider's audience",
        K::MissingRequiredClaim(_) => "it lacks `exp`, `iss` or `aud`",
        K::InvalidAlgorithm => "its `alg` does not fit the key",
        _ => "it is not a well-formed JWT",
    };
    format!("the subject token of identity `{provider}` is refused: {rule}")
}
