//! Fixtures and oracles of the fuzz targets.
//!
//! Each target in `fuzz_targets/` is one `fuzz_target!` line that hands its input to one
//! function here. Beyond "no panic, no hang, no overflow" (the fuzz profile keeps debug
//! assertions and overflow checks on), every function checks properties that must hold for
//! any input:
//!
//! - every error carries one of the stable codes, with a short message that never echoes
//!   the input;
//! - the entry points agree with each other (`parse` vs `verify_at` vs
//!   `verify_for_revocation_at` vs `verify_with` revocation data; `decode` vs `verify` vs
//!   `from_snapshot` vs `offer`);
//! - whatever is accepted is what the rules accept (an accepted token is in its time window,
//!   within its lifetime, for our audience, action and resource; an allowed resource has no
//!   dot segment and no encoded separator; an accepted key or publication round-trips).
//!
//! The fixtures come from the shared vectors (`tests/vectors/`), compiled in, at the
//! vectors' clock.

use std::cell::RefCell;
use std::sync::LazyLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::Signer as _;
use serde_json::Value;
use tasktoken::{
    action_allowed, resource_allowed, AuditEvent, AuditSink, BloomFilter, Error, Issuer, KeySet,
    MintRequest, Offered, PublicKey, Publication, Request, Revocation, RevocationFilter,
    RevocationReplica, SigningKey, UnverifiedToken, VerifiedClaims, Verifier, VerifyCache,
    VerifyContext,
};

/// The vectors' clock (2026-01-01T00:00:00Z), inside the vector snapshot's freshness window.
pub const NOW: i64 = 1_767_225_600;
const AUDIENCE: &str = "crm-api";
const ACTION: &str = "customers:read";
const RESOURCE: &str = "customers/4821";
const CLOCK_SKEW: i64 = 30;
const MAX_LIFETIME: i64 = 900;
/// The header the `claims` target signs under when the input has no NUL byte.
const HEADER_A1: &str = r#"{"alg":"EdDSA","typ":"tt+jwt","kid":"a1"}"#;
/// Codes of the checks after the lifetime: revocation comes before them.
const AFTER_REVOCATION: [&str; 4] =
    ["binding_required", "binding_mismatch", "action_denied", "resource_denied"];
/// Codes of the checks up to and including the signature.
const BEFORE_CLAIMS: [&str; 4] = ["unsupported_alg", "wrong_type", "unknown_key", "bad_signature"];
/// No error message of the core is longer; a longer one would be echoing input.
const MAX_MESSAGE_LEN: usize = 256;

struct Fixtures {
    /// The vectors' `default` verifier: issuers `https://auth.example` (a1, a2) and
    /// `https://ci.example` (b1), audience `crm-api`, 900 s, 30 s.
    verifier: Verifier,
    /// Which issuer owns which `kid`.
    owners: Vec<(String, String)>,
    /// The keys revocation data is signed with (`a1`).
    revocation_keys: KeySet,
    /// The issuer the vector revocation data governs, and the clock it is judged by.
    issuer: String,
    now: i64,
    /// The vector snapshot (serial 41), verified.
    filter: RevocationFilter,
    /// A replica that took the vector snapshot.
    replica: RevocationReplica,
    /// The vector key `a1`, to sign fuzzed headers and payloads.
    a1: ed25519_dalek::SigningKey,
}

static FIXTURES: LazyLock<Fixtures> = LazyLock::new(fixtures);

fn fixtures() -> Fixtures {
    let tokens: Value = serde_json::from_str(include_str!("../../tests/vectors/tokens.json"))
        .expect("tokens.json is JSON");
    let revocation: Value =
        serde_json::from_str(include_str!("../../tests/vectors/revocation.json"))
            .expect("revocation.json is JSON");
    let config = &tokens["verifiers"]["default"];
    assert_eq!(config["audience"], AUDIENCE);
    assert_eq!(config["clockSkew"], CLOCK_SKEW);
    assert_eq!(config["maxLifetime"], MAX_LIFETIME);
    let mut verifier = Verifier::new(AUDIENCE).expect("audience");
    let mut owners = Vec::new();
    for (iss, jwks) in config["issuers"].as_object().expect("issuers") {
        let keys = KeySet::from_jwks(&jwks.to_string()).expect("vector JWKS");
        owners.extend(keys.keys().iter().map(|k| (k.kid().to_owned(), iss.clone())));
        verifier = verifier.trust(iss, &keys).expect("distinct kids");
    }
    let revocation_keys =
        KeySet::from_jwks(&revocation["keys"].to_string()).expect("revocation keys");
    let snapshot = b64_decode(&revocation["snapshot"]["bytes"]);
    let issuer = revocation["issuer"].as_str().expect("issuer").to_owned();
    let now = revocation["now"].as_i64().expect("now");
    let filter = RevocationFilter::from_snapshot(&snapshot, &issuer, &revocation_keys, now)
        .expect("snapshot");
    let mut replica = RevocationReplica::new(&issuer, revocation_keys.clone());
    assert_eq!(replica.offer(&snapshot, now), Ok(Offered::Replaced));
    let d = b64_decode(&tokens["privateKeys"]["a1"]["d"]);
    let a1 = ed25519_dalek::SigningKey::from_bytes(&d.try_into().expect("32-byte seed"));
    Fixtures {
        verifier: verifier.max_lifetime(900).expect("900").clock_skew(30).expect("30"),
        issuer,
        now,
        owners,
        revocation_keys,
        filter,
        replica,
        a1,
    }
}

fn b64_decode(value: &Value) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(value.as_str().expect("base64url string")).expect("base64url")
}

/// An error as the core must report it: a stable code and a short message that does not
/// contain the input.
fn check_error(error: &Error, input: &[u8]) {
    assert!(Error::CODES.contains(&error.code()), "unknown code {}", error.code());
    let message = error.message();
    assert!(!message.is_empty() && message.len() <= MAX_MESSAGE_LEN, "message: {message}");
    if input.len() >= 64 {
        let echoed = message.as_bytes().windows(input.len()).any(|w| w == input);
        assert!(!echoed, "the message echoes the input");
    }
}

fn check_errors<T>(results: &[&Result<T, Error>], input: &[u8]) {
    results.iter().filter_map(|r| r.as_ref().err()).for_each(|e| check_error(e, input));
}

// ---------------------------------------------------------------------------------------
// token, claims

/// Runs a token through every entry point and checks that they agree, and that an accepted
/// token is one the rules accept.
pub fn token(token: &str) {
    let f = &*FIXTURES;
    let request = Request::new(ACTION, RESOURCE);
    let parsed = UnverifiedToken::parse(token);
    let plain = f.verifier.verify_at(token, &request, NOW);
    let genuine = f.verifier.verify_for_revocation_at(token, NOW);
    let revocation = Revocation::new(Some(&f.filter));
    let context = VerifyContext::new().with_revocation(&revocation);
    let revocable = f.verifier.verify_with(token, &request, NOW, context);
    check_errors(&[&plain, &genuine, &revocable], token.as_bytes());
    check_errors(&[&parsed], token.as_bytes());

    // What does not parse fails every verification with the parser's error (a chain, with
    // `~`, fails where its elements do: see `chain`).
    if let (Err(e), false) = (&parsed, token.contains('~')) {
        assert_eq!(plain.as_ref().err(), Some(e));
        assert_eq!(genuine.as_ref().err(), Some(e));
    }
    // `verify_for_revocation_at` runs exactly the checks up to the lifetime.
    match (&genuine, &plain) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(a), Err(b)) => assert_eq!(a, b),
        (Ok(_), Err(b)) => assert!(AFTER_REVOCATION.contains(&b.code()), "{b}"),
        (Err(a), Ok(_)) => panic!("verify_at accepted what verify_for_revocation_at refused: {a}"),
    }
    // Revocation only ever adds `revoked`, between the lifetime and the binding checks (the
    // vector snapshot is fresh at NOW), or `stale_revocation` for a token of another issuer
    // than the one the data names (data governs one issuer's tokens: docs/revocation.md).
    match (&plain, &revocable) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Ok(a), Err(b)) if a.iss() != f.issuer => assert_eq!(b.code(), "stale_revocation", "{b}"),
        (Ok(_), Err(b)) => assert_eq!(b.code(), "revoked", "{b}"),
        (Err(a), Err(b)) if AFTER_REVOCATION.contains(&a.code()) => {
            assert!(a == b || b.code() == "revoked", "{a} then {b}")
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        (Err(a), Ok(_)) => panic!("revocation data made a refused token valid: {a}"),
    }
    if let Some(claims) = genuine.as_ref().ok().filter(|c| c.iss() == f.issuer) {
        let revoked = revocable.as_ref().is_err_and(|e| e.code() == "revoked");
        assert_eq!(revoked, f.filter.contains(claims.jti()), "revoked iff in the filter");
    }
    if let Ok(claims) = &plain {
        check_accepted(claims, token, &request);
    }
    check_cache(token, &request, &plain);
    check_audit(token, &request, &plain);
}

/// The verified-token cache changes nothing: a miss and then a hit give `verify_at`'s
/// verdict, and a hit still checks the request and the time (another action, a later clock).
fn check_cache(token: &str, request: &Request<'_>, plain: &Result<VerifiedClaims, Error>) {
    let f = &*FIXTURES;
    let mut cache = VerifyCache::new(4);
    for _ in 0..2 {
        let context = VerifyContext::new().with_cache(&mut cache);
        assert_eq!(&f.verifier.verify_with(token, request, NOW, context), plain, "cached");
    }
    let other = Request::new("customers:write", RESOURCE);
    let context = VerifyContext::new().with_cache(&mut cache);
    let got = f.verifier.verify_with(token, &other, NOW, context);
    assert_eq!(got, f.verifier.verify_at(token, &other, NOW), "a hit checks the action");
    let later = NOW + 3600;
    let context = VerifyContext::new().with_cache(&mut cache);
    let got = f.verifier.verify_with(token, request, later, context);
    assert_eq!(got, f.verifier.verify_at(token, request, later), "a hit checks the time");
}

/// Collects audit events.
#[derive(Default)]
struct Recorder(RefCell<Vec<AuditEvent>>);

impl AuditSink for Recorder {
    fn record(&self, event: &AuditEvent) {
        self.0.borrow_mut().push(event.clone());
    }
}

/// An audited verification gives the same verdict and exactly one event with that outcome;
/// the event never holds the token, and holds no claim unless the signature held (an
/// attacker cannot write into audit logs with an unsigned token).
fn check_audit(token: &str, request: &Request<'_>, plain: &Result<VerifiedClaims, Error>) {
    let f = &*FIXTURES;
    let recorder = Recorder::default();
    let context = VerifyContext::new().with_audit(&recorder);
    let got = f.verifier.verify_with(token, request, NOW, context);
    assert_eq!(&got, plain, "audited");
    let events = recorder.0.into_inner();
    assert_eq!(events.len(), 1, "one event per decision");
    let event = &events[0];
    assert_eq!(event.outcome, plain.as_ref().map_or_else(Error::code, |_| "ok"));
    let text = event.to_json().to_string();
    if token.len() >= 64 {
        assert!(!text.contains(token), "the audit event holds the token");
    }
    if let Some(signature) = token.rsplit('.').next().filter(|s| s.len() >= 40) {
        assert!(!text.contains(signature), "the audit event holds the signature");
    }
    // A chain whose root verified carries the root's signed claims, whatever a link did.
    let unsigned = |r: &Result<VerifiedClaims, Error>| {
        r.as_ref().err().is_some_and(|e| {
            ["malformed", "unsupported_alg", "wrong_type", "unknown_key", "bad_signature"]
                .contains(&e.code())
        })
    };
    let root = token.split('~').next().unwrap_or_default();
    let signed_root = root != token && !unsigned(&f.verifier.verify_at(root, request, NOW));
    if let Err(e) = plain {
        if unsigned(plain) && !signed_root {
            let claims = [&event.sub, &event.task, &event.jti];
            assert!(claims.iter().all(|c| c.is_none()), "unsigned claims in an audit event");
        }
        if (e.code() == "unknown_key" || e.code() == "malformed") && !signed_root {
            assert!(event.kid.is_none(), "a kid that names no trusted key");
        }
    }
    // The issuer comes from the configuration (the owner of the trusted kid), never from `iss`.
    let owner = |kid: &String| f.owners.iter().find(|(k, _)| k == kid).map(|(_, iss)| iss.clone());
    assert_eq!(event.issuer, event.kid.as_ref().and_then(owner), "issuer of the trusted kid");
}

/// An accepted token satisfies every rule of docs/token-format.md, read back through the
/// public accessors.
fn check_accepted(claims: &VerifiedClaims, token: &str, request: &Request<'_>) {
    let f = &*FIXTURES;
    let owner = f.owners.iter().find(|(kid, _)| kid == claims.kid()).map(|(_, iss)| iss);
    assert_eq!(Some(claims.iss()), owner.map(String::as_str), "iss owns the signing key");
    assert!(claims.audiences().any(|aud| aud == AUDIENCE), "for our audience");
    assert!(claims.nbf().saturating_sub(CLOCK_SKEW) <= NOW, "not before nbf - skew");
    assert!(NOW < claims.exp().saturating_add(CLOCK_SKEW), "not after exp + skew");
    let lifetime = claims.exp().saturating_sub(claims.iat().min(claims.nbf()));
    assert!(lifetime <= MAX_LIFETIME, "lifetime {lifetime}");
    for value in [claims.iss(), claims.sub(), claims.jti(), claims.task()] {
        assert!(!value.is_empty());
    }
    assert!(claims.get("cnf").is_none(), "a bound token needs the key the request lacks");
    assert!(action_allowed(claims.scope(), request.action));
    assert!(resource_allowed(claims.resources(), request.resource));
    if token.contains('~') {
        // A delegation chain: its claims are the last link's with the root's `iss` and the
        // delegators in `act` (the chain target checks the rest); no single payload to compare.
        assert!(claims.get("act").is_some(), "an accepted chain names its delegators");
        return;
    }
    let parsed = UnverifiedToken::parse(token).expect("an accepted token parses");
    assert_eq!(parsed.claims(), claims.as_map(), "the claims are the payload, untouched");
    let payload = token.split('.').nth(1).and_then(|p| URL_SAFE_NO_PAD.decode(p).ok());
    assert_eq!(payload.as_deref(), Some(claims.as_json().as_bytes()), "as_json is the payload");
    let reparsed: serde_json::Map<String, Value> =
        serde_json::from_str(claims.as_json()).expect("as_json is a JSON object");
    assert_eq!(&reparsed, claims.as_map(), "as_json and the map agree");
    assert_eq!(parsed.header().get("kid").and_then(Value::as_str), Some(claims.kid()));
}

/// Signs `payload` (or, if `data` has a NUL byte, `header NUL payload`) with the vector key
/// `a1` and runs [`token`]: the fuzzer reaches the claim checks without forging signatures.
pub fn signed_claims(data: &[u8]) {
    let f = &*FIXTURES;
    let (header, payload) = match data.iter().position(|b| *b == 0) {
        Some(nul) => (&data[..nul], &data[nul + 1..]),
        None => (HEADER_A1.as_bytes(), data),
    };
    let signing_input =
        format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(payload));
    let signature = f.a1.sign(signing_input.as_bytes()).to_bytes();
    let token_text = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature));
    token(&token_text);
    if header == HEADER_A1.as_bytes() {
        // Header, key and signature hold: only the structure and the claims can fail.
        let got = f.verifier.verify_for_revocation_at(&token_text, NOW);
        if let Err(e) = got {
            assert!(!BEFORE_CLAIMS.contains(&e.code()), "{e}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// jwk

/// Imports text as a public JWK, a private JWK and a JWKS; whatever is accepted round-trips,
/// and a private key signs tokens its public key verifies.
pub fn jwk(text: &str) {
    let public = PublicKey::from_jwk(text);
    let private = SigningKey::from_jwk(text);
    let set = KeySet::from_jwks(text);
    check_errors(&[&public], text.as_bytes());
    check_errors(&[&private], text.as_bytes());
    check_errors(&[&set], text.as_bytes());
    assert!(!(public.is_ok() && private.is_ok()), "a JWK is public or private, not both");

    if let Ok(key) = &public {
        assert_eq!(PublicKey::from_jwk(&key.to_jwk()).as_ref(), Ok(key));
        assert_eq!(key.thumbprint().len(), 43);
    }
    if let Ok(key) = &private {
        let again = SigningKey::from_jwk(&key.to_jwk()).expect("its own JWK imports");
        assert_eq!(again.public_key(), key.public_key());
        assert!(PublicKey::from_jwk(&key.to_jwk()).is_err(), "a private JWK is not public");
        signs_verifiable_tokens(key);
    }
    if let Ok(set) = &set {
        assert!(!set.keys().is_empty());
        for (i, key) in set.keys().iter().enumerate() {
            assert!(set.keys()[..i].iter().all(|k| k.kid() != key.kid()), "distinct kids");
        }
        assert_eq!(KeySet::from_jwks(&set.to_jwks()).as_ref(), Ok(set));
    }
}

fn signs_verifiable_tokens(key: &SigningKey) {
    let iss = "https://fuzz.example";
    let issuer = Issuer::new(iss, key.clone()).expect("issuer");
    let request = MintRequest::new("agent:fuzz", "fuzz")
        .with_aud([AUDIENCE])
        .with_scope(ACTION)
        .with_res([RESOURCE])
        .with_ttl(60);
    let token = issuer.mint_at(&request, NOW).expect("mint");
    let keys = KeySet::from_keys([key.public_key()]).expect("one key");
    let verifier = Verifier::new(AUDIENCE).and_then(|v| v.trust(iss, &keys)).expect("verifier");
    let claims = verifier.verify_at(&token, &Request::new(ACTION, RESOURCE), NOW);
    assert_eq!(claims.map(|c| c.kid().to_owned()), Ok(key.kid().to_owned()));
}

// ---------------------------------------------------------------------------------------
// revocation

/// Decodes, verifies and offers bytes as revocation data; the entry points agree, refused
/// data changes nothing, a replica never goes back, and what decodes re-encodes to the same
/// bytes (the format has one encoding).
pub fn revocation(bytes: &[u8]) {
    let f = &*FIXTURES;
    let decoded = Publication::decode(bytes);
    let verified = Publication::verify(bytes, &f.revocation_keys);
    let snapshot = RevocationFilter::from_snapshot(bytes, &f.issuer, &f.revocation_keys, f.now);
    let mut filter = f.filter.clone();
    let delta = filter.apply_delta(bytes, &f.revocation_keys, f.now);
    let mut replica = f.replica.clone();
    let offered = replica.offer(bytes, f.now);
    check_errors(&[&decoded, &verified], bytes);
    check_errors(&[&snapshot], bytes);
    check_errors(&[&delta], bytes);
    check_errors(&[&offered], bytes);

    match (&decoded, &verified) {
        (Err(a), Err(b)) => assert_eq!(a, b, "structure is checked before the key"),
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Ok(_), Err(b)) => assert!(["unknown_key", "bad_signature"].contains(&b.code()), "{b}"),
        (Err(a), Ok(_)) => panic!("verified what does not decode: {a}"),
    }
    // A verified publication is refused only for another issuer (checked first) or for a
    // time from the future; a delta is never a snapshot.
    let foreign = verified.as_ref().is_ok_and(|p| p.issuer() != f.issuer);
    let implausible =
        verified.as_ref().is_ok_and(|p| p.freshness().check_plausible_at(f.now).is_err());
    match (&verified, &snapshot) {
        (Ok(Publication::Snapshot(s)), Ok(got)) => {
            assert!(!foreign && !implausible, "took another issuer's or a future snapshot");
            assert_eq!((got.freshness(), got.kid(), got.bloom()), (s.freshness, &*s.kid, &s.filter))
        }
        (Ok(_), Err(e)) if foreign => assert_eq!(e.code(), "untrusted_issuer"),
        (Ok(_), Err(e)) if implausible => assert_eq!(e.code(), "malformed"),
        (Ok(Publication::Snapshot(_)), Err(e)) => panic!("a verified snapshot was refused: {e}"),
        (Ok(Publication::Delta(_)), got) => {
            assert_eq!(got.as_ref().err().map(Error::code), Some("malformed"))
        }
        (Err(a), got) => assert_eq!(got.as_ref().err(), Some(a)),
    }
    match &delta {
        Ok(()) => {
            let Ok(Publication::Delta(d)) = &verified else { panic!("applied a non-delta") };
            assert_eq!(d.base_serial, f.filter.freshness().serial);
            assert_eq!(filter.freshness(), d.freshness);
            assert!(d.entries.iter().all(|e| filter.bloom().contains_entry(e)));
        }
        Err(_) => assert_eq!(filter, f.filter, "a refused delta changes nothing"),
    }

    let before = &f.replica;
    assert!(replica.serial() >= before.serial(), "a replica never goes back");
    match &offered {
        Err(e) => {
            if let Err(v) = &verified {
                assert_eq!(e, v);
            }
            assert_eq!(replica.filter(), before.filter(), "refused data changes nothing");
            assert_eq!(replica.has_gap(), before.has_gap());
        }
        Ok(Offered::Replaced) => {
            assert!(matches!(verified, Ok(Publication::Snapshot(_))));
            assert!(replica.serial() > before.serial());
        }
        Ok(Offered::Applied) => {
            let Ok(Publication::Delta(d)) = &verified else { panic!("applied a non-delta") };
            assert!(replica.serial() > before.serial());
            let bloom = replica.filter().expect("a filter").bloom();
            assert!(d.entries.iter().all(|e| bloom.contains_entry(e)), "no false negatives");
        }
        Ok(Offered::Buffered) => {
            assert!(replica.has_gap());
            assert_eq!(replica.filter(), before.filter());
        }
        Ok(Offered::Ignored) => assert_eq!(replica.filter(), before.filter()),
    }
    if let Ok(publication) = &decoded {
        if let Some(again) = reencode(publication) {
            let signed = bytes.len() - 64;
            assert_eq!(again.len(), bytes.len(), "one encoding: same length");
            assert_eq!(&again[..signed], &bytes[..signed], "one encoding: same bytes");
        }
    }
}

/// Signs a decoded publication again (under a key with its `kid`); `None` for a delta whose
/// geometry is too large to allocate on every run.
fn reencode(publication: &Publication) -> Option<Vec<u8>> {
    let seed = [7u8; 32];
    let out = match publication {
        Publication::Snapshot(s) => {
            let key = SigningKey::from_seed(&s.kid, &seed).expect("a decoded kid is 1..=255 bytes");
            Publication::sign_snapshot(&s.filter, s.freshness, &s.issuer, &key)
        }
        Publication::Delta(d) if d.geometry.byte_len() <= 1 << 16 => {
            let key = SigningKey::from_seed(&d.kid, &seed).expect("a decoded kid is 1..=255 bytes");
            let filter = BloomFilter::new(d.geometry, d.salt);
            Publication::sign_delta(
                &filter,
                d.base_serial,
                &d.entries,
                d.freshness,
                &d.issuer,
                &key,
            )
        }
        Publication::Delta(_) => return None,
    };
    Some(out.expect("what decodes can be encoded"))
}

// ---------------------------------------------------------------------------------------
// resource

/// `resource NL pattern NL ...`: matching never lets a request out of its pattern's prefix,
/// and never allows a dot segment or an encoded separator; the first pattern doubles as a
/// scope and the resource as an action.
pub fn resource(text: &str) {
    let mut lines = text.split('\n');
    let resource = lines.next().unwrap_or_default();
    let patterns: Vec<&str> = lines.collect();
    let allowed = resource_allowed(patterns.iter().copied(), resource);
    assert_eq!(allowed, patterns.iter().any(|p| resource_allowed([*p], resource)), "any of");
    if allowed {
        assert_safe_resource(resource);
        assert!(patterns.iter().any(|p| covers(p, resource)), "{resource:?} in {patterns:?}");
    }
    let scope = patterns.first().copied().unwrap_or_default();
    if action_allowed(scope, resource) {
        assert!(!resource.is_empty() && !resource.contains(' '));
        assert!(scope.split(' ').any(|granted| granted == resource));
        assert!(resource != "*" || scope.split(' ').any(|granted| granted == "*"));
    }
}

/// The prefix rule, written independently: equal, or a `*` last segment and a longer
/// resource under its prefix.
fn covers(pattern: &str, resource: &str) -> bool {
    if pattern == resource {
        return true;
    }
    let prefix = match pattern.strip_suffix('*') {
        Some(prefix) if prefix.is_empty() || prefix.ends_with('/') => prefix,
        _ => return false,
    };
    resource.len() > prefix.len() && resource.starts_with(prefix)
}

/// No empty, `.` or `..` segment (also as `..;`), no encoded `/`, `.`, `%`, `\`, no `\` or
/// control character, no broken or over-long escape — and so, decoded once, still no dot
/// segment and no new separator.
fn assert_safe_resource(resource: &str) {
    assert!(!resource.is_empty());
    for segment in resource.split('/') {
        let path = segment.split(';').next().unwrap_or_default();
        assert!(!segment.is_empty() && path != "." && path != "..", "segment {segment:?}");
    }
    assert!(!resource.bytes().any(|b| b == b'\\' || b.is_ascii_control()), "{resource:?}");
    let lower = resource.to_ascii_lowercase();
    for encoded in ["%2f", "%2e", "%25", "%5c", "%c0", "%c1"] {
        assert!(!lower.contains(encoded), "{resource:?} has {encoded}");
    }
    let decoded = percent_decode(resource.as_bytes()).expect("every % starts an escape");
    let segments = resource.split('/').count();
    assert_eq!(decoded.split(|b| *b == b'/').count(), segments, "no new separator");
    assert!(!decoded.contains(&b'\\') && !decoded.contains(&b'%'), "{resource:?}");
    for segment in decoded.split(|b| *b == b'/') {
        assert!(segment != b"." && segment != b"..", "decoded dot segment in {resource:?}");
    }
}

fn percent_decode(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).filter(|h| h.iter().all(u8::is_ascii_hexdigit))?;
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// The fast signature path against ed25519-dalek's `verify_strict`, which must agree on
/// every input. The first byte picks how the rest is read:
/// - even: `seed[32] ‖ mask[64] ‖ message` — a genuine signature by the seed's key, XORed
///   with the mask (an all-zero mask keeps it valid; sparse masks are single-bit flips,
///   `R`/`S` substitutions and the like);
/// - odd: `key[32] ‖ signature[64] ‖ message` — raw bytes, including small-order and
///   non-canonical keys and `R`s, and `S >= L`.
pub fn prepared(data: &[u8]) {
    use ed25519_dalek::{Signature, VerifyingKey};
    use tasktoken::__private::prepared_verify_strict;
    let Some((&mode, rest)) = data.split_first() else { return };
    if rest.len() < 96 {
        return;
    }
    let (first, rest) = rest.split_at(32);
    let (second, message) = rest.split_at(64);
    let first: [u8; 32] = first.try_into().expect("32 bytes");
    let second: [u8; 64] = second.try_into().expect("64 bytes");
    let (key, signature) = if mode % 2 == 0 {
        let signer = ed25519_dalek::SigningKey::from_bytes(&first);
        let mut signature = signer.sign(message).to_bytes();
        signature.iter_mut().zip(second).for_each(|(s, m)| *s ^= m);
        (signer.verifying_key().to_bytes(), signature)
    } else {
        (first, second)
    };
    let reference = VerifyingKey::from_bytes(&key)
        .ok()
        .map(|k| k.verify_strict(message, &Signature::from_bytes(&signature)).is_ok());
    assert_eq!(prepared_verify_strict(&key, message, &signature), reference);
}

// ---------------------------------------------------------------------------------------
// proof

/// A proof key cache holding the vectors' Ed25519 proof key (as a verifier of tokens bound
/// to it holds it after one proof), with that key's thumbprint.
struct HeldProofKey {
    keys: tasktoken::ProofKeyCache,
    jkt: String,
}

thread_local! {
    static HELD: HeldProofKey = held_proof_key();
}

fn held_proof_key() -> HeldProofKey {
    let tokens: Value = serde_json::from_str(include_str!("../../tests/vectors/tokens.json"))
        .expect("tokens.json is JSON");
    let cases = tokens["cases"].as_array().expect("cases");
    let case = cases.iter().find(|c| c["name"] == "valid_dpop_ed25519").expect("the case");
    let dpop = &case["request"]["dpop"];
    let text = |v: &Value| v.as_str().expect("a string").to_owned();
    let (proof, method, url) = (text(&dpop["proof"]), text(&dpop["method"]), text(&dpop["url"]));
    let request = tasktoken::ProofRequest::new(&proof, &method, &url);
    let token = text(&case["token"]);
    let jkt = tasktoken::verify_proof(&request, Some(&token), NOW, 60, 30).expect("valid").jkt;
    let keys = tasktoken::ProofKeyCache::new();
    tasktoken::__private::verify_proof_through(
        &request,
        Some(&token),
        NOW,
        (60, 30),
        (&keys, &jkt),
    )
    .expect("valid through the cache");
    HeldProofKey { keys, jkt }
}

/// Verifies `proof NL method NL url` as a DPoP proof at a fixed clock, with and without a
/// token: the only error is `invalid_proof`, and an accepted proof names this method and a
/// URL that is the same resource (its `htu`, normalised, equals the request's). Through a
/// proof key cache holding the vectors' key (its header skips parsing, its table checks the
/// signature), every verdict is the same; and the header's and claims' JSON reads the same
/// with the borrowed reader as with the strict `serde_json` one.
pub fn proof(text: &str) {
    let mut lines = text.splitn(3, '\n');
    let proof = lines.next().unwrap_or_default();
    let method = lines.next().unwrap_or_default();
    let url = lines.next().unwrap_or_default();
    let request = tasktoken::ProofRequest::new(proof, method, url);
    for token in [None, Some("t.o.k")] {
        let result = tasktoken::verify_proof(&request, token, NOW, 60, 30);
        match &result {
            Ok(verified) => {
                assert!(!verified.jti.is_empty());
                assert_eq!(verified.jkt.len(), 43, "a SHA-256 thumbprint");
            }
            Err(e) => assert_eq!(e.code(), "invalid_proof", "{e}"),
        }
        let held = HELD.with(|held| {
            let through = (&held.keys, held.jkt.as_str());
            tasktoken::__private::verify_proof_through(&request, token, NOW, (60, 30), through)
        });
        assert_eq!(held.as_ref().ok(), result.as_ref().ok(), "the held path agrees");
        assert_eq!(held.map_err(|e| e.code()).err(), result.map_err(|e| e.code()).err());
    }
    for part in proof.split('.').take(2) {
        if let Ok(bytes) = URL_SAFE_NO_PAD.decode(part) {
            assert!(tasktoken::__private::json_readers_agree(&bytes), "{part}");
        }
    }
    assert!(tasktoken::__private::json_readers_agree(text.as_bytes()));
}

// ---------------------------------------------------------------------------------------
// chain

/// A delegation chain (`ROOT~LINK...`, DESIGN.md "Delegation") through the vectors'
/// verifier, asked for every action and resource of its last element: never a panic, only
/// stable codes, and whatever the chain is granted, its root alone (with its own key
/// proved) is granted too — no chain grants what its root does not.
pub fn chain(text: &str) {
    let f = &*FIXTURES;
    let last = text.rsplit('~').next().unwrap_or_default();
    let last_claims = UnverifiedToken::parse(last).ok().map(|t| t.claims().clone());
    let strings = |name: &str| -> Vec<String> {
        let value = last_claims.as_ref().and_then(|c| c.get(name));
        match value {
            Some(Value::String(s)) => s.split(' ').map(String::from).collect(),
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(String::from).collect(),
            _ => Vec::new(),
        }
    };
    let jkt = |claims: Option<&serde_json::Map<String, Value>>| {
        claims.and_then(|c| c.get("cnf")?.get("jkt")?.as_str().map(String::from))
    };
    let last_jkt = jkt(last_claims.as_ref());
    let root_text = text.split('~').next().unwrap_or_default();
    let root_jkt = jkt(UnverifiedToken::parse(root_text).ok().as_ref().map(|t| t.claims()));
    let mut actions = strings("scope");
    actions.push(ACTION.into());
    let mut resources: Vec<String> =
        strings("res").iter().map(|r| r.replace('*', "x")).collect();
    resources.push(RESOURCE.into());
    for action in &actions {
        for resource in &resources {
            let mut request = Request::new(action, resource);
            request.key_thumbprint = last_jkt.as_deref();
            let result = f.verifier.verify_at(text, &request, NOW);
            check_errors(&[&result], text.as_bytes());
            if result.is_ok() && text.contains('~') {
                let mut alone = request;
                alone.key_thumbprint = root_jkt.as_deref();
                let root = f.verifier.verify_at(root_text, &alone, NOW);
                assert!(root.is_ok(), "the chain was granted what its root is not: {root:?}");
            }
        }
    }
}
