//! Audit lines: one JSON object per exchange (granted or refused), revocation and
//! publication, written by one thread so that request handlers never wait on the output.
//! Lines never hold token text: identities are named by provider, `iss` and `sub`, tokens by
//! `jti`.

use std::io::Write as _;
use std::sync::mpsc;

use serde_json::{Map, Value};

use crate::config::AuditTarget;

/// Lines queued beyond this are dropped and counted (the counter is in the next line
/// written), so a blocked output cannot grow memory without bound.
const QUEUE: usize = 65_536;

/// Where handlers send audit lines.
#[derive(Clone)]
pub struct Audit {
    lines: mpsc::SyncSender<String>,
    /// Lets the writer start: lines recorded before (at start) wait, so that the
    /// `listening` line is the first on stdout.
    go: std::sync::Arc<std::sync::Mutex<Option<mpsc::Sender<()>>>>,
    dropped: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Audit {
    /// Starts the writer thread for `target`. Refuses a file that cannot be opened for
    /// appending.
    pub fn start(target: &AuditTarget) -> Result<Audit, String> {
        let mut out: Box<dyn std::io::Write + Send> = match target {
            AuditTarget::Stdout => Box::new(std::io::stdout()),
            AuditTarget::Stderr => Box::new(std::io::stderr()),
            AuditTarget::File(path) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| format!("audit: cannot open '{}': {e}", path.display()))?,
            ),
        };
        let (lines, queue) = mpsc::sync_channel::<String>(QUEUE);
        let (go, ready) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("tasktoken-audit".into())
            .spawn(move || {
                let _ = ready.recv();
                let mut buffer = Vec::with_capacity(64 * 1024);
                while let Ok(line) = queue.recv() {
                    buffer.extend_from_slice(line.as_bytes());
                    buffer.push(b'\n');
                    // Everything already queued goes out in one write.
                    while let Ok(line) = queue.try_recv() {
                        buffer.extend_from_slice(line.as_bytes());
                        buffer.push(b'\n');
                        if buffer.len() >= 1 << 20 {
                            break;
                        }
                    }
                    if out.write_all(&buffer).and_then(|()| out.flush()).is_err() {
                        // Nowhere left to write: keep draining so senders never block.
                    }
                    buffer.clear();
                    // Lines arriving meanwhile wait for the next write: under load one write
                    // (and one wake-up of this thread) every few milliseconds, not one a line.
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
            })
            .map_err(|e| format!("audit: cannot start its thread: {e}"))?;
        let go = std::sync::Arc::new(std::sync::Mutex::new(Some(go)));
        Ok(Audit { lines, go, dropped: Default::default() })
    }

    /// Starts writing (once the `listening` line is out).
    pub fn open(&self) {
        if let Some(go) = self.go.lock().ok().and_then(|mut g| g.take()) {
            let _ = go.send(());
        }
    }

    /// Queues one event: `event` (exchange, revoke, publish, start, stop…), the time, and
    /// `fields`.
    pub fn record(&self, event: &str, time: i64, fields: Map<String, Value>) {
        let mut line = Map::new();
        line.insert("time".into(), Value::from(time));
        line.insert("event".into(), Value::from(event));
        line.extend(fields);
        let dropped = self.dropped.swap(0, std::sync::atomic::Ordering::Relaxed);
        if dropped > 0 {
            line.insert("audit_dropped".into(), Value::from(dropped));
        }
        if self.lines.try_send(Value::Object(line).to_string()).is_err() {
            self.dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}
