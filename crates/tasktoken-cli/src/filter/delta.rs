//! `tasktoken filter delta`: a signed delta of the revocations made since a publication.

use std::path::PathBuf;

use clap::Args;
use tasktoken::{Error, Generation};

use super::{Contents, PlanArgs, Publisher};
use crate::clock::unix_now;
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
    let name = store.name().to_owned();
    let publishing = store.publish()?;
    let unknown = |what: String| {
        Failure::from(Error::StaleRevocation(
            format!("{name}: {what}; build a snapshot with `tasktoken filter build`").into(),
        ))
    };
    let base = publishing
        .record(args.since)?
        .ok_or_else(|| unknown(format!("no publication has serial {}", args.since)))?;
    let snapshot = publishing
        .record(base.generation)?
        .filter(|s| s.base_serial.is_none())
        .ok_or_else(|| unknown(format!("the snapshot of serial {} is missing", args.since)))?;
    let now = unix_now();
    let count = |v: &[String]| u64::try_from(v.len()).unwrap_or(u64::MAX);
    let added = publisher.live(&publishing, base.upto_seq, now)?;
    // Entries in the generation once the delta is applied: its snapshot's, and every
    // revocation since it, expired or not (an entry stays in the bits until the next one).
    let upto = publishing.max_seq()?;
    let since_snapshot = count(&publishing.live(snapshot.upto_seq, upto, i64::MIN)?);
    let in_filter = snapshot.entries.saturating_add(since_snapshot);
    let live = publisher.live(&publishing, 0, now)?;
    let entries = in_filter.saturating_sub(count(&added));
    let generation = Generation { geometry: snapshot.geometry, entries };
    let step = publisher.planner.plan(Some(generation), count(&added), count(&live))?;
    let contents = Contents { live, base: Some((&base, &snapshot)), added, in_filter };
    publisher.publish(publishing, step, contents, now, &args.out)
}
