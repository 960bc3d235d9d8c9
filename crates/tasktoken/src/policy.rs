//! Task-scope policy: action matching against `scope`, resource matching against `res`.
//!
//! Resources are `/`-separated segments. A pattern matches a request resource exactly, or,
//! when its last segment is `*`, any resource that extends the pattern's prefix by one or
//! more segments. A request resource with an empty, `.` or `..` segment, or with a
//! percent-encoded `/`, `.` or `%`, never matches; nor, as hardening beyond DESIGN.md, one
//! with a segment of dots and spaces only (`...`, `.. `), a `..;` segment, a `\`, a control
//! or invisible character, a Unicode look-alike of `.`, `/`, `\` or `%` (`‥`, `．`, `／`),
//! or a `%` escape that is broken or does not decode to UTF-8 (over-long forms): see
//! [`is_safe_segment`] and docs/token-format.md.
//! Matching is case-sensitive. Actions match exactly; `*` is not a wildcard for actions.

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;

/// True if `scope` (space-separated actions) grants `action` exactly.
pub fn action_allowed(scope: &str, action: &str) -> bool {
    is_scope_token(action) && scope.split(' ').any(|granted| granted == action)
}

/// True if any of `patterns` covers the request `resource` (see the module docs).
pub fn resource_allowed<'a>(patterns: impl IntoIterator<Item = &'a str>, resource: &str) -> bool {
    is_safe_request_resource(resource)
        && patterns.into_iter().any(|pattern| pattern_matches(pattern, resource))
}

/// True if `pattern` covers `resource`, which must already be a safe request resource: equal,
/// or the pattern ends in a `*` segment and the resource extends its prefix. The same rule
/// decides whether a requested pattern lies inside a granted one (token exchange).
pub(crate) fn pattern_matches(pattern: &str, resource: &str) -> bool {
    if pattern == resource {
        return true;
    }
    match pattern.strip_suffix('*') {
        // "a/b/*" keeps "a/b/" as prefix; a bare "*" keeps "" and so covers every resource.
        Some(prefix) if prefix.is_empty() || prefix.ends_with('/') => {
            resource.len() > prefix.len() && resource.starts_with(prefix)
        }
        _ => false,
    }
}

/// A request resource may match only if it is not empty and every segment is safe (see
/// [`is_safe_segment`]). Checked per segment, on the segment with its `%XX` escapes decoded:
/// what a later decoder, router or file system could read as a separator, a traversal or
/// another name must not reach a matcher that compares bytes.
fn is_safe_request_resource(resource: &str) -> bool {
    !resource.is_empty() && resource.split('/').all(is_safe_segment)
}

/// A segment is safe when:
/// - its `%` escapes are well formed (`%XX`) and none encodes `/`, `.`, `%` or `\`;
/// - decoded, it is valid UTF-8 (so no over-long form of `.` or `/`, of any length);
/// - decoded, its path part (before a `;`, `?`, `#` or `:`, which servers may take for a
///   parameter, a query, a fragment or a stream) is not made only of dots and spaces (`.`,
///   `..`, `...`, `.. `, `..%20`, `..%3F`: Windows and some servers trim trailing dots and
///   spaces);
/// - decoded, it holds no `\`, no control character (C0, DEL, C1), no white space but the
///   ASCII space, no invisible formatting character, and no character that Unicode
///   compatibility normalisation (NFKC) turns into `.`, `/`, `\` or `%` (`‥`, `．`, `／`, …).
pub(crate) fn is_safe_segment(segment: &str) -> bool {
    let Some(decoded) = decode_segment(segment) else {
        return false;
    };
    // The part a server may take for the name: before a parameter (`;`), a query or
    // fragment a decode-and-reparse would find (`%3F`, `%23`), or a Windows stream (`:`).
    let path_part = decoded.split([';', '?', '#', ':']).next().unwrap_or_default();
    !path_part.chars().all(|c| c == '.' || c == ' ') && !decoded.chars().any(is_forbidden_char)
}

/// The segment with its `%XX` escapes decoded, if they are well formed, none encodes a
/// structural character (`/`, `.`, `%`, `\`), and the result is UTF-8. Borrows when there
/// is no escape (the common case costs no allocation).
fn decode_segment(segment: &str) -> Option<Cow<'_, str>> {
    if !segment.contains('%') {
        return Some(Cow::Borrowed(segment));
    }
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let hex = |at: usize| bytes.get(at).and_then(|b| char::from(*b).to_digit(16));
        let byte = (hex(i + 1)? * 16 + hex(i + 2)?) as u8;
        if matches!(byte, b'/' | b'.' | b'%' | b'\\') {
            return None;
        }
        out.push(byte);
        i += 3;
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

/// Characters no request resource may hold, raw or percent-encoded (see [`is_safe_segment`]).
fn is_forbidden_char(c: char) -> bool {
    c == '\\'
        || c.is_control()
        || (c.is_whitespace() && c != ' ')
        || matches!(c,
            // NFKC look-alikes of `.`, `..`, `...`, `/`, `\`, `%`, and letters around a `/`.
            '\u{2024}'..='\u{2026}' | '\u{FE19}' | '\u{FE30}' | '\u{FE52}' | '\u{FF0E}'
            | '\u{2044}' | '\u{2215}' | '\u{29F8}' | '\u{FF0F}' | '\u{2100}' | '\u{2101}'
            | '\u{2105}' | '\u{2106}' | '\u{29F9}' | '\u{FE68}' | '\u{FF3C}' | '\u{FE6A}'
            | '\u{FF05}' | '\u{2488}'..='\u{249B}' | '\u{1F100}'..='\u{1F10A}'
            | '\u{33C2}' | '\u{33C7}' | '\u{33D8}'
            // Full stops that IDNA (UTS 46) maps to `.`.
            | '\u{3002}' | '\u{FF61}')
        || is_invisible(c)
}

/// What a person reading a text does not see, or sees otherwise than it is: every Unicode
/// format character (category Cf: bidi controls and marks, zero-width characters, tag
/// characters, invisible operators, Arabic and other number signs, shorthand controls),
/// variation selectors, and the fillers and vowels that render as blanks. Refused in the
/// `task` a token service is asked for and in the claims templates substitute: what an
/// approver reads must be what is minted. (Resources refuse [`is_invisible`], the set the
/// verifier has always applied.)
fn is_hidden(c: char) -> bool {
    is_invisible(c)
        || matches!(c,
            '\u{0600}'..='\u{0605}' | '\u{061C}' | '\u{06DD}' | '\u{070F}' | '\u{0890}'
            | '\u{0891}' | '\u{08E2}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
            | '\u{180B}'..='\u{180F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FFA0}'
            | '\u{110BD}' | '\u{110CD}' | '\u{13430}'..='\u{1343F}' | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E007F}' | '\u{E0100}'..='\u{E01EF}')
}

/// Invisible formatting characters: soft hyphen, joiners and marks, bidi controls (which
/// make a text read differently from what it is), BOM, interlinear annotations. Refused in
/// resources (and, with more, by [`is_hidden`]).
pub(crate) fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{180E}' | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}'
        | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

/// A scope token as RFC 6749 §3.3 defines it: one or more of `%x21 / %x23-5B / %x5D-7E`.
pub(crate) fn is_scope_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// A `scope` claim as RFC 6749 §3.3 defines it: scope tokens separated by single spaces.
pub(crate) fn is_scope(scope: &str) -> bool {
    scope.split(' ').all(is_scope_token)
}

/// A `scope` the token service takes from a client: [`is_scope`], and no action twice (an
/// action asked for twice is a client's bug, not a grant to write twice into the token).
/// The issuer itself keeps accepting what its trusted caller writes.
pub(crate) fn is_mintable_scope(scope: &str) -> bool {
    // Scopes are a handful of actions: quadratic is cheaper than a set.
    is_scope(scope)
        && scope.split(' ').enumerate().all(|(i, a)| !scope.split(' ').take(i).any(|b| b == a))
}

/// Text a person reads as what it is: no control character and nothing [`is_hidden`]. What
/// the token service takes from its clients (a `task`) and from identity tokens (claims in
/// templates), and shows approvers.
pub(crate) fn is_readable_text(text: &str) -> bool {
    !text.chars().any(|c| c.is_control() || is_hidden(c))
}

/// A resource pattern an issuer is willing to sign: segments that are not empty, `.`, `..`,
/// or encoded separators, with `*` only as the whole last segment.
pub(crate) fn is_mintable_pattern(pattern: &str) -> bool {
    let body = match pattern.strip_suffix("/*") {
        Some(prefix) => prefix,
        None if pattern == "*" => return true,
        None => pattern,
    };
    is_safe_request_resource(body) && !body.split('/').any(|seg| seg.contains('*'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mintable_scopes_name_each_action_once_and_readable_text_hides_nothing() {
        assert!(is_mintable_scope("a:read a:write"));
        for bad in ["a:read a:read", "a b a", "a  b", "", "a "] {
            assert!(!is_mintable_scope(bad), "{bad:?}");
        }
        assert!(is_readable_text("deploy-8812/stage:deploy ünïcode"));
        for bad in ["x\u{202E}y", "x\u{E0061}", "x\ny", "x\u{200B}"] {
            assert!(!is_readable_text(bad), "{bad:?}");
        }
    }

    #[test]
    fn resources() {
        let allow = |p: &str, r: &str| resource_allowed([p], r);
        assert!(allow("customers/4821", "customers/4821"));
        assert!(!allow("customers/4821", "customers/48211"));
        assert!(!allow("customers/4821", "Customers/4821"));
        assert!(allow("customers/*", "customers/4821"));
        assert!(allow("customers/*", "customers/4821/orders"));
        assert!(!allow("customers/*", "customers"));
        assert!(!allow("customers/*", "customers/"));
        assert!(!allow("customers/*", "customersX/1"));
        assert!(allow("*", "anything/at/all"));
        assert!(!allow("cust*", "customers"));
        assert!(!allow("customers/4821", "customers/4821/../4822"));
        assert!(!allow("customers/*", "customers/4821/../4822"));
        assert!(!allow("customers/*", "customers/./4821"));
        assert!(!allow("customers/*", "customers//4821"));
        assert!(!allow("customers/*", "customers/4821%2F..%2F4822"));
        assert!(!allow("customers/*", "customers/%2e%2e"));
        assert!(!allow("customers/*", "customers/%252e"));
        assert!(allow("customers/*", "customers/a%20b"));
        assert!(!allow("", ""));
        assert!(!allow("customers/*", "customers/4821\\..\\admin"));
        assert!(!allow("customers/*", "customers/%5c..%5cadmin"));
        assert!(!allow("customers/*", "customers/..;/admin"));
        assert!(!allow("customers/*", "customers/%c0%ae%c0%ae"));
        assert!(!allow("customers/*", "customers/a\0b"));
        assert!(!allow("customers/*", "customers/100%"));
        assert!(!allow("customers/*", "customers/%zz"));
        assert!(allow("customers/*", "customers/a;v=1"));
        assert!(allow("customers/*", "customers/caf\u{e9}"));
        assert!(allow("customers/*", "customers/caf%C3%A9"));
        assert!(allow("customers/*", "customers/file.txt"));
        assert!(allow("customers/*", "customers/a b"));
    }

    /// Look-alikes a red team got through (issue 13, point 7): each was proxied before.
    #[test]
    fn look_alikes_never_match() {
        for resource in [
            "customers/%F0%80%80%AE%F0%80%80%AE", // 4-byte over-long `.`
            "customers/%E0%80%AE%E0%80%AE",       // 3-byte over-long `.`
            "customers/\u{2025}",                 // two dot leader `‥`
            "customers/\u{FF0E}\u{FF0E}",         // fullwidth full stop
            "customers/4821\u{FF0F}..\u{FF0F}4822",
            "customers/4821%EF%BC%8F4822",  // U+FF0F encoded
            "customers/%EF%BC%8E%EF%BC%8E", // U+FF0E encoded
            "customers/.. ",
            "customers/...",
            "customers/..%20",
            "customers/%20",
            "customers/..;x",
            "customers/a%00b",
            "customers/a%0d%0ab",
            "customers/a%7Fb",
            "customers/a%C2%85b",   // C1 NEL
            "customers/a\u{200B}b", // zero-width space
            "customers/a\u{202E}b", // bidi override
            "customers/a\u{00A0}b", // no-break space
            "customers/a%E2%80%AEb",
            "customers/a%C3", // truncated UTF-8
            "customers/\u{2215}etc",
            "customers/..%3F",
            "customers/..%23",
            "customers/..?x",
            "customers/..:$DATA",
            "customers/\u{3002}\u{3002}",
            "customers/%EF%BD%A1%EF%BD%A1",
        ] {
            assert!(!resource_allowed(["customers/*"], resource), "{resource:?}");
        }
        // Every character of Unicode 14 whose NFKC form holds `.`, `/`, `\` or `%`
        // (enumerated with Python's unicodedata).
        let nfkc: [u32; 40] = [
            0x2024, 0x2025, 0x2026, 0x2100, 0x2101, 0x2105, 0x2106, 0x2488, 0x2489, 0x248a, 0x248b,
            0x248c, 0x248d, 0x248e, 0x248f, 0x2490, 0x2491, 0x2492, 0x2493, 0x2494, 0x2495, 0x2496,
            0x2497, 0x2498, 0x2499, 0x249a, 0x249b, 0x33c2, 0x33c7, 0x33d8, 0xfe19, 0xfe30, 0xfe52,
            0xfe68, 0xfe6a, 0xff05, 0xff0e, 0xff0f, 0xff3c, 0x1f100,
        ];
        for c in nfkc.iter().filter_map(|&c| char::from_u32(c)) {
            assert!(
                !resource_allowed(["customers/*"], &alloc::format!("customers/a{c}b")),
                "{c:?}"
            );
        }
    }

    #[test]
    fn actions() {
        assert!(action_allowed("customers:read", "customers:read"));
        assert!(action_allowed("a b c", "b"));
        assert!(!action_allowed("a b c", "a b"));
        assert!(!action_allowed("customers:read", "customers:*"));
        assert!(!action_allowed("*", "customers:read"));
        assert!(!action_allowed("a  b", ""));
    }

    #[test]
    fn scopes_and_patterns() {
        assert!(is_scope("a b:c"));
        assert!(!is_scope(""));
        assert!(!is_scope("a  b"));
        assert!(!is_scope(" a"));
        assert!(!is_scope("a\tb"));
        assert!(!is_scope("a\"b"));
        assert!(is_mintable_pattern("customers/4821"));
        assert!(is_mintable_pattern("customers/*"));
        assert!(is_mintable_pattern("*"));
        assert!(!is_mintable_pattern("customers/*/orders"));
        assert!(!is_mintable_pattern("customers/../x"));
        assert!(!is_mintable_pattern("/customers"));
        assert!(!is_mintable_pattern(""));
    }
}
