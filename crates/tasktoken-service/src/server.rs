//! The HTTP service (DESIGN.md, "Token service"): `POST /token` (RFC 8693, and the approval
//! grant), the JWKS, the revocation data and endpoint, the approvals (`server/approval.rs`),
//! `GET /healthz`. Every decision is the core's
//! ([`tasktoken::decide_exchange`], [`tasktoken::Issuer`], [`tasktoken::verify_proof`],
//! [`tasktoken::Verifier::authorize_revocation_at`], the publication planner); this module
//! parses requests, calls them, stores, and answers.

mod approval;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Map, Value};
use tasktoken::{
    decide_exchange, verify_proof, ExchangeRequest, Issuer, KeySet, Policy, ProofReplayCache,
    ProofReplayStore as _, ProofRequest, PublicationPlanner, Refusal, UnverifiedToken,
    VerifiedProof, Verifier, VerifyContext, DEFAULT_PROOF_MAX_AGE, REVOKE_ACTION,
};
use tokio::sync::{mpsc, oneshot, Notify};

use crate::audit::Audit;
use crate::config::{ApprovalConfig, Config};
use crate::identity::Providers;
use crate::publish::{Publisher, Want};
use crate::store::{self, Store};

/// The largest `POST /token` body: 64 KiB (DESIGN.md).
const MAX_TOKEN_BODY: usize = 64 * 1024;
/// The largest `POST /revocation/revoke` body: 16 KiB.
const MAX_REVOKE_BODY: usize = 16 * 1024;
/// How long a client may take to send a request's headers, and then its body.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long in-flight requests may take to finish after SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// The longest a connection stays open, keep-alive included.
const MAX_CONNECTION_LIFE: Duration = Duration::from_secs(120);
/// Open connections beyond this wait to be accepted.
const MAX_CONNECTIONS: usize = 4096;
/// Subject-token records written in one transaction at most.
const MAX_BATCH: usize = 512;
/// DPoP proofs to `/token` remembered (their `jti`) at most.
const PROOF_CACHE: usize = 100_000;

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const JWT_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";
const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// Runs the service of `config` until SIGTERM or SIGINT: binds `listen` (or the config's),
/// prints `{"listening":"http://HOST:PORT"}` as the first stdout line once it accepts
/// connections, then serves. Returns an error (for exit status 2) if it cannot start.
pub fn run(config: Config, listen: Option<&str>) -> Result<(), String> {
    // One worker per core (tokio's default). Measured: one single-threaded runtime per core
    // with SO_REUSEPORT listeners served 10.4-10.9k exchanges/s with a p99 of 9-30 ms (the
    // kernel spread 16 connections unevenly); the work-stealing scheduler, 11.8-12.1k/s and
    // 3.4-4.2 ms.
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    let runtime = builder
        .enable_all()
        .thread_name("tasktoken-serve")
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(serve(config, listen))
}

/// What the handlers share.
struct App {
    issuer: Issuer,
    /// `<url>/token`, the `htu` of DPoP proofs sent with exchanges.
    token_url: String,
    policies: Vec<Policy>,
    max_ttl: u32,
    skew: u32,
    providers: Providers,
    jwks: String,
    revoker: Verifier,
    store: Arc<Mutex<Box<dyn Store>>>,
    subjects: mpsc::Sender<SubjectAsk>,
    served: RwLock<Served>,
    publish_now: Notify,
    /// Whether the publisher's last run reached the store (what `/healthz` answers).
    healthy: std::sync::atomic::AtomicBool,
    audit: Audit,
    proofs: Mutex<ProofReplayCache>,
    /// The policies that wait for a person, by name.
    approvals: BTreeMap<String, ApprovalConfig>,
    /// Verifies approvers' tokens: this issuer's, with its `issuer` URL in `aud`.
    approver: Verifier,
    /// The public base URL (DPoP proofs to the approval endpoints name it).
    url: String,
    /// Posts approval notifications (5 s timeout, no redirects).
    webhooks: reqwest::Client,
    /// The approval page and its Content-Security-Policy.
    ui: approval::Page,
}

/// One subject token to record, and where to say whether it was new.
struct SubjectAsk {
    key: [u8; 32],
    until: i64,
    reply: oneshot::Sender<Result<bool, String>>,
}

/// The current generation of revocation data, as served.
#[derive(Default)]
struct Served {
    generation: u64,
    snapshot: Option<Bytes>,
    /// Deltas by their base serial.
    deltas: HashMap<u64, Bytes>,
    /// The newest serial of the generation.
    latest: u64,
}

async fn serve(config: Config, listen: Option<&str>) -> Result<(), String> {
    let audit = Audit::start(&config.audit)?;
    let keys = KeySet::from_keys(config.keys.iter().map(tasktoken::SigningKey::public_key))
        .map_err(|e| e.message().to_owned())?;
    let signing = config.keys.first().cloned().ok_or("no signing key")?;
    let bad = |e: tasktoken::Error| format!("configuration: {}", e.message());
    let issuer = Issuer::new(&config.issuer, signing.clone())
        .map_err(bad)?
        .max_ttl(config.max_ttl)
        .map_err(bad)?
        .max_actions(config.max_actions)
        // Each policy caps its own `dlg` (at most 4); the issuer mints what one grants.
        .max_delegation(tasktoken::MAX_DELEGATION_DEPTH)
        .map_err(bad)?;
    // The service's own tokens, for its own endpoints: addressed to its `issuer` URL.
    let own_tokens = |name: &str| -> Result<Verifier, String> {
        Ok(Verifier::new(&config.issuer)
            .map_err(bad)?
            .trust(&config.issuer, &keys)
            .map_err(bad)?
            .max_lifetime(config.max_ttl)
            .map_err(bad)?
            .clock_skew(config.clock_skew)
            .map_err(bad)?
            .named(name))
    };
    let revoker = own_tokens("tasktoken-serve")?.revoke_any_audience(true);
    let planner = PublicationPlanner::new(
        tasktoken::DEFAULT_FPR,
        tasktoken::DEFAULT_MIN_CAPACITY,
        config.revocation_valid_for,
    )
    .map_err(bad)?;
    let publisher =
        Arc::new(Publisher::new(signing, &config.issuer, planner, config.clock_skew).map_err(bad)?);
    // Approvers present their own token: a chain's `sub` is its last link's, chosen by the
    // delegator, so a chain could name any approver (docs/token-service.md, "Approval").
    let approver = own_tokens("tasktoken-serve approvals")?.max_delegation_depth(0).map_err(bad)?;
    let webhooks = reqwest::Client::builder()
        .timeout(approval::WEBHOOK_TIMEOUT)
        .connect_timeout(approval::WEBHOOK_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("cannot build the webhook client: {e}"))?;
    let location = config.store.clone();
    // On a blocking thread: the PostgreSQL client runs a runtime of its own.
    let open = |location: String, relax: bool| async move {
        tokio::task::spawn_blocking(move || {
            let mut store = store::open(&location)?;
            if relax {
                store.relax_durability()?;
            }
            Ok::<_, store::StoreError>(store)
        })
        .await
        .map_err(|e| format!("store: {e}"))?
        .map_err(|e| format!("store: {e}"))
    };
    let main_store = open(location.clone(), false).await?;
    let subject_store = open(location, true).await?;
    let providers = Providers::new(&config.identities, config.clock_skew)?;
    let (subjects, asks) = mpsc::channel(4 * MAX_BATCH);
    std::thread::Builder::new()
        .name("tasktoken-subjects".into())
        .spawn(move || record_subjects(subject_store, asks))
        .map_err(|e| format!("cannot start a thread: {e}"))?;
    let app = Arc::new(App {
        issuer,
        token_url: format!("{}/token", config.url),
        policies: config.policies,
        max_ttl: config.max_ttl,
        skew: config.clock_skew,
        providers,
        jwks: keys.to_jwks(),
        revoker,
        store: Arc::new(Mutex::new(main_store)),
        subjects,
        served: RwLock::new(Served::default()),
        publish_now: Notify::new(),
        healthy: std::sync::atomic::AtomicBool::new(false),
        audit,
        proofs: Mutex::new(ProofReplayCache::new(PROOF_CACHE)),
        approvals: config.approvals,
        approver,
        url: config.url.clone(),
        webhooks,
        ui: approval::Page::new(),
    });
    // The first publication (or the one another instance made) is served from the start.
    publish_once(&app, &publisher, config.rotate_after).await;
    let audit = app.audit.clone();
    app.providers
        .prefetch(&|message| {
            let mut fields = Map::new();
            fields.insert("outcome".into(), Value::from("failed"));
            fields.insert("reason".into(), Value::from(message));
            audit.record("jwks_fetch", unix_now(), fields);
        })
        .await;
    let listener = tokio::net::TcpListener::bind(listen.unwrap_or(&config.listen))
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", listen.unwrap_or(&config.listen)))?;
    let local = listener.local_addr().map_err(|e| format!("cannot listen: {e}"))?;
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", json!({ "listening": format!("http://{local}") }))
            .and_then(|()| out.flush())
            .map_err(|e| format!("cannot write to stdout: {e}"))?;
    }
    app.audit.open();
    let publishing = tokio::spawn(publish_loop(
        Arc::clone(&app),
        publisher,
        config.publish_interval,
        config.rotate_after,
    ));
    let router = Router::new()
        .route("/token", post(token))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/revocation/snapshot", get(snapshot))
        .route("/revocation/delta/{serial}", get(delta))
        .route("/revocation/revoke", post(revoke))
        .route("/approvals", get(approval::list))
        .route("/approvals/ui", get(approval::ui))
        .route("/approvals/{id}/{decision}", post(approval::decide))
        .route("/healthz", get(healthz))
        .fallback(|| async { plain_error(StatusCode::NOT_FOUND, "not_found", "no such endpoint") })
        .with_state(Arc::clone(&app));
    accept(listener, router).await;
    publishing.abort();
    let _ = publishing.await;
    // The stores are closed on a blocking thread too (PostgreSQL's client blocks in drop).
    let store = Arc::clone(&app.store);
    let mut fields = Map::new();
    fields.insert("outcome".into(), Value::from("ok"));
    app.audit.record("stop", unix_now(), fields);
    drop(app);
    let _ = tokio::task::spawn_blocking(move || drop(store)).await;
    // Let the audit thread write the last lines.
    tokio::time::sleep(Duration::from_millis(50)).await;
    Ok(())
}

/// Accepts connections until SIGTERM or SIGINT, then lets in-flight requests finish (at most
/// [`SHUTDOWN_GRACE`]).
async fn accept(listener: tokio::net::TcpListener, router: Router) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let limit = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let mut stop = std::pin::pin!(shutdown_signal());
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&limit).acquire_owned() => permit,
            () = &mut stop => break,
        };
        let Ok(permit) = permit else { break };
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: wait a moment, keep serving.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(READ_TIMEOUT)
            .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A connection lives at most this long, so a client that never reads its
            // answers cannot hold a connection slot for ever.
            let _ = tokio::time::timeout(MAX_CONNECTION_LIFE, connection).await;
            drop(permit);
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = int.recv() => {},
                }
            }
            _ => std::future::pending::<()>().await,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The subject-token recorder: takes every ask waiting, records them in one transaction
/// (one commit for many exchanges under load), answers each.
fn record_subjects(mut store: Box<dyn Store>, mut asks: mpsc::Receiver<SubjectAsk>) {
    while let Some(first) = asks.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match asks.try_recv() {
                Ok(ask) => batch.push(ask),
                Err(_) => break,
            }
        }
        let keys: Vec<([u8; 32], i64)> = batch.iter().map(|a| (a.key, a.until)).collect();
        match store.record_subjects(&keys, unix_now()) {
            Ok(fresh) => {
                for (ask, new) in batch.into_iter().zip(fresh) {
                    let _ = ask.reply.send(Ok(new));
                }
            }
            Err(e) => {
                for ask in batch {
                    let _ = ask.reply.send(Err(e.0.clone()));
                }
            }
        }
    }
}

/// Publishes what is due and refreshes the served data, every `interval` seconds or when a
/// revocation asks for it (at most once a second).
async fn publish_loop(app: Arc<App>, publisher: Arc<Publisher>, interval: u32, rotate_after: u32) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(u64::from(interval))) => {},
            () = app.publish_now.notified() => {},
        }
        publish_once(&app, &publisher, rotate_after).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn publish_once(app: &Arc<App>, publisher: &Arc<Publisher>, rotate_after: u32) {
    let store = Arc::clone(&app.store);
    let now = unix_now();
    let want = Want::Next { rotate_after: i64::from(rotate_after) };
    let publisher = Arc::clone(publisher);
    let cached = app.served.read().map(|s| (s.generation, s.latest)).unwrap_or((0, 0));
    let outcome = tokio::task::spawn_blocking(move || {
        let mut store = store.lock().map_err(|_| "the store lock failed".to_owned())?;
        let published = publisher.publish(store.as_mut(), want, now).map_err(|e| e.to_string())?;
        let update = refresh_served(store.as_mut(), cached).map_err(|e| e.0)?;
        store.maintain().map_err(|e| e.0)?;
        // Requests nobody decided in time: each is audited once, by the instance that
        // marked it.
        let expired = store.expire_approvals(now).map_err(|e| e.0)?;
        Ok::<_, String>((published, update, expired))
    })
    .await;
    let mut fields = Map::new();
    let reached = matches!(outcome, Ok(Ok(_)));
    app.healthy.store(reached, std::sync::atomic::Ordering::Relaxed);
    match outcome {
        Ok(Ok((published, update, expired))) => {
            for approval in expired {
                app.audit.record("approval_expire", now, approval::audit_fields(&approval));
            }
            if let Some(update) = update {
                if let Ok(mut served) = app.served.write() {
                    update.apply(&mut served);
                }
            }
            let Some(p) = published else { return };
            let kind = if p.record.base_serial.is_some() { "delta" } else { "snapshot" };
            fields.insert("outcome".into(), Value::from("ok"));
            fields.insert("kind".into(), Value::from(kind));
            fields.insert("serial".into(), Value::from(p.record.serial));
            fields.insert("generation".into(), Value::from(p.record.generation));
            fields.insert("entries".into(), Value::from(p.record.entries));
            fields.insert("filter_entries".into(), Value::from(p.filter_entries));
            fields.insert("bytes".into(), Value::from(p.bytes.len()));
        }
        Ok(Err(reason)) => {
            fields.insert("outcome".into(), Value::from("failed"));
            fields.insert("reason".into(), Value::from(reason));
        }
        Err(_) => {
            fields.insert("outcome".into(), Value::from("failed"));
            fields.insert("reason".into(), Value::from("the publisher stopped"));
        }
    }
    app.audit.record("publish", now, fields);
}

/// What changed in the store since the served generation and serial.
enum Update {
    Replace { generation: u64, snapshot: Bytes, deltas: Vec<(u64, u64, Bytes)> },
    Append(Vec<(u64, u64, Bytes)>),
}

impl Update {
    fn apply(self, served: &mut Served) {
        let deltas = match self {
            Update::Replace { generation, snapshot, deltas } => {
                *served = Served {
                    generation,
                    snapshot: Some(snapshot),
                    deltas: HashMap::new(),
                    latest: generation,
                };
                deltas
            }
            Update::Append(deltas) => deltas,
        };
        for (base, serial, bytes) in deltas {
            served.deltas.insert(base, bytes);
            served.latest = served.latest.max(serial);
        }
    }
}

fn refresh_served(
    store: &mut dyn Store,
    (generation, latest): (u64, u64),
) -> Result<Option<Update>, store::StoreError> {
    let Some(current) = store.latest_snapshot()? else {
        return Ok(None);
    };
    let deltas =
        |store: &mut dyn Store, after| -> Result<Vec<(u64, u64, Bytes)>, store::StoreError> {
            Ok(store
                .deltas_after(current, after)?
                .into_iter()
                .filter_map(|(r, b)| r.base_serial.map(|base| (base, r.serial, Bytes::from(b))))
                .collect())
        };
    if current != generation {
        let Some((_, Some(bytes))) = store.publication(current)? else {
            return Ok(None);
        };
        let deltas = deltas(store, current)?;
        return Ok(Some(Update::Replace {
            generation: current,
            snapshot: Bytes::from(bytes),
            deltas,
        }));
    }
    Ok(Some(Update::Append(deltas(store, latest)?)))
}

/// `POST /token`: RFC 8693 token exchange.
async fn token(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    let now = unix_now();
    let mut audit = Map::new();
    let form = read_form(&headers, body, MAX_TOKEN_BODY).await;
    let collecting = form.as_ref().is_ok_and(|form| {
        form.iter().any(|(name, value)| name == "grant_type" && value == approval::GRANT_TYPE)
    });
    let result = match form {
        Err(refusal) => Err(refusal),
        Ok(form) if collecting => approval::collect(&app, &headers, &form, now, &mut audit).await,
        Ok(form) => exchange(&app, &headers, &form, now, &mut audit).await,
    };
    // A request that now waits for a person is its own event; polls that are still
    // pending are not audited (one line every few seconds per client would say nothing).
    let event = if collecting {
        "approval_collect"
    } else if audit.contains_key("approval") {
        "approval_request"
    } else {
        "exchange"
    };
    match result {
        Ok(response) => {
            if !audit.contains_key("outcome") {
                audit.insert("outcome".into(), Value::from("granted"));
            }
            app.audit.record(event, now, audit);
            response
        }
        Err(refusal) if refusal.error == "authorization_pending" && collecting => {
            refusal.into_response()
        }
        Err(refusal) => {
            audit.insert("outcome".into(), Value::from("refused"));
            audit.insert("error".into(), Value::from(refusal.error));
            audit.insert("reason".into(), Value::from(refusal.description.clone()));
            app.audit.record(event, now, audit);
            refusal.into_response()
        }
    }
}

/// An OAuth error answer: `error`, `error_description`, and its status.
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl OAuthError {
    fn new(error: &'static str, description: impl Into<String>) -> Self {
        OAuthError { status: StatusCode::BAD_REQUEST, error, description: description.into() }
    }

    fn request(description: impl Into<String>) -> Self {
        OAuthError::new("invalid_request", description)
    }
}

impl From<Refusal> for OAuthError {
    fn from(refusal: Refusal) -> Self {
        OAuthError::new(refusal.error(), refusal.description())
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.error, "error_description": self.description });
        json_response(self.status, &body)
    }
}

/// The parameters `POST /token` reads; any other is refused.
const PARAMETERS: [&str; 11] = [
    "grant_type",
    "subject_token",
    "subject_token_type",
    "audience",
    "scope",
    "res",
    "task",
    "ttl",
    "dlg",
    "requested_token_type",
    "client_id",
];

async fn exchange(
    app: &App,
    headers: &HeaderMap,
    form: &[(String, String)],
    now: i64,
    audit: &mut Map<String, Value>,
) -> Result<Response, OAuthError> {
    let mut single: HashMap<&str, &str> = HashMap::new();
    let mut res: Vec<String> = Vec::new();
    for (name, value) in form {
        let Some(known) = PARAMETERS.iter().find(|p| **p == name.as_str()) else {
            return Err(OAuthError::request(match name.as_str() {
                "actor_token" | "actor_token_type" => "actor tokens are not supported".into(),
                "resource" => "`resource` is not supported: name resources with `res`".into(),
                other => format!("unknown parameter `{}`", printable(other)),
            }));
        };
        if *known == "res" {
            res.push(value.clone());
        } else if single.insert(known, value.as_str()).is_some() {
            return Err(OAuthError::request(format!("`{known}` is repeated")));
        }
    }
    let param = |name: &str| single.get(name).copied();
    let required = |name: &'static str| {
        param(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| OAuthError::request(format!("`{name}` is missing")))
    };
    match required("grant_type")? {
        TOKEN_EXCHANGE => {}
        _ => {
            return Err(OAuthError::new(
                "unsupported_grant_type",
                "the grant type is not token exchange",
            ))
        }
    }
    let subject_token = required("subject_token")?;
    match required("subject_token_type")? {
        JWT_TYPE | ID_TOKEN_TYPE => {}
        _ => return Err(OAuthError::request("`subject_token_type` must be a JWT or an ID token")),
    }
    if let Some(requested) = param("requested_token_type") {
        if requested != JWT_TYPE && requested != ACCESS_TOKEN_TYPE {
            return Err(OAuthError::request("only JWT access tokens can be issued"));
        }
    }
    let audience = required("audience")?;
    let scope = required("scope")?;
    let task = required("task")?;
    if res.is_empty() {
        return Err(OAuthError::request("`res` is missing"));
    }
    let number = |name: &'static str, max: u32| -> Result<Option<u32>, OAuthError> {
        param(name)
            .map(|v| {
                v.parse::<u32>()
                    .ok()
                    .filter(|n| v.bytes().all(|b| b.is_ascii_digit()) && *n <= max)
                    .ok_or_else(|| OAuthError::request(format!("`{name}` is ill-formed")))
            })
            .transpose()
    };
    let ttl = number("ttl", 86_400)?;
    let dlg = number("dlg", 4)?;
    // Proof of possession: a valid DPoP proof for this endpoint binds the token to its key.
    let proof = match headers.get_all("dpop").iter().collect::<Vec<_>>().as_slice() {
        [] => None,
        [proof] => Some(check_proof(app, proof.to_str().unwrap_or(""), now)?),
        _ => return Err(OAuthError::new("invalid_dpop_proof", "more than one DPoP header")),
    };
    audit.insert("bound".into(), Value::from(proof.is_some()));
    let identity = app
        .providers
        .verify(subject_token, now)
        .await
        .map_err(|reason| OAuthError::new("invalid_grant", reason))?;
    audit.insert("identity".into(), Value::from(identity.provider.clone()));
    audit.insert("external_iss".into(), Value::from(identity.iss.clone()));
    if let Some(sub) = &identity.sub {
        audit.insert("external_sub".into(), Value::from(sub.clone()));
    }
    let mut request = ExchangeRequest::new(audience, scope, &res, task).with_bound(proof.is_some());
    request.ttl = ttl;
    request.dlg = dlg;
    let grant =
        decide_exchange(&app.policies, &identity.provider, &identity.claims, &request, app.max_ttl)
            .map_err(OAuthError::from)?;
    audit.insert("policy".into(), Value::from(grant.policy.clone()));
    // Minted before anything is recorded: a request the issuer refuses uses up neither the
    // subject token nor the proof; the token is handed out only once both are recorded.
    let rule = app.approvals.get(&grant.policy);
    let mut mint = grant.mint_request(proof.as_ref().map(|p| p.jkt.clone()));
    if let Some(rule) = rule {
        // The token minted at collection carries `apv`: the trial mint below carries the
        // longest one it may, so what passes now passes then.
        let longest = rule.rule.approvers().iter().max_by_key(|a| a.len());
        mint = mint.with_extra(tasktoken::apv(longest.map_or("", String::as_str), now));
    }
    // With an approval rule this is a trial: the token is dropped, and minted again (as
    // decided now) when the approved request is collected.
    let token = app.issuer.mint_at(&mint, now).map_err(|e| {
        OAuthError::new(
            "invalid_request",
            format!("the issuer refuses to mint it: {}", e.message()),
        )
    })?;
    // The proof is recorded only now, after the subject token and the policy allowed the
    // request: proofs sent with garbage subject tokens cannot fill the replay cache.
    if let Some(proof) = &proof {
        record_proof(app, proof, now)?;
    }
    if let Some((key, until)) = identity.replay {
        let (reply, answer) = oneshot::channel();
        let unavailable = || OAuthError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            ..OAuthError::new("temporarily_unavailable", "the store is unavailable")
        };
        app.subjects.send(SubjectAsk { key, until, reply }).await.map_err(|_| unavailable())?;
        match answer.await {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => {
                return Err(OAuthError::new(
                    "invalid_grant",
                    "the subject token has been exchanged before (its `jti` is used once)",
                ))
            }
            _ => return Err(unavailable()),
        }
    }
    if let Some(rule) = rule {
        drop(token);
        let requester =
            tasktoken::Requester::new(&identity.provider, &identity.iss, identity.sub.as_deref());
        return approval::request(app, grant, mint.cnf_jkt, requester, rule, now, audit).await;
    }
    let jti = UnverifiedToken::parse(&token)
        .ok()
        .and_then(|t| t.claims().get("jti").and_then(Value::as_str).map(str::to_owned));
    audit.insert("jti".into(), jti.map_or(Value::Null, Value::from));
    audit.insert("sub".into(), Value::from(grant.sub));
    audit.insert("aud".into(), Value::from(grant.aud));
    audit.insert("task".into(), Value::from(grant.task));
    audit.insert("scope".into(), Value::from(grant.scope.clone()));
    audit.insert("res".into(), Value::from(grant.res));
    audit.insert("ttl".into(), Value::from(grant.ttl));
    let token_type = if mint.cnf_jkt.is_some() { "DPoP" } else { "Bearer" };
    let body = json!({
        "access_token": token,
        "issued_token_type": JWT_TYPE,
        "token_type": token_type,
        "expires_in": grant.ttl,
        "scope": grant.scope,
    });
    Ok(json_response(StatusCode::OK, &body))
}

/// Verifies a DPoP proof sent to `/token` (its `jti` is recorded once the request is granted).
fn check_proof(app: &App, proof: &str, now: i64) -> Result<VerifiedProof, OAuthError> {
    let request = ProofRequest::new(proof, "POST", &app.token_url);
    verify_proof(&request, None, now, DEFAULT_PROOF_MAX_AGE, app.skew)
        .map_err(|e| OAuthError::new("invalid_dpop_proof", e.message().to_owned()))
}

/// Reads an `application/x-www-form-urlencoded` body of at most `limit` bytes into its
/// pairs. Refuses another content type, a larger or slow body, and text that is not UTF-8.
async fn read_form(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Vec<(String, String)>, OAuthError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let is_form = content_type.is_some_and(|t| {
        t.split(';')
            .next()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
    });
    if !is_form {
        return Err(OAuthError::request("the body must be application/x-www-form-urlencoded"));
    }
    let bytes = read_body(body, limit).await.map_err(OAuthError::request)?;
    let text =
        std::str::from_utf8(&bytes).map_err(|_| OAuthError::request("the body is not UTF-8"))?;
    let mut pairs = Vec::new();
    for (name, value) in form_urlencoded::parse(text.as_bytes()) {
        if name.contains('\u{fffd}') || value.contains('\u{fffd}') {
            return Err(OAuthError::request("a parameter is not UTF-8 once decoded"));
        }
        pairs.push((name.into_owned(), value.into_owned()));
    }
    Ok(pairs)
}

async fn read_body(body: Body, limit: usize) -> Result<Bytes, String> {
    match tokio::time::timeout(READ_TIMEOUT, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) => Err(format!("the body is larger than {} KiB", limit / 1024)),
        Err(_) => Err("the body was not sent in time".into()),
    }
}

/// A parameter name fit for a message: letters, digits and `_`, at most 32.
fn printable(name: &str) -> String {
    if name.len() <= 32 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        name.to_owned()
    } else {
        "…".into()
    }
}

/// `GET /.well-known/jwks.json`: every configured key's public half.
async fn jwks(State(app): State<Arc<App>>) -> Response {
    let mut response = (StatusCode::OK, app.jwks.clone()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/jwk-set+json"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=60"));
    response
}

/// `GET /revocation/snapshot`: the current generation's snapshot.
async fn snapshot(State(app): State<Arc<App>>) -> Response {
    let snapshot = app.served.read().ok().and_then(|s| s.snapshot.clone());
    match snapshot {
        Some(bytes) => data_response(bytes),
        None => plain_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "stale_revocation",
            "nothing is published yet",
        ),
    }
}

/// `GET /revocation/delta/{serial}`: the delta whose base is `serial`; `404` while there is
/// nothing newer; `410` for a serial of an older generation (read the snapshot).
async fn delta(State(app): State<Arc<App>>, Path(serial): Path<String>) -> Response {
    let Some(serial) =
        serial.parse::<u64>().ok().filter(|_| serial.bytes().all(|b| b.is_ascii_digit()))
    else {
        return plain_error(StatusCode::NOT_FOUND, "malformed", "a serial is a decimal number");
    };
    let Ok(served) = app.served.read() else {
        return plain_error(StatusCode::SERVICE_UNAVAILABLE, "stale_revocation", "unavailable");
    };
    if let Some(bytes) = served.deltas.get(&serial) {
        return data_response(bytes.clone());
    }
    if served.snapshot.is_some() && serial < served.latest {
        return plain_error(
            StatusCode::GONE,
            "stale_revocation",
            "a newer generation exists: read the snapshot",
        );
    }
    plain_error(StatusCode::NOT_FOUND, "not_found", "nothing newer yet")
}

fn data_response(bytes: Bytes) -> Response {
    let mut response = (StatusCode::OK, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `POST /revocation/revoke`: a token revokes itself, or (form field `token`) a caller
/// allowed `tokens:revoke` on `tokens/<jti>` for this service revokes another.
///
/// The caller's token comes as `Authorization: Bearer <token>`, or, key-bound, as
/// `Authorization: DPoP <token>` with one `DPoP` proof for `POST <url>/revocation/revoke`
/// (the core's `authorize_revocation_at` decides; a bound token sent as Bearer is
/// `binding_required`). Refusals are `{"error": <code>, "message"}`; a 401 or 403 also
/// carries a `WWW-Authenticate` challenge (`DPoP` when the request used DPoP or the
/// refusal is about the binding or the proof, else `Bearer`).
async fn revoke(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    let now = unix_now();
    let mut fields = Map::new();
    let result = revoke_inner(&app, &headers, body, now, &mut fields).await;
    match result {
        Ok(response) => {
            fields.insert("outcome".into(), Value::from("ok"));
            app.audit.record("revoke", now, fields);
            app.publish_now.notify_one();
            response
        }
        Err((status, code, message)) => {
            fields.insert("outcome".into(), Value::from(code));
            let dpop = fields.get("dpop").and_then(Value::as_bool);
            app.audit.record("revoke", now, fields);
            let mut response = plain_error(status, code, &message);
            if let Some(value) = revoke_challenge(dpop, status, code) {
                response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
            }
            response
        }
    }
}

/// The `WWW-Authenticate` challenge of a refused revocation (RFC 6750 §3, RFC 9449 §7.1),
/// for a 401 or 403 only. `dpop`: the scheme the caller's token came with, `None` when no
/// token could be read (then the challenge names both schemes and no error).
fn revoke_challenge(dpop: Option<bool>, status: StatusCode, code: &str) -> Option<HeaderValue> {
    const DPOP: &str = "DPoP algs=\"EdDSA ES256\"";
    let proof_error = matches!(code, "invalid_proof" | "proof_replayed");
    let Some(used_dpop) = dpop else {
        return (status == StatusCode::UNAUTHORIZED)
            .then(|| HeaderValue::from_static("Bearer, DPoP algs=\"EdDSA ES256\""));
    };
    // A bound token sent as Bearer is told which scheme it needs.
    let is_dpop =
        used_dpop || proof_error || matches!(code, "binding_required" | "binding_mismatch");
    let error = match status {
        StatusCode::UNAUTHORIZED if proof_error => "error=\"invalid_dpop_proof\"".to_owned(),
        StatusCode::UNAUTHORIZED => "error=\"invalid_token\"".to_owned(),
        StatusCode::FORBIDDEN => {
            format!("error=\"insufficient_scope\", scope=\"{REVOKE_ACTION}\"")
        }
        _ => return None,
    };
    let challenge = if is_dpop { format!("{DPOP}, {error}") } else { format!("Bearer {error}") };
    HeaderValue::from_str(&challenge).ok()
}

/// The proof replay store shared with `/token`, locked only to record a proof (after it
/// verified), not for the whole verification.
/// Records a verified `/token` proof's `jti` in the service's replay cache: `invalid_dpop_proof`
/// if it was used before (or the cache is poisoned: fail closed).
fn record_proof(app: &App, proof: &VerifiedProof, now: i64) -> Result<(), OAuthError> {
    let until = proof.iat + i64::from(DEFAULT_PROOF_MAX_AGE) + i64::from(app.skew);
    if LockedProofs(&app.proofs).record(&proof.jti, until, now) {
        Ok(())
    } else {
        Err(OAuthError::new("invalid_dpop_proof", "the proof has been used before"))
    }
}

struct LockedProofs<'a>(&'a Mutex<ProofReplayCache>);

impl tasktoken::ProofReplayStore for LockedProofs<'_> {
    fn record(&self, jti: &str, expires: i64, now: i64) -> bool {
        // A poisoned lock records nothing: the proof is refused (fail closed).
        self.0.lock().map(|cache| cache.record(jti, expires, now)).unwrap_or(false)
    }
}

type Failure = (StatusCode, &'static str, String);

async fn revoke_inner(
    app: &App,
    headers: &HeaderMap,
    body: Body,
    now: i64,
    fields: &mut Map<String, Value>,
) -> Result<Response, Failure> {
    let required = "one `Authorization: Bearer <token>` (or `DPoP <token>`) header is required";
    let unauthorized = |m: &str| (StatusCode::UNAUTHORIZED, "malformed", m.to_owned());
    let authorization = headers.get_all(header::AUTHORIZATION).iter().collect::<Vec<_>>();
    let [authorization] = authorization.as_slice() else {
        return Err(unauthorized(required));
    };
    let authorization = authorization.to_str().unwrap_or("");
    let (dpop, bearer) = match authorization.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => (false, token.trim()),
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("dpop") => (true, token.trim()),
        _ => return Err(unauthorized(required)),
    };
    fields.insert("dpop".into(), Value::from(dpop));
    // RFC 9449 §7.1: the DPoP scheme with exactly one proof; a proof only with that scheme.
    let invalid_proof = |m: &str| (StatusCode::UNAUTHORIZED, "invalid_proof", m.to_owned());
    let proofs = headers.get_all("dpop").iter().collect::<Vec<_>>();
    let proof = match (dpop, proofs.as_slice()) {
        (true, [proof]) => Some(proof.to_str().unwrap_or("")),
        (true, _) => return Err(invalid_proof("a DPoP token needs one `DPoP` proof header")),
        (false, []) => None,
        (false, _) => return Err(invalid_proof("a `DPoP` proof goes with `Authorization: DPoP`")),
    };
    let bytes = read_body(body, MAX_REVOKE_BODY)
        .await
        .map_err(|m| (StatusCode::BAD_REQUEST, "malformed", m))?;
    let target = if bytes.is_empty() {
        None
    } else {
        let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
        if !content_type.is_some_and(|t| t.starts_with("application/x-www-form-urlencoded")) {
            return Err((StatusCode::BAD_REQUEST, "malformed", "the body must be a form".into()));
        }
        let mut target = None;
        for (name, value) in form_urlencoded::parse(&bytes) {
            if name != "token" || target.is_some() {
                return Err((
                    StatusCode::BAD_REQUEST,
                    "malformed",
                    "the body is one `token` field".into(),
                ));
            }
            target = Some(value.into_owned());
        }
        target
    };
    // The proof names this endpoint as clients address it (the `url` config, as `/token`).
    let url = format!("{}/revocation/revoke", app.url);
    let dpop = proof.map(|proof| ProofRequest::new(proof, "POST", &url));
    let replay = LockedProofs(&app.proofs);
    let context = VerifyContext::new().with_proof_replay(&replay);
    let claims = app
        .revoker
        .authorize_revocation_at(bearer, target.as_deref(), dpop, now, context)
        .map_err(|e| {
            let status = match e.code() {
                "action_denied" | "resource_denied" => StatusCode::FORBIDDEN,
                _ => StatusCode::UNAUTHORIZED,
            };
            (status, e.code(), e.message().to_owned())
        })?;
    // A caller whose own token was revoked revokes nothing else: checked against the store,
    // once the caller is authorized (so nobody learns whether some `jti` is revoked).
    if target.is_some() {
        let jti = UnverifiedToken::parse(bearer)
            .ok()
            .and_then(|t| t.claims().get("jti").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_default();
        let store = Arc::clone(&app.store);
        let revoked = tokio::task::spawn_blocking(move || store.lock().ok()?.revoked(&jti).ok())
            .await
            .ok()
            .flatten();
        match revoked {
            Some(None) => {}
            Some(Some(_)) => {
                let message = "the caller's token has been revoked";
                return Err((StatusCode::UNAUTHORIZED, "revoked", message.into()));
            }
            None => {
                let message = "the store is unavailable";
                return Err((StatusCode::SERVICE_UNAVAILABLE, "stale_revocation", message.into()));
            }
        }
    }
    let jti = claims.jti().to_owned();
    let exp = claims.exp();
    fields.insert("jti".into(), Value::from(jti.clone()));
    fields.insert("sub".into(), Value::from(claims.sub().to_owned()));
    fields.insert("task".into(), Value::from(claims.task().to_owned()));
    fields.insert("by".into(), Value::from(if target.is_some() { "caller" } else { "self" }));
    let store = Arc::clone(&app.store);
    let stored = tokio::task::spawn_blocking(move || {
        let mut store = store.lock().map_err(|_| "the store lock failed".to_owned())?;
        store.revoke(&jti, exp, now).map_err(|e| e.0).map(|r| (jti, r))
    })
    .await;
    match stored {
        Ok(Ok((jti, revoked))) => {
            fields.insert("new".into(), Value::from(revoked.new));
            Ok(json_response(
                StatusCode::OK,
                &json!({ "revoked": jti, "exp": revoked.exp, "new": revoked.new }),
            ))
        }
        _ => Err((
            StatusCode::SERVICE_UNAVAILABLE,
            "stale_revocation",
            "the store is unavailable".into(),
        )),
    }
}

/// `GET /healthz`: 200 while the store answers, with the served serial.
async fn healthz(State(app): State<Arc<App>>) -> Response {
    // The publisher's last run, not a query: a flood of health checks never queues on the
    // store's lock.
    let ok = app.healthy.load(std::sync::atomic::Ordering::Relaxed);
    let serial = app.served.read().map(|s| s.latest).unwrap_or(0);
    if ok {
        json_response(StatusCode::OK, &json!({ "status": "ok", "serial": serial }))
    } else {
        json_response(StatusCode::SERVICE_UNAVAILABLE, &json!({ "status": "unavailable" }))
    }
}

fn plain_error(status: StatusCode, code: &str, message: &str) -> Response {
    json_response(status, &json!({ "error": code, "message": message }))
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
