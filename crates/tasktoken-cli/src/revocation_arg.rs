//! The --filter and --delta arguments: a verified revocation snapshot with deltas applied.

use std::path::{Path, PathBuf};

use tasktoken::{
    Error, ErrorKind, KeySet, Offered, Publication, RevocationFilter, RevocationReplica,
};

use crate::failure::Failure;
use crate::files::{read_bytes, MAX_FILTER_FILE};

/// Reads the snapshot at `snapshot` (named `flag` in messages), then each `--delta` file in
/// order, through the core's replica: each must move the filter forward (a delta on the
/// serial before it, or a newer snapshot — what `filter delta` writes when the filter is
/// full). Everything is verified against `keys_for(issuer)`, the keys trusted to sign
/// revocation data for the issuer the snapshot names (an issuer it does not trust is
/// `untrusted_issuer`), and must be plausible at `now`.
pub fn load_filter(
    snapshot: &Path,
    flag: &str,
    deltas: &[PathBuf],
    keys_for: impl FnOnce(&str) -> Result<KeySet, Failure>,
    now: i64,
) -> Result<RevocationFilter, Failure> {
    let bytes = read_bytes(snapshot, flag, MAX_FILTER_FILE)?;
    let context = format!("{flag} '{}'", snapshot.display());
    // The issuer is read before the signature is checked only to choose the keys; the
    // replica then verifies the data, issuer included, with exactly those keys.
    let issuer = Publication::decode(&bytes).map_err(Failure::core_in(context.clone()))?;
    let mut replica = RevocationReplica::new(issuer.issuer(), keys_for(issuer.issuer())?);
    match replica.offer(&bytes, now).map_err(Failure::core_in(context.clone()))? {
        Offered::Replaced => {}
        _ => return Err(Failure::core_in(context)(not_a_snapshot())),
    }
    for path in deltas {
        let bytes = read_bytes(path, "--delta", MAX_FILTER_FILE)?;
        let context = format!("--delta '{}'", path.display());
        let before = replica.serial();
        let offered = replica.offer(&bytes, now).map_err(Failure::core_in(context.clone()))?;
        if !matches!(offered, Offered::Applied | Offered::Replaced) {
            let at = before.unwrap_or_default();
            return Err(Failure::core_in(context)(Error::new(
                ErrorKind::StaleRevocation,
                format!("the file does not apply to the filter at serial {at}"),
            )));
        }
    }
    replica.filter().cloned().ok_or_else(|| Failure::core_in(context)(not_a_snapshot()))
}

fn not_a_snapshot() -> Error {
    Error::new(ErrorKind::Malformed, "expected a revocation snapshot, got a delta")
}
