//! `tasktoken filter delta`: a signed delta of the revocations made since a publication.

use std::path::PathBuf;

use clap::Args;
use serde_json::Value;
use tasktoken::{BloomFilter, Error, Publication};

use super::build::DEFAULT_VALID_FOR;
use super::{freshness, Signer};
use crate::clock::unix_now;
use crate::duration::parse_duration;
use crate::failure::Failure;
use crate::files::stage;
use crate::output::{pretty_object, stdout_line};
use crate::store::{Open, Record, Store};

/// Write a signed delta: the revocations made since an earlier publication.
///
/// The delta leads from publication --since to the next serial. It holds the entries of every
/// unexpired revocation made after --since, for the filter of --since's snapshot (same
/// geometry and salt). A verifier holding --since applies it and is then current; one
/// holding anything else must fetch a snapshot.
///
/// An empty delta is fine: it moves `next_update` on, keeping verifiers from going stale.
/// Prints a JSON summary: kind, kid, serial, base_serial, generation (the snapshot's serial),
/// entries, bytes, issued_at, next_update, filter_entries (estimated entries in the filter
/// once applied) and expected_fpr (at that fill; build a snapshot when it grows too high).
#[derive(Debug, Args)]
pub struct DeltaArgs {
    /// The revocation store written by `tasktoken revoke`; it must exist.
    #[arg(long, value_name = "FILE")]
    db: PathBuf,

    /// Private JWK file to sign with; verifiers need its public key in their --jwks.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,

    /// Serial of the snapshot or delta this delta applies to (see `filter inspect`).
    #[arg(long, value_name = "SERIAL")]
    since: u64,

    /// How long the delta keeps verifiers current (`next_update` = now + this) [default: 5m].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, allow_hyphen_values = true)]
    valid_for: Option<u32>,

    /// Leave out revocations whose token expired more than this long ago [default: 30s,
    /// verify's default clock skew].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, allow_hyphen_values = true)]
    clock_skew: Option<u32>,

    /// File to write the delta to (replaced atomically).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// Runs `tasktoken filter delta`.
pub fn run(args: &DeltaArgs) -> Result<(), Failure> {
    let signer = Signer::read(&args.key)?;
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
    let serial = publishing.next_serial()?;
    let upto_seq = publishing.max_seq()?;
    let skew = args.clock_skew.unwrap_or(tasktoken::DEFAULT_CLOCK_SKEW);
    let live_after = now.saturating_sub(i64::from(skew));
    let added = publishing.live(base.upto_seq, upto_seq, live_after)?;
    // An empty filter of the snapshot's geometry and salt: it computes the entries.
    let filter = BloomFilter::new(snapshot.geometry, snapshot.salt);
    let entries: Vec<_> = added.iter().map(|jti| filter.entry(jti)).collect();
    let freshness = freshness(serial, now, args.valid_for.unwrap_or(DEFAULT_VALID_FOR));
    let bytes = Publication::sign_delta(&filter, args.since, &entries, freshness, &signer.key)?;
    let since_snapshot = publishing.live(snapshot.upto_seq, upto_seq, live_after)?;
    let filter_entries =
        snapshot.entries.saturating_add(u64::try_from(since_snapshot.len()).unwrap_or(u64::MAX));
    let count = u64::try_from(entries.len()).unwrap_or(u64::MAX);
    // As for a snapshot: in place only once recorded (see `filter build`).
    let staged = stage(&args.out, &bytes)?;
    publishing.insert(&Record {
        serial,
        base_serial: Some(args.since),
        kid: signer.key.kid().to_owned(),
        issued_at: freshness.issued_at,
        next_update: freshness.next_update,
        upto_seq,
        generation: snapshot.serial,
        entries: count,
        geometry: snapshot.geometry,
        salt: snapshot.salt,
    })?;
    publishing.commit()?;
    staged.publish()?;
    let expected_fpr = snapshot.geometry.false_positive_rate(filter_entries);
    stdout_line(&pretty_object(&[
        ("kind", &Value::from("delta")),
        ("kid", &Value::from(signer.key.kid())),
        ("serial", &Value::from(serial)),
        ("base_serial", &Value::from(args.since)),
        ("generation", &Value::from(snapshot.serial)),
        ("entries", &Value::from(count)),
        ("bytes", &Value::from(bytes.len())),
        ("issued_at", &Value::from(freshness.issued_at)),
        ("next_update", &Value::from(freshness.next_update)),
        ("filter_entries", &Value::from(filter_entries)),
        ("expected_fpr", &Value::from(expected_fpr)),
    ]))?;
    signer.warn();
    Ok(())
}
