//! `tasktoken scan`: finds leaked task tokens in files, directories or stdin and says which
//! are still live; optionally revokes them.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::{json, Value};
use tasktoken::{
    Error, ErrorKind, FoundToken, KeySet, RevocationFilter, Scanner, UnverifiedToken, Verifier,
};

use crate::clock::unix_now;
use crate::failure::{stderr_line, Failure};
use crate::files::{read_text, MAX_JWKS_FILE};
use crate::output::stdout_line;
use crate::revocation_arg::load_filter;
use crate::store::{Open, Store, StoreTrait as _};

/// Read size: memory stays bounded whatever the input size (a 1 GB log included).
const CHUNK: usize = 64 * 1024;

/// Finds task tokens in files, directories (recursively) or stdin (`-`), by their structure:
/// a compact JWS whose header says `typ` tt+jwt. JWTs of other types are not reported.
///
/// For each one prints where it is (file:line), its `jti`, `sub`, `task`, `exp` and status,
/// with the token itself masked. Status is `live`, `expired`, `revoked` (with --filter) or
/// `invalid:<code>` (a signature or issuer that does not verify) when --jwks/--iss are given;
/// without them it is `live-unverified` or `expired-unverified`, judged by the unverified
/// `exp` alone.
///
/// Exit status: 1 when a live (or live-unverified) token was found — so CI can block a
/// commit — 0 when none; with --revoke --db, every live one is also revoked in the store.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Files or directories to scan; `-` for stdin.
    #[arg(value_name = "PATH", required = true)]
    paths: Vec<PathBuf>,

    /// JWKS of a trusted issuer, paired in order with --iss: verifies what is found.
    #[arg(long, value_name = "FILE")]
    jwks: Vec<PathBuf>,

    /// A trusted issuer name, paired in order with --jwks.
    #[arg(long, value_name = "ISSUER")]
    iss: Vec<String>,

    /// A revocation snapshot (verified with the --jwks keys): revoked tokens are reported
    /// as such, not as live.
    #[arg(long, value_name = "FILE", requires = "jwks")]
    filter: Option<PathBuf>,

    /// Revocation deltas applied to --filter, in order.
    #[arg(long, value_name = "FILE", requires = "filter")]
    delta: Vec<PathBuf>,

    /// Revoke every live token found in this store (see `tasktoken revoke`).
    #[arg(long, requires = "db")]
    revoke: bool,

    /// The revocation store for --revoke.
    #[arg(long, value_name = "FILE", requires = "revoke")]
    db: Option<PathBuf>,

    /// One JSON object per finding instead of text lines.
    #[arg(long)]
    json: bool,

    /// Judge expiry as of this time, in seconds since the Unix epoch [default: now].
    #[arg(long, value_name = "UNIX")]
    now: Option<i64>,
}

/// Runs `tasktoken scan`.
pub fn run(args: &ScanArgs) -> Result<(), Failure> {
    if args.jwks.len() != args.iss.len() {
        return Err(Failure::Usage {
            command: "scan",
            message: "--jwks and --iss pair up in order".into(),
        });
    }
    let mut trusted = Vec::new();
    for (path, iss) in args.jwks.iter().zip(&args.iss) {
        let text = read_text(path, "--jwks", MAX_JWKS_FILE)?;
        let context = format!("--jwks '{}'", path.display());
        trusted.push((iss.clone(), KeySet::from_jwks(&text).map_err(Failure::core_in(context))?));
    }
    let filter = match &args.filter {
        Some(path) => {
            // Revocation data is verified with the keys of the issuer it names.
            let keys_for = |issuer: &str| match trusted.iter().find(|(iss, _)| iss == issuer) {
                Some((_, keys)) => Ok(keys.clone()),
                None => Err(Failure::from(Error::new(
                    ErrorKind::UntrustedIssuer,
                    "the revocation data is for an issuer no --iss names",
                ))),
            };
            let now = args.now.unwrap_or_else(unix_now);
            Some(load_filter(path, "--filter", &args.delta, keys_for, now)?)
        }
        None => None,
    };
    let mut judge = Judge {
        trusted,
        verifiers: BTreeMap::new(),
        filter,
        now: args.now.unwrap_or_else(unix_now),
    };
    let mut live: BTreeMap<String, i64> = BTreeMap::new();
    let mut unreadable = false;
    for path in &args.paths {
        let mut report = |origin: &str, found: FoundToken| -> Result<(), Failure> {
            let finding = judge.judge(&found.token);
            if finding.is_live() {
                live.insert(finding.jti.clone(), finding.exp.unwrap_or(judge.now));
            }
            print_finding(origin, found.line, &found.token, &finding, args.json)
        };
        if path.as_os_str() == "-" {
            scan_reader(std::io::stdin().lock(), "-", &mut report)?;
        } else {
            unreadable |= walk(path, &mut report)?;
        }
    }
    if args.revoke && !live.is_empty() {
        if let Some(db) = &args.db {
            let mut store = Store::open(db, Open::CreateIfMissing)?;
            for (jti, exp) in &live {
                store.revoke(jti, *exp, judge.now)?;
                stderr_line(&format!("tasktoken: revoked {jti}"));
            }
        }
    }
    if !live.is_empty() {
        stderr_line(&format!("tasktoken: {} live task token(s) found", live.len()));
        return Err(Failure::Found);
    }
    if unreadable {
        return Err(Failure::Io("some paths could not be read (see the warnings above)".into()));
    }
    Ok(())
}

/// Every trusted key, for verifying revocation data.
/// Scans a file or, recursively, a directory (symlinks are not followed). Returns whether
/// something could not be read; each such path gets a warning.
fn walk(
    path: &Path,
    report: &mut dyn FnMut(&str, FoundToken) -> Result<(), Failure>,
) -> Result<bool, Failure> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) => {
            stderr_line(&format!("tasktoken: warning: cannot read '{}': {e}", path.display()));
            return Ok(true);
        }
    };
    if meta.is_dir() {
        let mut entries = match std::fs::read_dir(path) {
            Ok(entries) => entries.filter_map(Result::ok).map(|e| e.path()).collect::<Vec<_>>(),
            Err(e) => {
                stderr_line(&format!("tasktoken: warning: cannot list '{}': {e}", path.display()));
                return Ok(true);
            }
        };
        entries.sort();
        let mut failed = false;
        for entry in entries {
            failed |= walk(&entry, report)?;
        }
        return Ok(failed);
    }
    if !meta.is_file() {
        return Ok(false);
    }
    match File::open(path) {
        Ok(file) => {
            scan_reader(file, &path.display().to_string(), report)?;
            Ok(false)
        }
        Err(e) => {
            stderr_line(&format!("tasktoken: warning: cannot read '{}': {e}", path.display()));
            Ok(true)
        }
    }
}

fn scan_reader(
    mut reader: impl Read,
    origin: &str,
    report: &mut dyn FnMut(&str, FoundToken) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let mut scanner = Scanner::new();
    let mut buf = vec![0u8; CHUNK];
    let mut found = Vec::new();
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                stderr_line(&format!("tasktoken: warning: reading '{origin}' stopped: {e}"));
                break;
            }
        };
        scanner.feed(&buf[..n], &mut found);
        for f in found.drain(..) {
            report(origin, f)?;
        }
    }
    scanner.finish(&mut found);
    for f in found.drain(..) {
        report(origin, f)?;
    }
    Ok(())
}

/// What is known about one found token.
struct Finding {
    status: String,
    verified: bool,
    jti: String,
    sub: Option<String>,
    task: Option<String>,
    exp: Option<i64>,
}

impl Finding {
    fn is_live(&self) -> bool {
        self.status == "live" || self.status == "live-unverified"
    }
}

/// Decides each token's status, with a verifier per audience (built once each).
struct Judge {
    trusted: Vec<(String, KeySet)>,
    verifiers: BTreeMap<String, Option<Verifier>>,
    filter: Option<RevocationFilter>,
    now: i64,
}

impl Judge {
    fn judge(&mut self, token: &str) -> Finding {
        let parsed = UnverifiedToken::parse(token).ok();
        let claims = parsed.as_ref().map(|p| p.claims());
        let text = |name: &str| {
            claims.and_then(|c| c.get(name)).and_then(Value::as_str).map(str::to_owned)
        };
        let exp = claims.and_then(|c| c.get("exp")).and_then(Value::as_i64);
        let aud = claims.and_then(|c| c.get("aud")).and_then(|a| match a {
            Value::String(s) => Some(s.clone()),
            Value::Array(list) => list.first().and_then(Value::as_str).map(str::to_owned),
            _ => None,
        });
        let jti = text("jti").unwrap_or_default();
        // A filter governs only the tokens of the issuer it names.
        let iss = text("iss");
        let revoked = self
            .filter
            .as_ref()
            .is_some_and(|f| iss.as_deref() == Some(f.issuer()) && f.contains(&jti));
        let (status, verified) = if self.trusted.is_empty() {
            let alive = exp.is_some_and(|exp| exp.saturating_add(30) > self.now);
            let status = match (revoked, alive) {
                (true, _) => "revoked",
                (false, true) => "live-unverified",
                (false, false) => "expired-unverified",
            };
            (status.to_owned(), false)
        } else {
            let now = self.now;
            match self.verifier(aud.as_deref()).map(|v| v.verify_for_revocation_at(token, now)) {
                Some(Ok(_)) if revoked => ("revoked".to_owned(), true),
                Some(Ok(_)) => ("live".to_owned(), true),
                Some(Err(e)) if e.code() == "expired" => ("expired".to_owned(), true),
                Some(Err(e)) => (format!("invalid:{}", e.code()), true),
                None => ("invalid:wrong_audience".to_owned(), true),
            }
        };
        Finding { status, verified, jti, sub: text("sub"), task: text("task"), exp }
    }

    fn verifier(&mut self, audience: Option<&str>) -> Option<&Verifier> {
        let audience = audience?;
        let trusted = &self.trusted;
        self.verifiers
            .entry(audience.to_owned())
            .or_insert_with(|| {
                let mut v = Verifier::new(audience).ok()?.named("tasktoken-cli scan");
                for (iss, keys) in trusted {
                    v = v.trust(iss, keys).ok()?;
                }
                Some(v)
            })
            .as_ref()
    }
}

/// The token with everything but a recognisable prefix and suffix hidden.
fn mask(token: &str) -> String {
    let head: String = token.chars().take(10).collect();
    let tail: String = token.chars().skip(token.len().saturating_sub(4)).collect();
    format!("{head}…[{} bytes masked]…{tail}", token.len().saturating_sub(14))
}

fn print_finding(
    origin: &str,
    line: u64,
    token: &str,
    f: &Finding,
    json: bool,
) -> Result<(), Failure> {
    if json {
        let v = json!({
            "path": origin, "line": line, "status": f.status, "verified": f.verified,
            "jti": f.jti, "sub": f.sub, "task": f.task, "exp": f.exp, "token": mask(token),
        });
        return stdout_line(&v.to_string());
    }
    let or_dash = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".into());
    let exp = f.exp.map_or_else(|| "-".to_owned(), |e| e.to_string());
    stdout_line(&format!(
        "{origin}:{line}: {} jti={} sub={} task={} exp={exp} token={}",
        f.status,
        f.jti,
        or_dash(&f.sub),
        or_dash(&f.task),
        mask(token)
    ))
}
