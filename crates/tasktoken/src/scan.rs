//! Finding task tokens in text that leaked — logs, tickets, chat dumps, source trees — by
//! their structure: a compact JWS whose header says `typ: tt+jwt` and `alg: EdDSA`. No I/O:
//! the caller feeds bytes in chunks of any size; memory stays bounded by the token size.

use alloc::string::String;
use alloc::vec::Vec;

use crate::token::{UnverifiedToken, MAX_TOKEN_LEN};

/// A task token found in the input. Only [`Scanner`] makes one (fields may be added).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FoundToken {
    /// The 1-based line it starts on.
    pub line: u64,
    /// The token text (rejoined if it was wrapped over several lines). Handle as a secret.
    pub token: String,
}

/// A streaming scanner. Feed it chunks; it reports every task token once.
///
/// A token wrapped over lines (mail, chat exports, terminals) is rejoined when a line ends
/// inside it after at least 40 token characters and the next line continues it (after
/// optional indentation and a `>` quote marker). JWTs of any other type are not reported.
#[derive(Debug, Default)]
pub struct Scanner {
    line: u64,
    /// The candidate being collected: its text and the line it started on.
    run: Vec<u8>,
    run_line: u64,
    /// The characters since the last line break inside the current run.
    since_break: usize,
    /// A line break was seen inside a run; deciding whether the next line continues it.
    after_break: Option<Vec<u8>>,
    /// The byte before the current position, for token boundaries.
    previous: u8,
}

/// Characters of base64url and the dots between the parts.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'
}

/// How many characters a line must carry inside a run before a line break may be a wrap.
const MIN_WRAPPED_LINE: usize = 40;

impl Scanner {
    /// A scanner at line 1.
    pub fn new() -> Self {
        Scanner { line: 1, ..Scanner::default() }
    }

    /// Scans the next chunk; found tokens are pushed to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<FoundToken>) {
        for &b in chunk {
            self.byte(b, out);
        }
    }

    /// Ends the input: a token at the very end is reported too.
    pub fn finish(&mut self, out: &mut Vec<FoundToken>) {
        self.after_break = None;
        self.end_run(out);
    }

    fn byte(&mut self, b: u8, out: &mut Vec<FoundToken>) {
        if let Some(gap) = self.after_break.as_mut() {
            // Between a line break inside a run and the continuation.
            if b == b' ' || b == b'\t' || b == b'>' || b == b'\r' {
                gap.push(b);
                return;
            }
            if is_token_byte(b) && b != b'.' {
                // The next line continues the token: drop the break and the indentation.
                self.after_break = None;
                self.since_break = 0;
            } else {
                self.after_break = None;
                self.end_run(out);
            }
        }
        if b == b'\n' {
            self.line += 1;
        }
        if !self.run.is_empty() {
            if is_token_byte(b) && self.run.len() <= MAX_TOKEN_LEN {
                self.run.push(b);
                self.since_break += 1;
            } else if b == b'\n' && self.since_break >= MIN_WRAPPED_LINE {
                self.after_break = Some(Vec::new());
            } else if b == b'\r' {
                // Wait for the `\n` of a CRLF before deciding.
            } else {
                self.end_run(out);
            }
        } else if b == b'e' && !is_token_byte(self.previous) {
            self.run.push(b);
            self.run_line = self.line;
            self.since_break = 1;
        }
        self.previous = b;
    }

    /// Checks the collected run (and, if it was rejoined, its shorter prefixes).
    fn end_run(&mut self, out: &mut Vec<FoundToken>) {
        let run = core::mem::take(&mut self.run);
        self.since_break = 0;
        if run.len() < 20 || !run.starts_with(b"eyJ") {
            return;
        }
        // A run is ASCII by construction.
        let text = String::from_utf8_lossy(&run);
        if let Some(token) = first_task_token(&text) {
            out.push(FoundToken { line: self.run_line, token });
        }
    }
}

/// The longest prefix of `text` (ending at a part boundary) that is a task token.
fn first_task_token(text: &str) -> Option<String> {
    if is_task_token(text) {
        return Some(text.into());
    }
    // A rejoined run may have swallowed the start of the next line: try shorter endings.
    let mut end = text.len();
    while end > 0 {
        end -= 1;
        if let Some(candidate) = text.get(..end) {
            if candidate.matches('.').count() == 2 && is_task_token(candidate) {
                return Some(candidate.into());
            }
        }
        if text.len() - end > 256 {
            break;
        }
    }
    None
}

/// True for a compact JWS whose header declares a task token (`typ` tt+jwt, `alg` EdDSA or
/// Ed25519). Says nothing about its signature.
pub fn is_task_token(text: &str) -> bool {
    text.matches('.').count() == 2
        && UnverifiedToken::parse(text).is_ok_and(|t| t.declares_task_token())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Issuer, MintRequest, SigningKey};

    fn token() -> String {
        let key = SigningKey::from_seed("s1", &[5u8; 32]).expect("kid");
        let issuer = Issuer::new("https://a", key).expect("issuer");
        let request = MintRequest {
            sub: "agent:x".into(),
            aud: alloc::vec!["crm".into()],
            task: "t".into(),
            scope: "r".into(),
            res: alloc::vec!["r/1".into()],
            ttl: 60,
            ..Default::default()
        };
        issuer.mint_at(&request, 1000).expect("mint")
    }

    fn scan(text: &str, chunk: usize) -> Vec<FoundToken> {
        let mut s = Scanner::new();
        let mut out = Vec::new();
        for c in text.as_bytes().chunks(chunk) {
            s.feed(c, &mut out);
        }
        s.finish(&mut out);
        out
    }

    #[test]
    fn finds_tokens_in_any_chunking_and_wrapping() {
        let t = token();
        let wrapped: String = t
            .as_bytes()
            .chunks(76)
            .map(|c| core::str::from_utf8(c).expect("ascii"))
            .collect::<Vec<_>>()
            .join("\n> ");
        let text = alloc::format!(
            "a log line\n{{\"auth\":\"Bearer {t}\"}}\nurl https://x/d#tt={t}&x=1\n> {wrapped}\nend"
        );
        for chunk in [1, 7, 64, 4096] {
            let found = scan(&text, chunk);
            assert_eq!(found.len(), 3, "chunk {chunk}");
            assert!(found.iter().all(|f| f.token == t));
            assert_eq!(found.iter().map(|f| f.line).collect::<Vec<_>>(), [2, 3, 4]);
        }
    }
}
