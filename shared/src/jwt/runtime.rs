//! The JWT filter on the shared filter layer: one instance per plugin (root
//! context), driven by [`crate::filter::Driver`]. It decides each request
//! when its headers arrive, or holds it while keys are fetched and decides
//! it from the timer or the fetch's reply.

use super::cache::TokenCache;
use super::claims::claim_at;
use super::config::{JwtConfig, KeySource, OnInvalidClaim};
use super::engine::{prepare, Evaluation, KeyNeed, Outcome, Prepared, ProviderKeys, Verified};
use super::jwks::{FetchReason, RemoteKeys};
use super::metrics as m;
use super::reason::Reason;
use super::response::{decision_json, denial_reply};
use crate::config::ConfigError;
use crate::filter::{request_head_or_log, Filter, Origin, StreamId, Streams, Verdict};
use crate::host::{log_lazy, CalloutResponse, Host, HostError, LocalReply, LogLevel};
use crate::http::{is_safe_header_value, same_header_name, RequestHead};
use crate::metrics::labeled;
use crate::route::RequestTarget;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;
use std::collections::BTreeMap;
use std::rc::Rc;

/// Filter-state key of the decision record.
pub const DECISION_PROPERTY: &str = "edgeward.jwt.decision";

/// The decision record of an unmatched request under `unmatched: allow`.
const UNMATCHED_ALLOWED: &str =
    r#"{"decision":"allow","rule":null,"rule_name":null,"reason":null,"provider":null}"#;

/// Most requests one VM holds while keys are fetched; past it, fail closed
/// at once rather than grow without bound.
const MAX_WAITERS: usize = 4096;
/// The timer keeps remote keys fresh and settles waiting requests.
const TICK_MS: u64 = 100;
/// While a request waits for a fetch the root context has yet to send, the
/// timer fires as soon as the event loop allows.
const FAST_TICK_MS: u64 = 1;

#[derive(Debug)]
struct Waiter {
    prepared: Prepared,
    deadline_ms: u64,
}

#[derive(Debug)]
pub struct JwtFilter {
    cfg: Rc<JwtConfig>,
    /// Per provider: its remote key store, or None for inline keys.
    remote: Vec<Option<RemoteKeys>>,
    cache: TokenCache,
    waiters: BTreeMap<StreamId, Waiter>,
    fast_tick: bool,
}

impl Filter for JwtFilter {
    const NAME: &'static str = "jwt";

    fn configure<H: Host>(host: &H, config: &[u8]) -> Result<Self, ConfigError> {
        let cfg = JwtConfig::from_json(config)?;
        for w in &cfg.warnings {
            host.log(LogLevel::Warn, &format!("edgeward-jwt: {w}"));
        }
        Ok(JwtFilter::new(cfg))
    }

    fn tick_period_ms(&self) -> u64 {
        if self.remote.iter().any(Option::is_some) {
            TICK_MS
        } else {
            0
        }
    }

    fn on_tick<H: Host>(&mut self, host: &H, streams: &mut Streams) {
        for r in self.remote.iter_mut().flatten() {
            r.on_tick(host);
        }
        self.settle_waiters(host, streams);
        self.adjust_tick(host);
    }

    fn on_request_headers<H: Host>(&mut self, host: &H, stream: StreamId, _eos: bool) -> Verdict {
        let Some(head) = request_head_or_log(host, Self::NAME) else {
            return self.refuse(host, None, Reason::InternalError, None);
        };
        // Headers edgeward sets are never taken from the client, whatever
        // the outcome, in any spelling a server may read as the same name.
        if let Err(e) = self.strip_spoofed_headers(host, &head) {
            host.log(
                LogLevel::Error,
                &format!("jwt: cannot remove a client copy of an identity header: {e}"),
            );
            return self.refuse(host, None, Reason::InternalError, None);
        }
        let path = match self.cfg.path_policy.check(head.raw_path()) {
            Ok(p) => p,
            Err(v) => {
                log_lazy(host, LogLevel::Debug, || format!("jwt: path {v}"));
                return self.refuse(host, None, Reason::NonCanonicalPath, None);
            }
        };
        if self.cfg.bypass_cors_preflight && is_cors_preflight(&head) {
            host.increment(m::CORS_PREFLIGHT_BYPASSED, 1);
            let _ = host.set_property(
                &[DECISION_PROPERTY],
                br#"{"decision":"allow","reason":"cors_preflight"}"#,
            );
            return Verdict::Continue;
        }
        for r in self.remote.iter_mut().flatten() {
            if r.current().is_none() {
                r.sync(host);
            }
        }
        let target = RequestTarget {
            method: head.method(),
            authority: head.first(":authority").unwrap_or(""),
            path: &path,
        };
        let prepared = prepare(&self.cfg, &head, &target);
        let mut outcome = self.evaluate(host, &prepared, false);
        if matches!(outcome, Outcome::Wait { .. }) && self.sync_remote(host) {
            // Another worker may have fetched the keys this one lacks
            // (rotation): its copy is picked up before waiting.
            outcome = self.evaluate(host, &prepared, false);
        }
        match outcome {
            Outcome::Wait { needs, .. } => self.start_waiting(host, stream, prepared, &needs),
            outcome => match self.carry_out(host, &prepared, outcome) {
                Ok(()) => Verdict::Continue,
                Err(reply) => send(host, &reply),
            },
        }
    }

    fn on_http_call_response<H: Host>(
        &mut self,
        host: &H,
        streams: &mut Streams,
        _origin: Origin,
        token: u32,
        response: &dyn CalloutResponse,
    ) {
        let mut changed = false;
        for r in self.remote.iter_mut().flatten() {
            if r.owns_call(token) {
                changed |= r.on_response(host, response);
            }
        }
        // Providers sharing this key source pick the new copy up at once.
        if changed {
            for r in self.remote.iter_mut().flatten() {
                r.sync(host);
            }
        }
        self.settle_waiters(host, streams);
        self.adjust_tick(host);
    }

    fn on_stream_done(&mut self, stream: StreamId) {
        self.waiters.remove(&stream);
    }
}

impl JwtFilter {
    pub fn new(cfg: JwtConfig) -> Self {
        for p in &cfg.providers {
            if let KeySource::Inline(keys) = &p.keys {
                keys.prepare();
            }
        }
        let remote = cfg
            .providers
            .iter()
            .map(|p| match &p.keys {
                KeySource::Remote(r) => Some(RemoteKeys::new(r.clone())),
                KeySource::Inline(_) => None,
            })
            .collect();
        JwtFilter {
            cache: TokenCache::new(cfg.token_cache_size),
            cfg: Rc::new(cfg),
            remote,
            waiters: BTreeMap::new(),
            fast_tick: false,
        }
    }

    pub fn config(&self) -> &JwtConfig {
        &self.cfg
    }

    /// How many requests wait for keys.
    pub fn waiting(&self) -> usize {
        self.waiters.len()
    }

    /// Brings every remote key copy up to the shared version; true if any changed.
    fn sync_remote<H: Host>(&mut self, host: &H) -> bool {
        let mut changed = false;
        for r in self.remote.iter_mut().flatten() {
            changed |= r.sync(host);
        }
        changed
    }

    fn strip_spoofed_headers<H: Host>(
        &self,
        host: &H,
        head: &RequestHead,
    ) -> Result<(), HostError> {
        let mut removed: Vec<&str> = Vec::new();
        for (name, _) in head.iter() {
            if removed.contains(&name) {
                continue;
            }
            if self
                .cfg
                .output_headers
                .iter()
                .any(|h| same_header_name(h, name))
            {
                host.set_request_header(name, None)?;
                host.increment(m::SPOOFED_HEADER_REMOVED, 1);
                removed.push(name);
            }
        }
        Ok(())
    }

    fn evaluate<H: Host>(&mut self, host: &H, prepared: &Prepared, final_attempt: bool) -> Outcome {
        let cfg = self.cfg.clone();
        let remote = &self.remote;
        let keys = |i: usize| -> Option<ProviderKeys> {
            match (&cfg.providers.get(i)?.keys, remote.get(i)?) {
                (KeySource::Inline(set), _) => Some(ProviderKeys {
                    keys: set.clone(),
                    version: 0,
                    refetchable: false,
                }),
                (KeySource::Remote(_), Some(r)) => r.current().map(|l| ProviderKeys {
                    keys: l.keys.clone(),
                    version: l.version,
                    refetchable: true,
                }),
                (KeySource::Remote(_), None) => None,
            }
        };
        let before = self.cache.stats();
        let mut eval = Evaluation {
            cfg: &cfg,
            keys: &keys,
            cache: &mut self.cache,
            now_s: host.now_ms() as f64 / 1000.0,
            final_attempt,
        };
        let outcome = eval.decide(prepared);
        let after = self.cache.stats();
        if after.0 > before.0 {
            host.increment(m::TOKEN_CACHE_HIT, after.0 - before.0);
        }
        if after.1 > before.1 {
            host.increment(m::TOKEN_CACHE_MISS, after.1 - before.1);
        }
        outcome
    }

    /// Asks for the fetches the request needs. If none can happen, the
    /// request is decided now as a final attempt (fail closed).
    fn start_waiting<H: Host>(
        &mut self,
        host: &H,
        stream: StreamId,
        prepared: Prepared,
        needs: &[(usize, KeyNeed)],
    ) -> Verdict {
        let mut wait_ms = 0;
        if self.waiters.len() < MAX_WAITERS && self.want_fetches(host, needs) {
            wait_ms = needs
                .iter()
                .filter_map(|(p, _)| self.remote.get(*p)?.as_ref())
                .map(|r| r.cfg.max_wait_ms)
                .max()
                .unwrap_or(0);
        }
        if wait_ms == 0 {
            let outcome = self.evaluate(host, &prepared, true);
            return match self.carry_out(host, &prepared, outcome) {
                Ok(()) => Verdict::Continue,
                Err(reply) => send(host, &reply),
            };
        }
        host.increment(m::WAITED_FOR_KEYS, 1);
        self.waiters.insert(
            stream,
            Waiter {
                prepared,
                deadline_ms: host.now_ms().saturating_add(wait_ms),
            },
        );
        self.adjust_tick(host);
        Verdict::Hold
    }

    /// True when at least one needed fetch is running or will be sent.
    fn want_fetches<H: Host>(&mut self, host: &H, needs: &[(usize, KeyNeed)]) -> bool {
        let mut any = false;
        for (p, need) in needs {
            let Some(Some(r)) = self.remote.get_mut(*p) else {
                continue;
            };
            let reason = match need {
                KeyNeed::Initial => FetchReason::Initial,
                KeyNeed::UnknownKid => FetchReason::UnknownKid,
            };
            any |= r.want_fetch(host, reason).worth_waiting();
        }
        any
    }

    /// A fetch a request asked for goes out on the very next tick.
    fn adjust_tick<H: Host>(&mut self, host: &H) {
        let fast = self.remote.iter().flatten().any(RemoteKeys::wants_fetch);
        if fast != self.fast_tick {
            let period = if fast { FAST_TICK_MS } else { TICK_MS };
            if host.set_tick_period_ms(period).is_ok() {
                self.fast_tick = fast;
            }
        }
    }

    /// Re-examines every waiting request: decided ones are resumed or
    /// denied; ones past their deadline, or whose fetch can no longer
    /// happen, fail closed. Decisions are all made first, in the caller's
    /// context; only then is each carried out in its request's context.
    fn settle_waiters<H: Host>(&mut self, host: &H, streams: &mut Streams) {
        if self.waiters.is_empty() {
            return;
        }
        let now = host.now_ms();
        let ids: Vec<StreamId> = self.waiters.keys().copied().collect();
        let mut decided = Vec::new();
        for id in ids {
            let Some(w) = self.waiters.get(&id) else {
                continue;
            };
            let prepared = w.prepared.clone();
            let expired = now >= w.deadline_ms;
            let outcome = match self.evaluate(host, &prepared, expired) {
                Outcome::Wait { needs, .. } => {
                    if self.want_fetches(host, &needs) {
                        continue;
                    }
                    self.evaluate(host, &prepared, true)
                }
                outcome => outcome,
            };
            self.waiters.remove(&id);
            decided.push((id, prepared, outcome));
        }
        for (id, prepared, outcome) in decided {
            if let Err(e) = streams.enter(host, id) {
                host.log(LogLevel::Warn, &format!("jwt: request {id} is gone: {e}"));
                continue;
            }
            let result = match self.carry_out(host, &prepared, outcome) {
                Ok(()) => streams.resume_request(host, id),
                Err(reply) => streams.answer(host, id, &reply),
            };
            if let Err(e) = result {
                host.log(
                    LogLevel::Warn,
                    &format!("jwt: cannot complete request {id}: {e}"),
                );
            }
        }
    }

    /// Records a denial (metrics, decision record) on the current stream and
    /// returns the reply to send.
    fn denial<H: Host>(
        &self,
        host: &H,
        rule: Option<usize>,
        reason: Reason,
        provider: Option<usize>,
    ) -> LocalReply {
        let label = rule
            .and_then(|r| self.cfg.rules.get(r))
            .map(|r| r.label.as_str());
        let name = match label {
            Some(l) => labeled(m::DENIED, &[("rule", l), ("reason", reason.code())]),
            None => labeled(m::DENIED, &[("reason", reason.code())]),
        };
        host.increment(&name, 1);
        let record = decision_json(&self.cfg, false, rule, Some(reason), provider);
        log_lazy(host, LogLevel::Debug, || format!("jwt: {record}"));
        let _ = host.set_property(&[DECISION_PROPERTY], record.as_bytes());
        denial_reply(&self.cfg, reason)
    }

    /// A denial in the headers callback.
    fn refuse<H: Host>(
        &self,
        host: &H,
        rule: Option<usize>,
        reason: Reason,
        provider: Option<usize>,
    ) -> Verdict {
        let reply = self.denial(host, rule, reason, provider);
        send(host, &reply)
    }

    /// Carries out a final outcome on the current stream: `Ok` when the
    /// request may continue, else the reply to answer it with.
    fn carry_out<H: Host>(
        &self,
        host: &H,
        prepared: &Prepared,
        outcome: Outcome,
    ) -> Result<(), LocalReply> {
        match outcome {
            Outcome::Deny {
                rule,
                reason,
                provider,
            } => Err(self.denial(host, rule, reason, provider)),
            Outcome::Wait { rule, needs } => {
                // Callers never pass Wait; treat it as what it would become.
                let reason = if needs.iter().any(|(_, n)| *n == KeyNeed::UnknownKid) {
                    Reason::UnknownKid
                } else {
                    Reason::JwksUnavailable
                };
                Err(self.denial(host, Some(rule), reason, needs.first().map(|n| n.0)))
            }
            Outcome::Allow { rule, verified } => match self.publish(host, prepared, &verified) {
                Ok(()) => {
                    let provider = verified.first().map(|v| v.provider);
                    let rule = rule.and_then(|r| self.cfg.rules.get(r));
                    match rule {
                        Some(r) => host.increment(&r.allowed_metric, 1),
                        None => host.increment(m::ALLOWED, 1),
                    }
                    let record = match rule {
                        Some(r) => r.allow_record(provider),
                        None => UNMATCHED_ALLOWED,
                    };
                    log_lazy(host, LogLevel::Debug, || format!("jwt: {record}"));
                    let _ = host.set_property(&[DECISION_PROPERTY], record.as_bytes());
                    Ok(())
                }
                Err(PublishError::Claim(provider)) => {
                    Err(self.denial(host, rule, Reason::UnsafeClaimValue, Some(provider)))
                }
                Err(PublishError::Host(e)) => {
                    // Could not hand the identity on: the upstream would see
                    // an unauthenticated request. Fail closed.
                    host.log(
                        LogLevel::Error,
                        &format!("jwt: cannot publish the identity: {e}"),
                    );
                    Err(self.denial(host, rule, Reason::InternalError, None))
                }
            },
        }
    }

    /// Tokens removed, claims into headers, identity (of the first verified
    /// provider) into filter state.
    fn publish<H: Host>(
        &self,
        host: &H,
        prepared: &Prepared,
        verified: &[Verified],
    ) -> Result<(), PublishError> {
        // Every header of the rule's providers that held a token goes,
        // verified or not (a forged Authorization must not reach the
        // upstream beside a valid device token), except where a verified
        // provider forwards its own.
        let forwarded = |name: &str| {
            verified.iter().any(|v| {
                self.cfg
                    .providers
                    .get(v.provider)
                    .is_some_and(|p| p.forward)
                    && v.sources
                        .iter()
                        .any(|&s| self.cfg.header_source(v.provider, s) == Some(name))
            })
        };
        for &(p, s) in &prepared.present_headers {
            if let Some(name) = self.cfg.header_source(p, s) {
                if !forwarded(name) {
                    host.set_request_header(name, None)?;
                }
            }
        }
        for v in verified {
            let Some(p) = self.cfg.providers.get(v.provider) else {
                continue;
            };
            for c in &p.claims_to_headers {
                let Some(claim) = claim_at(&v.claims, &c.claim) else {
                    continue;
                };
                match header_value(claim, c.on_invalid) {
                    HeaderValue::Set(value) => host.set_request_header(&c.header, Some(&value))?,
                    HeaderValue::Invalid => match c.on_invalid {
                        OnInvalidClaim::Skip => {
                            host.increment(m::CLAIM_SKIPPED, 1);
                            log_lazy(host, LogLevel::Debug, || {
                                format!("jwt: claim {} cannot go in a header; skipped", c.claim)
                            });
                        }
                        _ => return Err(PublishError::Claim(v.provider)),
                    },
                }
            }
            if let Some(h) = &p.forward_payload_header {
                let payload = serde_json::to_vec(&**v.claims)
                    .map_err(|e| PublishError::Host(HostError::Other(e.to_string())))?;
                host.set_request_header(h, Some(&URL_SAFE_NO_PAD.encode(payload)))?;
            }
        }
        if let Some(first) = verified.first() {
            if let Some(p) = self.cfg.providers.get(first.provider) {
                let identity = first.claims.identity(p);
                host.publish_identity(identity.json.as_bytes(), &identity.typed)?;
            }
        }
        Ok(())
    }
}

#[derive(Debug)]
enum PublishError {
    /// A claim of this provider cannot go in a header and the mapping denies.
    Claim(usize),
    Host(HostError),
}

impl From<HostError> for PublishError {
    fn from(e: HostError) -> Self {
        PublishError::Host(e)
    }
}

enum HeaderValue {
    Set(String),
    Invalid,
}

/// A claim as a header value: strings, numbers and booleans as text, a list
/// of those joined by commas (unless an item holds a comma); anything else,
/// or a value with bytes a header cannot carry, is invalid, unless the
/// mapping percent-encodes.
fn header_value(claim: &Value, mode: OnInvalidClaim) -> HeaderValue {
    let scalar = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    let text = match claim {
        Value::Array(items) => items
            .iter()
            .map(|i| scalar(i).filter(|s| !s.contains(',')))
            .collect::<Option<Vec<_>>>()
            .map(|v| v.join(",")),
        other => scalar(other),
    };
    match (text, mode) {
        (Some(t), OnInvalidClaim::Encode) => HeaderValue::Set(percent_encode_header(&t)),
        (Some(t), _) if is_safe_header_value(&t) => HeaderValue::Set(t),
        _ => HeaderValue::Invalid,
    }
}

/// Percent-encodes every byte outside `!`..`~`, and `%` itself.
fn percent_encode_header(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (0x21..=0x7e).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn send<H: Host>(host: &H, reply: &LocalReply) -> Verdict {
    if let Err(e) = host.send_local_reply(reply) {
        host.log(
            LogLevel::Error,
            &format!("jwt: cannot send the denial: {e}"),
        );
    }
    Verdict::Answered
}

fn is_cors_preflight(head: &RequestHead) -> bool {
    head.method() == "OPTIONS"
        && head.first("origin").is_some()
        && head.first("access-control-request-method").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claim_values_as_headers() {
        let set = |v: Value, m| match header_value(&v, m) {
            HeaderValue::Set(s) => Some(s),
            HeaderValue::Invalid => None,
        };
        use OnInvalidClaim::*;
        assert_eq!(set(json!("acme"), Deny).as_deref(), Some("acme"));
        assert_eq!(set(json!(42), Deny).as_deref(), Some("42"));
        assert_eq!(set(json!(true), Skip).as_deref(), Some("true"));
        assert_eq!(set(json!(["a", "b"]), Deny).as_deref(), Some("a,b"));
        assert_eq!(set(json!(["a,b", "c"]), Deny), None);
        assert_eq!(set(json!({"a": 1}), Encode), None);
        assert_eq!(set(json!("a\r\nx-evil: 1"), Deny), None);
        assert_eq!(set(json!("caf\u{e9}"), Skip), None);
        assert_eq!(
            set(json!("a b%\r\n\u{e9}"), Encode).as_deref(),
            Some("a%20b%25%0D%0A%C3%A9")
        );
        assert_eq!(set(json!("plain"), Encode).as_deref(), Some("plain"));
    }
}
