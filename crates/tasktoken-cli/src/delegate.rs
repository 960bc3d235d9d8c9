//! `tasktoken delegate`: hand a narrower task to a sub-agent, offline (DESIGN.md,
//! "Delegation").

use std::path::PathBuf;

use clap::Args;
use serde_json::{Map, Value};
use tasktoken::ProofSigningKey;

use crate::clock::unix_now;
use crate::failure::{stderr_line, Failure};
use crate::files::read_secret;
use crate::grant_args::GrantArgs;
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

    #[command(flatten)]
    grant: GrantArgs,

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
    let longer = tasktoken::delegate(&chain, &key, &args.grant.link_request(), unix_now())?;
    stdout_line(&longer)?;
    if let Some(warning) = secret.warning {
        stderr_line(&warning);
    }
    Ok(())
}
