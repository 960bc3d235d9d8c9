//! `tasktoken verify`: checks a token for one action on one resource, prints its claims.

use std::path::PathBuf;

use clap::Args;
use serde_json::Value;
use tasktoken::{
    Error, ErrorKind, KeySet, ProofReplayCache, ProofRequest, Request, Revocation, Verifier,
    VerifyContext, DEFAULT_REVOCATION_GRACE,
};

use crate::audit_log::AuditLogArg;
use crate::clock::unix_now;
use crate::duration::parse_duration;
use crate::failure::{stderr_line, Failure};
use crate::files::{read_text, MAX_JWKS_FILE};
use crate::output::stdout_line;
use crate::revocation_arg::load_filter;
use crate::token_arg::read_token;

/// Verifies a token and prints its claims as JSON on stdout (exit 0), or prints the error
/// JSON on stderr (exit 1).
///
/// Checks, in order: size, structure, header, key (by `kid` among all trusted keys),
/// signature, claim types, issuer, audience, time, lifetime, revocation (with --filter), key
/// binding, action, resource.
///
/// With --filter, the token's `jti` is looked up in a signed revocation snapshot (and the
/// --delta files after it): a hit is `revoked`; data past its `next_update` plus
/// --revocation-grace is `stale_revocation`. Revocation data names the issuer whose tokens it
/// governs and is verified with that issuer's --jwks keys (or --revocation-jwks); a token of
/// another issuer is `stale_revocation` (no data for it). Without --filter, revocation is not
/// checked.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    audit: AuditLogArg,

    /// JWKS file of a trusted issuer. Repeat together with --iss: the n-th --jwks holds the
    /// keys of the n-th --iss. For rotation, put the old and new key in one file.
    #[arg(long, value_name = "FILE", required = true)]
    jwks: Vec<PathBuf>,

    /// A trusted issuer name (`iss`), paired in order with --jwks.
    #[arg(long, value_name = "ISSUER", required = true)]
    iss: Vec<String>,

    /// This service's name; the token's `aud` must include it.
    #[arg(long, value_name = "SERVICE")]
    aud: String,

    /// The action about to be performed; must be in the token's `scope`, exactly.
    #[arg(long, value_name = "ACTION")]
    action: String,

    /// The resource about to be touched; must match one of the token's `res` patterns.
    #[arg(long, value_name = "RESOURCE")]
    resource: String,

    /// Longest accepted token lifetime (`exp - iat`) [default: 15m].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, allow_hyphen_values = true)]
    max_lifetime: Option<u32>,

    /// Tolerated clock difference for `nbf` and `exp` [default: 30s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, allow_hyphen_values = true)]
    clock_skew: Option<u32>,

    /// Verify as of this time, in seconds since the Unix epoch [default: the system clock].
    #[arg(long, value_name = "UNIX")]
    now: Option<i64>,

    /// RFC 7638 thumbprint of the key the caller proved it holds; required for a token
    /// bound with `cnf.jkt`, and must equal it.
    #[arg(long, value_name = "JKT")]
    key_thumbprint: Option<String>,

    /// A DPoP proof (RFC 9449) the request carried, from `tasktoken proof` or any DPoP
    /// client: checked for --method and --url, and the token must be bound to its key.
    #[arg(long, value_name = "PROOF", requires_all = ["method", "url"], conflicts_with = "key_thumbprint")]
    proof: Option<String>,

    /// The HTTP method of the request the --proof came with.
    #[arg(long, value_name = "METHOD", requires = "proof")]
    method: Option<String>,

    /// The URL of the request the --proof came with (query and fragment are ignored).
    #[arg(long, value_name = "URL", requires = "proof")]
    url: Option<String>,

    /// Accept only key-bound tokens (`cnf.jkt`); others are `binding_required`.
    #[arg(long)]
    require_binding: bool,

    /// Most links of a delegation chain (`ROOT~LINK...`) accepted [default: 4, the most];
    /// 0 refuses every chain (`delegation_denied`).
    #[arg(long, value_name = "N")]
    max_delegation_depth: Option<u32>,

    /// Revocation snapshot file (from `tasktoken filter build`), signed by a key of the
    /// --jwks paired with the --iss it names, or of --revocation-jwks.
    #[arg(long, value_name = "FILE")]
    filter: Option<PathBuf>,

    /// JWKS file of the keys that sign revocation data for the issuer --filter names, when
    /// they are not its token keys (an authority key that must not be able to mint)
    /// [default: that issuer's --jwks].
    #[arg(long, value_name = "FILE", requires = "filter")]
    revocation_jwks: Option<PathBuf>,

    /// Revocation delta file (from `tasktoken filter delta`) to apply on --filter; repeat
    /// to apply several, in order, each on the serial the one before it produced.
    #[arg(long, value_name = "FILE", requires = "filter")]
    delta: Vec<PathBuf>,

    /// How long after its `next_update` the revocation data is still used; after that
    /// verification fails with `stale_revocation` [default: 60s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, allow_hyphen_values = true)]
    #[arg(requires = "filter")]
    revocation_grace: Option<u32>,

    /// DANGER: accept tokens when the revocation data is stale instead of failing with
    /// `stale_revocation` (the stale data is still consulted); a warning goes to stderr.
    #[arg(long, requires = "filter")]
    fail_open_when_stale: bool,

    /// The token, or `-` to read it from stdin.
    #[arg(value_name = "TOKEN")]
    token: String,
}

/// Runs `tasktoken verify`.
pub fn run(args: &VerifyArgs) -> Result<(), Failure> {
    let verifier = verifier(args)?;
    let token = read_token(&args.token)?;
    let dpop = match (&args.proof, &args.method, &args.url) {
        (Some(proof), Some(method), Some(url)) => Some(ProofRequest::new(proof, method, url)),
        _ => None,
    };
    let mut request = Request::new(&args.action, &args.resource);
    request.key_thumbprint = args.key_thumbprint.as_deref();
    request.dpop = dpop;
    let now = args.now.unwrap_or_else(unix_now);
    // One verification per run: a proof is new to this cache by construction; a service
    // that verifies many requests keeps one store for all of them.
    let replay = ProofReplayCache::new(1);
    let Some(snapshot) = &args.filter else {
        let context = VerifyContext::new().with_proof_replay(&replay);
        let claims = verifier.verify_with(&token, &request, now, context)?;
        return stdout_line(&format!("{:#}", Value::Object(claims.into_map())));
    };
    let keys_for = |issuer: &str| match &args.revocation_jwks {
        Some(path) if args.iss.iter().any(|i| i == issuer) => read_jwks(path),
        _ => match args.iss.iter().position(|i| i == issuer) {
            Some(index) => read_jwks(&args.jwks[index]),
            None => Err(Error::new(
                ErrorKind::UntrustedIssuer,
                "the revocation data is for an issuer no --iss names",
            )
            .into()),
        },
    };
    let filter = load_filter(snapshot, "--filter", &args.delta, keys_for, now)?;
    let revocation = Revocation::new(Some(&filter))
        .with_grace(args.revocation_grace.unwrap_or(DEFAULT_REVOCATION_GRACE))
        .with_fail_open_when_stale(args.fail_open_when_stale);
    let context = VerifyContext::new().with_revocation(&revocation).with_proof_replay(&replay);
    let claims = verifier.verify_with(&token, &request, now, context)?;
    let stale = claims.stale_revocation_ignored();
    stdout_line(&format!("{:#}", Value::Object(claims.into_map())))?;
    if stale {
        let freshness = filter.freshness();
        stderr_line(&format!(
            "tasktoken: warning: the revocation data (serial {}) is stale: it was due for \
             update at {}; the token was accepted without a current revocation check \
             (--fail-open-when-stale)",
            freshness.serial, freshness.next_update
        ));
    }
    Ok(())
}

/// The verifier the arguments describe, trusting each --iss with its --jwks file.
fn verifier(args: &VerifyArgs) -> Result<Verifier, Failure> {
    if args.jwks.len() != args.iss.len() {
        return Err(Failure::Usage {
            command: "verify",
            message: format!(
                "--jwks and --iss pair up in order, but {} --jwks and {} --iss were given",
                args.jwks.len(),
                args.iss.len()
            ),
        });
    }
    let mut verifier = Verifier::new(&args.aud)?
        .require_binding(args.require_binding)
        .named(&format!("tasktoken-cli verify ({})", args.aud));
    if let Some(sink) = args.audit.sink()? {
        verifier = verifier.with_audit(sink);
    }
    if let Some(seconds) = args.max_lifetime {
        verifier =
            verifier.max_lifetime(seconds).map_err(Failure::core_in("--max-lifetime".into()))?;
    }
    if let Some(seconds) = args.clock_skew {
        verifier = verifier.clock_skew(seconds).map_err(Failure::core_in("--clock-skew".into()))?;
    }
    if let Some(links) = args.max_delegation_depth {
        verifier = verifier
            .max_delegation_depth(links)
            .map_err(Failure::core_in("--max-delegation-depth".into()))?;
    }
    for (path, iss) in args.jwks.iter().zip(&args.iss) {
        let context = format!("--jwks '{}'", path.display());
        verifier = verifier.trust(iss, &read_jwks(path)?).map_err(Failure::core_in(context))?;
    }
    Ok(verifier)
}

/// The keys of a JWKS file.
fn read_jwks(path: &std::path::Path) -> Result<KeySet, Failure> {
    let context = format!("--jwks '{}'", path.display());
    let text = read_text(path, "--jwks", MAX_JWKS_FILE)?;
    KeySet::from_jwks(&text).map_err(Failure::core_in(context))
}
