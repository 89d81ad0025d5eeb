//! Reading a JSON request body the way the upstream will, or refusing it.
//!
//! Shared by every filter that decides on a body (tenant binding, schema
//! enforcement). The headers are checked first: exactly one `content-type`
//! whose media type is allowed, with no parameter but `charset=utf-8` (an
//! odd or repeated parameter may be read differently upstream); no
//! `content-encoding` (a compressed body is not what the filter would
//! check); one well-formed `content-length` within the limit. The size is
//! then checked as chunks arrive, so a body over the limit is refused as
//! soon as it crosses it, without buffering further. The complete body is
//! parsed with [`crate::json::parse_strict`].

use crate::config::{ConfigError, Field};
use crate::http::RequestHead;
use crate::json::{parse_strict, JsonError, DEFAULT_MAX_DEPTH, MAX_DEPTH_LIMIT};
use crate::reason::Reason;
use serde::Deserialize;
use serde_json::Value;

/// Why a body is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyRefusal {
    /// Content type missing, not allowed, repeated or with odd parameters.
    MediaType(&'static str),
    /// `content-encoding` present.
    Compressed,
    /// Larger than allowed (declared or received).
    TooLarge,
    /// `content-length` repeated, not a number, or disagreeing.
    BadLength,
    /// Not strict JSON.
    Json(JsonError),
}

impl BodyRefusal {
    pub fn reason(&self) -> Reason {
        match self {
            BodyRefusal::MediaType(_) | BodyRefusal::Compressed => Reason::UnsupportedMediaType,
            BodyRefusal::TooLarge => Reason::BodyTooLarge,
            BodyRefusal::BadLength | BodyRefusal::Json(_) => Reason::InvalidBody,
        }
    }
}

impl std::fmt::Display for BodyRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyRefusal::MediaType(why) => write!(f, "content type: {why}"),
            BodyRefusal::Compressed => f.write_str("a content-encoding is not accepted"),
            BodyRefusal::TooLarge => f.write_str("the body is larger than allowed"),
            BodyRefusal::BadLength => f.write_str("content-length is repeated or malformed"),
            BodyRefusal::Json(e) => write!(f, "{e}"),
        }
    }
}

/// The `json_body` settings of a filter's configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJsonBody {
    #[serde(default)]
    pub max_bytes: Option<usize>,
    #[serde(default)]
    pub max_depth: Option<usize>,
    /// Allowed media types, e.g. `["application/json"]`; `application/*+json`
    /// allows every `+json` subtype.
    #[serde(default)]
    pub content_types: Option<Vec<String>>,
}

/// Largest body any filter buffers (Envoy's default buffer limit is 1 MiB).
pub const MAX_BODY_LIMIT: usize = 16 * 1024 * 1024;
pub const DEFAULT_MAX_BODY: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonBodyPolicy {
    pub max_bytes: usize,
    pub max_depth: usize,
    /// Lower-case essences (`application/json`); `application/*+json` as is.
    pub content_types: Vec<String>,
}

impl Default for JsonBodyPolicy {
    fn default() -> Self {
        JsonBodyPolicy {
            max_bytes: DEFAULT_MAX_BODY,
            max_depth: DEFAULT_MAX_DEPTH,
            content_types: vec!["application/json".into()],
        }
    }
}

impl JsonBodyPolicy {
    pub fn compile(field: &Field, raw: Option<&RawJsonBody>) -> Result<Self, ConfigError> {
        let mut p = JsonBodyPolicy::default();
        let Some(raw) = raw else {
            return Ok(p);
        };
        if let Some(m) = raw.max_bytes {
            p.max_bytes = crate::config::in_range(&field.child("max_bytes"), m, 1, MAX_BODY_LIMIT)?;
        }
        if let Some(d) = raw.max_depth {
            p.max_depth =
                crate::config::in_range(&field.child("max_depth"), d, 1, MAX_DEPTH_LIMIT)?;
        }
        if let Some(types) = &raw.content_types {
            if types.is_empty() {
                return Err(field
                    .child("content_types")
                    .error("list at least one media type"));
            }
            p.content_types = types
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let lower = t.to_ascii_lowercase();
                    match lower.split_once('/') {
                        Some((ty, sub)) if is_token(ty) && (is_token(sub) || sub == "*+json") => {
                            Ok(lower)
                        }
                        _ => Err(field.child("content_types").index(i).error(format!(
                            "{t:?} is not a media type such as \"application/json\""
                        ))),
                    }
                })
                .collect::<Result<_, _>>()?;
        }
        Ok(p)
    }

    /// Checks what the headers say about the body; `Ok(false)` when the
    /// request has no body at all (no content-length, no transfer-encoding,
    /// or a zero content-length), which callers decide on themselves.
    pub fn check_headers(
        &self,
        head: &RequestHead,
        end_of_stream: bool,
    ) -> Result<bool, BodyRefusal> {
        self.check_head(head, end_of_stream).map(|e| e.is_some())
    }

    /// [`Self::check_headers`], answering with the media type essence the
    /// body is sent with (`None`: no body), so a caller that picks a schema
    /// by media type does not parse `content-type` a second time.
    pub fn check_head(
        &self,
        head: &RequestHead,
        end_of_stream: bool,
    ) -> Result<Option<String>, BodyRefusal> {
        if head.all("content-encoding").next().is_some() {
            return Err(BodyRefusal::Compressed);
        }
        let mut lengths = head.all("content-length");
        let declared = match (lengths.next(), lengths.next()) {
            (None, _) => None,
            (Some(one), None) => Some(
                one.trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|_| one.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or(BodyRefusal::BadLength)?,
            ),
            (Some(_), Some(_)) => return Err(BodyRefusal::BadLength),
        };
        if declared.is_some_and(|n| n > self.max_bytes as u64) {
            return Err(BodyRefusal::TooLarge);
        }
        let has_body = !end_of_stream && declared != Some(0);
        if !has_body {
            return Ok(None);
        }
        self.check_content_type(head).map(Some)
    }

    /// The essence of the one allowed `content-type`.
    fn check_content_type(&self, head: &RequestHead) -> Result<String, BodyRefusal> {
        let mut values = head.all("content-type");
        let value = match (values.next(), values.next()) {
            (None, _) => return Err(BodyRefusal::MediaType("missing")),
            (Some(one), None) => one,
            (Some(_), Some(_)) => return Err(BodyRefusal::MediaType("repeated")),
        };
        let media = parse_media_type(value).ok_or(BodyRefusal::MediaType("malformed"))?;
        if !self.allows(&media.essence) {
            return Err(BodyRefusal::MediaType("not allowed here"));
        }
        match media.params.as_slice() {
            [] => Ok(media.essence),
            [(name, v)] if name == "charset" && v.eq_ignore_ascii_case("utf-8") => {
                Ok(media.essence)
            }
            _ => Err(BodyRefusal::MediaType(
                "parameters other than charset=utf-8",
            )),
        }
    }

    fn allows(&self, essence: &str) -> bool {
        self.content_types
            .iter()
            .any(|t| match t.strip_suffix("*+json") {
                Some(ty_slash) => {
                    essence.starts_with(ty_slash)
                        && essence.ends_with("+json")
                        && essence.len() > ty_slash.len() + "+json".len()
                }
                None => t == essence,
            })
    }

    /// The body received so far (the proxy's buffered size).
    pub fn check_size(&self, received: usize) -> Result<(), BodyRefusal> {
        if received > self.max_bytes {
            Err(BodyRefusal::TooLarge)
        } else {
            Ok(())
        }
    }

    /// Parses the complete body.
    pub fn parse(&self, body: &[u8]) -> Result<Value, BodyRefusal> {
        self.check_size(body.len())?;
        parse_strict(body, self.max_depth).map_err(BodyRefusal::Json)
    }
}

/// A media type: lower-case `type/subtype` and its parameters (names
/// lower-case, values unquoted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaType {
    pub essence: String,
    pub params: Vec<(String, String)>,
}

/// RFC 9110 `media-type`, strictly: a comma (two values joined), a
/// repeated parameter, an empty or malformed part is `None`.
pub fn parse_media_type(value: &str) -> Option<MediaType> {
    if value.contains(',') {
        return None;
    }
    let mut parts = value.split(';');
    let essence = parts.next()?.trim().to_ascii_lowercase();
    let (ty, sub) = essence.split_once('/')?;
    if !is_token(ty) || !is_token(sub) {
        return None;
    }
    let mut params: Vec<(String, String)> = Vec::new();
    for p in parts {
        let (name, v) = p.trim().split_once('=')?;
        let name = name.to_ascii_lowercase();
        if !is_token(&name) || params.iter().any(|(n, _)| *n == name) {
            return None;
        }
        let v = match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            Some(q) if !q.contains(['"', '\\']) => q.to_string(),
            Some(_) => return None,
            None if is_token(v) => v.to_string(),
            None => return None,
        };
        params.push((name, v));
    }
    Some(MediaType { essence, params })
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn head(pairs: &[(&str, &str)]) -> RequestHead {
        RequestHead::from_pairs(pairs)
    }

    #[test]
    fn content_types() {
        let p = JsonBodyPolicy::default();
        let ok = |ct: &str| {
            p.check_headers(
                &head(&[("content-type", ct), ("content-length", "2")]),
                false,
            )
        };
        assert_eq!(ok("application/json"), Ok(true));
        assert_eq!(ok("Application/JSON; charset=UTF-8"), Ok(true));
        assert_eq!(ok("application/json;charset=\"utf-8\""), Ok(true));
        for bad in [
            "text/plain",
            "application/json; charset=latin1",
            "application/json; charset=utf-8; charset=utf-16",
            "application/json; boundary=x",
            "application/json, text/plain",
            "application/json;",
            "application/",
            "json",
            "application/problem+json",
        ] {
            assert!(matches!(ok(bad), Err(BodyRefusal::MediaType(_))), "{bad}");
        }
        assert_eq!(
            p.check_headers(&head(&[("content-length", "2")]), false),
            Err(BodyRefusal::MediaType("missing"))
        );
        assert_eq!(
            p.check_headers(
                &head(&[
                    ("content-type", "application/json"),
                    ("content-type", "application/json")
                ]),
                false
            ),
            Err(BodyRefusal::MediaType("repeated"))
        );
        let plus = JsonBodyPolicy {
            content_types: vec!["application/*+json".into()],
            ..JsonBodyPolicy::default()
        };
        assert!(plus.allows("application/merge-patch+json"));
        assert!(!plus.allows("application/json"));
        assert!(!plus.allows("application/+json"));
        assert!(!plus.allows("text/x+json"));
    }

    #[test]
    fn lengths_encodings_and_empty_bodies() {
        let p = JsonBodyPolicy {
            max_bytes: 10,
            ..JsonBodyPolicy::default()
        };
        let ct = ("content-type", "application/json");
        assert_eq!(
            p.check_headers(&head(&[ct, ("content-length", "11")]), false),
            Err(BodyRefusal::TooLarge)
        );
        assert_eq!(
            p.check_headers(
                &head(&[ct, ("content-length", "1"), ("content-length", "1")]),
                false
            ),
            Err(BodyRefusal::BadLength)
        );
        assert_eq!(
            p.check_headers(&head(&[ct, ("content-length", "+5")]), false),
            Err(BodyRefusal::BadLength)
        );
        assert_eq!(
            p.check_headers(&head(&[ct, ("content-encoding", "gzip")]), false),
            Err(BodyRefusal::Compressed)
        );
        assert_eq!(
            p.check_headers(&head(&[]), true),
            Ok(false),
            "headers-only request"
        );
        assert_eq!(
            p.check_headers(&head(&[("content-length", "0")]), false),
            Ok(false)
        );
        assert_eq!(
            p.check_headers(&head(&[ct]), false),
            Ok(true),
            "chunked: size checked as it arrives"
        );
        assert_eq!(p.check_size(10), Ok(()));
        assert_eq!(p.check_size(11), Err(BodyRefusal::TooLarge));
        assert_eq!(p.parse(br#"{"a":1}"#), Ok(json!({"a": 1})));
        assert_eq!(
            JsonBodyPolicy::default().parse(br#"{"a":1,"a":2}"#),
            Err(BodyRefusal::Json(JsonError::DuplicateKey))
        );
        assert_eq!(p.parse(&[b' '; 11]), Err(BodyRefusal::TooLarge));
        assert_eq!(BodyRefusal::Compressed.reason().status(), 415);
        assert_eq!(BodyRefusal::TooLarge.reason().status(), 413);
        assert_eq!(BodyRefusal::Json(JsonError::TooDeep).reason().status(), 400);
    }

    #[test]
    fn config() {
        let f = Field::root("json_body");
        let raw: RawJsonBody = serde_json::from_value(json!({"max_bytes": 0})).unwrap();
        assert_eq!(
            JsonBodyPolicy::compile(&f, Some(&raw)).unwrap_err().field,
            "json_body.max_bytes"
        );
        let raw: RawJsonBody = serde_json::from_value(json!({"max_depth": 500})).unwrap();
        assert!(JsonBodyPolicy::compile(&f, Some(&raw)).is_err());
        let raw: RawJsonBody = serde_json::from_value(json!({"content_types": ["nope"]})).unwrap();
        assert_eq!(
            JsonBodyPolicy::compile(&f, Some(&raw)).unwrap_err().field,
            "json_body.content_types[0]"
        );
        assert!(serde_json::from_value::<RawJsonBody>(json!({"max_byte": 1})).is_err());
    }
}
