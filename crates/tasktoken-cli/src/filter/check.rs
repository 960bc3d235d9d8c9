//! `tasktoken filter check`: is one `jti` in a verified revocation filter?

use std::path::PathBuf;

use clap::Args;
use serde_json::Value;
use tasktoken::{Error, ErrorKind, DEFAULT_REVOCATION_GRACE};

use super::read_jwks;
use crate::clock::unix_now;
use crate::duration::parse_duration;
use crate::failure::{stderr_line, Failure};
use crate::output::{compact_object, stdout_line};
use crate::revocation_arg::load_filter;

/// Check one `jti` against a verified snapshot (exit 1, `revoked`, if it is in it).
///
/// Every file is verified against --jwks first; --delta files are applied in order. Prints
/// `{"jti":"...","iss":"...","revoked":true|false,"serial":N,"stale":true|false}` on stdout and exits 0 when
/// the `jti` is not in the filter, or 1 with the error JSON `revoked` on stderr when it is (a Bloom
/// filter hit: revoked, or a false positive at the filter's rate). `stale` is true once
/// `next_update` plus --grace has passed; it does not change the exit status (a `jti` not found in
/// stale data gets a warning on stderr).
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The snapshot file (from `tasktoken filter build`).
    #[arg(value_name = "SNAPSHOT")]
    file: PathBuf,

    /// The `jti` to look up.
    #[arg(value_name = "JTI", allow_hyphen_values = true)]
    jti: String,

    /// JWKS file with the key that signed the snapshot and deltas.
    #[arg(long, value_name = "FILE")]
    jwks: PathBuf,

    /// Delta file to apply on the snapshot; repeat to apply several, in serial order.
    #[arg(long, value_name = "FILE")]
    delta: Vec<PathBuf>,

    /// Judge staleness as of this time, in seconds since the Unix epoch [default: the system
    /// clock].
    #[arg(long, value_name = "UNIX")]
    now: Option<i64>,

    /// How long after `next_update` the data still counts as current [default: 60s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, allow_hyphen_values = true)]
    grace: Option<u32>,
}

/// Runs `tasktoken filter check`.
pub fn run(args: &CheckArgs) -> Result<(), Failure> {
    let now = args.now.unwrap_or_else(unix_now);
    // The keys given are trusted for whichever issuer the data names; it is printed.
    let keys_for = |_: &str| read_jwks(&args.jwks);
    let filter = load_filter(&args.file, "snapshot", &args.delta, keys_for, now)?;
    let stale = filter.is_stale(now, args.grace.unwrap_or(DEFAULT_REVOCATION_GRACE));
    let revoked = filter.contains(&args.jti);
    let serial = filter.freshness().serial;
    stdout_line(&compact_object(&[
        ("jti", &Value::from(args.jti.as_str())),
        ("iss", &Value::from(filter.issuer())),
        ("revoked", &Value::from(revoked)),
        ("serial", &Value::from(serial)),
        ("stale", &Value::from(stale)),
    ]))?;
    if revoked {
        return Err(Error::new(ErrorKind::Revoked, "the `jti` is in the revocation filter").into());
    }
    // Only on success: on failure stderr holds nothing but the error JSON.
    if stale {
        stderr_line(&format!(
            "tasktoken: warning: the revocation data (serial {serial}) is stale: it was due \
             for update at {}",
            filter.freshness().next_update
        ));
    }
    Ok(())
}
