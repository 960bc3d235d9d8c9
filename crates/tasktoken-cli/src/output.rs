//! Writing results to stdout without panicking on a closed pipe.

use std::io::Write as _;

use serde_json::Value;

use crate::failure::Failure;

/// Writes `text` and a newline to stdout and flushes.
pub fn stdout_line(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(|e| Failure::Io(format!("cannot write to stdout: {e}")))
}

/// A pretty JSON object (two-space indent, like `serde_json::to_string_pretty`) whose
/// members keep the given order; `serde_json::Map` alone would sort them.
pub fn pretty_object(members: &[(&str, &Value)]) -> String {
    let mut out = String::from("{\n");
    for (i, (name, value)) in members.iter().enumerate() {
        out.push_str("  ");
        out.push_str(&Value::from(*name).to_string());
        out.push_str(": ");
        // Pretty JSON has no raw newline inside strings, so indenting every line is safe.
        out.push_str(&format!("{value:#}").replace('\n', "\n  "));
        if i + 1 < members.len() {
            out.push(',');
        }
        out.push('\n');
    }
    out.push('}');
    out
}

/// A one-line JSON object whose members keep the given order, for output that scripts read
/// line by line.
pub fn compact_object(members: &[(&str, &Value)]) -> String {
    let members: Vec<String> =
        members.iter().map(|(name, value)| format!("{}:{value}", Value::from(*name))).collect();
    format!("{{{}}}", members.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pretty_object_keeps_order_and_nests() {
        let header = json!({ "b": 1, "a": ["x\ny", { "k": true }] });
        let text = pretty_object(&[("z\"", &json!(false)), ("header", &header)]);
        let parsed: Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(parsed, json!({ "z\"": false, "header": header }));
        assert!(text.starts_with("{\n  \"z\\\"\": false,\n  \"header\": {\n    \"a\""));
    }

    #[test]
    fn compact_object_keeps_order_on_one_line() {
        let text = compact_object(&[("z", &json!("a\nb")), ("a", &json!({"k": [1, 2]}))]);
        assert_eq!(text, r#"{"z":"a\nb","a":{"k":[1,2]}}"#);
        assert_eq!(compact_object(&[]), "{}");
    }
}
