//! Reading input files, writing the private key file and publishing revocation files, with the
//! CLI's I/O error messages.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::failure::Failure;

/// Largest private JWK file read; a real one is about 200 bytes.
pub const MAX_KEY_FILE: usize = 64 * 1024;
/// Largest JWKS file read; a real one holds a few keys of about 150 bytes each.
pub const MAX_JWKS_FILE: usize = 1024 * 1024;

/// Largest revocation snapshot or delta file read. The core refuses anything over 16 MiB and
/// 1 KiB of header with its own `malformed` error; this bound only caps the memory used first.
pub const MAX_FILTER_FILE: usize = 17 * 1024 * 1024;

/// Mode of the private key file: read and write for the owner only.
const PRIVATE_MODE: u32 = 0o600;

/// The contents of a private key file, and a warning if others may read it.
pub struct Secret {
    /// The file's text, wiped on drop.
    pub text: Zeroizing<String>,
    /// Set when group or others have any access to the file; the caller prints it once the
    /// command has succeeded, so that a failure's stderr stays one JSON line.
    pub warning: Option<String>,
}

/// Reads a private JWK file into memory that is wiped on drop.
pub fn read_secret(path: &Path, flag: &str) -> Result<Secret, Failure> {
    let cannot = |e: std::io::Error| cannot_read(flag, path, &e.to_string());
    let file = File::open(path).map_err(cannot)?;
    let mode = file.metadata().map_err(cannot)?.permissions().mode();
    let warning = (mode & 0o077 != 0).then(|| {
        format!(
            "tasktoken: warning: {flag} file '{}' is accessible by group or others \
             (mode {:o}); make it private with chmod 600",
            path.display(),
            mode & 0o777
        )
    });
    // Sized for the largest accepted file, not from the metadata: a pipe such as
    // `--key <(vault read ...)` reports length 0, and growing the buffer would leave copies.
    let text = read_limited(file, path, flag, MAX_KEY_FILE, MAX_KEY_FILE)?;
    Ok(Secret { text, warning })
}

/// Reads a text file of at most `limit` bytes (a JWKS file), as UTF-8.
pub fn read_text(path: &Path, flag: &str, limit: usize) -> Result<Zeroizing<String>, Failure> {
    let cannot = |e: std::io::Error| cannot_read(flag, path, &e.to_string());
    let file = File::open(path).map_err(cannot)?;
    let size = file.metadata().map_err(cannot)?.len();
    let expected = usize::try_from(size).map_or(limit, |size| size.min(limit));
    read_limited(file, path, flag, limit, expected)
}

/// Reads at most `limit` bytes as UTF-8 into a buffer with room for `expected` bytes
/// (for a secret: the limit, so that no copy is left behind in a reallocated buffer).
fn read_limited(
    file: File,
    path: &Path,
    flag: &str,
    limit: usize,
    expected: usize,
) -> Result<Zeroizing<String>, Failure> {
    // Two more bytes than the content, so that the end-of-file read needs no growth.
    let mut text = Zeroizing::new(String::with_capacity(expected.saturating_add(2)));
    let limit_plus_one = u64::try_from(limit).map_or(u64::MAX, |l| l.saturating_add(1));
    file.take(limit_plus_one)
        .read_to_string(&mut text)
        .map_err(|e| cannot_read(flag, path, &e.to_string()))?;
    if text.len() > limit {
        let reason = format!("it is larger than {} KiB", limit / 1024);
        return Err(cannot_read(flag, path, &reason));
    }
    Ok(text)
}

/// Reads a binary file of at most `limit` bytes (a revocation snapshot or delta).
pub fn read_bytes(path: &Path, flag: &str, limit: usize) -> Result<Vec<u8>, Failure> {
    let cannot = |e: std::io::Error| cannot_read(flag, path, &e.to_string());
    let file = File::open(path).map_err(cannot)?;
    let size = file.metadata().map_err(cannot)?.len();
    let expected = usize::try_from(size).map_or(limit, |size| size.min(limit));
    let mut bytes = Vec::with_capacity(expected.saturating_add(1));
    let limit_plus_one = u64::try_from(limit).map_or(u64::MAX, |l| l.saturating_add(1));
    file.take(limit_plus_one).read_to_end(&mut bytes).map_err(cannot)?;
    if bytes.len() > limit {
        let reason = format!("it is larger than {} MiB", limit / (1024 * 1024));
        return Err(cannot_read(flag, path, &reason));
    }
    Ok(bytes)
}

fn cannot_read(flag: &str, path: &Path, reason: &str) -> Failure {
    Failure::Io(format!("cannot read {flag} file '{}': {reason}", path.display()))
}

/// Writes `contents` and a newline to a new file with mode 0600.
///
/// Without `force` an existing file is never touched. With `force` the text goes to a new
/// temporary file beside `path` that is then renamed over it: the replacement is atomic, an
/// old key survives a failed write, and a symlink at `path` is replaced, not followed.
pub fn write_private(path: &Path, contents: &str, force: bool) -> Result<(), Failure> {
    if !force {
        let file = create_private(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Failure::Io(format!(
                    "refusing to overwrite --out file '{}': it exists (pass --force to replace it)",
                    path.display()
                ))
            } else {
                cannot_write(path, &e)
            }
        })?;
        return fill(file, contents).map_err(|e| {
            let _ = fs::remove_file(path);
            cannot_write(path, &e)
        });
    }
    let temp = temp_path(path)?;
    let written = create_private(&temp)
        .and_then(|file| fill(file, contents))
        .and_then(|()| fs::rename(&temp, path));
    written.map_err(|e| {
        let _ = fs::remove_file(&temp);
        cannot_write(path, &e)
    })
}

/// A public file written beside its destination, not yet in place: [`Staged::publish`]
/// renames it over the destination, and dropping it unpublished removes it.
///
/// Readers of the destination (a web server, a sync job) see the old file or the new one,
/// whole, never a partial write; a crash leaves at most a `.<name>.<pid>.tmp` file behind.
#[derive(Debug)]
pub struct Staged {
    temp: PathBuf,
    path: PathBuf,
    published: bool,
}

/// Writes `contents` to a new temporary file beside `path` and flushes it to disk.
pub fn stage(path: &Path, contents: &[u8]) -> Result<Staged, Failure> {
    let temp = temp_path(path)?;
    let written =
        OpenOptions::new().write(true).create_new(true).open(&temp).and_then(|mut file| {
            file.write_all(contents)?;
            file.sync_all()
        });
    // Owned from here on: dropping `staged` removes whatever part of the file exists.
    let staged = Staged { temp, path: path.to_owned(), published: false };
    written.map_err(|e| cannot_write(path, &e))?;
    Ok(staged)
}

impl Staged {
    /// Renames the file over its destination, then flushes the directory so that the rename
    /// itself survives a power loss.
    pub fn publish(mut self) -> Result<(), Failure> {
        fs::rename(&self.temp, &self.path).map_err(|e| cannot_write(&self.path, &e))?;
        self.published = true;
        let dir = match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        // Best effort: the file is in place either way, and some file systems refuse to sync
        // a directory; there is nothing useful to tell the operator if they do.
        let _ = File::open(dir).and_then(|d| d.sync_all());
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.published {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

/// Creates a new file with mode 0600, failing if anything exists at `path`.
fn create_private(path: &Path) -> std::io::Result<File> {
    let file = OpenOptions::new().write(true).create_new(true).mode(PRIVATE_MODE).open(path)?;
    // The umask may have taken bits away; the mode is exactly 0600 either way.
    file.set_permissions(Permissions::from_mode(PRIVATE_MODE))?;
    Ok(file)
}

fn fill(mut file: File, contents: &str) -> std::io::Result<()> {
    file.write_all(contents.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

/// `.<name>.<pid>.tmp` in the directory of `path`.
fn temp_path(path: &Path) -> Result<PathBuf, Failure> {
    let name = path.file_name().ok_or_else(|| {
        Failure::Io(format!(
            "cannot write --out file '{}': it does not name a file",
            path.display()
        ))
    })?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(".{}.tmp", std::process::id()));
    Ok(path.with_file_name(temp_name))
}

fn cannot_write(path: &Path, error: &std::io::Error) -> Failure {
    Failure::Io(format!("cannot write --out file '{}': {error}", path.display()))
}
