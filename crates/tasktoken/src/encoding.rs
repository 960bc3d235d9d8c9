//! Strict base64url and strict JSON: the two decoders every untrusted byte goes through.

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::marker::PhantomData;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Encodes bytes as base64url without padding.
pub(crate) fn b64_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Encodes bytes as base64url without padding into `out`: the text written, or `None` if
/// `out` is too short.
pub(crate) fn b64_encode_slice<'a>(bytes: &[u8], out: &'a mut [u8]) -> Option<&'a [u8]> {
    let written = URL_SAFE_NO_PAD.encode_slice(bytes, out).ok()?;
    out.get(..written)
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
///
/// The reader of every token header and payload; public so that a service reading a
/// foreign JWT (an identity token) can hold it to the same rules: `None` for anything
/// else — a duplicate member would otherwise be read "lexically last" by one parser and
/// first by another.
pub fn parse_object(bytes: &[u8]) -> Option<Map<String, Value>> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = StrictValue::deserialize(&mut de).ok()?.0;
    de.end().ok()?;
    match value {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// A JSON object read by [`parse_fields`]: its members in text order, each kept only as far
/// as a check can ask (a string, an integer, an object), borrowed from the text where possible.
#[derive(Debug, PartialEq)]
pub(crate) struct Fields<'de>(Vec<(Cow<'de, str>, Field<'de>)>);

/// A member's value, as [`Fields`] keeps it.
#[derive(Debug, PartialEq)]
pub(crate) enum Field<'de> {
    /// A string, borrowed unless it had escapes.
    Str(Cow<'de, str>),
    /// An integer that fits `i64`: exactly when `serde_json::Value::as_i64` is `Some`.
    Int(i64),
    /// An object.
    Object(Fields<'de>),
    /// Anything else (an array, a float, a larger integer, `true`, `false`, `null`).
    Other,
}

impl<'de> Fields<'de> {
    /// The member `name`, if present.
    pub(crate) fn get(&self, name: &str) -> Option<&Field<'de>> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// The member `name` if it is a string (as `Value::as_str` answers).
    pub(crate) fn str(&self, name: &str) -> Option<&str> {
        match self.get(name) {
            Some(Field::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// The member `name` if it is an integer that fits `i64` (as `Value::as_i64` answers).
    pub(crate) fn int(&self, name: &str) -> Option<i64> {
        match self.get(name) {
            Some(Field::Int(i)) => Some(*i),
            _ => None,
        }
    }

    /// The member `name` if it is an object (as `Value::as_object` answers).
    pub(crate) fn object(&self, name: &str) -> Option<&Fields<'de>> {
        match self.get(name) {
            Some(Field::Object(o)) => Some(o),
            _ => None,
        }
    }

    /// True if the object has a member `name`, of any type.
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

/// Reads a JSON object exactly as strictly as [`parse_object`] — it accepts the same texts:
/// the same serde_json reader, duplicate member names refused at any depth — without building
/// a `serde_json::Map`: strings without escapes stay borrowed, and what no check reads
/// (arrays, floats) is validated and dropped. For the DPoP proof's header and claims, read on
/// every request (docs/performance.md).
pub(crate) fn parse_fields(bytes: &[u8]) -> Option<Fields<'_>> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = BorrowedField::deserialize(&mut de).ok()?.0;
    de.end().ok()?;
    match value {
        Field::Object(fields) => Some(fields),
        _ => None,
    }
}

/// True if [`parse_fields`] and [`parse_object`] both refuse `bytes`, or both accept it and
/// read the same strings, integers and objects (a differential oracle for tests and fuzzing).
pub(crate) fn readers_agree(bytes: &[u8]) -> bool {
    /// True if `fields` holds exactly what `map` holds, as far as `Fields` keeps values.
    fn agree(map: &Map<String, Value>, fields: &Fields<'_>) -> bool {
        map.len() == fields.0.len()
            && map.iter().all(|(name, value)| match (value, fields.get(name)) {
                (Value::String(s), Some(Field::Str(t))) => s == t,
                (Value::Object(m), Some(Field::Object(f))) => agree(m, f),
                (v, Some(Field::Int(i))) => v.as_i64() == Some(*i),
                (v, Some(Field::Other)) => !v.is_string() && !v.is_object() && v.as_i64().is_none(),
                _ => false,
            })
    }
    match (parse_object(bytes), parse_fields(bytes)) {
        (Some(map), Some(fields)) => agree(&map, &fields),
        (None, None) => true,
        _ => false,
    }
}

/// A [`Field`] as serde reads it, from the same calls of serde_json's reader as
/// [`StrictValue`].
struct BorrowedField<'de>(Field<'de>);

impl<'de> Deserialize<'de> for BorrowedField<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FieldVisitor(PhantomData)).map(BorrowedField)
    }
}

struct FieldVisitor<'de>(PhantomData<&'de ()>);

impl<'de> Visitor<'de> for FieldVisitor<'de> {
    type Value = Field<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Field<'de>, E> {
        Ok(Field::Other)
    }

    fn visit_i64<E>(self, v: i64) -> Result<Field<'de>, E> {
        Ok(Field::Int(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Field<'de>, E> {
        Ok(i64::try_from(v).map_or(Field::Other, Field::Int))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Field<'de>, E> {
        Ok(Field::Other)
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Field<'de>, E> {
        Ok(Field::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Field<'de>, E> {
        Ok(Field::Str(Cow::Owned(v.into())))
    }

    fn visit_string<E>(self, v: String) -> Result<Field<'de>, E> {
        Ok(Field::Str(Cow::Owned(v)))
    }

    fn visit_unit<E>(self) -> Result<Field<'de>, E> {
        Ok(Field::Other)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Field<'de>, A::Error> {
        while seq.next_element::<BorrowedField<'de>>()?.is_some() {}
        Ok(Field::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Field<'de>, A::Error> {
        let mut out: Vec<(Cow<'de, str>, Field<'de>)> = Vec::new();
        while let Some(BorrowedKey(key)) = map.next_key()? {
            let BorrowedField(value) = map.next_value()?;
            out.push((key, value));
        }
        // Refused either way (any duplicate fails the whole text, as in `StrictVisitor`):
        // pairwise for the few members a header or claims set has, sorted beyond that, so
        // a 4 KiB object of tiny members costs O(n log n).
        let duplicate = if out.len() <= 16 {
            out.iter().enumerate().any(|(i, (k, _))| out[..i].iter().any(|(j, _)| j == k))
        } else {
            let mut names: Vec<&str> = out.iter().map(|(k, _)| k.as_ref()).collect();
            names.sort_unstable();
            names.windows(2).any(|w| w[0] == w[1])
        };
        if duplicate {
            return Err(de::Error::custom("duplicate member name"));
        }
        Ok(Field::Object(Fields(out)))
    }
}

/// A member name, borrowed unless it had escapes.
struct BorrowedKey<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for BorrowedKey<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor(PhantomData)).map(BorrowedKey)
    }
}

struct KeyVisitor<'de>(PhantomData<&'de ()>);

impl<'de> Visitor<'de> for KeyVisitor<'de> {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v.into()))
    }

    fn visit_string<E>(self, v: String) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v))
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

    /// JSON-like texts near the edges of the reader: duplicate and escaped names, the
    /// integer limits, floats out of range, escapes and lone surrogates, nesting; then
    /// perhaps one character inserted or removed.
    fn json_texts() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let name = prop_oneof![
            Just("a"),
            Just("b"),
            Just("jti"),
            Just(r"\u0061"),
            Just("iat"),
            Just(""),
            Just(r"\ud800"),
        ]
        .prop_map(|k| format!("\"{k}\""));
        let leaf = prop_oneof![
            Just("1"),
            Just("-1"),
            Just("-0"),
            Just("1.0"),
            Just("1e3"),
            Just("1e400"),
            Just("9223372036854775807"),
            Just("9223372036854775808"),
            Just("-9223372036854775808"),
            Just("-9223372036854775809"),
            Just("18446744073709551616"),
            Just("true"),
            Just("null"),
            Just("01"),
            Just(r#""x""#),
            Just(r#""\u00e9\n""#),
            Just(r#""\ud83d\ude00""#),
            Just(r#""\ud800""#),
            Just("\"\""),
            Just("\"\u{1}\""),
        ]
        .prop_map(String::from);
        let members = move |value: BoxedStrategy<String>| {
            proptest::collection::vec((name.clone(), value), 0..6).prop_map(|members| {
                let inner: Vec<String> = members.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                format!("{{{}}}", inner.join(","))
            })
        };
        let object = members.clone();
        let value = leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                object(inner.boxed()),
            ]
        });
        let edit =
            (any::<proptest::sample::Index>(), proptest::sample::select(&b"{}[],:\" \\1a"[..]));
        (members(value.boxed()), proptest::option::of((any::<bool>(), edit))).prop_map(
            |(text, edit)| {
                let mut bytes = text.into_bytes();
                if let Some((insert, (at, byte))) = edit {
                    let at = at.index(bytes.len() + 1);
                    if insert {
                        bytes.insert(at, byte);
                    } else if at < bytes.len() {
                        bytes.remove(at);
                    }
                }
                String::from_utf8(bytes).unwrap_or_default()
            },
        )
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]
        /// `parse_fields` accepts exactly what `parse_object` accepts and reads the same
        /// strings, integers and objects out of it (the proof's verdicts depend on both).
        #[test]
        fn parse_fields_reads_what_parse_object_reads(text in json_texts()) {
            proptest::prop_assert!(readers_agree(text.as_bytes()), "{text}");
        }
    }

    #[test]
    fn parse_fields_is_strict_like_parse_object() {
        for text in [
            &br#"{"a":1,"b":{"c":[1,{"d":2}]}}"#[..],
            br#"{"a":1,"a":2}"#,
            br#"{"a":1,"\u0061":2}"#,
            br#"{"a":{"b":1,"b":1}}"#,
            br#"{"a":[{"b":1,"b":1}]}"#,
            br#"{"a":1} x"#,
            br#"[1]"#,
            br#"{"a":"\ud800"}"#,
            b"{\"a\":\"\xff\"}",
            b"\xef\xbb\xbf{}",
            br#"{"a":1e400}"#,
            br#"{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12,"m":13,"n":14,"o":15,"p":16,"q":17,"a":18}"#,
            br#"{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12,"m":13,"n":14,"o":15,"p":16,"q":17,"r":18}"#,
        ] {
            assert!(readers_agree(text), "{text:?}");
        }
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(parse_fields(format!("{{\"a\":{deep}}}").as_bytes()).is_none());
        let deep = "[".repeat(100) + &"]".repeat(100);
        let text = format!("{{\"a\":{deep}}}");
        assert!(parse_fields(text.as_bytes()).is_some() && parse_object(text.as_bytes()).is_some());
        let fields = parse_fields(br#"{"s":"x\n","t":"y","i":-5,"u":9223372036854775808,"o":{}}"#)
            .expect("an object");
        assert_eq!(fields.str("s"), Some("x\n"));
        assert!(matches!(fields.get("t"), Some(Field::Str(Cow::Borrowed("y")))));
        assert_eq!((fields.int("i"), fields.int("u")), (Some(-5), None));
        assert!(fields.object("o").is_some() && fields.object("s").is_none());
    }
}
