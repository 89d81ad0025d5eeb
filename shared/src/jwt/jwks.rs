//! Remote JWKS, one copy for every worker.
//!
//! The fetched key set lives in shared data, so all VMs (Envoy workers) use
//! the same keys. A small state record next to it, updated only by
//! compare-and-swap, elects one fetcher at a time (a lease), remembers when
//! the last fetch happened and failed, and rate-limits the refetch that an
//! unknown `kid` triggers. When a fetch fails the last good keys stay.
//!
//! Each VM keeps a parsed copy and re-reads shared data only when the
//! state's version moved, so requests never copy the JWKS out of shared
//! data on the hot path.

use super::config::RemoteJwksConfig;
use crate::host::{
    CalloutResponse, Callouts, Clock, HostError, HttpCallRequest, LogLevel, Logger, Metrics,
    SharedStore,
};
use crate::jose::jwk::KeySet;
use serde::{Deserialize, Serialize};
use std::rc::Rc;

/// Why a fetch is wanted; each has its own rate rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// This VM dispatched the callout.
    Started,
    /// A fetch is already running somewhere (this VM or another): wait.
    InFlight,
    /// Not allowed now (rate limit or failure back-off): do not wait.
    NotNow,
    /// The callout could not be dispatched.
    Failed,
}

/// The shared state record (JSON in shared data).
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

#[derive(Debug, Clone)]
pub struct LocalKeys {
    pub version: u64,
    pub keys: Rc<KeySet>,
}

#[derive(Debug)]
pub struct RemoteKeys {
    pub cfg: RemoteJwksConfig,
    state_key: String,
    blob_key: String,
    local: Option<LocalKeys>,
    /// This VM's own fetch: callout token and when to give up on it (the
    /// context that dispatched it may die without ever seeing the reply).
    inflight: Option<(u32, u64)>,
}

/// Bounded retries of a compare-and-swap loop; contention is between a few
/// workers, so a handful always suffices.
const CAS_ATTEMPTS: usize = 16;

impl RemoteKeys {
    pub fn new(cfg: RemoteJwksConfig) -> Self {
        let id = cfg.source_id();
        RemoteKeys {
            state_key: format!("edgeward.jwt.jwks-state|{id}"),
            blob_key: format!("edgeward.jwt.jwks|{id}"),
            cfg,
            local: None,
            inflight: None,
        }
    }

    /// This VM's parsed keys, if any.
    pub fn current(&self) -> Option<&LocalKeys> {
        self.local.as_ref()
    }

    pub fn owns_call(&self, token: u32) -> bool {
        self.inflight.map(|(t, _)| t) == Some(token)
    }

    fn read_state<H: SharedStore>(&self, host: &H) -> Result<(FetchState, Option<u32>), HostError> {
        let v = host.get_shared(&self.state_key)?;
        let state = v
            .data
            .as_deref()
            .and_then(|d| serde_json::from_slice(d).ok())
            .unwrap_or_default();
        Ok((state, v.cas))
    }

    fn write_state<H: SharedStore>(
        &self,
        host: &H,
        s: &FetchState,
        cas: Option<u32>,
    ) -> Result<(), HostError> {
        let bytes = serde_json::to_vec(s).map_err(|e| HostError::Other(e.to_string()))?;
        host.set_shared(&self.state_key, &bytes, cas)
    }

    /// Applies `change` to the shared state with compare-and-swap. `change`
    /// returns false to leave the state alone.
    fn update_state<H: SharedStore>(
        &self,
        host: &H,
        mut change: impl FnMut(&mut FetchState) -> bool,
    ) -> Result<Option<FetchState>, HostError> {
        for _ in 0..CAS_ATTEMPTS {
            let (mut s, cas) = self.read_state(host)?;
            if !change(&mut s) {
                return Ok(None);
            }
            match self.write_state(host, &s, cas) {
                Ok(()) => return Ok(Some(s)),
                Err(HostError::CasMismatch) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(HostError::CasMismatch)
    }

    /// Brings this VM's parsed keys up to the shared version. Returns true
    /// when they changed.
    pub fn sync<H: SharedStore + Logger>(&mut self, host: &H) -> bool {
        let Ok((state, _)) = self.read_state(host) else {
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
        (self.cfg.failed_retry_ms << shift).min(30_000.max(self.cfg.failed_retry_ms))
    }

    /// Is a periodic refresh due? Refreshes at 80% of the cache duration so
    /// keys never go stale while the IdP is healthy; after failures, backs off.
    fn refresh_due(&self, s: &FetchState, now: u64) -> bool {
        let retry_ok = s.failures == 0 || now >= s.last_attempt_ms + self.backoff_ms(s.failures);
        if s.version == 0 {
            return retry_ok;
        }
        now >= s.last_ok_ms + self.cfg.cache_duration_ms / 5 * 4 && retry_ok
    }

    /// The periodic duty: sync, and refresh when due. Called on every tick
    /// of every VM; the lease makes only one of them fetch.
    pub fn on_tick<H: SharedStore + Callouts + Clock + Logger + Metrics>(
        &mut self,
        host: &H,
    ) -> bool {
        let changed = self.sync(host);
        if let Some((_, give_up_at)) = self.inflight {
            if host.now_ms() >= give_up_at {
                self.inflight = None;
            }
        }
        if self.inflight.is_none() {
            self.request_fetch(host, FetchReason::Refresh);
        }
        changed
    }

    /// Asks for a fetch; takes the lease and dispatches when allowed.
    pub fn request_fetch<H: SharedStore + Callouts + Clock + Logger + Metrics>(
        &mut self,
        host: &H,
        reason: FetchReason,
    ) -> FetchStart {
        let now = host.now_ms();
        let lease_ms = self.cfg.timeout_ms + 1000;
        let mut outcome = FetchStart::NotNow;
        let updated = self.update_state(host, |s| {
            if s.lease_until_ms > now {
                outcome = FetchStart::InFlight;
                return false;
            }
            let allowed = match reason {
                FetchReason::Refresh => self.refresh_due(s, now),
                FetchReason::Initial => {
                    s.failures == 0 || now >= s.last_attempt_ms + self.backoff_ms(s.failures)
                }
                FetchReason::UnknownKid => {
                    s.last_kid_refetch_ms == 0
                        || now >= s.last_kid_refetch_ms + self.cfg.unknown_kid_refetch_interval_ms
                }
            };
            if !allowed {
                outcome = FetchStart::NotNow;
                return false;
            }
            s.lease_until_ms = now + lease_ms;
            s.last_attempt_ms = now;
            if reason == FetchReason::UnknownKid {
                s.last_kid_refetch_ms = now;
            }
            outcome = FetchStart::Started;
            true
        });
        match updated {
            Ok(Some(_)) => {}
            Ok(None) => return outcome,
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
                self.inflight = Some((token, now + lease_ms));
                host.log(
                    LogLevel::Debug,
                    &format!("jwks {}: fetching ({reason:?})", self.cfg.path),
                );
                FetchStart::Started
            }
            Err(e) => {
                self.record_failure(
                    host,
                    &format!("dispatch to cluster {:?} failed: {e}", self.cfg.cluster),
                );
                FetchStart::Failed
            }
        }
    }

    fn record_failure<H: SharedStore + Clock + Logger + Metrics>(&mut self, host: &H, why: &str) {
        self.inflight = None;
        host.increment("edgeward.jwt.jwks.fetch_failed", 1);
        host.log(
            LogLevel::Warn,
            &format!(
                "jwks {}: fetch failed, keeping the last good keys: {why}",
                self.cfg.path
            ),
        );
        let now = host.now_ms();
        let _ = self.update_state(host, |s| {
            s.lease_until_ms = 0;
            s.failures = s.failures.saturating_add(1);
            s.last_attempt_ms = now;
            s.last_error = why.to_string();
            true
        });
    }

    /// Handles the reply to this VM's fetch. Returns true when new keys were
    /// stored (waiting requests should be re-examined).
    pub fn on_response<H: SharedStore + Clock + Logger + Metrics>(
        &mut self,
        host: &H,
        response: &dyn CalloutResponse,
    ) -> bool {
        let doc = match self.accept(response) {
            Ok(doc) => doc,
            Err(why) => {
                self.record_failure(host, &why);
                return false;
            }
        };
        let now = host.now_ms();
        for _ in 0..CAS_ATTEMPTS {
            let Ok((state, cas)) = self.read_state(host) else {
                break;
            };
            let version = state.version + 1;
            let mut blob = version.to_be_bytes().to_vec();
            blob.extend_from_slice(&doc.1);
            if host.set_shared(&self.blob_key, &blob, None).is_err() {
                break;
            }
            let next = FetchState {
                version,
                lease_until_ms: 0,
                last_attempt_ms: now,
                last_ok_ms: now,
                failures: 0,
                last_error: String::new(),
                ..state
            };
            match self.write_state(host, &next, cas) {
                Ok(()) => {
                    self.inflight = None;
                    host.increment("edgeward.jwt.jwks.fetch_ok", 1);
                    host.log(
                        LogLevel::Info,
                        &format!(
                            "jwks {}: fetched {} key(s), version {version}{}",
                            self.cfg.path,
                            doc.0.keys.len(),
                            if doc.0.skipped.is_empty() {
                                String::new()
                            } else {
                                format!("; ignored: {}", doc.0.skipped.join("; "))
                            }
                        ),
                    );
                    doc.0.prepare();
                    self.local = Some(LocalKeys {
                        version,
                        keys: Rc::new(doc.0),
                    });
                    return true;
                }
                Err(HostError::CasMismatch) => continue,
                Err(_) => break,
            }
        }
        self.record_failure(host, "could not store the keys in shared data");
        false
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
        assert!(b
            .current()
            .map(|l| l.keys.contains_kid("k1"))
            .unwrap_or(false));
        assert_eq!(host.metric("edgeward.jwt.jwks.fetch_ok"), 1);
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
            a.request_fetch(&host, FetchReason::UnknownKid),
            FetchStart::Started
        );
        assert_eq!(
            b.request_fetch(&host, FetchReason::UnknownKid),
            FetchStart::InFlight
        );
        a.on_response(&host, &ok(JWKS));
        assert_eq!(
            b.request_fetch(&host, FetchReason::UnknownKid),
            FetchStart::NotNow
        );
        host.advance_ms(30_000);
        assert_eq!(
            b.request_fetch(&host, FetchReason::UnknownKid),
            FetchStart::Started
        );
        assert_eq!(host.calls.borrow().len(), 3);
    }

    #[test]
    fn a_dead_fetcher_loses_its_lease() {
        let host = FakeHost::new(1_000_000);
        let mut a = RemoteKeys::new(cfg());
        let mut b = RemoteKeys::new(cfg());
        assert_eq!(
            a.request_fetch(&host, FetchReason::Initial),
            FetchStart::Started
        );
        assert_eq!(
            b.request_fetch(&host, FetchReason::Initial),
            FetchStart::InFlight
        );
        host.advance_ms(2_001);
        assert_eq!(
            b.request_fetch(&host, FetchReason::Initial),
            FetchStart::Started
        );
    }

    #[test]
    fn dispatch_failure_is_recorded() {
        let host = FakeHost::new(1_000_000);
        *host.fail_dispatch.borrow_mut() = Some(HostError::NotFound);
        let mut a = RemoteKeys::new(cfg());
        assert_eq!(
            a.request_fetch(&host, FetchReason::Initial),
            FetchStart::Failed
        );
        assert_eq!(
            a.request_fetch(&host, FetchReason::Initial),
            FetchStart::NotNow
        );
        assert_eq!(host.metric("edgeward.jwt.jwks.fetch_failed"), 1);
    }
}
