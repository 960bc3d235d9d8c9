//! The service's configuration file (TOML), read into typed structs with
//! `deny_unknown_fields` and checked at start: a bad file is refused with the key and the
//! reason, before anything listens (docs/token-service.md has the reference).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use tasktoken::{ApprovalPolicy, Policy, SigningKey, MAX_CLOCK_SKEW};

use crate::duration::parse_duration;

/// The largest configuration file read: 1 MiB.
const MAX_CONFIG_FILE: u64 = 1 << 20;

/// A configuration that cannot be used: which key, and why (never a secret's value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The key (`policy[2].res`), or the file for errors about the whole file.
    pub key: String,
    /// Why it was refused.
    pub reason: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.reason)
    }
}

impl std::error::Error for ConfigError {}

fn refuse(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError { key: key.into(), reason: reason.into() }
}

/// A duration in the file: seconds (an integer) or text (`90s`, `5m`, `1h30m`).
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
enum Duration {
    Seconds(u32),
    Text(String),
}

impl Duration {
    fn seconds(&self, key: &str) -> Result<u32, ConfigError> {
        match self {
            Duration::Seconds(s) => Ok(*s),
            Duration::Text(t) => parse_duration(t).map_err(|reason| refuse(key, reason)),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    issuer: String,
    key: Option<PathBuf>,
    keys: Option<Vec<PathBuf>>,
    store: String,
    max_ttl: Option<Duration>,
    url: Option<String>,
    listen: Option<String>,
    clock_skew: Option<Duration>,
    max_actions: Option<usize>,
    publish_interval: Option<Duration>,
    revocation_valid_for: Option<Duration>,
    rotate_after: Option<Duration>,
    audit: Option<String>,
    approval_webhook: Option<String>,
    #[serde(default)]
    identity: Vec<RawIdentity>,
    #[serde(default)]
    policy: Vec<RawPolicy>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIdentity {
    name: String,
    issuer: String,
    jwks: String,
    audience: String,
    algorithms: Option<Vec<String>>,
    reuse: Option<bool>,
    jwks_cache: Option<Duration>,
    jwks_refresh_floor: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    name: String,
    identity: String,
    #[serde(default)]
    claims: BTreeMap<String, String>,
    sub: String,
    aud: Vec<String>,
    task: String,
    scope: Vec<String>,
    res: Vec<String>,
    max_ttl: Option<Duration>,
    dlg: Option<u32>,
    require_binding: Option<bool>,
    approval: Option<RawApproval>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApproval {
    approvers: Vec<String>,
    expires: Option<Duration>,
    interval: Option<Duration>,
    webhook: Option<String>,
}

/// The service's configuration, checked.
#[derive(Debug)]
pub struct Config {
    /// `iss` of every token minted.
    pub issuer: String,
    /// The public base URL: DPoP proofs to `POST /token` name `<url>/token`.
    pub url: String,
    /// The signing keys; the first signs, all are published.
    pub keys: Vec<SigningKey>,
    /// `sqlite:PATH` (the path made absolute) or `postgres://…`.
    pub store: String,
    /// The ceiling of every policy's `max_ttl`, in seconds.
    pub max_ttl: u32,
    /// Where to listen unless `--listen` says otherwise.
    pub listen: String,
    /// Clock skew allowed for identity tokens and DPoP proofs, in seconds.
    pub clock_skew: u32,
    /// The largest number of actions one minted token may carry.
    pub max_actions: usize,
    /// Seconds between two runs of the publisher (a revocation is published within it).
    pub publish_interval: u32,
    /// How long a publication stays current, in seconds.
    pub revocation_valid_for: u32,
    /// Seconds after which a new generation of the filter is started.
    pub rotate_after: u32,
    /// Where audit lines go: `stdout`, `stderr`, or a file (appended).
    pub audit: AuditTarget,
    /// The identity providers.
    pub identities: Vec<IdentityConfig>,
    /// The policies, in order.
    pub policies: Vec<Policy>,
    /// The policies that wait for a person's approval, by policy name.
    pub approvals: BTreeMap<String, ApprovalConfig>,
}

/// One policy's approval: the core's rule and where requests are announced.
#[derive(Clone, Debug)]
pub struct ApprovalConfig {
    /// Approvers, expiry and poll interval.
    pub rule: ApprovalPolicy,
    /// The URL new requests are POSTed to (the policy's `webhook`, else the global
    /// `approval_webhook`), if any.
    pub webhook: Option<String>,
}

/// Where audit lines go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuditTarget {
    /// Standard output, after the `listening` line.
    Stdout,
    /// Standard error.
    Stderr,
    /// A file, appended to.
    File(PathBuf),
}

/// One identity provider.
#[derive(Clone, Debug)]
pub struct IdentityConfig {
    /// Its name, which policies refer to.
    pub name: String,
    /// The `iss` its tokens carry.
    pub issuer: String,
    /// Where its keys are.
    pub jwks: JwksLocation,
    /// The `aud` its tokens must carry.
    pub audience: String,
    /// The signature algorithms accepted.
    pub algorithms: Vec<jsonwebtoken::Algorithm>,
    /// True if one subject token may be exchanged more than once.
    pub reuse: bool,
    /// How long fetched keys are used before they are fetched again, in seconds.
    pub jwks_cache: u32,
    /// The least time between two fetches, in seconds (an unknown `kid` asks for one).
    pub jwks_refresh_floor: u32,
}

/// Where an identity provider's JWKS comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JwksLocation {
    /// An `https://` URL, or an `http://` URL on a loopback address.
    Url(String),
    /// A file, read at start.
    File(PathBuf),
}

/// Defaults (docs/token-service.md).
const DEFAULT_MAX_TTL: u32 = 900;
const DEFAULT_LISTEN: &str = "127.0.0.1:8787";
const DEFAULT_PUBLISH_INTERVAL: u32 = 2;
const DEFAULT_ROTATE_AFTER: u32 = 3600;
const DEFAULT_JWKS_CACHE: u32 = 300;
const DEFAULT_JWKS_REFRESH_FLOOR: u32 = 30;
const DEFAULT_APPROVAL_EXPIRES: u32 = 1800;

/// The algorithms accepted for identity tokens: asymmetric only, never `none` or `HS*`.
const ALGORITHMS: [(&str, jsonwebtoken::Algorithm); 10] = {
    use jsonwebtoken::Algorithm::*;
    [
        ("RS256", RS256),
        ("RS384", RS384),
        ("RS512", RS512),
        ("PS256", PS256),
        ("PS384", PS384),
        ("PS512", PS512),
        ("ES256", ES256),
        ("ES384", ES384),
        ("EdDSA", EdDSA),
        ("Ed25519", EdDSA),
    ]
};

impl Config {
    /// Reads and checks the file at `path`. Relative paths in it are relative to its
    /// directory. Refuses unknown keys, missing ones, bad values, unreadable key files and
    /// policies that grant nothing or name an unknown identity provider.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|e| refuse(&file, e.to_string()))?;
        if meta.len() > MAX_CONFIG_FILE {
            return Err(refuse(&file, "the file is larger than 1 MiB"));
        }
        let text = std::fs::read_to_string(path).map_err(|e| refuse(&file, e.to_string()))?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Config::parse(&text, &base).map_err(|e| {
            if e.key.is_empty() {
                refuse(file, e.reason)
            } else {
                e
            }
        })
    }

    /// Checks the TOML text of a configuration whose relative paths are relative to `base`.
    pub fn parse(text: &str, base: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            // toml's message names the key and the line; keep its first line only.
            let message = e.message().lines().next().unwrap_or("invalid TOML").to_owned();
            let key = e.span().map_or(String::new(), |span| {
                let before = text.get(..span.start).unwrap_or(text);
                let line = before.lines().count().max(1);
                format!("line {line}")
            });
            refuse(key, message)
        })?;
        let relative = |p: &Path| if p.is_absolute() { p.to_path_buf() } else { base.join(p) };
        if raw.issuer.is_empty()
            || !(raw.issuer.starts_with("https://") || raw.issuer.starts_with("http://"))
        {
            return Err(refuse("issuer", "must be an http(s) URL"));
        }
        let url = raw.url.unwrap_or_else(|| raw.issuer.clone());
        if !(url.starts_with("https://") || url.starts_with("http://")) || url.contains(['?', '#'])
        {
            return Err(refuse("url", "must be an http(s) URL without query or fragment"));
        }
        let url = url.trim_end_matches('/').to_owned();
        let key_files = match (raw.key, raw.keys) {
            (Some(key), None) => vec![key],
            (None, Some(keys)) if !keys.is_empty() => keys,
            (None, Some(_)) => return Err(refuse("keys", "needs at least one key file")),
            (Some(_), Some(_)) => return Err(refuse("key", "give `key` or `keys`, not both")),
            (None, None) => return Err(refuse("key", "is missing (a private JWK file)")),
        };
        let mut keys = Vec::new();
        for (i, file) in key_files.iter().enumerate() {
            let name = if key_files.len() == 1 { "key".to_owned() } else { format!("keys[{i}]") };
            keys.push(read_key(&relative(file), &name)?);
        }
        for (i, key) in keys.iter().enumerate() {
            if keys[..i].iter().any(|k| k.kid() == key.kid()) {
                return Err(refuse(format!("keys[{i}]"), "two keys share one `kid`"));
            }
        }
        let store = match raw.store.strip_prefix("sqlite:") {
            Some(path) if !path.is_empty() => {
                format!("sqlite:{}", relative(Path::new(path)).display())
            }
            None if raw.store.starts_with("postgres://")
                || raw.store.starts_with("postgresql://") =>
            {
                raw.store
            }
            _ => return Err(refuse("store", "must be `sqlite:PATH` or `postgres://...`")),
        };
        let seconds = |d: &Option<Duration>, key: &str, default: u32, max: u32| {
            let s = d.as_ref().map_or(Ok(default), |d| d.seconds(key))?;
            if s == 0 || s > max {
                return Err(refuse(key, format!("must be 1 s to {max} s")));
            }
            Ok(s)
        };
        let max_ttl = seconds(&raw.max_ttl, "max_ttl", DEFAULT_MAX_TTL, 86_400)?;
        let clock_skew = match &raw.clock_skew {
            None => tasktoken::DEFAULT_CLOCK_SKEW,
            Some(d) => {
                let s = d.seconds("clock_skew")?;
                if s > MAX_CLOCK_SKEW {
                    return Err(refuse("clock_skew", "must be at most 300 s"));
                }
                s
            }
        };
        let max_actions = raw.max_actions.unwrap_or(tasktoken::DEFAULT_MAX_ACTIONS);
        if max_actions == 0 || max_actions > 64 {
            return Err(refuse("max_actions", "must be 1 to 64"));
        }
        let publish_interval =
            seconds(&raw.publish_interval, "publish_interval", DEFAULT_PUBLISH_INTERVAL, 60)?;
        let revocation_valid_for = seconds(
            &raw.revocation_valid_for,
            "revocation_valid_for",
            tasktoken::DEFAULT_VALID_FOR,
            tasktoken::MAX_VALID_FOR,
        )?;
        if revocation_valid_for < 4 * publish_interval {
            return Err(refuse(
                "revocation_valid_for",
                "must be at least four times `publish_interval`",
            ));
        }
        let rotate_after =
            seconds(&raw.rotate_after, "rotate_after", DEFAULT_ROTATE_AFTER, 86_400)?;
        let audit = match raw.audit.as_deref() {
            None | Some("stdout") => AuditTarget::Stdout,
            Some("stderr") => AuditTarget::Stderr,
            Some("") => return Err(refuse("audit", "is `stdout`, `stderr` or a file path")),
            Some(path) => AuditTarget::File(relative(Path::new(path))),
        };
        let mut identities = Vec::new();
        for (i, raw) in raw.identity.into_iter().enumerate() {
            let identity = identity(raw, i, &relative)?;
            if identities.iter().any(|p: &IdentityConfig| p.name == identity.name) {
                return Err(refuse(format!("identity[{i}].name"), "is used twice"));
            }
            identities.push(identity);
        }
        let approval_webhook = raw
            .approval_webhook
            .as_deref()
            .map(|url| checked_url(url, "approval_webhook"))
            .transpose()?;
        let mut policies = Vec::new();
        let mut approvals = BTreeMap::new();
        for (i, raw) in raw.policy.into_iter().enumerate() {
            let key = |field: &str| format!("policy[{i}].{field}");
            if !identities.iter().any(|p| p.name == raw.identity) {
                return Err(refuse(key("identity"), "names no `[[identity]]`"));
            }
            if policies.iter().any(|p: &Policy| p.name() == raw.name) {
                return Err(refuse(key("name"), "is used twice"));
            }
            // A provider such as GitHub Actions issues tokens to every workflow in the world
            // for any audience asked for: a policy must say whose tokens it takes.
            if raw.claims.is_empty() {
                return Err(refuse(
                    key("claims"),
                    "needs at least one claim to match (a policy without claims grants to every \
                     identity of its provider)",
                ));
            }
            if let Some(approval) = &raw.approval {
                let config = approval_config(approval, i, approval_webhook.as_deref())?;
                approvals.insert(raw.name.clone(), config);
            }
            policies.push(policy(raw, i, max_ttl)?);
        }
        Ok(Config {
            issuer: raw.issuer,
            url,
            keys,
            store,
            max_ttl,
            listen: raw.listen.unwrap_or_else(|| DEFAULT_LISTEN.to_owned()),
            clock_skew,
            max_actions,
            publish_interval,
            revocation_valid_for,
            rotate_after,
            audit,
            identities,
            policies,
            approvals,
        })
    }
}

fn read_key(path: &Path, key: &str) -> Result<SigningKey, ConfigError> {
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| refuse(key, format!("cannot read '{}': {e}", path.display())))?,
    );
    SigningKey::from_jwk(&text)
        .map_err(|e| refuse(key, format!("'{}': {}", path.display(), e.message())))
}

fn identity(
    raw: RawIdentity,
    i: usize,
    relative: &dyn Fn(&Path) -> PathBuf,
) -> Result<IdentityConfig, ConfigError> {
    let key = |field: &str| format!("identity[{i}].{field}");
    if raw.name.is_empty() {
        return Err(refuse(key("name"), "must not be empty"));
    }
    if raw.issuer.is_empty() {
        return Err(refuse(key("issuer"), "must not be empty"));
    }
    if raw.audience.is_empty() {
        return Err(refuse(key("audience"), "must not be empty"));
    }
    let jwks = if raw.jwks.contains("://") {
        JwksLocation::Url(checked_url(&raw.jwks, &key("jwks"))?)
    } else {
        JwksLocation::File(relative(Path::new(&raw.jwks)))
    };
    let names =
        raw.algorithms.unwrap_or_else(|| vec!["RS256".into(), "ES256".into(), "EdDSA".into()]);
    if names.is_empty() {
        return Err(refuse(key("algorithms"), "needs at least one algorithm"));
    }
    let mut algorithms = Vec::new();
    for name in &names {
        let Some((_, alg)) = ALGORITHMS.iter().find(|(n, _)| n == name) else {
            return Err(refuse(
                key("algorithms"),
                format!(
                    "`{}` is not accepted (RS256, RS384, RS512, PS256, PS384, PS512, ES256, \
                     ES384, EdDSA; never none or HS*)",
                    name.chars().take(16).collect::<String>()
                ),
            ));
        };
        if !algorithms.contains(alg) {
            algorithms.push(*alg);
        }
    }
    let secs = |d: &Option<Duration>, field: &str, default: u32| {
        let s = d.as_ref().map_or(Ok(default), |d| d.seconds(&key(field)))?;
        if s == 0 || s > 86_400 {
            return Err(refuse(key(field), "must be 1 s to one day"));
        }
        Ok(s)
    };
    Ok(IdentityConfig {
        jwks_cache: secs(&raw.jwks_cache, "jwks_cache", DEFAULT_JWKS_CACHE)?,
        jwks_refresh_floor: secs(
            &raw.jwks_refresh_floor,
            "jwks_refresh_floor",
            DEFAULT_JWKS_REFRESH_FLOOR,
        )?,
        name: raw.name,
        issuer: raw.issuer,
        jwks,
        audience: raw.audience,
        algorithms,
        reuse: raw.reuse.unwrap_or(false),
    })
}

/// An http(s) URL the service fetches or posts to, parsed as the HTTP client will parse it
/// (so the host checked is the host reached: `http://evil\\@127.0.0.1/` is evil's):
/// `https://`, or `http://` on a loopback address; no credentials.
fn checked_url(text: &str, key: &str) -> Result<String, ConfigError> {
    let url = url::Url::parse(text).map_err(|_| refuse(key, "is not a valid URL"))?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name == "localhost",
        None => false,
    };
    match url.scheme() {
        "https" if url.host().is_some() => {}
        "http" if loopback => {}
        "http" => {
            return Err(refuse(key, "an http:// URL must be on a loopback address; use https://"))
        }
        _ => return Err(refuse(key, "must be an http(s) URL")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse(key, "must not carry credentials"));
    }
    Ok(url.to_string())
}

/// A policy's `approval = { approvers, expires, interval, webhook }`, checked.
fn approval_config(
    raw: &RawApproval,
    i: usize,
    global_webhook: Option<&str>,
) -> Result<ApprovalConfig, ConfigError> {
    let key = |field: &str| format!("policy[{i}].approval.{field}");
    let expires = match &raw.expires {
        None => DEFAULT_APPROVAL_EXPIRES,
        Some(d) => d.seconds(&key("expires"))?,
    };
    if expires == 0 || expires > tasktoken::MAX_APPROVAL_EXPIRES {
        return Err(refuse(key("expires"), "must be 1 s to 24 h"));
    }
    if raw.approvers.is_empty() {
        return Err(refuse(key("approvers"), "needs at least one approver (a `sub`)"));
    }
    let mut rule = ApprovalPolicy::new(raw.approvers.iter().map(String::as_str), expires)
        .map_err(|e| refuse(key("approvers"), e.message().to_owned()))?;
    if let Some(interval) = &raw.interval {
        rule = rule
            .interval(interval.seconds(&key("interval"))?)
            .map_err(|e| refuse(key("interval"), e.message().to_owned()))?;
    }
    let webhook = match &raw.webhook {
        Some(url) => Some(checked_url(url, &key("webhook"))?),
        None => global_webhook.map(str::to_owned),
    };
    Ok(ApprovalConfig { rule, webhook })
}

fn policy(raw: RawPolicy, i: usize, ceiling: u32) -> Result<Policy, ConfigError> {
    let key = |field: &str| format!("policy[{i}].{field}");
    let why = |field: &str| {
        let key = key(field);
        move |e: tasktoken::Error| refuse(key, e.message().to_owned())
    };
    let mut policy = Policy::new(&raw.name, &raw.identity).map_err(why("name"))?;
    for (name, pattern) in &raw.claims {
        policy = policy.claim(name, pattern).map_err(why(&format!("claims.{name}")))?;
    }
    policy = policy.subject(&raw.sub).map_err(why("sub"))?;
    policy = policy.audiences(raw.aud.iter().map(String::as_str)).map_err(why("aud"))?;
    policy = policy.task(&raw.task).map_err(why("task"))?;
    policy = policy.scope(raw.scope.iter().map(String::as_str)).map_err(why("scope"))?;
    policy = policy.resources(raw.res.iter().map(String::as_str)).map_err(why("res"))?;
    if let Some(max_ttl) = &raw.max_ttl {
        let seconds = max_ttl.seconds(&key("max_ttl"))?;
        if seconds > ceiling {
            return Err(refuse(key("max_ttl"), "is above the service's `max_ttl`"));
        }
        policy = policy.max_ttl(seconds).map_err(why("max_ttl"))?;
    } else {
        policy = policy.max_ttl(ceiling).map_err(why("max_ttl"))?;
    }
    policy = policy.dlg(raw.dlg.unwrap_or(0)).map_err(why("dlg"))?;
    policy = policy.require_binding(raw.require_binding.unwrap_or(false));
    policy.check().map_err(why("name"))?;
    Ok(policy)
}

#[cfg(test)]
mod tests;
