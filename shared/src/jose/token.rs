//! Compact JWS parsing (RFC 7515/7519), strict: exactly three base64url
//! parts, JSON objects without duplicate members, an allowed `alg`, no
//! `crit`, no JWE, no unencoded payload. Nothing is trusted yet: the
//! signature is checked later.

use super::algorithm::Algorithm;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// Why a token was refused before any signature check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenError {
    /// Longer than the caller's byte limit.
    TooLarge,
    /// Not three base64url parts, bad base64url, a header or payload that is
    /// not a JSON object or repeats a member, a header with `crit`, `b64` or
    /// `enc` (JWE), no `alg` string, an empty signature, or a registered
    /// claim of the wrong type.
    Malformed,
    /// `alg` is `none`, unknown, or not in the caller's allowlist.
    AlgNotAllowed,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenError::TooLarge => "token is larger than allowed",
            TokenError::Malformed => "token is not a well-formed compact JWS",
            TokenError::AlgNotAllowed => "token's alg is not allowed",
        })
    }
}

impl std::error::Error for TokenError {}

/// The protected header fields edgeward acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub alg: Algorithm,
    pub kid: Option<String>,
    pub typ: Option<String>,
}

/// A parsed, not yet verified token.
#[derive(Debug, Clone)]
pub struct UnverifiedToken<'a> {
    pub header: Header,
    pub claims: Map<String, Value>,
    /// `base64url(header) "." base64url(payload)`: what the signature covers.
    pub signing_input: &'a str,
    pub signature: Vec<u8>,
}

/// Parses `raw`. `allowed` is the provider's algorithm allowlist.
pub fn parse<'a>(
    raw: &'a str,
    max_bytes: usize,
    allowed: &[Algorithm],
) -> Result<UnverifiedToken<'a>, TokenError> {
    if raw.len() > max_bytes {
        return Err(TokenError::TooLarge);
    }
    let mut parts = raw.split('.');
    let (Some(h64), Some(p64), Some(s64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let signing_input = raw
        .get(..h64.len() + 1 + p64.len())
        .ok_or(TokenError::Malformed)?;

    let header_obj = decode_object(h64)?;
    let header = parse_header(&header_obj, allowed)?;
    let claims = decode_object(p64)?;
    let signature = decode_b64url(s64)?;
    if signature.is_empty() {
        return Err(TokenError::Malformed);
    }
    check_registered_claim_types(&claims)?;
    Ok(UnverifiedToken {
        header,
        claims,
        signing_input,
        signature,
    })
}

fn parse_header(obj: &Map<String, Value>, allowed: &[Algorithm]) -> Result<Header, TokenError> {
    // A JWE (has `enc`) or an unencoded payload (`b64`) is not a JWS we accept.
    if obj.contains_key("enc") || obj.contains_key("b64") {
        return Err(TokenError::Malformed);
    }
    // We understand no extension, so any `crit` must be rejected (RFC 7515 4.1.11).
    if obj.contains_key("crit") {
        return Err(TokenError::Malformed);
    }
    let alg = match obj.get("alg") {
        Some(Value::String(name)) => Algorithm::from_name(name).ok_or(TokenError::AlgNotAllowed)?,
        Some(_) => return Err(TokenError::Malformed),
        None => return Err(TokenError::Malformed),
    };
    if !allowed.contains(&alg) {
        return Err(TokenError::AlgNotAllowed);
    }
    Ok(Header {
        alg,
        kid: optional_string(obj, "kid")?,
        typ: optional_string(obj, "typ")?,
    })
}

fn optional_string(obj: &Map<String, Value>, name: &str) -> Result<Option<String>, TokenError> {
    match obj.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(TokenError::Malformed),
    }
}

/// `exp`, `nbf`, `iat` must be finite numbers; `iss`, `sub`, `jti` strings;
/// `aud` a string or an array of strings (RFC 7519 4.1). A wrong type is a
/// malformed token, never "absent".
fn check_registered_claim_types(claims: &Map<String, Value>) -> Result<(), TokenError> {
    for name in ["exp", "nbf", "iat"] {
        if let Some(v) = claims.get(name) {
            match v.as_f64() {
                Some(n) if n.is_finite() => {}
                _ => return Err(TokenError::Malformed),
            }
        }
    }
    for name in ["iss", "sub", "jti"] {
        if let Some(v) = claims.get(name) {
            if !v.is_string() {
                return Err(TokenError::Malformed);
            }
        }
    }
    match claims.get("aud") {
        None | Some(Value::String(_)) => {}
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => {}
        Some(_) => return Err(TokenError::Malformed),
    }
    Ok(())
}

/// Strict base64url without padding. The base64 crate rejects padding,
/// non-alphabet bytes and non-canonical trailing bits in this engine.
pub fn decode_b64url(part: &str) -> Result<Vec<u8>, TokenError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed)
}

fn decode_object(part: &str) -> Result<Map<String, Value>, TokenError> {
    let bytes = decode_b64url(part)?;
    serde_json::from_slice::<StrictObject>(&bytes)
        .map(|o| o.0)
        .map_err(|_| TokenError::Malformed)
}

/// A JSON object that refuses duplicate member names at its top level, so
/// `{"alg":"RS256","alg":"none"}` cannot mean different things to
/// different parsers.
struct StrictObject(Map<String, Value>);

impl<'de> Deserialize<'de> for StrictObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ObjVisitor;
        impl<'de> Visitor<'de> for ObjVisitor {
            type Value = StrictObject;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<StrictObject, A::Error> {
                let mut map = Map::new();
                while let Some((k, v)) = access.next_entry::<String, Value>()? {
                    if map.contains_key(&k) {
                        return Err(serde::de::Error::custom("duplicate member"));
                    }
                    map.insert(k, v);
                }
                Ok(StrictObject(map))
            }
        }
        d.deserialize_map(ObjVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    fn tok(header: &str, payload: &str) -> String {
        format!("{}.{}.{}", b64(header), b64(payload), b64("sig"))
    }

    const ALL: &[Algorithm] = &Algorithm::ALL;

    #[test]
    fn parses_a_well_formed_token() {
        let t = tok(
            r#"{"alg":"RS256","kid":"k1","typ":"at+jwt"}"#,
            r#"{"sub":"a","exp":1}"#,
        );
        let p = parse(&t, 8192, ALL).unwrap();
        assert_eq!(p.header.alg, Algorithm::RS256);
        assert_eq!(p.header.kid.as_deref(), Some("k1"));
        assert_eq!(p.header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(p.signature, b"sig");
        assert_eq!(p.signing_input.matches('.').count(), 1);
    }

    #[test]
    fn rejects_hostile_and_malformed_tokens() {
        let ok_payload = r#"{"sub":"a"}"#;
        let cases: Vec<(String, TokenError)> = vec![
            (
                tok(r#"{"alg":"none"}"#, ok_payload),
                TokenError::AlgNotAllowed,
            ),
            (
                tok(r#"{"alg":"NONE"}"#, ok_payload),
                TokenError::AlgNotAllowed,
            ),
            (
                tok(r#"{"alg":"nOnE"}"#, ok_payload),
                TokenError::AlgNotAllowed,
            ),
            (
                tok(r#"{"alg":"HS257"}"#, ok_payload),
                TokenError::AlgNotAllowed,
            ),
            (tok(r#"{"alg":5}"#, ok_payload), TokenError::Malformed),
            (tok(r#"{}"#, ok_payload), TokenError::Malformed),
            (
                tok(r#"{"alg":"RS256","crit":["exp"]}"#, ok_payload),
                TokenError::Malformed,
            ),
            (
                tok(r#"{"alg":"RS256","b64":false}"#, ok_payload),
                TokenError::Malformed,
            ),
            (
                tok(r#"{"alg":"RS256","enc":"A128GCM"}"#, ok_payload),
                TokenError::Malformed,
            ),
            (
                tok(r#"{"alg":"RS256","kid":7}"#, ok_payload),
                TokenError::Malformed,
            ),
            (
                tok(r#"{"alg":"RS256","alg":"none"}"#, ok_payload),
                TokenError::Malformed,
            ),
            (
                tok(r#"{"alg":"RS256"}"#, r#"{"exp":"123"}"#),
                TokenError::Malformed,
            ),
            (
                tok(r#"{"alg":"RS256"}"#, r#"{"nbf":true}"#),
                TokenError::Malformed,
            ),
            (
                tok(r#"{"alg":"RS256"}"#, r#"{"iat":null}"#),
                TokenError::Malformed,
            ),
            (
                tok(r#"{"alg":"RS256"}"#, r#"{"aud":[1]}"#),
                TokenError::Malformed,
            ),
            (
                tok(r#"{"alg":"RS256"}"#, r#"{"iss":{}}"#),
                TokenError::Malformed,
            ),
            (tok(r#"{"alg":"RS256"}"#, r#"[1,2]"#), TokenError::Malformed),
            (
                tok(r#"{"alg":"RS256"}"#, r#"{"a":1,"a":2}"#),
                TokenError::Malformed,
            ),
            (tok(r#"{"alg":"RS256"}"#, "not json"), TokenError::Malformed),
            (
                format!("{}.{}", b64(r#"{"alg":"RS256"}"#), b64(ok_payload)),
                TokenError::Malformed,
            ),
            (
                format!("{}.{}.", b64(r#"{"alg":"RS256"}"#), b64(ok_payload)),
                TokenError::Malformed,
            ),
            (
                format!("{}.{}.c2ln.x.y", b64(r#"{"alg":"RS256"}"#), b64(ok_payload)),
                TokenError::Malformed,
            ),
            (
                format!("{}=.{}.c2ln", b64(r#"{"alg":"RS256"}"#), b64(ok_payload)),
                TokenError::Malformed,
            ),
            (
                format!("{}.{}.c2l+", b64(r#"{"alg":"RS256"}"#), b64(ok_payload)),
                TokenError::Malformed,
            ),
            ("".to_string(), TokenError::Malformed),
            ("..".to_string(), TokenError::Malformed),
            ("a.b.c".to_string(), TokenError::Malformed),
            ("Bearer".to_string(), TokenError::Malformed),
            ("x".repeat(9000), TokenError::TooLarge),
        ];
        for (t, want) in cases {
            assert_eq!(parse(&t, 8192, ALL).map(|_| ()), Err(want), "token {t:.80}");
        }
    }

    #[test]
    fn allowlist_is_enforced() {
        let t = tok(r#"{"alg":"HS256"}"#, "{}");
        assert_eq!(
            parse(&t, 8192, &[Algorithm::RS256]).map(|_| ()),
            Err(TokenError::AlgNotAllowed)
        );
    }
}
