//! The one error type of the crate, with the stable codes of DESIGN.md.

use alloc::borrow::Cow;
use core::fmt;

/// What went wrong: one of the stable codes shared by Rust, JS and the CLI, and a short,
/// lowercase message meant for operators.
///
/// Decide on the [`ErrorKind`] (or its [`Error::code`]); show the [`Error::message`]. The
/// code is the API; the wording of messages is not, and may change in any release. Messages
/// never contain token text or key material; signature failures say only that the signature
/// failed. Two errors are equal when their kinds and messages are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: Cow<'static, str>,
}

/// The kind of an [`Error`]: one variant per stable code of DESIGN.md, in DESIGN.md's order.
///
/// New kinds may be added (`#[non_exhaustive]`): match with a wildcard arm.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The input is not well formed: a token over 8 KiB, not three base64url parts, padded
    /// or non-canonical base64, invalid or duplicate-member JSON, a missing `kid`, a header
    /// member that changes meaning (`crit`, `b64`, `jku`, ...); also a malformed key, key
    /// set or configuration.
    Malformed,
    /// The header's `alg` is not `EdDSA`/`Ed25519` (including `none`), or a key is not an
    /// Ed25519 OKP key.
    UnsupportedAlg,
    /// The header's `typ` is not `tt+jwt` (or `application/tt+jwt`).
    WrongType,
    /// No trusted key has the token's `kid`.
    UnknownKey,
    /// The Ed25519 signature does not verify under strict rules; also a small-order public
    /// key, which can never verify a signature strictly.
    BadSignature,
    /// A required claim is absent.
    MissingClaim,
    /// A claim has the wrong type or an impossible value; also what an issuer refuses to
    /// put in a token (empty scope, a bare `*` resource, too many actions, a bad pattern).
    InvalidClaim,
    /// `iss` does not name the issuer that owns the signing key.
    UntrustedIssuer,
    /// `aud` does not include the verifier's audience.
    WrongAudience,
    /// `nbf` (or `iat`) is still in the future, beyond the clock skew.
    NotYetValid,
    /// `exp` has passed, beyond the clock skew.
    Expired,
    /// `exp - iat` exceeds the allowed lifetime (verifier `max_lifetime`, issuer `max_ttl`).
    LifetimeTooLong,
    /// The token's `jti` is revoked.
    Revoked,
    /// The revocation data is too old to be trusted.
    StaleRevocation,
    /// The requested action is not in the token's `scope`.
    ActionDenied,
    /// The requested resource matches none of the token's `res` patterns (a request with an
    /// empty, `.` or `..` segment or an encoded `/`, `.` or `%` never matches).
    ResourceDenied,
    /// The verifier requires a key-bound token, or the token is bound and the request
    /// presented no key.
    BindingRequired,
    /// The token is bound (`cnf.jkt`) to a different key than the one presented.
    BindingMismatch,
    /// The DPoP proof is malformed, badly signed, or not for this request, time or token.
    InvalidProof,
    /// The DPoP proof's `jti` was already used within its window.
    ProofReplayed,
    /// A delegation chain breaks one of DESIGN.md's rules (an unbound or non-delegable
    /// element, a wrong signer or `prev`, a widened grant, too deep a chain, a verifier that
    /// accepts no chains); the message names the rule.
    DelegationDenied,
}

impl ErrorKind {
    /// The stable code from DESIGN.md, e.g. `"expired"`.
    pub const fn code(self) -> &'static str {
        match self {
            ErrorKind::Malformed => "malformed",
            ErrorKind::UnsupportedAlg => "unsupported_alg",
            ErrorKind::WrongType => "wrong_type",
            ErrorKind::UnknownKey => "unknown_key",
            ErrorKind::BadSignature => "bad_signature",
            ErrorKind::MissingClaim => "missing_claim",
            ErrorKind::InvalidClaim => "invalid_claim",
            ErrorKind::UntrustedIssuer => "untrusted_issuer",
            ErrorKind::WrongAudience => "wrong_audience",
            ErrorKind::NotYetValid => "not_yet_valid",
            ErrorKind::Expired => "expired",
            ErrorKind::LifetimeTooLong => "lifetime_too_long",
            ErrorKind::Revoked => "revoked",
            ErrorKind::StaleRevocation => "stale_revocation",
            ErrorKind::ActionDenied => "action_denied",
            ErrorKind::ResourceDenied => "resource_denied",
            ErrorKind::BindingRequired => "binding_required",
            ErrorKind::BindingMismatch => "binding_mismatch",
            ErrorKind::InvalidProof => "invalid_proof",
            ErrorKind::ProofReplayed => "proof_replayed",
            ErrorKind::DelegationDenied => "delegation_denied",
        }
    }
}

impl Error {
    /// An error of `kind` with `message`: short, lowercase, without token text, keys or
    /// secrets (a message is shown to operators and may be logged).
    pub fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Error { kind, message: message.into() }
    }

    /// What went wrong, to decide on.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The stable code from DESIGN.md, e.g. `"expired"`: the kind's [`ErrorKind::code`].
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }

    /// The human-readable message (no token text, no secrets). Its wording is not API.
    pub fn message(&self) -> &str {
        &self.message
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
    Error::new(ErrorKind::Malformed, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One kind per code, in `CODES`' order: the list JS, the CLI and README are checked
    /// against is the one `code()` answers from.
    #[test]
    fn kinds_give_the_codes_in_order() {
        let kinds = [
            ErrorKind::Malformed,
            ErrorKind::UnsupportedAlg,
            ErrorKind::WrongType,
            ErrorKind::UnknownKey,
            ErrorKind::BadSignature,
            ErrorKind::MissingClaim,
            ErrorKind::InvalidClaim,
            ErrorKind::UntrustedIssuer,
            ErrorKind::WrongAudience,
            ErrorKind::NotYetValid,
            ErrorKind::Expired,
            ErrorKind::LifetimeTooLong,
            ErrorKind::Revoked,
            ErrorKind::StaleRevocation,
            ErrorKind::ActionDenied,
            ErrorKind::ResourceDenied,
            ErrorKind::BindingRequired,
            ErrorKind::BindingMismatch,
            ErrorKind::InvalidProof,
            ErrorKind::ProofReplayed,
            ErrorKind::DelegationDenied,
        ];
        let codes: alloc::vec::Vec<_> = kinds.iter().map(|k| k.code()).collect();
        assert_eq!(codes, Error::CODES);
        let error = Error::new(ErrorKind::Expired, "token expired 5 s ago");
        assert_eq!((error.kind(), error.code()), (ErrorKind::Expired, "expired"));
        assert_eq!(error.to_string(), "expired: token expired 5 s ago");
    }
}
