//! Two filters in one proxy filter entry: [`Chain`] runs a first and a
//! second [`Filter`] in the same stream context, exactly as two filter
//! entries in that order would run, but paying one module's floor, one
//! header-map read, and handing what the first publishes to the second in
//! memory.
//!
//! The equivalence, event by event (what Envoy does with two filters):
//! - request headers go to the first; only if it continues do they go to
//!   the second (in the same callback). A first filter that pauses (to read
//!   the body) or holds (waiting for a key fetch) keeps the second from
//!   seeing anything until it lets the request through: then the second
//!   gets the headers, the body buffered so far and the trailers, as Envoy
//!   delivers them to the next filter when iteration resumes. The first's
//!   `resume_request` from a timer or a callout is intercepted for that: the
//!   real resume happens only once the second continues too.
//! - a body chunk or the trailers go to the first, then (if it continues)
//!   to the second.
//! - response callbacks go to the second, then the first (Envoy's encoder
//!   order); the log phase and stream end to both.
//! - callout replies go to the filter that dispatched the call; each filter
//!   gets the timer at its own period.
//!
//! What the second reads of what the first did is exact, served from
//! memory: the request head the first read (with the headers it removed
//! taken out; a header it set makes the second read the map again), the
//! properties it set on this stream, and the identity it published, typed
//! (the second does not parse `edgeward.identity` back). All are still
//! written to the proxy, so later filters and the access log see them.
//!
//! Not covered: a first filter holding the *response* (no edgeward filter
//! does); its response hold would not delay the second's response
//! callbacks.

use crate::config::{err, ConfigError};
use crate::filter::{Filter, Origin, StreamId, Streams, Verdict};
use crate::host::BodyHost;
use crate::host::{
    CalloutResponse, Callouts, Clock, ContextSwitch, GrpcCallRequest, GrpcCallouts, GrpcResponse,
    Host, HostError, HttpCallRequest, LocalReply, LogLevel, Logger, Metrics, PluginHost,
    SharedStore, SharedValue, StreamHost,
};
use crate::http::RequestHead;
use crate::identity::Identity;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

/// Which two filters a [`Chain`] runs, and its own name.
pub trait Pair {
    /// The chain's name: logs say `edgeward-<NAME>` for its configuration.
    const NAME: &'static str;
    type First: Filter;
    type Second: Filter;
}

/// Which filter of the pair a host call comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    First,
    Second,
}

/// A request the second filter has not been given yet, or is not to be
/// given more of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// The first filter stopped the request (paused for its body, or held).
    First(Waiting),
    /// The second filter holds the request: nothing more reaches either
    /// until it resumes it.
    SecondHeld,
    /// The second filter answered it outside a stream callback.
    Answered,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Waiting {
    /// The second filter already has the request headers.
    second_started: bool,
    /// The first holds (an event outside the stream resumes it), rather
    /// than waiting for more of the body.
    held: bool,
    headers_eos: bool,
    /// The last body callback: buffered size, end of stream.
    body: Option<(usize, bool)>,
    trailers: bool,
}

/// What the first filter left for the second on one stream.
#[derive(Debug, Default)]
struct Handover {
    head: Option<RequestHead>,
    properties: Vec<(Vec<String>, Vec<u8>)>,
    /// The identity it published, typed (its JSON is in filter state).
    identity: Option<Rc<Identity>>,
}

/// The chain's state that host calls touch (behind a `RefCell`: filters get
/// the host by shared reference).
#[derive(Debug, Default)]
pub struct Shared {
    stages: BTreeMap<StreamId, Stage>,
    handover: BTreeMap<StreamId, Handover>,
    /// Streams the first filter resumed during the current timer or callout.
    resumed: Vec<StreamId>,
    /// Callouts in flight: which filter dispatched them.
    tokens: BTreeMap<u32, Side>,
    /// Timer period each filter asked for, and what the host was given.
    periods: [u64; 2],
    applied_period: u64,
    last_tick: [u64; 2],
    /// The clock, read once per callback (both filters decide at the same
    /// instant; one host call instead of one per reader).
    now_ms: Option<u64>,
}

/// Two filters run as one; see the module documentation.
pub struct Chain<P: Pair> {
    first: P::First,
    second: P::Second,
    shared: RefCell<Shared>,
}

impl<P: Pair> std::fmt::Debug for Chain<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain").field("name", &P::NAME).finish()
    }
}

fn index(side: Side) -> usize {
    match side {
        Side::First => 0,
        Side::Second => 1,
    }
}

/// The one timer period serving both: the shorter non-zero one.
fn combined_period(p: [u64; 2]) -> u64 {
    match p {
        [0, b] => b,
        [a, 0] => a,
        [a, b] => a.min(b),
    }
}

/// The top-level members of the chain configuration, in order, values
/// untouched (each filter parses its own, strictly, from the same bytes).
struct Parts(Vec<(String, Box<RawValue>)>);

impl<'de> serde::Deserialize<'de> for Parts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Parts;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Parts, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Box<RawValue>>()? {
                    out.push((k, v));
                }
                Ok(Parts(out))
            }
        }
        d.deserialize_map(V)
    }
}

fn chain_host<'a, H>(
    shared: &'a RefCell<Shared>,
    host: &'a H,
    side: Side,
    current: Option<StreamId>,
) -> ChainHost<'a, H> {
    ChainHost {
        inner: host,
        side,
        shared,
        current: Cell::new(current),
    }
}

impl<P: Pair> Chain<P> {
    pub fn first(&self) -> &P::First {
        &self.first
    }

    pub fn second(&self) -> &P::Second {
        &self.second
    }

    fn with_shared<R>(&self, f: impl FnOnce(&mut Shared) -> R) -> Option<R> {
        self.shared.try_borrow_mut().ok().map(|mut s| f(&mut s))
    }

    /// A new host callback: the clock is read again when asked.
    fn new_callback(&self) {
        self.with_shared(|s| s.now_ms = None);
    }

    fn stage(&self, id: StreamId) -> Option<Stage> {
        self.with_shared(|s| s.stages.get(&id).copied()).flatten()
    }

    fn set_stage(&self, id: StreamId, stage: Option<Stage>) {
        self.with_shared(|s| match stage {
            Some(st) => s.stages.insert(id, st),
            None => s.stages.remove(&id),
        });
    }

    /// Gives the second filter what it has not seen of a request the first
    /// let through: the headers (unless already given), the buffered body,
    /// the trailers, stopping where it stops.
    fn run_second<H: Host>(&mut self, host: &H, id: StreamId, w: Waiting) -> Verdict {
        let h2 = chain_host(&self.shared, host, Side::Second, Some(id));
        let mut v = Verdict::Continue;
        if !w.second_started {
            v = self.second.on_request_headers(&h2, id, w.headers_eos);
            // The head and the properties were for these headers only.
            self.with_shared(|s| s.handover.remove(&id));
        }
        // A filter that pauses in its headers still gets the body (that is
        // how it reads it); one that holds or answered gets nothing more.
        if let (Some((size, eos)), Verdict::Continue | Verdict::Pause) = (w.body, v) {
            v = self.second.on_request_body(&h2, id, size, eos);
        }
        if w.trailers && matches!(v, Verdict::Continue | Verdict::Pause) {
            v = self.second.on_request_trailers(&h2, id);
        }
        if v == Verdict::Hold {
            // Nothing more reaches it until it resumes (see ChainHost).
            self.set_stage(id, Some(Stage::SecondHeld));
            return Verdict::Pause;
        }
        v
    }

    /// After the first filter's timer or callout: the requests it resumed go
    /// on to the second, and really continue only if the second lets them.
    fn settle_resumed<H: Host>(&mut self, host: &H, streams: &mut Streams) {
        let resumed = self
            .with_shared(|s| std::mem::take(&mut s.resumed))
            .unwrap_or_default();
        for id in resumed {
            let Some(Stage::First(w)) = self.stage(id) else {
                continue;
            };
            self.set_stage(id, None);
            if let Err(e) = streams.enter(host, id) {
                host.log(
                    LogLevel::Warn,
                    &format!("{}: request {id} is gone: {e}", P::NAME),
                );
                continue;
            }
            let waiting = Waiting { held: false, ..w };
            match self.run_second(host, id, waiting) {
                Verdict::Continue => {
                    if let Err(e) = host.resume_request() {
                        host.log(
                            LogLevel::Warn,
                            &format!("{}: cannot resume request {id}: {e}", P::NAME),
                        );
                    }
                }
                Verdict::Answered => self.set_stage(id, Some(Stage::Answered)),
                // Waits for more body (it comes through the first filter
                // again), or is held by the second (stage set).
                Verdict::Pause | Verdict::Hold => {}
            }
        }
    }

    /// A body chunk or the trailers (`body` None) of a request the first
    /// filter has stopped.
    fn first_stopped<H: Host>(
        &mut self,
        host: &H,
        id: StreamId,
        mut w: Waiting,
        body: Option<(usize, bool)>,
    ) -> Verdict {
        match body {
            Some(b) => w.body = Some(b),
            None => w.trailers = true,
        }
        if w.held {
            // Held: like the driver, the first is not asked until it resumes.
            self.set_stage(id, Some(Stage::First(w)));
            return Verdict::Pause;
        }
        let h1 = chain_host(&self.shared, host, Side::First, Some(id));
        let v = match body {
            Some((size, eos)) => self.first.on_request_body(&h1, id, size, eos),
            None => self.first.on_request_trailers(&h1, id),
        };
        match v {
            Verdict::Continue => {
                self.set_stage(id, None);
                self.run_second(host, id, w)
            }
            Verdict::Pause | Verdict::Hold => {
                w.held = v == Verdict::Hold;
                self.set_stage(id, Some(Stage::First(w)));
                Verdict::Pause
            }
            Verdict::Answered => Verdict::Answered,
        }
    }

    fn request_step<H: Host>(
        &mut self,
        host: &H,
        id: StreamId,
        body: Option<(usize, bool)>,
    ) -> Verdict {
        match self.stage(id) {
            Some(Stage::First(w)) => self.first_stopped(host, id, w, body),
            Some(Stage::SecondHeld | Stage::Answered) => Verdict::Pause,
            None => {
                // Both have the headers: the first, then the second.
                let w = Waiting {
                    second_started: true,
                    held: false,
                    headers_eos: false,
                    body: None,
                    trailers: false,
                };
                self.first_stopped(host, id, w, body)
            }
        }
    }

    /// The stream a callout reply is for (None: the root context) and the
    /// filter that dispatched it (None: unknown token, both are told).
    fn reply_route(&self, origin: Origin, token: u32) -> (Option<StreamId>, Option<Side>) {
        let current = match origin {
            Origin::Root => None,
            Origin::Stream(id) => Some(id),
        };
        let owner = self.with_shared(|s| s.tokens.remove(&token)).flatten();
        (current, owner)
    }

    fn tick_due(&self, side: Side, now: u64) -> bool {
        self.with_shared(|s| {
            let i = index(side);
            let p = s.periods[i];
            let other = s.periods[1 - i];
            p != 0 && (other == 0 || p <= other || now.saturating_sub(s.last_tick[i]) >= p)
        })
        .unwrap_or(false)
    }
}

impl<P: Pair> Filter for Chain<P> {
    const NAME: &'static str = P::NAME;

    fn configure<H: Host>(host: &H, config: &[u8]) -> Result<Self, ConfigError> {
        let names = [P::First::NAME, P::Second::NAME];
        let parts: Parts = serde_json::from_slice(config).map_err(|e| err("", e.to_string()))?;
        let mut found: [Option<&RawValue>; 2] = [None, None];
        for (key, value) in &parts.0 {
            let Some(i) = names.iter().position(|n| n == key) else {
                return Err(err(
                    key.clone(),
                    format!("unknown field, expected `{}` or `{}`", names[0], names[1]),
                ));
            };
            if found[i].is_some() {
                return Err(err(key.clone(), "duplicate field"));
            }
            found[i] = Some(value);
        }
        let part =
            |i: usize| found[i].ok_or_else(|| err("", format!("missing field `{}`", names[i])));
        let (a, b) = (part(0)?, part(1)?);
        let shared = RefCell::new(Shared::default());
        let probe = |side| ChainHost {
            inner: host,
            side,
            shared: &shared,
            current: Cell::new(None),
        };
        let first = P::First::configure(&probe(Side::First), a.get().as_bytes())
            .map_err(|e| e.under(names[0]))?;
        let second = P::Second::configure(&probe(Side::Second), b.get().as_bytes())
            .map_err(|e| e.under(names[1]))?;
        {
            let mut s = shared.borrow_mut();
            s.periods = [first.tick_period_ms(), second.tick_period_ms()];
            s.applied_period = combined_period(s.periods);
        }
        Ok(Chain {
            first,
            second,
            shared,
        })
    }

    fn tick_period_ms(&self) -> u64 {
        self.with_shared(|s| s.applied_period).unwrap_or(0)
    }

    fn on_tick<H: Host>(&mut self, host: &H, streams: &mut Streams) {
        self.new_callback();
        let now = chain_host(&self.shared, host, Side::First, None).now_ms();
        if self.tick_due(Side::First, now) {
            self.with_shared(|s| s.last_tick[0] = now);
            let h1 = chain_host(&self.shared, host, Side::First, None);
            self.first.on_tick(&h1, streams);
            self.settle_resumed(host, streams);
        }
        if self.tick_due(Side::Second, now) {
            self.with_shared(|s| s.last_tick[1] = now);
            let h2 = chain_host(&self.shared, host, Side::Second, None);
            self.second.on_tick(&h2, streams);
        }
    }

    fn on_request_headers<H: Host>(&mut self, host: &H, id: StreamId, eos: bool) -> Verdict {
        self.new_callback();
        let h1 = chain_host(&self.shared, host, Side::First, Some(id));
        let v = self.first.on_request_headers(&h1, id, eos);
        let w = Waiting {
            second_started: false,
            held: v == Verdict::Hold,
            headers_eos: eos,
            body: None,
            trailers: false,
        };
        match v {
            // Held by the second: reported as paused, so the body callbacks
            // still come here (and stop here) until it resumes.
            Verdict::Continue => self.run_second(host, id, w),
            Verdict::Pause | Verdict::Hold => {
                // Held requests are reported as paused so that their body
                // callbacks still arrive: the second needs the size.
                self.set_stage(id, Some(Stage::First(w)));
                Verdict::Pause
            }
            Verdict::Answered => {
                self.with_shared(|s| s.handover.remove(&id));
                Verdict::Answered
            }
        }
    }

    fn on_request_body<H: Host>(
        &mut self,
        host: &H,
        id: StreamId,
        body_size: usize,
        eos: bool,
    ) -> Verdict {
        self.new_callback();
        self.request_step(host, id, Some((body_size, eos)))
    }

    fn on_request_trailers<H: Host>(&mut self, host: &H, id: StreamId) -> Verdict {
        self.new_callback();
        self.request_step(host, id, None)
    }

    fn on_response_headers<H: Host>(&mut self, host: &H, id: StreamId, eos: bool) -> Verdict {
        self.new_callback();
        let h2 = chain_host(&self.shared, host, Side::Second, Some(id));
        match self.second.on_response_headers(&h2, id, eos) {
            Verdict::Continue => {
                let h1 = chain_host(&self.shared, host, Side::First, Some(id));
                self.first.on_response_headers(&h1, id, eos)
            }
            v => v,
        }
    }

    fn on_response_body<H: Host>(
        &mut self,
        host: &H,
        id: StreamId,
        size: usize,
        eos: bool,
    ) -> Verdict {
        self.new_callback();
        let h2 = chain_host(&self.shared, host, Side::Second, Some(id));
        match self.second.on_response_body(&h2, id, size, eos) {
            Verdict::Continue => {
                let h1 = chain_host(&self.shared, host, Side::First, Some(id));
                self.first.on_response_body(&h1, id, size, eos)
            }
            v => v,
        }
    }

    fn on_response_trailers<H: Host>(&mut self, host: &H, id: StreamId) -> Verdict {
        self.new_callback();
        let h2 = chain_host(&self.shared, host, Side::Second, Some(id));
        match self.second.on_response_trailers(&h2, id) {
            Verdict::Continue => {
                let h1 = chain_host(&self.shared, host, Side::First, Some(id));
                self.first.on_response_trailers(&h1, id)
            }
            v => v,
        }
    }

    fn on_log<H: Host>(&mut self, host: &H, id: StreamId) {
        self.new_callback();
        let h1 = chain_host(&self.shared, host, Side::First, Some(id));
        self.first.on_log(&h1, id);
        let h2 = chain_host(&self.shared, host, Side::Second, Some(id));
        self.second.on_log(&h2, id);
    }

    fn on_http_call_response<H: Host>(
        &mut self,
        host: &H,
        streams: &mut Streams,
        origin: Origin,
        token: u32,
        response: &dyn CalloutResponse,
    ) {
        self.new_callback();
        let (current, owner) = self.reply_route(origin, token);
        if owner != Some(Side::Second) {
            let h1 = chain_host(&self.shared, host, Side::First, current);
            self.first
                .on_http_call_response(&h1, streams, origin, token, response);
            self.settle_resumed(host, streams);
        }
        if owner != Some(Side::First) {
            let h2 = chain_host(&self.shared, host, Side::Second, current);
            self.second
                .on_http_call_response(&h2, streams, origin, token, response);
        }
    }

    fn on_grpc_call_response<H: Host>(
        &mut self,
        host: &H,
        streams: &mut Streams,
        origin: Origin,
        token: u32,
        response: &dyn GrpcResponse,
    ) {
        self.new_callback();
        let (current, owner) = self.reply_route(origin, token);
        if owner != Some(Side::Second) {
            let h1 = chain_host(&self.shared, host, Side::First, current);
            self.first
                .on_grpc_call_response(&h1, streams, origin, token, response);
            self.settle_resumed(host, streams);
        }
        if owner != Some(Side::First) {
            let h2 = chain_host(&self.shared, host, Side::Second, current);
            self.second
                .on_grpc_call_response(&h2, streams, origin, token, response);
        }
    }

    fn on_stream_done(&mut self, id: StreamId) {
        self.with_shared(|s| {
            s.stages.remove(&id);
            s.handover.remove(&id);
        });
        self.first.on_stream_done(id);
        self.second.on_stream_done(id);
    }
}

/// The host one filter of a [`Chain`] sees: the real one, plus the
/// in-memory handover, the first filter's resumes held back until the
/// second agrees, callout ownership and the shared timer.
pub struct ChainHost<'a, H> {
    inner: &'a H,
    side: Side,
    shared: &'a RefCell<Shared>,
    /// The stream the following calls act on (None: the root context).
    current: Cell<Option<StreamId>>,
}

impl<H> ChainHost<'_, H> {
    fn with_shared<R>(&self, f: impl FnOnce(&mut Shared) -> R) -> Option<R> {
        self.shared.try_borrow_mut().ok().map(|mut s| f(&mut s))
    }

    fn handover<R>(&self, f: impl FnOnce(&mut Handover) -> R) -> Option<R> {
        let id = self.current.get()?;
        self.with_shared(|s| f(s.handover.entry(id).or_default()))
    }

    fn cached<R>(&self, f: impl FnOnce(&mut Handover) -> Option<R>) -> Option<R> {
        let id = self.current.get()?;
        self.with_shared(|s| s.handover.get_mut(&id).and_then(f))
            .flatten()
    }
}

impl<H: Clock> Clock for ChainHost<'_, H> {
    fn now_ms(&self) -> u64 {
        if let Some(Some(now)) = self.with_shared(|s| s.now_ms) {
            return now;
        }
        let now = self.inner.now_ms();
        self.with_shared(|s| s.now_ms = Some(now));
        now
    }
}

impl<H: SharedStore> SharedStore for ChainHost<'_, H> {
    fn get_shared(&self, key: &str) -> Result<SharedValue, HostError> {
        self.inner.get_shared(key)
    }
    fn set_shared(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), HostError> {
        self.inner.set_shared(key, value, cas)
    }
}

impl<H: Callouts> Callouts for ChainHost<'_, H> {
    fn dispatch_http_call(&self, request: &HttpCallRequest) -> Result<u32, HostError> {
        let token = self.inner.dispatch_http_call(request)?;
        self.with_shared(|s| s.tokens.insert(token, self.side));
        Ok(token)
    }
}

impl<H: GrpcCallouts> GrpcCallouts for ChainHost<'_, H> {
    fn dispatch_grpc_call(&self, request: &GrpcCallRequest) -> Result<u32, HostError> {
        let token = self.inner.dispatch_grpc_call(request)?;
        self.with_shared(|s| s.tokens.insert(token, self.side));
        Ok(token)
    }
}

impl<H: Metrics> Metrics for ChainHost<'_, H> {
    fn increment(&self, name: &str, delta: u64) {
        self.inner.increment(name, delta)
    }
}

impl<H: StreamHost> StreamHost for ChainHost<'_, H> {
    fn request_headers(&self) -> Result<Vec<(String, String)>, HostError> {
        if self.side == Side::Second {
            let cached = self.cached(|h| {
                h.head.as_ref().map(|head| {
                    head.iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect()
                })
            });
            if let Some(pairs) = cached {
                return Ok(pairs);
            }
        }
        self.inner.request_headers()
    }

    fn request_head(&self) -> Result<RequestHead, HostError> {
        if self.side == Side::Second {
            if let Some(head) = self.cached(|h| h.head.take()) {
                return Ok(head);
            }
            return self.inner.request_head();
        }
        let head = self.inner.request_head()?;
        self.handover(|h| h.head = Some(head.clone()));
        Ok(head)
    }

    fn request_header(&self, name: &str) -> Result<Option<String>, HostError> {
        if self.side == Side::Second && !name.bytes().any(|b| b.is_ascii_uppercase()) {
            let cached = self.cached(|h| {
                h.head
                    .as_ref()
                    .map(|head| head.first(name).map(str::to_string))
            });
            if let Some(v) = cached {
                return Ok(v);
            }
        }
        self.inner.request_header(name)
    }

    fn set_request_header(&self, name: &str, value: Option<&str>) -> Result<(), HostError> {
        self.inner.set_request_header(name, value)?;
        self.cached(|h| {
            let head = h.head.take()?;
            // A removal is mirrored (every value, any case, as Envoy
            // does); a value set makes the next reader ask the proxy.
            if value.is_none() {
                h.head = Some(head.without(name));
            }
            Some(())
        });
        Ok(())
    }

    fn property(&self, path: &[&str]) -> Result<Option<Vec<u8>>, HostError> {
        let cached = self.cached(|h| {
            h.properties
                .iter()
                .find(|(p, _)| p.iter().map(String::as_str).eq(path.iter().copied()))
                .map(|(_, v)| v.clone())
        });
        match cached {
            Some(v) => Ok(Some(v)),
            None => self.inner.property(path),
        }
    }

    fn set_property(&self, path: &[&str], value: &[u8]) -> Result<(), HostError> {
        self.inner.set_property(path, value)?;
        self.handover(|h| {
            let key: Vec<String> = path.iter().map(|s| s.to_string()).collect();
            match h.properties.iter_mut().find(|(p, _)| *p == key) {
                Some((_, v)) => *v = value.to_vec(),
                None => h.properties.push((key, value.to_vec())),
            }
        });
        Ok(())
    }

    fn publish_identity(&self, json: &[u8], identity: &Rc<Identity>) -> Result<(), HostError> {
        // Written to the proxy as always (later filters, the access log);
        // the second filter is handed the typed copy instead of parsing
        // the JSON back.
        self.inner.publish_identity(json, identity)?;
        if self.side == Side::First {
            self.handover(|h| h.identity = Some(identity.clone()));
        }
        Ok(())
    }

    fn handed_identity(&self) -> Option<Rc<Identity>> {
        if self.side == Side::Second {
            if let Some(identity) = self.cached(|h| h.identity.clone()) {
                return Some(identity);
            }
        }
        self.inner.handed_identity()
    }

    fn send_local_reply(&self, reply: &LocalReply) -> Result<(), HostError> {
        self.inner.send_local_reply(reply)
    }

    fn peer_uri_san(&self) -> Result<Option<String>, HostError> {
        self.inner.peer_uri_san()
    }

    fn peer_address(&self) -> Result<Option<String>, HostError> {
        self.inner.peer_address()
    }

    fn resume_request(&self) -> Result<(), HostError> {
        let Some(id) = self.current.get() else {
            return self.inner.resume_request();
        };
        let held_back = self.with_shared(|s| match (self.side, s.stages.get(&id)) {
            (Side::First, Some(Stage::First(_))) => {
                // The second has yet to see the request: the chain resumes
                // it once the second continues too.
                s.resumed.push(id);
                true
            }
            (Side::Second, Some(Stage::SecondHeld)) => {
                s.stages.remove(&id);
                false
            }
            _ => false,
        });
        match held_back {
            Some(true) => Ok(()),
            Some(false) => self.inner.resume_request(),
            // Cannot tell: never let the request past the second unseen.
            None => Err(HostError::Other("chain state busy".into())),
        }
    }

    fn resume_response(&self) -> Result<(), HostError> {
        self.inner.resume_response()
    }
}

impl<H: BodyHost> BodyHost for ChainHost<'_, H> {
    fn request_body(&self, start: usize, max: usize) -> Result<Vec<u8>, HostError> {
        self.inner.request_body(start, max)
    }
    fn replace_request_body(&self, body: &[u8]) -> Result<(), HostError> {
        self.inner.replace_request_body(body)
    }
    fn response_headers(&self) -> Result<Vec<(String, String)>, HostError> {
        self.inner.response_headers()
    }
    fn set_response_header(&self, name: &str, value: Option<&str>) -> Result<(), HostError> {
        self.inner.set_response_header(name, value)
    }
    fn response_body(&self, start: usize, max: usize) -> Result<Vec<u8>, HostError> {
        self.inner.response_body(start, max)
    }
    fn replace_response_body(&self, body: &[u8]) -> Result<(), HostError> {
        self.inner.replace_response_body(body)
    }
}

impl<H: ContextSwitch> ContextSwitch for ChainHost<'_, H> {
    fn switch_to_context(&self, context_id: u32) -> Result<(), HostError> {
        self.inner.switch_to_context(context_id)?;
        self.current.set(Some(context_id));
        Ok(())
    }
}

impl<H: Logger> Logger for ChainHost<'_, H> {
    fn log(&self, level: LogLevel, message: &str) {
        self.inner.log(level, message)
    }
    fn log_enabled(&self, level: LogLevel) -> bool {
        self.inner.log_enabled(level)
    }
}

impl<H: PluginHost> PluginHost for ChainHost<'_, H> {
    fn plugin_configuration(&self) -> Result<Vec<u8>, HostError> {
        self.inner.plugin_configuration()
    }
    fn set_tick_period_ms(&self, ms: u64) -> Result<(), HostError> {
        let change = self
            .with_shared(|s| {
                s.periods[index(self.side)] = ms;
                let period = combined_period(s.periods);
                (period != s.applied_period).then_some(period)
            })
            .flatten();
        if let Some(period) = change {
            self.inner.set_tick_period_ms(period)?;
            self.with_shared(|s| s.applied_period = period);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::fake::FakeHost;
    use crate::host::BufferedResponse;
    use crate::problem::problem_reply;
    use crate::reason::Reason;

    /// Records what it saw; `/pause` paths pause for the body, `/hold`
    /// paths hold until the next tick, `/deny` answers; with `dispatch`,
    /// sends a callout on every tick.
    #[derive(Default)]
    struct Probe {
        seen: Vec<String>,
        held: Vec<StreamId>,
        ticks: usize,
        replies: usize,
    }

    fn on_headers<H: Host>(p: &mut Probe, host: &H, id: StreamId, tag: &str) -> Verdict {
        let path = host
            .request_header(":path")
            .ok()
            .flatten()
            .unwrap_or_default();
        p.seen.push(format!("{tag} headers {path}"));
        if path.contains(&format!("/{tag}-pause")) {
            Verdict::Pause
        } else if path.contains(&format!("/{tag}-hold")) {
            p.held.push(id);
            Verdict::Hold
        } else if path.contains(&format!("/{tag}-deny")) {
            let _ = host.send_local_reply(&problem_reply(tag, Reason::InternalError));
            Verdict::Answered
        } else {
            Verdict::Continue
        }
    }

    macro_rules! probe {
        ($name:ident, $tag:literal, $period:expr) => {
            struct $name(Probe);
            impl Filter for $name {
                const NAME: &'static str = $tag;
                fn configure<H: Host>(_h: &H, c: &[u8]) -> Result<Self, ConfigError> {
                    if c != b"{}" {
                        return Err(err("x", "must be {}"));
                    }
                    Ok($name(Probe::default()))
                }
                fn tick_period_ms(&self) -> u64 {
                    $period
                }
                fn on_tick<H: Host>(&mut self, host: &H, streams: &mut Streams) {
                    self.0.ticks += 1;
                    for id in std::mem::take(&mut self.0.held) {
                        let _ = streams.resume_request(host, id);
                    }
                    let _ = host.dispatch_http_call(&HttpCallRequest {
                        cluster: $tag.into(),
                        headers: vec![],
                        body: None,
                        timeout_ms: 1,
                    });
                }
                fn on_request_headers<H: Host>(
                    &mut self,
                    h: &H,
                    id: StreamId,
                    _e: bool,
                ) -> Verdict {
                    on_headers(&mut self.0, h, id, $tag)
                }
                fn on_request_body<H: Host>(
                    &mut self,
                    _h: &H,
                    _id: StreamId,
                    n: usize,
                    eos: bool,
                ) -> Verdict {
                    self.0.seen.push(format!("{} body {n} {eos}", $tag));
                    if eos {
                        Verdict::Continue
                    } else {
                        Verdict::Pause
                    }
                }
                fn on_request_trailers<H: Host>(&mut self, _h: &H, _id: StreamId) -> Verdict {
                    self.0.seen.push(format!("{} trailers", $tag));
                    Verdict::Continue
                }
                fn on_http_call_response<H: Host>(
                    &mut self,
                    _h: &H,
                    _s: &mut Streams,
                    _o: Origin,
                    _t: u32,
                    _r: &dyn CalloutResponse,
                ) {
                    self.0.replies += 1;
                }
            }
        };
    }
    probe!(A, "a", 100);
    probe!(B, "b", 300);

    struct AB;
    impl Pair for AB {
        const NAME: &'static str = "ab";
        type First = A;
        type Second = B;
    }

    fn driver(host: &FakeHost) -> crate::filter::Driver<Chain<AB>> {
        *host.plugin_config.borrow_mut() = br#"{"a": {}, "b": {}}"#.to_vec();
        let mut d = crate::filter::Driver::<Chain<AB>>::new(1);
        assert!(d.configure(host));
        d
    }

    fn seen(d: &crate::filter::Driver<Chain<AB>>) -> (Vec<String>, Vec<String>) {
        let c = d.filter().unwrap();
        (c.first().0.seen.clone(), c.second().0.seen.clone())
    }

    #[test]
    fn the_second_sees_the_body_once_the_first_stops_pausing() {
        use crate::filter::Action;
        let host = FakeHost::new(0);
        let mut d = driver(&host);
        host.start_stream(2, &[(":path", "/a-pause")]);
        assert_eq!(d.on_request_headers(&host, 2, false), Action::Pause);
        assert_eq!(d.on_request_body(&host, 2, 3, false), Action::Pause);
        assert!(seen(&d).1.is_empty(), "the second waits");
        assert_eq!(d.on_request_body(&host, 2, 7, true), Action::Continue);
        assert_eq!(seen(&d).1, vec!["b headers /a-pause", "b body 7 true"]);
    }

    #[test]
    fn a_held_request_reaches_the_second_with_its_body_and_trailers_when_resumed() {
        use crate::filter::Action;
        let host = FakeHost::new(0);
        let mut d = driver(&host);
        host.start_stream(2, &[(":path", "/a-hold")]);
        assert_eq!(d.on_request_headers(&host, 2, false), Action::Pause);
        assert_eq!(d.on_request_body(&host, 2, 5, true), Action::Pause);
        assert_eq!(d.on_request_trailers(&host, 2), Action::Pause);
        assert_eq!(seen(&d).0, vec!["a headers /a-hold"], "held: not asked");
        host.set_current(1);
        d.on_tick(&host);
        assert_eq!(
            seen(&d).1,
            vec!["b headers /a-hold", "b body 5 true", "b trailers"]
        );
        assert_eq!(host.stream(2).resumed, 1);

        // Held by the first, then answered by the second: never resumed.
        host.start_stream(3, &[(":path", "/a-hold/b-deny")]);
        assert_eq!(d.on_request_headers(&host, 3, true), Action::Pause);
        host.set_current(1);
        d.on_tick(&host);
        assert_eq!(host.stream(3).resumed, 0);
        assert_eq!(
            host.stream(3).reply.unwrap().details,
            "edgeward_b_denied.internal_error"
        );
        assert_eq!(d.on_request_body(&host, 3, 1, true), Action::Pause);
    }

    #[test]
    fn the_second_holding_stops_everything_until_it_resumes() {
        use crate::filter::Action;
        let host = FakeHost::new(0);
        let mut d = driver(&host);
        host.start_stream(2, &[(":path", "/b-hold")]);
        assert_eq!(d.on_request_headers(&host, 2, false), Action::Pause);
        assert_eq!(d.on_request_body(&host, 2, 4, true), Action::Pause);
        assert_eq!(
            seen(&d).0,
            vec!["a headers /b-hold"],
            "the first not asked either"
        );
        host.set_current(1);
        host.set_now_ms(300);
        d.on_tick(&host);
        assert_eq!(host.stream(2).resumed, 1, "the second's own resume is real");
    }

    #[test]
    fn timers_keep_each_period_and_callout_replies_go_to_their_dispatcher() {
        let host = FakeHost::new(1000);
        let mut d = driver(&host);
        assert_eq!(host.tick_period_ms.get(), 100, "the shorter period");
        for _ in 0..3 {
            host.set_current(1);
            d.on_tick(&host);
            host.advance_ms(100);
        }
        let c = d.filter().unwrap();
        assert_eq!((c.first().0.ticks, c.second().0.ticks), (3, 1));
        let calls: Vec<String> = host
            .calls
            .borrow()
            .iter()
            .map(|c| c.cluster.clone())
            .collect();
        assert_eq!(calls, vec!["a", "b", "a", "a"]);
        let r = BufferedResponse::default();
        for token in 1..=4 {
            d.on_http_call_response(&host, 1, token, &r);
        }
        let c = d.filter().unwrap();
        assert_eq!((c.first().0.replies, c.second().0.replies), (3, 1));
    }

    #[test]
    fn configuration_members_are_required_unique_and_prefixed() {
        for (cfg, want) in [
            (&br#"{"a": {}}"#[..], "missing field `b`"),
            (br#"{"a": {}, "b": {}, "c": {}}"#, "c: unknown field"),
            (br#"{"a": {}, "b": {}, "b": {}}"#, "b: duplicate field"),
            (br#"{"a": {}, "b": {"y": 1}}"#, "b.x: must be {}"),
            (b"[]", "expected an object"),
        ] {
            let host = FakeHost::new(0);
            *host.plugin_config.borrow_mut() = cfg.to_vec();
            let mut d = crate::filter::Driver::<Chain<AB>>::new(1);
            assert!(!d.configure(&host));
            let logs = host.logs.borrow();
            assert!(
                logs.iter().any(|(_, m)| m.contains(want)),
                "{want}: {logs:?}"
            );
        }
    }
}
