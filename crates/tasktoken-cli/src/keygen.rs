//! `tasktoken keygen`: a new Ed25519 key, private JWK to a 0600 file, public JWKS to stdout.

use std::path::PathBuf;

use clap::Args;
use tasktoken::{KeySet, SigningKey};

use crate::failure::Failure;
use crate::files::write_private;
use crate::output::stdout_line;

/// Generates an Ed25519 signing key.
///
/// The private JWK is written to --out, created with mode 0600; it never appears on
/// stdout. The public JWKS (`{"keys":[...]}`) is printed on stdout, ready to publish or to
/// pass to `tasktoken verify --jwks`. For key rotation, merge the `keys` arrays of the old
/// and the new key's JWKS into one file.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Key id (`kid`) written into the key and into every token it signs; 1 to 256 bytes,
    /// unique among all keys a verifier trusts.
    #[arg(long, value_name = "KID")]
    kid: String,

    /// File to write the private JWK to (mode 0600). Keep it secret.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,

    /// Replace --out if it exists (atomically, by renaming a new 0600 file over it).
    #[arg(long)]
    force: bool,
}

/// Runs `tasktoken keygen`.
pub fn run(args: &KeygenArgs) -> Result<(), Failure> {
    let key = SigningKey::generate(&args.kid)?;
    let jwks = KeySet::from_keys([key.public_key()])?.to_jwks();
    write_private(&args.out, &key.to_jwk(), args.force)?;
    stdout_line(&jwks)
}
