//! What a denied client sees (RFC 6750 + RFC 9457) and what an allowed
//! request carries on (the identity published for later filters, the
//! decision record).

use super::claims::scopes;
use super::config::{JwtConfig, Provider};
use super::reason::Reason;
use crate::host::LocalReply;
use crate::http::quote_header_string;
use crate::identity::{claim_at, Identity};
use crate::problem::Problem;
use serde_json::{Map, Value};

/// The filter's name in logs and `%RESPONSE_CODE_DETAILS%`.
pub const FILTER: &str = "jwt";

/// The local reply for a denial.
///
/// - missing token: 401, `WWW-Authenticate: Bearer realm="..."` with no
///   error code (RFC 6750 3.1);
/// - two tokens in one place: 400 `invalid_request`;
/// - no rule covers the request: 403, nothing about tokens;
/// - a non-canonical path or a host failure: 400 / 500, nothing about tokens;
/// - anything else: 401 `error="invalid_token"` with a short description.
pub fn denial_reply(cfg: &JwtConfig, reason: Reason) -> LocalReply {
    let realm = quote_header_string(&cfg.realm);
    let challenge = |error: &str| {
        format!(
            "Bearer realm={realm}, error=\"{error}\", error_description={}",
            quote_header_string(reason.description())
        )
    };
    let www = match reason {
        Reason::MissingToken => Some(format!("Bearer realm={realm}")),
        Reason::MultipleTokens => Some(challenge("invalid_request")),
        Reason::NoRuleMatched
        | Reason::NonCanonicalPath
        | Reason::InternalError
        | Reason::FilterUnconfigured => None,
        _ => Some(challenge("invalid_token")),
    };
    let mut problem = Problem::new(reason);
    if let Some(w) = www {
        problem = problem.header("www-authenticate", w);
    }
    problem.into_reply(FILTER)
}

/// The identity later filters and the access log read from filter state
/// `edgeward.identity`.
pub fn identity_of(provider: &Provider, claims: &Map<String, Value>) -> Identity {
    let string = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let aud = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => vec![],
    };
    Identity {
        provider: provider.name.clone(),
        iss: string(claims.get("iss")),
        sub: string(claims.get("sub")),
        aud,
        scopes: scopes(claims),
        client_id: string(claims.get("client_id")).or_else(|| string(claims.get("azp"))),
        tenant: provider
            .tenant_claim
            .as_deref()
            .and_then(|path| string(claim_at(claims, path))),
        exp: claims.get("exp").and_then(Value::as_f64),
        claims: claims.clone(),
    }
}

/// The decision record in filter state `edgeward.jwt.decision`: which rule
/// and why, for logs and audits. Every part is a number, a reason code, a
/// rule name (`[A-Za-z0-9_-]`) or a provider name (`[A-Za-z0-9-_.]`), all
/// validated at configure time, so it is built by hand; the records of
/// allowed requests are built once, at configure time
/// ([`crate::jwt::matcher::Rule::allow_record`]).
pub fn decision_json(
    cfg: &JwtConfig,
    allowed: bool,
    rule: Option<usize>,
    reason: Option<Reason>,
    provider: Option<usize>,
) -> String {
    let rule_name = rule
        .and_then(|r| cfg.rules.get(r))
        .and_then(|r| r.name.as_deref());
    let provider = provider
        .and_then(|p| cfg.providers.get(p))
        .map(|p| p.name.as_str());
    decision_record(allowed, rule, rule_name, reason.map(Reason::code), provider)
}

/// The record's text from its parts.
pub fn decision_record(
    allowed: bool,
    rule: Option<usize>,
    rule_name: Option<&str>,
    reason: Option<&str>,
    provider: Option<&str>,
) -> String {
    let quoted = |s: Option<&str>| s.map_or_else(|| "null".to_string(), |s| format!("\"{s}\""));
    let rule = rule.map_or_else(|| "null".to_string(), |r| r.to_string());
    format!(
        r#"{{"decision":"{}","rule":{rule},"rule_name":{},"reason":{},"provider":{}}}"#,
        if allowed { "allow" } else { "deny" },
        quoted(rule_name),
        quoted(reason),
        quoted(provider),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decision_record_is_valid_json() {
        let cfg = JwtConfig::from_json(
            br#"{"providers":{"idp":{"algorithms":["HS256"],"jwks":{"inline":{"keys":[{"kty":"oct","k":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}]}}}},
                 "rules":[{"name":"all","match":{"prefix":"/"},"requires":{"provider":"idp"}}]}"#,
        )
        .unwrap();
        let v: Value = serde_json::from_str(&decision_json(
            &cfg,
            false,
            Some(0),
            Some(Reason::Expired),
            Some(0),
        ))
        .unwrap();
        assert_eq!(
            v,
            json!({"decision": "deny", "rule": 0, "rule_name": "all", "reason": "expired", "provider": "idp"})
        );
        let v: Value = serde_json::from_str(&decision_json(&cfg, true, None, None, None)).unwrap();
        assert_eq!(
            v,
            json!({"decision": "allow", "rule": null, "rule_name": null, "reason": null, "provider": null})
        );
    }

    #[test]
    fn identity_takes_tenant_and_client() {
        let cfg = JwtConfig::from_json(
            br#"{"providers":{"idp":{"algorithms":["HS256"],"tenant_claim":"org.id","jwks":{"inline":{"keys":[{"kty":"oct","k":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}]}}}},
                 "rules":[{"match":{"prefix":"/"},"requires":{"provider":"idp"}}]}"#,
        )
        .unwrap();
        let claims = json!({"sub": "a", "aud": ["x", 1], "azp": "web", "org": {"id": "acme"}, "scope": "r w"});
        let id = identity_of(&cfg.providers[0], claims.as_object().unwrap());
        assert_eq!(id.tenant.as_deref(), Some("acme"));
        assert_eq!(id.client_id.as_deref(), Some("web"));
        assert_eq!(id.aud, vec!["x".to_string()]);
        assert_eq!(id.scopes, vec!["r".to_string(), "w".to_string()]);
    }
}
