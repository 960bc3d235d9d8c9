//! Task-scope policy: action matching against `scope`, resource matching against `res`.
//!
//! Resources are `/`-separated segments. A pattern matches a request resource exactly, or,
//! when its last segment is `*`, any resource that extends the pattern's prefix by one or
//! more segments. A request resource with an empty, `.` or `..` segment, or with a
//! percent-encoded `/`, `.` or `%`, never matches; nor, as hardening beyond DESIGN.md, one
//! with a `\`, a control character, a `..;` segment or a broken or over-long `%` escape.
//! Matching is case-sensitive. Actions match exactly; `*` is not a wildcard for actions.

/// True if `scope` (space-separated actions) grants `action` exactly.
pub fn action_allowed(scope: &str, action: &str) -> bool {
    is_scope_token(action) && scope.split(' ').any(|granted| granted == action)
}

/// True if any of `patterns` covers the request `resource` (see the module docs).
pub fn resource_allowed<'a>(patterns: impl IntoIterator<Item = &'a str>, resource: &str) -> bool {
    is_safe_request_resource(resource)
        && patterns.into_iter().any(|pattern| pattern_matches(pattern, resource))
}

/// True if `pattern` covers `resource`, which must already be a safe request resource.
fn pattern_matches(pattern: &str, resource: &str) -> bool {
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

/// A request resource may match only if no segment is empty, `.` or `..` (also as `..;`,
/// which some servers read as `..`), and it hides nothing a later decoder or router could
/// turn into a separator or a traversal: no encoded `/`, `.`, `%` or `\`, no `\`, no
/// control character, no `%` that does not start a `%XX` escape, no over-long UTF-8 lead
/// byte (`%C0`, `%C1`).
fn is_safe_request_resource(resource: &str) -> bool {
    !resource.is_empty()
        && resource.split('/').all(is_safe_segment)
        && !resource.bytes().any(|b| b == b'\\' || b.is_ascii_control())
        && percent_escapes_are_safe(resource.as_bytes())
}

fn is_safe_segment(segment: &str) -> bool {
    let path_part = segment.split(';').next().unwrap_or_default();
    !segment.is_empty() && path_part != "." && path_part != ".."
}

fn percent_escapes_are_safe(bytes: &[u8]) -> bool {
    let unsafe_escape = |hi: u8, lo: u8| {
        matches!(
            (hi.to_ascii_uppercase(), lo.to_ascii_uppercase()),
            (b'2', b'F' | b'E' | b'5') | (b'5', b'C') | (b'C', b'0' | b'1')
        )
    };
    bytes.iter().enumerate().filter(|(_, b)| **b == b'%').all(|(i, _)| {
        match (bytes.get(i + 1), bytes.get(i + 2)) {
            (Some(&hi), Some(&lo)) if hi.is_ascii_hexdigit() && lo.is_ascii_hexdigit() => {
                !unsafe_escape(hi, lo)
            }
            _ => false,
        }
    })
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
