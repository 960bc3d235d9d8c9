//! Proof of possession (DPoP, RFC 9449): a bound token (`cnf.jkt`) is accepted only with a
//! fresh proof signed by the bound key, for this request (DESIGN.md, "Proof of possession").
//!
//! A proof is a compact JWS: header `typ: dpop+jwt`, `alg` `EdDSA`/`Ed25519` or `ES256`, and
//! `jwk`, the public key that signed it (private members refused); claims `jti`, `htm`, `htu`,
//! `iat`, and `ath` (base64url SHA-256 of the token) when a token goes with it. Checked in
//! this order: structure, header, signature; `htm`; `htu`; `iat` within the window; `ath`.
//! The verifier then compares the key's RFC 7638 thumbprint with `cnf.jkt`, and the `jti`
//! with its replay store. Every failure here is `invalid_proof`.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use core::cell::RefCell;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::encoding::{b64_decode, b64_decode_array, b64_encode, b64_encode_slice};
use crate::encoding::{parse_fields, Fields};
use crate::error::{malformed, Error, ErrorKind};
use crate::keys::{ed25519_thumbprint, strict_ed25519_key};
use crate::prepared::PreparedKey;
use crate::token::FORBIDDEN_HEADER_MEMBERS;

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
///
/// Built with [`ProofRequest::new`] and [`ProofRequest::with_nonce`] (fields may be added).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
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

impl<'a> ProofRequest<'a> {
    /// The compact `proof` a request by `method` to `url` carried, with no nonce required.
    /// Nothing is checked here: the verifier checks the proof against them.
    pub fn new(proof: &'a str, method: &'a str, url: &'a str) -> Self {
        ProofRequest { proof, method, url, nonce: None }
    }

    /// Requires the proof's `nonce` to be exactly `nonce` (RFC 9449 §9); a proof without it,
    /// or with another, is `invalid_proof`.
    pub fn with_nonce(self, nonce: &'a str) -> Self {
        ProofRequest { nonce: Some(nonce), ..self }
    }
}

/// A proof whose signature, `htm`, `htu`, `iat` and `ath` hold. Only [`verify_proof`] makes
/// one (fields may be added).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
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
/// expiry order, a second at a time, so a record costs one search of the set of keys.
#[derive(Debug)]
pub struct ProofReplayCache {
    capacity: usize,
    seen: RefCell<Seen>,
}

/// The remembered proofs, by key and by the second they expire.
#[derive(Debug, Default)]
struct Seen {
    /// SHA-256 of each `jti`, as two integers: they compare in two instructions where a
    /// byte array takes a `memcmp` call (wasm).
    keys: alloc::collections::BTreeSet<(u128, u128)>,
    /// The keys expiring at each second: a proof's expiry is its `iat` plus the window, so
    /// these are the few seconds of one window, however many proofs there are.
    by_expiry: BTreeMap<i64, alloc::vec::Vec<(u128, u128)>>,
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
        let Seen { keys, by_expiry } = &mut *seen;
        while let Some(entry) = by_expiry.first_entry() {
            if *entry.key() >= now {
                break;
            }
            for key in entry.remove() {
                keys.remove(&key);
            }
        }
        let digest: [u8; 32] = Sha256::digest(jti.as_bytes()).into();
        let half = |at: usize| {
            let mut bytes = [0u8; 16];
            bytes.copy_from_slice(&digest[at..at + 16]);
            u128::from_be_bytes(bytes)
        };
        let key = (half(0), half(16));
        if keys.len() >= self.capacity || !keys.insert(key) {
            return false;
        }
        by_expiry.entry(expires).or_default().push(key);
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
    // A client signs every proof under the same header: a header that named a key whose
    // table is held has passed every header check already (the same text, the same verdict),
    // so it is neither decoded, parsed, checked nor hashed again.
    let held = fast.and_then(|(cache, _)| cache.by_header(h));
    let claims_bytes = b64_decode(p).ok_or_else(claims_not_object)?;
    let claims = parse_fields(&claims_bytes).ok_or_else(claims_not_object)?;
    // Ed25519 and ES256 (`r‖s`) signatures are both 64 bytes.
    let signature = b64_decode_array::<64>(s)
        .ok_or_else(|| invalid("the proof signature is not 64 bytes of base64url"))?;
    let signing_input = &request.proof.as_bytes()[..h.len() + 1 + p.len()];
    let (jkt, genuine) = match held {
        Some(held) => (held.jkt.clone(), held.prepared.verify(signing_input, &signature)),
        None => {
            let header_bytes = b64_decode(h).ok_or_else(header_not_object)?;
            let header = parse_fields(&header_bytes).ok_or_else(header_not_object)?;
            if header.str("typ") != Some(PROOF_TYPE) {
                return Err(invalid("the proof's `typ` is not `dpop+jwt`"));
            }
            // What changes how a JWS is read (`crit`, `b64`, `jku`, `x5c`, `zip`, ...: a
            // token's list, but `jwk`, which names the proof's key) is not ours to honour.
            if FORBIDDEN_HEADER_MEMBERS.iter().any(|m| *m != "jwk" && header.contains(m)) {
                return Err(invalid("the proof's header has a member that changes its meaning"));
            }
            let alg = header.str("alg").unwrap_or_default();
            let jwk = header.object("jwk").ok_or_else(|| invalid("the proof has no `jwk`"))?;
            let key = ProofKey::from_jwk(alg, jwk)?;
            let jkt = key.thumbprint();
            // The table only for the bound key, and only once that key has signed a proof
            // that verified the slow way: no caller can make tables for its keys.
            let candidate = match (&key, fast) {
                (ProofKey::Ed25519(key), Some((cache, bound))) if bound == jkt => {
                    Some((cache, key))
                }
                _ => None,
            };
            let prepared = candidate.and_then(|(cache, key)| cache.by_key(key.as_bytes()));
            let genuine = match prepared {
                Some(prepared) => prepared.verify(signing_input, &signature),
                None => key.verify(signing_input, &signature),
            };
            if let (true, Some((cache, key))) = (genuine, candidate) {
                cache.remember(key, h, &jkt);
            }
            (jkt, genuine)
        }
    };
    if !genuine {
        return Err(invalid("the proof's signature does not verify"));
    }
    let text = |name: &str| claims.str(name).filter(|v| !v.is_empty());
    let jti = text("jti").ok_or_else(|| invalid("the proof has no `jti`"))?;
    if text("htm") != Some(request.method) {
        return Err(invalid("the proof's `htm` is not the request's method"));
    }
    let htu = text("htu").and_then(UrlParts::parse);
    if !htu.is_some_and(|htu| UrlParts::parse(request.url).is_some_and(|url| htu.same(&url))) {
        return Err(invalid("the proof's `htu` is not the request's URL"));
    }
    if let Some(nonce) = request.nonce {
        if text("nonce") != Some(nonce) {
            return Err(invalid("the proof's `nonce` is not the server's"));
        }
    }
    let iat = claims.int("iat").ok_or_else(|| invalid("the proof has no integer `iat`"))?;
    let oldest = now.saturating_sub(i64::from(max_age)).saturating_sub(i64::from(skew));
    if iat < oldest || iat > now.saturating_add(i64::from(skew)) {
        return Err(invalid("the proof's `iat` is outside the accepted window"));
    }
    if let Some(token) = token {
        // The token's hash, encoded on the stack: 32 bytes are 43 base64url characters.
        let mut hash = [0u8; 43];
        let encoded = b64_encode_slice(&Sha256::digest(token.as_bytes()), &mut hash);
        if encoded.is_none() || text("ath").map(str::as_bytes) != encoded {
            return Err(invalid("the proof's `ath` is not the token's hash"));
        }
    }
    Ok(VerifiedProof { jkt, jti: jti.into(), iat })
}

fn header_not_object() -> Error {
    invalid("the proof header is not a JSON object")
}

fn claims_not_object() -> Error {
    invalid("the proof claims are not a JSON object")
}

/// The prepared tables (225 KiB each) of the last few Ed25519 proof keys that bound tokens
/// were presented with: a client reuses its proof key for every request, so its proofs are
/// then checked as fast as token signatures. Only a key equal to the token's `cnf.jkt` is
/// prepared, so a caller cannot make the verifier build tables for keys of its choosing.
/// Each key is held with its thumbprint and the header its proofs carry, so that a proof
/// under that header skips the header's parsing, the key's checks and the thumbprint.
/// For one verifier in one thread.
#[derive(Default)]
pub struct ProofKeyCache {
    keys: RefCell<alloc::vec::Vec<Arc<HeldKey>>>,
}

/// A proof key whose table is held.
struct HeldKey {
    /// The base64url header of the last proof it signed that verified the slow way (or
    /// under a header not seen before): `typ` `dpop+jwt`, an Ed25519 `alg`, this key's `jwk`.
    header: String,
    /// The key's encoding.
    x: [u8; 32],
    /// Its RFC 7638 thumbprint.
    jkt: String,
    prepared: Arc<PreparedKey>,
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

    /// The key held for proofs whose header is `header` (it becomes the most recently used).
    /// `None` if there is none, or if the cache is busy (re-entered).
    fn by_header(&self, header: &str) -> Option<Arc<HeldKey>> {
        self.find(|held| held.header == header)
    }

    /// The prepared table of `x`, if it is held (it becomes the most recently used).
    fn by_key(&self, x: &[u8; 32]) -> Option<Arc<PreparedKey>> {
        self.find(|held| held.x == *x).map(|held| held.prepared.clone())
    }

    fn find(&self, matches: impl Fn(&HeldKey) -> bool) -> Option<Arc<HeldKey>> {
        let mut keys = self.keys.try_borrow_mut().ok()?;
        let at = keys.iter().position(|held| matches(held))?;
        let held = keys.remove(at);
        keys.push(held.clone());
        Some(held)
    }

    /// Keeps `key` (a key that has just signed a valid proof under `header`, which parsed to
    /// it, with thumbprint `jkt`): its table is built if it is not held yet, the least
    /// recently used dropped beyond `PROOF_KEYS`; held already, it takes `header` as the one
    /// its proofs carry.
    fn remember(&self, key: &ed25519_dalek::VerifyingKey, header: &str, jkt: &str) {
        let Ok(mut keys) = self.keys.try_borrow_mut() else {
            return;
        };
        let x = key.as_bytes();
        let prepared = match keys.iter().position(|held| held.x == *x) {
            Some(at) if keys[at].header == header => return,
            Some(at) => keys.remove(at).prepared.clone(),
            None => Arc::new(PreparedKey::new(key)),
        };
        if keys.len() >= PROOF_KEYS {
            keys.remove(0);
        }
        let held = HeldKey { header: header.into(), x: *x, jkt: jkt.into(), prepared };
        keys.push(Arc::new(held));
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
    let bytes = b64_decode(payload)?;
    parse_fields(&bytes)?.str("nonce").map(ToString::to_string)
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
            SigningKind::Ed25519(key) => ProofKey::Ed25519(key.verifying_key()),
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

    /// An Ed25519 signature over `message` (a delegation link); `None` for a P-256 key.
    pub(crate) fn sign_ed25519(&self, message: &[u8]) -> Option<[u8; 64]> {
        match &self.0 {
            SigningKind::Ed25519(key) => Some(ed25519_dalek::Signer::sign(key, message).to_bytes()),
            SigningKind::P256(_) => None,
        }
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
    /// Checked as [`strict_ed25519_key`] checks, decoded once.
    Ed25519(ed25519_dalek::VerifyingKey),
    P256 {
        x: [u8; 32],
        y: [u8; 32],
    },
}

/// JWK members that only private (or symmetric) keys carry.
pub(crate) const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "k"];

impl ProofKey {
    fn from_jwk(alg: &str, jwk: &Fields<'_>) -> Result<Self, Error> {
        if PRIVATE_MEMBERS.iter().any(|m| jwk.contains(m)) {
            return Err(invalid("the proof's `jwk` holds a private key"));
        }
        let member = |name: &str| jwk.str(name);
        let coordinate = |name: &str| member(name).and_then(b64_decode_array::<32>);
        match (alg, member("kty"), member("crv")) {
            ("EdDSA" | "Ed25519", Some("OKP"), Some("Ed25519")) => {
                // As for issuer keys: a canonical encoding of a point that is not of small
                // order (under which no signature verifies strictly anyway), decoded once.
                coordinate("x")
                    .and_then(|x| strict_ed25519_key(&x))
                    .map(ProofKey::Ed25519)
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
            ProofKey::Ed25519(key) => ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|signature| key.verify_strict(message, &signature).is_ok()),
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
            ProofKey::Ed25519(key) => {
                set("kty", "OKP".into());
                set("crv", "Ed25519".into());
                set("x", b64_encode(key.as_bytes()));
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
        match self {
            ProofKey::Ed25519(key) => ed25519_thumbprint(key.as_bytes()),
            ProofKey::P256 { x, y } => {
                let canonical = format!(
                    r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
                    b64_encode(x),
                    b64_encode(y)
                );
                b64_encode(&Sha256::digest(canonical.as_bytes()))
            }
        }
    }
}

/// An `http(s)` URL as `htu` compares it: without query and fragment, the scheme and host
/// compared in lower case, a default port (80, 443) left out, the path as given. Parsing
/// refuses anything else (userinfo, no host, a port that is not a number, characters outside
/// visible ASCII). Borrowed: comparing two allocates nothing.
struct UrlParts<'a> {
    scheme: &'a str,
    host: &'a str,
    /// Without leading zeros; `None` when absent or the scheme's default.
    port: Option<&'a str>,
    path: &'a str,
}

impl<'a> UrlParts<'a> {
    fn parse(url: &'a str) -> Option<Self> {
        if url.is_empty() || !url.bytes().all(|b| b.is_ascii_graphic()) {
            return None;
        }
        let (scheme, rest) = url.split_once("://")?;
        let default_port = if scheme.eq_ignore_ascii_case("https") {
            "443"
        } else if scheme.eq_ignore_ascii_case("http") {
            "80"
        } else {
            return None;
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
        Some(UrlParts { scheme, host, port, path })
    }

    /// The normalised URL, byte by byte: `scheme://host[:port]path`, scheme and host in
    /// lower case.
    fn bytes(&self) -> impl Iterator<Item = u8> + '_ {
        let lower = |s: &'a str| s.bytes().map(|b| b.to_ascii_lowercase());
        let port = self.port.into_iter().flat_map(|p| core::iter::once(b':').chain(p.bytes()));
        lower(self.scheme)
            .chain(*b"://")
            .chain(lower(self.host))
            .chain(port)
            .chain(self.path.bytes())
    }

    /// True if both normalise to the same text.
    fn same(&self, other: &UrlParts<'_>) -> bool {
        self.bytes().eq(other.bytes())
    }
}

fn invalid(message: &'static str) -> Error {
    Error::new(ErrorKind::InvalidProof, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The normalised text of `url`, as `htu` compares it.
    fn normalize_url(url: &str) -> Option<String> {
        UrlParts::parse(url).map(|u| u.bytes().map(char::from).collect())
    }

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
        assert_eq!(cache.seen.borrow().keys.len(), 2);
        assert!(cache.record("c", 300, 201), "`a` expired, so there is room");
        assert!(!cache.record("b", 300, 202), "`b` is still remembered");
    }

    #[test]
    fn a_held_proof_key_gives_the_same_verdicts() {
        let key = ProofSigningKey::generate("EdDSA").expect("key");
        let other = ProofSigningKey::generate("EdDSA").expect("key");
        let (jkt, url) = (key.thumbprint(), "https://api.example/x");
        let cache = ProofKeyCache::new();
        let check = |proof: &str, bound: &str| {
            let request = ProofRequest { proof, method: "GET", url, nonce: None };
            verify_proof_with(&request, Some("tok"), 1_000, (60, 30), Some((&cache, bound)))
        };
        let proof = |k: &ProofSigningKey| k.proof("GET", url, Some("tok"), None, 1_000).expect("p");
        let first = proof(&key);
        let header = first.split('.').next().expect("header").to_string();
        assert!(cache.by_header(&header).is_none());
        assert_eq!(check(&first, &jkt).expect("verifies").jkt, jkt);
        assert!(cache.by_header(&header).is_some(), "held once it verified for its bound token");
        // Under the held header: the table, the same answers.
        assert_eq!(check(&proof(&key), &jkt).expect("verifies").jkt, jkt);
        let forged = format!("{}.{}", &first[..first.rfind('.').expect("dot")], "A".repeat(86));
        assert!(check(&forged, &jkt).is_err());
        let short = format!("{}.AAAA", &first[..first.rfind('.').expect("dot")]);
        assert!(check(&short, &jkt).is_err());
        let mut claims = first.split('.').collect::<Vec<_>>();
        let other_claims = proof(&other);
        claims[1] = other_claims.split('.').nth(1).expect("claims");
        assert!(check(&claims.join("."), &jkt).is_err(), "another proof's claims");
        // A token bound to another key: the held key still answers with its own thumbprint.
        assert_eq!(check(&proof(&key), &other.thumbprint()).expect("verifies").jkt, jkt);
        // Another key's proofs are not held unless bound: no table for a caller's key.
        let theirs = proof(&other);
        assert!(check(&theirs, &jkt).is_ok());
        assert!(cache.by_header(theirs.split('.').next().expect("header")).is_none());
        // The same key under another header text (members reordered): verified, then that
        // header is the one held.
        let jwk = key.public_jwk();
        let text = format!(r#"{{"jwk":{},"alg":"EdDSA","typ":"dpop+jwt"}}"#, Value::Object(jwk));
        let reordered = b64_encode(text.as_bytes());
        let payload = first.split('.').nth(1).expect("claims");
        let input = format!("{reordered}.{payload}");
        let SigningKind::Ed25519(signer) = &key.0 else { unreachable!("an Ed25519 key") };
        let signature = ed25519_dalek::Signer::sign(signer, input.as_bytes()).to_bytes();
        let again = format!("{input}.{}", b64_encode(&signature));
        // (the same `jti` as `first`: this store only checks proofs, not replays)
        assert_eq!(check(&again, &jkt).expect("verifies").jkt, jkt);
        assert!(cache.by_header(&reordered).is_some() && cache.by_header(&header).is_none());
    }
}
