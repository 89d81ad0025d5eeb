//! The tenant authorization filter on the shared filter layer. It decides
//! each request when its headers arrive, or, when the decision depends on
//! a rule bound to the JSON body, pauses until the body is complete.
//!
//! On every request, before anything is decided: client copies of the
//! identity headers are removed (every spelling), method-override headers
//! are refused (or removed), and the path must be canonical.

use super::config::{AuthzConfig, Effect, HeaderSource, IdentityField, MethodOverride, Rule};
use super::config::{METHOD_OVERRIDE_HEADERS, METHOD_OVERRIDE_PARAM};
use super::engine::{decide, identity_tenant, Decision, Request};
use super::metrics as m;
use crate::body::BodyRefusal;
use crate::client_ip::client_ip;
use crate::config::ConfigError;
use crate::filter::{request_head_or_log, Filter, StreamId, Verdict};
use crate::host::{log_lazy, Host, LocalReply, LogLevel};
use crate::http::RequestHead;
use crate::http::{is_safe_header_value, query_values, quote_header_string, same_header_name};
use crate::identity::Identity;
use crate::metrics::labeled;
use crate::path::CanonicalPath;
use crate::problem::Problem;
use crate::reason::Reason;
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::rc::Rc;

/// Filter-state key of the decision record (`wasm.edgeward.authz` in Envoy).
pub const DECISION_PROPERTY: &str = "edgeward.authz";

/// Most requests one VM keeps waiting for their body; past it, refuse.
const MAX_PENDING: usize = 4096;

/// What the filter finally does with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Allow,
    Deny,
    /// Let through, but the policy would have denied it (shadow mode).
    ShadowDeny,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::Deny => "deny",
            Outcome::ShadowDeny => "shadow_deny",
        }
    }
}

/// The final decision: outcome, the rule that decided, the reason of a
/// (would-be) denial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthzDecision {
    pub outcome: Outcome,
    pub rule: Option<usize>,
    pub reason: Option<Reason>,
}

/// A request waiting for its body.
#[derive(Debug)]
struct Pending {
    head: RequestHead,
    path: CanonicalPath,
    identity: Option<Rc<Identity>>,
    client_ip: Option<IpAddr>,
    peer: Option<String>,
}

#[derive(Debug)]
pub struct TenantFilter {
    cfg: AuthzConfig,
    pending: BTreeMap<StreamId, Pending>,
    needs_peer: bool,
}

impl Filter for TenantFilter {
    const NAME: &'static str = "tenant";

    fn configure<H: Host>(_host: &H, config: &[u8]) -> Result<Self, ConfigError> {
        Ok(TenantFilter::new(AuthzConfig::from_json(config)?))
    }

    fn on_request_headers<H: Host>(&mut self, host: &H, stream: StreamId, eos: bool) -> Verdict {
        let Some(head) = request_head_or_log(host, Self::NAME) else {
            return self.refuse(host, Reason::InternalError);
        };
        // A client never chooses its tenant: every copy, in every spelling
        // a server may read as the same name, goes, whatever the outcome.
        if let Err(e) = self.strip_identity_headers(host, &head) {
            host.log(
                LogLevel::Error,
                &format!("tenant: cannot remove a client copy of an identity header: {e}"),
            );
            return self.refuse(host, Reason::InternalError);
        }
        if let Err(reason) = self.method_override(host, &head) {
            return self.refuse(host, reason);
        }
        let path = match self.cfg.path_policy.check(head.raw_path()) {
            Ok(p) => p,
            Err(v) => {
                log_lazy(host, LogLevel::Debug, || format!("tenant: path {v}"));
                return self.refuse(host, Reason::NonCanonicalPath);
            }
        };
        let identity = match read_identity(host, self.cfg.needs_claims) {
            Ok(i) => i,
            Err(e) => {
                host.log(LogLevel::Error, &format!("tenant: {e}"));
                return self.refuse(host, Reason::InternalError);
            }
        };
        let client = if self.cfg.needs_client_ip {
            let peer = if self.cfg.trusted_hops == 0 {
                host.peer_address().ok().flatten()
            } else {
                None
            };
            client_ip(&head, peer.as_deref(), self.cfg.trusted_hops)
        } else {
            None
        };
        let peer = if self.needs_peer {
            match host.peer_uri_san() {
                Ok(p) => p,
                Err(e) => {
                    host.log(
                        LogLevel::Error,
                        &format!("tenant: cannot read the peer certificate: {e}"),
                    );
                    return self.refuse(host, Reason::InternalError);
                }
            }
        } else {
            None
        };
        let pending = Pending {
            head,
            path,
            identity,
            client_ip: client,
            peer,
        };
        match self.resolve(host, &pending, None) {
            Ok(Some(v)) => self.carry_out(host, &pending, v),
            Err(reason) => self.refuse(host, reason),
            Ok(None) => {
                // The decision needs the body: it must be one the filter
                // reads exactly as the upstream will.
                match self.cfg.json_body.check_headers(&pending.head, eos) {
                    Err(refusal) => self.refuse_body(host, &refusal),
                    Ok(false) => match self.resolve(host, &pending, Some(&Value::Null)) {
                        Ok(Some(v)) => self.carry_out(host, &pending, v),
                        Ok(None) | Err(_) => self.refuse(host, Reason::InvalidBody),
                    },
                    Ok(true) => {
                        if self.pending.len() >= MAX_PENDING {
                            return self.refuse(host, Reason::InternalError);
                        }
                        self.pending.insert(stream, pending);
                        Verdict::Pause
                    }
                }
            }
        }
    }

    fn on_request_body<H: Host>(
        &mut self,
        host: &H,
        stream: StreamId,
        body_size: usize,
        eos: bool,
    ) -> Verdict {
        if !self.pending.contains_key(&stream) {
            return Verdict::Continue;
        }
        if let Err(refusal) = self.cfg.json_body.check_size(body_size) {
            self.pending.remove(&stream);
            return self.refuse_body(host, &refusal);
        }
        if !eos {
            return Verdict::Pause;
        }
        self.decide_body(host, stream, body_size)
    }

    fn on_request_trailers<H: Host>(&mut self, host: &H, stream: StreamId) -> Verdict {
        // Trailers end the body; its size is what the host buffered.
        if !self.pending.contains_key(&stream) {
            return Verdict::Continue;
        }
        self.decide_body(host, stream, self.cfg.json_body.max_bytes.saturating_add(1))
    }

    fn on_stream_done(&mut self, stream: StreamId) {
        self.pending.remove(&stream);
    }
}

impl TenantFilter {
    pub fn new(cfg: AuthzConfig) -> TenantFilter {
        TenantFilter {
            needs_peer: cfg.rules.iter().any(|r| r.peer.is_some()),
            cfg,
            pending: BTreeMap::new(),
        }
    }

    pub fn config(&self) -> &AuthzConfig {
        &self.cfg
    }

    /// How many requests wait for their body.
    pub fn waiting(&self) -> usize {
        self.pending.len()
    }

    fn decide_body<H: Host>(&mut self, host: &H, stream: StreamId, size: usize) -> Verdict {
        let Some(pending) = self.pending.remove(&stream) else {
            return Verdict::Continue;
        };
        // One byte past the limit tells an oversized body from a full one.
        let max = self.cfg.json_body.max_bytes.saturating_add(1);
        let bytes = match host.request_body(0, size.min(max)) {
            Ok(b) => b,
            Err(e) => {
                host.log(
                    LogLevel::Error,
                    &format!("tenant: cannot read the body: {e}"),
                );
                return self.refuse(host, Reason::InternalError);
            }
        };
        let body = match self.cfg.json_body.parse(&bytes) {
            Ok(v) => v,
            Err(refusal) => return self.refuse_body(host, &refusal),
        };
        match self.resolve(host, &pending, Some(&body)) {
            Ok(Some(v)) => self.carry_out(host, &pending, v),
            Ok(None) => self.refuse(host, Reason::InternalError),
            Err(reason) => self.refuse(host, reason),
        }
    }

    /// The decision with shadow mode applied; None: read the body first.
    fn resolve<H: Host>(
        &self,
        host: &H,
        p: &Pending,
        body: Option<&Value>,
    ) -> Result<Option<AuthzDecision>, Reason> {
        let tenant = p
            .identity
            .as_ref()
            .and_then(|i| identity_tenant(&self.cfg, i));
        let req = Request {
            head: &p.head,
            path: &p.path,
            identity: p.identity.as_deref(),
            tenant,
            client_ip: p.client_ip,
            peer: p.peer.as_deref(),
            now_ms: host.now_ms(),
            body,
        };
        resolve(&self.cfg, &req)
    }

    fn carry_out<H: Host>(&self, host: &H, p: &Pending, v: AuthzDecision) -> Verdict {
        let rule = v.rule.and_then(|i| self.cfg.rules.get(i));
        let tenant = p
            .identity
            .as_ref()
            .and_then(|i| identity_tenant(&self.cfg, i));
        let record = decision_record(v, rule, tenant);
        log_lazy(host, LogLevel::Debug, || format!("tenant: {record}"));
        match v.outcome {
            Outcome::Deny => {
                let reason = v.reason.unwrap_or(Reason::DeniedByRule);
                self.count_denial(host, m::DENIED, rule, reason);
                let _ = host.set_property(&[DECISION_PROPERTY], record.as_bytes());
                send(host, &self.denial_reply(rule, reason))
            }
            Outcome::Allow | Outcome::ShadowDeny => {
                if v.outcome == Outcome::ShadowDeny {
                    let reason = v.reason.unwrap_or(Reason::DeniedByRule);
                    self.count_denial(host, m::SHADOW_DENIED, rule, reason);
                } else {
                    match rule {
                        Some(r) => host.increment(&r.allowed_metric, 1),
                        None => host.increment(m::ALLOWED, 1),
                    }
                }
                if let Some(identity) = &p.identity {
                    if let Err(e) = self.set_identity_headers(host, identity) {
                        host.log(
                            LogLevel::Error,
                            &format!("tenant: cannot set an identity header: {e}"),
                        );
                        return self.refuse(host, Reason::InternalError);
                    }
                }
                if let Err(e) = host.set_property(&[DECISION_PROPERTY], record.as_bytes()) {
                    host.log(
                        LogLevel::Error,
                        &format!("tenant: cannot publish {DECISION_PROPERTY}: {e}"),
                    );
                    return self.refuse(host, Reason::InternalError);
                }
                Verdict::Continue
            }
        }
    }

    fn count_denial<H: Host>(&self, host: &H, base: &str, rule: Option<&Rule>, reason: Reason) {
        let name = match rule {
            Some(r) => labeled(base, &[("rule", &r.name), ("reason", reason.code())]),
            None => labeled(base, &[("reason", reason.code())]),
        };
        host.increment(&name, 1);
    }

    fn denial_reply(&self, rule: Option<&Rule>, reason: Reason) -> LocalReply {
        let mut p = Problem::new(reason);
        if reason == Reason::MissingScope {
            let scopes: Vec<&str> = rule
                .and_then(|r| r.scopes.as_ref())
                .map(|s| {
                    s.all_of
                        .iter()
                        .chain(&s.any_of)
                        .map(String::as_str)
                        .collect()
                })
                .unwrap_or_default();
            p = p.header(
                "www-authenticate",
                format!(
                    "Bearer realm=\"{}\", error=\"insufficient_scope\", scope={}",
                    self.cfg.realm,
                    quote_header_string(&scopes.join(" "))
                ),
            );
        } else if reason == Reason::NoIdentity {
            p = p.header(
                "www-authenticate",
                format!("Bearer realm=\"{}\"", self.cfg.realm),
            );
        }
        if let Some(r) = rule {
            // A rule's own response; a request refused for its form (400,
            // 413, 415) or an internal error keeps the standard one.
            if reason.status() == 403 || reason == Reason::NoIdentity {
                if let Some(s) = r.deny.status {
                    p = p.status(s);
                }
                p.type_uri = r.deny.type_uri.clone().or(p.type_uri);
                p.title = r.deny.title.clone().or(p.title);
                for (k, v) in &r.deny.headers {
                    p = p.header(k, v.clone());
                }
            }
        }
        p.into_reply(Self::NAME)
    }

    /// A refusal before any rule decided (request form, host failure).
    fn refuse<H: Host>(&self, host: &H, reason: Reason) -> Verdict {
        let v = AuthzDecision {
            outcome: Outcome::Deny,
            rule: None,
            reason: Some(reason),
        };
        self.count_denial(host, m::DENIED, None, reason);
        let _ = host.set_property(
            &[DECISION_PROPERTY],
            decision_record(v, None, None).as_bytes(),
        );
        send(host, &self.denial_reply(None, reason))
    }

    fn refuse_body<H: Host>(&self, host: &H, refusal: &BodyRefusal) -> Verdict {
        log_lazy(host, LogLevel::Debug, || {
            format!("tenant: body refused: {refusal}")
        });
        self.refuse(host, refusal.reason())
    }

    fn strip_identity_headers<H: Host>(
        &self,
        host: &H,
        head: &RequestHead,
    ) -> Result<(), crate::host::HostError> {
        if self.cfg.identity_headers.is_empty() {
            return Ok(());
        }
        let mut removed: Vec<&str> = Vec::new();
        for (name, _) in head.iter() {
            if removed.contains(&name) {
                continue;
            }
            if self
                .cfg
                .identity_headers
                .iter()
                .any(|h| same_header_name(&h.header, name))
            {
                host.set_request_header(name, None)?;
                host.increment(m::IDENTITY_HEADER_REMOVED, 1);
                removed.push(name);
            }
        }
        Ok(())
    }

    /// Refuses (or removes) method overrides: a rule decided on the method
    /// Envoy sees must be the method the upstream acts on.
    fn method_override<H: Host>(&self, host: &H, head: &RequestHead) -> Result<(), Reason> {
        let mut found: Vec<&str> = Vec::new();
        for (name, _) in head.iter() {
            if METHOD_OVERRIDE_HEADERS
                .iter()
                .any(|h| same_header_name(h, name))
                && !found.contains(&name)
            {
                found.push(name);
            }
        }
        if !found.is_empty() {
            if self.cfg.method_override == MethodOverride::Refuse {
                return Err(Reason::MethodOverride);
            }
            for name in found {
                host.set_request_header(name, None)
                    .map_err(|_| Reason::InternalError)?;
                host.increment(m::METHOD_OVERRIDE_REMOVED, 1);
            }
        }
        if let Some(q) = head.query() {
            // `_method`, `_METHOD`, `%5Fmethod`: any spelling decodes alike.
            let hit = q.split('&').any(|pair| {
                let key = pair.split_once('=').map_or(pair, |(k, _)| k);
                crate::http::percent_decode(key).eq_ignore_ascii_case(METHOD_OVERRIDE_PARAM)
            });
            if hit || !query_values(q, METHOD_OVERRIDE_PARAM).is_empty() {
                return Err(Reason::MethodOverride);
            }
        }
        Ok(())
    }

    fn set_identity_headers<H: Host>(
        &self,
        host: &H,
        identity: &Identity,
    ) -> Result<(), crate::host::HostError> {
        for h in &self.cfg.identity_headers {
            let value: Option<String> = match &h.source {
                HeaderSource::Field(IdentityField::Tenant) => {
                    identity_tenant(&self.cfg, identity).map(str::to_string)
                }
                HeaderSource::Field(IdentityField::Sub) => identity.sub.clone(),
                HeaderSource::Field(IdentityField::ClientId) => identity.client_id.clone(),
                HeaderSource::Field(IdentityField::Iss) => identity.iss.clone(),
                HeaderSource::Field(IdentityField::Provider) => Some(identity.provider.clone()),
                HeaderSource::Claim(path) => match identity.claim(path) {
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(v @ (Value::Number(_) | Value::Bool(_))) => Some(v.to_string()),
                    _ => None,
                },
            };
            match value {
                Some(v) if !v.is_empty() && is_safe_header_value(&v) => {
                    host.set_request_header(&h.header, Some(&v))?;
                }
                Some(_) => {
                    host.log(
                        LogLevel::Warn,
                        &format!(
                            "tenant: {} left unset: the value cannot be a header",
                            h.header
                        ),
                    );
                }
                None => {}
            }
        }
        Ok(())
    }
}

/// The decision with shadow mode applied. `Ok(None)`: the body is needed.
///
/// What is enforced is always what the rules that are not in shadow mode
/// decide (nothing, in global shadow mode); shadow rules change only what
/// is recorded: a request the full policy would deny but the enforced one
/// lets through is a `shadow_deny`.
pub fn resolve(cfg: &AuthzConfig, req: &Request) -> Result<Option<AuthzDecision>, Reason> {
    let verdict = |outcome, rule, reason| AuthzDecision {
        outcome,
        rule,
        reason,
    };
    let would_be = decide(cfg, req, true)?;
    let enforced = if cfg.rules.iter().any(|r| r.shadow) {
        decide(cfg, req, false)?
    } else {
        would_be
    };
    Ok(Some(match (would_be, enforced) {
        (Decision::NeedBody, _) | (_, Decision::NeedBody) => return Ok(None),
        (Decision::Deny { rule, reason }, _) if cfg.shadow => {
            verdict(Outcome::ShadowDeny, rule, Some(reason))
        }
        (_, Decision::Allow { .. }) if cfg.shadow => {
            verdict(Outcome::Allow, would_be_rule(would_be), None)
        }
        (Decision::Allow { rule }, Decision::Allow { .. }) => verdict(Outcome::Allow, rule, None),
        (Decision::Deny { rule, reason }, Decision::Allow { .. }) => {
            verdict(Outcome::ShadowDeny, rule, Some(reason))
        }
        (_, Decision::Deny { .. }) if cfg.shadow => {
            verdict(Outcome::Allow, would_be_rule(would_be), None)
        }
        (_, Decision::Deny { rule, reason }) => verdict(Outcome::Deny, rule, Some(reason)),
    }))
}

fn would_be_rule(d: Decision) -> Option<usize> {
    match d {
        Decision::Allow { rule } | Decision::Deny { rule, .. } => rule,
        Decision::NeedBody => None,
    }
}

/// `{"decision", "rule", "reason", "tenant", "effect"}`, written out
/// directly (names and codes are `[A-Za-z0-9_-]`; the tenant is escaped).
fn decision_record(v: AuthzDecision, rule: Option<&Rule>, tenant: Option<&str>) -> String {
    let mut out = String::with_capacity(128);
    out.push_str(r#"{"decision":""#);
    out.push_str(v.outcome.as_str());
    out.push_str(r#"","rule":"#);
    match rule {
        Some(r) => {
            out.push('"');
            out.push_str(&r.name);
            out.push('"');
        }
        None => out.push_str("null"),
    }
    out.push_str(r#","reason":"#);
    match v.reason {
        Some(reason) => {
            out.push('"');
            out.push_str(reason.code());
            out.push('"');
        }
        None => out.push_str("null"),
    }
    out.push_str(r#","tenant":"#);
    match tenant {
        // Nothing to escape (the usual tenant id): as is, as serde_json
        // would write it; otherwise serde_json escapes it.
        Some(t) if !t.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') => {
            out.push('"');
            out.push_str(t);
            out.push('"');
        }
        Some(t) => out.push_str(&serde_json::to_string(t).unwrap_or_else(|_| "null".into())),
        None => out.push_str("null"),
    }
    out.push_str(r#","effect":"#);
    out.push_str(match rule.map(|r| r.effect) {
        Some(Effect::Allow) => r#""allow"}"#,
        Some(Effect::Deny) => r#""deny"}"#,
        None => "null}",
    });
    out
}

/// The identity without its claims: what most policies need, read without
/// building a map of every claim.
#[derive(serde::Deserialize)]
struct IdentityNoClaims {
    provider: String,
    #[serde(default)]
    iss: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    aud: Vec<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    exp: Option<f64>,
}

fn read_identity<H: Host>(
    host: &H,
    with_claims: bool,
) -> Result<Option<Rc<Identity>>, crate::identity::IdentityError> {
    // Run after the JWT filter in one module: the identity it just
    // published, as it published it.
    if let Some(identity) = host.handed_identity() {
        return Ok(Some(identity));
    }
    if with_claims {
        return Identity::read(host).map(|i| i.map(Rc::new));
    }
    use crate::identity::{IdentityError, IDENTITY_PROPERTY};
    let bytes = match host.property(&[IDENTITY_PROPERTY]) {
        Ok(Some(b)) if !b.is_empty() => b,
        Ok(_) | Err(crate::host::HostError::NotFound) => return Ok(None),
        Err(e) => return Err(IdentityError::Host(e)),
    };
    let lite: IdentityNoClaims =
        serde_json::from_slice(&bytes).map_err(|e| IdentityError::Unreadable(e.to_string()))?;
    Ok(Some(Rc::new(Identity {
        provider: lite.provider,
        iss: lite.iss,
        sub: lite.sub,
        aud: lite.aud,
        scopes: lite.scopes,
        client_id: lite.client_id,
        tenant: lite.tenant,
        exp: lite.exp,
        claims: serde_json::Map::new(),
    })))
}

fn send<H: Host>(host: &H, reply: &LocalReply) -> Verdict {
    if let Err(e) = host.send_local_reply(reply) {
        host.log(
            LogLevel::Error,
            &format!("tenant: cannot send the reply: {e}"),
        );
    }
    Verdict::Answered
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decision_record_is_json_whatever_the_tenant() {
        let v = AuthzDecision {
            outcome: Outcome::Allow,
            rule: None,
            reason: None,
        };
        for tenant in ["acme", "caf\u{e9}", "a\"b", "a\\b", "a\nb\u{1}", ""] {
            let record = decision_record(v, None, Some(tenant));
            let parsed: Value = serde_json::from_str(&record).unwrap();
            assert_eq!(parsed["tenant"], Value::String(tenant.into()), "{record}");
            assert_eq!(parsed["decision"], "allow");
        }
        let record = decision_record(v, None, None);
        assert_eq!(
            record,
            r#"{"decision":"allow","rule":null,"reason":null,"tenant":null,"effect":null}"#
        );
    }
}
