//! What a denied client sees (RFC 6750 + RFC 9457) and what an allowed
//! request carries on (the identity published for later filters).

use super::claims::scopes;
use super::config::{JwtConfig, Provider};
use super::reason::Reason;
use crate::host::LocalReply;
use crate::http::{problem_reply, quote_header_string};
use serde_json::{json, Map, Value};

/// The local reply for a denial.
///
/// - missing token: 401, `WWW-Authenticate: Bearer realm="..."` with no
///   error code (RFC 6750 3.1);
/// - two tokens in one place: 400 `invalid_request`;
/// - no rule covers the request: 403, nothing about tokens;
/// - anything else: 401 `error="invalid_token"` with a short description.
pub fn denial_reply(cfg: &JwtConfig, reason: Reason) -> LocalReply {
    let realm = quote_header_string(&cfg.realm);
    let challenge = |error: &str| {
        format!(
            "Bearer realm={realm}, error=\"{error}\", error_description={}",
            quote_header_string(reason.description())
        )
    };
    let (status, title, www) = match reason {
        Reason::MissingToken => (401, "Unauthorized", Some(format!("Bearer realm={realm}"))),
        Reason::MultipleTokens => (400, "Bad Request", Some(challenge("invalid_request"))),
        Reason::NoRuleMatched => (403, "Forbidden", None),
        _ => (401, "Unauthorized", Some(challenge("invalid_token"))),
    };
    let headers = www
        .map(|w| vec![("www-authenticate".to_string(), w)])
        .unwrap_or_default();
    problem_reply(
        status,
        title,
        reason.code(),
        reason.description(),
        headers,
        format!("edgeward_jwt_denied.{}", reason.code()),
    )
}

/// The identity later filters and the access log read from filter state
/// `edgeward.identity`.
pub fn identity_json(provider: &Provider, claims: &Map<String, Value>) -> String {
    let aud = match claims.get("aud") {
        Some(Value::String(a)) => vec![Value::String(a.clone())],
        Some(Value::Array(items)) => items.clone(),
        _ => vec![],
    };
    json!({
        "provider": provider.name,
        "iss": claims.get("iss"),
        "sub": claims.get("sub"),
        "aud": aud,
        "scopes": scopes(claims),
        "exp": claims.get("exp"),
        "claims": claims,
    })
    .to_string()
}

/// The decision record in filter state `edgeward.jwt.decision`: which rule
/// and why, for logs and audits. Built by hand on the hot path: every part
/// is a number, a reason code or a provider name (validated to `[A-Za-z0-9-_.]`).
pub fn decision_json(
    cfg: &JwtConfig,
    allowed: bool,
    rule: Option<usize>,
    reason: Option<Reason>,
    provider: Option<usize>,
) -> String {
    let rule = rule.map_or_else(|| "null".to_string(), |r| r.to_string());
    let quoted = |s: Option<&str>| s.map_or_else(|| "null".to_string(), |s| format!("\"{s}\""));
    format!(
        r#"{{"decision":"{}","rule":{rule},"reason":{},"provider":{}}}"#,
        if allowed { "allow" } else { "deny" },
        quoted(reason.map(Reason::code)),
        quoted(
            provider
                .and_then(|p| cfg.providers.get(p))
                .map(|p| p.name.as_str())
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_record_is_valid_json() {
        let cfg = JwtConfig::from_json(
            br#"{"providers":{"idp":{"algorithms":["HS256"],"jwks":{"inline":{"keys":[{"kty":"oct","k":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}]}}}},
                 "rules":[{"match":{"prefix":"/"},"requires":{"provider":"idp"}}]}"#,
        )
        .unwrap();
        let v: Value = serde_json::from_str(&decision_json(
            &cfg,
            false,
            Some(3),
            Some(Reason::Expired),
            Some(0),
        ))
        .unwrap();
        assert_eq!(
            v,
            json!({"decision": "deny", "rule": 3, "reason": "expired", "provider": "idp"})
        );
        let v: Value = serde_json::from_str(&decision_json(&cfg, true, None, None, None)).unwrap();
        assert_eq!(
            v,
            json!({"decision": "allow", "rule": null, "reason": null, "provider": null})
        );
    }
}
