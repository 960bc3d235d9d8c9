//! `tasktoken filter build`: a signed snapshot of every unexpired revocation in the store.

use std::path::PathBuf;

use clap::Args;
use tasktoken_service::publish::Want;

use super::{PlanArgs, Publisher};
use crate::failure::Failure;
use crate::store::{Open, Store};

/// Write a signed snapshot of every unexpired revocation in the store.
///
/// The snapshot is a Bloom filter of every revoked `jti` whose token has not expired, for the
/// tokens of --iss, at the next serial; it is recorded in the store. Expired revocations are
/// left out (rotation), so the filter holds at most the revocations of one token lifetime.
/// The filter is sized for twice the current count (at least --capacity) at false-positive
/// rate --fpr, with a fresh random salt; deltas from `filter delta` reuse its geometry and
/// salt until it is full, and then `filter delta` writes a new snapshot instead.
///
/// --out is replaced atomically (a temporary file renamed over it), so a web server or sync
/// job serving it never sees a partial file. Prints a JSON summary: kind, kid, iss, serial,
/// generation, entries, bits, hashes, salt, bytes, issued_at, next_update and expected_fpr
/// (at this fill).
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The revocation store written by `tasktoken revoke`; it must exist unless --create.
    #[arg(long, value_name = "FILE")]
    db: PathBuf,

    /// Create --db if it does not exist, for a new authority's first (empty) snapshot.
    /// Without it a missing store is an error: a mistyped path must not publish an empty
    /// filter that drops every revocation.
    #[arg(long)]
    create: bool,

    #[command(flatten)]
    plan: PlanArgs,

    /// File to write the snapshot to (replaced atomically).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// Runs `tasktoken filter build`.
pub fn run(args: &BuildArgs) -> Result<(), Failure> {
    let publisher = Publisher::new(&args.plan)?;
    let open = if args.create { Open::CreateIfMissing } else { Open::Existing };
    let mut store = Store::open(&args.db, open)?;
    publisher.publish(&mut store, Want::Snapshot, &args.out)
}
