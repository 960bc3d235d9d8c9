//! Ed25519 keys as JWKs (RFC 8037 OKP keys) and key sets as JWKS.

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use curve25519_dalek::edwards::CompressedEdwardsY;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::encoding::{b64_decode_array, b64_encode, parse_object};
use crate::error::{malformed, Error, ErrorKind};
use crate::prepared::PreparedKey;
use once_cell::race::OnceBox;

/// Longest `kid` accepted, in bytes: key ids are labels, not payloads.
pub(crate) const MAX_KID_LEN: usize = 256;

/// An Ed25519 private key with its key id, used by an [`crate::Issuer`] to sign tokens.
///
/// The secret bytes are zeroized on drop and never printed by `Debug`.
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    key: ed25519_dalek::SigningKey,
}

impl SigningKey {
    /// Generates a fresh key from the operating system's randomness.
    ///
    /// Rejects an empty or over-long `kid` (`malformed`), and fails with `malformed` if the
    /// system has no randomness to give.
    pub fn generate(kid: &str) -> Result<Self, Error> {
        check_kid(kid)?;
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut())
            .map_err(|_| malformed("the system's random number generator is unavailable"))?;
        Self::from_seed(kid, &seed)
    }

    /// Builds a key from a 32-byte seed (the JWK `d`). Meant for tests and key import.
    ///
    /// Rejects an empty or over-long `kid` (`malformed`).
    pub fn from_seed(kid: &str, seed: &[u8; 32]) -> Result<Self, Error> {
        check_kid(kid)?;
        let key = ed25519_dalek::SigningKey::from_bytes(seed);
        Ok(SigningKey { kid: kid.to_string(), key })
    }

    /// Imports a private JWK (`kty` `OKP`, `crv` `Ed25519`, `x`, `d`, `kid`).
    ///
    /// Rejects a key of another type or curve (`unsupported_alg`), a missing or malformed
    /// member, or an `x` that does not belong to `d` (`malformed`).
    pub fn from_jwk(jwk: &str) -> Result<Self, Error> {
        let map =
            parse_object(jwk.as_bytes()).ok_or_else(|| malformed("JWK is not a JSON object"))?;
        Self::from_jwk_object(&map)
    }

    /// Like [`SigningKey::from_jwk`], from an already parsed JSON object.
    pub fn from_jwk_object(jwk: &Map<String, Value>) -> Result<Self, Error> {
        let public = PublicKey::from_jwk_fields(jwk)?;
        let d = jwk.get("d").ok_or_else(|| malformed("JWK has no private part `d`"))?;
        let d = d.as_str().ok_or_else(|| malformed("JWK `d` is not a string"))?;
        let seed = Zeroizing::new(
            b64_decode_array::<32>(d)
                .ok_or_else(|| malformed("JWK `d` is not 32 bytes of base64url"))?,
        );
        let key = Self::from_seed(&public.kid, &seed)?;
        if key.key.verifying_key().as_bytes() != public.key.as_bytes() {
            return Err(malformed("JWK `x` is not the public key of `d`"));
        }
        Ok(key)
    }

    /// The private JWK, as JSON. Handle it as a secret.
    pub fn to_jwk(&self) -> Zeroizing<String> {
        let d = Zeroizing::new(b64_encode(self.key.as_bytes()));
        let public = self.public_key().to_jwk();
        let body = public.strip_suffix('}').unwrap_or(&public);
        // Sized up front so the secret is never left behind in a reallocated buffer.
        let mut out = Zeroizing::new(String::with_capacity(body.len() + d.len() + 9));
        out.push_str(body);
        out.push_str(",\"d\":\"");
        out.push_str(&d);
        out.push_str("\"}");
        out
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey::new(self.kid.clone(), self.key.verifying_key())
    }

    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        use ed25519_dalek::Signer as _;
        self.key.sign(message).to_bytes()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

/// An Ed25519 public key with its key id, as a verifier trusts it.
#[derive(Clone)]
pub struct PublicKey {
    kid: String,
    key: ed25519_dalek::VerifyingKey,
    /// Its verification table, built on first use and shared by every clone, so that a
    /// verifier and the revocation data it checks never build it twice.
    prepared: Arc<OnceBox<PreparedKey>>,
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.kid == other.kid && self.key == other.key
    }
}

impl Eq for PublicKey {}

impl core::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PublicKey").field("kid", &self.kid).field("key", &self.key).finish()
    }
}

impl PublicKey {
    fn new(kid: String, key: ed25519_dalek::VerifyingKey) -> Self {
        PublicKey { kid, key, prepared: Arc::default() }
    }

    /// The key's verification table (built on first use, about 1,400 point additions).
    pub(crate) fn prepared(&self) -> &PreparedKey {
        self.prepared.get_or_init(|| Box::new(PreparedKey::new(&self.key)))
    }

    /// Imports a public JWK (`kty` `OKP`, `crv` `Ed25519`, `x`, `kid`).
    ///
    /// Rejects a key of another type or curve or an `alg` other than `EdDSA`/`Ed25519`
    /// (`unsupported_alg`); a missing `kid`, a `use` other than `sig`, an `x` that is not a
    /// canonically encoded curve point (`malformed`); a small-order `x`, under which no
    /// signature verifies strictly (`bad_signature`); and private material `d` — a public
    /// key set must not carry secrets (`malformed`).
    pub fn from_jwk(jwk: &str) -> Result<Self, Error> {
        let map =
            parse_object(jwk.as_bytes()).ok_or_else(|| malformed("JWK is not a JSON object"))?;
        Self::from_jwk_object(&map)
    }

    /// Like [`PublicKey::from_jwk`], from an already parsed JSON object.
    pub fn from_jwk_object(jwk: &Map<String, Value>) -> Result<Self, Error> {
        if jwk.contains_key("d") {
            return Err(malformed(
                "public JWK contains private key material `d`; publish public keys only",
            ));
        }
        Self::from_jwk_fields(jwk)
    }

    /// The public JWK, as JSON.
    pub fn to_jwk(&self) -> String {
        Value::Object(self.jwk_object()).to_string()
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The 32-byte public key.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.key.as_bytes()
    }

    /// The RFC 7638 JWK thumbprint (SHA-256, base64url), the value of `cnf.jkt`.
    pub fn thumbprint(&self) -> String {
        ed25519_thumbprint(self.as_bytes())
    }

    fn jwk_object(&self) -> Map<String, Value> {
        let value = json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "alg": "EdDSA",
            "use": "sig",
            "kid": self.kid,
            "x": b64_encode(self.as_bytes()),
        });
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    /// Checks the members shared by public and private JWKs and decodes `x`.
    fn from_jwk_fields(jwk: &Map<String, Value>) -> Result<Self, Error> {
        match jwk.get("kty") {
            None => return Err(malformed("JWK has no `kty`")),
            Some(Value::String(k)) if k == "OKP" => {}
            Some(_) => return Err(unsupported("JWK `kty` is not OKP; only Ed25519 keys are used")),
        }
        match jwk.get("crv") {
            Some(Value::String(c)) if c == "Ed25519" => {}
            _ => return Err(unsupported("JWK `crv` is not Ed25519")),
        }
        match jwk.get("alg") {
            None => {}
            Some(Value::String(a)) if a == "EdDSA" || a == "Ed25519" => {}
            Some(_) => return Err(unsupported("JWK `alg` is not EdDSA or Ed25519")),
        }
        match jwk.get("use") {
            None => {}
            Some(Value::String(u)) if u == "sig" => {}
            Some(_) => return Err(malformed("JWK `use` is not `sig`")),
        }
        let kid = match jwk.get("kid") {
            Some(Value::String(kid)) => kid,
            Some(_) => return Err(malformed("JWK `kid` is not a string")),
            None => return Err(malformed("JWK has no `kid`; every key needs a key id")),
        };
        check_kid(kid)?;
        let x = jwk
            .get("x")
            .and_then(Value::as_str)
            .and_then(b64_decode_array::<32>)
            .ok_or_else(|| malformed("JWK `x` is not 32 bytes of base64url"))?;
        let point = CompressedEdwardsY(x)
            .decompress()
            .ok_or_else(|| malformed("JWK `x` is not a point on Ed25519"))?;
        if point.compress().to_bytes() != x {
            return Err(malformed("JWK `x` is not canonically encoded"));
        }
        if point.is_small_order() {
            return Err(Error::new(
                ErrorKind::BadSignature,
                "JWK `x` is a small-order point, under which no signature verifies strictly",
            ));
        }
        let key = ed25519_dalek::VerifyingKey::from_bytes(&x)
            .map_err(|_| malformed("JWK `x` is not a valid Ed25519 public key"))?;
        Ok(PublicKey::new(kid.clone(), key))
    }
}

/// The RFC 7638 thumbprint of the Ed25519 key `x`: SHA-256 of RFC 8037 §2's required members
/// in lexicographic order, base64url. Issuer keys, proof keys and link keys all use it.
pub(crate) fn ed25519_thumbprint(x: &[u8; 32]) -> String {
    let canonical = alloc::format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, b64_encode(x));
    b64_encode(&Sha256::digest(canonical.as_bytes()))
}

/// `x` as a key a strict verifier takes from a caller (a DPoP proof's or a delegation link's
/// `jwk`): a canonical encoding (it compresses back to itself) of a point not of small order,
/// decoded once and kept for `verify_strict`. `None` for anything else.
pub(crate) fn strict_ed25519_key(x: &[u8; 32]) -> Option<ed25519_dalek::VerifyingKey> {
    let key = ed25519_dalek::VerifyingKey::from_bytes(x).ok()?;
    (!key.is_weak() && key.to_edwards().compress().to_bytes() == *x).then_some(key)
}

/// A set of public keys (a JWKS), e.g. one issuer's current and next key during rotation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeySet {
    keys: Vec<PublicKey>,
}

impl KeySet {
    /// Imports a JWKS document (`{"keys":[...]}`).
    ///
    /// Every key must import as [`PublicKey::from_jwk`] requires; two keys with one `kid`
    /// and an empty set are `malformed`. A set is rejected whole: no key is silently skipped.
    pub fn from_jwks(jwks: &str) -> Result<Self, Error> {
        let map =
            parse_object(jwks.as_bytes()).ok_or_else(|| malformed("JWKS is not a JSON object"))?;
        Self::from_jwks_object(&map)
    }

    /// Like [`KeySet::from_jwks`], from an already parsed JSON object.
    pub fn from_jwks_object(jwks: &Map<String, Value>) -> Result<Self, Error> {
        let keys = match jwks.get("keys") {
            Some(Value::Array(keys)) => keys,
            _ => return Err(malformed("JWKS has no `keys` array")),
        };
        let mut set = KeySet::default();
        for key in keys {
            let obj = key.as_object().ok_or_else(|| malformed("JWKS entry is not an object"))?;
            set.push(PublicKey::from_jwk_object(obj)?)?;
        }
        if set.keys.is_empty() {
            return Err(malformed("JWKS has no keys"));
        }
        Ok(set)
    }

    /// Builds a set from keys, rejecting two keys with one `kid` and an empty set
    /// (`malformed`).
    pub fn from_keys(keys: impl IntoIterator<Item = PublicKey>) -> Result<Self, Error> {
        let mut set = KeySet::default();
        for key in keys {
            set.push(key)?;
        }
        if set.keys.is_empty() {
            return Err(malformed("key set has no keys"));
        }
        Ok(set)
    }

    /// Adds a key, rejecting a `kid` already in the set (`malformed`).
    pub fn push(&mut self, key: PublicKey) -> Result<(), Error> {
        if self.get(key.kid()).is_some() {
            return Err(malformed("two keys in one key set share a `kid`"));
        }
        self.keys.push(key);
        Ok(())
    }

    /// The key with this `kid`, if any.
    pub fn get(&self, kid: &str) -> Option<&PublicKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// The keys, in the order they were added.
    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }

    /// The set as a JWKS document.
    pub fn to_jwks(&self) -> String {
        let keys: Vec<Value> = self.keys.iter().map(|k| Value::Object(k.jwk_object())).collect();
        json!({ "keys": keys }).to_string()
    }
}

fn unsupported(msg: &'static str) -> Error {
    Error::new(ErrorKind::UnsupportedAlg, msg)
}

fn check_kid(kid: &str) -> Result<(), Error> {
    if kid.is_empty() || kid.len() > MAX_KID_LEN {
        return Err(malformed("`kid` must be 1 to 256 bytes"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwk_round_trip() {
        let key = SigningKey::from_seed("k1", &[7u8; 32]).expect("valid kid");
        let private = SigningKey::from_jwk(&key.to_jwk()).expect("own private JWK imports");
        assert_eq!(private.public_key(), key.public_key());
        let public = PublicKey::from_jwk(&key.public_key().to_jwk()).expect("public JWK imports");
        assert_eq!(public, key.public_key());
        assert!(PublicKey::from_jwk(&key.to_jwk()).is_err(), "a private JWK is not a public key");
    }

    #[test]
    fn thumbprint_matches_rfc_8037_appendix_a3() {
        let jwk = r#"{"kty":"OKP","crv":"Ed25519","kid":"a3",
            "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
        let key = PublicKey::from_jwk(jwk).expect("RFC 8037 key imports");
        assert_eq!(key.thumbprint(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    }

    #[test]
    fn rejects_other_keys() {
        let code = |jwk: &str| PublicKey::from_jwk(jwk).map(|_| ()).map_err(|e| e.code());
        let x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
        assert_eq!(
            code(r#"{"kty":"RSA","kid":"a","n":"AQAB","e":"AQAB"}"#),
            Err("unsupported_alg")
        );
        let x25519 = format!(r#"{{"kty":"OKP","crv":"X25519","kid":"a","x":"{x}"}}"#);
        assert_eq!(code(&x25519), Err("unsupported_alg"));
        let no_kid = format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}"}}"#);
        assert_eq!(code(&no_kid), Err("malformed"));
        // The identity point (0, 1) has order 1.
        let small = r#"{"kty":"OKP","crv":"Ed25519","kid":"a",
            "x":"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#;
        assert_eq!(code(small), Err("bad_signature"));
    }
}
