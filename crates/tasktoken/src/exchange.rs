//! Token-exchange policy: who may get which task token (DESIGN.md, "Token service").
//!
//! A workload presents the identity its platform gave it (verified elsewhere: the claims of
//! a GitHub Actions, GitLab, Kubernetes, SPIFFE or any OIDC token) and asks for a task token.
//! [`decide_exchange`] grants the request when **one** [`Policy`] whose identity provider and
//! `claims` match grants all of it — the audience, every action, every resource pattern, the
//! task, the lifetime, the delegation depth and the binding. Grants never add up across
//! policies. Pure: no I/O, no clock, no randomness; the token service maps its configuration
//! onto [`Policy`] and its HTTP requests onto [`ExchangeRequest`], and mints what
//! [`decide_exchange`] returns.
//!
//! **Templates.** `sub`, `task` and `res` may hold `{claim}` placeholders, filled from the
//! identity's claims (a top-level member, or a path of members joined by `/`:
//! `{kubernetes.io/namespace}`). A substituted claim must be a non-empty string without
//! control characters; in `res` it may hold `/` only between segments that are valid under the
//! resource rules (no empty, `.`, `..` or `*` segment, no `%`, `\` or control character, no
//! look-alike); in `task` its `*` are literal. A claim that does not fit is a refusal, never
//! an escape from the pattern it was put in.

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use serde_json::{Map, Value};

use crate::error::{malformed, Error};
use crate::issuer::MintRequest;
use crate::policy::{
    is_mintable_pattern, is_mintable_scope, is_readable_text, is_safe_segment, is_scope_token,
    pattern_matches,
};

/// One policy: for identities of one provider whose claims match, the largest grant.
#[derive(Clone, Debug)]
pub struct Policy {
    name: String,
    identity: String,
    claims: Vec<(String, Vec<Piece>)>,
    sub: Vec<Piece>,
    aud: Vec<String>,
    task: Vec<Piece>,
    scope: Vec<String>,
    res: Vec<Vec<Piece>>,
    max_ttl: u32,
    dlg: u32,
    require_binding: bool,
}

/// What a workload asks for (RFC 8693 parameters, already split).
///
/// Built with [`ExchangeRequest::new`] and the `with_*` methods (fields may be added).
/// Nothing is checked here: [`decide_exchange`] refuses what no policy grants.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct ExchangeRequest<'a> {
    /// The one audience requested.
    pub audience: &'a str,
    /// The actions requested, space-separated.
    pub scope: &'a str,
    /// The resource patterns requested (at least one).
    pub res: &'a [String],
    /// The task requested.
    pub task: &'a str,
    /// The lifetime requested in seconds; `None`: `min(300, the policy's max_ttl)`.
    pub ttl: Option<u32>,
    /// The delegation depth requested; `None`: 0.
    pub dlg: Option<u32>,
    /// True if the request proved possession of a key (DPoP), so the token will be bound.
    pub bound: bool,
}

impl<'a> ExchangeRequest<'a> {
    /// A request for `audience`, the actions `scope`, the resource patterns `res` and `task`,
    /// with the default lifetime, no delegation and no key binding.
    pub fn new(audience: &'a str, scope: &'a str, res: &'a [String], task: &'a str) -> Self {
        ExchangeRequest { audience, scope, res, task, ttl: None, dlg: None, bound: false }
    }

    /// Asks for a lifetime of `seconds` (default: `min(300, the policy's max_ttl)`).
    pub fn with_ttl(self, seconds: u32) -> Self {
        ExchangeRequest { ttl: Some(seconds), ..self }
    }

    /// Asks for delegation depth `dlg` (default 0).
    pub fn with_dlg(self, dlg: u32) -> Self {
        ExchangeRequest { dlg: Some(dlg), ..self }
    }

    /// Says whether the request proved possession of a key (DPoP), so the token is bound.
    pub fn with_bound(self, bound: bool) -> Self {
        ExchangeRequest { bound, ..self }
    }
}

/// What one policy granted: exactly what was requested, with the policy's `sub`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Grant {
    /// The name of the policy that granted it.
    pub policy: String,
    /// The `sub` of the task token, from the policy's template.
    pub sub: String,
    /// The audience.
    pub aud: String,
    /// The task.
    pub task: String,
    /// The actions, space-separated, as requested.
    pub scope: String,
    /// The resource patterns, as requested.
    pub res: Vec<String>,
    /// The lifetime in seconds.
    pub ttl: u32,
    /// The delegation depth.
    pub dlg: u32,
}

impl Grant {
    /// What to mint for it: the granted claims, bound to `cnf_jkt` (the key the request
    /// proved, if any), with no other claims.
    pub fn mint_request(&self, cnf_jkt: Option<String>) -> MintRequest {
        let mut mint = MintRequest::new(self.sub.clone(), self.task.clone())
            .with_aud([self.aud.clone()])
            .with_scope(self.scope.clone())
            .with_res(self.res.clone())
            .with_ttl(self.ttl)
            .with_dlg(self.dlg);
        mint.cnf_jkt = cnf_jkt;
        mint
    }
}

/// Why a request was refused: an RFC 8693 / RFC 6749 error and a description that names the
/// rule, never a token or a claim value.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// Ill-formed parameters, or a `ttl` above the policy's ceiling.
    InvalidRequest(String),
    /// No policy matches the identity.
    InvalidGrant(String),
    /// An action no matching policy grants.
    InvalidScope(String),
    /// An audience, resource or task no matching policy grants, or no single policy grants
    /// all of the request.
    InvalidTarget(String),
}

impl Refusal {
    /// The OAuth `error` string.
    pub fn error(&self) -> &'static str {
        match self {
            Refusal::InvalidRequest(_) => "invalid_request",
            Refusal::InvalidGrant(_) => "invalid_grant",
            Refusal::InvalidScope(_) => "invalid_scope",
            Refusal::InvalidTarget(_) => "invalid_target",
        }
    }

    /// The `error_description`.
    pub fn description(&self) -> &str {
        match self {
            Refusal::InvalidRequest(d)
            | Refusal::InvalidGrant(d)
            | Refusal::InvalidScope(d)
            | Refusal::InvalidTarget(d) => d,
        }
    }
}

/// A template or glob, parsed: literal text, `{claim}` placeholders, `*` wildcards.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    Claim(String),
    Wild,
}

impl Policy {
    /// A policy named `name` for identities verified by provider `identity`, granting
    /// nothing yet, with a `max_ttl` of 300 s and no delegation.
    ///
    /// Rejects an empty name or provider (`malformed`).
    pub fn new(name: &str, identity: &str) -> Result<Self, Error> {
        if name.is_empty() || identity.is_empty() {
            return Err(malformed("a policy needs a name and an identity provider"));
        }
        Ok(Policy {
            name: name.to_owned(),
            identity: identity.to_owned(),
            claims: Vec::new(),
            sub: Vec::new(),
            aud: Vec::new(),
            task: Vec::new(),
            scope: Vec::new(),
            res: Vec::new(),
            max_ttl: 300,
            dlg: 0,
            require_binding: false,
        })
    }

    /// Requires the identity's claim `name` (a string) to match `pattern`: exactly, or with
    /// `*` matching one or more characters. Rejects an empty name or pattern, or a pattern of
    /// `*` only (it would match any value: leave the claim out instead) (`malformed`).
    pub fn claim(mut self, name: &str, pattern: &str) -> Result<Self, Error> {
        if name.is_empty() || pattern.is_empty() || pattern.chars().all(|c| c == '*') {
            return Err(malformed("a policy claim needs a name and a pattern that is not `*`"));
        }
        self.claims.push((name.to_owned(), glob(pattern)));
        Ok(self)
    }

    /// The `sub` of the tokens it grants, a template (`ci:{repository}#{run_id}`). Rejects
    /// an empty template or one with a `*` or a malformed placeholder (`malformed`).
    pub fn subject(mut self, template: &str) -> Result<Self, Error> {
        let pieces = template_pieces(template, false)?;
        self.sub = pieces;
        Ok(self)
    }

    /// The audiences that may be requested. Rejects an empty list or audience (`malformed`).
    pub fn audiences<'s>(
        mut self,
        audiences: impl IntoIterator<Item = &'s str>,
    ) -> Result<Self, Error> {
        self.aud = audiences.into_iter().map(str::to_owned).collect();
        if self.aud.is_empty() || self.aud.iter().any(String::is_empty) {
            return Err(malformed("a policy's `aud` needs at least one non-empty audience"));
        }
        Ok(self)
    }

    /// The task a request must name, a template in which `*` matches one or more characters
    /// (`deploy-{run_id}/*`). Rejects an empty or malformed template (`malformed`).
    pub fn task(mut self, template: &str) -> Result<Self, Error> {
        self.task = template_pieces(template, true)?;
        Ok(self)
    }

    /// The actions that may be requested. Rejects an empty list or an action that is not an
    /// RFC 6749 scope token (`malformed`).
    pub fn scope<'s>(mut self, actions: impl IntoIterator<Item = &'s str>) -> Result<Self, Error> {
        self.scope = actions.into_iter().map(str::to_owned).collect();
        if self.scope.is_empty() || !self.scope.iter().all(|a| is_scope_token(a)) {
            return Err(malformed("a policy's `scope` needs actions that are scope tokens"));
        }
        Ok(self)
    }

    /// The resource patterns that may be requested, templates (`repos/{repository}/*`).
    /// Rejects an empty list, and a pattern that is not mintable once its placeholders are
    /// replaced by a plain segment (`malformed`).
    pub fn resources<'s>(
        mut self,
        patterns: impl IntoIterator<Item = &'s str>,
    ) -> Result<Self, Error> {
        let mut res = Vec::new();
        for pattern in patterns {
            let pieces = template_pieces(pattern, true)?;
            let sample: String = pieces
                .iter()
                .map(|p| match p {
                    Piece::Text(t) => t.as_str(),
                    Piece::Claim(_) => "x",
                    Piece::Wild => "*",
                })
                .collect();
            if !is_mintable_pattern(&sample) {
                return Err(malformed(
                    "a policy's `res` pattern has an empty, `.` or `..` segment, or a `*` that \
                     is not the whole last segment",
                ));
            }
            res.push(pieces);
        }
        if res.is_empty() {
            return Err(malformed("a policy's `res` needs at least one pattern"));
        }
        self.res = res;
        Ok(self)
    }

    /// The longest lifetime it grants, in seconds. Rejects 0 or more than one day
    /// (`malformed`).
    pub fn max_ttl(mut self, seconds: u32) -> Result<Self, Error> {
        if seconds == 0 || seconds > crate::verifier::MAX_LIFETIME_LIMIT {
            return Err(malformed("a policy's `max_ttl` must be 1 s to one day"));
        }
        self.max_ttl = seconds;
        Ok(self)
    }

    /// The largest delegation depth it grants (default 0: none). Rejects more than 4
    /// (`malformed`).
    pub fn dlg(mut self, depth: u32) -> Result<Self, Error> {
        if depth > 4 {
            return Err(malformed("a policy's `dlg` is at most 4"));
        }
        self.dlg = depth;
        Ok(self)
    }

    /// Grants only key-bound (DPoP) tokens.
    pub fn require_binding(mut self, required: bool) -> Self {
        self.require_binding = required;
        self
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Rejects a policy that grants nothing: one without `sub`, `aud`, `task`, `scope` or
    /// `res` (`malformed`). The service calls it once per policy at start.
    pub fn check(&self) -> Result<(), Error> {
        let parts = [self.sub.is_empty(), self.aud.is_empty(), self.task.is_empty()];
        if parts.into_iter().chain([self.scope.is_empty(), self.res.is_empty()]).any(|e| e) {
            return Err(malformed("a policy needs `sub`, `aud`, `task`, `scope` and `res`"));
        }
        Ok(())
    }

    /// True if the identity comes from this policy's provider and its claims match.
    fn matches(&self, provider: &str, claims: &Map<String, Value>) -> bool {
        provider == self.identity
            && self.claims.iter().all(|(name, pattern)| {
                lookup(claims, name)
                    .and_then(Value::as_str)
                    .is_some_and(|v| glob_matches(pattern, v))
            })
    }
}

/// Decides `request` from an identity of `provider` with verified `claims`, under
/// `policies`, with `ceiling` the service's own `max_ttl`. Returns the grant of the first
/// policy (in order) that grants all of it, or the refusal that says which rule refused it.
pub fn decide_exchange(
    policies: &[Policy],
    provider: &str,
    claims: &Map<String, Value>,
    request: &ExchangeRequest<'_>,
    ceiling: u32,
) -> Result<Grant, Refusal> {
    let actions = check_request(request)?;
    let matching: Vec<&Policy> = policies.iter().filter(|p| p.matches(provider, claims)).collect();
    if matching.is_empty() {
        return Err(Refusal::InvalidGrant("no policy matches the identity".into()));
    }
    // The first refusal of the most complete candidate is the one reported; an action no
    // policy grants is `invalid_scope` whatever else is wrong.
    let mut best: Option<(usize, Refusal)> = None;
    for policy in &matching {
        match grant(policy, claims, request, &actions, ceiling) {
            Ok(grant) => return Ok(grant),
            Err((progress, refusal)) => {
                if best.as_ref().is_none_or(|(p, _)| progress > *p) {
                    best = Some((progress, refusal));
                }
            }
        }
    }
    if actions.iter().any(|a| !matching.iter().any(|p| p.scope.iter().any(|s| s == a))) {
        return Err(Refusal::InvalidScope("an action is granted by no matching policy".into()));
    }
    Err(best.map_or_else(
        || Refusal::InvalidTarget("no single policy grants all of the request".into()),
        |(_, refusal)| refusal,
    ))
}

/// Checks the request's own shape: `invalid_request` for what no policy could grant.
fn check_request<'a>(request: &ExchangeRequest<'a>) -> Result<Vec<&'a str>, Refusal> {
    let bad = |what: &str| Refusal::InvalidRequest(format!("`{what}` is missing or ill-formed"));
    if request.audience.is_empty() {
        return Err(bad("audience"));
    }
    if !is_mintable_scope(request.scope) {
        return Err(bad("scope"));
    }
    let actions: Vec<&str> = request.scope.split(' ').collect();
    if request.res.is_empty() || !request.res.iter().all(|r| is_mintable_pattern(r)) {
        return Err(bad("res"));
    }
    // What the token will say and an approver will read.
    if request.task.is_empty() || !is_readable_text(request.task) {
        return Err(bad("task"));
    }
    if request.ttl == Some(0) {
        return Err(bad("ttl"));
    }
    Ok(actions)
}

/// One policy's decision: the grant, or how far it got (for choosing the refusal to report)
/// and why it stopped.
fn grant(
    policy: &Policy,
    claims: &Map<String, Value>,
    request: &ExchangeRequest<'_>,
    actions: &[&str],
    ceiling: u32,
) -> Result<Grant, (usize, Refusal)> {
    let target = |step, what: &str| {
        (step, Refusal::InvalidTarget(format!("policy `{}` does not grant {what}", policy.name)))
    };
    let sub =
        expand(&policy.sub, claims, Context::Text).ok_or_else(|| (0, unusable(policy, "`sub`")))?;
    if !policy.aud.iter().any(|a| a == request.audience) {
        return Err(target(1, "this audience"));
    }
    if actions.iter().any(|a| !policy.scope.iter().any(|s| s == a)) {
        let refusal = format!("policy `{}` does not grant every action", policy.name);
        return Err((2, Refusal::InvalidScope(refusal)));
    }
    let mut granted = Vec::with_capacity(policy.res.len());
    for template in &policy.res {
        granted.push(
            expand(template, claims, Context::Resource)
                .ok_or_else(|| (3, unusable(policy, "`res`")))?,
        );
    }
    let inside = |requested: &String| granted.iter().any(|g| pattern_matches(g, requested));
    if !request.res.iter().all(inside) {
        return Err(target(4, "every requested resource"));
    }
    let task = expand_glob(&policy.task, claims).ok_or_else(|| (5, unusable(policy, "`task`")))?;
    if !glob_matches(&task, request.task) {
        return Err(target(6, "this task"));
    }
    let max_ttl = policy.max_ttl.min(ceiling);
    let ttl = request.ttl.unwrap_or(max_ttl.min(300));
    if ttl > max_ttl {
        let refusal =
            format!("`ttl` is above the ceiling of policy `{}` ({max_ttl} s)", policy.name);
        return Err((7, Refusal::InvalidRequest(refusal)));
    }
    let dlg = request.dlg.unwrap_or(0);
    if dlg > policy.dlg {
        let refusal =
            format!("`dlg` is above what policy `{}` grants ({})", policy.name, policy.dlg);
        return Err((8, Refusal::InvalidRequest(refusal)));
    }
    if policy.require_binding && !request.bound {
        let refusal = format!("policy `{}` grants only DPoP-bound tokens", policy.name);
        return Err((9, Refusal::InvalidRequest(refusal)));
    }
    if dlg > 0 && !request.bound {
        // Only the holder of the bound key can sign a link: an unbound delegable token
        // would be a promise no one can keep.
        let refusal = String::from("`dlg` above 0 needs a DPoP-bound token (a `DPoP` proof)");
        return Err((9, Refusal::InvalidRequest(refusal)));
    }
    Ok(Grant {
        policy: policy.name.clone(),
        sub,
        aud: request.audience.to_owned(),
        task: request.task.to_owned(),
        scope: request.scope.to_owned(),
        res: request.res.to_vec(),
        ttl,
        dlg,
    })
}

fn unusable(policy: &Policy, field: &str) -> Refusal {
    Refusal::InvalidGrant(format!(
        "a claim that policy `{}` puts in its {field} is missing or not a safe string",
        policy.name
    ))
}

/// Where a substituted claim goes, and so what it may hold.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    /// `sub`: any string without control characters.
    Text,
    /// `res`: valid segments only.
    Resource,
}

/// Fills `{claim}` placeholders; `None` if a claim is missing or does not fit `context`.
/// Wildcards (only in `res`, as the last segment) stay `*`.
fn expand(pieces: &[Piece], claims: &Map<String, Value>, context: Context) -> Option<String> {
    let mut out = String::new();
    for piece in pieces {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Wild => out.push('*'),
            Piece::Claim(name) => {
                let value = claim_text(claims, name)?;
                // No `%` (DESIGN.md: a resource server that decodes paths must see the
                // name the policy saw), nor `;`, `?`, `#`, `:`, which a server may read as
                // the end of the name.
                if context == Context::Resource
                    && !value
                        .split('/')
                        .all(|s| is_safe_segment(s) && !s.contains(['*', '%', ';', '?', '#', ':']))
                {
                    return None;
                }
                out.push_str(value);
            }
        }
    }
    Some(out)
}

/// A task template with its claims filled in, as a glob whose substituted text is literal.
fn expand_glob(pieces: &[Piece], claims: &Map<String, Value>) -> Option<Vec<Piece>> {
    pieces
        .iter()
        .map(|piece| match piece {
            Piece::Claim(name) => claim_text(claims, name).map(|v| Piece::Text(v.to_owned())),
            other => Some(other.clone()),
        })
        .collect()
}

/// A claim usable in a template: a non-empty string without control characters.
fn claim_text<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    lookup(claims, name)?.as_str().filter(|v| !v.is_empty() && is_readable_text(v))
}

/// A claim by name: a top-level member, or a path of members joined by `/`.
fn lookup<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(value) = claims.get(name) {
        return Some(value);
    }
    let mut parts = name.split('/');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

/// Parses a template: `{claim}` placeholders, and `*` wildcards where `wild` allows them.
fn template_pieces(template: &str, wild: bool) -> Result<Vec<Piece>, Error> {
    if template.is_empty() || template.chars().any(char::is_control) {
        return Err(malformed("a policy template is empty or holds a control character"));
    }
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        match c {
            '{' => {
                let mut name = String::new();
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == '}' {
                        closed = true;
                        break;
                    }
                    name.push(c);
                }
                let valid = closed
                    && !name.is_empty()
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || "_-.:/".contains(c));
                if !valid {
                    return Err(malformed("a policy template has a malformed `{claim}`"));
                }
                flush(&mut text, &mut pieces);
                pieces.push(Piece::Claim(name));
            }
            '}' => return Err(malformed("a policy template has a `}` without `{`")),
            '*' if wild => {
                flush(&mut text, &mut pieces);
                pieces.push(Piece::Wild);
            }
            '*' => return Err(malformed("a policy `sub` cannot hold `*`")),
            c => text.push(c),
        }
    }
    flush(&mut text, &mut pieces);
    Ok(pieces)
}

/// A glob of literal text and `*` wildcards (no placeholders).
fn glob(pattern: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    for c in pattern.chars() {
        if c == '*' {
            flush(&mut text, &mut pieces);
            pieces.push(Piece::Wild);
        } else {
            text.push(c);
        }
    }
    flush(&mut text, &mut pieces);
    pieces
}

fn flush(text: &mut String, pieces: &mut Vec<Piece>) {
    if !text.is_empty() {
        pieces.push(Piece::Text(core::mem::take(text)));
    }
}

/// True if `value` matches `pattern`, where each `*` matches one or more characters.
fn glob_matches(pattern: &[Piece], value: &str) -> bool {
    // Tokens: a literal character, "any one" and "any run" (a `*` is one of each).
    enum Tok {
        Lit(char),
        One,
        Many,
    }
    let mut tokens = Vec::new();
    for piece in pattern {
        match piece {
            Piece::Text(t) => tokens.extend(t.chars().map(Tok::Lit)),
            // A placeholder never reaches here: templates are expanded first.
            Piece::Claim(_) => return false,
            Piece::Wild => tokens.extend([Tok::One, Tok::Many]),
        }
    }
    let text: Vec<char> = value.chars().collect();
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match tokens.get(p) {
            Some(Tok::Many) => {
                star = Some((p, t));
                p += 1;
            }
            Some(Tok::One) => {
                p += 1;
                t += 1;
            }
            Some(Tok::Lit(c)) if *c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    while let Some(Tok::Many) = tokens.get(p) {
        p += 1;
    }
    p == tokens.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn github() -> Map<String, Value> {
        let claims = json!({
            "iss": "https://token.actions.githubusercontent.com",
            "repository": "acme/app", "ref": "refs/heads/main", "run_id": "8812",
            "kubernetes.io": {"namespace": "ci"},
        });
        claims.as_object().expect("object").clone()
    }

    fn deploy() -> Policy {
        Policy::new("deploy-read-artifacts", "github")
            .and_then(|p| p.claim("repository", "acme/app"))
            .and_then(|p| p.claim("ref", "refs/heads/*"))
            .and_then(|p| p.subject("ci:{repository}#{run_id}"))
            .and_then(|p| p.audiences(["artifact-repo"]))
            .and_then(|p| p.task("deploy-{run_id}/*"))
            .and_then(|p| p.scope(["artifacts:read"]))
            .and_then(|p| p.resources(["repos/{repository}/*"]))
            .and_then(|p| p.max_ttl(600))
            .expect("a valid policy")
    }

    fn request<'a>(res: &'a [String]) -> ExchangeRequest<'a> {
        ExchangeRequest {
            audience: "artifact-repo",
            scope: "artifacts:read",
            res,
            task: "deploy-8812/stage:deploy",
            ttl: None,
            dlg: None,
            bound: false,
        }
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn one_policy_grants_exactly_what_was_asked() {
        let res = strings(&["repos/acme/app/builds/*"]);
        let grant = decide_exchange(&[deploy()], "github", &github(), &request(&res), 900)
            .expect("granted");
        assert_eq!(grant.sub, "ci:acme/app#8812");
        assert_eq!(grant.res, res);
        assert_eq!((grant.ttl, grant.dlg), (300, 0));
        assert_eq!(grant.policy, "deploy-read-artifacts");
    }

    #[test]
    fn every_refusal_names_its_rule() {
        let res = strings(&["repos/acme/app/*"]);
        let claims = github();
        let code = |policies: &[Policy], provider, req: &ExchangeRequest<'_>| {
            decide_exchange(policies, provider, &claims, req, 900)
                .map(|_| ())
                .map_err(|r| r.error())
        };
        let p = [deploy()];
        assert_eq!(code(&p, "gitlab", &request(&res)), Err("invalid_grant"));
        let other = strings(&["repos/acme/other/*"]);
        assert_eq!(code(&p, "github", &request(&other)), Err("invalid_target"));
        let wider = strings(&["repos/acme/*"]);
        assert_eq!(code(&p, "github", &request(&wider)), Err("invalid_target"));
        let write = ExchangeRequest { scope: "artifacts:read artifacts:write", ..request(&res) };
        assert_eq!(code(&p, "github", &write), Err("invalid_scope"));
        let aud = ExchangeRequest { audience: "billing", ..request(&res) };
        assert_eq!(code(&p, "github", &aud), Err("invalid_target"));
        let task = ExchangeRequest { task: "deploy-8813/x", ..request(&res) };
        assert_eq!(code(&p, "github", &task), Err("invalid_target"));
        let bare = ExchangeRequest { task: "deploy-8812/", ..request(&res) };
        assert_eq!(code(&p, "github", &bare), Err("invalid_target"), "`*` is one or more");
        // What an approver reads is what will be minted: no bidi or invisible characters.
        for task in ["deploy-8812/\u{202E}lanif", "deploy-8812/a\u{200B}b", "deploy-8812/\u{2066}x"]
        {
            let hidden = ExchangeRequest { task, ..request(&res) };
            assert_eq!(code(&p, "github", &hidden), Err("invalid_request"), "{task:?}");
        }
        let twice = ExchangeRequest { scope: "artifacts:read artifacts:read", ..request(&res) };
        assert_eq!(code(&p, "github", &twice), Err("invalid_request"));
        let long = ExchangeRequest { ttl: Some(601), ..request(&res) };
        assert_eq!(code(&p, "github", &long), Err("invalid_request"));
        let ceiling = decide_exchange(
            &p,
            "github",
            &claims,
            &ExchangeRequest { ttl: Some(500), ..request(&res) },
            400,
        );
        assert_eq!(ceiling.map_err(|r| r.error()).err(), Some("invalid_request"));
        let dlg = ExchangeRequest { dlg: Some(1), ..request(&res) };
        assert_eq!(code(&p, "github", &dlg), Err("invalid_request"));
        let bound = [deploy().require_binding(true)];
        assert_eq!(code(&bound, "github", &request(&res)), Err("invalid_request"));
        assert!(code(&bound, "github", &ExchangeRequest { bound: true, ..request(&res) }).is_ok());
        let broken = ExchangeRequest { scope: "a  b", ..request(&res) };
        assert_eq!(code(&p, "github", &broken), Err("invalid_request"));
        let dots = strings(&["repos/acme/app/../x"]);
        assert_eq!(code(&p, "github", &request(&dots)), Err("invalid_request"));
    }

    #[test]
    fn grants_never_add_up_across_policies() {
        let reads = deploy();
        let writes = Policy::new("write", "github")
            .and_then(|p| p.claim("repository", "acme/*"))
            .and_then(|p| p.subject("ci:{repository}"))
            .and_then(|p| p.audiences(["artifact-repo"]))
            .and_then(|p| p.task("deploy-{run_id}/*"))
            .and_then(|p| p.scope(["artifacts:write"]))
            .and_then(|p| p.resources(["repos/{repository}/*"]))
            .expect("valid");
        let res = strings(&["repos/acme/app/x"]);
        let both = ExchangeRequest { scope: "artifacts:read artifacts:write", ..request(&res) };
        let refused =
            decide_exchange(&[reads.clone(), writes.clone()], "github", &github(), &both, 900);
        assert_eq!(refused.map_err(|r| r.error()), Err("invalid_scope"));
        let write = ExchangeRequest { scope: "artifacts:write", ..request(&res) };
        let granted = decide_exchange(&[reads, writes], "github", &github(), &write, 900)
            .expect("one grants");
        assert_eq!(granted.policy, "write");
    }

    #[test]
    fn a_substituted_claim_never_escapes() {
        let res = strings(&["repos/acme/app/x"]);
        for hostile in [
            "acme/../../etc",
            "acme//app",
            "acme/*",
            "acme/%2e%2e",
            "acme\\x",
            "acme/a\u{2215}b",
            "",
        ] {
            let mut claims = github();
            claims.insert("repository".into(), json!(hostile));
            let policy = Policy::new("p", "github")
                .and_then(|p| p.subject("ci:{repository}"))
                .and_then(|p| p.audiences(["artifact-repo"]))
                .and_then(|p| p.task("deploy-{run_id}/*"))
                .and_then(|p| p.scope(["artifacts:read"]))
                .and_then(|p| p.resources(["repos/{repository}/*"]))
                .expect("valid");
            let got = decide_exchange(&[policy], "github", &claims, &request(&res), 900);
            assert_eq!(got.map(|_| ()).map_err(|r| r.error()), Err("invalid_grant"), "{hostile:?}");
        }
        // A `*` in a claim substituted into the task is literal.
        let mut claims = github();
        claims.insert("run_id".into(), json!("*"));
        let got = decide_exchange(&[deploy()], "github", &claims, &request(&res), 900);
        assert_eq!(got.map(|_| ()).map_err(|r| r.error()), Err("invalid_target"));
        // A number is not a string.
        let mut claims = github();
        claims.insert("run_id".into(), json!(8812));
        let got = decide_exchange(&[deploy()], "github", &claims, &request(&res), 900);
        assert_eq!(got.map(|_| ()).map_err(|r| r.error()), Err("invalid_grant"));
    }

    #[test]
    fn claims_match_exactly_or_by_glob_and_by_path() {
        let claims = github();
        let by_path = Policy::new("k8s", "github")
            .and_then(|p| p.claim("kubernetes.io/namespace", "ci"))
            .expect("valid");
        assert!(by_path.matches("github", &claims));
        assert!(!deploy().claim("ref", "refs/tags/*").expect("valid").matches("github", &claims));
        assert!(glob_matches(&glob("a*c*e"), "abcde"));
        assert!(!glob_matches(&glob("a*c"), "ac"));
        assert!(glob_matches(&glob("*-*"), "x-y"));
        assert!(!glob_matches(&glob("*-*"), "-y"));
    }

    #[test]
    fn bad_policies_are_refused_at_start() {
        let p = || Policy::new("p", "github").expect("valid");
        assert!(Policy::new("", "github").is_err());
        assert!(p().claim("ref", "*").is_err());
        assert!(p().subject("ci:*").is_err());
        assert!(p().subject("ci:{repo").is_err());
        assert!(p().subject("ci:{re po}").is_err());
        assert!(p().resources(["repos/*/x"]).is_err());
        assert!(p().resources(["repos//{repository}"]).is_err());
        assert!(p().resources(["repos/{repository}/*"]).is_ok());
        assert!(p().scope(["a b"]).is_err());
        assert!(p().max_ttl(86_401).is_err());
        assert!(p().dlg(5).is_err());
        assert!(p().check().is_err(), "grants nothing");
        assert!(deploy().check().is_ok());
    }
}
