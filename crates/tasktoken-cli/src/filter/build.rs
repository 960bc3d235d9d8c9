//! `tasktoken filter build`: a signed snapshot of every unexpired revocation in the store.

use std::path::PathBuf;

use clap::Args;
use serde_json::Value;
use tasktoken::{BloomFilter, BloomGeometry, Publication, DEFAULT_FPR};

use super::{freshness, hex, Signer};
use crate::clock::unix_now;
use crate::duration::parse_duration;
use crate::failure::Failure;
use crate::files::stage;
use crate::output::{pretty_object, stdout_line};
use crate::store::{Open, Record, Store};

/// Write a signed snapshot of every unexpired revocation in the store.
///
/// The snapshot is a Bloom filter of every revoked `jti` whose token has not expired, at the next
/// serial; it is recorded in the store. Expired revocations are left out (rotation), so the filter
/// holds at most the revocations of one token lifetime. The filter is sized for --capacity entries,
/// or twice the current count if that is larger, at false-positive rate --fpr, with a fresh random
/// salt; deltas from `filter delta` reuse its geometry and salt until the next snapshot.
///
/// --out is replaced atomically (a temporary file renamed over it), so a web server or sync
/// job serving it never sees a partial file. Prints a JSON summary: kind, kid, serial,
/// entries, bits, hashes, bytes, issued_at, next_update and expected_fpr (at this fill).
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

    /// Private JWK file to sign with; verifiers need its public key in their --jwks.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,

    /// Revocations the filter is sized for [default: 1000]; twice the current count is used
    /// when that is larger, so that deltas have room to grow.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    capacity: Option<u64>,

    /// Target false-positive rate at --capacity entries, in (0, 1) [default: 1e-6]. A false
    /// positive rejects a good token as `revoked`.
    #[arg(long, value_name = "P")]
    fpr: Option<f64>,

    /// How long the snapshot is current (`next_update` = now + this); build or delta again
    /// before it runs out, or verifiers fail with `stale_revocation` [default: 5m].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, allow_hyphen_values = true)]
    valid_for: Option<u32>,

    /// Keep a revocation in the filter this long after its token's `exp`: verifiers accept a
    /// token until `exp` plus their clock skew [default: 30s, verify's default].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, allow_hyphen_values = true)]
    clock_skew: Option<u32>,

    /// File to write the snapshot to (replaced atomically).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// Default --capacity.
const DEFAULT_CAPACITY: u64 = 1000;
/// Default --valid-for, in seconds.
pub(super) const DEFAULT_VALID_FOR: u32 = 5 * 60;

/// Runs `tasktoken filter build`.
pub fn run(args: &BuildArgs) -> Result<(), Failure> {
    let signer = Signer::read(&args.key)?;
    let open = if args.create { Open::CreateIfMissing } else { Open::Existing };
    let mut store = Store::open(&args.db, open)?;
    let publishing = store.publish()?;
    let now = unix_now();
    let serial = publishing.next_serial()?;
    let upto_seq = publishing.max_seq()?;
    let skew = args.clock_skew.unwrap_or(tasktoken::DEFAULT_CLOCK_SKEW);
    let live = publishing.live(0, upto_seq, now.saturating_sub(i64::from(skew)))?;
    let entries = u64::try_from(live.len()).unwrap_or(u64::MAX);
    let capacity = args.capacity.unwrap_or(DEFAULT_CAPACITY).max(entries.saturating_mul(2));
    let geometry = BloomGeometry::for_capacity(capacity, args.fpr.unwrap_or(DEFAULT_FPR))?;
    let mut filter = BloomFilter::with_random_salt(geometry)?;
    for jti in &live {
        filter.insert(jti);
    }
    let freshness = freshness(serial, now, args.valid_for.unwrap_or(DEFAULT_VALID_FOR));
    let bytes = Publication::sign_snapshot(&filter, freshness, &signer.key)?;
    // The file is written first and put in place last: if the record cannot be committed,
    // nothing was published, and a serial is never published twice with different data.
    let staged = stage(&args.out, &bytes)?;
    publishing.insert(&Record {
        serial,
        base_serial: None,
        kid: signer.key.kid().to_owned(),
        issued_at: freshness.issued_at,
        next_update: freshness.next_update,
        upto_seq,
        generation: serial,
        entries,
        geometry,
        salt: *filter.salt(),
    })?;
    publishing.commit()?;
    staged.publish()?;
    stdout_line(&pretty_object(&[
        ("kind", &Value::from("snapshot")),
        ("kid", &Value::from(signer.key.kid())),
        ("serial", &Value::from(serial)),
        ("entries", &Value::from(entries)),
        ("bits", &Value::from(geometry.bits())),
        ("hashes", &Value::from(geometry.hashes())),
        ("salt", &Value::from(hex(filter.salt()))),
        ("bytes", &Value::from(bytes.len())),
        ("issued_at", &Value::from(freshness.issued_at)),
        ("next_update", &Value::from(freshness.next_update)),
        ("expected_fpr", &Value::from(geometry.false_positive_rate(entries))),
    ]))?;
    signer.warn();
    Ok(())
}
