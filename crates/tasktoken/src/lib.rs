//! Task-scoped tokens: short-lived, Ed25519-signed credentials for one discrete task of a
//! non-human identity (an AI agent, a CI job, an automation runner).
//!
//! ```
//! use tasktoken::{Issuer, KeySet, MintRequest, Request, SigningKey, Verifier};
//!
//! let key = SigningKey::generate("k1")?;
//! let issuer = Issuer::new("https://auth.example", key.clone())?;
//! let token = issuer.mint(
//!     &MintRequest::new("agent:lookup-bot", "lookup-4821")
//!         .with_aud(["crm-api"])
//!         .with_scope("customers:read")
//!         .with_res(["customers/4821"])
//!         .with_ttl(60),
//! )?;
//!
//! let keys = KeySet::from_keys([key.public_key()])?;
//! let verifier = Verifier::new("crm-api")?.trust("https://auth.example", &keys)?;
//! let claims = verifier.verify(&token, &Request::new("customers:read", "customers/4821"))?;
//! assert_eq!(claims.task(), "lookup-4821");
//! let denied = verifier.verify(&token, &Request::new("customers:write", "customers/4821"));
//! assert_eq!(denied.unwrap_err().code(), "action_denied");
//! # Ok::<(), tasktoken::Error>(())
//! ```
//!
//! The public interface is:
//! - [`SigningKey`], [`PublicKey`], [`KeySet`]: Ed25519 keys as JWK and JWKS;
//! - [`Issuer`] and [`MintRequest`]: minting under a least-privilege policy;
//! - [`Verifier`], [`Request`], [`VerifiedClaims`]: verification, in DESIGN.md's order;
//!   [`VerifyContext`], [`VerifyCache`]: what else a verification may consult;
//! - [`UnverifiedToken`]: decoding without trust, for inspection; [`parse_json_object`]: the
//!   strict JSON reader of headers and payloads (no duplicate members), for foreign JWTs;
//! - [`ProofRequest`], [`verify_proof`], [`ProofReplayStore`], [`ProofReplayCache`]: proof of
//!   possession (DPoP, RFC 9449), checked by the verifier for bound tokens;
//! - [`delegate`], [`LinkRequest`]: delegation chains (`ROOT~LINK~…`), which the verifier
//!   accepts where it accepts tokens (DESIGN.md, "Delegation");
//! - [`action_allowed`], [`resource_allowed`]: the matching rules on their own;
//! - [`Policy`], [`ExchangeRequest`], [`decide_exchange`] ([`Grant`], [`Refusal`]): who may
//!   get which token, the token service's decision (DESIGN.md, "Token service");
//! - [`ApprovalPolicy`], [`Approval`] ([`ApprovalState`], [`Decision`], [`ApprovalRefusal`],
//!   [`Requester`], [`ApprovalHandle`]): a privileged task waits for a person, the rules of
//!   deciding and collecting (DESIGN.md, "Approval");
//! - [`BloomGeometry`], [`BloomFilter`], [`Publication`] (with [`Snapshot`], [`Delta`],
//!   [`Freshness`]): the revocation filter and its signed binary format, for authorities;
//! - [`RevocationFilter`], [`Revocation`]: a replica's verified filter, and what
//!   [`Verifier::verify_with`] consults ([`VerifyContext::with_revocation`]);
//!   [`RevocationReplica`] ([`Offered`]): which snapshots and deltas a replica takes, in
//!   order, never going back, for one issuer;
//! - [`PublicationPlanner`] ([`Generation`], [`Step`]): what an authority publishes next —
//!   serial, validity, delta or new generation, capacity;
//! - [`AuditSink`], [`AuditEvent`], [`AuditKind`], [`OutcomeCounters`]: a structured event for
//!   every mint, verification decision and revocation, without token text or keys;
//! - [`Scanner`], [`FoundToken`], [`is_task_token`]: finding leaked task tokens in text;
//! - [`Error`] ([`ErrorKind`]): one error type, one stable code per kind, a message that is
//!   not API.
//!
//! Structs with public fields are `#[non_exhaustive]`, so that a field can be added without
//! breaking anyone: build them with their `new` and `with_*` methods. An [`Error`]'s kind and
//! code are API, the wording of its message is not (`docs/decisions.md`, "Public API of the
//! core crate").
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

extern crate alloc;

mod approval;
mod audit;
mod cache;
mod claims;
mod delegation;
mod dpop;
mod encoding;
mod error;
mod exchange;
mod issuer;
mod keys;
mod policy;
mod prepared;
mod revocation;
mod scan;
mod token;
mod verifier;

pub use approval::{
    approval_resource, apv, is_approval_id, new_approval_handle, parse_approval_id, secret_matches,
    Approval, ApprovalHandle, ApprovalPolicy, ApprovalRefusal, ApprovalState, Decision, Requester,
    COLLECT_GRACE, DECIDE_ACTION, DEFAULT_APPROVAL_INTERVAL, MAX_APPROVAL_EXPIRES,
    MAX_APPROVAL_INTERVAL, MAX_APPROVERS,
};
pub use audit::{AuditEvent, AuditKind, AuditSink, OutcomeCounters};
pub use cache::VerifyCache;
pub use claims::VerifiedClaims;
pub use delegation::{delegate, LinkRequest, LINK_TYPE, MAX_DELEGATION_DEPTH};
pub use dpop::{
    unverified_proof_nonce, verify_proof, ProofKeyCache, ProofReplayCache, ProofReplayStore,
    ProofRequest, ProofSigningKey, VerifiedProof, DEFAULT_PROOF_MAX_AGE, MAX_PROOF_LEN,
    MAX_PROOF_MAX_AGE, PROOF_TYPE,
};
pub use encoding::parse_object as parse_json_object;
pub use error::{Error, ErrorKind};
pub use exchange::{decide_exchange, ExchangeRequest, Grant, Policy, Refusal};
pub use issuer::{
    Issuer, MintRequest, DEFAULT_MAX_ACTIONS, DEFAULT_MAX_DELEGATION, DEFAULT_MAX_TTL,
};
pub use keys::{KeySet, PublicKey, SigningKey};
pub use policy::{action_allowed, resource_allowed};
pub use revocation::bloom::{BloomFilter, BloomGeometry, Entry, DEFAULT_FPR, SALT_LEN};
pub use revocation::filter::{
    Revocation, RevocationFilter, DEFAULT_REVOCATION_GRACE, MAX_REVOCATION_GRACE,
};
pub use revocation::format::{Delta, Freshness, Publication, Snapshot, MAX_DELTA_ENTRIES};
pub use revocation::planner::{
    Generation, PublicationPlanner, Step, DEFAULT_MIN_CAPACITY, DEFAULT_VALID_FOR, MAX_FUTURE_SKEW,
    MAX_SERIAL, MAX_VALID_FOR, SERIAL_TIME_SHIFT,
};
pub use revocation::replica::{Offered, RevocationReplica};
pub use scan::{is_task_token, FoundToken, Scanner};
pub use token::{UnverifiedToken, MAX_TOKEN_LEN, TOKEN_TYPE};
pub use verifier::{
    Request, Verifier, VerifyContext, DEFAULT_CLOCK_SKEW, DEFAULT_MAX_LIFETIME, MAX_CLOCK_SKEW,
    MAX_LIFETIME_LIMIT, REVOKE_ACTION,
};

/// Seconds since the Unix epoch from the system clock (0 if the clock is before 1970).
#[cfg(all(feature = "std", not(all(target_arch = "wasm32", target_os = "unknown"))))]
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Hooks for test vectors and fuzzing. **Not API**: may change in any release.
#[doc(hidden)]
pub mod __private {
    use crate::{Error, Issuer, MintRequest};

    /// Strict verification through the verifier's precomputed-table path, with a freshly
    /// prepared key, for the differential test against ed25519-dalek's `verify_strict`:
    /// `None` for bytes that are not a point, `false` under a small-order key (as
    /// `verify_strict` answers for every signature under one).
    pub fn prepared_verify_strict(
        key: &[u8; 32],
        message: &[u8],
        signature: &[u8; 64],
    ) -> Option<bool> {
        ed25519_dalek::VerifyingKey::from_bytes(key).ok()?;
        Some(PreparedKeyHook::new(key).is_some_and(|prepared| prepared.verify(message, signature)))
    }

    /// A public key prepared once (its fixed-base table), for benchmarks of the signature
    /// check alone.
    pub struct PreparedKeyHook(crate::prepared::PreparedKey);

    impl PreparedKeyHook {
        /// Prepares `key`; `None` if it is not a valid, non-small-order point.
        pub fn new(key: &[u8; 32]) -> Option<Self> {
            let key = ed25519_dalek::VerifyingKey::from_bytes(key).ok()?;
            (!key.is_weak()).then(|| PreparedKeyHook(crate::prepared::PreparedKey::new(&key)))
        }

        /// Strict verification of `signature` over `message`.
        pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
            self.0.verify(message, signature)
        }
    }

    /// [`crate::verify_proof`] with a proof key cache, as a verifier whose token is bound to
    /// `bound` verifies: once `keys` holds a key, proofs under its header take the held path
    /// (no header parsing, the key's table). For the fuzz target's differential.
    pub fn verify_proof_through(
        request: &crate::ProofRequest<'_>,
        token: Option<&str>,
        now: i64,
        (max_age, skew): (u32, u32),
        (keys, bound): (&crate::ProofKeyCache, &str),
    ) -> Result<crate::VerifiedProof, Error> {
        crate::dpop::verify_proof_with(request, token, now, (max_age, skew), Some((keys, bound)))
    }

    /// True if the borrowed reader of proof headers and claims accepts exactly the texts the
    /// strict `serde_json` reader accepts, reading the same strings, integers and objects.
    pub fn json_readers_agree(bytes: &[u8]) -> bool {
        crate::encoding::readers_agree(bytes)
    }

    /// Mints with a caller-chosen `jti` so that generated vectors are reproducible.
    pub fn mint_with_jti(
        issuer: &Issuer,
        request: &MintRequest,
        now: i64,
        jti: &str,
    ) -> Result<alloc::string::String, Error> {
        issuer.mint_with_jti(request, now, jti)
    }
}
