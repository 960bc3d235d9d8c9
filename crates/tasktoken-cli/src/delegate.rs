//! `tasktoken delegate`: hand a narrower task to a sub-agent, offline (DESIGN.md,
//! "Delegation").

use std::path::PathBuf;

use clap::Args;
use serde_json::{Map, Value};
use tasktoken::{LinkRequest, ProofSigningKey};

use crate::clock::unix_now;
use crate::duration::parse_duration;
use crate::failure::{stderr_line, Failure};
use crate::files::read_secret;
use crate::output::stdout_line;
use crate::token_arg::read_token;

/// Appends a delegation link to a task token or chain and prints the longer chain.
///
/// The link is signed by --key, the proof key (`tasktoken proof --generate`) the last
/// element is bound to (`cnf.jkt`), and may only narrow: each --aud, action of --scope and
/// --res within the previous element's, --task equal or a sub-task (`task/...`), `exp` the
/// earlier of now + --ttl and the previous `exp`, --dlg lower than the previous `dlg`.
/// Anything wider is refused (`delegation_denied`, the message names the rule). The chain
/// (`ROOT~LINK...`) is verified wherever a token is (`tasktoken verify`), with the last
/// link's claims, the root's `iss` and an `act` claim naming the delegators.
#[derive(Debug, Args)]
pub struct DelegateArgs {
    /// The private Ed25519 proof key the chain's last element is bound to.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,

    /// The sub-agent (`sub`), e.g. agent:sub-4821.
    #[arg(long, value_name = "SUBJECT")]
    sub: String,

    /// Service that may accept the link (`aud`), one of the previous element's; repeat for
    /// several.
    #[arg(long, value_name = "SERVICE", required = true)]
    aud: Vec<String>,

    /// The previous element's task, or a sub-task of it (`task/...`).
    #[arg(long, value_name = "TASK")]
    task: String,

    /// Actions, separated by single spaces, each one of the previous element's.
    #[arg(long, value_name = "ACTIONS")]
    scope: String,

    /// Resource pattern, inside one of the previous element's; repeat for several.
    #[arg(long, value_name = "PATTERN", required = true)]
    res: Vec<String>,

    /// Lifetime of the link, e.g. 60s, 5m (never past the previous element's `exp`).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, allow_hyphen_values = true)]
    ttl: u32,

    /// Bind the link to the sub-agent's key: its RFC 7638 thumbprint (`jkt` from
    /// `tasktoken proof --generate`).
    #[arg(long, value_name = "THUMBPRINT")]
    cnf_jkt: Option<String>,

    /// How many more links the sub-agent may add, lower than the previous `dlg`; needs
    /// --cnf-jkt [default: 0].
    #[arg(long, value_name = "N", default_value_t = 0)]
    dlg: u32,

    /// The task token or chain to extend, or `-` to read it from stdin.
    #[arg(value_name = "CHAIN")]
    chain: String,
}

/// Runs `tasktoken delegate`.
pub fn run(args: &DelegateArgs) -> Result<(), Failure> {
    let secret = read_secret(&args.key, "--key")?;
    let context = format!("--key '{}'", args.key.display());
    let jwk: Map<String, Value> = serde_json::from_str(&secret.text).map_err(|_| {
        Failure::core_in(context.clone())(tasktoken::Error::new(
            tasktoken::ErrorKind::Malformed,
            "the key file is not a JSON object",
        ))
    })?;
    let key = ProofSigningKey::from_jwk_object(&jwk).map_err(Failure::core_in(context))?;
    let chain = read_token(&args.chain)?;
    let mut link = LinkRequest::new(args.sub.clone(), args.task.clone())
        .with_aud(args.aud.clone())
        .with_scope(args.scope.clone())
        .with_res(args.res.clone())
        .with_ttl(args.ttl)
        .with_dlg(args.dlg);
    link.cnf_jkt = args.cnf_jkt.clone();
    let longer = tasktoken::delegate(&chain, &key, &link, unix_now())?;
    stdout_line(&longer)?;
    if let Some(warning) = secret.warning {
        stderr_line(&warning);
    }
    Ok(())
}
