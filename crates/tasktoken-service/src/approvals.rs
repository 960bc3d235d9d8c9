//! Approval requests against a store, for every front-end that decides them: the service's
//! `GET /approvals` and `POST /approvals/<id>/approve|deny`, and `tasktoken approvals --db`
//! on the authority's machine. The rules are the core's ([`tasktoken::Approval::decide`]);
//! this module reads the request, applies them, and moves the stored state once.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use tasktoken::{Approval, ApprovalRefusal, ApprovalState, Decision};

use crate::config::ApprovalConfig;
use crate::store::{Store, StoreError};

/// The most requests one listing returns.
pub const MAX_LISTED: usize = 200;

/// Why a decision was not recorded.
#[derive(Debug)]
pub enum DecideError {
    /// No request has this id (or it was forgotten).
    NotFound,
    /// The core's rules refuse it (not an approver, the requester, decided, expired).
    Refused(ApprovalRefusal),
    /// The store failed.
    Store(StoreError),
}

impl From<StoreError> for DecideError {
    fn from(error: StoreError) -> Self {
        DecideError::Store(error)
    }
}

/// The policies whose requests `approver` may decide: those with an approval rule that
/// lists `approver`, among `allowed` (what the approver's token grants; `None`: every one).
pub fn decidable_policies(
    approvals: &BTreeMap<String, ApprovalConfig>,
    approver: &str,
    allowed: Option<&[String]>,
) -> Vec<String> {
    approvals
        .iter()
        .filter(|(name, config)| {
            config.rule.is_approver(approver) && allowed.is_none_or(|a| a.contains(name))
        })
        .map(|(name, _)| name.clone())
        .collect()
}

/// The pending requests of `policies` at `now`, oldest first (at most [`MAX_LISTED`]).
pub fn list(
    store: &mut dyn Store,
    policies: &[String],
    now: i64,
) -> Result<Vec<Approval>, StoreError> {
    if policies.is_empty() {
        return Ok(Vec::new());
    }
    store.pending_approvals(policies, now, MAX_LISTED)
}

/// Decides request `id` for `approver` at `now`, if `may_decide` allows its policy (what the
/// approver's token grants), and returns the request in its new state.
///
/// Refuses an unknown id ([`DecideError::NotFound`]), a policy without an approval rule any
/// more or one `may_decide` refuses ([`ApprovalRefusal::NotApprover`]), and whatever
/// [`Approval::decide`] refuses. Of two deciders at once, the second gets
/// [`ApprovalRefusal::AlreadyDecided`] (or `Expired`).
pub fn decide(
    store: &mut dyn Store,
    approvals: &BTreeMap<String, ApprovalConfig>,
    may_decide: &dyn Fn(&str) -> bool,
    id: &str,
    approver: &str,
    decision: Decision,
    now: i64,
) -> Result<Approval, DecideError> {
    let mut approval = store.approval(id)?.ok_or(DecideError::NotFound)?;
    let Some(config) = approvals.get(approval.policy()).filter(|_| may_decide(approval.policy()))
    else {
        return Err(DecideError::Refused(ApprovalRefusal::NotApprover));
    };
    let state =
        approval.decide(&config.rule, approver, decision, now).map_err(DecideError::Refused)?;
    if !store.decide_approval(id, &state, now)? {
        // Someone else decided it (or it expired) between the read and the update.
        let now_stored = store.approval(id)?.ok_or(DecideError::NotFound)?;
        let refusal = match now_stored.state {
            ApprovalState::Pending | ApprovalState::Expired => ApprovalRefusal::Expired,
            _ => ApprovalRefusal::AlreadyDecided,
        };
        return Err(DecideError::Refused(refusal));
    }
    approval.state = state;
    Ok(approval)
}

/// The notification a webhook receives about a new request: who asked for what, and until
/// when it waits. Never a token, never the collection secret.
pub fn notification(approval: &Approval, ui: &str) -> Value {
    let summary = approval.summary();
    json!({
        "approval_id": approval.id,
        "policy": approval.policy(),
        "identity": approval.identity,
        "iss": approval.identity_iss,
        "sub": approval.identity_sub,
        "token_sub": summary["token_sub"],
        "task": summary["task"],
        "scope": summary["scope"],
        "res": summary["res"],
        "aud": summary["aud"],
        "ttl": summary["ttl"],
        "bound": summary["bound"],
        "expires_at": approval.expires_at,
        "approve_at": ui,
    })
}

/// Audit fields naming a request: its public id, policy, requester and what it grants
/// (never the collection secret, never a token).
pub fn audit_fields(approval: &Approval) -> Map<String, Value> {
    let mut fields = Map::new();
    fields.insert("approval".into(), Value::from(approval.id.clone()));
    fields.insert("policy".into(), Value::from(approval.policy()));
    fields.insert("identity".into(), Value::from(approval.identity.clone()));
    fields.insert("external_iss".into(), Value::from(approval.identity_iss.clone()));
    if let Some(sub) = &approval.identity_sub {
        fields.insert("external_sub".into(), Value::from(sub.clone()));
    }
    fields.insert("sub".into(), Value::from(approval.grant.sub.clone()));
    fields.insert("task".into(), Value::from(approval.grant.task.clone()));
    fields.insert("scope".into(), Value::from(approval.grant.scope.clone()));
    fields.insert("res".into(), Value::from(approval.grant.res.clone()));
    fields.insert("aud".into(), Value::from(approval.grant.aud.clone()));
    fields.insert("expires_at".into(), Value::from(approval.expires_at));
    fields
}
