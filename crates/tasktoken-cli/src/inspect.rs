//! `tasktoken inspect`: decodes a token without verifying anything, for a human to read.

use clap::Args;
use serde_json::Value;
use tasktoken::UnverifiedToken;

use crate::failure::{stderr_line, Failure};
use crate::output::{pretty_object, stdout_line};
use crate::token_arg::read_token;

/// What the output says about itself, so that no one mistakes it for verified claims.
const WARNING: &str =
    "NOT VERIFIED: decoded only; the signature, issuer, audience and times were not checked";

/// Decodes a token WITHOUT verifying it and prints its header and claims as JSON.
///
/// Nothing shown can be trusted: the signature, issuer, audience and times are not
/// checked. Use `tasktoken verify` to decide whether to accept a token. Exits 1 with the
/// error JSON only if the token cannot be decoded at all (`malformed`).
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The token, or `-` to read it from stdin.
    #[arg(value_name = "TOKEN")]
    token: String,
}

/// Runs `tasktoken inspect`.
pub fn run(args: &InspectArgs) -> Result<(), Failure> {
    let token = read_token(&args.token)?;
    let parsed = UnverifiedToken::parse(&token)?;
    let header = Value::Object(parsed.header().clone());
    let claims = Value::Object(parsed.claims().clone());
    stderr_line("tasktoken: warning: the token was decoded but NOT verified; trust nothing in it");
    stdout_line(&pretty_object(&[
        ("verified", &Value::Bool(false)),
        ("warning", &Value::from(WARNING)),
        ("header", &header),
        ("claims", &claims),
    ]))
}
