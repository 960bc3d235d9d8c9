//! Audit events: every mint, verification decision and revocation can be recorded as a
//! structured event — never with the token text or any key material.

use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

use serde_json::{json, Value};

use crate::error::Error;

/// What an event records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditKind {
    /// An issuer minted (or refused to mint) a token.
    Mint,
    /// A verifier accepted or refused a token.
    Verify,
    /// An authority recorded a revocation.
    Revoke,
}

impl AuditKind {
    /// `"mint"`, `"verify"` or `"revoke"`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::Mint => "mint",
            AuditKind::Verify => "verify",
            AuditKind::Revoke => "revoke",
        }
    }
}

/// One decision. Fields that were not known (or not trusted) at the point of decision are
/// `None`: claims appear only once the signature held, the `kid` only once it named a
/// trusted key. There is deliberately no field for the token or a key.
///
/// Built with [`AuditEvent::new`] and the `with_*` methods (fields may be added).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditEvent {
    /// Seconds since the epoch, the time the decision was made at.
    pub time: i64,
    /// Mint, verify or revoke.
    pub kind: AuditKind,
    /// `"ok"`, or the stable error code.
    pub outcome: &'static str,
    /// The issuer (`iss`) the token belongs to.
    pub issuer: Option<String>,
    /// The key id that signed (or would sign) the token.
    pub kid: Option<String>,
    /// The non-human identity (`sub`).
    pub sub: Option<String>,
    /// The workflow segment (`task`).
    pub task: Option<String>,
    /// The token id (`jti`).
    pub jti: Option<String>,
    /// The requested action (verify) or the granted scope (mint).
    pub action: Option<String>,
    /// The requested resource (verify) or the granted patterns, space-separated (mint).
    pub resource: Option<String>,
    /// The verifier, issuer or authority that decided.
    pub decided_by: String,
}

impl AuditEvent {
    /// An event with only the kind, time, outcome and decider filled in.
    pub fn new(kind: AuditKind, time: i64, outcome: &'static str, decided_by: &str) -> Self {
        AuditEvent {
            time,
            kind,
            outcome,
            issuer: None,
            kid: None,
            sub: None,
            task: None,
            jti: None,
            action: None,
            resource: None,
            decided_by: decided_by.into(),
        }
    }

    /// The same event with the issuer (`iss`) the token belongs to.
    pub fn with_issuer(self, issuer: impl Into<String>) -> Self {
        AuditEvent { issuer: Some(issuer.into()), ..self }
    }

    /// The same event with the key id that signed (or would sign) the token.
    pub fn with_kid(self, kid: impl Into<String>) -> Self {
        AuditEvent { kid: Some(kid.into()), ..self }
    }

    /// The same event with the non-human identity (`sub`).
    pub fn with_sub(self, sub: impl Into<String>) -> Self {
        AuditEvent { sub: Some(sub.into()), ..self }
    }

    /// The same event with the workflow segment (`task`).
    pub fn with_task(self, task: impl Into<String>) -> Self {
        AuditEvent { task: Some(task.into()), ..self }
    }

    /// The same event with the token id (`jti`).
    pub fn with_jti(self, jti: impl Into<String>) -> Self {
        AuditEvent { jti: Some(jti.into()), ..self }
    }

    /// The event of a verification refused before any token reached a verifier (a request
    /// without a token, bad arguments, no keys loaded), decided by `decided_by`. `code` is
    /// kept only if it is one of the stable error codes, else the event says `malformed`:
    /// never `ok`, and never a word of the caller's choosing in an audit log.
    pub fn refusal(time: i64, code: &str, decided_by: &str) -> Self {
        let outcome = Error::CODES.iter().find(|c| **c == code).copied().unwrap_or("malformed");
        AuditEvent::new(AuditKind::Verify, time, outcome, decided_by)
    }

    /// The same event with the requested action (verify) or the granted scope (mint).
    pub fn with_action(self, action: impl Into<String>) -> Self {
        AuditEvent { action: Some(action.into()), ..self }
    }

    /// The same event with the requested resource (verify) or the granted patterns (mint).
    pub fn with_resource(self, resource: impl Into<String>) -> Self {
        AuditEvent { resource: Some(resource.into()), ..self }
    }

    /// The event as one JSON object (absent fields omitted), e.g. a JSON-lines record.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "time": self.time,
            "event": self.kind.as_str(),
            "outcome": self.outcome,
            "decided_by": self.decided_by,
        });
        let optional = [
            ("issuer", &self.issuer),
            ("kid", &self.kid),
            ("sub", &self.sub),
            ("task", &self.task),
            ("jti", &self.jti),
            ("action", &self.action),
            ("resource", &self.resource),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                v[name] = Value::String(value.clone());
            }
        }
        v
    }
}

/// Where events go: a logger, a file, counters, a metrics system.
pub trait AuditSink {
    /// Records one event. Called synchronously on the decision path: keep it cheap.
    fn record(&self, event: &AuditEvent);
}

/// A sink shared by a long-lived verifier or issuer.
pub(crate) type SharedSink = Arc<dyn AuditSink + Send + Sync>;

/// Counts events per outcome (`ok` and every error code), lock-free: for metrics.
pub struct OutcomeCounters {
    counts: [AtomicU64; OUTCOMES],
}

/// `ok` and every error code.
const OUTCOMES: usize = Error::CODES.len() + 1;

impl OutcomeCounters {
    /// All counters at zero.
    pub fn new() -> Self {
        OutcomeCounters { counts: core::array::from_fn(|_| AtomicU64::new(0)) }
    }

    /// Every outcome with its count (`ok` first, then the codes in DESIGN.md's order).
    pub fn counts(&self) -> Vec<(&'static str, u64)> {
        core::iter::once("ok")
            .chain(Error::CODES)
            .zip(&self.counts)
            .map(|(name, n)| (name, n.load(Ordering::Relaxed)))
            .collect()
    }
}

impl Default for OutcomeCounters {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for OutcomeCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.counts().into_iter().filter(|(_, n)| *n > 0)).finish()
    }
}

impl AuditSink for OutcomeCounters {
    fn record(&self, event: &AuditEvent) {
        let index = if event.outcome == "ok" {
            Some(0)
        } else {
            Error::CODES.iter().position(|c| *c == event.outcome).map(|i| i + 1)
        };
        if let Some(counter) = index.and_then(|i| self.counts.get(i)) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// What the decision path learned, collected only when an event will be recorded.
#[derive(Default)]
pub(crate) struct Trace {
    pub enabled: bool,
    pub issuer: Option<String>,
    pub kid: Option<String>,
    pub sub: Option<String>,
    pub task: Option<String>,
    pub jti: Option<String>,
}

impl Trace {
    pub(crate) fn new(enabled: bool) -> Self {
        Trace { enabled, ..Trace::default() }
    }

    /// Copies `sub`, `task` and `jti` when they are strings (and tracing is on).
    pub(crate) fn claims(&mut self, claims: &serde_json::Map<String, Value>) {
        if self.enabled {
            let get =
                |name: &str| claims.get(name).and_then(Value::as_str).map(ToString::to_string);
            self.sub = get("sub");
            self.task = get("task");
            self.jti = get("jti");
        }
    }

    pub(crate) fn into_event(
        self,
        kind: AuditKind,
        time: i64,
        outcome: &'static str,
        decided_by: &str,
    ) -> AuditEvent {
        AuditEvent {
            issuer: self.issuer,
            kid: self.kid,
            sub: self.sub,
            task: self.task,
            jti: self.jti,
            ..AuditEvent::new(kind, time, outcome, decided_by)
        }
    }
}

/// A sink with the name it reports as, held by a verifier or an issuer.
#[derive(Clone)]
pub(crate) struct AuditHook {
    pub sink: SharedSink,
}

impl fmt::Debug for AuditHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuditHook")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_carries_a_stable_code_and_nothing_else() {
        let event = AuditEvent::refusal(7, "binding_required", "guard");
        assert_eq!(
            (event.outcome, event.kind, event.time),
            ("binding_required", AuditKind::Verify, 7)
        );
        assert_eq!(event.decided_by, "guard");
        assert!(event.sub.is_none() && event.jti.is_none() && event.kid.is_none());
        for foreign in ["ok", "admin granted", ""] {
            assert_eq!(
                AuditEvent::refusal(7, foreign, "guard").outcome,
                "malformed",
                "{foreign:?}"
            );
        }
    }
}
