//! `tasktoken filter inspect`: the header and fill of a snapshot or delta file.

use std::path::PathBuf;

use clap::Args;
use serde_json::Value;
use tasktoken::{BloomGeometry, Freshness, Publication};

use super::{hex, read_jwks};
use crate::failure::{stderr_line, Failure};
use crate::files::{read_bytes, MAX_FILTER_FILE};
use crate::output::{pretty_object, stdout_line};

/// Decode a snapshot or delta file and show what it holds (verified only with --jwks).
///
/// The output is JSON. With --jwks the signature is verified first, and a file that fails
/// (`malformed`, `unknown_key`, `bad_signature`) is an error. Without it nothing is verified: the
/// output says `"verified": false` and a warning goes to stderr.
///
/// Members: verified, kind, kid, iss (the issuer whose tokens it governs), serial, base_serial (delta), issued_at, next_update, bits,
/// hashes, salt (hex), bytes; for a snapshot ones (bits set), estimated_entries and
/// expected_fpr (at that estimate); for a delta entries.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The snapshot or delta file.
    #[arg(value_name = "FILE")]
    file: PathBuf,

    /// JWKS file with the key that must have signed the file.
    #[arg(long, value_name = "FILE")]
    jwks: Option<PathBuf>,
}

/// Runs `tasktoken filter inspect`.
pub fn run(args: &InspectArgs) -> Result<(), Failure> {
    let bytes = read_bytes(&args.file, "revocation", MAX_FILTER_FILE)?;
    let context = format!("revocation file '{}'", args.file.display());
    let publication = match &args.jwks {
        Some(path) => Publication::verify(&bytes, &read_jwks(path)?),
        None => Publication::decode(&bytes),
    }
    .map_err(Failure::core_in(context))?;
    let verified = Value::from(args.jwks.is_some());
    let size = Value::from(bytes.len());
    let text = match &publication {
        Publication::Snapshot(snapshot) => {
            let filter = &snapshot.filter;
            let estimate = filter.estimated_entries();
            let header = Header::new(&snapshot.kid, snapshot.freshness, filter.geometry());
            pretty_object(&[
                ("verified", &verified),
                ("kind", &Value::from("snapshot")),
                ("kid", &header.kid),
                ("iss", &Value::from(publication.issuer())),
                ("serial", &header.serial),
                ("issued_at", &header.issued_at),
                ("next_update", &header.next_update),
                ("bits", &header.bits),
                ("hashes", &header.hashes),
                ("salt", &Value::from(hex(filter.salt()))),
                ("bytes", &size),
                ("ones", &Value::from(filter.ones())),
                ("estimated_entries", &Value::from(estimate)),
                ("expected_fpr", &Value::from(filter.geometry().false_positive_rate(estimate))),
            ])
        }
        Publication::Delta(delta) => {
            let header = Header::new(&delta.kid, delta.freshness, delta.geometry);
            pretty_object(&[
                ("verified", &verified),
                ("kind", &Value::from("delta")),
                ("kid", &header.kid),
                ("iss", &Value::from(publication.issuer())),
                ("serial", &header.serial),
                ("base_serial", &Value::from(delta.base_serial)),
                ("issued_at", &header.issued_at),
                ("next_update", &header.next_update),
                ("bits", &header.bits),
                ("hashes", &header.hashes),
                ("salt", &Value::from(hex(&delta.salt))),
                ("bytes", &size),
                ("entries", &Value::from(delta.entries.len())),
            ])
        }
    };
    if args.jwks.is_none() {
        stderr_line(
            "tasktoken: warning: the revocation data was decoded but its signature was NOT \
             checked; pass --jwks to verify it",
        );
    }
    stdout_line(&text)
}

/// The members a snapshot and a delta share, as JSON values.
struct Header {
    kid: Value,
    serial: Value,
    issued_at: Value,
    next_update: Value,
    bits: Value,
    hashes: Value,
}

impl Header {
    fn new(kid: &str, freshness: Freshness, geometry: BloomGeometry) -> Self {
        Header {
            kid: Value::from(kid),
            serial: Value::from(freshness.serial),
            issued_at: Value::from(freshness.issued_at),
            next_update: Value::from(freshness.next_update),
            bits: Value::from(geometry.bits()),
            hashes: Value::from(geometry.hashes()),
        }
    }
}
