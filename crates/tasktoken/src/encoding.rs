//! Strict base64url and strict JSON: the two decoders every untrusted byte goes through.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Encodes bytes as base64url without padding.
pub(crate) fn b64_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding. Padding, the standard alphabet, whitespace and
/// non-zero trailing bits (non-canonical encodings) are all refused.
pub(crate) fn b64_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

/// Decodes base64url into exactly `N` bytes.
pub(crate) fn b64_decode_array<const N: usize>(text: &str) -> Option<[u8; N]> {
    // N bytes take exactly ceil(4N/3) characters unpadded; checking first bounds the work.
    if text.len() != (N * 4).div_ceil(3) {
        return None;
    }
    let mut out = [0u8; N];
    match URL_SAFE_NO_PAD.decode_slice(text, &mut out) {
        Ok(n) if n == N => Some(out),
        _ => None,
    }
}

/// Parses a JSON object strictly: valid UTF-8, no trailing data, no duplicate member
/// names at any depth, nesting bounded by serde_json's recursion limit.
pub(crate) fn parse_object(bytes: &[u8]) -> Option<Map<String, Value>> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = StrictValue::deserialize(&mut de).ok()?.0;
    de.end().ok()?;
    match value {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// A `serde_json::Value` whose objects were checked for duplicate member names.
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // serde_json never produces a non-finite f64, so this only fails on bad input.
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.into()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let StrictValue(v) = map.next_value()?;
            if out.insert(key, v).is_some() {
                return Err(de::Error::custom("duplicate member name"));
            }
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_strict() {
        assert_eq!(b64_decode("AQI").as_deref(), Some(&[1u8, 2][..]));
        assert!(b64_decode("AQI=").is_none(), "padding");
        assert!(b64_decode("AQJ").is_none(), "non-zero trailing bits");
        assert!(b64_decode("A+I").is_none(), "standard alphabet");
        assert!(b64_decode("AQ I").is_none(), "whitespace");
        assert!(b64_decode("A").is_none(), "impossible length");
        assert_eq!(b64_decode_array::<2>("AQI"), Some([1, 2]));
        assert_eq!(b64_decode_array::<3>("AQI"), None);
    }

    #[test]
    fn json_is_strict() {
        assert!(parse_object(br#"{"a":1,"b":{"c":[1,{"d":2}]}}"#).is_some());
        assert!(parse_object(br#"{"a":1,"a":2}"#).is_none());
        assert!(parse_object(br#"{"a":{"b":1,"b":1}}"#).is_none());
        assert!(parse_object(br#"{"a":[{"b":1,"b":1}]}"#).is_none());
        assert!(parse_object(br#"{"a":1} x"#).is_none());
        assert!(parse_object(br#"[1]"#).is_none());
        assert!(parse_object(br#"{"a":"\ud800"}"#).is_none(), "lone surrogate");
        assert!(parse_object(b"{\"a\":\"\xff\"}").is_none(), "invalid UTF-8");
        assert!(parse_object(b"\xef\xbb\xbf{}").is_none(), "byte order mark");
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(parse_object(format!("{{\"a\":{deep}}}").as_bytes()).is_none());
    }

    #[test]
    fn floats_are_parsed_exactly() {
        // The default serde_json parser returns -1.865821183137216e-240 for this one; unknown
        // claims must come back as signed (`float_roundtrip`, found by the property tests).
        let map = parse_object(br#"{"a":-1.8658211831372158e-240}"#).expect("an object");
        assert_eq!(map["a"].as_f64(), Some(-1.865_821_183_137_215_8e-240));
    }
}
