//! Approval over HTTP (DESIGN.md, "Approval"): a request under a policy with `approval` is
//! recorded and answered `authorization_pending`; approvers list (`GET /approvals`) and
//! decide (`POST /approvals/<id>/approve|deny`) with a task token of this issuer; the client
//! collects with `grant_type=urn:tasktoken:grant-type:approval`; `GET /approvals/ui` is a
//! page for people. The rules are the core's ([`tasktoken::Approval`]) and the store moves
//! each state once; this module parses, authenticates, calls them and answers.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use tasktoken::{
    approval_resource, new_approval_handle, parse_approval_id, resource_allowed, secret_matches,
    Approval, ApprovalRefusal, Decision, Grant, ProofRequest, Request, Requester, UnverifiedToken,
    VerifyContext, DECIDE_ACTION,
};

use super::{
    check_proof, json_response, record_proof, unix_now, App, LockedProofs, OAuthError, JWT_TYPE,
};
use crate::approvals::{self, DecideError};
use crate::config::ApprovalConfig;
use crate::store::Store;

/// The grant type a client collects an approved request with.
pub(super) const GRANT_TYPE: &str = "urn:tasktoken:grant-type:approval";
/// How long a notification may take (connecting included) before it counts as failed.
pub(super) const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(5);

/// The parameters a collection reads; any other is refused.
const COLLECT_PARAMETERS: [&str; 3] = ["grant_type", "approval_id", "client_id"];

pub(super) use crate::approvals::audit_fields;

/// Runs `f` on the store on a blocking thread; `None` if the store lock or thread failed.
async fn on_store<T, F>(app: &App, f: F) -> Option<T>
where
    F: FnOnce(&mut dyn Store) -> T + Send + 'static,
    T: Send + 'static,
{
    let store = Arc::clone(&app.store);
    tokio::task::spawn_blocking(move || {
        let mut store = store.lock().ok()?;
        Some(f(store.as_mut()))
    })
    .await
    .ok()
    .flatten()
}

fn unavailable() -> OAuthError {
    OAuthError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        ..OAuthError::new("temporarily_unavailable", "the store is unavailable")
    }
}

/// A granted request under a policy with an approval rule: recorded as pending, announced to
/// the webhook, answered `authorization_pending` with the client's `approval_id`.
pub(super) async fn request(
    app: &App,
    grant: Grant,
    jkt: Option<String>,
    requester: Requester,
    config: &ApprovalConfig,
    now: i64,
    audit: &mut Map<String, Value>,
) -> Result<Response, OAuthError> {
    let handle = new_approval_handle().map_err(|_| unavailable())?;
    let approval = Approval::pending(&handle, grant, jkt, requester, &config.rule, now);
    audit.extend(audit_fields(&approval));
    audit.insert("bound".into(), Value::from(approval.jkt.is_some()));
    let stored = approval.clone();
    match on_store(app, move |store| store.insert_approval(&stored)).await {
        Some(Ok(())) => {}
        _ => return Err(unavailable()),
    }
    audit.insert("outcome".into(), Value::from("pending"));
    if let Some(url) = &config.webhook {
        let body = approvals::notification(&approval, &format!("{}/approvals/ui", app.url));
        notify(app.webhooks.clone(), app.audit.clone(), url.clone(), body, &approval);
    }
    let body = json!({
        "error": "authorization_pending",
        "error_description": "the request waits for an approver; poll with the approval grant",
        "approval_id": handle.approval_id,
        "expires_in": config.rule.expires(),
        "interval": config.rule.poll_interval(),
    });
    Ok(json_response(StatusCode::BAD_REQUEST, &body))
}

/// Posts `body` to `url` in the background. A failure (refused connection, timeout,
/// non-2xx) never reaches the client; it is audited, without the URL (a webhook URL often
/// holds a secret of the receiver).
fn notify(
    client: reqwest::Client,
    audit: crate::audit::Audit,
    url: String,
    body: Value,
    approval: &Approval,
) {
    let mut fields = Map::new();
    fields.insert("approval".into(), Value::from(approval.id.clone()));
    fields.insert("policy".into(), Value::from(approval.policy()));
    tokio::spawn(async move {
        let sent = client
            .post(&url)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await;
        let failure = match sent {
            Ok(response) if response.status().is_success() => None,
            Ok(response) => Some(format!("the receiver answered {}", response.status().as_u16())),
            Err(e) if e.is_timeout() => Some("no answer within 5 s".to_owned()),
            Err(e) => Some(e.without_url().to_string()),
        };
        match failure {
            None => {
                fields.insert("outcome".into(), Value::from("ok"));
            }
            Some(reason) => {
                fields.insert("outcome".into(), Value::from("failed"));
                fields.insert("reason".into(), Value::from(reason));
            }
        }
        audit.record("approval_webhook", unix_now(), fields);
    });
}

/// `POST /token` with the approval grant: the token of an approved request, once.
pub(super) async fn collect(
    app: &App,
    headers: &HeaderMap,
    form: &[(String, String)],
    now: i64,
    audit: &mut Map<String, Value>,
) -> Result<Response, OAuthError> {
    let mut approval_id = None;
    let mut seen: Vec<&str> = Vec::new();
    for (name, value) in form {
        let Some(known) = COLLECT_PARAMETERS.iter().find(|p| **p == name.as_str()) else {
            return Err(OAuthError::request(format!(
                "unknown parameter `{}` for the approval grant",
                super::printable(name)
            )));
        };
        if seen.contains(known) {
            return Err(OAuthError::request(format!("`{known}` is repeated")));
        }
        seen.push(known);
        if *known == "approval_id" {
            approval_id = Some(value.as_str());
        }
    }
    let approval_id = approval_id
        .filter(|v| !v.is_empty())
        .ok_or_else(|| OAuthError::request("`approval_id` is missing"))?;
    let unknown = || OAuthError::new("invalid_grant", "no request has this `approval_id`");
    let (id, secret_hash) = parse_approval_id(approval_id).ok_or_else(unknown)?;
    let proof = match headers.get_all("dpop").iter().collect::<Vec<_>>().as_slice() {
        [] => None,
        [proof] => Some(check_proof(app, proof.to_str().unwrap_or(""), now)?),
        _ => return Err(OAuthError::new("invalid_dpop_proof", "more than one DPoP header")),
    };
    audit.insert("bound".into(), Value::from(proof.is_some()));
    let owned = id.to_owned();
    let approval = match on_store(app, move |store| store.approval(&owned)).await {
        Some(Ok(approval)) => approval,
        _ => return Err(unavailable()),
    };
    // Unknown id and wrong secret answer alike; the secret's digest is compared in
    // constant time.
    let approval = approval.filter(|a| secret_matches(&a.secret_hash, &secret_hash));
    let approval = approval.ok_or_else(unknown)?;
    audit.insert("approval".into(), Value::from(approval.id.clone()));
    audit.insert("policy".into(), Value::from(approval.policy()));
    // Every poll's proof is used once, pending or not: a proof captured from one poll cannot
    // be replayed to collect (and so burn) the token later.
    if let Some(proof) = &proof {
        record_proof(app, proof, now)?;
    }
    let (by, at) = approval
        .collect(proof.as_ref().map(|p| p.jkt.as_str()), now)
        .map_err(|refusal| OAuthError::new(refusal.error(), refusal.description()))?;
    // Minted first (a refused mint uses nothing up), handed out only if this call is the
    // one that moved the request to `collected`.
    let mint = approval.mint_request(&by, at);
    let token = app.issuer.mint_at(&mint, now).map_err(|e| {
        OAuthError::new(
            "invalid_request",
            format!("the issuer refuses to mint it: {}", e.message()),
        )
    })?;
    let owned = approval.id.clone();
    match on_store(app, move |store| store.collect_approval(&owned, now)).await {
        Some(Ok(true)) => {}
        Some(Ok(false)) => {
            let refusal = ApprovalRefusal::Collected;
            return Err(OAuthError::new(refusal.error(), refusal.description()));
        }
        _ => return Err(unavailable()),
    }
    let jti = tasktoken::UnverifiedToken::parse(&token)
        .ok()
        .and_then(|t| t.claims().get("jti").and_then(Value::as_str).map(str::to_owned));
    audit.insert("jti".into(), jti.map_or(Value::Null, Value::from));
    audit.insert("sub".into(), Value::from(approval.grant.sub.clone()));
    audit.insert("approver".into(), Value::from(by));
    audit.insert("decided_at".into(), Value::from(at));
    audit.insert("ttl".into(), Value::from(approval.grant.ttl));
    audit.insert("outcome".into(), Value::from("collected"));
    let body = json!({
        "access_token": token,
        "issued_token_type": JWT_TYPE,
        "token_type": if mint.cnf_jkt.is_some() { "DPoP" } else { "Bearer" },
        "expires_in": approval.grant.ttl,
        "scope": approval.grant.scope,
    });
    Ok(json_response(StatusCode::OK, &body))
}

/// Why an approver's request is refused: the status, the OAuth error and its description.
struct Refused {
    status: StatusCode,
    error: &'static str,
    description: String,
    /// The `Authorization` scheme the caller used (`Bearer` or `DPoP`), for the challenge.
    scheme: &'static str,
}

impl Refused {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Refused { status, error, description: description.into(), scheme: "Bearer" }
    }

    fn into_response(self) -> Response {
        let body = json!({ "error": self.error, "error_description": self.description });
        let mut response = json_response(self.status, &body);
        let challenge = match self.status {
            // RFC 6750 §3.1: no error code when the request carried no credentials.
            StatusCode::UNAUTHORIZED if self.error == "invalid_request" => {
                Some(self.scheme.to_owned())
            }
            StatusCode::UNAUTHORIZED => Some(format!("{} error=\"{}\"", self.scheme, self.error)),
            StatusCode::FORBIDDEN => Some(format!(
                "{} error=\"insufficient_scope\", scope=\"{DECIDE_ACTION}\"",
                self.scheme
            )),
            _ => None,
        };
        if let Some(value) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// An authenticated approver: their `sub`, their token's `jti`, and the policies whose
/// requests they may decide (their token grants it, and they are listed).
struct Approver {
    sub: String,
    jti: String,
    policies: Vec<String>,
}

/// Authenticates the caller of an approval endpoint (`method` on `path`): one
/// `Authorization: Bearer <token>` (or `DPoP <token>` with its `DPoP` proof) holding a token
/// of this issuer for its `issuer` URL, not revoked, granting [`DECIDE_ACTION`] on
/// `approvals/<policy>` for at least one policy that lists its `sub` as an approver.
///
/// 401 for no or an invalid token (the verifier's reason, never the token), 403
/// `insufficient_scope` for a genuine one that may decide nothing.
async fn authenticate(
    app: &App,
    headers: &HeaderMap,
    method: &str,
    path: &str,
    now: i64,
) -> Result<Approver, Refused> {
    let missing = || {
        Refused::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request",
            "one `Authorization: Bearer <token>` header is required",
        )
    };
    let authorization = headers.get_all(header::AUTHORIZATION).iter().collect::<Vec<_>>();
    let [authorization] = authorization.as_slice() else { return Err(missing()) };
    let (scheme, token) = match authorization.to_str().unwrap_or("").split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => ("Bearer", token.trim()),
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("dpop") => ("DPoP", token.trim()),
        _ => return Err(missing()),
    };
    let invalid = |description: String| Refused {
        scheme,
        ..Refused::new(StatusCode::UNAUTHORIZED, "invalid_token", description)
    };
    let proofs = headers.get_all("dpop").iter().collect::<Vec<_>>();
    let proof = match (scheme, proofs.as_slice()) {
        ("DPoP", [proof]) => Some(proof.to_str().unwrap_or("")),
        ("DPoP", _) => return Err(invalid("a DPoP token needs one `DPoP` proof header".into())),
        (_, []) => None,
        _ => return Err(invalid("a `DPoP` proof goes with `Authorization: DPoP`".into())),
    };
    let url = format!("{}{path}", app.url);
    // One verification, for the first policy the token names (read without trust: the
    // verification decides); then the policies its verified `res` grants. A token naming no
    // policy here is still verified in full, so a bad one is 401 before a genuine one is 403.
    let names = UnverifiedToken::parse(token).ok().map(|t| {
        let res = t.claims().get("res").and_then(Value::as_array).cloned().unwrap_or_default();
        let named = |n: &&String| {
            resource_allowed(res.iter().filter_map(Value::as_str), &approval_resource(n))
        };
        app.approvals.keys().find(named).cloned()
    });
    let resource = approval_resource(names.flatten().as_deref().unwrap_or("-"));
    let mut request = Request::new(DECIDE_ACTION, &resource);
    if let Some(proof) = proof {
        request = request.with_proof(ProofRequest::new(proof, method, &url));
    }
    let replay = LockedProofs(&app.proofs);
    let context = VerifyContext::new().with_proof_replay(&replay);
    let claims = match app.approver.verify_with(token, &request, now, context) {
        Ok(claims) => claims,
        Err(e) if matches!(e.code(), "action_denied" | "resource_denied") => {
            return Err(Refused {
                scheme,
                ..Refused::new(
                    StatusCode::FORBIDDEN,
                    "insufficient_scope",
                    format!("the token grants `{DECIDE_ACTION}` on no `approvals/<policy>` here"),
                )
            })
        }
        Err(e) => return Err(invalid(format!("{}: {}", e.code(), e.message()))),
    };
    let granted: Vec<String> = app
        .approvals
        .keys()
        .filter(|n| resource_allowed(claims.resources(), &approval_resource(n)))
        .cloned()
        .collect();
    let (sub, jti) = (claims.sub().to_owned(), claims.jti().to_owned());
    // A revoked approver token decides nothing (checked against the store, exactly).
    let owned = jti.clone();
    match on_store(app, move |store| store.revoked(&owned)).await {
        Some(Ok(None)) => {}
        Some(Ok(Some(_))) => return Err(invalid("revoked: the token has been revoked".into())),
        _ => {
            return Err(Refused::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the store is unavailable",
            ))
        }
    }
    let policies = approvals::decidable_policies(&app.approvals, &sub, Some(&granted));
    if policies.is_empty() {
        return Err(Refused {
            scheme,
            ..Refused::new(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                "the token's `sub` is not an approver of the policies it names",
            )
        });
    }
    Ok(Approver { sub, jti, policies })
}

/// `GET /approvals`: the pending requests the caller may decide, with what they grant.
pub(super) async fn list(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let now = unix_now();
    let mut fields = Map::new();
    let approver = match authenticate(&app, &headers, "GET", "/approvals", now).await {
        Ok(approver) => approver,
        Err(refused) => {
            fields.insert("outcome".into(), Value::from(refused.error));
            app.audit.record("approval_list", now, fields);
            return refused.into_response();
        }
    };
    fields.insert("approver".into(), Value::from(approver.sub.clone()));
    fields.insert("approver_jti".into(), Value::from(approver.jti.clone()));
    let policies = approver.policies.clone();
    let listed = on_store(&app, move |store| approvals::list(store, &policies, now)).await;
    let Some(Ok(listed)) = listed else {
        fields.insert("outcome".into(), Value::from("temporarily_unavailable"));
        app.audit.record("approval_list", now, fields);
        return Refused::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the store is unavailable",
        )
        .into_response();
    };
    fields.insert("outcome".into(), Value::from("ok"));
    fields.insert("count".into(), Value::from(listed.len()));
    app.audit.record("approval_list", now, fields);
    let items: Vec<Value> = listed.iter().map(Approval::summary).collect();
    json_response(
        StatusCode::OK,
        &json!({ "approver": approver.sub, "policies": approver.policies, "approvals": items }),
    )
}

/// `POST /approvals/<id>/approve|deny`: an approver decides a pending request.
pub(super) async fn decide(
    State(app): State<Arc<App>>,
    Path((id, decision)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let now = unix_now();
    let mut fields = Map::new();
    let decision = match decision.as_str() {
        "approve" => Decision::Approve,
        "deny" => Decision::Deny,
        _ => {
            return Refused::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
                .into_response()
        }
    };
    let path = format!(
        "/approvals/{id}/{}",
        if decision == Decision::Approve { "approve" } else { "deny" }
    );
    let result = decide_inner(&app, &headers, &path, &id, decision, now, &mut fields).await;
    match result {
        Ok(approval) => {
            fields.extend(audit_fields(&approval));
            let outcome = approval.state.name();
            fields.insert("outcome".into(), Value::from(outcome));
            app.audit.record("approval_decide", now, fields);
            json_response(StatusCode::OK, &json!({ "approval": approval.summary() }))
        }
        Err(refused) => {
            fields.insert("outcome".into(), Value::from("refused"));
            fields.insert("error".into(), Value::from(refused.error));
            fields.insert("reason".into(), Value::from(refused.description.clone()));
            app.audit.record("approval_decide", now, fields);
            refused.into_response()
        }
    }
}

async fn decide_inner(
    app: &App,
    headers: &HeaderMap,
    path: &str,
    id: &str,
    decision: Decision,
    now: i64,
    fields: &mut Map<String, Value>,
) -> Result<Approval, Refused> {
    // The caller is authenticated before the id is looked at: nobody learns which ids exist.
    let approver = authenticate(app, headers, "POST", path, now).await?;
    fields.insert("approver".into(), Value::from(approver.sub.clone()));
    fields.insert("approver_jti".into(), Value::from(approver.jti.clone()));
    let not_found = || Refused::new(StatusCode::NOT_FOUND, "not_found", "no such approval");
    if !tasktoken::is_approval_id(id) {
        return Err(not_found());
    }
    fields.insert("approval".into(), Value::from(id.to_owned()));
    let (id, rules, Approver { sub, policies, .. }) =
        (id.to_owned(), app.approvals.clone(), approver);
    let decided = on_store(app, move |store| {
        let may_decide = |policy: &str| policies.iter().any(|p| p == policy);
        approvals::decide(store, &rules, &may_decide, &id, &sub, decision, now)
    })
    .await;
    match decided {
        Some(Ok(approval)) => Ok(approval),
        Some(Err(DecideError::NotFound)) => Err(not_found()),
        Some(Err(DecideError::Refused(refusal))) => {
            let status = match refusal {
                ApprovalRefusal::NotApprover | ApprovalRefusal::SelfApproval => {
                    StatusCode::FORBIDDEN
                }
                _ => StatusCode::CONFLICT,
            };
            Err(Refused::new(status, refusal.error(), refusal.description()))
        }
        _ => Err(Refused::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the store is unavailable",
        )),
    }
}

/// The approval page: one self-contained HTML document (its script and style inline,
/// allowed by their hashes), and its Content-Security-Policy.
pub(super) struct Page {
    html: String,
    csp: String,
}

/// The page's parts (crates/tasktoken-service/src/server/ui/).
const UI_HTML: &str = include_str!("ui/approvals.html");
const UI_SCRIPT: &str = include_str!("ui/approvals.js");
const UI_STYLE: &str = include_str!("ui/approvals.css");

impl Page {
    pub(super) fn new() -> Page {
        use base64::Engine as _;
        use sha2::Digest as _;
        let hash = |text: &str| {
            base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(text.as_bytes()))
        };
        let html = UI_HTML.replace("/*STYLE*/", UI_STYLE).replace("/*SCRIPT*/", UI_SCRIPT);
        // Nothing but this page's own script and style, and requests to this service.
        let csp = format!(
            "default-src 'none'; script-src 'sha256-{}'; style-src 'sha256-{}'; \
             connect-src 'self'; img-src 'none'; base-uri 'none'; form-action 'none'; \
             frame-ancestors 'none'",
            hash(UI_SCRIPT),
            hash(UI_STYLE)
        );
        Page { html, csp }
    }
}

/// `GET /approvals/ui`: the page where an approver pastes their token (kept in the page's
/// memory only), sees pending requests and decides them.
pub(super) async fn ui(State(app): State<Arc<App>>) -> Response {
    let mut response = (StatusCode::OK, app.ui.html.clone()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if let Ok(csp) = HeaderValue::from_str(&app.ui.csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    response
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_page_holds_its_script_and_style_and_the_policy_their_hashes() {
        let page = super::Page::new();
        assert!(page.html.contains(super::UI_SCRIPT) && page.html.contains(super::UI_STYLE));
        assert!(!page.html.contains("/*SCRIPT*/") && !page.html.contains("/*STYLE*/"));
        assert!(page.csp.starts_with("default-src 'none'; script-src 'sha256-"));
        assert!(!page.html.contains("http://") && !page.html.contains("https://"));
    }
}
