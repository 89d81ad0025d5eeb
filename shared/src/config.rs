//! Configuration parsing shared by every filter.
//!
//! Each filter's configuration is JSON: parsed with serde into raw structs
//! that refuse unknown fields, then compiled (validated, resolved) once in
//! `on_configure`. Every error names the field at fault, in the dotted form
//! the user wrote (`rules[2].match.template`), and says what to do. A value
//! out of range is an error, never silently clamped.

use serde::de::DeserializeOwned;
use std::fmt;

/// A configuration error: where, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted path of the offending field; empty for the document itself.
    pub field: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// The same error, its field moved under `parent`: a nested part's
    /// errors (the PII engine's under `masking`, a chained filter's under its
    /// name) name the field from the top of the whole configuration.
    pub fn under(self, parent: &str) -> ConfigError {
        let field = if self.field.is_empty() {
            parent.to_string()
        } else if self.field.starts_with('[') {
            format!("{parent}{}", self.field)
        } else {
            format!("{parent}.{}", self.field)
        };
        ConfigError {
            field,
            message: self.message,
        }
    }
}

/// Builds a [`ConfigError`].
pub fn err(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        field: field.into(),
        message: message.into(),
    }
}

/// Parses a JSON document into `T`, reporting the path of the first field
/// serde refused (unknown field, wrong type, missing member).
/// Anything after the document is refused too: a second object pasted after
/// the first would otherwise be dropped without a word.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ConfigError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { String::new() } else { path };
        err(field, e.into_inner().to_string())
    })?;
    de.end().map_err(|e| {
        err(
            "",
            format!("{e}: the configuration must be one JSON document"),
        )
    })?;
    Ok(value)
}

/// A field path under construction: `Field::root("rules").index(2).child("match")`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Field(String);

impl Field {
    pub fn root(name: &str) -> Field {
        Field(name.to_string())
    }
    pub fn child(&self, name: &str) -> Field {
        if self.0.is_empty() {
            Field(name.to_string())
        } else {
            Field(format!("{}.{name}", self.0))
        }
    }
    pub fn index(&self, i: usize) -> Field {
        Field(format!("{}[{i}]", self.0))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// An error at this field.
    pub fn error(&self, message: impl Into<String>) -> ConfigError {
        err(self.0.clone(), message)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&Field> for String {
    fn from(f: &Field) -> String {
        f.0.clone()
    }
}

/// `value` when it lies in `min..=max`, else an error naming `field` and the range.
pub fn in_range<T>(field: &Field, value: T, min: T, max: T) -> Result<T, ConfigError>
where
    T: PartialOrd + fmt::Display + Copy,
{
    if value < min || value > max {
        Err(field.error(format!("{value} is out of range: use {min}..={max}")))
    } else {
        Ok(value)
    }
}

/// Names of rules, policies and routes appear in metric labels, filter state
/// and logs: letters, digits, `-` and `_`, at most 64 bytes, and not a word
/// the metric naming uses for its labels (which would make a metric name
/// ambiguous to Envoy's tag extraction).
pub fn check_name(field: &Field, name: &str) -> Result<(), ConfigError> {
    let ok_chars = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok_chars {
        return Err(field.error(format!(
            "{name:?} is not a valid name: use 1 to 64 letters, digits, '-' or '_'"
        )));
    }
    if crate::metrics::LABEL_KEYS.contains(&name) {
        return Err(field.error(format!(
            "{name:?} is reserved (a metric label key); choose another name"
        )));
    }
    Ok(())
}

/// Seconds as milliseconds, saturating (config values are range-checked
/// first, so this never actually saturates for a valid config).
pub fn secs_to_ms(s: u64) -> u64 {
    s.saturating_mul(1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Raw {
        a: u32,
        #[serde(default)]
        inner: Vec<Inner>,
    }
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        b: String,
    }

    #[test]
    fn serde_errors_name_the_field() {
        let e = parse_json::<Raw>(br#"{"a": 1, "inner": [{"b": "x"}, {"c": 1}]}"#).unwrap_err();
        assert_eq!(e.field, "inner[1].c");
        assert!(e.message.contains("unknown field `c`"), "{e}");
        let e = parse_json::<Raw>(br#"{"a": "x"}"#).unwrap_err();
        assert_eq!(e.field, "a");
        let e = parse_json::<Raw>(b"not json").unwrap_err();
        assert_eq!(e.field, "");
    }

    #[test]
    fn only_one_document() {
        assert!(parse_json::<Raw>(b" {\"a\": 1}\n ").is_ok());
        for trailing in [
            &br#"{"a": 1} {"a": 2}"#[..],
            br#"{"a": 1}x"#,
            br#"{"a": 1},"#,
        ] {
            let e = parse_json::<Raw>(trailing).unwrap_err();
            assert_eq!(e.field, "");
            assert!(e.message.contains("one JSON document"), "{e}");
        }
    }

    #[test]
    fn nested_errors_are_named_from_the_top() {
        assert_eq!(err("a.b", "m").under("p").field, "p.a.b");
        assert_eq!(err("[2].c", "m").under("p").field, "p[2].c");
        let e = err("", "m").under("p");
        assert_eq!((e.field.as_str(), e.message.as_str()), ("p", "m"));
    }

    #[test]
    fn ranges_are_errors_not_clamps() {
        let f = Field::root("p").child("clock_skew_s");
        assert_eq!(in_range(&f, 5u64, 0, 600), Ok(5));
        let e = in_range(&f, 601u64, 0, 600).unwrap_err();
        assert_eq!(e.field, "p.clock_skew_s");
        assert!(e.message.contains("0..=600"));
    }

    #[test]
    fn names_are_checked() {
        let f = Field::root("rules").index(0).child("name");
        assert_eq!(f.as_str(), "rules[0].name");
        assert!(check_name(&f, "read-orders_1").is_ok());
        for bad in ["", "a.b", "a b", "reason", &"x".repeat(65)] {
            assert!(check_name(&f, bad).is_err(), "{bad:?}");
        }
    }
}
