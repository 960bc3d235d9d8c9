//! The --filter and --delta arguments: a verified revocation snapshot with deltas applied.

use std::path::{Path, PathBuf};

use tasktoken::{KeySet, RevocationFilter};

use crate::failure::Failure;
use crate::files::{read_bytes, MAX_FILTER_FILE};

/// Reads and verifies the snapshot at `snapshot` (named `flag` in messages) against `keys`,
/// then each `--delta` file in order, each on the serial the one before it produced.
pub fn load_filter(
    snapshot: &Path,
    flag: &str,
    deltas: &[PathBuf],
    keys: &KeySet,
) -> Result<RevocationFilter, Failure> {
    let bytes = read_bytes(snapshot, flag, MAX_FILTER_FILE)?;
    let context = format!("{flag} '{}'", snapshot.display());
    let mut filter =
        RevocationFilter::from_snapshot(&bytes, keys).map_err(Failure::core_in(context))?;
    for path in deltas {
        let bytes = read_bytes(path, "--delta", MAX_FILTER_FILE)?;
        let context = format!("--delta '{}'", path.display());
        filter.apply_delta(&bytes, keys).map_err(Failure::core_in(context))?;
    }
    Ok(filter)
}
