//! The one error type of the crate, with the stable codes of DESIGN.md.

use alloc::borrow::Cow;
use core::fmt;

/// What went wrong, as one of the stable codes shared by Rust, JS and the CLI.
///
/// Every variant carries a short, lowercase message meant for operators. Messages never
/// contain token text or key material; signature failures say only that the signature
/// failed. Match on the variant (or compare [`Error::code`]) to decide; show the message.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The input is not well formed: a token over 8 KiB, not three base64url parts, padded
    /// or non-canonical base64, invalid or duplicate-member JSON, a missing `kid`, a header
    /// member that changes meaning (`crit`, `b64`, `jku`, ...); also a malformed key, key
    /// set or configuration.
    Malformed(Cow<'static, str>),
    /// The header's `alg` is not `EdDSA`/`Ed25519` (including `none`), or a key is not an
    /// Ed25519 OKP key.
    UnsupportedAlg(Cow<'static, str>),
    /// The header's `typ` is not `tt+jwt` (or `application/tt+jwt`).
    WrongType(Cow<'static, str>),
    /// No trusted key has the token's `kid`.
    UnknownKey(Cow<'static, str>),
    /// The Ed25519 signature does not verify under strict rules; also a small-order public
    /// key, which can never verify a signature strictly.
    BadSignature(Cow<'static, str>),
    /// A required claim is absent.
    MissingClaim(Cow<'static, str>),
    /// A claim has the wrong type or an impossible value; also what an issuer refuses to
    /// put in a token (empty scope, a bare `*` resource, too many actions, a bad pattern).
    InvalidClaim(Cow<'static, str>),
    /// `iss` does not name the issuer that owns the signing key.
    UntrustedIssuer(Cow<'static, str>),
    /// `aud` does not include the verifier's audience.
    WrongAudience(Cow<'static, str>),
    /// `nbf` (or `iat`) is still in the future, beyond the clock skew.
    NotYetValid(Cow<'static, str>),
    /// `exp` has passed, beyond the clock skew.
    Expired(Cow<'static, str>),
    /// `exp - iat` exceeds the allowed lifetime (verifier `max_lifetime`, issuer `max_ttl`).
    LifetimeTooLong(Cow<'static, str>),
    /// The token's `jti` is revoked.
    Revoked(Cow<'static, str>),
    /// The revocation data is too old to be trusted.
    StaleRevocation(Cow<'static, str>),
    /// The requested action is not in the token's `scope`.
    ActionDenied(Cow<'static, str>),
    /// The requested resource matches none of the token's `res` patterns (a request with an
    /// empty, `.` or `..` segment or an encoded `/`, `.` or `%` never matches).
    ResourceDenied(Cow<'static, str>),
    /// The verifier requires a key-bound token, or the token is bound and the request
    /// presented no key.
    BindingRequired(Cow<'static, str>),
    /// The token is bound (`cnf.jkt`) to a different key than the one presented.
    BindingMismatch(Cow<'static, str>),
    /// The DPoP proof is malformed, badly signed, or not for this request, time or token.
    InvalidProof(Cow<'static, str>),
    /// The DPoP proof's `jti` was already used within its window.
    ProofReplayed(Cow<'static, str>),
    /// A delegation chain breaks one of DESIGN.md's rules (an unbound or non-delegable
    /// element, a wrong signer or `prev`, a widened grant, too deep a chain, a verifier that
    /// accepts no chains); the message names the rule.
    DelegationDenied(Cow<'static, str>),
}

impl Error {
    /// The stable code from DESIGN.md, e.g. `"expired"`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Malformed(_) => "malformed",
            Error::UnsupportedAlg(_) => "unsupported_alg",
            Error::WrongType(_) => "wrong_type",
            Error::UnknownKey(_) => "unknown_key",
            Error::BadSignature(_) => "bad_signature",
            Error::MissingClaim(_) => "missing_claim",
            Error::InvalidClaim(_) => "invalid_claim",
            Error::UntrustedIssuer(_) => "untrusted_issuer",
            Error::WrongAudience(_) => "wrong_audience",
            Error::NotYetValid(_) => "not_yet_valid",
            Error::Expired(_) => "expired",
            Error::LifetimeTooLong(_) => "lifetime_too_long",
            Error::Revoked(_) => "revoked",
            Error::StaleRevocation(_) => "stale_revocation",
            Error::ActionDenied(_) => "action_denied",
            Error::ResourceDenied(_) => "resource_denied",
            Error::BindingRequired(_) => "binding_required",
            Error::BindingMismatch(_) => "binding_mismatch",
            Error::InvalidProof(_) => "invalid_proof",
            Error::ProofReplayed(_) => "proof_replayed",
            Error::DelegationDenied(_) => "delegation_denied",
        }
    }

    /// The human-readable message (no token text, no secrets).
    pub fn message(&self) -> &str {
        match self {
            Error::Malformed(m)
            | Error::UnsupportedAlg(m)
            | Error::WrongType(m)
            | Error::UnknownKey(m)
            | Error::BadSignature(m)
            | Error::MissingClaim(m)
            | Error::InvalidClaim(m)
            | Error::UntrustedIssuer(m)
            | Error::WrongAudience(m)
            | Error::NotYetValid(m)
            | Error::Expired(m)
            | Error::LifetimeTooLong(m)
            | Error::Revoked(m)
            | Error::StaleRevocation(m)
            | Error::ActionDenied(m)
            | Error::ResourceDenied(m)
            | Error::BindingRequired(m)
            | Error::BindingMismatch(m)
            | Error::InvalidProof(m)
            | Error::ProofReplayed(m)
            | Error::DelegationDenied(m) => m,
        }
    }

    /// Every stable code, in the order DESIGN.md lists them.
    pub const CODES: [&'static str; 21] = [
        "malformed",
        "unsupported_alg",
        "wrong_type",
        "unknown_key",
        "bad_signature",
        "missing_claim",
        "invalid_claim",
        "untrusted_issuer",
        "wrong_audience",
        "not_yet_valid",
        "expired",
        "lifetime_too_long",
        "revoked",
        "stale_revocation",
        "action_denied",
        "resource_denied",
        "binding_required",
        "binding_mismatch",
        "invalid_proof",
        "proof_replayed",
        "delegation_denied",
    ];
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

/// Shorthand used throughout the crate for errors with a static message.
pub(crate) fn malformed(msg: &'static str) -> Error {
    Error::Malformed(Cow::Borrowed(msg))
}
