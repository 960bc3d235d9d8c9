//! The issuer: mints v1 tokens, refusing grants broader or longer than its policy allows.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use serde_json::{Map, Value};

use crate::audit::{AuditEvent, AuditHook, AuditKind, AuditSink};
use crate::claims::{is_jkt, REGISTERED};
use crate::encoding::b64_encode;
use crate::error::{malformed, Error, ErrorKind};
use crate::keys::SigningKey;
use crate::policy::{is_mintable_pattern, is_scope};
use crate::token::MAX_TOKEN_LEN;
use alloc::sync::Arc;

/// Default longest TTL an issuer mints, in seconds (15 minutes).
pub const DEFAULT_MAX_TTL: u32 = 900;
/// Default largest number of actions in one token's `scope`.
pub const DEFAULT_MAX_ACTIONS: usize = 4;
/// Default largest delegation depth (`dlg`) an issuer mints: one hand-off to a sub-agent.
/// Deeper chains need the issuer's explicit [`Issuer::max_delegation`].
pub const DEFAULT_MAX_DELEGATION: u32 = 1;

/// What one task needs: who, for which service, which segment, which actions on what, and
/// for how long.
///
/// Built with [`MintRequest::new`] and the `with_*` methods (fields may be added). Nothing
/// is checked here: [`Issuer::mint`] refuses what it may not sign.
///
/// ```
/// use tasktoken::MintRequest;
///
/// let request = MintRequest::new("agent:lookup-bot", "lookup-4821")
///     .with_aud(["crm-api"])
///     .with_scope("customers:read")
///     .with_res(["customers/4821"])
///     .with_ttl(60);
/// assert_eq!(request.aud, ["crm-api"]);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct MintRequest {
    /// The non-human identity (`sub`), e.g. `agent:lookup-bot`.
    pub sub: String,
    /// The service(s) that may accept the token (`aud`); one is written as a string.
    pub aud: Vec<String>,
    /// The workflow segment (`task`), e.g. `deploy-8812/stage:deploy`.
    pub task: String,
    /// The actions, space-separated (`scope`), e.g. `artifacts:read`.
    pub scope: String,
    /// The resource patterns (`res`), e.g. `customers/4821` or `artifacts/web/*`.
    pub res: Vec<String>,
    /// Lifetime in seconds; `exp = iat + ttl`.
    pub ttl: u32,
    /// Optional start (`nbf`), seconds since the epoch; defaults to `iat`.
    pub nbf: Option<i64>,
    /// Optional key binding: the RFC 7638 thumbprint written as `cnf.jkt`.
    pub cnf_jkt: Option<String>,
    /// How many delegation links the holder may add (`dlg`; 0, the default: none). Needs
    /// `cnf_jkt`: only the holder of the bound key can sign a link.
    pub dlg: u32,
    /// Additional claims, copied as they are; they may not reuse a v1 claim name.
    pub extra: Map<String, Value>,
}

impl MintRequest {
    /// A request for identity `sub` and task `task`, with no audience, actions or resources
    /// and a lifetime of 0 yet: set them with the `with_*` methods (the issuer refuses a
    /// request without them).
    pub fn new(sub: impl Into<String>, task: impl Into<String>) -> Self {
        MintRequest { sub: sub.into(), task: task.into(), ..MintRequest::default() }
    }

    /// The service(s) that may accept the token (`aud`).
    pub fn with_aud<S: Into<String>>(mut self, aud: impl IntoIterator<Item = S>) -> Self {
        self.aud = aud.into_iter().map(Into::into).collect();
        self
    }

    /// The actions, space-separated (`scope`).
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = scope.into();
        self
    }

    /// The resource patterns (`res`).
    pub fn with_res<S: Into<String>>(mut self, res: impl IntoIterator<Item = S>) -> Self {
        self.res = res.into_iter().map(Into::into).collect();
        self
    }

    /// The lifetime in seconds; `exp = iat + ttl`.
    pub fn with_ttl(mut self, seconds: u32) -> Self {
        self.ttl = seconds;
        self
    }

    /// The start (`nbf`), seconds since the epoch (default: `iat`).
    pub fn with_nbf(mut self, nbf: i64) -> Self {
        self.nbf = Some(nbf);
        self
    }

    /// Binds the token to the key with this RFC 7638 thumbprint (`cnf.jkt`).
    pub fn with_cnf_jkt(mut self, thumbprint: impl Into<String>) -> Self {
        self.cnf_jkt = Some(thumbprint.into());
        self
    }

    /// How many delegation links the holder may add (`dlg`); needs a binding.
    pub fn with_dlg(mut self, dlg: u32) -> Self {
        self.dlg = dlg;
        self
    }

    /// Additional claims, copied as they are (the issuer refuses a v1 claim name).
    pub fn with_extra(mut self, extra: Map<String, Value>) -> Self {
        self.extra = extra;
        self
    }
}

/// Mints task tokens for one issuer (`iss`) with one signing key.
#[derive(Clone, Debug)]
pub struct Issuer {
    iss: String,
    key: SigningKey,
    /// `{"alg":"EdDSA","typ":"tt+jwt","kid":...}`, encoded once.
    header_b64: String,
    max_ttl: u32,
    max_actions: usize,
    max_delegation: u32,
    allow_broad_scope: bool,
    audit: Option<AuditHook>,
}

impl Issuer {
    /// An issuer named `iss` signing with `key`. Rejects an empty `iss` (`malformed`).
    pub fn new(iss: &str, key: SigningKey) -> Result<Self, Error> {
        if iss.is_empty() {
            return Err(malformed("issuer name is empty"));
        }
        let header = serde_json::json!({ "alg": "EdDSA", "typ": "tt+jwt", "kid": key.kid() });
        Ok(Issuer {
            iss: iss.into(),
            header_b64: b64_encode(header.to_string().as_bytes()),
            key,
            max_ttl: DEFAULT_MAX_TTL,
            max_actions: DEFAULT_MAX_ACTIONS,
            max_delegation: DEFAULT_MAX_DELEGATION,
            allow_broad_scope: false,
            audit: None,
        })
    }

    /// Sets the longest TTL this issuer mints, in seconds (default 900).
    ///
    /// Rejects more than [`crate::MAX_LIFETIME_LIMIT`] (one day) as `malformed`: no
    /// verifier would accept such a token.
    pub fn max_ttl(mut self, seconds: u32) -> Result<Self, Error> {
        if seconds > crate::verifier::MAX_LIFETIME_LIMIT {
            return Err(malformed("maximum TTL is over one day (86400 s)"));
        }
        self.max_ttl = seconds;
        Ok(self)
    }

    /// Sets the largest number of actions one token may carry (default 4).
    pub fn max_actions(mut self, count: usize) -> Self {
        self.max_actions = count;
        self
    }

    /// Sets the largest `dlg` this issuer mints (default [`DEFAULT_MAX_DELEGATION`], 1; 0
    /// refuses every delegable token).
    ///
    /// Rejects more than [`crate::MAX_DELEGATION_DEPTH`] (4) as `malformed`.
    pub fn max_delegation(mut self, depth: u32) -> Result<Self, Error> {
        if depth > crate::delegation::MAX_DELEGATION_DEPTH {
            return Err(malformed("a delegation depth is at most 4"));
        }
        self.max_delegation = depth;
        Ok(self)
    }

    /// Allows what least privilege forbids by default: a bare `*` resource and more actions
    /// than [`Issuer::max_actions`]. Named so that a reviewer sees it.
    pub fn allow_broad_scope(mut self, allow: bool) -> Self {
        self.allow_broad_scope = allow;
        self
    }

    /// Records every mint (and every refusal) to `sink`; `decided_by` is the issuer name.
    pub fn with_audit(mut self, sink: Arc<dyn AuditSink + Send + Sync>) -> Self {
        self.audit = Some(AuditHook { sink });
        self
    }

    /// Mints like [`Issuer::mint_at`] and records the decision to `sink` as well.
    pub fn mint_audited_at(
        &self,
        request: &MintRequest,
        now: i64,
        sink: &dyn AuditSink,
    ) -> Result<String, Error> {
        let jti = random_jti()?;
        self.decide(request, now, &jti, Some(sink))
    }

    /// The issuer name (`iss`).
    pub fn iss(&self) -> &str {
        &self.iss
    }

    /// Mints a token for `request` at the current system time.
    #[cfg(all(feature = "std", not(all(target_arch = "wasm32", target_os = "unknown"))))]
    pub fn mint(&self, request: &MintRequest) -> Result<String, Error> {
        self.mint_at(request, crate::unix_now())
    }

    /// Mints a token for `request` issued at `now` with a fresh random 128-bit `jti`.
    ///
    /// Refuses a TTL of 0 or above the maximum (`lifetime_too_long`); an empty `sub`,
    /// `aud` or `task`; a `scope` that is not actions separated by single spaces, or with
    /// more actions than allowed; an empty `res`, a bare `*` resource unless broad scope is
    /// allowed, or a pattern with an empty, `.`, `..` or encoded segment or a `*` that is
    /// not the whole last segment; a `cnf_jkt` that is not a SHA-256 thumbprint; an extra
    /// claim that reuses a v1 name; a token that would exceed 8 KiB (`invalid_claim`).
    pub fn mint_at(&self, request: &MintRequest, now: i64) -> Result<String, Error> {
        let jti = random_jti()?;
        self.decide(request, now, &jti, None)
    }

    /// Mints with `jti` and, when anyone listens, records the decision.
    pub(crate) fn decide(
        &self,
        request: &MintRequest,
        now: i64,
        jti: &str,
        sink: Option<&dyn AuditSink>,
    ) -> Result<String, Error> {
        let result = self.mint_with_jti(request, now, jti);
        if sink.is_some() || self.audit.is_some() {
            let outcome = result.as_ref().map_or_else(Error::code, |_| "ok");
            let mut event = AuditEvent::new(AuditKind::Mint, now, outcome, &self.iss);
            event.issuer = Some(self.iss.clone());
            event.kid = Some(self.key.kid().into());
            event.sub = Some(request.sub.clone());
            event.task = Some(request.task.clone());
            // A refused request got no token, so no jti.
            event.jti = result.is_ok().then(|| jti.into());
            event.action = Some(request.scope.clone());
            event.resource = Some(request.res.join(" "));
            if let Some(sink) = sink {
                sink.record(&event);
            }
            if let Some(hook) = &self.audit {
                hook.sink.record(&event);
            }
        }
        result
    }

    /// Mints with a given `jti`; only [`crate::__private`] exposes it, for fixed vectors.
    pub(crate) fn mint_with_jti(
        &self,
        request: &MintRequest,
        now: i64,
        jti: &str,
    ) -> Result<String, Error> {
        self.check(request)?;
        let mut claims = request.extra.clone();
        let aud = match request.aud.as_slice() {
            [one] => Value::from(one.as_str()),
            many => Value::from(many.to_vec()),
        };
        let exp = now.saturating_add(i64::from(request.ttl));
        let registered = [
            ("iss", Value::from(self.iss.as_str())),
            ("sub", Value::from(request.sub.as_str())),
            ("aud", aud),
            ("iat", Value::from(now)),
            ("exp", Value::from(exp)),
            ("jti", Value::from(jti)),
            ("task", Value::from(request.task.as_str())),
            ("scope", Value::from(request.scope.as_str())),
            ("res", Value::from(request.res.to_vec())),
        ];
        claims.extend(registered.into_iter().map(|(k, v)| (String::from(k), v)));
        if let Some(nbf) = request.nbf {
            claims.insert("nbf".into(), Value::from(nbf));
        }
        if let Some(jkt) = &request.cnf_jkt {
            claims.insert("cnf".into(), serde_json::json!({ "jkt": jkt }));
        }
        if request.dlg > 0 {
            claims.insert("dlg".into(), Value::from(request.dlg));
        }
        let payload = b64_encode(Value::Object(claims).to_string().as_bytes());
        let signing_input = format!("{}.{}", self.header_b64, payload);
        let signature = b64_encode(&self.key.sign(signing_input.as_bytes()));
        let token = format!("{signing_input}.{signature}");
        if token.len() > MAX_TOKEN_LEN {
            return Err(refuse("the token would be longer than 8 KiB; carry less in extra claims"));
        }
        Ok(token)
    }

    fn check(&self, request: &MintRequest) -> Result<(), Error> {
        if request.ttl == 0 || request.ttl > self.max_ttl {
            return Err(Error::new(
                ErrorKind::LifetimeTooLong,
                format!(
                    "ttl must be 1 to {} s, this issuer's maximum; a task token lives \
                     as long as its task, not longer",
                    self.max_ttl
                ),
            ));
        }
        if request.sub.is_empty() || request.task.is_empty() {
            return Err(refuse("`sub` and `task` must not be empty"));
        }
        if request.aud.is_empty() || request.aud.iter().any(String::is_empty) {
            return Err(refuse("`aud` must name at least one service, none empty"));
        }
        if !is_scope(&request.scope) {
            return Err(refuse("`scope` must be one or more actions separated by single spaces"));
        }
        let actions = request.scope.split(' ').count();
        if actions > self.max_actions && !self.allow_broad_scope {
            return Err(Error::new(
                ErrorKind::InvalidClaim,
                format!(
                    "`scope` has {actions} actions, over this issuer's limit of {}; \
                     mint one token per task or allow broad scope explicitly",
                    self.max_actions
                ),
            ));
        }
        if request.res.is_empty() {
            return Err(refuse("`res` must name at least one resource"));
        }
        if request.res.iter().any(|r| r == "*") && !self.allow_broad_scope {
            return Err(refuse(
                "`res` of `*` grants every resource; name the task's resources \
                 or allow broad scope explicitly",
            ));
        }
        if !request.res.iter().all(|r| is_mintable_pattern(r)) {
            return Err(refuse(
                "a `res` pattern has an empty, `.`, `..` or encoded segment, \
                 or a `*` that is not the whole last segment",
            ));
        }
        if request.cnf_jkt.as_deref().is_some_and(|jkt| !is_jkt(jkt)) {
            return Err(refuse("`cnf_jkt` must be an RFC 7638 SHA-256 thumbprint (43 characters)"));
        }
        if request.dlg > self.max_delegation {
            return Err(Error::new(
                ErrorKind::InvalidClaim,
                format!(
                    "`dlg` {} is over this issuer's maximum delegation depth of {}",
                    request.dlg, self.max_delegation
                ),
            ));
        }
        if request.dlg > 0 && request.cnf_jkt.is_none() {
            return Err(refuse(
                "a delegable token (`dlg` above 0) must be key-bound (`cnf_jkt`): only the \
                 holder of the bound key can sign a link",
            ));
        }
        if request.extra.values().any(|v| nesting_exceeds(v, MAX_EXTRA_NESTING)) {
            return Err(refuse("extra claims nest deeper than 64 levels"));
        }
        if request.extra.keys().any(|k| REGISTERED.contains(&k.as_str())) {
            return Err(refuse("an extra claim reuses a v1 claim name"));
        }
        Ok(())
    }
}

/// How deep extra claims may nest: well inside what every verifier parses (ours: 127).
const MAX_EXTRA_NESTING: usize = 64;

/// True if `value` nests deeper than `limit` arrays/objects. Iterative: a value built in code
/// can be arbitrarily deep, and recursion over it could overflow the stack.
fn nesting_exceeds(value: &Value, limit: usize) -> bool {
    let mut stack = alloc::vec![(value, 1usize)];
    while let Some((v, depth)) = stack.pop() {
        let children: &mut dyn Iterator<Item = &Value> = match v {
            Value::Array(items) => &mut items.iter(),
            Value::Object(map) => &mut map.values(),
            _ => continue,
        };
        if depth > limit {
            return true;
        }
        stack.extend(children.map(|c| (c, depth + 1)));
    }
    false
}

/// 128 random bits, base64url.
pub(crate) fn random_jti() -> Result<String, Error> {
    let mut jti = [0u8; 16];
    getrandom::fill(&mut jti)
        .map_err(|_| malformed("the system's random number generator is unavailable"))?;
    Ok(b64_encode(&jti))
}

fn refuse(msg: &'static str) -> Error {
    Error::new(ErrorKind::InvalidClaim, msg)
}
