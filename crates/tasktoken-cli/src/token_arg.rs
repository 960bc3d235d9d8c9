//! The TOKEN argument: a literal token, or `-` to read it from stdin.

use std::io::Read as _;

use zeroize::Zeroizing;

use crate::failure::Failure;

/// Most bytes read from stdin; the core refuses tokens over 8 KiB in any case.
const MAX_STDIN: usize = 64 * 1024;

/// The token text: `arg` as it is, or, for `-`, stdin with surrounding ASCII whitespace
/// trimmed. Too long, non-UTF-8 or empty stdin is `malformed`.
pub fn read_token(arg: &str) -> Result<Zeroizing<String>, Failure> {
    if arg != "-" {
        return Ok(Zeroizing::new(arg.to_owned()));
    }
    let mut bytes = Zeroizing::new(Vec::with_capacity(8 * 1024));
    std::io::stdin()
        .lock()
        .take(MAX_STDIN as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::Io(format!("cannot read the token from stdin: {e}")))?;
    token_from_stdin(&bytes).map_err(Failure::from)
}

fn token_from_stdin(bytes: &[u8]) -> Result<Zeroizing<String>, tasktoken::Error> {
    if bytes.len() > MAX_STDIN {
        return Err(malformed("stdin holds more than 64 KiB; a token is at most 8 KiB"));
    }
    let text = std::str::from_utf8(bytes.trim_ascii())
        .map_err(|_| malformed("stdin is not UTF-8 text"))?;
    if text.is_empty() {
        return Err(malformed("no token on stdin"));
    }
    Ok(Zeroizing::new(text.to_owned()))
}

fn malformed(message: &'static str) -> tasktoken::Error {
    tasktoken::Error::new(tasktoken::ErrorKind::Malformed, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdin_is_trimmed_and_bounded() {
        let ok = token_from_stdin(b" \r\n a.b.c\n\n").expect("token");
        assert_eq!(ok.as_str(), "a.b.c");
        let code = |bytes: &[u8]| token_from_stdin(bytes).map(|_| ()).map_err(|e| e.code());
        assert_eq!(code(b""), Err("malformed"));
        assert_eq!(code(b" \n\t"), Err("malformed"));
        assert_eq!(code(b"\xff.b.c"), Err("malformed"));
        assert_eq!(code(&vec![b'a'; MAX_STDIN + 1]), Err("malformed"));
        assert_eq!(code(&vec![b'a'; MAX_STDIN]), Ok(()));
    }
}
