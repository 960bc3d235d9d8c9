//! The `tasktoken` command line: generate keys, mint, verify and inspect task-scoped tokens,
//! run a revocation authority (a SQLite store, signed filter snapshots and deltas), and
//! run the token service (`serve`).
//!
//! All token and filter logic lives in the core crate; this binary parses arguments, reads
//! and writes files (the revocation store among them), and prints. Exit status: 0 success,
//! 1 a core error (one JSON line on stderr with a stable code), 2 a usage or file error (a
//! plain line on stderr).

mod approvals;
mod audit_log;
mod clock;
mod delegate;
mod duration;
mod failure;
mod files;
mod filter;
mod grant_args;
mod inspect;
mod keygen;
mod mint;
mod output;
mod proof;
mod revocation_arg;
mod revoke;
mod scan;
mod serve;
mod store;
mod token_arg;
mod verify;

use std::process::ExitCode;

/// mimalloc for the whole process: the token service's per-request allocations from several
/// threads cost about a tenth of an exchange under glibc malloc (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};

/// What `--help` says about exit status and error output, on every level.
const EXIT_STATUS_HELP: &str = "\
Exit status:
  0  success
  1  rejected: a token, key, request or revocation file failed a check (`filter check`:
     the jti is revoked). stderr holds one JSON line,
     {\"error\":\"<code>\",\"message\":\"...\"}, where <code> is a stable string: malformed,
     unsupported_alg, wrong_type, unknown_key, bad_signature, missing_claim, invalid_claim,
     untrusted_issuer, wrong_audience, not_yet_valid, expired, lifetime_too_long, revoked,
     stale_revocation, action_denied, resource_denied, binding_required, binding_mismatch,
     invalid_proof, proof_replayed, delegation_denied
  2  usage or file error: bad arguments, or a file that cannot be read or written
     (the revocation store included). stderr holds a plain message

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

/// The subcommands. No doc comments on the variants: clap then takes the about line and the
/// long --help text from the doc comment of each arguments struct.
#[derive(Debug, Subcommand)]
enum Command {
    #[command(after_help = EXIT_STATUS_HELP)]
    Keygen(keygen::KeygenArgs),
    #[command(after_help = EXIT_STATUS_HELP)]
    Mint(mint::MintArgs),
    #[command(after_help = EXIT_STATUS_HELP)]
    Proof(proof::ProofArgs),
    #[command(after_help = EXIT_STATUS_HELP)]
    Delegate(delegate::DelegateArgs),
    #[command(after_help = EXIT_STATUS_HELP)]
    Verify(verify::VerifyArgs),
    #[command(after_help = EXIT_STATUS_HELP)]
    Inspect(inspect::InspectArgs),
    #[command(after_help = EXIT_STATUS_HELP)]
    Revoke(revoke::RevokeArgs),
    #[command(after_help = EXIT_STATUS_HELP, subcommand_required = true)]
    Filter(filter::FilterArgs),
    #[command(after_help = EXIT_STATUS_HELP)]
    Scan(scan::ScanArgs),
    #[command(after_help = EXIT_STATUS_HELP)]
    Serve(serve::ServeArgs),
    #[command(subcommand_required = true)]
    Approvals(approvals::ApprovalsArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Keygen(args) => keygen::run(args),
        Command::Mint(args) => mint::run(args),
        Command::Proof(args) => proof::run(args),
        Command::Delegate(args) => delegate::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Revoke(args) => revoke::run(args),
        Command::Filter(args) => filter::run(args),
        Command::Scan(args) => scan::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Approvals(args) => approvals::run(args),
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
        assert_eq!(tasktoken::DEFAULT_MAX_DELEGATION, 1, "mint --max-dlg help");
        assert_eq!(tasktoken::MAX_DELEGATION_DEPTH, 4, "verify --max-delegation-depth help");
        assert_eq!(tasktoken::DEFAULT_MAX_LIFETIME, 15 * 60, "verify --max-lifetime help");
        assert_eq!(
            tasktoken::DEFAULT_CLOCK_SKEW,
            30,
            "verify --clock-skew, filter build/delta --clock-skew help"
        );
        assert_eq!(
            tasktoken::DEFAULT_REVOCATION_GRACE,
            60,
            "verify --revocation-grace, filter check --grace help"
        );
        assert_eq!(tasktoken::DEFAULT_FPR, 1e-6, "filter build --fpr help");
    }
}
