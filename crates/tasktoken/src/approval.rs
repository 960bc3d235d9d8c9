//! Approval: a privileged task waits for a person before its token exists (DESIGN.md,
//! "Approval").
//!
//! A policy with an [`ApprovalPolicy`] does not mint at once: the token service records an
//! [`Approval`] (what [`crate::decide_exchange`] granted, fixed at request time) and answers
//! `authorization_pending`. An approver decides ([`Approval::decide`]), the client collects
//! ([`Approval::collect`]) the token once. Every rule of that flow is here, pure — no I/O, no
//! clock, no randomness but [`new_approval_handle`] — so the service, the command line and
//! any other front-end apply the same ones:
//!
//! - states: `pending` → `approved` | `denied` | `expired`; `approved` → `collected`.
//!   Nothing leaves `denied`, `expired` or `collected`;
//! - a request is decided before its `expires_at`; an approved one is collected before
//!   `expires_at`, or within [`COLLECT_GRACE`] seconds of its approval if that is later (an
//!   approval in the last second is not lost to the client's poll interval);
//! - an approver is a `sub` listed in the policy's approvers, and never the requester: not
//!   the `sub` the token would carry, nor the `sub` of the identity that asked;
//! - a request bound by DPoP is collected only with a proof by the same key (same `jkt`);
//! - the token is minted at collection: `exp` = collection time + the granted `ttl`, and
//!   it carries `apv: {"sub": <approver>, "at": <decision time>}`.

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use serde_json::{json, Map, Value};

use crate::error::{malformed, Error};
use crate::exchange::Grant;
use crate::issuer::MintRequest;

/// The action an approver's token must grant, on resource [`approval_resource`].
pub const DECIDE_ACTION: &str = "approvals:decide";
/// The longest an approval may stay pending: one day.
pub const MAX_APPROVAL_EXPIRES: u32 = 86_400;
/// The default poll interval a client is told, in seconds.
pub const DEFAULT_APPROVAL_INTERVAL: u32 = 5;
/// The largest poll interval a policy may set, in seconds.
pub const MAX_APPROVAL_INTERVAL: u32 = 60;
/// Seconds an approved request stays collectable after its approval, even past `expires_at`.
pub const COLLECT_GRACE: i64 = 60;
/// The longest approver list a policy may hold.
pub const MAX_APPROVERS: usize = 64;

/// The resource an approver's token must grant [`DECIDE_ACTION`] on: `approvals/<policy>`.
pub fn approval_resource(policy: &str) -> String {
    format!("approvals/{policy}")
}

/// A policy's approval rule: who may approve, how long a request waits, how often a client
/// polls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApprovalPolicy {
    approvers: Vec<String>,
    expires: u32,
    interval: u32,
}

impl ApprovalPolicy {
    /// Requests wait `expires` seconds for one of `approvers` (their `sub`s).
    ///
    /// Rejects an empty list, more than [`MAX_APPROVERS`], an empty approver or one with
    /// whitespace or a control character, one listed twice, and an `expires` of 0 or above
    /// [`MAX_APPROVAL_EXPIRES`] (`malformed`).
    pub fn new<'s>(
        approvers: impl IntoIterator<Item = &'s str>,
        expires: u32,
    ) -> Result<Self, Error> {
        let mut list: Vec<String> = Vec::new();
        for approver in approvers {
            if approver.is_empty()
                || approver.len() > 256
                || approver.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(malformed(
                    "an approver is a non-empty `sub` without whitespace or control characters",
                ));
            }
            if list.iter().any(|a| a == approver) {
                return Err(malformed("an approver is listed twice"));
            }
            list.push(approver.to_owned());
        }
        if list.is_empty() || list.len() > MAX_APPROVERS {
            return Err(malformed("`approvers` needs 1 to 64 approvers"));
        }
        if expires == 0 || expires > MAX_APPROVAL_EXPIRES {
            return Err(malformed("`expires` must be 1 s to one day"));
        }
        Ok(ApprovalPolicy { approvers: list, expires, interval: DEFAULT_APPROVAL_INTERVAL })
    }

    /// The poll interval clients are told (default [`DEFAULT_APPROVAL_INTERVAL`]). Rejects 0
    /// or more than [`MAX_APPROVAL_INTERVAL`] (`malformed`).
    pub fn interval(mut self, seconds: u32) -> Result<Self, Error> {
        if seconds == 0 || seconds > MAX_APPROVAL_INTERVAL {
            return Err(malformed("`interval` must be 1 s to 60 s"));
        }
        self.interval = seconds;
        Ok(self)
    }

    /// The approvers' `sub`s.
    pub fn approvers(&self) -> &[String] {
        &self.approvers
    }

    /// Seconds a request waits for a decision.
    pub fn expires(&self) -> u32 {
        self.expires
    }

    /// The poll interval, in seconds.
    pub fn poll_interval(&self) -> u32 {
        self.interval
    }

    /// True if `sub` is one of the approvers (exact, case-sensitive).
    pub fn is_approver(&self, sub: &str) -> bool {
        self.approvers.iter().any(|a| a == sub)
    }
}

/// Where a recorded request stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApprovalState {
    /// Waiting for a decision.
    Pending,
    /// Approved by `by` at `at`; its token not collected yet.
    Approved {
        /// The approver's `sub`.
        by: String,
        /// The decision time.
        at: i64,
    },
    /// Denied by `by` at `at`.
    Denied {
        /// The approver's `sub`.
        by: String,
        /// The decision time.
        at: i64,
    },
    /// Not decided before `expires_at`.
    Expired,
    /// Approved by `by` at `at`, and its token handed out at `collected_at`.
    Collected {
        /// The approver's `sub`.
        by: String,
        /// The decision time.
        at: i64,
        /// When the token was handed out.
        collected_at: i64,
    },
}

impl ApprovalState {
    /// `pending`, `approved`, `denied`, `expired` or `collected`: the name stores keep.
    pub fn name(&self) -> &'static str {
        match self {
            ApprovalState::Pending => "pending",
            ApprovalState::Approved { .. } => "approved",
            ApprovalState::Denied { .. } => "denied",
            ApprovalState::Expired => "expired",
            ApprovalState::Collected { .. } => "collected",
        }
    }

    /// The state from its stored parts: the [`ApprovalState::name`], the approver and the
    /// decision time (for decided states), the collection time (for `collected`). `None` for
    /// an unknown name or a missing part.
    pub fn from_parts(
        name: &str,
        by: Option<String>,
        at: Option<i64>,
        collected_at: Option<i64>,
    ) -> Option<Self> {
        Some(match name {
            "pending" => ApprovalState::Pending,
            "expired" => ApprovalState::Expired,
            "approved" => ApprovalState::Approved { by: by?, at: at? },
            "denied" => ApprovalState::Denied { by: by?, at: at? },
            "collected" => {
                ApprovalState::Collected { by: by?, at: at?, collected_at: collected_at? }
            }
            _ => return None,
        })
    }
}

/// A request waiting for (or past) a person's decision: what was granted at request time,
/// who asked, and where it stands.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Approval {
    /// The public id approvers, webhooks and audit lines see (never enough to collect).
    pub id: String,
    /// The SHA-256 of the collection secret (the part of the client's `approval_id` after
    /// the `.`); the secret itself is never stored.
    pub secret_hash: [u8; 32],
    /// What will be minted: fixed when the request was made.
    pub grant: Grant,
    /// The RFC 7638 thumbprint of the key the request proved (DPoP), if it was bound.
    pub jkt: Option<String>,
    /// The identity provider that verified the requester.
    pub identity: String,
    /// The `iss` of the requester's identity token.
    pub identity_iss: String,
    /// The `sub` of the requester's identity token, if it had one.
    pub identity_sub: Option<String>,
    /// When it was requested.
    pub created_at: i64,
    /// When it expires if not decided.
    pub expires_at: i64,
    /// Where it stands.
    pub state: ApprovalState,
}

/// Why a decision or a collection is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApprovalRefusal {
    /// Not decided yet: poll again after the interval (`authorization_pending`).
    Pending,
    /// An approver denied it (`access_denied`).
    Denied,
    /// Not decided (or not collected) in time (`expired_token`).
    Expired,
    /// Its token was handed out already (`invalid_grant`).
    Collected,
    /// The collection's proof of possession does not match the request's binding
    /// (`invalid_dpop_proof`).
    BindingMismatch,
    /// The approver is not in the policy's list (`insufficient_scope`).
    NotApprover,
    /// The approver asked for it themselves (`insufficient_scope`).
    SelfApproval,
    /// It was decided already (`already_decided`).
    AlreadyDecided,
}

impl ApprovalRefusal {
    /// The OAuth-style `error` string.
    pub fn error(&self) -> &'static str {
        match self {
            ApprovalRefusal::Pending => "authorization_pending",
            ApprovalRefusal::Denied => "access_denied",
            ApprovalRefusal::Expired => "expired_token",
            ApprovalRefusal::Collected => "invalid_grant",
            ApprovalRefusal::BindingMismatch => "invalid_dpop_proof",
            ApprovalRefusal::NotApprover | ApprovalRefusal::SelfApproval => "insufficient_scope",
            ApprovalRefusal::AlreadyDecided => "already_decided",
        }
    }

    /// The `error_description`: the rule, never a token.
    pub fn description(&self) -> &'static str {
        match self {
            ApprovalRefusal::Pending => "the request is waiting for an approver's decision",
            ApprovalRefusal::Denied => "an approver denied the request",
            ApprovalRefusal::Expired => "the request was not approved and collected in time",
            ApprovalRefusal::Collected => "the token of this approval has been handed out",
            ApprovalRefusal::BindingMismatch => {
                "the collection's DPoP proof does not match the request: a bound request is \
                 collected with a proof by the same key, an unbound one with none"
            }
            ApprovalRefusal::NotApprover => "the caller is not an approver of this policy",
            ApprovalRefusal::SelfApproval => "an approver cannot approve their own request",
            ApprovalRefusal::AlreadyDecided => "the request has been decided already",
        }
    }
}

/// An approver's decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Approve: the client may collect the token.
    Approve,
    /// Deny: the client gets `access_denied`.
    Deny,
}

impl Approval {
    /// A new pending request for `grant`, made at `now`, expiring after `policy`'s `expires`.
    /// `handle` comes from [`new_approval_handle`]; `jkt` is the request's proof key, if any.
    pub fn pending(
        handle: &ApprovalHandle,
        grant: Grant,
        jkt: Option<String>,
        requester: Requester,
        policy: &ApprovalPolicy,
        now: i64,
    ) -> Self {
        Approval {
            id: handle.id.clone(),
            secret_hash: handle.secret_hash,
            grant,
            jkt,
            identity: requester.identity,
            identity_iss: requester.iss,
            identity_sub: requester.sub,
            created_at: now,
            expires_at: now.saturating_add(i64::from(policy.expires)),
            state: ApprovalState::Pending,
        }
    }

    /// The name of the policy that granted it.
    pub fn policy(&self) -> &str {
        &self.grant.policy
    }

    /// True if it is pending and `now` is at or past `expires_at`.
    pub fn is_expired_pending(&self, now: i64) -> bool {
        self.state == ApprovalState::Pending && now >= self.expires_at
    }

    /// Decides it: the state it moves to, if `approver` may decide it under `policy` at
    /// `now`.
    ///
    /// Refuses an approver not in the list ([`ApprovalRefusal::NotApprover`]), the requester
    /// ([`ApprovalRefusal::SelfApproval`]: the `sub` the token would carry, or the identity's
    /// `sub`), a request past `expires_at` ([`ApprovalRefusal::Expired`]) and one no longer
    /// pending ([`ApprovalRefusal::AlreadyDecided`], or `Expired` for an expired one).
    pub fn decide(
        &self,
        policy: &ApprovalPolicy,
        approver: &str,
        decision: Decision,
        now: i64,
    ) -> Result<ApprovalState, ApprovalRefusal> {
        if !policy.is_approver(approver) {
            return Err(ApprovalRefusal::NotApprover);
        }
        if approver == self.grant.sub || self.identity_sub.as_deref() == Some(approver) {
            return Err(ApprovalRefusal::SelfApproval);
        }
        match self.state {
            ApprovalState::Pending if now < self.expires_at => {}
            ApprovalState::Pending | ApprovalState::Expired => {
                return Err(ApprovalRefusal::Expired)
            }
            _ => return Err(ApprovalRefusal::AlreadyDecided),
        }
        let (by, at) = (approver.to_owned(), now);
        Ok(match decision {
            Decision::Approve => ApprovalState::Approved { by, at },
            Decision::Deny => ApprovalState::Denied { by, at },
        })
    }

    /// Whether the client may collect it at `now` with a proof by key `jkt` (if it sent
    /// one): `Ok` with the approver and decision time when it is approved, in time, and
    /// the binding matches.
    ///
    /// Refuses first a proof that is missing, present for an unbound request, or by another
    /// key ([`ApprovalRefusal::BindingMismatch`], whatever the state: the same answer while
    /// pending and once approved); then a pending request ([`ApprovalRefusal::Pending`], or
    /// `Expired` past its time), a denied one, an expired one, one collected already, and an
    /// approved one past its collection window (`Expired`).
    pub fn collect(&self, jkt: Option<&str>, now: i64) -> Result<(String, i64), ApprovalRefusal> {
        if self.jkt.as_deref() != jkt {
            return Err(ApprovalRefusal::BindingMismatch);
        }
        let (by, at) = match &self.state {
            ApprovalState::Pending if now < self.expires_at => {
                return Err(ApprovalRefusal::Pending)
            }
            ApprovalState::Pending | ApprovalState::Expired => {
                return Err(ApprovalRefusal::Expired)
            }
            ApprovalState::Denied { .. } => return Err(ApprovalRefusal::Denied),
            ApprovalState::Collected { .. } => return Err(ApprovalRefusal::Collected),
            ApprovalState::Approved { by, at } => (by, *at),
        };
        if now >= self.collect_until(at) {
            return Err(ApprovalRefusal::Expired);
        }
        Ok((by.clone(), at))
    }

    /// The time before which an approval decided at `decided_at` must be collected.
    pub fn collect_until(&self, decided_at: i64) -> i64 {
        self.expires_at.max(decided_at.saturating_add(COLLECT_GRACE))
    }

    /// What to mint for it once [`Approval::collect`] allowed it: the grant as stored, bound
    /// to the request's key, with `dlg` when granted and `apv: {"sub": approver, "at":
    /// decided_at}`. The issuer sets `iat` (the collection time), so `exp` is the collection
    /// time plus the granted `ttl`.
    pub fn mint_request(&self, approver: &str, decided_at: i64) -> MintRequest {
        self.grant.mint_request(self.jkt.clone()).with_extra(apv(approver, decided_at))
    }

    /// The parts fixed at request time as one JSON object, for a store (the state is kept
    /// apart, in columns a store can update atomically). The secret's hash is base64url.
    pub fn record(&self) -> Value {
        json!({
            "v": 1,
            "id": self.id,
            "secret_hash": crate::encoding::b64_encode(&self.secret_hash),
            "policy": self.grant.policy,
            "sub": self.grant.sub,
            "aud": self.grant.aud,
            "task": self.grant.task,
            "scope": self.grant.scope,
            "res": self.grant.res,
            "ttl": self.grant.ttl,
            "dlg": self.grant.dlg,
            "jkt": self.jkt,
            "identity": self.identity,
            "identity_iss": self.identity_iss,
            "identity_sub": self.identity_sub,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
        })
    }

    /// An approval from a store: the [`Approval::record`] it wrote and the state it keeps.
    /// Rejects a record of another version, with a missing, extra or ill-typed member
    /// (`malformed`).
    pub fn from_record(record: &Value, state: ApprovalState) -> Result<Self, Error> {
        const MEMBERS: [&str; 17] = [
            "v",
            "id",
            "secret_hash",
            "policy",
            "sub",
            "aud",
            "task",
            "scope",
            "res",
            "ttl",
            "dlg",
            "jkt",
            "identity",
            "identity_iss",
            "identity_sub",
            "created_at",
            "expires_at",
        ];
        let bad = || malformed("a stored approval record is not valid");
        let map = record.as_object().ok_or_else(bad)?;
        if map.len() != MEMBERS.len() || !map.keys().all(|k| MEMBERS.contains(&k.as_str())) {
            return Err(bad());
        }
        if map["v"].as_u64() != Some(1) {
            return Err(bad());
        }
        let text = |name: &str| map[name].as_str().map(str::to_owned).ok_or_else(bad);
        let optional = |name: &str| match &map[name] {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s.clone())),
            _ => Err(bad()),
        };
        let int = |name: &str| map[name].as_i64().ok_or_else(bad);
        let small =
            |name: &str| map[name].as_u64().and_then(|n| u32::try_from(n).ok()).ok_or_else(bad);
        let res = map["res"]
            .as_array()
            .ok_or_else(bad)?
            .iter()
            .map(|r| r.as_str().map(str::to_owned).ok_or_else(bad))
            .collect::<Result<Vec<_>, _>>()?;
        let secret_hash =
            crate::encoding::b64_decode_array(map["secret_hash"].as_str().ok_or_else(bad)?)
                .ok_or_else(bad)?;
        let grant = Grant {
            policy: text("policy")?,
            sub: text("sub")?,
            aud: text("aud")?,
            task: text("task")?,
            scope: text("scope")?,
            res,
            ttl: small("ttl")?,
            dlg: small("dlg")?,
        };
        Ok(Approval {
            id: text("id")?,
            secret_hash,
            grant,
            jkt: optional("jkt")?,
            identity: text("identity")?,
            identity_iss: text("identity_iss")?,
            identity_sub: optional("identity_sub")?,
            created_at: int("created_at")?,
            expires_at: int("expires_at")?,
            state,
        })
    }

    /// What an approver (or a notification) is shown: the public id, the policy, who asked,
    /// what it grants, its state and times. Never the collection secret.
    pub fn summary(&self) -> Value {
        let mut v = json!({
            "id": self.id,
            "policy": self.grant.policy,
            "identity": self.identity,
            "iss": self.identity_iss,
            "sub": self.identity_sub,
            "token_sub": self.grant.sub,
            "task": self.grant.task,
            "scope": self.grant.scope,
            "res": self.grant.res,
            "aud": self.grant.aud,
            "ttl": self.grant.ttl,
            "dlg": self.grant.dlg,
            "bound": self.jkt.is_some(),
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "state": self.state.name(),
        });
        if let ApprovalState::Approved { by, at }
        | ApprovalState::Denied { by, at }
        | ApprovalState::Collected { by, at, .. } = &self.state
        {
            v["decided_by"] = Value::from(by.as_str());
            v["decided_at"] = Value::from(*at);
        }
        v
    }
}

/// Who asked: the identity provider and the identity token's `iss` and `sub`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Requester {
    /// The provider's name in the configuration.
    pub identity: String,
    /// The identity token's `iss`.
    pub iss: String,
    /// The identity token's `sub`, if it had one.
    pub sub: Option<String>,
}

impl Requester {
    /// A requester verified by provider `identity` with `iss` and `sub`.
    pub fn new(identity: &str, iss: &str, sub: Option<&str>) -> Self {
        Requester { identity: identity.into(), iss: iss.into(), sub: sub.map(Into::into) }
    }
}

/// A new request's handle: the public `id` and the collection secret's hash for the store,
/// and the client's `approval_id` (`<id>.<secret>`), shown once. Only
/// [`new_approval_handle`] makes one (fields may be added).
#[derive(Clone)]
#[non_exhaustive]
pub struct ApprovalHandle {
    /// The public id: 128 random bits, base64url.
    pub id: String,
    /// The SHA-256 of the secret.
    pub secret_hash: [u8; 32],
    /// `<id>.<secret>`: what the client polls with. The secret is 256 random bits.
    pub approval_id: String,
}

impl core::fmt::Debug for ApprovalHandle {
    /// The handle without its secret.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ApprovalHandle").field("id", &self.id).finish_non_exhaustive()
    }
}

/// A fresh handle from the system's randomness. Rejects (`malformed`) only when no
/// randomness is available.
pub fn new_approval_handle() -> Result<ApprovalHandle, Error> {
    let mut id = [0u8; 16];
    let mut secret = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut id)
        .and_then(|()| getrandom::fill(secret.as_mut()))
        .map_err(|_| malformed("the system's random number generator is unavailable"))?;
    let id = crate::encoding::b64_encode(&id);
    let secret = zeroize::Zeroizing::new(crate::encoding::b64_encode(secret.as_ref()));
    Ok(ApprovalHandle {
        secret_hash: secret_digest(&secret),
        approval_id: format!("{id}.{}", secret.as_str()),
        id,
    })
}

/// Splits a client's `approval_id` into the public id and the secret's hash. `None` for
/// anything that is not `<id>.<secret>` in base64url of the right lengths.
pub fn parse_approval_id(approval_id: &str) -> Option<(&str, [u8; 32])> {
    let (id, secret) = approval_id.split_once('.')?;
    let b64url = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if id.len() != 22 || secret.len() != 43 || !b64url(id) || !b64url(secret) {
        return None;
    }
    Some((id, secret_digest(secret)))
}

/// True if `id` could be a public approval id (22 base64url characters).
pub fn is_approval_id(id: &str) -> bool {
    id.len() == 22 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Compares two secret digests in constant time.
pub fn secret_matches(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn secret_digest(secret: &str) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(secret.as_bytes()).into()
}

/// The `apv` claim of a token minted after approval: `{"sub": approver, "at": decided_at}`,
/// as the only extra claim. The token service's trial mint at request time uses it too (with
/// the longest approver), so what passes then passes at collection.
pub fn apv(approver: &str, decided_at: i64) -> Map<String, Value> {
    let mut extra = Map::new();
    extra.insert("apv".into(), json!({ "sub": approver, "at": decided_at }));
    extra
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decide_exchange, ExchangeRequest, Policy};

    fn grant() -> Grant {
        let policy = Policy::new("prod-db-admin", "github")
            .and_then(|p| p.claim("repository", "acme/app"))
            .and_then(|p| p.subject("ci:{repository}"))
            .and_then(|p| p.audiences(["db"]))
            .and_then(|p| p.task("migrate-*"))
            .and_then(|p| p.scope(["db:migrate"]))
            .and_then(|p| p.resources(["dbs/prod"]))
            .and_then(|p| p.dlg(1))
            .expect("policy");
        let claims = json!({"repository": "acme/app"});
        let res = alloc::vec!["dbs/prod".to_owned()];
        let request = ExchangeRequest {
            audience: "db",
            scope: "db:migrate",
            res: &res,
            task: "migrate-1",
            ttl: Some(120),
            dlg: Some(1),
            // `dlg` needs a binding (only the bound key signs a link).
            bound: true,
        };
        decide_exchange(&[policy], "github", claims.as_object().expect("o"), &request, 900)
            .expect("granted")
    }

    fn policy() -> ApprovalPolicy {
        ApprovalPolicy::new(["human:alice", "human:bob", "ci:acme/app"], 60).expect("valid")
    }

    fn pending(jkt: Option<&str>) -> Approval {
        let handle = new_approval_handle().expect("handle");
        let requester = Requester::new("github", "https://gh", Some("repo:acme/app"));
        Approval::pending(&handle, grant(), jkt.map(Into::into), requester, &policy(), 1000)
    }

    #[test]
    fn a_policy_refuses_bad_rules() {
        assert!(ApprovalPolicy::new([], 60).is_err());
        assert!(ApprovalPolicy::new([""], 60).is_err());
        assert!(ApprovalPolicy::new(["a b"], 60).is_err());
        assert!(ApprovalPolicy::new(["a", "a"], 60).is_err());
        assert!(ApprovalPolicy::new(["a"], 0).is_err());
        assert!(ApprovalPolicy::new(["a"], 86_401).is_err());
        assert!(ApprovalPolicy::new(["a"], 86_400).is_ok());
        assert!(policy().interval(0).is_err());
        assert!(policy().interval(61).is_err());
        assert_eq!(policy().poll_interval(), 5);
        assert_eq!(approval_resource("p"), "approvals/p");
    }

    #[test]
    fn pending_then_approved_then_collected_once() {
        let mut a = pending(None);
        assert_eq!(a.expires_at, 1060);
        assert_eq!(a.collect(None, 1001), Err(ApprovalRefusal::Pending));
        let state = a.decide(&policy(), "human:alice", Decision::Approve, 1010).expect("ok");
        assert_eq!(state, ApprovalState::Approved { by: "human:alice".into(), at: 1010 });
        a.state = state;
        assert_eq!(
            a.decide(&policy(), "human:bob", Decision::Deny, 1011),
            Err(ApprovalRefusal::AlreadyDecided)
        );
        assert_eq!(a.collect(None, 1020), Ok(("human:alice".into(), 1010)));
        let mint = a.mint_request("human:alice", 1010);
        assert_eq!(mint.extra["apv"], json!({"sub": "human:alice", "at": 1010}));
        assert_eq!((mint.ttl, mint.dlg), (120, 1));
        a.state =
            ApprovalState::Collected { by: "human:alice".into(), at: 1010, collected_at: 1020 };
        assert_eq!(a.collect(None, 1021), Err(ApprovalRefusal::Collected));
    }

    #[test]
    fn denied_and_expired_are_final() {
        let mut a = pending(None);
        a.state = a.decide(&policy(), "human:bob", Decision::Deny, 1001).expect("ok");
        assert_eq!(a.collect(None, 1002), Err(ApprovalRefusal::Denied));
        let b = pending(None);
        assert!(b.is_expired_pending(1060) && !b.is_expired_pending(1059));
        assert_eq!(b.collect(None, 1060), Err(ApprovalRefusal::Expired));
        assert_eq!(
            b.decide(&policy(), "human:bob", Decision::Approve, 1060),
            Err(ApprovalRefusal::Expired)
        );
        let mut c = pending(None);
        c.state = ApprovalState::Expired;
        assert_eq!(
            c.decide(&policy(), "human:bob", Decision::Approve, 1001),
            Err(ApprovalRefusal::Expired)
        );
    }

    #[test]
    fn an_approval_at_the_last_moment_leaves_time_to_collect() {
        let mut a = pending(None);
        a.state = a.decide(&policy(), "human:bob", Decision::Approve, 1059).expect("ok");
        assert!(a.collect(None, 1100).is_ok());
        assert_eq!(a.collect(None, 1059 + COLLECT_GRACE), Err(ApprovalRefusal::Expired));
    }

    #[test]
    fn only_listed_approvers_and_never_the_requester() {
        let a = pending(None);
        let p = policy();
        let decide = |who| a.decide(&p, who, Decision::Approve, 1001).map(|_| ());
        assert_eq!(decide("human:mallory"), Err(ApprovalRefusal::NotApprover));
        assert_eq!(decide("Human:alice"), Err(ApprovalRefusal::NotApprover));
        // Listed, but the token would be theirs.
        assert_eq!(decide("ci:acme/app"), Err(ApprovalRefusal::SelfApproval));
        let own = ApprovalPolicy::new(["repo:acme/app"], 60).expect("valid");
        assert_eq!(
            a.decide(&own, "repo:acme/app", Decision::Approve, 1001).map(|_| ()),
            Err(ApprovalRefusal::SelfApproval),
            "the identity's own sub"
        );
    }

    #[test]
    fn a_bound_request_is_collected_only_by_its_key() {
        let mut a = pending(Some("jkt-1"));
        a.state = a.decide(&policy(), "human:alice", Decision::Approve, 1001).expect("ok");
        assert_eq!(a.collect(None, 1002), Err(ApprovalRefusal::BindingMismatch));
        assert_eq!(a.collect(Some("jkt-2"), 1002), Err(ApprovalRefusal::BindingMismatch));
        assert!(a.collect(Some("jkt-1"), 1002).is_ok());
        assert_eq!(a.mint_request("human:alice", 1001).cnf_jkt.as_deref(), Some("jkt-1"));
        let mut unbound = pending(None);
        // The same answer to a proof for an unbound request, pending or approved.
        assert_eq!(unbound.collect(Some("jkt-1"), 1000), Err(ApprovalRefusal::BindingMismatch));
        unbound.state = ApprovalState::Approved { by: "human:alice".into(), at: 1001 };
        assert_eq!(unbound.collect(Some("jkt-1"), 1002), Err(ApprovalRefusal::BindingMismatch));
    }

    #[test]
    fn handles_hold_a_secret_only_the_client_sees() {
        let handle = new_approval_handle().expect("handle");
        let (id, hash) = parse_approval_id(&handle.approval_id).expect("parses");
        assert_eq!(id, handle.id);
        assert!(is_approval_id(id));
        assert!(secret_matches(&hash, &handle.secret_hash));
        assert!(!format!("{handle:?}").contains(&handle.approval_id[23..]));
        let other = new_approval_handle().expect("handle");
        assert!(!secret_matches(&other.secret_hash, &handle.secret_hash));
        assert!(parse_approval_id(&handle.id).is_none(), "the public id alone collects nothing");
        assert!(parse_approval_id("a.b").is_none());
        let summary = pending(None).summary();
        assert_eq!(summary["state"], "pending");
        assert!(summary.get("secret_hash").is_none());
    }

    #[test]
    fn records_round_trip_and_refuse_tampering() {
        let a = pending(Some("jkt"));
        let record = a.record();
        assert_eq!(Approval::from_record(&record, ApprovalState::Pending), Ok(a));
        let mut extra = record.clone();
        extra["more"] = json!(1);
        assert!(Approval::from_record(&extra, ApprovalState::Pending).is_err());
        let mut typed = record.clone();
        typed["ttl"] = json!("120");
        assert!(Approval::from_record(&typed, ApprovalState::Pending).is_err());
        let mut version = record;
        version["v"] = json!(2);
        assert!(Approval::from_record(&version, ApprovalState::Pending).is_err());
    }

    #[test]
    fn states_round_trip_through_their_parts() {
        for state in [
            ApprovalState::Pending,
            ApprovalState::Expired,
            ApprovalState::Approved { by: "a".into(), at: 1 },
            ApprovalState::Denied { by: "a".into(), at: 1 },
            ApprovalState::Collected { by: "a".into(), at: 1, collected_at: 2 },
        ] {
            let (by, at, collected) = match &state {
                ApprovalState::Approved { by, at } | ApprovalState::Denied { by, at } => {
                    (Some(by.clone()), Some(*at), None)
                }
                ApprovalState::Collected { by, at, collected_at } => {
                    (Some(by.clone()), Some(*at), Some(*collected_at))
                }
                _ => (None, None, None),
            };
            assert_eq!(ApprovalState::from_parts(state.name(), by, at, collected), Some(state));
        }
        assert_eq!(ApprovalState::from_parts("approved", None, Some(1), None), None);
        assert_eq!(ApprovalState::from_parts("other", None, None, None), None);
    }
}
