//! The masking configuration: serde types (unknown fields refused) and
//! `compile()`, which validates everything once and builds the [`Masker`].
//! Every error names the field at fault and says what to do.
//!
//! ```json
//! {
//!   "detectors": {
//!     "card":  {"action": {"partial": {"keep_last": 4}}},
//!     "email": {"action": "hash"},
//!     "phone": {"bare_digits": "with_context"},
//!     "ipv4":  {"enabled": false}
//!   },
//!   "patterns": [{"name": "order_id", "regex": "ORD-[0-9]{8}", "action": "hash"}],
//!   "hash": {"key": "a secret of at least 16 bytes", "hex_len": 16},
//!   "json": {"extra_fields": ["dob"], "pointers": [{"pointer": "/user/address", "action": "drop"}]},
//!   "query": {"extra_params": ["ticket"]},
//!   "headers": {"drop": ["x-internal-debug"]},
//!   "max_value_bytes": 65536,
//!   "oversize": "truncate",
//!   "non_utf8": "redact"
//! }
//! ```
//!
//! Every detector is on by default with `redact`; an empty object is a
//! complete configuration.

use super::custom::Pattern;
use super::fields::{NameList, DEFAULT_FIELDS, DEFAULT_HEADERS, DEFAULT_PARAMS};
use super::json::Pointer;
use super::limits::{NonUtf8, Oversize};
use super::masker::{Detectors, HeaderRules, JsonRules, Masker, QueryRules};
use super::operator::{Action, Hasher, MAX_KEEP_LAST};
use super::phone::PhoneOptions;
use super::ssn::SsnOptions;
use super::Kind;
pub use crate::config::ConfigError;
use crate::config::{err, parse_json};
use serde::Deserialize;

/// When an ambiguous form (a bare digit run) counts as a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContextRule {
    Never,
    /// Only with a context word nearby (or in the field name).
    #[default]
    WithContext,
    Always,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PiiConfig {
    pub detectors: DetectorsConfig,
    pub patterns: Vec<PatternConfig>,
    pub hash: Option<HashConfig>,
    pub json: JsonConfig,
    pub query: QueryConfig,
    pub headers: HeadersConfig,
    /// Longest value scanned as a whole (bytes); see `oversize`.
    pub max_value_bytes: usize,
    pub oversize: Oversize,
    pub non_utf8: NonUtf8,
}

pub const DEFAULT_MAX_VALUE_BYTES: usize = 64 * 1024;
const MAX_MAX_VALUE_BYTES: usize = 16 * 1024 * 1024;

impl Default for PiiConfig {
    fn default() -> Self {
        PiiConfig {
            detectors: DetectorsConfig::default(),
            patterns: Vec::new(),
            hash: None,
            json: JsonConfig::default(),
            query: QueryConfig::default(),
            headers: HeadersConfig::default(),
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
            oversize: Oversize::default(),
            non_utf8: NonUtf8::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectorConfig {
    pub enabled: bool,
    pub action: Action,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            enabled: true,
            action: Action::Redact,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PhoneConfig {
    pub enabled: bool,
    pub action: Action,
    /// Bare digit runs (`4155550132`): never, with a context word, always.
    pub bare_digits: ContextRule,
    /// Replaces the built-in context words.
    pub context_words: Option<Vec<String>>,
}

pub const DEFAULT_PHONE_WORDS: &[&str] = &[
    "phone", "tel", "mobile", "cell", "call", "fax", "sms", "msisdn", "whatsapp", "contact",
];

impl Default for PhoneConfig {
    fn default() -> Self {
        PhoneConfig {
            enabled: true,
            action: Action::Redact,
            bare_digits: ContextRule::WithContext,
            context_words: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SsnConfig {
    pub enabled: bool,
    pub action: Action,
    /// Nine bare digits, `AAAAA-SSSS`, `AAA-GGSSSS`.
    pub weak_forms: ContextRule,
    pub context_words: Option<Vec<String>>,
}

pub const DEFAULT_SSN_WORDS: &[&str] = &[
    "ssn",
    "social security",
    "social_security",
    "socialsecurity",
];

impl Default for SsnConfig {
    fn default() -> Self {
        SsnConfig {
            enabled: true,
            action: Action::Redact,
            weak_forms: ContextRule::WithContext,
            context_words: None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectorsConfig {
    pub email: DetectorConfig,
    pub card: DetectorConfig,
    pub iban: DetectorConfig,
    pub ssn: SsnConfig,
    pub phone: PhoneConfig,
    pub ipv4: DetectorConfig,
    pub ipv6: DetectorConfig,
    pub jwt: DetectorConfig,
    pub bearer: DetectorConfig,
    pub basic_auth: DetectorConfig,
    pub api_key: DetectorConfig,
    pub private_key: DetectorConfig,
    pub url_password: DetectorConfig,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatternConfig {
    /// The kind name in masks: 1-32 of `a-z 0-9 _`, not a built-in kind.
    pub name: String,
    pub regex: String,
    #[serde(default)]
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HashConfig {
    /// HMAC-SHA256 key, used as its UTF-8 bytes; at least 16 bytes.
    pub key: String,
    /// Hex digits of the digest written (even, 8..=64).
    #[serde(default = "default_hex_len")]
    pub hex_len: usize,
}

fn default_hex_len() -> usize {
    16
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JsonConfig {
    /// Sensitive field names (by words, case-insensitive); `None` = built-in list.
    pub fields: Option<Vec<String>>,
    pub extra_fields: Vec<String>,
    pub field_action: Action,
    /// RFC 6901 pointers; a `*` segment matches any member or index.
    pub pointers: Vec<PointerConfig>,
    /// Run the detectors on every other string (and number) value.
    pub scan_values: bool,
    /// Run the detectors on object keys too (maps keyed by email...).
    pub scan_keys: bool,
}

impl Default for JsonConfig {
    fn default() -> Self {
        JsonConfig {
            fields: None,
            extra_fields: Vec::new(),
            field_action: Action::Redact,
            pointers: Vec::new(),
            scan_values: true,
            scan_keys: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointerConfig {
    pub pointer: String,
    #[serde(default)]
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueryConfig {
    /// Sensitive parameter names; `None` = the JSON field list plus `code`,
    /// `sig`, `signature`, `key`, `jwt`.
    pub params: Option<Vec<String>>,
    pub extra_params: Vec<String>,
    pub param_action: Action,
    pub scan_values: bool,
}

impl Default for QueryConfig {
    fn default() -> Self {
        QueryConfig {
            params: None,
            extra_params: Vec::new(),
            param_action: Action::Redact,
            scan_values: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeadersConfig {
    /// Headers whose whole value is masked (by words); `None` = built-in list.
    pub sensitive: Option<Vec<String>>,
    pub extra_sensitive: Vec<String>,
    /// For credentials, cookie values and sensitive headers.
    pub action: Action,
    /// Headers removed from the record (exact names, case-insensitive).
    pub drop: Vec<String>,
    /// Headers holding a URL or path: masked like `:path`.
    pub url_headers: Option<Vec<String>>,
    pub scan_values: bool,
}

pub const DEFAULT_URL_HEADERS: &[&str] = &[":path", "referer", "location", "content-location"];

impl Default for HeadersConfig {
    fn default() -> Self {
        HeadersConfig {
            sensitive: None,
            extra_sensitive: Vec::new(),
            action: Action::Redact,
            drop: Vec::new(),
            url_headers: None,
            scan_values: true,
        }
    }
}

impl PiiConfig {
    /// Parses JSON (unknown fields refused) and compiles it.
    pub fn from_json(bytes: &[u8]) -> Result<Masker, ConfigError> {
        parse_json::<PiiConfig>(bytes)?.compile()
    }

    /// Validates the configuration and builds the masker.
    pub fn compile(&self) -> Result<Masker, ConfigError> {
        if self.max_value_bytes == 0 || self.max_value_bytes > MAX_MAX_VALUE_BYTES {
            return Err(err(
                "max_value_bytes",
                format!("must be between 1 and {MAX_MAX_VALUE_BYTES}"),
            ));
        }
        let mut actions: Vec<(String, Action)> = Vec::new();
        let d = &self.detectors;
        let builtin = [
            (Kind::Email, "email", d.email),
            (Kind::Card, "card", d.card),
            (Kind::Iban, "iban", d.iban),
            (
                Kind::Ssn,
                "ssn",
                DetectorConfig {
                    enabled: d.ssn.enabled,
                    action: d.ssn.action,
                },
            ),
            (
                Kind::Phone,
                "phone",
                DetectorConfig {
                    enabled: d.phone.enabled,
                    action: d.phone.action,
                },
            ),
            (Kind::Ipv4, "ipv4", d.ipv4),
            (Kind::Ipv6, "ipv6", d.ipv6),
            (Kind::Jwt, "jwt", d.jwt),
            (Kind::Bearer, "bearer", d.bearer),
            (Kind::BasicAuth, "basic_auth", d.basic_auth),
            (Kind::ApiKey, "api_key", d.api_key),
            (Kind::PrivateKey, "private_key", d.private_key),
            (Kind::UrlPassword, "url_password", d.url_password),
        ];
        let mut det = Detectors::none();
        for (kind, name, c) in builtin {
            actions.push((format!("detectors.{name}.action"), c.action));
            if c.enabled {
                det.enable(kind, c.action);
            }
        }
        det.phone = PhoneOptions {
            bare: d.phone.bare_digits,
            words: context_words(
                "detectors.phone.context_words",
                d.phone.context_words.as_deref(),
                DEFAULT_PHONE_WORDS,
            )?,
        };
        det.ssn = SsnOptions {
            weak: d.ssn.weak_forms,
            words: context_words(
                "detectors.ssn.context_words",
                d.ssn.context_words.as_deref(),
                DEFAULT_SSN_WORDS,
            )?,
        };

        let mut patterns = Vec::new();
        if self.patterns.len() > usize::from(u16::MAX) {
            return Err(err("patterns", "too many patterns"));
        }
        for (i, p) in self.patterns.iter().enumerate() {
            let field = format!("patterns[{i}]");
            let valid_name = !p.name.is_empty()
                && p.name.len() <= 32
                && p.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !valid_name {
                return Err(err(
                    format!("{field}.name"),
                    "must be 1-32 characters of a-z, 0-9 and _",
                ));
            }
            if Kind::BUILT_IN
                .iter()
                .any(|k| k.name() == Some(p.name.as_str()))
                || [
                    "field",
                    "param",
                    "header",
                    "credential",
                    "cookie",
                    "non_utf8",
                ]
                .contains(&p.name.as_str())
            {
                return Err(err(
                    format!("{field}.name"),
                    format!("`{}` is a built-in name; choose another", p.name),
                ));
            }
            if self.patterns.iter().take(i).any(|q| q.name == p.name) {
                return Err(err(
                    format!("{field}.name"),
                    format!("`{}` is used by an earlier pattern", p.name),
                ));
            }
            let compiled =
                Pattern::compile(&p.regex).map_err(|m| err(format!("{field}.regex"), m))?;
            actions.push((format!("{field}.action"), p.action));
            patterns.push((p.name.clone(), compiled, p.action));
        }

        let json = &self.json;
        let field_names = name_list(
            (
                "json.fields",
                json.fields.as_deref(),
                DEFAULT_FIELDS.to_vec(),
            ),
            ("json.extra_fields", &json.extra_fields),
        )?;
        actions.push(("json.field_action".into(), json.field_action));
        let mut pointers = Vec::new();
        for (i, p) in json.pointers.iter().enumerate() {
            let field = format!("json.pointers[{i}]");
            let ptr = Pointer::parse(&p.pointer).map_err(|m| err(format!("{field}.pointer"), m))?;
            actions.push((format!("{field}.action"), p.action));
            pointers.push((ptr, p.action));
        }

        let q = &self.query;
        let param_names = name_list(
            (
                "query.params",
                q.params.as_deref(),
                DEFAULT_FIELDS
                    .iter()
                    .chain(DEFAULT_PARAMS)
                    .copied()
                    .collect(),
            ),
            ("query.extra_params", &q.extra_params),
        )?;
        actions.push(("query.param_action".into(), q.param_action));

        let h = &self.headers;
        let header_names = name_list(
            (
                "headers.sensitive",
                h.sensitive.as_deref(),
                DEFAULT_HEADERS.to_vec(),
            ),
            ("headers.extra_sensitive", &h.extra_sensitive),
        )?;
        check_names(
            "headers.drop",
            &h.drop.iter().map(String::as_str).collect::<Vec<_>>(),
        )?;
        let url_headers: Vec<String> = match &h.url_headers {
            Some(u) => u.iter().map(|s| s.to_ascii_lowercase()).collect(),
            None => DEFAULT_URL_HEADERS.iter().map(|s| s.to_string()).collect(),
        };
        check_names(
            "headers.url_headers",
            &url_headers.iter().map(String::as_str).collect::<Vec<_>>(),
        )?;
        actions.push(("headers.action".into(), h.action));

        for (field, a) in &actions {
            if let Action::Partial { keep_last } = a {
                if *keep_last > MAX_KEEP_LAST {
                    return Err(err(
                        format!("{field}.partial.keep_last"),
                        format!("must be at most {MAX_KEEP_LAST}"),
                    ));
                }
            }
        }
        let hasher = match &self.hash {
            Some(hc) => {
                if hc.key.len() < 16 {
                    return Err(err(
                        "hash.key",
                        "must be at least 16 bytes (use a random secret of 32 or more)",
                    ));
                }
                if hc.hex_len < 8 || hc.hex_len > 64 || hc.hex_len % 2 != 0 {
                    return Err(err("hash.hex_len", "must be an even number from 8 to 64"));
                }
                Hasher::new(Some(hc.key.as_bytes()), hc.hex_len)
            }
            None => {
                if let Some((field, _)) = actions.iter().find(|(_, a)| *a == Action::Hash) {
                    return Err(err(
                        "hash.key",
                        format!("required: {field} is `hash`; add \"hash\": {{\"key\": \"...\"}}"),
                    ));
                }
                Hasher::new(None, default_hex_len())
            }
        };

        Ok(Masker {
            det,
            patterns,
            hasher,
            json: JsonRules {
                fields: NameList::new(field_names),
                field_action: json.field_action,
                pointers,
                scan_values: json.scan_values,
                scan_keys: json.scan_keys,
            },
            query: QueryRules {
                params: NameList::new(param_names),
                action: q.param_action,
                scan_values: q.scan_values,
            },
            headers: HeaderRules {
                sensitive: NameList::new(header_names),
                action: h.action,
                drop: h.drop.iter().map(|s| s.to_ascii_lowercase()).collect(),
                url_headers,
                scan_values: h.scan_values,
            },
            max_value_bytes: self.max_value_bytes,
            oversize: self.oversize,
            non_utf8: self.non_utf8,
            tally: Default::default(),
        })
    }
}

fn context_words(
    field: &str,
    given: Option<&[String]>,
    default: &[&str],
) -> Result<Vec<Vec<u8>>, ConfigError> {
    let words: Vec<&str> = match given {
        Some(g) => g.iter().map(String::as_str).collect(),
        None => default.to_vec(),
    };
    for (i, w) in words.iter().enumerate() {
        if w.trim().is_empty() {
            return Err(err(format!("{field}[{i}]"), "must not be empty"));
        }
    }
    Ok(words
        .iter()
        .map(|w| w.to_ascii_lowercase().into_bytes())
        .collect())
}

/// A name list: the given one (or the default) plus the extra names, each
/// checked under its own field name.
fn name_list<'a>(
    (field, given, default): (&str, Option<&'a [String]>, Vec<&'a str>),
    (extra_field, extra): (&str, &'a [String]),
) -> Result<Vec<&'a str>, ConfigError> {
    let mut names: Vec<&str> = match given {
        Some(g) => g.iter().map(String::as_str).collect(),
        None => default,
    };
    check_names(field, &names)?;
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    check_names(extra_field, &extra)?;
    names.extend(extra);
    Ok(names)
}

fn check_names(field: &str, names: &[&str]) -> Result<(), ConfigError> {
    for (i, n) in names.iter().enumerate() {
        if n.trim().is_empty() || !n.chars().any(char::is_alphanumeric) {
            return Err(err(
                format!("{field}[{i}]"),
                "must contain a letter or digit",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile_err(json: &str) -> ConfigError {
        match PiiConfig::from_json(json.as_bytes()) {
            Ok(_) => panic!("accepted: {json}"),
            Err(e) => e,
        }
    }

    #[test]
    fn empty_config_is_complete() {
        let m = PiiConfig::from_json(b"{}").unwrap();
        assert_eq!(m.find("bob@example.com").len(), 1);
    }

    #[test]
    fn errors_name_the_field() {
        let cases: &[(&str, &str)] = &[
            (r#"{"detectors": {"emial": {}}}"#, "detectors.emial"),
            (
                r#"{"detectors": {"email": {"enabled": true, "actoin": "redact"}}}"#,
                "detectors.email.actoin",
            ),
            (
                r#"{"detectors": {"card": {"action": "mask"}}}"#,
                "detectors.card.action",
            ),
            (
                r#"{"detectors": {"card": {"action": {"partial": {"keep_last": 99}}}}}"#,
                "detectors.card.action.partial.keep_last",
            ),
            (
                r#"{"detectors": {"phone": {"bare_digits": "sometimes"}}}"#,
                "detectors.phone.bare_digits",
            ),
            (
                r#"{"detectors": {"phone": {"context_words": [""]}}}"#,
                "detectors.phone.context_words[0]",
            ),
            (
                r#"{"detectors": {"email": {"action": "hash"}}}"#,
                "hash.key",
            ),
            (r#"{"hash": {"key": "short"}}"#, "hash.key"),
            (
                r#"{"hash": {"key": "0123456789abcdef", "hex_len": 7}}"#,
                "hash.hex_len",
            ),
            (
                r#"{"patterns": [{"name": "Order", "regex": "x"}]}"#,
                "patterns[0].name",
            ),
            (
                r#"{"patterns": [{"name": "email", "regex": "x"}]}"#,
                "patterns[0].name",
            ),
            (
                r#"{"patterns": [{"name": "a", "regex": "x"}, {"name": "a", "regex": "y"}]}"#,
                "patterns[1].name",
            ),
            (
                r#"{"patterns": [{"name": "a", "regex": "("}]}"#,
                "patterns[0].regex",
            ),
            (
                r#"{"patterns": [{"name": "a", "regex": "x", "flags": "i"}]}"#,
                "patterns[0].flags",
            ),
            (
                r#"{"json": {"pointers": [{"pointer": "user"}]}}"#,
                "json.pointers[0].pointer",
            ),
            (
                r#"{"json": {"pointers": [{"pointer": "/a~2"}]}}"#,
                "json.pointers[0].pointer",
            ),
            (
                r#"{"json": {"extra_fields": ["  "]}}"#,
                "json.extra_fields[0]",
            ),
            (r#"{"query": {"params": ["-"]}}"#, "query.params[0]"),
            (r#"{"max_value_bytes": 0}"#, "max_value_bytes"),
            (r#"{"oversize": "wrap"}"#, "oversize"),
            (r#"{"unknown": 1}"#, "unknown"),
        ];
        for (json, field) in cases {
            let e = compile_err(json);
            assert_eq!(e.field, *field, "{json}: {e}");
            assert!(!e.message.is_empty());
        }
    }

    #[test]
    fn actions_parse() {
        let m = PiiConfig::from_json(
            br#"{"hash": {"key": "0123456789abcdef0123"},
                 "detectors": {"card": {"action": {"partial": {}}}, "email": {"action": "hash"}, "ipv4": {"action": "drop"}}}"#,
        )
        .unwrap();
        assert_eq!(m.action(Kind::Card), Action::Partial { keep_last: 4 });
        assert_eq!(m.action(Kind::Email), Action::Hash);
        assert_eq!(m.action(Kind::Ipv4), Action::Drop);
        assert_eq!(m.action(Kind::Ipv6), Action::Redact);
    }
}
