//! `tasktoken mint`: one token for one task, signed with a private JWK file.

use std::path::PathBuf;

use clap::Args;
use serde_json::{Map, Value};
use tasktoken::{Issuer, SigningKey};

use crate::audit_log::AuditLogArg;
use crate::duration::parse_duration;
use crate::failure::{stderr_line, Failure};
use crate::files::read_secret;
use crate::grant_args::GrantArgs;
use crate::output::stdout_line;

/// Mints a task token and prints it on stdout.
///
/// The issuer refuses what least privilege forbids unless told otherwise: a --ttl over
/// --max-ttl (`lifetime_too_long`), a bare `*` resource or more actions than --max-actions
/// (`invalid_claim`). Each token gets a fresh random `jti`.
#[derive(Debug, Args)]
pub struct MintArgs {
    #[command(flatten)]
    audit: AuditLogArg,

    /// Private JWK file written by `tasktoken keygen`.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,

    /// Issuer name (`iss`), e.g. https://auth.example.
    #[arg(long, value_name = "ISSUER")]
    iss: String,

    #[command(flatten)]
    grant: GrantArgs,

    /// Not before (`nbf`), seconds since the Unix epoch; defaults to the issue time.
    #[arg(long, value_name = "UNIX")]
    nbf: Option<i64>,

    /// Longest --ttl this issuer accepts [default: 15m].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, allow_hyphen_values = true)]
    max_ttl: Option<u32>,

    /// Largest number of actions in --scope [default: 4].
    #[arg(long, value_name = "N")]
    max_actions: Option<usize>,

    /// DANGER: allow a bare `*` resource and more actions than --max-actions.
    #[arg(long)]
    allow_broad_scope: bool,

    /// Largest --dlg this issuer mints, at most 4 [default: 1].
    #[arg(long, value_name = "N")]
    max_dlg: Option<u32>,

    /// Extra claim; VALUE is parsed as JSON, and taken as a string if it is not valid JSON
    /// (ticket=OPS-12 is "OPS-12", n=3 is 3, ctx='{"env":"prod"}' is an object). Repeat
    /// for several; names must differ and may not be v1 claim names.
    #[arg(long = "claim", value_name = "NAME=VALUE", value_parser = parse_claim)]
    claims: Vec<(String, Value)>,
}

/// Runs `tasktoken mint`.
pub fn run(args: &MintArgs) -> Result<(), Failure> {
    let extra = extra_claims(&args.claims)?;
    let key_context = format!("--key '{}'", args.key.display());
    let jwk = read_secret(&args.key, "--key")?;
    let key = SigningKey::from_jwk(&jwk.text).map_err(Failure::core_in(key_context))?;
    drop(jwk.text);
    let mut issuer = Issuer::new(&args.iss, key)?.allow_broad_scope(args.allow_broad_scope);
    if let Some(seconds) = args.max_ttl {
        issuer = issuer.max_ttl(seconds).map_err(Failure::core_in("--max-ttl".into()))?;
    }
    if let Some(count) = args.max_actions {
        issuer = issuer.max_actions(count);
    }
    if let Some(depth) = args.max_dlg {
        issuer = issuer.max_delegation(depth).map_err(Failure::core_in("--max-dlg".into()))?;
    }
    if let Some(sink) = args.audit.sink()? {
        issuer = issuer.with_audit(sink);
    }
    let mut request = args.grant.mint_request().with_extra(extra);
    request.nbf = args.nbf;
    let token = issuer.mint(&request)?;
    // Only now: on failure stderr holds nothing but the error JSON.
    if let Some(warning) = jwk.warning {
        stderr_line(&warning);
    }
    stdout_line(&token)
}

/// The --claim values as a claims object; a name given twice is a usage error.
fn extra_claims(claims: &[(String, Value)]) -> Result<Map<String, Value>, Failure> {
    let mut extra = Map::new();
    for (name, value) in claims {
        if extra.insert(name.clone(), value.clone()).is_some() {
            return Err(Failure::Usage {
                command: "mint",
                message: format!("--claim '{name}' is given more than once"),
            });
        }
    }
    Ok(extra)
}

/// Parses `NAME=VALUE`: VALUE as JSON, or as a string when it is not valid JSON.
fn parse_claim(text: &str) -> Result<(String, Value), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or("expected NAME=VALUE, e.g. ticket=OPS-12 or ctx='{\"env\":\"prod\"}'")?;
    if name.is_empty() {
        return Err("the claim name before `=` is empty".into());
    }
    let value = serde_json::from_str(value).unwrap_or_else(|_| Value::from(value));
    Ok((name.to_owned(), value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claim_values_are_json_or_strings() {
        let claim = |text: &str| parse_claim(text).expect(text);
        assert_eq!(claim("n=3"), ("n".into(), json!(3)));
        assert_eq!(claim("ok=true"), ("ok".into(), json!(true)));
        assert_eq!(claim(r#"ctx={"env":"prod"}"#), ("ctx".into(), json!({"env": "prod"})));
        assert_eq!(claim(r#"q="a=b""#), ("q".into(), json!("a=b")));
        assert_eq!(claim("ticket=OPS-12"), ("ticket".into(), json!("OPS-12")));
        assert_eq!(claim("eq=a=b"), ("eq".into(), json!("a=b")));
        assert_eq!(claim("zero=007"), ("zero".into(), json!("007")));
        assert_eq!(claim("empty="), ("empty".into(), json!("")));
        assert!(parse_claim("novalue").is_err());
        assert!(parse_claim("=3").is_err());
    }

    #[test]
    fn a_claim_name_twice_is_a_usage_error() {
        let twice = [("a".to_owned(), json!(1)), ("a".to_owned(), json!(2))];
        assert!(matches!(extra_claims(&twice), Err(Failure::Usage { .. })));
        let once = [("a".to_owned(), json!(1)), ("b".to_owned(), json!(2))];
        assert_eq!(extra_claims(&once).map(|m| m.len()).ok(), Some(2));
    }
}
