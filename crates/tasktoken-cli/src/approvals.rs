//! `tasktoken approvals list|approve|deny`: a person decides the requests that wait for
//! approval, at the service (`--url`, with an approver token) or in the authority's store
//! (`--config`, on the authority's machine, as a named approver). The rules are the core's
//! and the service crate's (`tasktoken_service::approvals`); this module maps arguments.

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgGroup, Args, Subcommand};
use serde_json::{json, Map, Value};
use tasktoken::{Approval, ApprovalRefusal, Decision};
use tasktoken_service::approvals::{self, DecideError};
use tasktoken_service::store;
use zeroize::Zeroizing;

use crate::clock::unix_now;
use crate::failure::Failure;
use crate::files::read_text;
use crate::output::stdout_line;
use crate::token_arg::read_token;

/// Most bytes read from a token file or stdin; a token is at most 8 KiB.
const MAX_TOKEN_FILE: usize = 64 * 1024;
/// Most bytes read from the service's answer.
const MAX_ANSWER: u64 = 4 << 20;

/// List, approve or deny requests that wait for a person's approval.
///
/// A policy with `approval = { approvers = [...] }` answers a token request with
/// `authorization_pending`; an approver decides here, and the client then collects its
/// token once.
///
/// With --url URL --token-file FILE: at the token service, with an approver token (a task
/// token of the service granting `approvals:decide` on `approvals/<policy>`, with the
/// service's `issuer` in `aud`, whose `sub` the policy lists). FILE `-` is stdin; the token
/// is never an argument (shell history, `ps`).
///
/// With --config FILE --as SUB: in the authority's store, on its machine. The service's
/// configuration names the approvers and the store (--db overrides the store); SUB must be a
/// listed approver, and is recorded in the audit line as the one who decided.
///
/// Output is JSON on stdout. A refusal prints {"error":"<code>","message":"..."} on stderr
/// and exits 1: insufficient_scope (not an approver, or the requester themselves),
/// invalid_token, not_found, already_decided, expired_token.
#[derive(Debug, Args)]
pub struct ApprovalsArgs {
    #[command(subcommand)]
    command: ApprovalsCommand,
}

#[derive(Debug, Subcommand)]
enum ApprovalsCommand {
    /// Print the pending requests you may decide, with what each would grant.
    List(Target),
    /// Approve request ID: its client may then collect the token, once.
    Approve(Decide),
    /// Deny request ID: its client gets `access_denied`.
    Deny(Decide),
}

/// Where the requests are, and who decides.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("where").required(true).args(["url", "config"])))]
struct Target {
    /// The token service's base URL (its `url`, e.g. https://auth.example).
    #[arg(long, value_name = "URL", requires = "token_file")]
    url: Option<String>,

    /// A file holding the approver token, or `-` for stdin (with --url).
    #[arg(long, value_name = "FILE", requires = "url")]
    token_file: Option<PathBuf>,

    /// The service's configuration (TOML): the approvers of each policy, and the store.
    #[arg(long, value_name = "FILE", requires = "as_approver")]
    config: Option<PathBuf>,

    /// The store, instead of the configuration's: `sqlite:PATH` (or a path) or
    /// `postgres://...` (with --config).
    #[arg(long, value_name = "STORE", requires = "config")]
    db: Option<String>,

    /// The approver you decide as: a `sub` the policy lists (with --config).
    #[arg(long = "as", id = "as_approver", value_name = "SUB", requires = "config")]
    as_approver: Option<String>,
}

#[derive(Debug, Args)]
struct Decide {
    /// The request's id, as listed (22 characters; base64url, so it may begin with `-`).
    #[arg(value_name = "ID", allow_hyphen_values = true)]
    id: String,

    #[command(flatten)]
    target: Target,
}

/// Runs `tasktoken approvals`.
pub fn run(args: &ApprovalsArgs) -> Result<(), Failure> {
    let (target, decision) = match &args.command {
        ApprovalsCommand::List(target) => (target, None),
        ApprovalsCommand::Approve(d) => (&d.target, Some((d.id.as_str(), Decision::Approve))),
        ApprovalsCommand::Deny(d) => (&d.target, Some((d.id.as_str(), Decision::Deny))),
    };
    match (&target.url, &target.token_file) {
        (Some(url), Some(file)) => remote(url, file, decision),
        _ => local(target, decision),
    }
}

/// At the service: `GET /approvals` or `POST /approvals/<id>/approve|deny`.
fn remote(
    url: &str,
    file: &std::path::Path,
    decision: Option<(&str, Decision)>,
) -> Result<(), Failure> {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(Failure::Usage {
            command: "approvals",
            message: "--url must be an http(s) URL".into(),
        });
    }
    let token = read_token_file(file)?;
    let base = url.trim_end_matches('/');
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| Failure::Io(format!("cannot start the HTTP client: {e}")))?;
    let request = match decision {
        None => client.get(format!("{base}/approvals")),
        Some((id, decision)) => {
            if !tasktoken::is_approval_id(id) {
                return Err(refused("not_found", "an approval id is 22 base64url characters"));
            }
            client.post(format!("{base}/approvals/{id}/{}", verb(decision)))
        }
    };
    let response = request
        .bearer_auth(token.as_str())
        .send()
        .map_err(|e| Failure::Io(format!("cannot reach {base}: {}", e.without_url())))?;
    let status = response.status();
    let mut text = String::new();
    response
        .take(MAX_ANSWER)
        .read_to_string(&mut text)
        .map_err(|e| Failure::Io(format!("cannot read the answer of {base}: {e}")))?;
    let body: Value = serde_json::from_str(&text)
        .map_err(|_| Failure::Io(format!("{base} answered {status} without JSON")))?;
    if status.is_success() {
        return stdout_line(&format!("{body:#}"));
    }
    let error = body["error"].as_str().unwrap_or("server_error");
    let message = body["error_description"].as_str().unwrap_or("the service refused it");
    Err(refused(error, &format!("{} ({})", message, status.as_u16())))
}

/// In the store, as `--as`.
fn local(target: &Target, decision: Option<(&str, Decision)>) -> Result<(), Failure> {
    let (Some(path), Some(approver)) = (&target.config, &target.as_approver) else {
        return Err(Failure::Usage {
            command: "approvals",
            message: "give --url with --token-file, or --config with --as".into(),
        });
    };
    let config = tasktoken_service::Config::load(path)
        .map_err(|e| Failure::Io(format!("--config '{}': {e}", path.display())))?;
    let location = match &target.db {
        None => config.store.clone(),
        Some(db) if db.starts_with("sqlite:") || db.contains("://") => db.clone(),
        Some(path) => format!("sqlite:{path}"),
    };
    let mut store = store::open(&location)?;
    let now = unix_now();
    let policies = approvals::decidable_policies(&config.approvals, approver, None);
    let Some((id, decision)) = decision else {
        if policies.is_empty() {
            return Err(refused("insufficient_scope", ApprovalRefusal::NotApprover.description()));
        }
        let listed = approvals::list(store.as_mut(), &policies, now)?;
        let items: Vec<Value> = listed.iter().map(Approval::summary).collect();
        let body = json!({ "approver": approver, "policies": policies, "approvals": items });
        return stdout_line(&format!("{body:#}"));
    };
    let audit = Audit::open(&config.audit)?;
    let mut fields = Map::new();
    fields.insert("approver".into(), Value::from(approver.clone()));
    fields.insert("via".into(), Value::from("tasktoken approvals --config"));
    if !tasktoken::is_approval_id(id) {
        return Err(refused("not_found", "an approval id is 22 base64url characters"));
    }
    let decided = approvals::decide(
        store.as_mut(),
        &config.approvals,
        &|_| true,
        id,
        approver,
        decision,
        now,
    );
    match decided {
        Ok(approval) => {
            fields.extend(approvals::audit_fields(&approval));
            fields.insert("outcome".into(), Value::from(approval.state.name()));
            audit.record(now, fields);
            stdout_line(&format!("{:#}", json!({ "approval": approval.summary() })))
        }
        Err(e) => {
            let (error, message) = match e {
                DecideError::NotFound => ("not_found", "no such approval"),
                DecideError::Refused(r) => (r.error(), r.description()),
                DecideError::Store(e) => return Err(e.into()),
            };
            fields.insert("approval".into(), Value::from(id));
            fields.insert("outcome".into(), Value::from("refused"));
            fields.insert("error".into(), Value::from(error));
            audit.record(now, fields);
            Err(refused(error, message))
        }
    }
}

fn verb(decision: Decision) -> &'static str {
    match decision {
        Decision::Approve => "approve",
        Decision::Deny => "deny",
    }
}

fn refused(error: &str, message: &str) -> Failure {
    Failure::Refused { error: error.to_owned(), message: message.to_owned() }
}

/// The approver token from `file` (`-`: stdin, as any token argument), trimmed; at most
/// 64 KiB, one token with nothing else in it.
fn read_token_file(file: &std::path::Path) -> Result<Zeroizing<String>, Failure> {
    let text = if file.as_os_str() == "-" {
        read_token("-")?
    } else {
        read_text(file, "--token-file", MAX_TOKEN_FILE)?
    };
    let token = text.trim();
    if token.is_empty() || token.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control()) {
        let name = file.display();
        return Err(Failure::Io(format!("--token-file '{name}': not one token")));
    }
    Ok(Zeroizing::new(token.to_owned()))
}

/// Audit lines of decisions made here, where the service's configuration sends its own
/// (a file), or on stderr (stdout holds the answer).
struct Audit(Box<dyn std::io::Write>);

impl Audit {
    fn open(target: &tasktoken_service::AuditTarget) -> Result<Audit, Failure> {
        Ok(Audit(match target {
            tasktoken_service::AuditTarget::File(path) => {
                Box::new(std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(
                    |e| Failure::Io(format!("audit: cannot open '{}': {e}", path.display())),
                )?)
            }
            _ => Box::new(std::io::stderr()),
        }))
    }

    fn record(mut self, now: i64, fields: Map<String, Value>) {
        let mut line = Map::new();
        line.insert("time".into(), Value::from(now));
        line.insert("event".into(), Value::from("approval_decide"));
        line.extend(fields);
        // The decision is stored; a lost audit line is reported, not undone.
        if writeln!(self.0, "{}", Value::Object(line)).and_then(|()| self.0.flush()).is_err() {
            crate::failure::stderr_line("tasktoken: warning: the audit line could not be written");
        }
    }
}
