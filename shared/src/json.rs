//! Strict JSON for request and response bodies.
//!
//! A filter that decides on a JSON body must read it exactly as the upstream
//! will, so anything two JSON parsers may read two ways is refused: invalid
//! UTF-8 (also lone surrogates in `\u` escapes), a duplicated object key
//! (first-wins in some parsers, last-wins in others), trailing data after
//! the document, and nesting deeper than a bound (checked while parsing, so
//! a 100,000-level document fails at the bound without building a tree or
//! recursing further).

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::map::Entry;
use serde_json::{Map, Number, Value};
use std::fmt;

/// The deepest nesting a strict parse accepts at most (serde_json's own
/// recursion guard sits at 128; ours must trip first).
pub const MAX_DEPTH_LIMIT: usize = 120;
/// The default nesting bound.
pub const DEFAULT_MAX_DEPTH: usize = 64;

/// Why a body is not strict JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonError {
    /// Not UTF-8 (or a lone surrogate escape).
    InvalidUtf8,
    /// A key appears twice in one object.
    DuplicateKey,
    /// Nested deeper than the bound.
    TooDeep,
    /// Bytes after the document.
    TrailingData,
    /// Anything else that is not JSON, with serde's message (never the input).
    Syntax(String),
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::InvalidUtf8 => f.write_str("the body is not valid UTF-8"),
            JsonError::DuplicateKey => f.write_str("an object has a duplicated key"),
            JsonError::TooDeep => f.write_str("the document is nested too deeply"),
            JsonError::TrailingData => f.write_str("there is data after the JSON document"),
            JsonError::Syntax(m) => write!(f, "not JSON: {m}"),
        }
    }
}

/// Parses `bytes` as one strict JSON document nested at most `max_depth`
/// (clamped to [`MAX_DEPTH_LIMIT`] by the caller's config validation).
pub fn parse_strict(bytes: &[u8], max_depth: usize) -> Result<Value, JsonError> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Err(JsonError::InvalidUtf8);
    };
    // From the checked `&str`: serde_json's `StrRead` then skips the UTF-8
    // validation of every string it would redo from a byte slice (escapes,
    // lone surrogates included, are still decoded and checked).
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Strict {
        depth_left: max_depth.min(MAX_DEPTH_LIMIT),
    }
    .deserialize(&mut de)
    .map_err(classify)?;
    de.end().map_err(|_| JsonError::TrailingData)?;
    Ok(value)
}

const DUPLICATE: &str = "edgeward:duplicate-key";
const TOO_DEEP: &str = "edgeward:too-deep";

fn classify(e: serde_json::Error) -> JsonError {
    let msg = e.to_string();
    if msg.starts_with(DUPLICATE) {
        JsonError::DuplicateKey
    } else if msg.starts_with(TOO_DEEP) || msg.contains("recursion limit") {
        JsonError::TooDeep
    } else if msg.contains("surrogate") || msg.contains("unicode") {
        JsonError::InvalidUtf8
    } else if msg.contains("trailing characters") {
        JsonError::TrailingData
    } else {
        // serde_json's message carries line/column, never the input bytes.
        JsonError::Syntax(msg)
    }
}

/// A value deserialised with a depth budget and duplicate-key refusal.
struct Strict {
    depth_left: usize,
}

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl Strict {
    fn nested<E: de::Error>(&self) -> Result<Strict, E> {
        match self.depth_left.checked_sub(1) {
            Some(depth_left) => Ok(Strict { depth_left }),
            None => Err(E::custom(TOO_DEEP)),
        }
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number out of range"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let inner = self.nested()?;
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Strict {
            depth_left: inner.depth_left,
        })? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let inner = self.nested()?;
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            // One lookup: the slot for a new key, or the duplicate.
            match out.entry(key) {
                Entry::Occupied(_) => return Err(de::Error::custom(DUPLICATE)),
                Entry::Vacant(slot) => {
                    slot.insert(map.next_value_seed(Strict {
                        depth_left: inner.depth_left,
                    })?);
                }
            }
        }
        Ok(Value::Object(out))
    }
}

/// RFC 6901 JSON Pointer lookup (`/customer/tenant_id`, `~0` for `~`, `~1`
/// for `/`). A pointer must be `""` or start with `/`.
pub fn pointer<'a>(value: &'a Value, pointer: &str) -> Option<&'a Value> {
    value.pointer(pointer)
}

/// Whether `p` is a syntactically valid JSON Pointer (config validation).
pub fn is_valid_pointer(p: &str) -> bool {
    if p.is_empty() {
        return true;
    }
    if !p.starts_with('/') {
        return false;
    }
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepts_ordinary_documents() {
        assert_eq!(
            parse_strict(
                br#" {"a": [1, 2.5, "x", null, true], "b": {"c": "\u00e9"}} "#,
                64
            ),
            Ok(json!({"a": [1, 2.5, "x", null, true], "b": {"c": "é"}}))
        );
        assert_eq!(parse_strict(b"3", 64), Ok(json!(3)));
    }

    #[test]
    fn refuses_what_parsers_read_differently() {
        use JsonError::*;
        assert_eq!(parse_strict(br#"{"a":1,"a":2}"#, 64), Err(DuplicateKey));
        assert_eq!(
            parse_strict(br#"{"x":{"a":1,"a":1}}"#, 64),
            Err(DuplicateKey)
        );
        assert_eq!(parse_strict(br#"{"a":1} {"a":2}"#, 64), Err(TrailingData));
        assert_eq!(parse_strict(br#"{"a":1}x"#, 64), Err(TrailingData));
        assert_eq!(parse_strict(b"{\"a\":\"\xff\"}", 64), Err(InvalidUtf8));
        // a lone surrogate is refused (serde_json reports the broken escape)
        assert!(parse_strict(br#"{"a":"\ud800"}"#, 64).is_err());
        assert!(matches!(parse_strict(b"{a:1}", 64), Err(Syntax(_))));
        assert!(matches!(parse_strict(b"", 64), Err(Syntax(_))));
        assert!(matches!(parse_strict(b"[1,]", 64), Err(Syntax(_))));
        assert!(matches!(parse_strict(b"NaN", 64), Err(Syntax(_))));
    }

    #[test]
    fn builds_what_serde_json_builds() {
        // The strict parse reads from the checked `&str`: every accepted
        // document must come out exactly as serde_json's own reading.
        let docs: &[&[u8]] = &[
            br#"{"sku":"ABC-001","qty":3,"price":9.5,"note":null,"ok":true}"#,
            br#"[0, -0, 1e3, -1.5E-7, 18446744073709551615, -9223372036854775808, 1.7976931348623157e308]"#,
            br#"{"esc":"a\"b\\c\/d\b\f\n\r\t","u":"\u00e9\u20ac\ud83d\ude00"}"#,
            b"{\"raw\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}",
            br#"{"nested":{"a":[{"b":[[],{}]}],"":""},"k\u0000":1}"#,
            b" \t\n\r 12 ",
        ];
        for d in docs {
            let ours = parse_strict(d, 64);
            let theirs: Value = serde_json::from_slice(d).unwrap();
            assert_eq!(ours, Ok(theirs), "{}", String::from_utf8_lossy(d));
        }
        // The same refusals as before the `&str` reading.
        assert_eq!(
            parse_strict(b"{\"a\":1}\xff", 64),
            Err(JsonError::InvalidUtf8)
        );
        assert_eq!(
            parse_strict(b"\xef\xbb\xbf{}", 64).map_err(|e| matches!(e, JsonError::Syntax(_))),
            Err(true),
            "a byte-order mark is not JSON"
        );
        assert!(parse_strict(br#"{"a":"\udc00"}"#, 64).is_err());
        assert!(parse_strict(br#"{"a":"\ud800\u0041"}"#, 64).is_err());
        assert!(
            parse_strict(b"{\"a\":\"\x01\"}", 64).is_err(),
            "control character"
        );
        assert_eq!(
            parse_strict(br#"{"a":{"b":1,"c":2,"b":3}}"#, 64),
            Err(JsonError::DuplicateKey)
        );
        assert_eq!(
            parse_strict(br#"{"\u0061":1,"a":2}"#, 64),
            Err(JsonError::DuplicateKey),
            "duplicates are found after unescaping"
        );
    }

    #[test]
    fn depth_is_bounded_while_parsing() {
        let nest = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(parse_strict(nest(64).as_bytes(), 64).is_ok());
        assert_eq!(
            parse_strict(nest(65).as_bytes(), 64),
            Err(JsonError::TooDeep)
        );
        assert_eq!(
            parse_strict(format!("{}1", r#"{"a":"#.repeat(3)).as_bytes(), 2),
            Err(JsonError::TooDeep)
        );
        // 100,000 levels: refused at the bound, no stack overflow.
        assert_eq!(
            parse_strict(nest(100_000).as_bytes(), 64),
            Err(JsonError::TooDeep)
        );
        assert_eq!(
            parse_strict(nest(200).as_bytes(), 500),
            Err(JsonError::TooDeep),
            "the bound never exceeds MAX_DEPTH_LIMIT"
        );
    }

    #[test]
    fn pointers() {
        let v = json!({"customer": {"tenant_id": "acme", "a/b": 1, "m~n": 2}, "list": [5]});
        assert_eq!(pointer(&v, "/customer/tenant_id"), Some(&json!("acme")));
        assert_eq!(pointer(&v, "/customer/a~1b"), Some(&json!(1)));
        assert_eq!(pointer(&v, "/customer/m~0n"), Some(&json!(2)));
        assert_eq!(pointer(&v, "/list/0"), Some(&json!(5)));
        assert_eq!(pointer(&v, "/nope"), None);
        assert!(is_valid_pointer("/customer/tenant_id"));
        assert!(is_valid_pointer(""));
        assert!(!is_valid_pointer("customer"));
        assert!(!is_valid_pointer("/a~2"));
        assert!(!is_valid_pointer("/a~"));
    }
}
