//! Remote JWKS, one copy for every worker.
//!
//! The fetched key set lives in shared data, so all VMs (Envoy workers) use
//! the same keys. A small state record next to it ([`SharedRecord`], only
//! ever updated by compare-and-swap) elects one fetcher at a time (a lease),
//! remembers when the last fetch happened and failed, and rate-limits the
//! refetch that an unknown `kid` triggers. When a fetch fails the last good
//! keys stay.
//!
//! Fetches are dispatched only from the plugin's root context, on its timer:
//! a request that needs keys records the wish ([`RemoteKeys::want_fetch`])
//! and waits, so a client that resets its stream cannot cancel the fetch
//! (a callout belongs to the context that dispatched it). The unknown-`kid`
//! refetch interval is consumed when such a fetch completes, not when it
//! starts: a fetch that never completes does not block the next one.
//!
//! Each VM keeps a parsed copy and re-reads shared data only when the
//! state's version moved, so requests never copy the JWKS out of shared
//! data on the hot path.

use super::config::RemoteJwksConfig;
use crate::host::{
    CalloutResponse, Callouts, Clock, HttpCallRequest, LogLevel, Logger, Metrics, SharedStore,
};
use crate::jose::jwk::KeySet;
use crate::shared_record::{json_decode, json_encode, Change, Lease, RecordCodec, SharedRecord};
use serde::{Deserialize, Serialize};
use std::rc::Rc;

/// Why a fetch is wanted; each has its own rate rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FetchReason {
    /// Periodic refresh before the cached keys expire.
    Refresh,
    /// A request arrived and no keys are known yet.
    Initial,
    /// A token names a `kid` the current keys lack (rotation at the IdP).
    UnknownKid,
}

/// What asking for a fetch led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchStart {
    /// The root context will dispatch it on its next tick: wait.
    Wanted,
    /// This VM dispatched the callout (root context only).
    Started,
    /// A fetch is already running somewhere (this VM or another): wait.
    InFlight,
    /// Not allowed now (rate limit or failure back-off): do not wait.
    NotNow,
    /// The shared state or the callout failed: do not wait.
    Failed,
}

impl FetchStart {
    /// Whether a request may wait for the fetch.
    pub fn worth_waiting(self) -> bool {
        matches!(
            self,
            FetchStart::Wanted | FetchStart::Started | FetchStart::InFlight
        )
    }
}

/// The shared state record.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
struct FetchState {
    /// Version of the key blob; 0 = nothing fetched yet.
    version: u64,
    lease_until_ms: u64,
    last_attempt_ms: u64,
    last_ok_ms: u64,
    last_kid_refetch_ms: u64,
    failures: u32,
    last_error: String,
}

impl FetchState {
    fn lease(&self) -> Lease {
        Lease {
            until_ms: self.lease_until_ms,
        }
    }
}

const STATE_VERSION: u8 = 1;

impl RecordCodec for FetchState {
    fn encode(&self) -> Vec<u8> {
        json_encode(STATE_VERSION, self)
    }
    fn decode(bytes: &[u8]) -> Option<Self> {
        json_decode(STATE_VERSION, bytes)
    }
}

#[derive(Debug, Clone)]
pub struct LocalKeys {
    pub version: u64,
    pub keys: Rc<KeySet>,
}

/// This VM's own fetch in flight.
#[derive(Debug, Clone, Copy)]
struct Inflight {
    token: u32,
    reason: FetchReason,
    /// When to give up on it (the reply may never come).
    give_up_at_ms: u64,
}

#[derive(Debug)]
pub struct RemoteKeys {
    pub cfg: RemoteJwksConfig,
    state: SharedRecord,
    blob_key: String,
    local: Option<LocalKeys>,
    inflight: Option<Inflight>,
    /// A fetch a request asked for, to dispatch on the next tick.
    wanted: Option<FetchReason>,
}

impl RemoteKeys {
    pub fn new(cfg: RemoteJwksConfig) -> Self {
        let id = cfg.source_id();
        RemoteKeys {
            state: SharedRecord::new(format!("edgeward.jwt.jwks-state|{id}")),
            blob_key: format!("edgeward.jwt.jwks|{id}"),
            cfg,
            local: None,
            inflight: None,
            wanted: None,
        }
    }

    /// This VM's parsed keys, if any.
    pub fn current(&self) -> Option<&LocalKeys> {
        self.local.as_ref()
    }

    pub fn owns_call(&self, token: u32) -> bool {
        self.inflight.map(|f| f.token) == Some(token)
    }

    /// Whether a request asked for a fetch the next tick should dispatch.
    pub fn wants_fetch(&self) -> bool {
        self.wanted.is_some()
    }

    fn read_state<H: SharedStore>(&self, host: &H) -> Option<FetchState> {
        self.state.read::<FetchState, H>(host).ok().map(|r| r.value)
    }

    /// Brings this VM's parsed keys up to the shared version. Returns true
    /// when they changed.
    pub fn sync<H: SharedStore + Logger>(&mut self, host: &H) -> bool {
        let Some(state) = self.read_state(host) else {
            return false;
        };
        let have = self.local.as_ref().map_or(0, |l| l.version);
        if state.version <= have {
            return false;
        }
        let Ok(blob) = host.get_shared(&self.blob_key) else {
            return false;
        };
        let Some(data) = blob.data else {
            return false;
        };
        let (Some(ver), Some(doc)) = (data.get(..8), data.get(8..)) else {
            return false;
        };
        let mut vb = [0u8; 8];
        vb.copy_from_slice(ver);
        let version = u64::from_be_bytes(vb);
        if version <= have {
            return false;
        }
        match KeySet::from_json(doc) {
            Ok(keys) => {
                keys.prepare();
                self.local = Some(LocalKeys {
                    version,
                    keys: Rc::new(keys),
                });
                true
            }
            Err(e) => {
                host.log(
                    LogLevel::Error,
                    &format!("jwks {}: shared copy unreadable: {}", self.cfg.path, e.0),
                );
                false
            }
        }
    }

    fn backoff_ms(&self, failures: u32) -> u64 {
        let shift = failures.saturating_sub(1).min(5);
        let cap = self.cfg.failed_retry_ms.max(30_000);
        self.cfg
            .failed_retry_ms
            .saturating_mul(1u64 << shift)
            .min(cap)
    }

    fn retry_allowed(&self, s: &FetchState, now: u64) -> bool {
        s.failures == 0
            || now
                >= s.last_attempt_ms
                    .saturating_add(self.backoff_ms(s.failures))
    }

    /// Is a fetch for `reason` allowed by the shared state now?
    fn allowed(&self, s: &FetchState, reason: FetchReason, now: u64) -> bool {
        match reason {
            // Refresh at 80% of the cache duration so keys never go stale
            // while the IdP is healthy; after failures, back off.
            FetchReason::Refresh => {
                self.retry_allowed(s, now)
                    && (s.version == 0
                        || now
                            >= s.last_ok_ms
                                .saturating_add(self.cfg.cache_duration_ms / 5 * 4))
            }
            // Keys are in shared data already (another VM fetched them
            // while this one's wish waited for its tick): a sync is enough.
            FetchReason::Initial => s.version == 0 && self.retry_allowed(s, now),
            FetchReason::UnknownKid => {
                s.last_kid_refetch_ms == 0
                    || now
                        >= s.last_kid_refetch_ms
                            .saturating_add(self.cfg.unknown_kid_refetch_interval_ms)
            }
        }
    }

    /// A request needs keys: records the wish for the root context's next
    /// tick and says whether waiting makes sense. Never dispatches.
    pub fn want_fetch<H: SharedStore + Clock>(
        &mut self,
        host: &H,
        reason: FetchReason,
    ) -> FetchStart {
        if self.inflight.is_some() {
            return FetchStart::InFlight;
        }
        let Some(s) = self.read_state(host) else {
            return FetchStart::Failed;
        };
        let now = host.now_ms();
        if s.lease().is_held(now) {
            return FetchStart::InFlight;
        }
        if !self.allowed(&s, reason, now) {
            return FetchStart::NotNow;
        }
        self.wanted = Some(self.wanted.map_or(reason, |w| w.max(reason)));
        FetchStart::Wanted
    }

    /// The periodic duty of the root context: sync, dispatch what requests
    /// asked for, refresh when due. The lease makes only one VM fetch.
    pub fn on_tick<H: SharedStore + Callouts + Clock + Logger + Metrics>(
        &mut self,
        host: &H,
    ) -> bool {
        let changed = self.sync(host);
        if let Some(f) = self.inflight {
            if host.now_ms() >= f.give_up_at_ms {
                self.inflight = None;
            }
        }
        if self.inflight.is_none() {
            let reason = self.wanted.take().unwrap_or(FetchReason::Refresh);
            self.start_fetch(host, reason);
        }
        changed
    }

    /// Takes the lease and dispatches, when the shared state allows.
    /// Called from the root context only.
    pub fn start_fetch<H: SharedStore + Callouts + Clock + Logger + Metrics>(
        &mut self,
        host: &H,
        reason: FetchReason,
    ) -> FetchStart {
        let now = host.now_ms();
        let lease_ms = self.cfg.timeout_ms.saturating_add(1000);
        let mut outcome = FetchStart::NotNow;
        let updated = self.state.update::<FetchState, H>(host, |s| {
            if s.lease().is_held(now) {
                outcome = FetchStart::InFlight;
                return Change::Keep;
            }
            if !self.allowed(s, reason, now) {
                outcome = FetchStart::NotNow;
                return Change::Keep;
            }
            s.lease_until_ms = now.saturating_add(lease_ms);
            s.last_attempt_ms = now;
            outcome = FetchStart::Started;
            Change::Write
        });
        match updated {
            Ok((_, Change::Write)) => {}
            Ok((_, Change::Keep)) => return outcome,
            Err(e) => {
                host.log(
                    LogLevel::Warn,
                    &format!("jwks {}: shared state unavailable: {e}", self.cfg.path),
                );
                return FetchStart::Failed;
            }
        }
        let request = HttpCallRequest {
            cluster: self.cfg.cluster.clone(),
            headers: vec![
                (":method".into(), "GET".into()),
                (":path".into(), self.cfg.path.clone()),
                (":authority".into(), self.cfg.authority.clone()),
                (
                    "accept".into(),
                    "application/json, application/jwk-set+json".into(),
                ),
            ],
            body: None,
            timeout_ms: self.cfg.timeout_ms,
        };
        match host.dispatch_http_call(&request) {
            Ok(token) => {
                self.inflight = Some(Inflight {
                    token,
                    reason,
                    give_up_at_ms: now.saturating_add(lease_ms),
                });
                host.log(
                    LogLevel::Debug,
                    &format!("jwks {}: fetching ({reason:?})", self.cfg.path),
                );
                FetchStart::Started
            }
            Err(e) => {
                self.record_failure(
                    host,
                    reason,
                    &format!("dispatch to cluster {:?} failed: {e}", self.cfg.cluster),
                );
                FetchStart::Failed
            }
        }
    }

    fn record_failure<H: SharedStore + Clock + Logger + Metrics>(
        &mut self,
        host: &H,
        reason: FetchReason,
        why: &str,
    ) {
        self.inflight = None;
        host.increment(super::metrics::JWKS_FETCH_FAILED, 1);
        host.log(
            LogLevel::Warn,
            &format!(
                "jwks {}: fetch failed, keeping the last good keys: {why}",
                self.cfg.path
            ),
        );
        let now = host.now_ms();
        let _ = self.state.update::<FetchState, H>(host, |s| {
            s.lease_until_ms = 0;
            s.failures = s.failures.saturating_add(1);
            s.last_attempt_ms = now;
            if reason == FetchReason::UnknownKid {
                s.last_kid_refetch_ms = now;
            }
            s.last_error = why.to_string();
            Change::Write
        });
    }

    /// Handles the reply to this VM's fetch. Returns true when new keys were
    /// stored (waiting requests should be re-examined).
    pub fn on_response<H: SharedStore + Clock + Logger + Metrics>(
        &mut self,
        host: &H,
        response: &dyn CalloutResponse,
    ) -> bool {
        let reason = self.inflight.map_or(FetchReason::Refresh, |f| f.reason);
        let (keys, doc) = match self.accept(response) {
            Ok(doc) => doc,
            Err(why) => {
                self.record_failure(host, reason, &why);
                return false;
            }
        };
        let now = host.now_ms();
        let mut stored = None;
        let result = self.state.update::<FetchState, H>(host, |s| {
            let version = s.version.saturating_add(1);
            let mut blob = version.to_be_bytes().to_vec();
            blob.extend_from_slice(&doc);
            if host.set_shared(&self.blob_key, &blob, None).is_err() {
                return Change::Keep;
            }
            s.version = version;
            s.lease_until_ms = 0;
            s.last_attempt_ms = now;
            s.last_ok_ms = now;
            if reason == FetchReason::UnknownKid {
                s.last_kid_refetch_ms = now;
            }
            s.failures = 0;
            s.last_error.clear();
            stored = Some(version);
            Change::Write
        });
        match (result, stored) {
            (Ok((_, Change::Write)), Some(version)) => {
                self.inflight = None;
                host.increment(super::metrics::JWKS_FETCH_OK, 1);
                host.log(
                    LogLevel::Info,
                    &format!(
                        "jwks {}: fetched {} key(s), version {version}{}",
                        self.cfg.path,
                        keys.keys.len(),
                        if keys.skipped.is_empty() {
                            String::new()
                        } else {
                            format!(
                                "; ignored: {}",
                                keys.skipped
                                    .iter()
                                    .map(|k| k.to_string())
                                    .collect::<Vec<_>>()
                                    .join("; ")
                            )
                        }
                    ),
                );
                keys.prepare();
                self.local = Some(LocalKeys {
                    version,
                    keys: Rc::new(keys),
                });
                true
            }
            _ => {
                self.record_failure(host, reason, "could not store the keys in shared data");
                false
            }
        }
    }

    /// Checks a fetched document: 200, bounded size, a JWKS with at least one
    /// usable key.
    fn accept(&self, response: &dyn CalloutResponse) -> Result<(KeySet, Vec<u8>), String> {
        match response.status() {
            None => return Err("no response (timeout or connection failure)".into()),
            Some(200) => {}
            Some(s) => return Err(format!("HTTP status {s}")),
        }
        let size = response.body_size();
        if size > self.cfg.max_body_bytes {
            return Err(format!(
                "body of {size} bytes exceeds max_body_bytes {}",
                self.cfg.max_body_bytes
            ));
        }
        let body = response
            .body()
            .map_err(|e| format!("body unreadable: {e}"))?;
        let keys = KeySet::from_json(&body).map_err(|e| format!("not a JWKS: {}", e.0))?;
        if keys.is_empty() {
            return Err("JWKS has no usable key".into());
        }
        Ok((keys, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::fake::FakeHost;
    use crate::host::BufferedResponse;

    pub(crate) const JWKS: &str = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;

    fn cfg() -> RemoteJwksConfig {
        RemoteJwksConfig {
            cluster: "idp".into(),
            authority: "idp.local".into(),
            path: "/jwks".into(),
            cache_duration_ms: 100_000,
            timeout_ms: 1000,
            max_wait_ms: 1500,
            unknown_kid_refetch_interval_ms: 30_000,
            failed_retry_ms: 1000,
            max_body_bytes: 1024,
        }
    }

    fn ok(body: &str) -> BufferedResponse {
        BufferedResponse {
            status: Some(200),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn one_vm_fetches_and_the_other_syncs() {
        let host = FakeHost::new(1_000_000);
        let mut a = RemoteKeys::new(cfg());
        let mut b = RemoteKeys::new(cfg());
        assert!(!a.on_tick(&host));
        assert_eq!(host.calls.borrow().len(), 1, "a took the lease");
        assert!(!b.on_tick(&host));
        assert_eq!(
            host.calls.borrow().len(),
            1,
            "b saw the lease and did not fetch"
        );
        assert!(a.on_response(&host, &ok(JWKS)));
        assert_eq!(a.current().map(|l| l.version), Some(1));
        assert!(b.on_tick(&host), "b picked up the shared copy");
        assert!(b.current().map(|l| l.keys.has_kid("k1")).unwrap_or(false));
        assert_eq!(host.metric("edgeward.jwt.jwks.fetch_ok"), 1);
    }

    #[test]
    fn a_wish_made_before_another_vm_fetched_does_not_fetch_again() {
        // CI saw two fetches 12 ms apart at start-up: b's request asked for
        // keys before a took the lease; by b's tick a had stored them.
        let host = FakeHost::new(1_000_000);
        let mut a = RemoteKeys::new(cfg());
        let mut b = RemoteKeys::new(cfg());
        assert_eq!(
            b.want_fetch(&host, FetchReason::Initial),
            FetchStart::Wanted
        );
        a.on_tick(&host);
        assert!(a.on_response(&host, &ok(JWKS)));
        assert!(b.on_tick(&host), "b synced the shared copy");
        assert_eq!(host.calls.borrow().len(), 1, "only a fetched");
        assert!(b.current().is_some());
    }

    #[test]
    fn refresh_happens_before_expiry_and_failures_keep_keys() {
        let host = FakeHost::new(1_000_000);
        let mut a = RemoteKeys::new(cfg());
        a.on_tick(&host);
        a.on_response(&host, &ok(JWKS));
        host.advance_ms(79_000);
        a.on_tick(&host);
        assert_eq!(host.calls.borrow().len(), 1, "not due yet");
        host.advance_ms(2_000);
        a.on_tick(&host);
        assert_eq!(host.calls.borrow().len(), 2, "due at 80%");
        assert!(!a.on_response(
            &host,
            &BufferedResponse {
                status: Some(500),
                body: vec![]
            }
        ));
        assert_eq!(
            a.current().map(|l| l.version),
            Some(1),
            "last good keys kept"
        );
        a.on_tick(&host);
        assert_eq!(host.calls.borrow().len(), 2, "backs off after a failure");
        host.advance_ms(1_001);
        a.on_tick(&host);
        assert_eq!(host.calls.borrow().len(), 3, "retries after back-off");
        assert!(!a.on_response(&host, &ok("garbage")));
        assert!(!a.on_response(&host, &ok(&"x".repeat(2000))));
        assert!(!a.on_response(&host, &ok(r#"{"keys":[]}"#)));
        assert!(!a.on_response(
            &host,
            &BufferedResponse {
                status: None,
                body: vec![]
            }
        ));
        assert_eq!(a.current().map(|l| l.version), Some(1));
        assert_eq!(host.metric("edgeward.jwt.jwks.fetch_failed"), 5);
    }

    #[test]
    fn unknown_kid_refetch_is_rate_limited_and_coalesced() {
        let host = FakeHost::new(1_000_000);
        let mut a = RemoteKeys::new(cfg());
        let mut b = RemoteKeys::new(cfg());
        a.on_tick(&host);
        a.on_response(&host, &ok(JWKS));
        assert_eq!(
            a.start_fetch(&host, FetchReason::UnknownKid),
            FetchStart::Started
        );
        assert_eq!(
            b.want_fetch(&host, FetchReason::UnknownKid),
            FetchStart::InFlight
        );
        a.on_response(&host, &ok(JWKS));
        assert_eq!(
            b.want_fetch(&host, FetchReason::UnknownKid),
            FetchStart::NotNow,
            "the interval was consumed when the fetch completed"
        );
        host.advance_ms(30_000);
        assert_eq!(
            b.want_fetch(&host, FetchReason::UnknownKid),
            FetchStart::Wanted
        );
        assert_eq!(host.calls.borrow().len(), 2, "wanting never dispatches");
        b.on_tick(&host);
        assert_eq!(
            host.calls.borrow().len(),
            3,
            "the tick sends what was wanted"
        );
        assert!(!b.wants_fetch());
    }

    #[test]
    fn a_kid_refetch_that_never_completes_does_not_consume_the_interval() {
        let host = FakeHost::new(1_000_000);
        let mut a = RemoteKeys::new(cfg());
        let mut b = RemoteKeys::new(cfg());
        a.on_tick(&host);
        a.on_response(&host, &ok(JWKS));
        assert_eq!(
            a.start_fetch(&host, FetchReason::UnknownKid),
            FetchStart::Started
        );
        // The reply never comes; the lease (timeout + 1 s) lapses.
        host.advance_ms(2_001);
        assert_eq!(
            b.want_fetch(&host, FetchReason::UnknownKid),
            FetchStart::Wanted
        );
        b.on_tick(&host);
        assert_eq!(host.calls.borrow().len(), 3);
    }

    #[test]
    fn a_dead_fetcher_loses_its_lease() {
        let host = FakeHost::new(1_000_000);
        let mut a = RemoteKeys::new(cfg());
        let mut b = RemoteKeys::new(cfg());
        assert_eq!(
            a.start_fetch(&host, FetchReason::Initial),
            FetchStart::Started
        );
        assert_eq!(
            b.start_fetch(&host, FetchReason::Initial),
            FetchStart::InFlight
        );
        host.advance_ms(2_001);
        assert_eq!(
            b.start_fetch(&host, FetchReason::Initial),
            FetchStart::Started
        );
    }

    #[test]
    fn dispatch_failure_is_recorded() {
        let host = FakeHost::new(1_000_000);
        *host.fail_dispatch.borrow_mut() = Some(crate::host::HostError::NotFound);
        let mut a = RemoteKeys::new(cfg());
        assert_eq!(
            a.start_fetch(&host, FetchReason::Initial),
            FetchStart::Failed
        );
        assert_eq!(
            a.start_fetch(&host, FetchReason::Initial),
            FetchStart::NotNow
        );
        assert_eq!(
            a.want_fetch(&host, FetchReason::Initial),
            FetchStart::NotNow,
            "backing off: a request does not wait"
        );
        assert_eq!(host.metric("edgeward.jwt.jwks.fetch_failed"), 1);
    }
}
