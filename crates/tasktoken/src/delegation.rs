//! Delegation (DESIGN.md, "Delegation"): an agent hands a narrower task to a sub-agent,
//! offline. A chain is the root task token followed by links, `ROOT~LINK~LINK`. A link is a
//! compact JWS (`typ: tt-link+jwt`, `alg` EdDSA, `jwk`) signed by the holder of the previous
//! element's bound key (`cnf.jkt`); it names the previous element by hash (`prev`) and may
//! only narrow what that element grants.
//!
//! A link is checked in this order, each failure with one code:
//! 1. structure (`malformed`), `alg` (`unsupported_alg`), `typ` (`wrong_type`), `jwk` and
//!    header members that change meaning (`malformed`);
//! 2. the key: the previous element is bound (`cnf.jkt`), allows delegation (`dlg` ≥ 1), and
//!    the thumbprint of `jwk` is its `cnf.jkt` (`delegation_denied`);
//! 3. the signature, strict Ed25519 (`bad_signature`);
//! 4. claim types (`missing_claim`, `invalid_claim`);
//! 5. the rules (`delegation_denied`, the message names the rule): `prev` is the hash of the
//!    previous element, `dlg` lower than the previous one, `aud` ⊆, `scope` ⊆, every `res`
//!    inside a previous `res`, `task` equal or extended by `/…`, `iat` not earlier, `exp` not
//!    later, the lifetime within the verifier's maximum;
//! 6. time, with the clock skew (`not_yet_valid`, `expired`).
//!
//! The verifier then checks the link's `jti` against revocation data (`revoked`).

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::claims::{audiences, bound_key, check_link_claims, numeric_date, Times, REGISTERED};
use crate::dpop::{ProofSigningKey, PRIVATE_MEMBERS};
use crate::encoding::{b64_decode_array, b64_encode};
use crate::error::{malformed, Error, ErrorKind};
use crate::issuer::random_jti;
use crate::keys::{ed25519_thumbprint, strict_ed25519_key};
use crate::policy::{
    action_allowed, is_mintable_pattern, is_safe_segment, is_scope, pattern_matches,
};
use crate::token::{is_media_type, UnverifiedToken, FORBIDDEN_HEADER_MEMBERS, MAX_TOKEN_LEN};

/// The `typ` every link carries.
pub const LINK_TYPE: &str = "tt-link+jwt";
/// The most links a chain may have.
pub const MAX_DELEGATION_DEPTH: u32 = 4;

/// What the holder of a bound token hands on to a sub-agent: a narrower grant, for at most
/// `ttl` seconds (and never past the previous element's `exp`).
///
/// Built with [`LinkRequest::new`] and the `with_*` methods (fields may be added). Nothing
/// is checked here: [`delegate`] refuses a link that widens the grant.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct LinkRequest {
    /// The sub-agent (`sub`).
    pub sub: String,
    /// Audiences, each one of the previous element's.
    pub aud: Vec<String>,
    /// The previous element's task, or a sub-task of it (`task/…`).
    pub task: String,
    /// Actions, space-separated, each one of the previous element's.
    pub scope: String,
    /// Resource patterns, each inside one of the previous element's.
    pub res: Vec<String>,
    /// Lifetime in seconds; `exp` is the earlier of `iat + ttl` and the previous `exp`.
    pub ttl: u32,
    /// The sub-agent's key thumbprint (`cnf.jkt`): binds the link, and lets the sub-agent
    /// delegate further if `dlg` allows it.
    pub cnf_jkt: Option<String>,
    /// How many further links the sub-agent may add; lower than the previous element's.
    pub dlg: u32,
}

impl LinkRequest {
    /// A link handing task `task` (the previous element's, or a sub-task of it) to `sub`,
    /// with no audience, actions or resources and a lifetime of 0 yet: set them with the
    /// `with_*` methods ([`delegate`] refuses a link without them).
    pub fn new(sub: impl Into<String>, task: impl Into<String>) -> Self {
        LinkRequest { sub: sub.into(), task: task.into(), ..LinkRequest::default() }
    }

    /// Audiences (`aud`), each one of the previous element's.
    pub fn with_aud<S: Into<String>>(mut self, aud: impl IntoIterator<Item = S>) -> Self {
        self.aud = aud.into_iter().map(Into::into).collect();
        self
    }

    /// Actions, space-separated (`scope`), each one of the previous element's.
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = scope.into();
        self
    }

    /// Resource patterns (`res`), each inside one of the previous element's.
    pub fn with_res<S: Into<String>>(mut self, res: impl IntoIterator<Item = S>) -> Self {
        self.res = res.into_iter().map(Into::into).collect();
        self
    }

    /// Lifetime in seconds (never past the previous element's `exp`).
    pub fn with_ttl(mut self, seconds: u32) -> Self {
        self.ttl = seconds;
        self
    }

    /// Binds the link to the sub-agent's key with this RFC 7638 thumbprint (`cnf.jkt`).
    pub fn with_cnf_jkt(mut self, thumbprint: impl Into<String>) -> Self {
        self.cnf_jkt = Some(thumbprint.into());
        self
    }

    /// How many further links the sub-agent may add (`dlg`); needs a binding.
    pub fn with_dlg(mut self, dlg: u32) -> Self {
        self.dlg = dlg;
        self
    }
}

/// Appends a link to `chain` (a task token, or a chain ending in a link), signed by `key`,
/// the Ed25519 proof key the last element is bound to, at `now`.
///
/// Refuses (`delegation_denied`, the message naming the rule): a last element that is not
/// bound to `key` or allows no delegation, a chain already [`MAX_DELEGATION_DEPTH`] links
/// deep, and a link that would widen anything (see the module docs). Refuses as `malformed`
/// a chain that does not parse, a P-256 key (links are Ed25519), and a result over 8 KiB;
/// as `invalid_claim` an empty `sub`, `task` or `aud`, a bad `scope`, `res` or `cnf_jkt`;
/// as `expired` a last element whose `exp` is not after `now`. Nothing here verifies the
/// chain's root: that is the verifier's work.
pub fn delegate(
    chain: &str,
    key: &ProofSigningKey,
    link: &LinkRequest,
    now: i64,
) -> Result<String, Error> {
    if key.alg() != "EdDSA" {
        return Err(malformed("delegation keys are Ed25519"));
    }
    let elements = split(chain)?;
    if elements.len() > MAX_DELEGATION_DEPTH as usize {
        return Err(denied("the chain has the most links allowed (4)"));
    }
    let last_text = elements.last().copied().unwrap_or(chain);
    let last = UnverifiedToken::parse(last_text)?;
    let prev = last.claims();
    check_link_request(link)?;
    let prev_times = times_of(prev)?;
    if prev_jkt(prev)? != key.thumbprint() {
        return Err(denied("the key is not the one the last element is bound to"));
    }
    let iat = now.max(prev_times.iat);
    let exp = iat.saturating_add(i64::from(link.ttl)).min(prev_times.exp);
    if exp <= iat {
        return Err(Error::new(ErrorKind::Expired, "the last element of the chain has expired"));
    }
    let mut claims = Map::new();
    claims.insert("prev".into(), Value::String(element_hash(last_text)));
    claims.insert("sub".into(), Value::String(link.sub.clone()));
    claims.insert(
        "aud".into(),
        match link.aud.as_slice() {
            [one] => Value::from(one.as_str()),
            many => Value::from(many.to_vec()),
        },
    );
    claims.insert("iat".into(), Value::from(iat));
    claims.insert("exp".into(), Value::from(exp));
    claims.insert("jti".into(), Value::String(random_jti()?));
    claims.insert("task".into(), Value::String(link.task.clone()));
    claims.insert("scope".into(), Value::String(link.scope.clone()));
    claims.insert("res".into(), Value::from(link.res.to_vec()));
    if let Some(jkt) = &link.cnf_jkt {
        claims.insert("cnf".into(), serde_json::json!({ "jkt": jkt }));
    }
    if link.dlg > 0 {
        claims.insert("dlg".into(), Value::from(link.dlg));
    }
    // The same rules the verifier applies: a link that would be refused is never made.
    narrows(prev, &claims)?;
    let mut header = Map::new();
    header.insert("alg".into(), Value::from("EdDSA"));
    header.insert("typ".into(), Value::from(LINK_TYPE));
    header.insert("jwk".into(), Value::Object(key.public_jwk()));
    let input = format!(
        "{}.{}",
        b64_encode(Value::Object(header).to_string().as_bytes()),
        b64_encode(Value::Object(claims).to_string().as_bytes())
    );
    let signature = key.sign_ed25519(input.as_bytes()).ok_or_else(|| {
        malformed("delegation keys are Ed25519") // unreachable: checked above
    })?;
    let out = format!("{chain}~{input}.{}", b64_encode(&signature));
    if out.len() > MAX_TOKEN_LEN {
        return Err(malformed("the chain would be longer than 8 KiB"));
    }
    Ok(out)
}

/// Splits a chain (or a plain token) into its elements: at most 8 KiB, none empty.
pub(crate) fn split(chain: &str) -> Result<Vec<&str>, Error> {
    if chain.len() > MAX_TOKEN_LEN {
        return Err(malformed("token is longer than 8 KiB"));
    }
    let elements: Vec<&str> = chain.split('~').collect();
    if elements.iter().any(|e| e.is_empty()) {
        return Err(malformed("a delegation chain has an empty element"));
    }
    Ok(elements)
}

/// A link whose structure, key, signature, claim types, rules and time hold (its
/// revocation is the verifier's to check).
pub(crate) struct CheckedLink {
    pub(crate) claims: Map<String, Value>,
    pub(crate) times: Times,
}

/// Checks `link` as the element after `prev_text`, whose verified claims are `prev`, at
/// `now` (see the module docs for the order).
pub(crate) fn check_link(
    prev_text: &str,
    prev: &Map<String, Value>,
    link: &str,
    now: i64,
    (max_lifetime, skew): (i64, i64),
) -> Result<CheckedLink, Error> {
    let parsed = UnverifiedToken::parse(link)
        .map_err(|_| malformed("a delegation link is not three base64url parts of JSON objects"))?;
    let key = link_key(parsed.header())?;
    let jkt = prev_jkt(prev)?;
    allows_delegation(prev, 0)?;
    if ed25519_thumbprint(key.as_bytes()) != jkt {
        return Err(denied("the link is not signed by the previous element's bound key"));
    }
    let genuine = parsed.signature().is_some_and(|signature| {
        let signature = ed25519_dalek::Signature::from_bytes(signature);
        key.verify_strict(parsed.signing_input().as_bytes(), &signature).is_ok()
    });
    if !genuine {
        return Err(Error::new(ErrorKind::BadSignature, "link signature verification failed"));
    }
    let (claims, _) = parsed.into_claims();
    let times = check_link_claims(&claims)?;
    if claims.get("prev").and_then(Value::as_str) != Some(element_hash(prev_text).as_str()) {
        return Err(denied("`prev` is not the hash of the previous element"));
    }
    narrows(prev, &claims)?;
    let lifetime = times.exp.saturating_sub(times.iat.min(times.nbf));
    if lifetime > max_lifetime {
        return Err(denied("the link's lifetime exceeds the verifier's maximum"));
    }
    if now < times.nbf.saturating_sub(skew) {
        return Err(Error::new(ErrorKind::NotYetValid, "a delegation link is not valid yet"));
    }
    if now >= times.exp.saturating_add(skew) {
        return Err(Error::new(ErrorKind::Expired, "a delegation link has expired"));
    }
    Ok(CheckedLink { claims, times })
}

/// Claims a link carries that the verified claims of its chain take from it (DESIGN.md,
/// "Delegation"). Whatever else a link holds was chosen by its signer, not the issuer, and
/// is dropped.
const LINK_CLAIMS: [&str; 12] =
    ["prev", "sub", "aud", "iat", "nbf", "exp", "jti", "task", "scope", "res", "cnf", "dlg"];

/// The verified claims of a chain: the last link's claims of DESIGN.md's list, `iss` the
/// root's, `act` the chain's earlier subjects (RFC 8693 §4.1: the most recent delegator
/// outermost, the root's `sub` innermost), and the root's other claims (the issuer signed
/// those; `apv`, a tenant), never a link's other claims (its signer chose those).
pub(crate) fn chain_claims(
    root: &Map<String, Value>,
    last: Map<String, Value>,
    iss: &str,
    earlier_subs: &[String],
) -> Map<String, Value> {
    let mut act: Option<Value> = None;
    for sub in earlier_subs {
        let mut entry = Map::new();
        entry.insert("sub".into(), Value::String(sub.clone()));
        if let Some(inner) = act.take() {
            entry.insert("act".into(), inner);
        }
        act = Some(Value::Object(entry));
    }
    let mut claims: Map<String, Value> = root
        .iter()
        // The root's registered claims are replaced: by the link's, and `iss` and `act` by
        // the chain's.
        .filter(|(name, _)| !REGISTERED.contains(&name.as_str()))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    claims.extend(last.into_iter().filter(|(name, _)| LINK_CLAIMS.contains(&name.as_str())));
    claims.insert("iss".into(), Value::String(iss.into()));
    if let Some(act) = act {
        claims.insert("act".into(), act);
    }
    claims
}

/// The public key a link header names: `alg` EdDSA/Ed25519 (`unsupported_alg`), `typ`
/// `tt-link+jwt` (`wrong_type`), an Ed25519 `jwk` without private members, canonical, not of
/// small order, and no member that changes meaning (`malformed`).
fn link_key(header: &Map<String, Value>) -> Result<ed25519_dalek::VerifyingKey, Error> {
    match header.get("alg").and_then(Value::as_str) {
        Some("EdDSA" | "Ed25519") => {}
        _ => return Err(Error::new(ErrorKind::UnsupportedAlg, "link `alg` is not EdDSA")),
    }
    if !header.get("typ").and_then(Value::as_str).is_some_and(|t| is_media_type(t, LINK_TYPE)) {
        return Err(Error::new(ErrorKind::WrongType, "link `typ` is not tt-link+jwt"));
    }
    let jwk = header
        .get("jwk")
        .and_then(Value::as_object)
        .ok_or_else(|| malformed("link header has no `jwk` object"))?;
    if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
        return Err(malformed("link `jwk` holds private key material"));
    }
    let member = |name: &str| jwk.get(name).and_then(Value::as_str);
    if member("kty") != Some("OKP") || member("crv") != Some("Ed25519") {
        return Err(malformed("link `jwk` is not an Ed25519 OKP key"));
    }
    let key = member("x").and_then(b64_decode_array::<32>).and_then(|x| strict_ed25519_key(&x));
    let key = key.ok_or_else(|| malformed("link `jwk` has no valid Ed25519 `x`"))?;
    // A token's list of members that change meaning, but `jwk`: a link names its key.
    let mut forbidden = FORBIDDEN_HEADER_MEMBERS.iter().filter(|m| **m != "jwk");
    if forbidden.any(|m| header.contains_key(*m)) {
        return Err(malformed("link header has a member that changes its meaning"));
    }
    Ok(key)
}

/// The previous element's `cnf.jkt`; an unbound element cannot be delegated.
fn prev_jkt(prev: &Map<String, Value>) -> Result<&str, Error> {
    bound_key(prev)
        .ok_or_else(|| denied("the previous element is not key-bound, so it cannot be delegated"))
}

/// The previous element's `dlg` must be an integer above `next` (absent: 0).
fn allows_delegation(prev: &Map<String, Value>, next: u64) -> Result<(), Error> {
    let dlg = match prev.get("dlg") {
        None => 0,
        Some(v) => v.as_u64().ok_or_else(|| denied("the previous `dlg` is not an integer"))?,
    };
    if dlg == 0 {
        return Err(denied("the previous element allows no delegation (`dlg` 0)"));
    }
    if next >= dlg {
        return Err(denied("`dlg` is not lower than the previous element's"));
    }
    Ok(())
}

/// The narrowing rules between two elements whose claim types hold: `dlg` lower, `aud` ⊆,
/// `scope` ⊆, every `res` inside a previous `res`, `task` equal or a sub-task, `iat` not
/// earlier, `exp` not later.
pub(crate) fn narrows(prev: &Map<String, Value>, link: &Map<String, Value>) -> Result<(), Error> {
    let next_dlg = match link.get("dlg") {
        None => 0,
        Some(v) => v.as_u64().unwrap_or(u64::MAX),
    };
    allows_delegation(prev, next_dlg)?;
    let prev_aud: Vec<&str> = audiences(prev.get("aud")).collect();
    if !audiences(link.get("aud")).all(|a| prev_aud.contains(&a)) {
        return Err(denied("`aud` names an audience the previous element does not"));
    }
    // Borrowed from the claims: checked types (`check_link_claims`, `check_claims`).
    fn text<'m>(map: &'m Map<String, Value>, name: &str) -> &'m str {
        map.get(name).and_then(Value::as_str).unwrap_or_default()
    }
    fn strings<'m>(map: &'m Map<String, Value>, name: &str) -> impl Iterator<Item = &'m str> {
        map.get(name).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str)
    }
    let prev_scope = text(prev, "scope");
    if !text(link, "scope").split(' ').all(|a| action_allowed(prev_scope, a)) {
        return Err(denied("`scope` has an action the previous element does not grant"));
    }
    let inside =
        |r: &str| is_mintable_pattern(r) && strings(prev, "res").any(|p| pattern_matches(p, r));
    if !strings(link, "res").all(inside) {
        return Err(denied("a `res` pattern is not inside the previous element's `res`"));
    }
    let (prev_task, task) = (text(prev, "task"), text(link, "task"));
    // A sub-task adds `/`-separated segments that are each safe as resource segments are (no
    // empty, `.`, `..` or encoded separator): nothing that normalises back out of the task.
    let sub_task = task.strip_prefix(prev_task).is_some_and(|rest| {
        rest.is_empty()
            || rest.strip_prefix('/').is_some_and(|added| added.split('/').all(is_safe_segment))
    });
    if !sub_task {
        return Err(denied("`task` is neither the previous task nor a sub-task of it"));
    }
    let time = |map: &Map<String, Value>, name: &str| map.get(name).and_then(numeric_date);
    if time(link, "iat") < time(prev, "iat") {
        return Err(denied("`iat` is earlier than the previous element's"));
    }
    if time(link, "exp") > time(prev, "exp") {
        return Err(denied("`exp` is later than the previous element's"));
    }
    Ok(())
}

/// What [`delegate`] checks of the request before the rules: the issuer's own lint.
fn check_link_request(link: &LinkRequest) -> Result<(), Error> {
    let invalid = |m: &'static str| Error::new(ErrorKind::InvalidClaim, m);
    if link.sub.is_empty() || link.task.is_empty() {
        return Err(invalid("a link's `sub` and `task` must not be empty"));
    }
    if link.aud.is_empty() || link.aud.iter().any(String::is_empty) {
        return Err(invalid("a link's `aud` must name at least one service, none empty"));
    }
    if !is_scope(&link.scope) {
        return Err(invalid("a link's `scope` must be actions separated by single spaces"));
    }
    if link.res.is_empty() || !link.res.iter().all(|r| is_mintable_pattern(r)) {
        return Err(invalid("a link's `res` must be one or more valid resource patterns"));
    }
    if link.ttl == 0 {
        return Err(invalid("a link's `ttl` must be at least 1 s"));
    }
    if link.cnf_jkt.as_deref().is_some_and(|jkt| !crate::claims::is_jkt(jkt)) {
        return Err(invalid("`cnf_jkt` must be an RFC 7638 SHA-256 thumbprint"));
    }
    if link.dlg > MAX_DELEGATION_DEPTH {
        return Err(invalid("a link's `dlg` is at most 4"));
    }
    Ok(())
}

/// `iat` and `exp` of an element about to be delegated (not verified: the verifier judges).
fn times_of(claims: &Map<String, Value>) -> Result<Times, Error> {
    let time = |name: &str| claims.get(name).and_then(numeric_date);
    match (time("iat"), time("exp")) {
        (Some(iat), Some(exp)) => Ok(Times { iat, nbf: iat, exp }),
        _ => Err(malformed("the last element has no integer `iat` and `exp`")),
    }
}

/// base64url SHA-256 of an element's compact text: what `prev` holds.
pub(crate) fn element_hash(text: &str) -> String {
    b64_encode(&Sha256::digest(text.as_bytes()))
}

pub(crate) fn denied(message: &'static str) -> Error {
    Error::new(ErrorKind::DelegationDenied, message)
}
