//! One JWT filter instance per VM: the events a proxy delivers (configure,
//! tick, request headers, callout reply, stream end) and what the filter
//! does in answer. The proxy-wasm adapter only forwards events here.

use super::cache::TokenCache;
use super::claims::claim_at;
use super::config::{JwtConfig, KeySource, TokenSource};
use super::engine::{Evaluation, KeyNeed, Outcome, ProviderKeys, Verified};
use super::jwks::{FetchReason, FetchStart, RemoteKeys};
use super::reason::Reason;
use super::response::{decision_json, denial_reply};
use crate::host::{log_lazy, CalloutResponse, Host, HostError, LogLevel};
use crate::http::{is_safe_header_value, RequestHead};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;
use std::collections::BTreeMap;
use std::rc::Rc;

/// Filter-state key of the verified identity (Envoy: `wasm.edgeward.identity`).
pub const IDENTITY_PROPERTY: &str = "edgeward.identity";
/// Filter-state key of the decision record.
pub const DECISION_PROPERTY: &str = "edgeward.jwt.decision";

/// Most requests one VM holds while keys are fetched; past it, fail closed
/// at once rather than grow without bound.
const MAX_WAITERS: usize = 4096;

/// What the adapter returns from the headers callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadersAction {
    Continue,
    /// Stop iteration: the request was answered locally or waits for keys.
    Pause,
}

#[derive(Debug)]
struct Waiter {
    head: RequestHead,
    deadline_ms: u64,
}

#[derive(Debug)]
pub struct JwtRuntime {
    cfg: Rc<JwtConfig>,
    /// Per provider: its remote key store, or None for inline keys.
    remote: Vec<Option<RemoteKeys>>,
    cache: TokenCache,
    waiters: BTreeMap<u32, Waiter>,
    /// Requests that waited for keys and were then allowed (until they end).
    released: std::collections::BTreeSet<u32>,
}

impl JwtRuntime {
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
        JwtRuntime {
            cache: TokenCache::new(cfg.token_cache_size),
            cfg: Rc::new(cfg),
            remote,
            waiters: BTreeMap::new(),
            released: std::collections::BTreeSet::new(),
        }
    }

    /// The timer period the adapter should ask for (None: no timer needed).
    pub fn tick_period_ms(&self) -> Option<u64> {
        self.remote.iter().any(Option::is_some).then_some(100)
    }

    pub fn waiting(&self) -> usize {
        self.waiters.len()
    }

    /// Whether a request that waited for keys was then allowed.
    pub fn was_released(&self, context_id: u32) -> bool {
        self.released.contains(&context_id)
    }

    /// Keeps remote keys fresh and settles waiting requests.
    pub fn on_tick<H: Host>(&mut self, host: &H) {
        for r in self.remote.iter_mut().flatten() {
            r.on_tick(host);
        }
        self.settle_waiters(host);
    }

    /// A reply to a callout this VM made.
    pub fn on_http_call_response<H: Host>(
        &mut self,
        host: &H,
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
        self.settle_waiters(host);
    }

    /// The stream ended (or was reset): forget it.
    pub fn on_stream_done(&mut self, context_id: u32) {
        self.waiters.remove(&context_id);
        self.released.remove(&context_id);
    }

    /// The request's headers arrived: decide, or wait for keys.
    pub fn on_request_headers<H: Host>(&mut self, host: &H, context_id: u32) -> HeadersAction {
        let head = match host.request_headers() {
            Ok(h) => RequestHead::new(h),
            Err(e) => {
                host.log(
                    LogLevel::Error,
                    &format!("jwt: cannot read request headers: {e}"),
                );
                return self.deny(host, None, Reason::Malformed, None);
            }
        };
        // Headers edgeward sets are never taken from the client, whatever
        // the outcome (a `none` route too).
        for h in &self.cfg.output_headers {
            if let Err(e) = host.set_request_header(h, None) {
                host.log(
                    LogLevel::Error,
                    &format!("jwt: cannot remove client header {h}: {e}"),
                );
                return self.deny(host, None, Reason::Malformed, None);
            }
        }
        if self.cfg.bypass_cors_preflight && is_cors_preflight(&head) {
            host.increment("edgeward.jwt.cors_preflight_bypassed", 1);
            let _ = host.set_property(
                &[DECISION_PROPERTY],
                br#"{"decision":"allow","reason":"cors_preflight"}"#,
            );
            return HeadersAction::Continue;
        }
        for r in self.remote.iter_mut().flatten() {
            if r.current().is_none() {
                r.sync(host);
            }
        }
        match self.evaluate(host, &head, false) {
            Outcome::Wait { needs, .. } => self.start_waiting(host, context_id, head, &needs),
            outcome => self.apply(host, outcome),
        }
    }

    fn evaluate<H: Host>(&mut self, host: &H, head: &RequestHead, final_attempt: bool) -> Outcome {
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
        let outcome = eval.decide(head);
        let after = self.cache.stats();
        if after.0 > before.0 {
            host.increment("edgeward.jwt.token_cache.hit", after.0 - before.0);
        }
        if after.1 > before.1 {
            host.increment("edgeward.jwt.token_cache.miss", after.1 - before.1);
        }
        outcome
    }

    /// Asks for the fetches the request needs. If none can run, the request
    /// is decided now as a final attempt (fail closed).
    fn start_waiting<H: Host>(
        &mut self,
        host: &H,
        context_id: u32,
        head: RequestHead,
        needs: &[(usize, KeyNeed)],
    ) -> HeadersAction {
        let mut wait_ms = 0;
        if self.waiters.len() < MAX_WAITERS && self.fetch_for(host, needs) {
            wait_ms = needs
                .iter()
                .filter_map(|(p, _)| self.remote.get(*p)?.as_ref())
                .map(|r| r.cfg.max_wait_ms)
                .max()
                .unwrap_or(0);
        }
        if wait_ms == 0 {
            let outcome = self.evaluate(host, &head, true);
            return self.apply(host, outcome);
        }
        host.increment("edgeward.jwt.waited_for_keys", 1);
        self.waiters.insert(
            context_id,
            Waiter {
                head,
                deadline_ms: host.now_ms() + wait_ms,
            },
        );
        HeadersAction::Pause
    }

    /// True when at least one needed fetch is running or was started.
    fn fetch_for<H: Host>(&mut self, host: &H, needs: &[(usize, KeyNeed)]) -> bool {
        let mut any = false;
        for (p, need) in needs {
            let Some(Some(r)) = self.remote.get_mut(*p) else {
                continue;
            };
            let reason = match need {
                KeyNeed::Initial => FetchReason::Initial,
                KeyNeed::UnknownKid => FetchReason::UnknownKid,
            };
            match r.request_fetch(host, reason) {
                FetchStart::Started | FetchStart::InFlight => any = true,
                FetchStart::NotNow | FetchStart::Failed => {}
            }
        }
        any
    }

    /// Re-examines every waiting request: decided ones are resumed or
    /// denied; ones past their deadline, or whose fetch can no longer
    /// happen, fail closed. Decisions (and any fetch they start) are all
    /// made first, in the caller's context; only then does it switch to each
    /// request's context to carry them out.
    fn settle_waiters<H: Host>(&mut self, host: &H) {
        if self.waiters.is_empty() {
            return;
        }
        let now = host.now_ms();
        let ids: Vec<u32> = self.waiters.keys().copied().collect();
        let mut decided = Vec::new();
        for id in ids {
            let Some(w) = self.waiters.get(&id) else {
                continue;
            };
            let head = w.head.clone();
            let expired = now >= w.deadline_ms;
            let outcome = match self.evaluate(host, &head, expired) {
                Outcome::Wait { needs, .. } => {
                    if self.fetch_for(host, &needs) {
                        continue;
                    }
                    self.evaluate(host, &head, true)
                }
                outcome => outcome,
            };
            self.waiters.remove(&id);
            decided.push((id, outcome));
        }
        for (id, outcome) in decided {
            if let Err(e) = host.switch_to_context(id) {
                host.log(LogLevel::Warn, &format!("jwt: request {id} is gone: {e}"));
                continue;
            }
            if self.apply(host, outcome) == HeadersAction::Continue {
                self.released.insert(id);
                if let Err(e) = host.resume_request() {
                    host.log(
                        LogLevel::Warn,
                        &format!("jwt: cannot resume request {id}: {e}"),
                    );
                }
            }
        }
    }

    fn deny<H: Host>(
        &self,
        host: &H,
        rule: Option<usize>,
        reason: Reason,
        provider: Option<usize>,
    ) -> HeadersAction {
        host.increment("edgeward.jwt.denied", 1);
        host.increment(&format!("edgeward.jwt.denied.{}", reason.code()), 1);
        let record = decision_json(&self.cfg, false, rule, Some(reason), provider);
        log_lazy(host, LogLevel::Debug, || format!("jwt: {record}"));
        let _ = host.set_property(&[DECISION_PROPERTY], record.as_bytes());
        if let Err(e) = host.send_local_reply(&denial_reply(&self.cfg, reason)) {
            host.log(
                LogLevel::Error,
                &format!("jwt: cannot send the denial: {e}"),
            );
        }
        HeadersAction::Pause
    }

    /// Carries out a final outcome on the current stream.
    fn apply<H: Host>(&self, host: &H, outcome: Outcome) -> HeadersAction {
        match outcome {
            Outcome::Deny {
                rule,
                reason,
                provider,
            } => self.deny(host, rule, reason, provider),
            Outcome::Wait { rule, needs } => {
                // Callers never pass Wait; treat it as what it would become.
                let reason = if needs.iter().any(|(_, n)| *n == KeyNeed::UnknownKid) {
                    Reason::UnknownKid
                } else {
                    Reason::JwksUnavailable
                };
                self.deny(host, Some(rule), reason, needs.first().map(|n| n.0))
            }
            Outcome::Allow { rule, verified } => match self.publish(host, &verified) {
                Ok(()) => {
                    host.increment("edgeward.jwt.allowed", 1);
                    let record = decision_json(
                        &self.cfg,
                        true,
                        rule,
                        None,
                        verified.first().map(|v| v.provider),
                    );
                    log_lazy(host, LogLevel::Debug, || format!("jwt: {record}"));
                    let _ = host.set_property(&[DECISION_PROPERTY], record.as_bytes());
                    HeadersAction::Continue
                }
                Err(e) => {
                    // Could not hand the identity on: the upstream would see
                    // an unauthenticated request. Fail closed.
                    host.log(
                        LogLevel::Error,
                        &format!("jwt: cannot publish identity: {e}"),
                    );
                    self.deny(host, rule, Reason::JwksUnavailable, None)
                }
            },
        }
    }

    /// Identity (of the first verified provider) into filter state, claims
    /// into headers, tokens removed.
    fn publish<H: Host>(&self, host: &H, verified: &[Verified]) -> Result<(), HostError> {
        for v in verified {
            let Some(p) = self.cfg.providers.get(v.provider) else {
                continue;
            };
            if !p.forward {
                for t in &v.tokens {
                    if let TokenSource::Header { name, .. } = &t.source {
                        host.set_request_header(name, None)?;
                    }
                }
            }
        }
        let Some(id) = verified.first() else {
            return Ok(());
        };
        let Some(p) = self.cfg.providers.get(id.provider) else {
            return Ok(());
        };
        host.set_property(&[IDENTITY_PROPERTY], id.claims.identity_json(p).as_bytes())?;
        for c in &p.claims_to_headers {
            let value = match claim_at(&id.claims, &c.claim) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                Some(Value::Bool(b)) => b.to_string(),
                _ => continue,
            };
            if is_safe_header_value(&value) {
                host.set_request_header(&c.header, Some(&value))?;
            } else {
                host.log(
                    LogLevel::Warn,
                    &format!(
                        "jwt: claim {} has characters unsafe in a header; not forwarded",
                        c.claim
                    ),
                );
            }
        }
        if let Some(h) = &p.forward_payload_header {
            let payload =
                serde_json::to_vec(&**id.claims).map_err(|e| HostError::Other(e.to_string()))?;
            host.set_request_header(h, Some(&URL_SAFE_NO_PAD.encode(payload)))?;
        }
        Ok(())
    }
}

fn is_cors_preflight(head: &RequestHead) -> bool {
    head.method() == "OPTIONS"
        && head.first("origin").is_some()
        && head.first("access-control-request-method").is_some()
}
