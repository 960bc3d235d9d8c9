//! `tasktoken filter delta`: a signed delta of the revocations made since a publication.

use std::path::PathBuf;

use clap::Args;
use tasktoken_service::publish::Want;

use super::{PlanArgs, Publisher};
use crate::failure::Failure;
use crate::store::{Open, Store};

/// Write a signed delta: the revocations made since an earlier publication.
///
/// The delta leads from publication --since to the next serial. It holds the entries of every
/// unexpired revocation made after --since, for the filter of --since's snapshot (same
/// geometry and salt). A verifier holding --since applies it and is then current; one
/// holding anything else must fetch a snapshot.
///
/// When the snapshot's filter cannot take the new entries at the target rate (--fpr), this
/// writes a new snapshot (a new generation, sized for the live revocations) to --out instead:
/// verifiers take either, and the summary's `kind` says which. An empty delta is fine: it moves
/// `next_update` on, keeping verifiers from going stale. Prints a JSON summary: kind, kid, iss,
/// serial, base_serial (delta), generation (the snapshot's serial), entries, bytes, issued_at,
/// next_update, filter_entries (entries in the filter once applied) and expected_fpr (at that
/// fill).
#[derive(Debug, Args)]
pub struct DeltaArgs {
    /// The revocation store written by `tasktoken revoke`; it must exist.
    #[arg(long, value_name = "FILE")]
    db: PathBuf,

    /// Serial of the snapshot or delta this delta applies to (see `filter inspect`).
    #[arg(long, value_name = "SERIAL")]
    since: u64,

    #[command(flatten)]
    plan: PlanArgs,

    /// File to write the delta (or new snapshot) to (replaced atomically).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// Runs `tasktoken filter delta`.
pub fn run(args: &DeltaArgs) -> Result<(), Failure> {
    let publisher = Publisher::new(&args.plan)?;
    let mut store = Store::open(&args.db, Open::Existing)?;
    publisher.publish(&mut store, Want::DeltaSince(args.since), &args.out)
}
