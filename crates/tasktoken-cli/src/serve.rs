//! `tasktoken serve`: the token service (the service crate does the work).

use std::path::PathBuf;

use clap::Args;

use crate::failure::Failure;

/// Run the token service: workloads exchange their platform identity token for a task token.
///
/// Reads the TOML configuration (docs/token-service.md): the issuer and its keys, the store
/// (`sqlite:PATH` or `postgres://...`), the identity providers and the policies. A bad
/// configuration is refused before anything listens, naming the key and the reason (exit 2).
///
/// Endpoints: `POST /token` (RFC 8693 token exchange), `GET /.well-known/jwks.json`,
/// `GET /revocation/snapshot`, `GET /revocation/delta/{serial}`, `POST /revocation/revoke`,
/// `GET /approvals`, `POST /approvals/<id>/approve|deny`, `GET /approvals/ui` (policies with
/// `approval`: see `tasktoken approvals --help`), `GET /healthz`. The first line on stdout is `{"listening":"http://HOST:PORT"}` once it
/// accepts connections; audit lines (JSON, never token text) follow unless the configuration
/// sends them elsewhere. SIGTERM: stop accepting, finish in-flight requests, exit 0.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The configuration file (TOML); relative paths in it are relative to its directory.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,

    /// Address to listen on, instead of the configuration's `listen` (default
    /// 127.0.0.1:8787); port 0 picks a free port.
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
}

/// Runs `tasktoken serve`.
pub fn run(args: &ServeArgs) -> Result<(), Failure> {
    let config = tasktoken_service::Config::load(&args.config)
        .map_err(|e| Failure::Io(format!("--config '{}': {e}", args.config.display())))?;
    tasktoken_service::run(config, args.listen.as_deref()).map_err(Failure::Io)
}
