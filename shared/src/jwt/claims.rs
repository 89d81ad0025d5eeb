//! Claim checks after the signature: issuer, audience, time, type. Types
//! were already checked when the token was parsed.

use super::config::Provider;
use super::reason::Reason;
use crate::jose::token::Header;
use serde_json::{Map, Value};

/// `typ` comparison per RFC 7515 4.1.9 / RFC 8725 3.11: case-insensitive,
/// and `application/` may be omitted.
pub fn check_typ(header: &Header, required: Option<&str>) -> Result<(), Reason> {
    let Some(required) = required else {
        return Ok(());
    };
    let norm = |s: &str| {
        let lower = s.to_ascii_lowercase();
        lower
            .strip_prefix("application/")
            .map(str::to_string)
            .unwrap_or(lower)
    };
    match &header.typ {
        Some(t) if norm(t) == norm(required) => Ok(()),
        _ => Err(Reason::TypMismatch),
    }
}

pub fn check_issuer(claims: &Map<String, Value>, provider: &Provider) -> Result<(), Reason> {
    match &provider.issuer {
        None => Ok(()),
        Some(want) => match claims.get("iss").and_then(Value::as_str) {
            Some(iss) if iss == want => Ok(()),
            _ => Err(Reason::IssuerMismatch),
        },
    }
}

pub fn check_audience(claims: &Map<String, Value>, provider: &Provider) -> Result<(), Reason> {
    let Some(allowed) = &provider.audiences else {
        return Ok(());
    };
    let ok = match claims.get("aud") {
        Some(Value::String(a)) => allowed.contains(a),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .any(|a| allowed.iter().any(|w| w == a)),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Reason::AudienceMismatch)
    }
}

/// `exp`, `nbf`, `iat` and lifetime against `now_s`, allowing the
/// provider's clock skew.
pub fn check_time(
    claims: &Map<String, Value>,
    provider: &Provider,
    now_s: f64,
) -> Result<(), Reason> {
    let skew = provider.clock_skew_s as f64;
    let num = |name: &str| claims.get(name).and_then(Value::as_f64);
    let exp = num("exp");
    match exp {
        Some(exp) if now_s > exp + skew => return Err(Reason::Expired),
        None if provider.require_exp => return Err(Reason::MissingExp),
        _ => {}
    }
    if let Some(nbf) = num("nbf") {
        if now_s + skew < nbf {
            return Err(Reason::NotYetValid);
        }
    }
    let iat = num("iat");
    if let Some(iat) = iat {
        if now_s + skew < iat {
            return Err(Reason::NotYetValid);
        }
    }
    if let Some(max) = provider.max_lifetime_s {
        let Some(exp) = exp else {
            return Err(Reason::MissingExp);
        };
        let start = iat.or(num("nbf")).unwrap_or(now_s);
        if exp - start > max as f64 {
            return Err(Reason::LifetimeTooLong);
        }
    }
    Ok(())
}

/// Scopes as a list: `scope` (space-delimited string, RFC 8693 / 9068) or
/// `scp` (string or array, as some IdPs send).
pub fn scopes(claims: &Map<String, Value>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in ["scope", "scp"] {
        match claims.get(name) {
            Some(Value::String(s)) => out.extend(s.split_whitespace().map(str::to_string)),
            Some(Value::Array(items)) => {
                out.extend(items.iter().filter_map(Value::as_str).map(str::to_string))
            }
            _ => {}
        }
    }
    out.dedup();
    out
}

pub use crate::identity::claim_at;

#[cfg(test)]
mod tests {
    use super::super::config::JwtConfig;
    use super::*;
    use crate::jose::algorithm::Algorithm;
    use serde_json::json;

    fn provider(extra: Value) -> Provider {
        let mut p = json!({
            "algorithms": ["HS256"],
            "jwks": {"inline": {"keys": [{"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}]}}
        });
        if let (Some(o), Some(e)) = (p.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        let cfg = json!({"providers": {"p": p}, "rules": [{"match": {"prefix": "/"}, "requires": {"provider": "p"}}]});
        JwtConfig::from_json(cfg.to_string().as_bytes())
            .unwrap()
            .providers
            .remove(0)
    }

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn time_checks_honour_skew() {
        let p = provider(json!({"clock_skew_s": 10}));
        let now = 1000.0;
        assert_eq!(check_time(&claims(json!({"exp": 995})), &p, now), Ok(()));
        assert_eq!(
            check_time(&claims(json!({"exp": 989})), &p, now),
            Err(Reason::Expired)
        );
        assert_eq!(
            check_time(&claims(json!({})), &p, now),
            Err(Reason::MissingExp)
        );
        assert_eq!(
            check_time(&claims(json!({"exp": 2000, "nbf": 1011})), &p, now),
            Err(Reason::NotYetValid)
        );
        assert_eq!(
            check_time(&claims(json!({"exp": 2000, "iat": 1011})), &p, now),
            Err(Reason::NotYetValid)
        );
        assert_eq!(
            check_time(&claims(json!({"exp": 2000, "nbf": 1009.5})), &p, now),
            Ok(())
        );
        let p = provider(json!({"require_exp": false}));
        assert_eq!(check_time(&claims(json!({})), &p, now), Ok(()));
    }

    #[test]
    fn lifetime_is_bounded() {
        let p = provider(json!({"max_lifetime_s": 3600}));
        assert_eq!(
            check_time(&claims(json!({"iat": 1000, "exp": 4600})), &p, 1000.0),
            Ok(())
        );
        assert_eq!(
            check_time(&claims(json!({"iat": 1000, "exp": 4601})), &p, 1000.0),
            Err(Reason::LifetimeTooLong)
        );
    }

    #[test]
    fn issuer_and_audience() {
        let p = provider(json!({"issuer": "https://i", "audiences": ["a", "b"]}));
        assert_eq!(
            check_issuer(&claims(json!({"iss": "https://i"})), &p),
            Ok(())
        );
        assert_eq!(
            check_issuer(&claims(json!({"iss": "https://i/"})), &p),
            Err(Reason::IssuerMismatch)
        );
        assert_eq!(
            check_issuer(&claims(json!({})), &p),
            Err(Reason::IssuerMismatch)
        );
        assert_eq!(check_audience(&claims(json!({"aud": "b"})), &p), Ok(()));
        assert_eq!(
            check_audience(&claims(json!({"aud": ["x", "a"]})), &p),
            Ok(())
        );
        assert_eq!(
            check_audience(&claims(json!({"aud": ["x"]})), &p),
            Err(Reason::AudienceMismatch)
        );
        assert_eq!(
            check_audience(&claims(json!({})), &p),
            Err(Reason::AudienceMismatch)
        );
        let open = provider(json!({}));
        assert_eq!(check_audience(&claims(json!({})), &open), Ok(()));
    }

    #[test]
    fn typ_is_compared_loosely_as_rfc_7515_says() {
        let h = |t: Option<&str>| Header {
            alg: Algorithm::RS256,
            kid: None,
            typ: t.map(str::to_string),
        };
        assert_eq!(check_typ(&h(Some("at+jwt")), Some("at+jwt")), Ok(()));
        assert_eq!(
            check_typ(&h(Some("application/AT+JWT")), Some("at+jwt")),
            Ok(())
        );
        assert_eq!(
            check_typ(&h(Some("JWT")), Some("at+jwt")),
            Err(Reason::TypMismatch)
        );
        assert_eq!(
            check_typ(&h(None), Some("at+jwt")),
            Err(Reason::TypMismatch)
        );
        assert_eq!(check_typ(&h(None), None), Ok(()));
    }

    #[test]
    fn scopes_from_scope_or_scp() {
        assert_eq!(scopes(&claims(json!({"scope": "a  b"}))), vec!["a", "b"]);
        assert_eq!(scopes(&claims(json!({"scp": ["x", "y"]}))), vec!["x", "y"]);
        assert!(scopes(&claims(json!({"scope": 3}))).is_empty());
    }
}
