//! Token properties over random inputs (proptest):
//!
//! - mint → verify returns exactly the claims minted, for random subjects, tasks, audiences,
//!   scopes, resource patterns the issuer accepts, lifetimes, `nbf`, `cnf` and extra claims;
//! - no single-byte change of a valid token verifies (every position, every other byte, for
//!   one token; random positions and bytes for random tokens);
//! - resource matching never lets a request out of its pattern's prefix, whatever `.`,
//!   `..`, empty, encoded or backslash segments the request holds;
//! - the verifier never panics and always answers with a stable code, on arbitrary strings
//!   and on near-valid tokens built from a valid one's parts (re-signed, so that the claim
//!   checks are reached); what it accepts, it accepts by the rules.
//!
//! Case counts keep this file under ~20 s in a debug build; the fuzz targets in `fuzz/`
//! check the same oracles for longer (docs/security.md).

use std::collections::BTreeMap;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ed25519_dalek::Signer as _;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{json, Map, Value};
use tasktoken::{
    action_allowed, resource_allowed, BloomFilter, BloomGeometry, Error, Freshness, Issuer, KeySet,
    MintRequest, Publication, Request, Revocation, RevocationFilter, SigningKey, UnverifiedToken,
    VerifiedClaims, Verifier, VerifyContext,
};

const NOW: i64 = 1_767_225_600;
const ISS: &str = "https://auth.example";
const AUD: &str = "crm-api";
const SEED: [u8; 32] = [9; 32];
const KID: &str = "p1";
/// Claim names an issuer writes itself; extra claims may not use them.
const REGISTERED: [&str; 14] = [
    "iss", "sub", "aud", "iat", "nbf", "exp", "jti", "task", "scope", "res", "cnf", "dlg", "prev",
    "act",
];

fn key() -> SigningKey {
    SigningKey::from_seed(KID, &SEED).expect("kid")
}

fn issuer() -> Issuer {
    Issuer::new(ISS, key()).expect("issuer")
}

fn verifier() -> Verifier {
    let keys = KeySet::from_keys([key().public_key()]).expect("one key");
    Verifier::new(AUD).and_then(|v| v.trust(ISS, &keys)).expect("verifier")
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Signs `header.payload` (JSON text, encoded here) with the test key, as an issuer that
/// writes whatever it is given would.
fn sign_raw(header: &str, payload: &str) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let signature = ed25519_dalek::SigningKey::from_bytes(&SEED).sign(input.as_bytes());
    format!("{input}.{}", b64(&signature.to_bytes()))
}

// ---------------------------------------------------------------------------------------
// Strategies

/// Non-empty text of any characters: controls, quotes, backslashes, non-ASCII.
fn text() -> impl Strategy<Value = String> {
    "(?s).{1,24}"
}

/// An RFC 6749 §3.3 scope token.
fn scope_token() -> impl Strategy<Value = String> {
    "[!#-\\[\\]-~]{1,12}"
}

/// A segment the issuer accepts: not empty, `.` or `..` (also before `;`), no `/`, `*`,
/// `\`, control character or unsafe escape; safe escapes and non-ASCII included.
fn safe_segment() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        6 => "[A-Za-z0-9._~:@!$&'()+,;=-]{1,8}",
        1 => prop::sample::select(vec!["%20", "%41", "%7e", "%E2%82%AC", "%3B"]).prop_map(String::from),
        // Letters beyond ASCII (no spaces, invisible characters or look-alikes of `.`/`/`).
        1 => "[\u{e0}-\u{17f}\u{4e00}-\u{4e20}]{1,3}",
    ];
    prop::collection::vec(piece, 1..3).prop_map(|p| p.concat()).prop_filter("dot segment", |s| {
        // Dots and spaces only, before any `;`, `?`, `#` or `:` (also encoded), never match.
        let decoded = s.replace("%20", " ").replace("%3B", ";");
        let path = decoded.split([';', '?', '#', ':']).next().unwrap_or_default();
        !path.chars().all(|c| c == '.' || c == ' ')
    })
}

/// A pattern the issuer accepts: safe segments, optionally `/*`.
fn pattern() -> impl Strategy<Value = String> {
    (prop::collection::vec(safe_segment(), 1..4), any::<bool>()).prop_map(|(segments, star)| {
        let body = segments.join("/");
        if star {
            body + "/*"
        } else {
            body
        }
    })
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        "(?s).{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("(?s).{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Extra claims: any names but the v1 ones, any values.
fn extra_claims() -> impl Strategy<Value = BTreeMap<String, Value>> {
    prop::collection::btree_map(
        "(?s).{0,10}".prop_filter("v1 name", |k| !REGISTERED.contains(&k.as_str())),
        json_value(),
        0..4,
    )
}

/// A valid mint request, with the request it grants and the time to verify at.
#[derive(Clone, Debug)]
struct Grant {
    mint: MintRequest,
    action: String,
    resource: String,
    at: i64,
}

fn grant() -> impl Strategy<Value = Grant> {
    let who = (text(), text(), prop::collection::vec(text(), 0..3), any::<Index>());
    let what = (
        prop::collection::vec(scope_token(), 1..=4),
        any::<Index>(),
        prop::collection::vec(pattern(), 1..4),
        any::<Index>(),
        prop::collection::vec(safe_segment(), 1..3),
    );
    let when = (1u32..=900, prop::option::of(-900i64..=30), any::<Index>());
    let bound = (prop::option::of(any::<[u8; 32]>()), extra_claims());
    (who, what, when, bound).prop_map(|(who, what, when, bound)| {
        let (sub, task, mut aud, aud_at) = who;
        let (actions, action_at, res, res_at, tail) = what;
        let (ttl, nbf_offset, elapsed) = when;
        let (jkt, extra) = bound;
        aud.insert(aud_at.index(aud.len() + 1), AUD.to_owned());
        let pattern = res[res_at.index(res.len())].clone();
        let resource = match pattern.strip_suffix('*') {
            Some(prefix) => format!("{prefix}{}", tail.join("/")),
            None => pattern,
        };
        // `nbf` at most 30 s ahead (valid now, with the skew) and never so early that the
        // usable window `exp - nbf` exceeds the 900 s maximum.
        let nbf = nbf_offset.map(|o| NOW + o.max(i64::from(ttl) - 900));
        let mut mint = MintRequest::new(sub, task)
            .with_aud(aud)
            .with_scope(actions.join(" "))
            .with_res(res)
            .with_ttl(ttl)
            .with_extra(extra.into_iter().collect());
        mint.nbf = nbf;
        mint.cnf_jkt = jkt.map(|j| b64(&j));
        Grant {
            action: actions[action_at.index(actions.len())].clone(),
            mint,
            resource,
            at: NOW + i64::try_from(elapsed.index(ttl as usize)).expect("small"),
        }
    })
}

/// The claims a token minted for `mint` at NOW must carry, with its `jti`.
fn expected_claims(mint: &MintRequest, jti: &str) -> Map<String, Value> {
    let mut want = mint.extra.clone();
    let aud = match mint.aud.as_slice() {
        [one] => json!(one),
        many => json!(many),
    };
    let registered = json!({
        "iss": ISS, "sub": mint.sub, "aud": aud, "iat": NOW, "exp": NOW + i64::from(mint.ttl),
        "jti": jti, "task": mint.task, "scope": mint.scope, "res": mint.res,
    });
    want.extend(registered.as_object().expect("object").clone());
    if let Some(nbf) = mint.nbf {
        want.insert("nbf".into(), json!(nbf));
    }
    if let Some(jkt) = &mint.cnf_jkt {
        want.insert("cnf".into(), json!({ "jkt": jkt }));
    }
    want
}

// ---------------------------------------------------------------------------------------
// Oracles shared by the properties

/// An error as every entry point must give it: a stable code, a short message that never
/// echoes the token.
fn check_error(error: &Error, token: &str) -> Result<(), TestCaseError> {
    prop_assert!(Error::CODES.contains(&error.code()), "code {}", error.code());
    prop_assert!(!error.message().is_empty() && error.message().len() <= 256);
    if token.len() >= 64 {
        prop_assert!(!error.message().contains(token), "echoes the token");
    }
    Ok(())
}

/// What a verifier accepted, it accepted by the rules (docs/token-format.md §4–5).
fn check_accepted(
    claims: &VerifiedClaims,
    token: &str,
    request: &Request<'_>,
    at: i64,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(claims.iss(), ISS);
    prop_assert_eq!(claims.kid(), KID);
    prop_assert!(claims.audiences().any(|a| a == AUD));
    prop_assert!(claims.nbf().saturating_sub(30) <= at && at < claims.exp().saturating_add(30));
    prop_assert!(claims.exp().saturating_sub(claims.iat().min(claims.nbf())) <= 900);
    for value in [claims.sub(), claims.jti(), claims.task()] {
        prop_assert!(!value.is_empty());
    }
    prop_assert!(action_allowed(claims.scope(), request.action));
    prop_assert!(resource_allowed(claims.resources(), request.resource));
    let parsed = UnverifiedToken::parse(token).expect("an accepted token parses");
    prop_assert_eq!(parsed.claims(), claims.as_map());
    Ok(())
}

/// Runs `token` through `verify_at` and `verify_with` an empty, fresh filter, and
/// checks both answers.
fn verify_checked(
    verifier: &Verifier,
    filter: &RevocationFilter,
    token: &str,
    request: &Request<'_>,
    at: i64,
) -> Result<Result<VerifiedClaims, Error>, TestCaseError> {
    let plain = verifier.verify_at(token, request, at);
    let revocation = Revocation::new(Some(filter));
    let context = VerifyContext::new().with_revocation(&revocation);
    let revocable = verifier.verify_with(token, request, at, context);
    prop_assert_eq!(&plain, &revocable, "an empty filter changes nothing");
    match &plain {
        Ok(claims) => check_accepted(claims, token, request, at)?,
        Err(e) => check_error(e, token)?,
    }
    Ok(plain)
}

/// An empty revocation filter signed by the test key, fresh around NOW.
fn empty_filter() -> RevocationFilter {
    let geometry = BloomGeometry::for_capacity(16, 1e-3).expect("geometry");
    let freshness = Freshness::new(1, NOW - 60, NOW + 3600);
    let empty = BloomFilter::new(geometry, [4; 16]);
    let bytes = Publication::sign_snapshot(&empty, freshness, ISS, &key()).expect("sign");
    let keys = KeySet::from_keys([key().public_key()]).expect("one key");
    RevocationFilter::from_snapshot(&bytes, ISS, &keys, NOW).expect("verify")
}

/// The prefix rule, written independently: equal, or a `*` last segment and a longer
/// resource under its prefix.
fn covers(pattern: &str, resource: &str) -> bool {
    match pattern.strip_suffix('*') {
        _ if pattern == resource => true,
        Some(prefix) if prefix.is_empty() || prefix.ends_with('/') => {
            resource.len() > prefix.len() && resource.starts_with(prefix)
        }
        _ => false,
    }
}

fn percent_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
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

// ---------------------------------------------------------------------------------------
// Properties

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Whatever valid grant is minted, the verifier returns exactly the claims minted, and
    /// the accessors read them back.
    #[test]
    fn mint_then_verify_returns_the_claims(grant in grant()) {
        let token = issuer().mint_at(&grant.mint, NOW).expect("the issuer accepts the grant");
        let mut request = Request::new(&grant.action, &grant.resource);
        request.key_thumbprint = grant.mint.cnf_jkt.as_deref();
        let claims = verifier().verify_at(&token, &request, grant.at).expect("verifies");
        let jti = claims.jti().to_owned();
        prop_assert_eq!(URL_SAFE_NO_PAD.decode(&jti).map(|b| b.len()), Ok(16), "128-bit jti");
        prop_assert_eq!(claims.as_map(), &expected_claims(&grant.mint, &jti));
        prop_assert_eq!(claims.sub(), grant.mint.sub.as_str());
        prop_assert_eq!(claims.task(), grant.mint.task.as_str());
        prop_assert_eq!(claims.scope(), grant.mint.scope.as_str());
        prop_assert_eq!(claims.resources().collect::<Vec<_>>(), grant.mint.res.iter().map(String::as_str).collect::<Vec<_>>());
        prop_assert_eq!(claims.audiences().collect::<Vec<_>>(), grant.mint.aud.iter().map(String::as_str).collect::<Vec<_>>());
        prop_assert_eq!((claims.iat(), claims.exp()), (NOW, NOW + i64::from(grant.mint.ttl)));
        prop_assert_eq!(claims.nbf(), grant.mint.nbf.unwrap_or(NOW));
        prop_assert_eq!(claims.kid(), KID);
        prop_assert!(!claims.stale_revocation_ignored());
        check_accepted(&claims, &token, &request, grant.at)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Replacing any one byte of a random valid token with any other byte never verifies.
    #[test]
    fn a_random_single_byte_change_never_verifies(
        grant in grant(),
        position in any::<Index>(),
        replacement in any::<u8>(),
    ) {
        let token = issuer().mint_at(&grant.mint, NOW).expect("mint");
        let mut request = Request::new(&grant.action, &grant.resource);
        request.key_thumbprint = grant.mint.cnf_jkt.as_deref();
        let verifier = verifier();
        prop_assert!(verifier.verify_at(&token, &request, grant.at).is_ok());
        let mut bytes = token.into_bytes();
        let i = position.index(bytes.len());
        prop_assume!(bytes[i] != replacement);
        bytes[i] = replacement;
        match String::from_utf8(bytes) {
            Ok(tampered) => {
                let got = verifier.verify_at(&tampered, &request, grant.at);
                prop_assert!(got.is_err(), "byte {} changed to {:#04x} verified", i, replacement);
            }
            // A lone byte >= 0x80 in ASCII text is not UTF-8: no &str, so no token, at all.
            Err(not_text) => prop_assert!(replacement >= 0x80, "{}", not_text),
        }
    }
}

/// Exhaustively: every position of one token (extra claims, `nbf`, `cnf`, several
/// audiences), every other ASCII byte. Bytes >= 0x80 cannot replace one byte of ASCII text
/// and stay a string; the random property above covers that they are not text at all.
#[test]
fn every_single_byte_change_of_a_token_is_refused() {
    let jkt = b64(&[7u8; 32]);
    let mint = MintRequest::new("agent:lookup-bot", "lookup-4821")
        .with_aud(["crm-api", "billing"])
        .with_scope("customers:read customers:list")
        .with_res(["customers/4821", "orders/*"])
        .with_ttl(300)
        .with_nbf(NOW - 10)
        .with_cnf_jkt(jkt.clone())
        .with_extra(
            json!({"ticket": "OPS-12", "n": [1, 2.5, null]}).as_object().expect("map").clone(),
        );
    let token = issuer().mint_at(&mint, NOW).expect("mint");
    let request = Request::new("customers:read", "customers/4821").with_key_thumbprint(&jkt);
    let verifier = verifier();
    assert!(verifier.verify_at(&token, &request, NOW).is_ok());
    let mut codes = BTreeMap::<&str, usize>::new();
    for i in 0..token.len() {
        for replacement in 0u8..0x80 {
            if token.as_bytes()[i] == replacement {
                continue;
            }
            let mut bytes = token.clone().into_bytes();
            bytes[i] = replacement;
            let tampered = String::from_utf8(bytes).expect("ASCII");
            match verifier.verify_at(&tampered, &request, NOW) {
                Ok(_) => panic!("byte {i} changed to {replacement:#04x} still verifies"),
                Err(e) => *codes.entry(e.code()).or_default() += 1,
            }
        }
    }
    // Each change fails at the structure, the header, the key or the signature: a tampered
    // token never reaches the claim checks.
    let before_claims =
        ["malformed", "unsupported_alg", "wrong_type", "unknown_key", "bad_signature"];
    assert!(codes.keys().all(|c| before_claims.contains(c)), "{codes:?}");
    assert!(codes.contains_key("bad_signature"), "{codes:?}");
}

/// A segment that routers, decoders or file systems may read as a traversal or separator,
/// or an ordinary one.
fn hostile_segment() -> impl Strategy<Value = String> {
    let hostile = vec![
        "",
        ".",
        "..",
        "..;",
        ".;x",
        "..;a=b",
        "%2e",
        "%2E%2e",
        ".%2e",
        "%2f",
        "a%2Fb",
        "%25",
        "%252e",
        "%5c",
        "%5C..",
        "\\",
        "..\\",
        "%c0%ae",
        "%C1%9C",
        "%",
        "%2",
        "%zz",
        "%%2e",
        "*",
        "a;b",
        "\u{0}",
        "\t",
        "\u{7f}",
        "\n",
        "%20",
        "é",
        " ",
        "\u{ff0e}\u{ff0e}",
        "%00",
    ];
    prop_oneof![
        2 => "[a-c]{1,3}",
        3 => prop::sample::select(hostile).prop_map(String::from),
        1 => "[a-c.%2eEfF5C;]{1,4}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8000, ..ProptestConfig::default() })]

    /// Matching never lets a request out of its pattern's prefix: an allowed resource starts
    /// with the prefix, has no empty, `.` or `..` segment (not even once percent-decoded,
    /// nor as `..;`), and no encoded separator, `\` or control character — so normalising
    /// it (RFC 3986 §5.2.4) changes nothing.
    #[test]
    fn resource_matching_never_escapes_the_prefix(
        segments in prop::collection::vec(hostile_segment(), 0..6),
        pattern_segments in prop::collection::vec(hostile_segment(), 0..4),
        lead in any::<bool>(),
        trail in any::<bool>(),
        star in prop::sample::select(vec!["", "*", "/*"]),
    ) {
        let mut resource = segments.join("/");
        if lead { resource.insert(0, '/'); }
        if trail { resource.push('/'); }
        let pattern = pattern_segments.join("/") + star;
        if resource_allowed([pattern.as_str()], &resource) {
            prop_assert!(covers(&pattern, &resource), "{:?} escapes {:?}", resource, pattern);
            for segment in resource.split('/') {
                let path = segment.split(';').next().unwrap_or_default();
                prop_assert!(!segment.is_empty() && path != "." && path != "..", "{:?}", resource);
            }
            prop_assert!(!resource.bytes().any(|b| b == b'\\' || b.is_ascii_control()));
            let lower = resource.to_ascii_lowercase();
            for encoded in ["%2f", "%2e", "%25", "%5c", "%c0", "%c1"] {
                prop_assert!(!lower.contains(encoded), "{:?}", resource);
            }
            let decoded = percent_decode(&resource).expect("only well-formed escapes");
            prop_assert_eq!(decoded.split(|b| *b == b'/').count(), resource.split('/').count());
            prop_assert!(!decoded.contains(&b'\\') && !decoded.contains(&b'%'));
            for segment in decoded.split(|b| *b == b'/') {
                prop_assert!(segment != b"." && segment != b"..", "{:?}", resource);
            }
        }
    }

}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// A pattern the issuer signs covers exactly its prefix: every safe extension under a
    /// `/*` pattern matches, and the prefix itself, a sibling and a parent do not.
    #[test]
    fn wildcard_patterns_cover_exactly_their_subtree(
        pattern in pattern(),
        tail in prop::collection::vec(safe_segment(), 1..3),
        sibling in safe_segment(),
    ) {
        let under = match pattern.strip_suffix("/*") {
            Some(prefix) => prefix.to_owned(),
            None => pattern.clone(),
        };
        let wildcard = pattern.ends_with("/*");
        let below = format!("{under}/{}", tail.join("/"));
        prop_assert_eq!(resource_allowed([pattern.as_str()], &below), wildcard);
        prop_assert_eq!(resource_allowed([pattern.as_str()], &under), !wildcard);
        let beside = format!("{under}{sibling}");
        prop_assert!(!resource_allowed([pattern.as_str()], &beside), "{:?}", beside);
        if let Some((parent, _)) = under.rsplit_once('/') {
            prop_assert!(!resource_allowed([pattern.as_str()], parent));
        }
        for traversal in ["..", ".", "%2e%2e", "..;", ""] {
            let escape = format!("{under}/{traversal}/{sibling}");
            prop_assert!(!resource_allowed([pattern.as_str()], &escape), "{:?}", escape);
        }
    }
}

/// A change to a valid token that keeps it close to valid.
#[derive(Clone, Debug)]
enum Mutation {
    /// Replaces part `0..3` with random base64url.
    ReplacePart(Index, String),
    /// Swaps two parts.
    SwapParts(Index, Index),
    /// Removes or doubles a part.
    DropPart(Index),
    DoublePart(Index),
    /// Pads a part with `=`, or re-encodes it in the standard alphabet.
    Pad(Index),
    Standard(Index),
    /// Inserts a character anywhere.
    Insert(Index, char),
    /// Sets a claim (a v1 one or any) to a random value and re-signs.
    SetClaim(String, Value),
    /// Removes a claim and re-signs.
    RemoveClaim(String),
    /// Sets a header member to a random value and re-signs.
    SetHeader(String, Value),
    /// Replaces the payload by random JSON text and re-signs.
    Payload(String),
}

fn claim_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(REGISTERED.to_vec()).prop_map(String::from),
        1 => "(?s).{0,6}",
    ]
}

fn header_name() -> impl Strategy<Value = String> {
    let names = vec!["alg", "typ", "kid", "crit", "b64", "jku", "jwk", "x5c", "zip", "cty", "x"];
    prop::sample::select(names).prop_map(String::from)
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        1 => (any::<Index>(), "[A-Za-z0-9_-]{0,90}").prop_map(|(i, s)| Mutation::ReplacePart(i, s)),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(i, j)| Mutation::SwapParts(i, j)),
        1 => any::<Index>().prop_map(Mutation::DropPart),
        1 => any::<Index>().prop_map(Mutation::DoublePart),
        1 => any::<Index>().prop_map(Mutation::Pad),
        1 => any::<Index>().prop_map(Mutation::Standard),
        1 => (any::<Index>(), any::<char>()).prop_map(|(i, c)| Mutation::Insert(i, c)),
        3 => (claim_name(), json_value()).prop_map(|(n, v)| Mutation::SetClaim(n, v)),
        1 => claim_name().prop_map(Mutation::RemoveClaim),
        2 => (header_name(), json_value()).prop_map(|(n, v)| Mutation::SetHeader(n, v)),
        1 => "(?s)\\{.{0,60}\\}?".prop_map(Mutation::Payload),
    ]
}

/// Applies `mutation` to `token`; claim and header changes re-sign with the test key.
fn mutate(token: &str, mutation: &Mutation) -> String {
    let mut parts: Vec<String> = token.split('.').map(String::from).collect();
    let part = |i: usize| parts.get(i).map_or("", String::as_str).to_owned();
    let json_part = |part: String| -> Map<String, Value> {
        URL_SAFE_NO_PAD
            .decode(part)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    };
    let resign = |header: &Map<String, Value>, payload: &str| {
        sign_raw(&Value::Object(header.clone()).to_string(), payload)
    };
    match mutation {
        Mutation::ReplacePart(i, s) => {
            let i = i.index(parts.len());
            parts[i] = s.clone();
        }
        Mutation::SwapParts(i, j) => {
            let (i, j) = (i.index(parts.len()), j.index(parts.len()));
            parts.swap(i, j);
        }
        Mutation::DropPart(i) => {
            let i = i.index(parts.len());
            parts.remove(i);
        }
        Mutation::DoublePart(i) => {
            let i = i.index(parts.len());
            parts.insert(i, parts[i].clone());
        }
        Mutation::Pad(i) => {
            let i = i.index(parts.len());
            parts[i].push_str("==");
        }
        Mutation::Standard(i) => {
            let i = i.index(parts.len());
            let bytes = URL_SAFE_NO_PAD.decode(&parts[i]).unwrap_or_default();
            parts[i] = STANDARD.encode(bytes);
        }
        Mutation::Insert(i, c) => {
            let mut text = parts.join(".");
            let mut at = i.index(text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            text.insert(at, *c);
            return text;
        }
        Mutation::SetClaim(name, value) => {
            let mut claims = json_part(part(1));
            claims.insert(name.clone(), value.clone());
            return resign(&json_part(part(0)), &Value::Object(claims).to_string());
        }
        Mutation::RemoveClaim(name) => {
            let mut claims = json_part(part(1));
            claims.remove(name);
            return resign(&json_part(part(0)), &Value::Object(claims).to_string());
        }
        Mutation::SetHeader(name, value) => {
            let mut header = json_part(part(0));
            header.insert(name.clone(), value.clone());
            let payload = URL_SAFE_NO_PAD.decode(part(1)).unwrap_or_default();
            return resign(&header, &String::from_utf8_lossy(&payload));
        }
        Mutation::Payload(text) => return resign(&json_part(part(0)), text),
    }
    parts.join(".")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Arbitrary strings, short or around the 8 KiB limit: never a panic, always a stable
    /// code; `parse` and `verify_at` agree on what is malformed.
    #[test]
    fn the_verifier_answers_every_string(
        token in prop_oneof![
            any::<String>(),
            "[A-Za-z0-9_.=-]{0,200}",
            "[A-Za-z0-9_.-]{8190,8194}",
            "(?s).{8180,8200}",
        ],
    ) {
        let request = Request::new("customers:read", "customers/4821");
        let got = verify_checked(&verifier(), &empty_filter(), &token, &request, NOW)?;
        prop_assert!(got.is_err());
        if let Err(e) = UnverifiedToken::parse(&token) {
            check_error(&e, &token)?;
            if token.contains('~') {
                // A chain (DESIGN.md, "Delegation") fails where its elements do: the same
                // code, with a message about the element.
                prop_assert_eq!(got.err().map(|g| g.code()), Some(e.code()));
            } else {
                prop_assert_eq!(got.err(), Some(e));
            }
        }
    }

}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    /// Near-valid tokens — parts replaced, swapped, dropped, doubled, padded, re-encoded,
    /// characters inserted, claims and header members changed and re-signed — never panic
    /// the verifier; what it still accepts, it accepts by the rules.
    #[test]
    fn the_verifier_answers_near_valid_tokens(
        grant in grant(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let mut token = issuer().mint_at(&grant.mint, NOW).expect("mint");
        for mutation in &mutations {
            token = mutate(&token, mutation);
        }
        let mut request = Request::new(&grant.action, &grant.resource);
        request.key_thumbprint = grant.mint.cnf_jkt.as_deref();
        let got = verify_checked(&verifier(), &empty_filter(), &token, &request, grant.at)?;
        if token.contains('~') {
            // A `~` makes it a delegation chain: the chain reader answers (with its own
            // message), and no single mutated token is a chain that could pass.
            prop_assert!(got.is_err(), "a mutated token read as a chain was accepted");
        } else if let Err(e) = UnverifiedToken::parse(&token) {
            check_error(&e, &token)?;
            prop_assert_eq!(got.err(), Some(e), "what does not parse fails with the parse error");
        }
    }
}
