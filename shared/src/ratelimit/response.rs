//! What a decision looks like to the client and the audit log: the IETF
//! `RateLimit-Policy` / `RateLimit` structured fields
//! (draft-ietf-httpapi-ratelimit-headers: `"name";q=100;w=60` and
//! `"name";r=42;t=17`), the older `X-RateLimit-*` headers, `Retry-After`,
//! the problem+json reply (type `quota-exceeded`, naming the policy) and
//! the `edgeward.ratelimit` filter-state record.

use crate::decimal::push_u64;
use crate::host::LocalReply;
use crate::problem::Problem;
use crate::reason::Reason;
use serde_json::{json, Value};

/// Filter-state key of the decision.
pub const DECISION_PROPERTY: &str = "edgeward.ratelimit";

/// The IANA problem type of the rate-limit headers draft.
pub const QUOTA_EXCEEDED_TYPE: &str =
    "https://iana.org/assignments/http-problem-types#quota-exceeded";

/// Where a policy's answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Local,
    Global,
    /// A global policy decided locally: the service failed (`failure_mode: local`).
    Fallback,
    /// A global policy let through: the service failed (`failure_mode: allow`).
    FailedOpen,
    /// A global policy decided on units leased from the service (local-first).
    Lease,
}

impl Source {
    pub fn label(self) -> &'static str {
        match self {
            Source::Local => "local",
            Source::Global => "global",
            Source::Fallback => "fallback",
            Source::FailedOpen => "failed_open",
            Source::Lease => "lease",
        }
    }
}

/// One policy's answer for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyResult {
    pub policy: usize,
    pub allowed: bool,
    pub quota: u64,
    pub window_s: u64,
    pub remaining: u64,
    pub reset_ms: u64,
    pub retry_after_ms: u64,
    pub source: Source,
}

fn ceil_s(ms: u64) -> u64 {
    ms.div_ceil(1000)
}

/// `RateLimit-Policy` and `RateLimit` for these results (names from `names`).
pub fn ietf_headers(results: &[&PolicyResult], names: &[String]) -> Option<(String, String)> {
    let mut policy = String::new();
    let mut state = String::new();
    for r in results {
        let name = names.get(r.policy)?;
        if !policy.is_empty() {
            policy.push_str(", ");
            state.push_str(", ");
        }
        // Names are [A-Za-z0-9_-]: a structured-field string needs no escapes.
        policy.push_str(&format!("\"{name}\";q={};w={}", r.quota, r.window_s));
        state.push_str(&format!(
            "\"{name}\";r={};t={}",
            r.remaining,
            ceil_s(r.reset_ms)
        ));
    }
    (!policy.is_empty()).then_some((policy, state))
}

/// The headers a response carries for these (advertised) results.
pub fn response_headers(
    results: &[&PolicyResult],
    names: &[String],
    legacy: bool,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some((p, s)) = ietf_headers(results, names) {
        out.push(("ratelimit-policy".to_string(), p));
        out.push(("ratelimit".to_string(), s));
    }
    if legacy {
        // The most restrictive: fewest units left.
        if let Some(r) = results.iter().min_by_key(|r| (r.remaining, r.quota)) {
            out.push(("x-ratelimit-limit".to_string(), r.quota.to_string()));
            out.push(("x-ratelimit-remaining".to_string(), r.remaining.to_string()));
            out.push((
                "x-ratelimit-reset".to_string(),
                ceil_s(r.reset_ms).to_string(),
            ));
        }
    }
    out
}

/// The 429 for `violated` (the most restrictive denial).
pub fn limited_reply(
    violated: &PolicyResult,
    advertised: &[&PolicyResult],
    names: &[String],
    headers_on: bool,
    legacy: bool,
) -> LocalReply {
    let name = names.get(violated.policy).cloned().unwrap_or_default();
    let retry = ceil_s(violated.retry_after_ms).max(1);
    let mut p = Problem::new(Reason::QuotaExceeded)
        .header("retry-after", retry.to_string())
        .extension("policy", Value::String(name.clone()))
        .extension("violated-policies", json!([name]));
    p.type_uri = Some(QUOTA_EXCEEDED_TYPE.to_string());
    if headers_on {
        for (k, v) in response_headers(advertised, names, legacy) {
            p = p.header(&k, v);
        }
    }
    p.into_reply("ratelimit")
}

/// The 503 when a `failure_mode: deny` policy's service failed.
pub fn unavailable_reply(policy: &str) -> LocalReply {
    Problem::new(Reason::RateLimitUnavailable)
        .header("retry-after", "1")
        .extension("policy", Value::String(policy.to_string()))
        .into_reply("ratelimit")
}

/// The filter-state record. Built by hand: it is written for every
/// request, and policy names need no JSON escaping (`[A-Za-z0-9_-]`).
pub fn decision_json(
    decision: &str,
    policy: Option<&str>,
    results: &[PolicyResult],
    shadow_limited: &[&str],
    names: &[String],
) -> String {
    let mut out = String::with_capacity(64 + 80 * results.len());
    out.push_str("{\"decision\":\"");
    out.push_str(decision);
    out.push_str("\",\"policy\":");
    match policy {
        Some(p) => {
            out.push('"');
            out.push_str(p);
            out.push('"');
        }
        None => out.push_str("null"),
    }
    out.push_str(",\"shadow_limited\":[");
    for (i, n) in shadow_limited.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        out.push_str(n);
        out.push('"');
    }
    out.push_str("],\"policies\":[");
    for (i, r) in results.iter().enumerate() {
        let name = names.get(r.policy).map(String::as_str).unwrap_or("");
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":\"");
        out.push_str(name);
        out.push_str(if r.allowed {
            "\",\"allowed\":true,\"remaining\":"
        } else {
            "\",\"allowed\":false,\"remaining\":"
        });
        push_u64(&mut out, r.remaining);
        out.push_str(",\"source\":\"");
        out.push_str(r.source.label());
        out.push_str("\"}");
    }
    out.push_str("]}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(policy: usize, remaining: u64) -> PolicyResult {
        PolicyResult {
            policy,
            allowed: remaining > 0,
            quota: 10,
            window_s: 60,
            remaining,
            reset_ms: 1500,
            retry_after_ms: 1200,
            source: Source::Local,
        }
    }

    #[test]
    fn structured_fields_and_legacy_headers() {
        let names = vec!["a".to_string(), "b".to_string()];
        let (a, b) = (r(0, 4), r(1, 0));
        let (a2, b2) = (a.clone(), b.clone());
        let h = response_headers(&[&a, &b], &names, true);
        assert_eq!(h[0].1, "\"a\";q=10;w=60, \"b\";q=10;w=60");
        assert_eq!(h[1].1, "\"a\";r=4;t=2, \"b\";r=0;t=2");
        assert_eq!(h[3], ("x-ratelimit-remaining".into(), "0".into()));
        let reply = limited_reply(&b, &[&a, &b], &names, true, false);
        assert_eq!(reply.status, 429);
        assert_eq!(reply.headers[0], ("retry-after".into(), "2".into()));
        assert_eq!(reply.details, "edgeward_ratelimit_denied.quota_exceeded");
        let body: Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(body["type"], QUOTA_EXCEEDED_TYPE);
        assert_eq!(body["policy"], "b");
        assert_eq!(body["reason"], "quota_exceeded");
        assert_eq!(unavailable_reply("b").status, 503);
        let d: Value = serde_json::from_str(&decision_json(
            "limited",
            Some("b"),
            &[a2, b2],
            &["a"],
            &names,
        ))
        .unwrap();
        assert_eq!(
            d,
            json!({"decision": "limited", "policy": "b", "shadow_limited": ["a"],
                   "policies": [{"name": "a", "allowed": true, "remaining": 4, "source": "local"},
                                {"name": "b", "allowed": false, "remaining": 0, "source": "local"}]})
        );
        let d: Value =
            serde_json::from_str(&decision_json("allowed", None, &[], &[], &names)).unwrap();
        assert_eq!(d["policy"], Value::Null);
    }
}
