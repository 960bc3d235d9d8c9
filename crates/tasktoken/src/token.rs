//! The compact serialization of a v1 token: size, structure and header checks.

use alloc::string::String;
use serde_json::{Map, Value};

use crate::encoding::{b64_decode, parse_object};
use crate::error::{malformed, Error, ErrorKind};

/// The largest token accepted, in bytes; anything longer is `malformed` before decoding.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// The `typ` every v1 token carries (RFC 8725 §3.11 explicit typing).
pub const TOKEN_TYPE: &str = "tt+jwt";

/// Header members that would change how the token is read; their presence is `malformed`.
/// `crit` (RFC 7515 §4.1.11) and `b64` (RFC 7797) change processing, `jku`/`jwk`/`x5*`
/// would let the token pick its own key, `zip`/`enc`/`cty` change what the payload is.
pub(crate) const FORBIDDEN_HEADER_MEMBERS: [&str; 11] =
    ["crit", "b64", "jku", "jwk", "x5u", "x5c", "x5t", "x5t#S256", "zip", "enc", "cty"];

/// A token split and decoded but **not verified**: nothing in it may be trusted.
///
/// It is what `tasktoken inspect` shows. Turn a token into trusted claims only with
/// [`crate::Verifier`].
#[derive(Clone, Debug)]
pub struct UnverifiedToken<'a> {
    header: Map<String, Value>,
    claims: Map<String, Value>,
    /// The decoded payload, as JSON text (valid UTF-8: it parsed as strict JSON).
    payload: String,
    signing_input: &'a str,
    /// `None` when the part is valid base64url but not 64 bytes: that fails at the
    /// signature step, after the header (so `alg: none` with no signature is
    /// `unsupported_alg`, as DESIGN.md's order requires).
    signature: Option<[u8; 64]>,
}

impl<'a> UnverifiedToken<'a> {
    /// Splits and decodes a compact token: at most 8 KiB, exactly three unpadded base64url
    /// parts, a header and a payload that are strict JSON objects (no duplicate members).
    /// Anything else is `malformed`. Neither the header nor the signature's length is
    /// judged here.
    pub fn parse(token: &'a str) -> Result<Self, Error> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(malformed("token is longer than 8 KiB"));
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed("token is not three base64url parts separated by dots"));
        };
        let header = b64_decode(h)
            .and_then(|bytes| parse_object(&bytes))
            .ok_or_else(|| malformed("token header is not a base64url-encoded JSON object"))?;
        let (claims, payload) = b64_decode(p)
            .and_then(|bytes| Some((parse_object(&bytes)?, String::from_utf8(bytes).ok()?)))
            .ok_or_else(|| malformed("token payload is not a base64url-encoded JSON object"))?;
        let signature = b64_decode(s)
            .ok_or_else(|| malformed("token signature is not base64url"))?
            .try_into()
            .ok();
        let signing_input = &token[..h.len() + 1 + p.len()];
        Ok(UnverifiedToken { header, claims, payload, signing_input, signature })
    }

    /// The decoded header, unverified.
    pub fn header(&self) -> &Map<String, Value> {
        &self.header
    }

    /// The decoded claims, unverified.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// True if the token has the shape of a task token: a header declaring `alg` EdDSA or
    /// Ed25519 and `typ` tt+jwt, and a 64-byte signature. Nothing is verified; this is how
    /// `tasktoken scan` tells task tokens from other JWTs (and from a token run on into text).
    pub fn declares_task_token(&self) -> bool {
        let alg = self.header.get("alg").and_then(Value::as_str);
        let typ = self.header.get("typ").and_then(Value::as_str);
        matches!(alg, Some("EdDSA" | "Ed25519"))
            && typ.is_some_and(is_token_type)
            && self.signature.is_some()
    }

    /// Checks the header as DESIGN.md orders it (`alg`, then `typ`, then `kid`, then members
    /// that change meaning) and returns the `kid`.
    pub(crate) fn checked_kid(&self) -> Result<&str, Error> {
        match self.header.get("alg") {
            Some(Value::String(alg)) if alg == "EdDSA" || alg == "Ed25519" => {}
            _ => {
                return Err(Error::new(
                    ErrorKind::UnsupportedAlg,
                    "token `alg` is not EdDSA or Ed25519",
                ))
            }
        }
        match self.header.get("typ") {
            Some(Value::String(typ)) if is_token_type(typ) => {}
            _ => return Err(Error::new(ErrorKind::WrongType, "token `typ` is not tt+jwt")),
        }
        let kid = match self.header.get("kid") {
            Some(Value::String(kid)) if !kid.is_empty() => kid,
            _ => return Err(malformed("token header has no `kid` string")),
        };
        if FORBIDDEN_HEADER_MEMBERS.iter().any(|m| self.header.contains_key(*m)) {
            return Err(malformed("token header has a member that changes its meaning"));
        }
        Ok(kid)
    }

    pub(crate) fn signing_input(&self) -> &'a str {
        self.signing_input
    }

    pub(crate) fn signature(&self) -> Option<&[u8; 64]> {
        self.signature.as_ref()
    }

    /// The claims, and the same claims as the JSON text the token carried.
    pub(crate) fn into_claims(self) -> (Map<String, Value>, String) {
        (self.claims, self.payload)
    }
}

/// `tt+jwt`, or the full media type `application/tt+jwt`, compared case-insensitively
/// (RFC 7515 §4.1.9).
fn is_token_type(typ: &str) -> bool {
    is_media_type(typ, TOKEN_TYPE)
}

/// True if `typ` is the media type `bare` (`tt+jwt`, `tt-link+jwt`) with or without its
/// `application/` prefix, compared case-insensitively (RFC 7515 §4.1.9).
pub(crate) fn is_media_type(typ: &str, bare: &str) -> bool {
    let without = match typ.get(..12) {
        Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &typ[12..],
        _ => typ,
    };
    without.eq_ignore_ascii_case(bare)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_types() {
        assert!(is_token_type("tt+jwt"));
        assert!(is_token_type("TT+JWT"));
        assert!(is_token_type("application/tt+jwt"));
        assert!(is_token_type("Application/TT+jwt"));
        assert!(!is_token_type("JWT"));
        assert!(!is_token_type("at+jwt"));
        assert!(!is_token_type("application/"));
        assert!(!is_token_type("x-application/tt+jwt"));
    }

    #[test]
    fn structure() {
        let code = |t: &str| UnverifiedToken::parse(t).map(|_| ()).map_err(|e| e.code());
        assert_eq!(code(""), Err("malformed"));
        assert_eq!(code("a.b"), Err("malformed"));
        assert_eq!(code("a.b.c.d"), Err("malformed"));
        assert_eq!(code(&"a".repeat(MAX_TOKEN_LEN + 1)), Err("malformed"));
    }
}
