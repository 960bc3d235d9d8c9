//! `--audit-log FILE`: every decision of a command appended as one JSON line, flushed per
//! event. The events come from the core and carry no token text and no key material.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use clap::Args;
use tasktoken::{AuditEvent, AuditSink};

use crate::failure::Failure;

/// The `--audit-log` option, shared by the commands that decide something.
#[derive(Debug, Args)]
pub struct AuditLogArg {
    /// Append one JSON line per decision (time, issuer, kid, sub, task, jti, action,
    /// resource, outcome, decided_by — never the token or a key) to FILE.
    #[arg(long, value_name = "FILE")]
    audit_log: Option<PathBuf>,
}

impl AuditLogArg {
    /// The sink for `--audit-log`, if given; the file is created (mode 0600) or appended to.
    pub fn sink(&self) -> Result<Option<Arc<JsonLines>>, Failure> {
        self.audit_log.as_deref().map(JsonLines::open).transpose().map(|s| s.map(Arc::new))
    }
}

/// Appends events as JSON lines.
#[derive(Debug)]
pub struct JsonLines {
    file: Mutex<File>,
}

impl JsonLines {
    fn open(path: &Path) -> Result<Self, Failure> {
        use std::os::unix::fs::OpenOptionsExt as _;
        let file =
            OpenOptions::new().create(true).append(true).mode(0o600).open(path).map_err(|e| {
                Failure::Io(format!("cannot open --audit-log '{}': {e}", path.display()))
            })?;
        Ok(JsonLines { file: Mutex::new(file) })
    }
}

impl AuditSink for JsonLines {
    fn record(&self, event: &AuditEvent) {
        let line = format!("{}\n", event.to_json());
        // A poisoned lock still holds a usable file; an audit write error cannot be
        // reported from inside a decision, so it goes to stderr.
        let mut file = self.file.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if file.write_all(line.as_bytes()).and_then(|()| file.flush()).is_err() {
            eprintln!("tasktoken: warning: could not write to --audit-log");
        }
    }
}
