//! Proof of possession (DPoP, RFC 9449): a bound token (`cnf.jkt`) is accepted only with a
//! fresh proof signed by the bound key, for this request (DESIGN.md, "Proof of possession").
//!
//! A proof is a compact JWS: header `typ: dpop+jwt`, `alg` `EdDSA`/`Ed25519` or `ES256`, and
//! `jwk`, the public key that signed it (private members refused); claims `jti`, `htm`, `htu`,
//! `iat`, and `ath` (base64url SHA-256 of the token) when a token goes with it. Checked in
//! this order: structure, header, signature; `htm`; `htu`; `iat` within the window; `ath`.
//! The verifier then compares the key's RFC 7638 thumbprint with `cnf.jkt`, and the `jti`
//! with its replay store. Every failure here is `invalid_proof`.

use alloc::borrow::Cow;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use core::cell::RefCell;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::encoding::{b64_decode, b64_decode_array, b64_encode, parse_object};
use crate::error::{malformed, Error};
use crate::prepared::PreparedKey;

/// The `typ` of a DPoP proof (RFC 9449 §4.2).
pub const PROOF_TYPE: &str = "dpop+jwt";
/// How old a proof may be, by its `iat`, unless configured otherwise (seconds).
pub const DEFAULT_PROOF_MAX_AGE: u32 = 60;
/// The largest proof age a verifier accepts as configuration (seconds).
pub const MAX_PROOF_MAX_AGE: u32 = 300;
/// The longest proof accepted, in bytes.
pub const MAX_PROOF_LEN: usize = 4 * 1024;

/// What the request that carries a proof is: the proof (the `DPoP` header), the HTTP method
/// and the URL the request was sent to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProofRequest<'a> {
    /// The compact proof, as the `DPoP` header carried it.
    pub proof: &'a str,
    /// The request's method (`GET`, `POST`, …), compared exactly with `htm`.
    pub method: &'a str,
    /// The request's URL; its query and fragment are ignored.
    pub url: &'a str,
    /// The nonce the server requires (RFC 9449 §9), if it uses them: the proof's `nonce`
    /// must be exactly this.
    pub nonce: Option<&'a str>,
}

/// A proof whose signature, `htm`, `htu`, `iat` and `ath` hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedProof {
    /// The RFC 7638 thumbprint of the proof's key, to compare with `cnf.jkt`.
    pub jkt: String,
    /// The proof's `jti`, for the replay check.
    pub jti: String,
    /// The proof's `iat`.
    pub iat: i64,
}

/// Where a verifier remembers the proofs it has accepted, so that none is used twice (a
/// shared store — a database, a Durable Object — makes that hold across instances).
pub trait ProofReplayStore {
    /// Records `jti` until `expires` (seconds); `false` if it is recorded already and has
    /// not expired at `now` (a replay). Must be atomic for everyone sharing the store.
    fn record(&self, jti: &str, expires: i64, now: i64) -> bool;
}

/// A bounded in-memory replay store, for one verifier in one thread: at most `capacity`
/// live proofs. When it is full of proofs that have not expired, new proofs are refused (fail
/// closed: forgetting a live proof would let it be replayed), so the capacity must exceed the
/// proofs expected within one window. Keyed by SHA-256 of the `jti`; expired entries leave in
/// expiry order, so a record costs O(log n).
#[derive(Debug)]
pub struct ProofReplayCache {
    capacity: usize,
    seen: RefCell<Seen>,
}

/// The remembered proofs, by key and by expiry.
#[derive(Debug, Default)]
struct Seen {
    until: BTreeMap<[u8; 32], i64>,
    by_expiry: alloc::collections::BTreeSet<(i64, [u8; 32])>,
}

impl ProofReplayCache {
    /// An empty cache holding at most `capacity` proofs (at least 1).
    pub fn new(capacity: usize) -> Self {
        ProofReplayCache { capacity: capacity.max(1), seen: RefCell::new(Seen::default()) }
    }
}

impl ProofReplayStore for ProofReplayCache {
    fn record(&self, jti: &str, expires: i64, now: i64) -> bool {
        // A re-entrant call (from a callback inside a verification) is refused, not guessed.
        let Ok(mut seen) = self.seen.try_borrow_mut() else {
            return false;
        };
        let Seen { until, by_expiry } = &mut *seen;
        while let Some(&(at, key)) = by_expiry.first() {
            if at >= now {
                break;
            }
            by_expiry.pop_first();
            until.remove(&key);
        }
        let key: [u8; 32] = Sha256::digest(jti.as_bytes()).into();
        if until.contains_key(&key) || until.len() >= self.capacity {
            return false;
        }
        until.insert(key, expires);
        by_expiry.insert((expires, key));
        true
    }
}

/// Verifies `request.proof` for `request.method` and `request.url`, at `now`, at most
/// `max_age` seconds old (plus `skew` either way), and bound to `token` (`ath`) if given.
///
/// Refuses, as `invalid_proof`: a proof over 4 KiB or not three base64url parts of strict
/// JSON; a `typ` other than `dpop+jwt`; an `alg` other than `EdDSA`, `Ed25519`, `ES256`; a
/// `jwk` that is missing, not a key of that algorithm, or holds a private member; a bad
/// signature (strict Ed25519; ECDSA P-256 over SHA-256); no `jti`; an `htm` or `htu` for
/// another request; an `iat` outside the window; an `ath` missing or not the token's hash.
pub fn verify_proof(
    request: &ProofRequest<'_>,
    token: Option<&str>,
    now: i64,
    max_age: u32,
    skew: u32,
) -> Result<VerifiedProof, Error> {
    verify_proof_with(request, token, now, (max_age, skew), None)
}

/// [`verify_proof`], where the signature of a proof whose key is `fast.1` (the bound token's
/// `cnf.jkt`) is checked through `fast.0`'s prepared table for that key: the same verdict
/// (strict Ed25519), at the cost of a token signature instead of about three.
pub(crate) fn verify_proof_with(
    request: &ProofRequest<'_>,
    token: Option<&str>,
    now: i64,
    (max_age, skew): (u32, u32),
    fast: Option<(&ProofKeyCache, &str)>,
) -> Result<VerifiedProof, Error> {
    if request.proof.len() > MAX_PROOF_LEN {
        return Err(invalid("the proof is longer than 4 KiB"));
    }
    let mut parts = request.proof.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("the proof is not three base64url parts"));
    };
    let object = |part: &str| b64_decode(part).and_then(|bytes| parse_object(&bytes));
    let header = object(h).ok_or_else(|| invalid("the proof header is not a JSON object"))?;
    let claims = object(p).ok_or_else(|| invalid("the proof claims are not a JSON object"))?;
    let signature = b64_decode(s).ok_or_else(|| invalid("the proof signature is not base64url"))?;
    if header.get("typ").and_then(Value::as_str) != Some(PROOF_TYPE) {
        return Err(invalid("the proof's `typ` is not `dpop+jwt`"));
    }
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or_default();
    let jwk = header.get("jwk").and_then(Value::as_object);
    let key = ProofKey::from_jwk(alg, jwk.ok_or_else(|| invalid("the proof has no `jwk`"))?)?;
    let signing_input = &request.proof[..h.len() + 1 + p.len()];
    let jkt = key.thumbprint();
    // The fast path only for the bound key, and a table only for a key that has already
    // signed a proof that verified the slow way: no caller can make tables for its keys.
    let cache = match (&key, fast) {
        (ProofKey::Ed25519(x), Some((cache, bound))) if bound == jkt => Some((cache, x)),
        _ => None,
    };
    let prepared = cache.and_then(|(cache, x)| cache.get(x));
    let genuine = match (prepared, <[u8; 64]>::try_from(signature.as_slice())) {
        (Some(prepared), Ok(signature)) => prepared.verify(signing_input.as_bytes(), &signature),
        (None, _) => {
            let genuine = key.verify(signing_input.as_bytes(), &signature);
            if let (true, Some((cache, x))) = (genuine, cache) {
                cache.remember(x);
            }
            genuine
        }
        (Some(_), Err(_)) => false,
    };
    if !genuine {
        return Err(invalid("the proof's signature does not verify"));
    }
    let text = |name: &str| claims.get(name).and_then(Value::as_str).filter(|v| !v.is_empty());
    let jti = text("jti").ok_or_else(|| invalid("the proof has no `jti`"))?;
    if text("htm") != Some(request.method) {
        return Err(invalid("the proof's `htm` is not the request's method"));
    }
    let htu = text("htu").and_then(normalize_url);
    if htu.is_none() || htu != normalize_url(request.url) {
        return Err(invalid("the proof's `htu` is not the request's URL"));
    }
    if let Some(nonce) = request.nonce {
        if text("nonce") != Some(nonce) {
            return Err(invalid("the proof's `nonce` is not the server's"));
        }
    }
    let iat = claims.get("iat").and_then(Value::as_i64);
    let iat = iat.ok_or_else(|| invalid("the proof has no integer `iat`"))?;
    let oldest = now.saturating_sub(i64::from(max_age)).saturating_sub(i64::from(skew));
    if iat < oldest || iat > now.saturating_add(i64::from(skew)) {
        return Err(invalid("the proof's `iat` is outside the accepted window"));
    }
    if let Some(token) = token {
        let hash = b64_encode(&Sha256::digest(token.as_bytes()));
        if text("ath") != Some(hash.as_str()) {
            return Err(invalid("the proof's `ath` is not the token's hash"));
        }
    }
    Ok(VerifiedProof { jkt, jti: jti.into(), iat })
}

/// The prepared tables (225 KiB each) of the last few Ed25519 proof keys that bound tokens
/// were presented with: a client reuses its proof key for every request, so its proofs are
/// then checked as fast as token signatures. Only a key equal to the token's `cnf.jkt` is
/// prepared, so a caller cannot make the verifier build tables for keys of its choosing.
/// For one verifier in one thread.
#[derive(Default)]
pub struct ProofKeyCache {
    keys: RefCell<alloc::vec::Vec<([u8; 32], Arc<PreparedKey>)>>,
}

/// How many proof keys' tables a [`ProofKeyCache`] keeps (about 1.8 MiB).
const PROOF_KEYS: usize = 8;

impl core::fmt::Debug for ProofKeyCache {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let held = self.keys.try_borrow().map_or(0, |k| k.len());
        f.debug_struct("ProofKeyCache").field("keys", &held).finish()
    }
}

impl ProofKeyCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The prepared table of `x`, if it is held (it becomes the most recently used). `None`
    /// if not, or if the cache is busy (re-entered).
    fn get(&self, x: &[u8; 32]) -> Option<Arc<PreparedKey>> {
        let mut keys = self.keys.try_borrow_mut().ok()?;
        let at = keys.iter().position(|(k, _)| k == x)?;
        let entry = keys.remove(at);
        let prepared = entry.1.clone();
        keys.push(entry);
        Some(prepared)
    }

    /// Builds and keeps the table of `x` (a key that has just signed a valid proof); the
    /// least recently used is dropped beyond `PROOF_KEYS`.
    fn remember(&self, x: &[u8; 32]) {
        let Ok(mut keys) = self.keys.try_borrow_mut() else {
            return;
        };
        let Some(key) = ed25519_dalek::VerifyingKey::from_bytes(x).ok().filter(|k| !k.is_weak())
        else {
            return;
        };
        if keys.iter().any(|(k, _)| k == x) {
            return;
        }
        if keys.len() >= PROOF_KEYS {
            keys.remove(0);
        }
        keys.push((*x, Arc::new(PreparedKey::new(&key))));
    }
}

/// The `nonce` claim of a proof, read **without verifying anything**: for a server that
/// uses nonces to answer `use_dpop_nonce` before spending a verification on a proof that
/// cannot pass. `None` for a proof that does not parse or has no string `nonce`.
pub fn unverified_proof_nonce(proof: &str) -> Option<String> {
    if proof.len() > MAX_PROOF_LEN {
        return None;
    }
    let payload = proof.split('.').nth(1)?;
    let claims = b64_decode(payload).and_then(|bytes| parse_object(&bytes))?;
    claims.get("nonce").and_then(Value::as_str).map(ToString::to_string)
}

/// A private proof key, Ed25519 or P-256, that signs DPoP proofs (RFC 9449 §4) for a client.
/// Zeroized on drop; never printed by `Debug`.
pub struct ProofSigningKey(SigningKind);

enum SigningKind {
    Ed25519(ed25519_dalek::SigningKey),
    P256(p256::ecdsa::SigningKey),
}

impl core::fmt::Debug for ProofSigningKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ProofSigningKey").field("alg", &self.alg()).finish_non_exhaustive()
    }
}

impl ProofSigningKey {
    /// A new random key for `alg`: `EdDSA` (or `Ed25519`) or `ES256`. Rejects another
    /// algorithm, or a system without randomness (`malformed`).
    pub fn generate(alg: &str) -> Result<Self, Error> {
        for _ in 0..8 {
            let mut seed = zeroize::Zeroizing::new([0u8; 32]);
            getrandom::fill(seed.as_mut())
                .map_err(|_| malformed("the system's random number generator is unavailable"))?;
            match alg {
                "EdDSA" | "Ed25519" => {
                    return Ok(ProofSigningKey(SigningKind::Ed25519(
                        ed25519_dalek::SigningKey::from_bytes(&seed),
                    )));
                }
                // A random 256-bit string is a valid P-256 scalar but for 2^-32 of the time.
                "ES256" => match p256::ecdsa::SigningKey::from_slice(seed.as_ref()) {
                    Ok(key) => return Ok(ProofSigningKey(SigningKind::P256(key))),
                    Err(_) => continue,
                },
                _ => return Err(malformed("a proof key's `alg` is EdDSA, Ed25519 or ES256")),
            }
        }
        Err(malformed("no P-256 key could be made from the random bytes"))
    }

    /// Reads a private JWK (`OKP`/`Ed25519` or `EC`/`P-256`, with `d`). Rejects another key
    /// type, a missing or malformed member, and public members that do not belong to `d`
    /// (`malformed`).
    pub fn from_jwk_object(jwk: &Map<String, Value>) -> Result<Self, Error> {
        let member = |name: &str| jwk.get(name).and_then(Value::as_str);
        let bytes = |name: &str| member(name).and_then(b64_decode_array::<32>);
        let d = bytes("d").map(zeroize::Zeroizing::new);
        let d = d.ok_or_else(|| malformed("a private proof key needs a 32-byte `d`"))?;
        let key = match (member("kty"), member("crv")) {
            (Some("OKP"), Some("Ed25519")) => {
                SigningKind::Ed25519(ed25519_dalek::SigningKey::from_bytes(&d))
            }
            (Some("EC"), Some("P-256")) => SigningKind::P256(
                p256::ecdsa::SigningKey::from_slice(d.as_ref())
                    .map_err(|_| malformed("the proof key's `d` is not a P-256 scalar"))?,
            ),
            _ => return Err(malformed("a proof key is an OKP Ed25519 or an EC P-256 JWK")),
        };
        let key = ProofSigningKey(key);
        let public = key.public_jwk();
        if ["x", "y"].iter().any(|m| jwk.get(*m).is_some_and(|v| Some(v) != public.get(*m))) {
            return Err(malformed("the proof key's public members do not belong to its `d`"));
        }
        Ok(key)
    }

    /// `EdDSA` or `ES256`.
    pub fn alg(&self) -> &'static str {
        match &self.0 {
            SigningKind::Ed25519(_) => "EdDSA",
            SigningKind::P256(_) => "ES256",
        }
    }

    /// The public JWK that proofs carry in their header.
    pub fn public_jwk(&self) -> Map<String, Value> {
        self.public().jwk()
    }

    /// The public half, as proofs carry it.
    fn public(&self) -> ProofKey {
        match &self.0 {
            SigningKind::Ed25519(key) => ProofKey::Ed25519(key.verifying_key().to_bytes()),
            SigningKind::P256(key) => {
                let point = key.verifying_key().to_encoded_point(false);
                let coordinate = |c: Option<&p256::FieldBytes>| {
                    let mut out = [0u8; 32];
                    if let Some(c) = c {
                        out.copy_from_slice(c);
                    }
                    out
                };
                ProofKey::P256 { x: coordinate(point.x()), y: coordinate(point.y()) }
            }
        }
    }

    /// The private JWK (the public one with `d`), to keep in a 0600 file or a secret store.
    pub fn private_jwk(&self) -> zeroize::Zeroizing<String> {
        let d = match &self.0 {
            SigningKind::Ed25519(key) => zeroize::Zeroizing::new(b64_encode(&key.to_bytes())),
            SigningKind::P256(key) => zeroize::Zeroizing::new(b64_encode(&key.to_bytes())),
        };
        // Written into one zeroized buffer: no copy of `d` is left in a map or a temporary.
        let public = Value::Object(self.public_jwk()).to_string();
        let mut out = zeroize::Zeroizing::new(String::with_capacity(public.len() + 64));
        out.push_str(public.strip_suffix('}').unwrap_or(&public));
        out.push_str(",\"d\":\"");
        out.push_str(&d);
        out.push_str("\"}");
        out
    }

    /// The RFC 7638 thumbprint of the public key: what `cnf.jkt` of a token bound to it is.
    pub fn thumbprint(&self) -> String {
        self.public().thumbprint()
    }

    /// A fresh proof for `method` on `url` (its query and fragment left out of `htu`), at
    /// `now`, with a random 128-bit `jti`, `ath` for `token` and the server's `nonce` if
    /// given. Rejects a method or URL that is empty or holds control characters
    /// (`malformed`).
    pub fn proof(
        &self,
        method: &str,
        url: &str,
        token: Option<&str>,
        nonce: Option<&str>,
        now: i64,
    ) -> Result<String, Error> {
        let htu = url.split(['?', '#']).next().unwrap_or_default();
        if method.is_empty()
            || htu.is_empty()
            || (method.chars().chain(htu.chars())).any(char::is_control)
        {
            return Err(malformed("a proof needs a method and a URL"));
        }
        let mut claims = Map::new();
        claims.insert("jti".into(), Value::String(crate::issuer::random_jti()?));
        claims.insert("htm".into(), Value::String(method.into()));
        claims.insert("htu".into(), Value::String(htu.into()));
        claims.insert("iat".into(), Value::from(now));
        if let Some(token) = token {
            claims
                .insert("ath".into(), Value::String(b64_encode(&Sha256::digest(token.as_bytes()))));
        }
        if let Some(nonce) = nonce {
            claims.insert("nonce".into(), Value::String(nonce.into()));
        }
        let mut header = Map::new();
        header.insert("typ".into(), Value::String(PROOF_TYPE.into()));
        header.insert("alg".into(), Value::String(self.alg().into()));
        header.insert("jwk".into(), Value::Object(self.public_jwk()));
        let input = format!(
            "{}.{}",
            b64_encode(Value::Object(header).to_string().as_bytes()),
            b64_encode(Value::Object(claims).to_string().as_bytes())
        );
        let signature = match &self.0 {
            SigningKind::Ed25519(key) => {
                ed25519_dalek::Signer::sign(key, input.as_bytes()).to_bytes().to_vec()
            }
            SigningKind::P256(key) => {
                let signature: p256::ecdsa::Signature =
                    p256::ecdsa::signature::Signer::sign(key, input.as_bytes());
                signature.to_bytes().to_vec()
            }
        };
        Ok(format!("{input}.{}", b64_encode(&signature)))
    }
}

/// A proof's public key.
enum ProofKey {
    Ed25519([u8; 32]),
    P256 { x: [u8; 32], y: [u8; 32] },
}

/// JWK members that only private (or symmetric) keys carry.
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "k"];

impl ProofKey {
    fn from_jwk(alg: &str, jwk: &Map<String, Value>) -> Result<Self, Error> {
        if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
            return Err(invalid("the proof's `jwk` holds a private key"));
        }
        let member = |name: &str| jwk.get(name).and_then(Value::as_str);
        let coordinate = |name: &str| member(name).and_then(b64_decode_array::<32>);
        match (alg, member("kty"), member("crv")) {
            ("EdDSA" | "Ed25519", Some("OKP"), Some("Ed25519")) => {
                // As for issuer keys: a canonical encoding of a point that is not of small
                // order (under which no signature verifies strictly anyway).
                let x = coordinate("x").filter(|x| {
                    let point = curve25519_dalek::edwards::CompressedEdwardsY(*x).decompress();
                    point.is_some_and(|p| p.compress().to_bytes() == *x && !p.is_small_order())
                });
                x.map(ProofKey::Ed25519)
                    .ok_or_else(|| invalid("the proof's Ed25519 `jwk` has no valid `x`"))
            }
            ("ES256", Some("EC"), Some("P-256")) => match (coordinate("x"), coordinate("y")) {
                (Some(x), Some(y)) => Ok(ProofKey::P256 { x, y }),
                _ => Err(invalid("the proof's P-256 `jwk` has no valid `x` and `y`")),
            },
            ("EdDSA" | "Ed25519" | "ES256", _, _) => {
                Err(invalid("the proof's `jwk` is not a key for its `alg`"))
            }
            _ => Err(invalid("the proof's `alg` is not EdDSA, Ed25519 or ES256")),
        }
    }

    /// Strict Ed25519 (`verify_strict`, no small-order key), or ECDSA P-256 with SHA-256
    /// over a 64-byte `r ‖ s` (RFC 7518 §3.4) on a point of the curve.
    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            ProofKey::Ed25519(x) => {
                let (Ok(key), Ok(signature)) = (
                    ed25519_dalek::VerifyingKey::from_bytes(x),
                    ed25519_dalek::Signature::from_slice(signature),
                ) else {
                    return false;
                };
                !key.is_weak() && key.verify_strict(message, &signature).is_ok()
            }
            ProofKey::P256 { x, y } => {
                use p256::ecdsa::signature::Verifier as _;
                let mut sec1 = [4u8; 65];
                sec1[1..33].copy_from_slice(x);
                sec1[33..].copy_from_slice(y);
                let (Ok(key), Ok(signature)) = (
                    p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1),
                    p256::ecdsa::Signature::from_slice(signature),
                ) else {
                    return false;
                };
                key.verify(message, &signature).is_ok()
            }
        }
    }

    /// The JWK of the key: `kty`, `crv` and the coordinates.
    fn jwk(&self) -> Map<String, Value> {
        let mut jwk = Map::new();
        let mut set = |k: &str, v: String| jwk.insert(k.into(), Value::String(v));
        match self {
            ProofKey::Ed25519(x) => {
                set("kty", "OKP".into());
                set("crv", "Ed25519".into());
                set("x", b64_encode(x));
            }
            ProofKey::P256 { x, y } => {
                set("kty", "EC".into());
                set("crv", "P-256".into());
                set("x", b64_encode(x));
                set("y", b64_encode(y));
            }
        }
        jwk
    }

    /// RFC 7638: SHA-256 of the required members in lexicographic order, base64url.
    fn thumbprint(&self) -> String {
        let canonical = match self {
            ProofKey::Ed25519(x) => {
                format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, b64_encode(x))
            }
            ProofKey::P256 { x, y } => format!(
                r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
                b64_encode(x),
                b64_encode(y)
            ),
        };
        b64_encode(&Sha256::digest(canonical.as_bytes()))
    }
}

/// An `http(s)` URL without query and fragment, with the scheme and host in lower case and a
/// default port (80, 443) left out; `None` for anything else (userinfo, no host, a port that
/// is not a number, characters outside visible ASCII). The path is compared as given.
pub(crate) fn normalize_url(url: &str) -> Option<String> {
    if url.is_empty() || !url.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => "443",
        "http" => "80",
        _ => return None,
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let path_end = tail.find(['?', '#']).unwrap_or(tail.len());
    let path = if path_end == 0 { "/" } else { &tail[..path_end] };
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    // A port follows the last `:`, unless that `:` is inside an IPv6 literal (`[::1]`).
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') || host.ends_with(']') => (host, Some(port)),
        _ => (authority, None),
    };
    if host.is_empty() || (host.starts_with('[') != host.ends_with(']')) {
        return None;
    }
    let port = match port {
        None => None,
        Some(p) if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) => {
            return None;
        }
        Some(p) => Some(p.trim_start_matches('0')).filter(|p| *p != default_port),
    };
    let host = host.to_ascii_lowercase();
    Some(match port {
        Some(port) => format!("{scheme}://{host}:{port}{path}"),
        None => format!("{scheme}://{host}{path}"),
    })
}

fn invalid(message: &'static str) -> Error {
    Error::InvalidProof(Cow::Borrowed(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_compare_by_scheme_host_port_and_path() {
        let n = |u| normalize_url(u);
        assert_eq!(n("https://API.example/a/b?x=1#f").as_deref(), Some("https://api.example/a/b"));
        assert_eq!(n("HTTPS://api.example:443/a"), n("https://api.example/a"));
        assert_eq!(n("http://api.example:80"), n("http://api.example/"));
        assert_ne!(n("https://api.example:8443/a"), n("https://api.example/a"));
        assert_ne!(n("https://api.example/A"), n("https://api.example/a"));
        assert_eq!(n("http://[::1]:8080/x").as_deref(), Some("http://[::1]:8080/x"));
        for bad in [
            "",
            "ftp://x/",
            "https://",
            "https://u@x/",
            "https://x:po/",
            "https://x:/",
            "https://x y/",
            "https://x:123456/",
            "//x/",
            "https://[::1/",
        ] {
            assert_eq!(n(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn proofs_made_here_verify_and_bind_to_their_key() {
        for alg in ["EdDSA", "ES256"] {
            let key = ProofSigningKey::generate(alg).expect("key");
            let url = "https://api.example/x?y=1";
            let proof = key.proof("POST", url, Some("tok"), None, 1_000).expect("proof");
            let request = ProofRequest { proof: &proof, method: "POST", url, nonce: None };
            let verified = verify_proof(&request, Some("tok"), 1_010, 60, 30).expect("verifies");
            assert_eq!(verified.jkt, key.thumbprint());
            let again = ProofSigningKey::from_jwk_object(
                &serde_json::from_str(&key.private_jwk()).expect("json"),
            )
            .expect("reads back");
            assert_eq!(again.thumbprint(), key.thumbprint());
            assert!(verify_proof(&request, Some("other"), 1_010, 60, 30).is_err(), "ath");
        }
        assert!(ProofSigningKey::generate("RS256").is_err());
        let key = ProofSigningKey::generate("EdDSA").expect("key");
        let url = "https://api.example/x";
        let with = key.proof("GET", url, None, Some("n-1"), 1_000).expect("proof");
        let without = key.proof("GET", url, None, None, 1_000).expect("proof");
        assert_eq!(unverified_proof_nonce(&with).as_deref(), Some("n-1"));
        assert_eq!(unverified_proof_nonce(&without), None);
        let required = |proof| ProofRequest { proof, method: "GET", url, nonce: Some("n-1") };
        assert!(verify_proof(&required(&with), None, 1_000, 60, 30).is_ok());
        assert!(verify_proof(&required(&without), None, 1_000, 60, 30).is_err());
    }

    #[test]
    fn the_replay_cache_refuses_a_jti_twice_and_stays_bounded() {
        let cache = ProofReplayCache::new(2);
        assert!(cache.record("a", 100, 10));
        assert!(!cache.record("a", 100, 50), "replayed within the window");
        assert!(cache.record("a", 200, 101), "expired entries are forgotten");
        assert!(cache.record("b", 250, 101));
        assert!(!cache.record("c", 300, 101), "full of live proofs: fail closed");
        assert_eq!(cache.seen.borrow().until.len(), 2);
        assert!(cache.record("c", 300, 201), "`a` expired, so there is room");
        assert!(!cache.record("b", 300, 202), "`b` is still remembered");
    }
}
