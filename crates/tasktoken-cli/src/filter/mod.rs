//! `tasktoken filter`: publishing the revocation store as signed Bloom filter files
//! (snapshots and deltas), and reading such files.

mod build;
mod check;
mod delta;
mod inspect;

use std::path::Path;

use clap::{Args, Subcommand};
use tasktoken::{Freshness, KeySet, SigningKey};

use crate::failure::{stderr_line, Failure};
use crate::files::{read_secret, read_text, MAX_JWKS_FILE};
use crate::EXIT_STATUS_HELP;

/// Publish the revocation store as signed filter files (build, delta), or read one (inspect,
/// check).
///
/// An authority runs `filter build` (a whole snapshot) and `filter delta` (what was revoked
/// since a publication) on a schedule shorter than --valid-for, and serves the files from
/// any static host: they are signed. Verifiers load a snapshot and the deltas since with
/// `tasktoken verify --filter SNAPSHOT --delta DELTA...`.
#[derive(Debug, Args)]
pub struct FilterArgs {
    #[command(subcommand)]
    command: FilterCommand,
}

/// The subcommands. They have no doc comments of their own: clap then takes the about line
/// and the long --help text from the doc comment of each arguments struct.
#[derive(Debug, Subcommand)]
enum FilterCommand {
    #[command(after_help = EXIT_STATUS_HELP)]
    Build(build::BuildArgs),
    #[command(after_help = EXIT_STATUS_HELP)]
    Delta(delta::DeltaArgs),
    #[command(after_help = EXIT_STATUS_HELP)]
    Inspect(inspect::InspectArgs),
    #[command(after_help = EXIT_STATUS_HELP)]
    Check(check::CheckArgs),
}

/// Runs `tasktoken filter ...`.
pub fn run(args: &FilterArgs) -> Result<(), Failure> {
    match &args.command {
        FilterCommand::Build(args) => build::run(args),
        FilterCommand::Delta(args) => delta::run(args),
        FilterCommand::Inspect(args) => inspect::run(args),
        FilterCommand::Check(args) => check::run(args),
    }
}

/// A signing key read from a private JWK file, and the warning to print once the command
/// has succeeded if the file is readable by others.
struct Signer {
    key: SigningKey,
    warning: Option<String>,
}

impl Signer {
    fn read(path: &Path) -> Result<Signer, Failure> {
        let jwk = read_secret(path, "--key")?;
        let context = format!("--key '{}'", path.display());
        let key = SigningKey::from_jwk(&jwk.text).map_err(Failure::core_in(context))?;
        Ok(Signer { key, warning: jwk.warning })
    }

    /// Prints the file permission warning, if any; call it last.
    fn warn(self) {
        if let Some(warning) = self.warning {
            stderr_line(&warning);
        }
    }
}

/// Serial `serial`, issued at `now`, due for replacement `valid_for` seconds later.
fn freshness(serial: u64, now: i64, valid_for: u32) -> Freshness {
    Freshness { serial, issued_at: now, next_update: now.saturating_add(i64::from(valid_for)) }
}

/// The keys of a JWKS file, the keys revocation files must be signed with.
fn read_jwks(path: &Path) -> Result<KeySet, Failure> {
    let text = read_text(path, "--jwks", MAX_JWKS_FILE)?;
    KeySet::from_jwks(&text).map_err(Failure::core_in(format!("--jwks '{}'", path.display())))
}

/// Lower-case hexadecimal, for salts.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_lower_case_two_digits_a_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa0, 0xff]), "000fa0ff");
        assert_eq!(hex(&[]), "");
    }

    #[test]
    fn freshness_saturates() {
        let f = freshness(3, i64::MAX - 1, 300);
        assert_eq!((f.serial, f.issued_at, f.next_update), (3, i64::MAX - 1, i64::MAX));
    }
}
