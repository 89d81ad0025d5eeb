//! The rate-limit filter on the shared filter layer.
//!
//! Per request: the canonical-path policy, then every policy whose match
//! and `applies_to` fit. Local policies are checked first without writing
//! anything; if one denies, the request is answered 429 and nothing is
//! consumed anywhere. Global policies then go to the Rate Limit Service in
//! one `ShouldRateLimit` call (one descriptor each, `hits_addend` = cost;
//! the service counts all or nothing), the request held until it answers.
//! Only when every enforcing policy allows are the local ones taken, by
//! compare-and-swap; if a race makes one fail then, those already taken are
//! given back. Shadow policies are counted the same way and never block
//! (global shadow policies go in a call of their own, not waited for, so
//! their quota never vetoes the enforcing call).

use super::algorithm::{Limit, State};
use super::config::{AppliesTo, Dimension, FailureMode, Mode, RateLimitConfig};
use super::key::{build, Facts};
use super::response::{
    decision_json, limited_reply, response_headers, unavailable_reply, PolicyResult, Source,
    DECISION_PROPERTY,
};
use super::rls::{Code, Descriptor, RateLimitRequest, RateLimitResponse, METHOD, SERVICE};
use super::store::{self, bucket_of, Charge, Place, Snapshot, StoredKey};
use crate::client_ip::client_ip;
use crate::config::ConfigError;
use crate::filter::{request_head_or_log, Filter, Origin, StreamId, Streams, Verdict};
use crate::host::{log_lazy, GrpcCallRequest, GrpcResponse, Host, HostError, LocalReply, LogLevel};
use crate::identity::Identity;
use crate::problem::problem_reply;
use crate::reason::Reason;
use crate::route::RequestTarget;
use crate::shared_record::CREATE_CAS;
use config_metrics::PolicyMetrics;
use std::collections::BTreeMap;
use std::rc::Rc;

/// Most shadow calls one VM keeps in flight: their replies are only
/// counted, so past this they are skipped (and counted as service errors)
/// rather than remembered without bound.
const MAX_SHADOW_CALLS: usize = 4096;

/// Shared-data key of the hash seed every worker uses.
const SEED_KEY: &str = "edgeward.rl.seed";

mod config_metrics {
    use crate::metrics::labeled;

    /// Metric names of one policy, built once.
    #[derive(Debug, Clone)]
    pub struct PolicyMetrics {
        pub allowed: String,
        pub limited: String,
        pub shadow_limited: String,
        pub service_error: String,
        pub fallback: String,
        pub overflow: String,
    }

    impl PolicyMetrics {
        pub fn new(policy: &str, failure_mode: &str) -> Self {
            let l = |base: &str| labeled(base, &[("policy", policy)]);
            PolicyMetrics {
                allowed: l("edgeward.ratelimit.allowed"),
                limited: l("edgeward.ratelimit.limited"),
                shadow_limited: l("edgeward.ratelimit.shadow_limited"),
                service_error: l("edgeward.ratelimit.service_error"),
                fallback: labeled(
                    "edgeward.ratelimit.fallback",
                    &[("policy", policy), ("outcome", failure_mode)],
                ),
                overflow: l("edgeward.ratelimit.overflow"),
            }
        }
    }
}

/// One matched policy's key for this request.
#[derive(Debug, Clone)]
struct Matched {
    policy: usize,
    charge: Charge,
    descriptor: Descriptor,
    /// Local-first global policies: the key's lease of the global quota.
    lease: Option<Charge>,
}

/// What a request carries from the service call to its final decision.
#[derive(Debug, Default)]
struct Extra {
    /// Indices into `matched` of global policies decided locally (failure
    /// mode `local`).
    fallback: Vec<usize>,
    /// Indices into `matched` of policies paid from a lease, and where.
    leased: Vec<(usize, Place)>,
}

/// A request held for the service's answer.
#[derive(Debug)]
struct Pending {
    token: u32,
    matched: Vec<Matched>,
    /// Indices into `matched` of the enforcing global policies, in
    /// descriptor order.
    global: Vec<usize>,
    shadow_limited: Vec<usize>,
    leased: Vec<(usize, Place)>,
    lease_results: Vec<PolicyResult>,
}

#[derive(Debug)]
enum Call {
    /// Decides the held stream.
    Enforcing(StreamId),
    /// Shadow global policies: counted when the answer comes, never waited for.
    Shadow(Vec<usize>),
}

/// What a decision asks of the stream.
#[derive(Debug)]
enum Decision {
    Continue,
    Hold,
    Reply(LocalReply),
}

/// What the local check-then-take found.
#[derive(Debug, Default)]
struct Local {
    results: Vec<PolicyResult>,
    /// Index into `results` of the deciding denial.
    denied: Option<usize>,
    shadow_limited: Vec<usize>,
    /// The records as read, to take from without reading them again.
    snapshots: Vec<Snapshot>,
}

#[derive(Debug)]
pub struct RateLimitFilter {
    cfg: Rc<RateLimitConfig>,
    names: Vec<String>,
    metrics: Vec<PolicyMetrics>,
    seed: u64,
    pending: BTreeMap<StreamId, Pending>,
    /// Calls in flight, by gRPC token.
    calls: BTreeMap<u32, Call>,
    /// Headers for allowed responses (`response_headers: all`).
    stashed: BTreeMap<StreamId, Vec<(String, String)>>,
    reads: HeadReads,
}

/// Which request headers the configured policies read, decided at
/// configure time: the whole header map costs a host call and a copy of
/// every header, single `:path` / `:method` / `:authority` reads are
/// cheaper when nothing else is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct HeadReads {
    /// A `header` dimension (all values of a header, joined) or
    /// `x-forwarded-for` (`client_ip` behind trusted hops): only the whole
    /// map has every value of a repeated header.
    whole_map: bool,
    method: bool,
    authority: bool,
}

impl HeadReads {
    fn of(cfg: &RateLimitConfig) -> HeadReads {
        let any_dim = |f: &dyn Fn(&Dimension) -> bool| {
            cfg.policies
                .iter()
                .any(|p| p.key.iter().any(|k| f(&k.dimension)))
        };
        HeadReads {
            whole_map: any_dim(&|d| matches!(d, Dimension::Header(_)))
                || (cfg.trusted_hops > 0 && any_dim(&|d| *d == Dimension::ClientIp)),
            method: any_dim(&|d| *d == Dimension::Method)
                || cfg.policies.iter().any(|p| p.route.reads_method()),
            authority: cfg.policies.iter().any(|p| p.route.reads_authority()),
        }
    }
}

/// The request head with what `reads` asks for: the whole map, or single
/// pseudo-header reads (Envoy keeps one value of each). `None`: the host
/// failed (logged).
fn read_head<H: Host>(host: &H, reads: HeadReads) -> Option<crate::http::RequestHead> {
    if reads.whole_map {
        return request_head_or_log(host, RateLimitFilter::NAME);
    }
    let mut pairs = Vec::with_capacity(3);
    for (name, wanted) in [
        (":path", true),
        (":method", reads.method),
        (":authority", reads.authority),
    ] {
        if !wanted {
            continue;
        }
        match host.request_header(name) {
            Ok(Some(v)) => pairs.push((name.to_string(), v)),
            Ok(None) => {}
            Err(e) => {
                host.log(
                    LogLevel::Error,
                    &format!(
                        "{}: cannot read request headers: {e}",
                        RateLimitFilter::NAME
                    ),
                );
                return None;
            }
        }
    }
    Some(crate::http::RequestHead::new(pairs))
}

impl Filter for RateLimitFilter {
    const NAME: &'static str = "ratelimit";

    fn configure<H: Host>(host: &H, config: &[u8]) -> Result<Self, ConfigError> {
        let cfg = RateLimitConfig::from_json(config)?;
        let seed = shared_seed(host);
        Ok(RateLimitFilter::new(cfg, seed))
    }

    fn on_request_headers<H: Host>(&mut self, host: &H, stream: StreamId, _eos: bool) -> Verdict {
        let Some(head) = read_head(host, self.reads) else {
            return refuse(host, Reason::InternalError);
        };
        let path = match self.cfg.path_policy.check(head.raw_path()) {
            Ok(p) => p,
            Err(v) => {
                log_lazy(host, LogLevel::Debug, || format!("ratelimit: path {v}"));
                return refuse(host, Reason::NonCanonicalPath);
            }
        };
        let target = RequestTarget {
            method: head.method(),
            authority: head.first(":authority").unwrap_or(""),
            path: &path,
        };
        let cfg = self.cfg.clone();
        let route_matched: Vec<usize> = cfg
            .policies
            .iter()
            .enumerate()
            .filter(|(_, p)| p.route.matches(&target).is_some())
            .map(|(i, _)| i)
            .collect();
        if route_matched.is_empty() {
            return Verdict::Continue;
        }
        let needs = |f: &dyn Fn(&super::config::Policy) -> bool| {
            route_matched
                .iter()
                .filter_map(|i| cfg.policies.get(*i))
                .any(f)
        };
        let identity = if needs(&|p| {
            p.applies_to != AppliesTo::Any || p.key.iter().any(|k| k.dimension.needs_identity())
        }) {
            match Identity::read(host) {
                Ok(id) => id,
                Err(e) => {
                    host.log(LogLevel::Error, &format!("ratelimit: {e}"));
                    return refuse(host, Reason::InternalError);
                }
            }
        } else {
            None
        };
        let client = if needs(&|p| p.key.iter().any(|k| k.dimension == Dimension::ClientIp)) {
            let peer = if cfg.trusted_hops == 0 {
                host.property(&["source", "address"])
                    .ok()
                    .flatten()
                    .and_then(|b| String::from_utf8(b).ok())
            } else {
                None
            };
            client_ip(&head, peer.as_deref(), cfg.trusted_hops)
        } else {
            None
        };
        let route_name = if needs(&|p| p.key.iter().any(|k| k.dimension == Dimension::Route)) {
            host.property(&["route_name"])
                .ok()
                .flatten()
                .and_then(|b| String::from_utf8(b).ok())
        } else {
            None
        };
        let facts = Facts {
            head: &head,
            path: path.as_str(),
            identity: identity.as_ref(),
            client_ip: client,
            route_name: route_name.as_deref(),
        };
        let matched: Vec<Matched> = route_matched
            .iter()
            .filter_map(|&i| {
                let p = cfg.policies.get(i)?;
                let applies = match p.applies_to {
                    AppliesTo::Any => true,
                    AppliesTo::Authenticated => identity.is_some(),
                    AppliesTo::Anonymous => identity.is_none(),
                };
                applies.then(|| self.matched(i, &facts))
            })
            .collect();
        if matched.is_empty() {
            return Verdict::Continue;
        }
        match self.decide(host, stream, matched, host.now_ms()) {
            Decision::Continue => Verdict::Continue,
            Decision::Hold => Verdict::Hold,
            Decision::Reply(reply) => {
                let _ = host.send_local_reply(&reply);
                Verdict::Answered
            }
        }
    }

    fn on_response_headers<H: Host>(&mut self, host: &H, stream: StreamId, _eos: bool) -> Verdict {
        if let Some(headers) = self.stashed.remove(&stream) {
            for (k, v) in headers {
                let _ = host.set_response_header(&k, Some(&v));
            }
        }
        Verdict::Continue
    }

    fn on_grpc_call_response<H: Host>(
        &mut self,
        host: &H,
        streams: &mut Streams,
        _origin: Origin,
        token: u32,
        response: &dyn GrpcResponse,
    ) {
        let stream = match self.calls.remove(&token) {
            Some(Call::Enforcing(s)) => s,
            Some(Call::Shadow(policies)) => {
                self.settle_shadow(host, &policies, response);
                return;
            }
            None => return,
        };
        let Some(pending) = self.pending.remove(&stream) else {
            return;
        };
        if pending.token != token || !streams.exists(stream) {
            return;
        }
        if streams.enter(host, stream).is_err() {
            return;
        }
        let answer = self.read_reply(host, response);
        let _ = match self.settle_global(host, stream, pending, answer) {
            Decision::Reply(reply) => streams.answer(host, stream, &reply),
            Decision::Continue | Decision::Hold => streams.resume_request(host, stream),
        };
    }

    fn on_stream_done(&mut self, stream: StreamId) {
        if let Some(p) = self.pending.remove(&stream) {
            self.calls.remove(&p.token);
        }
        self.stashed.remove(&stream);
    }
}

/// The seed of the key hash, the same in every worker: created once in
/// shared data (CAS), read by every later VM.
fn shared_seed<H: Host>(host: &H) -> u64 {
    let read = |host: &H| -> Option<u64> {
        let v = host.get_shared(SEED_KEY).ok()?;
        let d = v.data?;
        let a: [u8; 8] = d.get(..8)?.try_into().ok()?;
        Some(u64::from_le_bytes(a))
    };
    if let Some(s) = read(host) {
        return s;
    }
    // Not secret, only unpredictable enough that keys cannot be aimed at
    // one record offline: the start time and this VM's allocator state.
    let probe = Box::new(0u8);
    let addr = &*probe as *const u8 as usize as u64;
    let candidate = host
        .now_ms()
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .rotate_left(17)
        ^ addr.wrapping_mul(0xff51_afd7_ed55_8ccd);
    let _ = host.set_shared(SEED_KEY, &candidate.to_le_bytes(), Some(CREATE_CAS));
    read(host).unwrap_or(candidate)
}

fn refuse<H: Host>(host: &H, reason: Reason) -> Verdict {
    let _ = host.send_local_reply(&problem_reply(RateLimitFilter::NAME, reason));
    Verdict::Answered
}

fn internal_error() -> Decision {
    Decision::Reply(problem_reply(RateLimitFilter::NAME, Reason::InternalError))
}

impl RateLimitFilter {
    pub fn new(cfg: RateLimitConfig, seed: u64) -> Self {
        let names = cfg.policies.iter().map(|p| p.name.clone()).collect();
        let reads = HeadReads::of(&cfg);
        let metrics = cfg
            .policies
            .iter()
            .map(|p| PolicyMetrics::new(&p.name, p.failure_mode.label()))
            .collect();
        RateLimitFilter {
            cfg: Rc::new(cfg),
            names,
            metrics,
            seed,
            pending: BTreeMap::new(),
            calls: BTreeMap::new(),
            stashed: BTreeMap::new(),
            reads,
        }
    }

    pub fn config(&self) -> &RateLimitConfig {
        &self.cfg
    }

    /// Requests held for the service.
    pub fn waiting(&self) -> usize {
        self.pending.len()
    }

    fn matched(&self, policy: usize, facts: &Facts) -> Matched {
        let p = &self.cfg.policies[policy.min(self.cfg.policies.len() - 1)];
        let (raw, descriptor) = build(p, facts, p.mode == Mode::Global);
        let key = StoredKey::from_raw(policy, p.limit.kind(), raw);
        let bucket = bucket_of(self.seed, key.bytes(), self.cfg.buckets);
        let lease = p.local_first.map(|_| {
            let key = key.with_kind(Limit::Lease.kind());
            Charge {
                policy,
                bucket: bucket_of(self.seed, key.bytes(), self.cfg.buckets),
                key,
                limit: Limit::Lease,
                cost: p.cost,
            }
        });
        Matched {
            policy,
            charge: Charge {
                policy,
                key,
                bucket,
                limit: p.limit,
                cost: p.cost,
            },
            descriptor,
            lease,
        }
    }

    fn is_shadow(&self, policy: usize) -> bool {
        self.cfg.policies.get(policy).is_some_and(|p| p.shadow)
    }

    fn is_global(&self, policy: usize) -> bool {
        self.cfg
            .policies
            .get(policy)
            .is_some_and(|p| p.mode == Mode::Global)
    }

    fn decide<H: Host>(
        &mut self,
        host: &H,
        stream: StreamId,
        mut matched: Vec<Matched>,
        now: u64,
    ) -> Decision {
        let local: Vec<&Matched> = matched
            .iter()
            .filter(|m| !self.is_global(m.policy))
            .collect();
        // 1. Local policies, checked without taking: a denial here costs the
        //    service nothing and consumes nothing.
        let any_global = local.len() < matched.len();
        // One local policy and nothing else: its take is its own check (a
        // take that does not fit writes nothing), one read instead of two.
        if !any_global && local.len() == 1 {
            return self.take_and_finish(
                host,
                stream,
                &matched,
                &Extra::default(),
                Vec::new(),
                None,
                now,
            );
        }
        let mut shadow_limited = Vec::new();
        let mut snapshots = None;
        if !local.is_empty() {
            match self.check_local(host, &local, now) {
                Ok(l) => {
                    if let Some(d) = l.denied {
                        return self.deny(host, stream, &l.results, d, &l.shadow_limited);
                    }
                    shadow_limited = l.shadow_limited;
                    snapshots = Some(l.snapshots);
                }
                Err(e) => return self.host_failure(host, e),
            }
        }
        // 2. Local-first global policies with units left in their lease are
        //    paid from it; the others ask the service for a new lease.
        let mut leased = Vec::new();
        let mut lease_results = Vec::new();
        if matched.iter().any(|m| m.lease.is_some()) {
            let recovered = self.recovered(now);
            for (i, m) in matched.iter_mut().enumerate() {
                let Some(lc) = &m.lease else { continue };
                match store::take(host, lc, None, now, &recovered) {
                    Ok(o) if o.check.allowed => {
                        leased.push((i, o.place));
                        let p = self.cfg.policies.get(m.policy);
                        lease_results.push(PolicyResult {
                            policy: m.policy,
                            allowed: true,
                            quota: p.map(|p| p.limit.quota()).unwrap_or(0),
                            window_s: p.map(|p| p.limit.window_s()).unwrap_or(1),
                            remaining: o.check.remaining,
                            reset_ms: o.check.reset_ms,
                            retry_after_ms: 0,
                            source: Source::Lease,
                        });
                    }
                    _ => {
                        let lease = self
                            .cfg
                            .policies
                            .get(m.policy)
                            .and_then(|p| p.local_first)
                            .map(|lf| lf.lease)
                            .unwrap_or(m.descriptor.hits_addend);
                        m.descriptor.hits_addend = lease;
                    }
                }
            }
        }
        // 3. Global policies: shadow ones in a call of their own.
        let global: Vec<usize> = (0..matched.len())
            .filter(|&i| {
                matched
                    .get(i)
                    .is_some_and(|m| self.is_global(m.policy) && !self.is_shadow(m.policy))
                    && !leased.iter().any(|(j, _)| *j == i)
            })
            .collect();
        let shadow_global: Vec<&Matched> = matched
            .iter()
            .filter(|m| self.is_global(m.policy) && self.is_shadow(m.policy))
            .collect();
        if !shadow_global.is_empty() {
            self.dispatch_shadow(host, &shadow_global);
        }
        if global.is_empty() {
            let extra = Extra {
                fallback: Vec::new(),
                leased,
            };
            return self.take_and_finish(
                host,
                stream,
                &matched,
                &extra,
                lease_results,
                snapshots,
                now,
            );
        }
        let descriptors: Vec<&Matched> = global.iter().filter_map(|&i| matched.get(i)).collect();
        match self.dispatch(host, &descriptors) {
            Ok(token) => {
                self.calls.insert(token, Call::Enforcing(stream));
                self.pending.insert(
                    stream,
                    Pending {
                        token,
                        matched,
                        global,
                        shadow_limited,
                        leased,
                        lease_results,
                    },
                );
                Decision::Hold
            }
            Err(e) => {
                log_lazy(host, LogLevel::Warn, || {
                    format!("ratelimit: cannot call the rate limit service: {e}")
                });
                let pending = Pending {
                    token: 0,
                    matched,
                    global,
                    shadow_limited,
                    leased,
                    lease_results,
                };
                self.settle_global(host, stream, pending, Err(()))
            }
        }
    }

    fn request_for(&self, items: &[&Matched]) -> RateLimitRequest {
        let costs: Vec<u64> = items.iter().map(|m| m.descriptor.hits_addend).collect();
        let uniform = costs.windows(2).all(|w| w.first() == w.get(1));
        let mut descriptors: Vec<Descriptor> = items.iter().map(|m| m.descriptor.clone()).collect();
        let hits = if uniform {
            for d in &mut descriptors {
                d.hits_addend = 0;
            }
            costs.first().copied().unwrap_or(1)
        } else {
            1
        };
        RateLimitRequest {
            domain: self.cfg.domain.clone(),
            descriptors,
            hits_addend: u32::try_from(hits).unwrap_or(u32::MAX),
        }
    }

    fn dispatch<H: Host>(&self, host: &H, items: &[&Matched]) -> Result<u32, HostError> {
        let cluster = self.cfg.cluster.clone().ok_or(HostError::NotFound)?;
        // One call decides every enforcing global policy: its timeout is the
        // tightest of theirs.
        let timeout_ms = items
            .iter()
            .filter_map(|m| self.cfg.policies.get(m.policy))
            .map(|p| p.timeout_ms)
            .min()
            .unwrap_or(super::config::DEFAULT_TIMEOUT_MS);
        host.dispatch_grpc_call(&GrpcCallRequest {
            cluster,
            service: SERVICE.to_string(),
            method: METHOD.to_string(),
            initial_metadata: Vec::new(),
            message: self.request_for(items).encode(),
            timeout_ms,
        })
    }

    fn dispatch_shadow<H: Host>(&mut self, host: &H, items: &[&Matched]) {
        let in_flight = self
            .calls
            .values()
            .filter(|c| matches!(c, Call::Shadow(_)))
            .count();
        let result = if in_flight < MAX_SHADOW_CALLS {
            self.dispatch(host, items)
        } else {
            Err(HostError::NotAvailable)
        };
        match result {
            Ok(token) => {
                let policies = items.iter().map(|m| m.policy).collect();
                self.calls.insert(token, Call::Shadow(policies));
            }
            Err(_) => {
                for m in items {
                    if let Some(mm) = self.metrics.get(m.policy) {
                        host.increment(&mm.service_error, 1);
                    }
                }
            }
        }
    }

    fn settle_shadow<H: Host>(&self, host: &H, policies: &[usize], response: &dyn GrpcResponse) {
        let reply = self.read_reply(host, response);
        for (n, p) in policies.iter().enumerate() {
            let Some(mm) = self.metrics.get(*p) else {
                continue;
            };
            match &reply {
                Err(()) => host.increment(&mm.service_error, 1),
                Ok(r) => {
                    let over = match r.statuses.get(n) {
                        Some(s) => s.code == Code::OverLimit,
                        None => r.overall_code == Code::OverLimit,
                    };
                    host.increment(
                        if over {
                            &mm.shadow_limited
                        } else {
                            &mm.allowed
                        },
                        1,
                    );
                }
            }
        }
    }

    fn read_reply<H: Host>(
        &self,
        host: &H,
        response: &dyn GrpcResponse,
    ) -> Result<RateLimitResponse, ()> {
        if response.status_code() != 0 {
            log_lazy(host, LogLevel::Warn, || {
                format!(
                    "ratelimit: the rate limit service failed: grpc status {} {}",
                    response.status_code(),
                    response.status_message().unwrap_or_default()
                )
            });
            return Err(());
        }
        if response.message_size() > self.cfg.max_reply_bytes {
            host.log(
                LogLevel::Warn,
                "ratelimit: the rate limit service's reply is too large",
            );
            return Err(());
        }
        let bytes = response.message().map_err(|_| ())?;
        match RateLimitResponse::decode(&bytes) {
            Ok(r) if r.overall_code != Code::Unknown => Ok(r),
            Ok(_) => {
                host.log(
                    LogLevel::Warn,
                    "ratelimit: the rate limit service answered UNKNOWN",
                );
                Err(())
            }
            Err(e) => {
                host.log(
                    LogLevel::Warn,
                    &format!("ratelimit: undecodable rate limit service reply: {e}"),
                );
                Err(())
            }
        }
    }

    /// Decides a request whose enforcing global policies have an answer
    /// (or a failure).
    fn settle_global<H: Host>(
        &mut self,
        host: &H,
        stream: StreamId,
        pending: Pending,
        answer: Result<RateLimitResponse, ()>,
    ) -> Decision {
        let cfg = self.cfg.clone();
        let now = host.now_ms();
        let mut global_results = Vec::new();
        let mut fallback: Vec<usize> = Vec::new();
        match answer {
            Ok(r) => {
                for (n, &i) in pending.global.iter().enumerate() {
                    let Some(m) = pending.matched.get(i) else {
                        continue;
                    };
                    let Some(p) = cfg.policies.get(m.policy) else {
                        continue;
                    };
                    let status = r.statuses.get(n);
                    let over = match status {
                        Some(s) => s.code == Code::OverLimit,
                        None => r.overall_code == Code::OverLimit,
                    };
                    let (quota, window_s) = status
                        .and_then(|s| s.current_limit.as_ref())
                        .and_then(|l| Some((u64::from(l.requests_per_unit), l.unit_seconds()?)))
                        .unwrap_or((p.limit.quota(), p.limit.window_s()));
                    let reset_ms = status
                        .and_then(|s| s.reset_ms)
                        .unwrap_or(window_s.saturating_mul(1000));
                    global_results.push(PolicyResult {
                        policy: m.policy,
                        allowed: !over,
                        quota,
                        window_s,
                        remaining: status.map(|s| u64::from(s.limit_remaining)).unwrap_or(0),
                        reset_ms,
                        retry_after_ms: if over { reset_ms.max(1) } else { 0 },
                        source: Source::Global,
                    });
                    // Local-first: the service counted a whole lease; this
                    // request spends `cost` of it, the rest waits locally
                    // (never past the service's window, so a lease is never
                    // spent in a window that did not count it).
                    if let (false, Some(lf), Some(lc)) = (over, p.local_first, &m.lease) {
                        let window_left = reset_ms.max(1);
                        let until = now.saturating_add(lf.max_lease_ms.min(window_left));
                        let units = lf.lease.saturating_sub(p.cost);
                        let recovered = self.recovered(now);
                        if units > 0 {
                            if let Err(e) = store::grant(host, lc, units, until, now, &recovered) {
                                log_lazy(host, LogLevel::Warn, || {
                                    format!("ratelimit: could not store a lease: {e}")
                                });
                            }
                        }
                    }
                }
            }
            Err(()) => {
                for &i in &pending.global {
                    let Some(m) = pending.matched.get(i) else {
                        continue;
                    };
                    let Some(p) = cfg.policies.get(m.policy) else {
                        continue;
                    };
                    let Some(mm) = self.metrics.get(m.policy) else {
                        continue;
                    };
                    host.increment(&mm.service_error, 1);
                    host.increment(&mm.fallback, 1);
                    match p.failure_mode {
                        FailureMode::Deny => {
                            let _ = host.set_property(
                                &[DECISION_PROPERTY],
                                decision_json("unavailable", Some(&p.name), &[], &[], &self.names)
                                    .as_bytes(),
                            );
                            self.give_back_leases(host, &pending.matched, &pending.leased, now);
                            return Decision::Reply(unavailable_reply(&p.name));
                        }
                        FailureMode::Allow => global_results.push(PolicyResult {
                            policy: m.policy,
                            allowed: true,
                            quota: p.limit.quota(),
                            window_s: p.limit.window_s(),
                            remaining: p.limit.quota(),
                            reset_ms: 0,
                            retry_after_ms: 0,
                            source: Source::FailedOpen,
                        }),
                        FailureMode::Local => fallback.push(i),
                    }
                }
            }
        }
        // The most restrictive enforcing global denial decides.
        if let Some(d) = most_restrictive(&global_results) {
            self.give_back_leases(host, &pending.matched, &pending.leased, now);
            return self.deny(host, stream, &global_results, d, &pending.shadow_limited);
        }
        global_results.extend(pending.lease_results);
        let extra = Extra {
            fallback,
            leased: pending.leased,
        };
        // The wait for the service took time: read the records afresh.
        self.take_and_finish(
            host,
            stream,
            &pending.matched,
            &extra,
            global_results,
            None,
            now,
        )
    }

    /// Takes the local (and fallback) charges, then allows, or denies if a
    /// race made one no longer fit. `now`: read once per callback.
    #[allow(clippy::too_many_arguments)]
    fn take_and_finish<H: Host>(
        &mut self,
        host: &H,
        stream: StreamId,
        matched: &[Matched],
        extra: &Extra,
        mut results: Vec<PolicyResult>,
        prefetched: Option<Vec<Snapshot>>,
        now: u64,
    ) -> Decision {
        let fallback = &extra.fallback;
        let items: Vec<&Matched> = matched
            .iter()
            .enumerate()
            .filter(|(i, m)| !self.is_global(m.policy) || fallback.contains(i))
            .map(|(_, m)| m)
            .collect();
        let mut shadow_limited = Vec::new();
        if !items.is_empty() {
            let l = if fallback.is_empty() {
                self.take_local(host, &items, prefetched, now)
            } else {
                // Fallback policies were never checked: check all first.
                match self.check_local(host, &items, now) {
                    Ok(c) if c.denied.is_some() => Ok(c),
                    Ok(_) => self.take_local(host, &items, None, now),
                    Err(e) => Err(e),
                }
            };
            let mut l = match l {
                Ok(l) => l,
                Err(e) => {
                    self.give_back_leases(host, matched, &extra.leased, now);
                    return self.host_failure(host, e);
                }
            };
            for r in &mut l.results {
                if fallback
                    .iter()
                    .any(|&i| matched.get(i).is_some_and(|m| m.policy == r.policy))
                {
                    r.source = Source::Fallback;
                }
            }
            if let Some(d) = l.denied {
                self.give_back_leases(host, matched, &extra.leased, now);
                return self.deny(host, stream, &l.results, d, &l.shadow_limited);
            }
            shadow_limited = l.shadow_limited;
            results.extend(l.results);
        }
        self.allow(host, stream, &results, &shadow_limited)
    }

    fn recovered(&self, now: u64) -> impl Fn(&[u8], State) -> bool + '_ {
        move |key: &[u8], s: State| match StoredKey::header(key) {
            Some((p, kind)) => match self.cfg.policies.get(p) {
                Some(pol) if pol.limit.kind() == kind => pol.limit.is_recovered(s, now),
                Some(pol) if kind == Limit::Lease.kind() && pol.local_first.is_some() => {
                    Limit::Lease.is_recovered(s, now)
                }
                // Left by an older configuration: nothing to keep.
                _ => true,
            },
            None => true,
        }
    }

    fn result_of(
        &self,
        m: &Matched,
        check: super::algorithm::Check,
        source: Source,
    ) -> PolicyResult {
        PolicyResult {
            policy: m.policy,
            allowed: check.allowed,
            quota: m.charge.limit.quota(),
            window_s: m.charge.limit.window_s(),
            remaining: check.remaining,
            reset_ms: check.reset_ms,
            retry_after_ms: check.retry_after_ms,
            source,
        }
    }

    /// Phase one: reads and checks every charge, writes nothing.
    fn check_local<H: Host>(
        &self,
        host: &H,
        items: &[&Matched],
        now: u64,
    ) -> Result<Local, HostError> {
        let recovered = self.recovered(now);
        let mut out = Local::default();
        for m in items {
            let snap = store::read(host, Place::Bucket(m.charge.bucket))?;
            let o = store::check(host, &m.charge, &snap, now, &recovered)?;
            let r = self.result_of(m, o.check, Source::Local);
            if !r.allowed && self.is_shadow(m.policy) {
                out.shadow_limited.push(m.policy);
            }
            out.results.push(r);
            out.snapshots.push(snap);
        }
        out.denied = most_restrictive_local(&out.results, |p| self.is_shadow(p));
        Ok(out)
    }

    /// Phase two: takes every charge that fits, by CAS; a denial of an
    /// enforcing policy (a race lost since the check) gives back what was
    /// taken.
    fn take_local<H: Host>(
        &self,
        host: &H,
        items: &[&Matched],
        prefetched: Option<Vec<Snapshot>>,
        now: u64,
    ) -> Result<Local, HostError> {
        let recovered = self.recovered(now);
        let mut snaps = prefetched.unwrap_or_default().into_iter();
        let mut out = Local::default();
        let mut taken: Vec<(&Matched, Place)> = Vec::new();
        for m in items {
            let o = match store::take(host, &m.charge, snaps.next(), now, &recovered) {
                Ok(o) => o,
                // Every CAS attempt lost (a storm of writers on one record):
                // deny this request as limited, retry in a second; never let
                // it through uncounted.
                Err(HostError::CasMismatch) => store::Outcome {
                    check: super::algorithm::Check {
                        allowed: false,
                        remaining: 0,
                        reset_ms: 1000,
                        retry_after_ms: 1000,
                    },
                    place: Place::Bucket(m.charge.bucket),
                },
                Err(e) => {
                    self.give_back(host, &taken, now);
                    return Err(e);
                }
            };
            if o.place != Place::Bucket(m.charge.bucket) {
                if let Some(mm) = self.metrics.get(m.policy) {
                    host.increment(&mm.overflow, 1);
                }
            }
            let r = self.result_of(m, o.check, Source::Local);
            let shadow = self.is_shadow(m.policy);
            if o.check.allowed {
                taken.push((m, o.place));
            } else if shadow {
                out.shadow_limited.push(m.policy);
            } else {
                out.results.push(r);
                out.denied = Some(out.results.len() - 1);
                self.give_back(host, &taken, now);
                return Ok(out);
            }
            out.results.push(r);
        }
        Ok(out)
    }

    fn give_back<H: Host>(&self, host: &H, taken: &[(&Matched, Place)], now: u64) {
        for (m, place) in taken {
            if let Err(e) = store::refund(host, &m.charge, *place, now, now) {
                log_lazy(host, LogLevel::Warn, || {
                    format!("ratelimit: could not give back a charge: {e}")
                });
            }
        }
    }

    /// Gives back what a denied request took from its leases.
    fn give_back_leases<H: Host>(
        &self,
        host: &H,
        matched: &[Matched],
        leased: &[(usize, Place)],
        now: u64,
    ) {
        for (i, place) in leased {
            let Some(lc) = matched.get(*i).and_then(|m| m.lease.as_ref()) else {
                continue;
            };
            if let Err(e) = store::refund(host, lc, *place, now, now) {
                log_lazy(host, LogLevel::Warn, || {
                    format!("ratelimit: could not give back a lease charge: {e}")
                });
            }
        }
    }

    fn host_failure<H: Host>(&self, host: &H, e: HostError) -> Decision {
        host.log(
            LogLevel::Error,
            &format!("ratelimit: shared data failed: {e}"),
        );
        internal_error()
    }

    fn advertised<'a>(&self, results: &'a [PolicyResult]) -> Vec<&'a PolicyResult> {
        results
            .iter()
            .filter(|r| !self.is_shadow(r.policy))
            .collect()
    }

    fn deny<H: Host>(
        &mut self,
        host: &H,
        stream: StreamId,
        results: &[PolicyResult],
        denied: usize,
        shadow_limited: &[usize],
    ) -> Decision {
        let Some(v) = results.get(denied) else {
            return internal_error();
        };
        self.count_shadow(host, shadow_limited);
        if let Some(mm) = self.metrics.get(v.policy) {
            host.increment(&mm.limited, 1);
        }
        let advertised = self.advertised(results);
        let reply = limited_reply(
            v,
            &advertised,
            &self.names,
            self.cfg.response_headers != super::config::HeaderMode::None,
            self.cfg.legacy_headers,
        );
        let name = self.names.get(v.policy).map(String::as_str);
        let shadow: Vec<&str> = self.shadow_names(shadow_limited);
        let _ = host.set_property(
            &[DECISION_PROPERTY],
            decision_json("limited", name, results, &shadow, &self.names).as_bytes(),
        );
        self.stashed.remove(&stream);
        Decision::Reply(reply)
    }

    fn allow<H: Host>(
        &mut self,
        host: &H,
        stream: StreamId,
        results: &[PolicyResult],
        shadow_limited: &[usize],
    ) -> Decision {
        self.count_shadow(host, shadow_limited);
        for r in results {
            if let Some(mm) = self.metrics.get(r.policy) {
                host.increment(&mm.allowed, 1);
            }
        }
        let shadow = self.shadow_names(shadow_limited);
        let _ = host.set_property(
            &[DECISION_PROPERTY],
            decision_json("allowed", None, results, &shadow, &self.names).as_bytes(),
        );
        if self.cfg.response_headers == super::config::HeaderMode::All {
            let advertised = self.advertised(results);
            let headers = response_headers(&advertised, &self.names, self.cfg.legacy_headers);
            if !headers.is_empty() {
                self.stashed.insert(stream, headers);
            }
        }
        Decision::Continue
    }

    fn shadow_names(&self, shadow_limited: &[usize]) -> Vec<&str> {
        shadow_limited
            .iter()
            .filter_map(|p| self.names.get(*p).map(String::as_str))
            .collect()
    }

    fn count_shadow<H: Host>(&self, host: &H, shadow_limited: &[usize]) {
        for p in shadow_limited {
            if let Some(mm) = self.metrics.get(*p) {
                host.increment(&mm.shadow_limited, 1);
            }
        }
    }
}

/// The enforcing denial with the longest wait.
fn most_restrictive(results: &[PolicyResult]) -> Option<usize> {
    results
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.allowed)
        .max_by_key(|(_, r)| r.retry_after_ms)
        .map(|(i, _)| i)
}

fn most_restrictive_local(
    results: &[PolicyResult],
    shadow: impl Fn(usize) -> bool,
) -> Option<usize> {
    results
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.allowed && !shadow(r.policy))
        .max_by_key(|(_, r)| r.retry_after_ms)
        .map(|(i, _)| i)
}
