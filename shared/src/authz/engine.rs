//! The decision: which rules apply to a request and what they say. Pure:
//! everything the host provides is gathered into [`Request`] first.
//!
//! Rules are matched in order on the canonical path. A deny rule whose
//! conditions hold wins over every allow rule; otherwise the first allow
//! rule whose match fits decides: it allows when its conditions all hold,
//! and its first failing condition is the reason otherwise; a request no
//! rule applies to gets `unmatched`. A condition that cannot be evaluated (a missing or
//! mistyped claim, an unknown client address, no peer certificate) fails
//! in an allow rule and holds in a deny rule: both fail closed.

use super::config::{
    parse_spiffe_id, AuthzConfig, ClaimCondition, ClaimOp, Effect, PeerMatch, Rule, TenantBinding,
    TimeWindow,
};
use crate::http::{same_header_name, RequestHead};
use crate::identity::{claim_at, Identity};
use crate::path::{CanonicalPath, PathPolicy};
use crate::reason::Reason;
use crate::route::{Captures, RequestTarget};
use serde_json::Value;
use std::net::IpAddr;

/// What a decision is made on.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub head: &'a RequestHead,
    pub path: &'a CanonicalPath,
    pub identity: Option<&'a Identity>,
    /// The identity's tenant (from `tenant_claim` or the identity).
    pub tenant: Option<&'a str>,
    pub client_ip: Option<IpAddr>,
    /// The mTLS peer's URI SAN.
    pub peer: Option<&'a str>,
    pub now_ms: u64,
    /// The parsed JSON body, once read; None before.
    pub body: Option<&'a Value>,
}

/// What the rules say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// `rule`: the allow rule, or None (unmatched, allowed).
    Allow {
        rule: Option<usize>,
    },
    Deny {
        rule: Option<usize>,
        reason: Reason,
    },
    /// The decision depends on a rule bound to the body: read it first.
    NeedBody,
}

enum Check {
    Holds,
    Fails(Reason),
    Unknown(Reason),
    NeedBody,
}

/// Decides `req`. `include_shadow: false` leaves shadow rules out (what is
/// enforced when the decision came from one). Err: the request is refused
/// whatever the rules say (a header the decision reads is ambiguous).
pub fn decide(cfg: &AuthzConfig, req: &Request, include_shadow: bool) -> Result<Decision, Reason> {
    let target = RequestTarget {
        method: req.head.method(),
        authority: req.head.first(":authority").unwrap_or(""),
        path: req.path,
    };
    // The first allow rule whose match fits decides, unless a deny rule
    // (anywhere in the list) holds: a later, broader rule never grants
    // what an earlier, more specific one refused.
    let mut decided: Option<(usize, Check)> = None;
    for (i, rule) in cfg.rules.iter().enumerate() {
        if rule.shadow && !include_shadow {
            continue;
        }
        if rule.effect == Effect::Allow && decided.is_some() {
            continue;
        }
        let Some(captures) = rule.route.matches(&target) else {
            continue;
        };
        let check = evaluate(cfg, rule, req, &captures)?;
        match rule.effect {
            Effect::Deny => match check {
                Check::Holds => {
                    return Ok(Decision::Deny {
                        rule: Some(i),
                        reason: Reason::DeniedByRule,
                    })
                }
                // Fail closed; without an identity the answer is 401.
                Check::Unknown(reason) => {
                    let reason = if reason == Reason::NoIdentity {
                        reason
                    } else {
                        Reason::DeniedByRule
                    };
                    return Ok(Decision::Deny {
                        rule: Some(i),
                        reason,
                    });
                }
                Check::Fails(_) | Check::NeedBody => {}
            },
            Effect::Allow => decided = Some((i, check)),
        }
    }
    Ok(match decided {
        Some((i, Check::Holds)) => Decision::Allow { rule: Some(i) },
        Some((i, Check::Fails(reason) | Check::Unknown(reason))) => Decision::Deny {
            rule: Some(i),
            reason,
        },
        Some((_, Check::NeedBody)) => Decision::NeedBody,
        None => match cfg.unmatched {
            Effect::Allow => Decision::Allow { rule: None },
            Effect::Deny => Decision::Deny {
                rule: None,
                reason: Reason::NoMatchingRule,
            },
        },
    })
}

/// One rule's conditions, in the order their reasons are reported:
/// identity, scopes, roles, other conditions, tenant.
fn evaluate(
    cfg: &AuthzConfig,
    rule: &Rule,
    req: &Request,
    captures: &Captures,
) -> Result<Check, Reason> {
    let Some(identity) = req.identity else {
        if rule.requires_identity {
            return Ok(Check::Unknown(Reason::NoIdentity));
        }
        return context_checks(rule, req);
    };
    if let Some(s) = &rule.scopes {
        let has = |x: &String| identity.scopes.iter().any(|y| y == x);
        let ok = s.all_of.iter().all(has) && (s.any_of.is_empty() || s.any_of.iter().any(has));
        if !ok {
            return Ok(Check::Fails(Reason::MissingScope));
        }
    }
    if let Some(r) = &rule.roles {
        let held: Vec<&str> = match identity.claim(&r.claim) {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => return Ok(Check::Unknown(Reason::RoleDenied)),
        };
        let has = |x: &String| held.contains(&x.as_str());
        let ok = r.all_of.iter().all(has) && (r.any_of.is_empty() || r.any_of.iter().any(has));
        if !ok {
            return Ok(Check::Fails(Reason::RoleDenied));
        }
    }
    for c in &rule.claims {
        match claim_holds(c, identity) {
            Some(true) => {}
            Some(false) => return Ok(Check::Fails(Reason::ConditionFailed)),
            None => return Ok(Check::Unknown(Reason::ConditionFailed)),
        }
    }
    match context_checks(rule, req)? {
        Check::Holds => {}
        other => return Ok(other),
    }
    Ok(match &rule.tenant {
        None => Check::Holds,
        Some(binding) => match tenant_named(cfg, binding, req, captures)? {
            Named::Body => Check::NeedBody,
            Named::Value(v) if req.tenant.is_some() && v == req.tenant => Check::Holds,
            Named::Value(_) => Check::Fails(Reason::TenantMismatch),
        },
    })
}

/// Client address, headers, time windows and the mTLS peer.
fn context_checks(rule: &Rule, req: &Request) -> Result<Check, Reason> {
    if let Some(cidrs) = &rule.client_ips {
        match req.client_ip {
            Some(ip) if cidrs.iter().any(|c| c.contains(ip)) => {}
            Some(_) => return Ok(Check::Fails(Reason::ConditionFailed)),
            None => return Ok(Check::Unknown(Reason::ConditionFailed)),
        }
    }
    for h in &rule.headers {
        match single_header(req.head, &h.name)? {
            Some(v) if v == h.equals => {}
            _ => return Ok(Check::Fails(Reason::ConditionFailed)),
        }
    }
    if let Some(windows) = &rule.time {
        if !windows.iter().any(|w| in_window(w, req.now_ms)) {
            return Ok(Check::Fails(Reason::ConditionFailed));
        }
    }
    if let Some(p) = &rule.peer {
        let Some((td, path)) = req.peer.and_then(parse_spiffe_id) else {
            return Ok(Check::Unknown(Reason::ConditionFailed));
        };
        match p {
            PeerMatch::Ids(ids) => {
                if !req.peer.is_some_and(|id| ids.iter().any(|x| x == id)) {
                    return Ok(Check::Fails(Reason::ConditionFailed));
                }
            }
            PeerMatch::Domain {
                trust_domain,
                path: template,
                binds_tenant,
            } => {
                if td != trust_domain {
                    return Ok(Check::Fails(Reason::ConditionFailed));
                }
                if let Some(m) = template {
                    let Ok(canon) =
                        PathPolicy::STRICT.check(if path.is_empty() { "/" } else { path })
                    else {
                        return Ok(Check::Fails(Reason::ConditionFailed));
                    };
                    let target = RequestTarget {
                        method: "",
                        authority: "",
                        path: &canon,
                    };
                    let Some(caps) = m.matches(&target) else {
                        return Ok(Check::Fails(Reason::ConditionFailed));
                    };
                    if *binds_tenant && (req.tenant.is_none() || caps.get("tenant") != req.tenant) {
                        return Ok(Check::Fails(Reason::TenantMismatch));
                    }
                }
            }
        }
    }
    Ok(Check::Holds)
}

enum Named<'a> {
    /// The tenant the request names (None: it names none).
    Value(Option<&'a str>),
    /// Bound to the body, not read yet.
    Body,
}

fn tenant_named<'a>(
    cfg: &AuthzConfig,
    binding: &TenantBinding,
    req: &Request<'a>,
    captures: &'a Captures,
) -> Result<Named<'a>, Reason> {
    Ok(match binding {
        TenantBinding::Path { capture, index } => {
            let decoded = captures.get(capture);
            // The segment as sent: a percent-encoded spelling of the
            // tenant is a different tenant, never a match.
            let raw = raw_segment_iter(req.head.path_only(), &cfg.path_policy).nth(*index);
            Named::Value(match (decoded, raw) {
                (Some(d), Some(r)) if d == r => Some(d),
                _ => None,
            })
        }
        TenantBinding::Header(name) => Named::Value(single_header(req.head, name)?),
        TenantBinding::Body(pointer) => match req.body {
            None => Named::Body,
            Some(body) => Named::Value(crate::json::pointer(body, pointer).and_then(Value::as_str)),
        },
    })
}

/// The segments of the raw path as the path policy reads them (parameters
/// stripped and `//` merged when those are allowed), not decoded.
pub fn raw_segments<'a>(path: &'a str, policy: &PathPolicy) -> Vec<&'a str> {
    raw_segment_iter(path, policy).collect()
}

/// [`raw_segments`] one at a time (the tenant binding needs one segment:
/// no list built per request).
pub fn raw_segment_iter<'a>(
    path: &'a str,
    policy: &PathPolicy,
) -> impl Iterator<Item = &'a str> + 'a {
    let merge_empty = policy.allow_double_slash;
    let rest = path.strip_prefix('/').unwrap_or(path);
    let mut parts = rest.split('/').peekable();
    std::iter::from_fn(move || loop {
        let part = parts.next()?;
        let (name, has_params) = match part.find(';') {
            Some(at) => (part.get(..at).unwrap_or(part), true),
            None => (part, false),
        };
        // An empty segment the policy merged away (`//`): not a segment.
        let trailing = parts.peek().is_none() && !has_params;
        if name.is_empty() && !trailing && merge_empty {
            continue;
        }
        return Some(name);
    })
}

/// The one value of header `name`. Err when a server could read it
/// differently from the filter: sent twice, as a comma list, or also in
/// another spelling a CGI-style server reads as the same name
/// (`x_tenant_id` beside `x-tenant-id`).
pub fn single_header<'a>(head: &'a RequestHead, name: &str) -> Result<Option<&'a str>, Reason> {
    let mut found: Option<&str> = None;
    for (k, v) in head.iter() {
        if k == name {
            if found.is_some() || v.contains(',') {
                return Err(Reason::AmbiguousHeader);
            }
            found = Some(v);
        } else if same_header_name(k, name) {
            return Err(Reason::AmbiguousHeader);
        }
    }
    Ok(found)
}

/// Some(holds) or None when the claim cannot be compared (of another type
/// than the operand).
fn claim_holds(c: &ClaimCondition, identity: &Identity) -> Option<bool> {
    let value = identity.claim(&c.claim);
    if let ClaimOp::Exists(want) = c.op {
        return Some(value.is_some_and(|v| !v.is_null()) == want);
    }
    // A missing claim satisfies no condition (require it with `exists`);
    // one of the wrong type is anomalous and cannot be compared.
    let Some(value) = value else {
        return Some(false);
    };
    match &c.op {
        ClaimOp::Equals(want) => same_scalar(value, want),
        ClaimOp::In(list) => {
            let mut comparable = false;
            for want in list {
                match same_scalar(value, want) {
                    Some(true) => return Some(true),
                    Some(false) => comparable = true,
                    None => {}
                }
            }
            comparable.then_some(false)
        }
        ClaimOp::Prefix(p) => value.as_str().map(|s| s.starts_with(p.as_str())),
        ClaimOp::Gt(n) => number(value).map(|v| v > *n),
        ClaimOp::Gte(n) => number(value).map(|v| v >= *n),
        ClaimOp::Lt(n) => number(value).map(|v| v < *n),
        ClaimOp::Lte(n) => number(value).map(|v| v <= *n),
        ClaimOp::Exists(_) => None,
    }
}

/// A JSON number (never a numeric string: `"71"` is not 71).
fn number(v: &Value) -> Option<f64> {
    v.as_f64().filter(|n| n.is_finite())
}

fn same_scalar(value: &Value, want: &Value) -> Option<bool> {
    match (value, want) {
        (Value::String(a), Value::String(b)) => Some(a == b),
        (Value::Bool(a), Value::Bool(b)) => Some(a == b),
        (Value::Number(_), Value::Number(_)) => Some(number(value)? == number(want)?),
        _ => None,
    }
}

fn in_window(w: &TimeWindow, now_ms: u64) -> bool {
    let secs = now_ms / 1000;
    let days = secs / 86_400;
    // 1970-01-01 was a Thursday (3 with Monday = 0).
    let weekday = ((days + 3) % 7) as u8;
    let hour = ((secs % 86_400) / 3600) as u8;
    if !w.weekdays.is_empty() && !w.weekdays.contains(&weekday) {
        return false;
    }
    match w.hours {
        None => true,
        Some((from, to)) if from < to => hour >= from && hour < to,
        Some((from, to)) => hour >= from || hour < to,
    }
}

/// The tenant of an identity: from `tenant_claim` (a string claim) or the
/// identity's own `tenant`.
pub fn identity_tenant<'a>(cfg: &AuthzConfig, identity: &'a Identity) -> Option<&'a str> {
    match &cfg.tenant_claim {
        Some(path) => claim_at(&identity.claims, path).and_then(Value::as_str),
        None => identity.tenant.as_deref(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::config::parse_spiffe_id;

    #[test]
    fn raw_segments_follow_the_path_policy() {
        let strict = PathPolicy::STRICT;
        assert_eq!(raw_segments("/t/%61cme/x", &strict), ["t", "%61cme", "x"]);
        assert_eq!(raw_segments("/a/", &strict), ["a", ""]);
        let relaxed = PathPolicy {
            allow_encoded_unreserved: true,
            allow_double_slash: true,
            allow_semicolon: true,
        };
        assert_eq!(
            raw_segments("//t//acme;v=1/x", &relaxed),
            ["t", "acme", "x"]
        );
    }

    #[test]
    fn windows_are_utc_and_wrap_past_midnight() {
        // 2027-01-15, a Friday, 10:00 UTC.
        let friday_10h = 1_800_007_200_000;
        let w = |days: &[u8], hours: Option<(u8, u8)>| TimeWindow {
            weekdays: days.to_vec(),
            hours,
        };
        assert!(in_window(&w(&[4], None), friday_10h));
        assert!(!in_window(&w(&[5, 6], None), friday_10h));
        assert!(in_window(&w(&[], Some((10, 11))), friday_10h));
        assert!(!in_window(&w(&[], Some((9, 10))), friday_10h));
        assert!(in_window(&w(&[], Some((22, 11))), friday_10h));
        assert!(!in_window(&w(&[], Some((22, 6))), friday_10h));
    }

    #[test]
    fn spiffe_ids_are_strict() {
        assert_eq!(
            parse_spiffe_id("spiffe://corp/ns/billing/sa/api"),
            Some(("corp", "/ns/billing/sa/api"))
        );
        assert_eq!(parse_spiffe_id("spiffe://corp"), Some(("corp", "")));
        for bad in [
            "SPIFFE://corp/x",
            "spiffe://Corp/x",
            "spiffe://corp:443/x",
            "spiffe://user@corp/x",
            "spiffe://corp/x/",
            "spiffe://corp/a/../b",
            "spiffe://corp/a//b",
            "spiffe://corp/a%2Fb",
            "spiffe://corp/a?b",
            "spiffe:///x",
        ] {
            assert_eq!(parse_spiffe_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_decision_header_must_be_single_and_in_one_spelling() {
        let h = |pairs: &[(&str, &str)]| RequestHead::from_pairs(pairs);
        assert_eq!(
            single_header(&h(&[("x-org", "acme")]), "x-org"),
            Ok(Some("acme"))
        );
        assert_eq!(single_header(&h(&[]), "x-org"), Ok(None));
        for pairs in [
            vec![("x-org", "a"), ("x-org", "a")],
            vec![("x-org", "a,b")],
            vec![("x_org", "a")],
        ] {
            assert_eq!(
                single_header(&h(&pairs), "x-org"),
                Err(Reason::AmbiguousHeader)
            );
        }
    }
}
