//! `tasktoken filter`: publishing the revocation store as signed Bloom filter files
//! (snapshots and deltas), and reading such files.

mod build;
mod check;
mod delta;
mod inspect;

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::Value;
use tasktoken::{
    Error, ErrorKind, KeySet, PublicationPlanner, SigningKey, DEFAULT_CLOCK_SKEW, DEFAULT_FPR,
    DEFAULT_MIN_CAPACITY, DEFAULT_VALID_FOR, MAX_CLOCK_SKEW,
};
use tasktoken_service::publish::Want;

use crate::clock::unix_now;
use crate::duration::parse_duration;
use crate::failure::{stderr_line, Failure};
use crate::files::{read_secret, read_text, stage, MAX_JWKS_FILE};
use crate::output::{pretty_object, stdout_line};
use crate::store::Store;
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

/// The options `build` and `delta` share: how to sign and how to plan.
#[derive(Debug, Args)]
struct PlanArgs {
    /// Private JWK file to sign with; verifiers need its public key in the --jwks of --iss,
    /// or in their --revocation-jwks.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,

    /// The issuer whose tokens the store's revocations are (`iss`): the data names it, and
    /// verifiers apply it to that issuer's tokens only.
    #[arg(long, value_name = "ISSUER")]
    iss: String,

    /// The least number of revocations a new filter is sized for [default: 1000]; it is
    /// sized for twice the live count when that is larger, so that deltas have room.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    capacity: Option<u64>,

    /// Target false-positive rate, in (0, 1) [default: 1e-6]. A false positive rejects a
    /// good token as `revoked`; a filter that would pass it is replaced by a new one.
    #[arg(long, value_name = "P")]
    fpr: Option<f64>,

    /// How long the publication is current (`next_update` = now + this), at most 1 day;
    /// publish again before it runs out, or verifiers fail with `stale_revocation`
    /// [default: 5m].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, allow_hyphen_values = true)]
    valid_for: Option<u32>,

    /// Keep a revocation in the filter this long after its token's `exp`, at most 5m:
    /// verifiers accept a token until `exp` plus their clock skew [default: 30s, verify's
    /// default].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, allow_hyphen_values = true)]
    clock_skew: Option<u32>,
}

/// A signer and the core's planner, set up from [`PlanArgs`].
struct Publisher {
    inner: tasktoken_service::publish::Publisher,
    /// The file permission warning, printed once the command has succeeded.
    warning: Option<String>,
}

impl Publisher {
    fn new(args: &PlanArgs) -> Result<Publisher, Failure> {
        let jwk = read_secret(&args.key, "--key")?;
        let context = format!("--key '{}'", args.key.display());
        let key = SigningKey::from_jwk(&jwk.text).map_err(Failure::core_in(context))?;
        let planner = PublicationPlanner::new(
            args.fpr.unwrap_or(DEFAULT_FPR),
            args.capacity.unwrap_or(DEFAULT_MIN_CAPACITY),
            args.valid_for.unwrap_or(DEFAULT_VALID_FOR),
        )?;
        let skew = args.clock_skew.unwrap_or(DEFAULT_CLOCK_SKEW);
        if skew > MAX_CLOCK_SKEW {
            return Err(Error::new(ErrorKind::Malformed, "--clock-skew is over 300 s").into());
        }
        let inner = tasktoken_service::publish::Publisher::new(key, &args.iss, planner, skew)?;
        Ok(Publisher { inner, warning: jwk.warning })
    }

    /// Signs and records what `want` asks for, then writes the file and prints the summary.
    /// The file is written first and put in place last: if the record cannot be committed,
    /// nothing was published, and a serial is never published twice with different data.
    fn publish(self, store: &mut Store, want: Want, out: &Path) -> Result<(), Failure> {
        let now = unix_now();
        // The store records the bytes too (the token service serves them from there).
        let published = self
            .inner
            .publish(store, want, now)?
            .ok_or_else(|| Failure::Io("nothing was published".into()))?;
        let staged = stage(out, &published.bytes)?;
        staged.publish()?;
        let record = &published.record;
        let kind = if record.base_serial.is_some() { "delta" } else { "snapshot" };
        let mut members = vec![
            ("kind", Value::from(kind)),
            ("kid", Value::from(self.inner.key().kid())),
            ("iss", Value::from(self.inner.iss())),
            ("serial", Value::from(record.serial)),
            ("generation", Value::from(record.generation)),
            ("entries", Value::from(record.entries)),
            ("bytes", Value::from(published.bytes.len())),
            ("issued_at", Value::from(record.issued_at)),
            ("next_update", Value::from(record.next_update)),
        ];
        match record.base_serial {
            Some(base) => {
                members.push(("base_serial", Value::from(base)));
                members.push(("filter_entries", Value::from(published.filter_entries)));
            }
            None => {
                members.push(("bits", Value::from(record.geometry.bits())));
                members.push(("hashes", Value::from(record.geometry.hashes())));
                members.push(("salt", Value::from(hex(&record.salt))));
            }
        }
        members.push(("expected_fpr", Value::from(published.expected_fpr)));
        let refs: Vec<(&str, &Value)> = members.iter().map(|(k, v)| (*k, v)).collect();
        stdout_line(&pretty_object(&refs))?;
        if let Some(warning) = self.warning {
            stderr_line(&warning);
        }
        Ok(())
    }
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
}
