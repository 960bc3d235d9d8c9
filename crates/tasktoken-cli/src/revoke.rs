//! `tasktoken revoke`: records revocations in the authority's store, durably.

use std::io::{BufRead as _, Read as _};
use std::path::PathBuf;

use clap::builder::NonEmptyStringValueParser;
use clap::{ArgGroup, Args};
use serde_json::Value;
use tasktoken::{AuditEvent, AuditKind, AuditSink as _, Error, ErrorKind, UnverifiedToken};

use crate::audit_log::{AuditLogArg, JsonLines};

use crate::clock::unix_now;
use crate::failure::{stderr_line, Failure};
use crate::output::{compact_object, stdout_line};
use crate::store::{Open, Store, StoreTrait as _};
use crate::token_arg::read_token;

/// Longest line read in --batch mode; a `jti` comes from a token of at most 8 KiB.
const MAX_LINE: usize = 16 * 1024;

/// Record a revoked token (or `jti`) in the revocation store, a SQLite file.
///
/// The store is created if missing. Give the token itself (or `-` to read it from stdin): it is
/// decoded WITHOUT verifying, only to read its `jti` and `exp`. Or give --jti and --exp. Or give
/// --batch and write lines `JTI EXP` to stdin.
///
/// Each revocation is committed to disk before it is reported. Revoking a `jti` again is
/// harmless: the record stays, with the later of the two `exp` (`"new": false`). A revocation
/// reaches verifiers with the next `tasktoken filter build` or `filter delta`, and leaves
/// the filters once its token has expired.
///
/// Prints `{"revoked":"<jti>","exp":<unix>,"new":true|false}`, where `exp` is the one stored.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("what").required(true).args(["token", "jti", "batch"])))]
pub struct RevokeArgs {
    #[command(flatten)]
    audit: AuditLogArg,

    /// The revocation store (SQLite, WAL mode); created with its schema if missing.
    #[arg(long, value_name = "FILE")]
    db: PathBuf,

    /// The `jti` to revoke, instead of a TOKEN; needs --exp.
    #[arg(long, value_name = "JTI", requires = "exp", allow_hyphen_values = true)]
    #[arg(value_parser = NonEmptyStringValueParser::new())]
    jti: Option<String>,

    /// The `exp` of the token with --jti, in seconds since the Unix epoch: the revocation is
    /// kept in the filters until then.
    #[arg(long, value_name = "UNIX", requires = "jti")]
    exp: Option<i64>,

    /// Read lines `JTI EXP` (separated by whitespace) from stdin and revoke each in its own
    /// transaction, printing `revoked JTI` once it is committed. Blank lines are skipped; a
    /// bad line stops with an error, after the lines before it were committed.
    #[arg(long)]
    batch: bool,

    /// The token to revoke, or `-` to read it from stdin.
    #[arg(value_name = "TOKEN")]
    token: Option<String>,
}

/// Runs `tasktoken revoke`.
pub fn run(args: &RevokeArgs) -> Result<(), Failure> {
    let sink = args.audit.sink()?;
    if args.batch {
        let mut store = Store::open(&args.db, Open::CreateIfMissing)?;
        return batch(&mut store, sink.as_deref());
    }
    let (jti, exp) = match (&args.jti, args.exp, &args.token) {
        (Some(jti), Some(exp), _) => (jti.clone(), exp),
        (_, _, Some(token)) => jti_and_exp(&read_token(token)?)?,
        // clap's group and `requires` make every other combination a usage error.
        _ => {
            return Err(Failure::Usage {
                command: "revoke",
                message: "give a TOKEN, --jti with --exp, or --batch".into(),
            })
        }
    };
    let mut store = Store::open(&args.db, Open::CreateIfMissing)?;
    let now = unix_now();
    let revoked = store.revoke(&jti, exp, now)?;
    audit(sink.as_deref(), &jti, now);
    stdout_line(&compact_object(&[
        ("revoked", &Value::from(jti)),
        ("exp", &Value::from(revoked.exp)),
        ("new", &Value::from(revoked.new)),
    ]))?;
    if revoked.exp <= now {
        stderr_line(
            "tasktoken: warning: the token has already expired; the revocation is recorded, \
             but filters leave expired tokens out",
        );
    }
    Ok(())
}

/// The `jti` and `exp` claims of a token, decoded without verifying it.
fn jti_and_exp(token: &str) -> Result<(String, i64), Failure> {
    let parsed = UnverifiedToken::parse(token)?;
    let claims = parsed.claims();
    let jti = match claims.get("jti") {
        None => return Err(missing("the token has no `jti` claim").into()),
        Some(Value::String(jti)) if !jti.is_empty() => jti.clone(),
        Some(_) => return Err(invalid("`jti` must be a non-empty string").into()),
    };
    let exp = match claims.get("exp") {
        None => return Err(missing("the token has no `exp` claim").into()),
        Some(exp) => {
            exp.as_i64().ok_or_else(|| invalid("`exp` must be an integer number of seconds"))?
        }
    };
    Ok((jti, exp))
}

/// Revokes the `JTI EXP` lines of stdin, one committed transaction and one report each.
/// Records a committed revocation as an audit event.
fn audit(sink: Option<&JsonLines>, jti: &str, now: i64) {
    if let Some(sink) = sink {
        let event =
            AuditEvent::new(AuditKind::Revoke, now, "ok", "tasktoken-cli authority").with_jti(jti);
        sink.record(&event);
    }
}

fn batch(store: &mut Store, sink: Option<&JsonLines>) -> Result<(), Failure> {
    let mut stdin = std::io::stdin().lock();
    let mut line = Vec::new();
    for number in 1.. {
        line.clear();
        let read = stdin
            .by_ref()
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| Failure::Io(format!("cannot read stdin: {e}")))?;
        if read == 0 {
            break;
        }
        let Some((jti, exp)) = parse_line(&line).map_err(|e| line_error(number, e))? else {
            continue;
        };
        let now = unix_now();
        store.revoke(jti, exp, now)?;
        audit(sink, jti, now);
        stdout_line(&format!("revoked {jti}"))?;
    }
    Ok(())
}

/// A `JTI EXP` line; `None` for a blank line.
fn parse_line(line: &[u8]) -> Result<Option<(&str, i64)>, Error> {
    if line.len() > MAX_LINE {
        return Err(malformed("the line is longer than 16 KiB"));
    }
    let text = std::str::from_utf8(line).map_err(|_| malformed("the line is not UTF-8"))?;
    let mut fields = text.split_ascii_whitespace();
    let (jti, exp) = match (fields.next(), fields.next(), fields.next()) {
        (None, _, _) => return Ok(None),
        (Some(jti), Some(exp), None) => (jti, exp),
        _ => return Err(malformed("expected `JTI EXP`, two fields")),
    };
    let exp = exp
        .parse()
        .map_err(|_| invalid("EXP must be an integer number of seconds since the epoch"))?;
    Ok(Some((jti, exp)))
}

/// An error about stdin line `number`, which says that the lines before it were committed.
fn line_error(number: usize, error: Error) -> Failure {
    Failure::Core {
        error,
        context: Some(format!("stdin line {number} (the lines before it are revoked)")),
    }
}

fn malformed(message: &'static str) -> Error {
    Error::new(ErrorKind::Malformed, message)
}

fn missing(message: &'static str) -> Error {
    Error::new(ErrorKind::MissingClaim, message)
}

fn invalid(message: &'static str) -> Error {
    Error::new(ErrorKind::InvalidClaim, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_lines() {
        fn code(line: &[u8]) -> Result<Option<(String, i64)>, &'static str> {
            parse_line(line)
                .map(|fields| fields.map(|(jti, exp)| (jti.to_owned(), exp)))
                .map_err(|e| e.code())
        }
        assert_eq!(code(b"abc 17\n"), Ok(Some(("abc".into(), 17))));
        assert_eq!(code(b"  -x_Y\t-5  \r\n"), Ok(Some(("-x_Y".into(), -5))));
        assert_eq!(code(b" \t\r\n"), Ok(None));
        assert_eq!(code(b""), Ok(None));
        assert_eq!(code(b"abc"), Err("malformed"));
        assert_eq!(code(b"abc 1 2"), Err("malformed"));
        assert_eq!(code(b"abc 1.5"), Err("invalid_claim"));
        assert_eq!(code(b"abc 99999999999999999999"), Err("invalid_claim"));
        assert_eq!(code(b"\xff 1"), Err("malformed"));
        assert_eq!(code(&vec![b'a'; MAX_LINE + 1]), Err("malformed"));
    }
}
