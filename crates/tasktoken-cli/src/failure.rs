//! How a command fails: the three kinds of failure, their exit codes and stderr formats.

use std::io::Write as _;
use std::process::ExitCode;

use clap::CommandFactory as _;

/// Exit status for a core error: the token, key or request was rejected.
const EXIT_REJECTED: u8 = 1;
/// Exit status for a usage or file error: an operator mistake.
const EXIT_USAGE: u8 = 2;

/// Why a command did not succeed.
#[derive(Debug)]
pub enum Failure {
    /// Arguments that parse but do not fit together (exit 2, reported like clap's own).
    Usage {
        /// The subcommand whose usage line is shown.
        command: &'static str,
        /// What is wrong, without token text or key material.
        message: String,
    },
    /// A file or stream that cannot be read or written (exit 2, a plain line).
    Io(String),
    /// `scan` found live tokens (exit 1; the findings are already printed).
    Found,
    /// The token service or the approval rules refused (exit 1, `{"error","message"}`
    /// with the service's OAuth-style code).
    Refused {
        /// The code (`insufficient_scope`, `not_found`, `already_decided`, ...).
        error: String,
        /// What was refused, never a token.
        message: String,
    },
    /// An error from the core (exit 1, `{"error":"<code>","message":"..."}`).
    Core {
        /// The core's error, whose code is printed unchanged.
        error: tasktoken::Error,
        /// Which input it concerns (e.g. `--jwks 'keys.json'`), prefixed to the message.
        context: Option<String>,
    },
}

impl Failure {
    /// A core error about one named input, e.g. `--key 'issuer.jwk'`.
    pub fn core_in(context: String) -> impl FnOnce(tasktoken::Error) -> Failure {
        move |error| Failure::Core { error, context: Some(context) }
    }

    /// Prints the failure on stderr in its format and returns its exit status.
    pub fn report(self) -> ExitCode {
        match self {
            Failure::Usage { command, message } => {
                let mut cli = crate::Cli::command();
                cli.build();
                let error = match cli.find_subcommand_mut(command) {
                    Some(sub) => sub.error(clap::error::ErrorKind::ArgumentConflict, message),
                    None => cli.error(clap::error::ErrorKind::ArgumentConflict, message),
                };
                // Nothing sensible is left to do if stderr itself is gone.
                let _ = error.print();
                ExitCode::from(EXIT_USAGE)
            }
            Failure::Found => ExitCode::from(EXIT_REJECTED),
            Failure::Refused { error, message } => {
                stderr_line(&serde_json::json!({ "error": error, "message": message }).to_string());
                ExitCode::from(EXIT_REJECTED)
            }
            Failure::Io(message) => {
                stderr_line(&format!("tasktoken: {message}"));
                ExitCode::from(EXIT_USAGE)
            }
            Failure::Core { error, context } => {
                stderr_line(&error_json(&error, context.as_deref()));
                ExitCode::from(EXIT_REJECTED)
            }
        }
    }
}

impl From<tasktoken::Error> for Failure {
    fn from(error: tasktoken::Error) -> Self {
        Failure::Core { error, context: None }
    }
}

/// The one-line error JSON of DESIGN.md; `json!` does the escaping.
fn error_json(error: &tasktoken::Error, context: Option<&str>) -> String {
    let message = match context {
        Some(context) => format!("{context}: {}", error.message()),
        None => error.message().to_owned(),
    };
    serde_json::json!({ "error": error.code(), "message": message }).to_string()
}

/// Writes one line on stderr, ignoring failure (there is nowhere left to report it).
pub fn stderr_line(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_json_escapes_and_keeps_the_code() {
        let error = tasktoken::Error::new(tasktoken::ErrorKind::Malformed, "a \"quoted\" `kid`");
        let line = error_json(&error, Some("--jwks 'a\\b.json'"));
        let value: serde_json::Value = serde_json::from_str(&line).expect("valid JSON");
        assert_eq!(value["error"], "malformed");
        assert_eq!(value["message"], "--jwks 'a\\b.json': a \"quoted\" `kid`");
        assert!(!line.contains('\n'));
    }
}
