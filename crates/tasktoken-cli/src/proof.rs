//! `tasktoken proof`: DPoP proof keys and proofs (RFC 9449), for clients and tests.

use std::path::PathBuf;

use clap::Args;
use serde_json::{Map, Value};
use tasktoken::ProofSigningKey;

use crate::clock::unix_now;
use crate::failure::{stderr_line, Failure};
use crate::files::{read_secret, write_private};
use crate::output::{compact_object, stdout_line};
use crate::token_arg::read_token;

/// Creates a DPoP proof for one request, or a proof key (--generate).
///
/// With --generate, a new proof key (Ed25519, or P-256 with --alg ES256) is written as a
/// private JWK to --out (mode 0600), and `{"publicJwk":...,"jkt":"..."}` is printed: `jkt`
/// is what a token bound to it carries in `cnf.jkt` (`tasktoken mint --cnf-jkt`).
///
/// Otherwise a fresh proof signed by --key, for --method on --url (query and fragment left
/// out of `htu`), issued now with a random `jti`, is printed; with a TOKEN (or `-` for
/// stdin) it carries the token's hash (`ath`). Send it as the `DPoP` header with
/// `Authorization: DPoP <token>`, or check it with `tasktoken verify --proof`.
#[derive(Debug, Args)]
pub struct ProofArgs {
    /// Make a new proof key instead of a proof.
    #[arg(long, requires = "out", conflicts_with_all = ["key", "method", "url", "token"])]
    generate: bool,

    /// The new key's algorithm: EdDSA or ES256 [default: EdDSA].
    #[arg(long, value_name = "ALG", requires = "generate")]
    alg: Option<String>,

    /// File to write the new private JWK to (mode 0600).
    #[arg(long, value_name = "FILE", requires = "generate")]
    out: Option<PathBuf>,

    /// Replace --out if it exists.
    #[arg(long, requires = "generate")]
    force: bool,

    /// The private proof key (a JWK file from `--generate` or any DPoP client).
    #[arg(long, value_name = "FILE", required_unless_present = "generate")]
    key: Option<PathBuf>,

    /// The HTTP method of the request the proof is for.
    #[arg(long, value_name = "METHOD", required_unless_present = "generate")]
    method: Option<String>,

    /// The URL of the request the proof is for.
    #[arg(long, value_name = "URL", required_unless_present = "generate")]
    url: Option<String>,

    /// The server's `DPoP-Nonce`, if it asked for one.
    #[arg(long, value_name = "NONCE")]
    nonce: Option<String>,

    /// The token the proof goes with (`ath`), or `-` to read it from stdin.
    #[arg(value_name = "TOKEN")]
    token: Option<String>,
}

/// Runs `tasktoken proof`.
pub fn run(args: &ProofArgs) -> Result<(), Failure> {
    if args.generate {
        let key = ProofSigningKey::generate(args.alg.as_deref().unwrap_or("EdDSA"))?;
        let out = args.out.as_deref().ok_or_else(|| usage("--generate needs --out"))?;
        write_private(out, &key.private_jwk(), args.force)?;
        let public = Value::Object(key.public_jwk());
        return stdout_line(&compact_object(&[
            ("publicJwk", &public),
            ("jkt", &Value::from(key.thumbprint())),
        ]));
    }
    let (Some(path), Some(method), Some(url)) = (&args.key, &args.method, &args.url) else {
        return Err(usage("a proof needs --key, --method and --url"));
    };
    let secret = read_secret(path, "--key")?;
    let context = format!("--key '{}'", path.display());
    let jwk: Map<String, Value> = serde_json::from_str(&secret.text)
        .map_err(|_| Failure::core_in(context.clone())(malformed_key()))?;
    let key = ProofSigningKey::from_jwk_object(&jwk).map_err(Failure::core_in(context))?;
    let token = args.token.as_deref().map(read_token).transpose()?;
    let proof = key.proof(
        method,
        url,
        token.as_deref().map(|t| t.as_str()),
        args.nonce.as_deref(),
        unix_now(),
    )?;
    stdout_line(&proof)?;
    if let Some(warning) = secret.warning {
        stderr_line(&warning);
    }
    Ok(())
}

fn malformed_key() -> tasktoken::Error {
    tasktoken::Error::new(
        tasktoken::ErrorKind::Malformed,
        "the proof key file is not a JSON object",
    )
}

fn usage(message: &str) -> Failure {
    Failure::Usage { command: "proof", message: message.into() }
}
