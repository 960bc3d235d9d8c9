//! The `tasktoken` command line: generate keys, mint, verify and inspect task-scoped tokens.
//!
//! All token logic lives in the core crate; this binary parses arguments, reads and writes
//! files, and prints. Exit status: 0 success, 1 a core error (one JSON line on stderr with a
//! stable code), 2 a usage or file error (a plain line on stderr).

mod duration;
mod failure;
mod files;
mod inspect;
mod keygen;
mod mint;
mod output;
mod token_arg;
mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// What `--help` says about exit status and error output, on every level.
const EXIT_STATUS_HELP: &str = "\
Exit status:
  0  success
  1  rejected: a token, key or request failed a check. stderr holds one JSON line,
     {\"error\":\"<code>\",\"message\":\"...\"}, where <code> is a stable string: malformed,
     unsupported_alg, wrong_type, unknown_key, bad_signature, missing_claim, invalid_claim,
     untrusted_issuer, wrong_audience, not_yet_valid, expired, lifetime_too_long, revoked,
     stale_revocation, action_denied, resource_denied, binding_required, binding_mismatch
  2  usage or file error: bad arguments, or a file that cannot be read or written.
     stderr holds a plain message

A TOKEN argument of `-` is read from stdin (so the token stays out of shell history).
Durations are seconds (90) or whole numbers with units s, m, h, d, largest first
(90s, 5m, 1h, 2d, 1h30m).";

/// Task-scoped tokens: short-lived, Ed25519-signed credentials for one task of an agent,
/// a CI job or an automation runner.
#[derive(Debug, Parser)]
#[command(name = "tasktoken", version, after_help = EXIT_STATUS_HELP)]
#[command(propagate_version = true, subcommand_required = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate an Ed25519 signing key: private JWK to a file, public JWKS to stdout.
    #[command(after_help = EXIT_STATUS_HELP)]
    Keygen(keygen::KeygenArgs),
    /// Mint a token for one task and print it.
    #[command(after_help = EXIT_STATUS_HELP)]
    Mint(mint::MintArgs),
    /// Verify a token for one action on one resource and print its claims.
    #[command(after_help = EXIT_STATUS_HELP)]
    Verify(verify::VerifyArgs),
    /// Decode a token WITHOUT verifying it, to look at its header and claims.
    #[command(after_help = EXIT_STATUS_HELP)]
    Inspect(inspect::InspectArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Keygen(args) => keygen::run(args),
        Command::Mint(args) => mint::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Inspect(args) => inspect::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// The help texts state the core's defaults in words; this keeps them in step.
    #[test]
    fn help_defaults_match_the_core() {
        assert_eq!(tasktoken::DEFAULT_MAX_TTL, 15 * 60, "mint --max-ttl help");
        assert_eq!(tasktoken::DEFAULT_MAX_ACTIONS, 4, "mint --max-actions help");
        assert_eq!(
            tasktoken::DEFAULT_MAX_LIFETIME,
            15 * 60,
            "verify --max-lifetime help"
        );
        assert_eq!(
            tasktoken::DEFAULT_CLOCK_SKEW,
            30,
            "verify --clock-skew help"
        );
    }
}
