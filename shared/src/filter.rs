//! The filter layer: what every edgeward filter implements ([`Filter`]) and
//! the one driver ([`Driver`]) that turns proxy events into calls on it.
//!
//! A filter only decides: each callback returns a [`Verdict`]. The driver
//! owns what is the same for every filter: loading and validating the
//! configuration (an error refuses the plugin), the timer, refusing traffic
//! while unconfigured, the per-stream flow state (a request held for an
//! asynchronous answer stays held through its body and trailers, an
//! answered one never continues), acting on another stream from a timer or
//! callout ([`Streams`]) and switching the host back afterwards. The
//! proxy-wasm adapter (`filters/wasm-host`) only maps ABI exports onto a
//! driver, so the whole event flow runs natively on the fake host.

use crate::config::ConfigError;
use crate::host::{CalloutResponse, GrpcResponse, Host, HostError, LocalReply, LogLevel};
use crate::problem::problem_reply;
use crate::reason::Reason;
use std::collections::BTreeMap;

/// A proxy-wasm context id of an HTTP stream.
pub type StreamId = u32;

/// What a filter callback decided for its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Go on with the next filter.
    Continue,
    /// Stop here; the next callback of this stream (more body) decides.
    Pause,
    /// Wait for an event outside this stream (a key fetch, a gRPC reply):
    /// everything of this direction stays paused until the filter resumes
    /// the stream through [`Streams`].
    Hold,
    /// The filter sent a local reply: this direction never continues.
    Answered,
}

/// What an ABI callback returns to the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Continue,
    Pause,
}

/// Who dispatched a callout: the plugin's root context or a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Root,
    Stream(StreamId),
}

/// The current stream's request head. When the host cannot give it, logs
/// why (prefixed with the filter's `NAME`) and returns None: the caller then
/// answers `internal_error`, in its own way.
pub fn request_head_or_log<H: Host>(host: &H, filter: &str) -> Option<crate::http::RequestHead> {
    match host.request_head() {
        Ok(head) => Some(head),
        Err(e) => {
            host.log(
                LogLevel::Error,
                &format!("{filter}: cannot read request headers: {e}"),
            );
            None
        }
    }
}

/// An edgeward filter. Every method but `configure` and
/// `on_request_headers` has a default that does nothing and continues.
pub trait Filter: Sized {
    /// Short name: logs say `edgeward-<NAME>`, local replies
    /// `edgeward_<NAME>_denied.<reason>`.
    const NAME: &'static str;

    /// Parses and validates the plugin configuration; an error makes the
    /// proxy refuse the plugin.
    fn configure<H: Host>(host: &H, config: &[u8]) -> Result<Self, ConfigError>;

    /// The timer period this filter needs (0: none).
    fn tick_period_ms(&self) -> u64 {
        0
    }

    fn on_tick<H: Host>(&mut self, _host: &H, _streams: &mut Streams) {}

    fn on_request_headers<H: Host>(
        &mut self,
        host: &H,
        stream: StreamId,
        end_of_stream: bool,
    ) -> Verdict;

    fn on_request_body<H: Host>(
        &mut self,
        _host: &H,
        _stream: StreamId,
        _body_size: usize,
        _end_of_stream: bool,
    ) -> Verdict {
        Verdict::Continue
    }

    fn on_request_trailers<H: Host>(&mut self, _host: &H, _stream: StreamId) -> Verdict {
        Verdict::Continue
    }

    fn on_response_headers<H: Host>(
        &mut self,
        _host: &H,
        _stream: StreamId,
        _end_of_stream: bool,
    ) -> Verdict {
        Verdict::Continue
    }

    fn on_response_body<H: Host>(
        &mut self,
        _host: &H,
        _stream: StreamId,
        _body_size: usize,
        _end_of_stream: bool,
    ) -> Verdict {
        Verdict::Continue
    }

    fn on_response_trailers<H: Host>(&mut self, _host: &H, _stream: StreamId) -> Verdict {
        Verdict::Continue
    }

    /// The stream is complete (also when answered locally or reset): the
    /// access-log phase.
    fn on_log<H: Host>(&mut self, _host: &H, _stream: StreamId) {}

    fn on_http_call_response<H: Host>(
        &mut self,
        _host: &H,
        _streams: &mut Streams,
        _origin: Origin,
        _token: u32,
        _response: &dyn CalloutResponse,
    ) {
    }

    fn on_grpc_call_response<H: Host>(
        &mut self,
        _host: &H,
        _streams: &mut Streams,
        _origin: Origin,
        _token: u32,
        _response: &dyn GrpcResponse,
    ) {
    }

    /// The stream is gone: forget anything kept for it.
    fn on_stream_done(&mut self, _stream: StreamId) {}
}

/// Where one direction of a stream stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Flow {
    #[default]
    Open,
    Paused,
    Held,
    Answered,
}

#[derive(Debug, Clone, Copy, Default)]
struct StreamState {
    request: Flow,
    response: Flow,
}

/// The streams of one plugin instance, and the way to act on one of them
/// from a timer or a callout reply.
#[derive(Debug, Default)]
pub struct Streams {
    states: BTreeMap<StreamId, StreamState>,
}

impl Streams {
    /// Whether the stream still exists (it may have been reset).
    pub fn exists(&self, id: StreamId) -> bool {
        self.states.contains_key(&id)
    }

    pub fn request_flow(&self, id: StreamId) -> Option<Flow> {
        self.states.get(&id).map(|s| s.request)
    }

    pub fn response_flow(&self, id: StreamId) -> Option<Flow> {
        self.states.get(&id).map(|s| s.response)
    }

    /// Makes the following host calls act on stream `id`.
    pub fn enter<H: Host>(&self, host: &H, id: StreamId) -> Result<(), HostError> {
        if !self.exists(id) {
            return Err(HostError::NotFound);
        }
        host.switch_to_context(id)
    }

    /// Continues a held request (after [`Streams::enter`] effects, if any).
    pub fn resume_request<H: Host>(&mut self, host: &H, id: StreamId) -> Result<(), HostError> {
        self.enter(host, id)?;
        if let Some(s) = self.states.get_mut(&id) {
            s.request = Flow::Open;
        }
        host.resume_request()
    }

    /// Continues a held response.
    pub fn resume_response<H: Host>(&mut self, host: &H, id: StreamId) -> Result<(), HostError> {
        self.enter(host, id)?;
        if let Some(s) = self.states.get_mut(&id) {
            s.response = Flow::Open;
        }
        host.resume_response()
    }

    /// Answers a held request with a local reply.
    pub fn answer<H: Host>(
        &mut self,
        host: &H,
        id: StreamId,
        reply: &LocalReply,
    ) -> Result<(), HostError> {
        self.enter(host, id)?;
        if let Some(s) = self.states.get_mut(&id) {
            s.request = Flow::Answered;
        }
        host.send_local_reply(reply)
    }
}

/// Drives one filter instance (one proxy-wasm root context and its streams).
#[derive(Debug)]
pub struct Driver<F: Filter> {
    root_context: u32,
    filter: Option<F>,
    streams: Streams,
}

impl<F: Filter> Driver<F> {
    pub fn new(root_context: u32) -> Self {
        Driver {
            root_context,
            filter: None,
            streams: Streams::default(),
        }
    }

    pub fn filter(&self) -> Option<&F> {
        self.filter.as_ref()
    }

    pub fn streams(&self) -> &Streams {
        &self.streams
    }

    /// Loads the plugin configuration; false refuses the plugin (logged as
    /// `edgeward-<name>: invalid configuration: <field>: <message>`).
    pub fn configure<H: Host>(&mut self, host: &H) -> bool {
        let fail = |what: String| {
            host.log(LogLevel::Error, &format!("edgeward-{}: {what}", F::NAME));
            false
        };
        let bytes = match host.plugin_configuration() {
            Ok(b) => b,
            Err(e) => return fail(format!("cannot read the plugin configuration: {e}")),
        };
        let filter = match F::configure(host, &bytes) {
            Ok(f) => f,
            Err(e) => return fail(format!("invalid configuration: {e}")),
        };
        if let Err(e) = host.set_tick_period_ms(filter.tick_period_ms()) {
            return fail(format!("cannot start the timer: {e}"));
        }
        self.filter = Some(filter);
        true
    }

    pub fn on_tick<H: Host>(&mut self, host: &H) {
        if let Some(f) = self.filter.as_mut() {
            f.on_tick(host, &mut self.streams);
        }
        let _ = host.switch_to_context(self.root_context);
    }

    pub fn on_request_headers<H: Host>(&mut self, host: &H, id: StreamId, eos: bool) -> Action {
        self.streams.states.entry(id).or_default();
        let verdict = match self.filter.as_mut() {
            Some(f) => f.on_request_headers(host, id, eos),
            None => {
                // Cannot happen after a successful configure; never let a
                // request through unchecked.
                let _ = host.send_local_reply(&problem_reply(F::NAME, Reason::FilterUnconfigured));
                Verdict::Answered
            }
        };
        self.apply_request(id, verdict)
    }

    pub fn on_request_body<H: Host>(
        &mut self,
        host: &H,
        id: StreamId,
        size: usize,
        eos: bool,
    ) -> Action {
        self.request_step(id, |f| f.on_request_body(host, id, size, eos))
    }

    pub fn on_request_trailers<H: Host>(&mut self, host: &H, id: StreamId) -> Action {
        self.request_step(id, |f| f.on_request_trailers(host, id))
    }

    pub fn on_response_headers<H: Host>(&mut self, host: &H, id: StreamId, eos: bool) -> Action {
        self.response_step(id, |f| f.on_response_headers(host, id, eos))
    }

    pub fn on_response_body<H: Host>(
        &mut self,
        host: &H,
        id: StreamId,
        size: usize,
        eos: bool,
    ) -> Action {
        self.response_step(id, |f| f.on_response_body(host, id, size, eos))
    }

    pub fn on_response_trailers<H: Host>(&mut self, host: &H, id: StreamId) -> Action {
        self.response_step(id, |f| f.on_response_trailers(host, id))
    }

    pub fn on_log<H: Host>(&mut self, host: &H, id: StreamId) {
        if let Some(f) = self.filter.as_mut() {
            f.on_log(host, id);
        }
    }

    /// An HTTP callout reply, delivered in the context that dispatched it.
    pub fn on_http_call_response<H: Host>(
        &mut self,
        host: &H,
        context: u32,
        token: u32,
        response: &dyn CalloutResponse,
    ) {
        let origin = self.origin(context);
        if let Some(f) = self.filter.as_mut() {
            f.on_http_call_response(host, &mut self.streams, origin, token, response);
        }
        let _ = host.switch_to_context(context);
    }

    /// A gRPC callout reply (or failure), delivered in the dispatching context.
    pub fn on_grpc_call_response<H: Host>(
        &mut self,
        host: &H,
        context: u32,
        token: u32,
        response: &dyn GrpcResponse,
    ) {
        let origin = self.origin(context);
        if let Some(f) = self.filter.as_mut() {
            f.on_grpc_call_response(host, &mut self.streams, origin, token, response);
        }
        let _ = host.switch_to_context(context);
    }

    /// The stream is gone (completed or reset).
    pub fn on_done(&mut self, id: StreamId) {
        self.streams.states.remove(&id);
        if let Some(f) = self.filter.as_mut() {
            f.on_stream_done(id);
        }
    }

    fn origin(&self, context: u32) -> Origin {
        if context == self.root_context {
            Origin::Root
        } else {
            Origin::Stream(context)
        }
    }

    fn request_step(&mut self, id: StreamId, call: impl FnOnce(&mut F) -> Verdict) -> Action {
        let state = self.streams.states.entry(id).or_default();
        if matches!(state.request, Flow::Held | Flow::Answered) {
            return Action::Pause;
        }
        let verdict = match self.filter.as_mut() {
            Some(f) => call(f),
            None => Verdict::Answered,
        };
        self.apply_request(id, verdict)
    }

    fn response_step(&mut self, id: StreamId, call: impl FnOnce(&mut F) -> Verdict) -> Action {
        let state = self.streams.states.entry(id).or_default();
        if matches!(state.response, Flow::Held | Flow::Answered) {
            return Action::Pause;
        }
        let verdict = match self.filter.as_mut() {
            Some(f) => call(f),
            // Unconfigured: the request was already refused; let its reply out.
            None => Verdict::Continue,
        };
        let state = self.streams.states.entry(id).or_default();
        state.response = flow_of(verdict);
        action_of(verdict)
    }

    fn apply_request(&mut self, id: StreamId, verdict: Verdict) -> Action {
        let state = self.streams.states.entry(id).or_default();
        // A stream answered during the callback (e.g. through `Streams`)
        // stays answered.
        if state.request != Flow::Answered {
            state.request = flow_of(verdict);
        }
        action_of(verdict)
    }
}

fn flow_of(v: Verdict) -> Flow {
    match v {
        Verdict::Continue => Flow::Open,
        Verdict::Pause => Flow::Paused,
        Verdict::Hold => Flow::Held,
        Verdict::Answered => Flow::Answered,
    }
}

fn action_of(v: Verdict) -> Action {
    match v {
        Verdict::Continue => Action::Continue,
        Verdict::Pause | Verdict::Hold | Verdict::Answered => Action::Pause,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::err;
    use crate::host::fake::FakeHost;
    use crate::host::BufferedResponse;

    /// Holds every request whose path is /hold until the next tick, answers
    /// /deny, continues the rest; counts what it saw.
    #[derive(Default)]
    struct Probe {
        held: Vec<StreamId>,
        bodies: usize,
        logs: usize,
        done: Vec<StreamId>,
        callouts: Vec<Origin>,
    }

    impl Filter for Probe {
        const NAME: &'static str = "probe";
        fn configure<H: Host>(_host: &H, config: &[u8]) -> Result<Self, ConfigError> {
            if config == b"bad" {
                return Err(err("x", "is bad"));
            }
            Ok(Probe::default())
        }
        fn tick_period_ms(&self) -> u64 {
            100
        }
        fn on_tick<H: Host>(&mut self, host: &H, streams: &mut Streams) {
            for id in std::mem::take(&mut self.held) {
                let _ = streams.resume_request(host, id);
            }
        }
        fn on_request_headers<H: Host>(&mut self, host: &H, id: StreamId, _eos: bool) -> Verdict {
            match host.request_header(":path").ok().flatten().as_deref() {
                Some("/hold") => {
                    self.held.push(id);
                    Verdict::Hold
                }
                Some("/deny") => {
                    let _ = host.send_local_reply(&problem_reply("probe", Reason::InternalError));
                    Verdict::Answered
                }
                Some("/body") => Verdict::Pause,
                _ => Verdict::Continue,
            }
        }
        fn on_request_body<H: Host>(
            &mut self,
            _h: &H,
            _id: StreamId,
            _s: usize,
            eos: bool,
        ) -> Verdict {
            self.bodies += 1;
            if eos {
                Verdict::Continue
            } else {
                Verdict::Pause
            }
        }
        fn on_log<H: Host>(&mut self, _host: &H, _id: StreamId) {
            self.logs += 1;
        }
        fn on_http_call_response<H: Host>(
            &mut self,
            _host: &H,
            _streams: &mut Streams,
            origin: Origin,
            _token: u32,
            _r: &dyn CalloutResponse,
        ) {
            self.callouts.push(origin);
        }
        fn on_stream_done(&mut self, id: StreamId) {
            self.done.push(id);
        }
    }

    fn configured(host: &FakeHost) -> Driver<Probe> {
        let mut d = Driver::<Probe>::new(1);
        *host.plugin_config.borrow_mut() = b"{}".to_vec();
        assert!(d.configure(host));
        assert_eq!(host.tick_period_ms.get(), 100);
        d
    }

    #[test]
    fn configuration_errors_refuse_the_plugin_and_are_logged() {
        let host = FakeHost::new(0);
        *host.plugin_config.borrow_mut() = b"bad".to_vec();
        let mut d = Driver::<Probe>::new(1);
        assert!(!d.configure(&host));
        assert!(host.logs.borrow().iter().any(|(l, m)| *l == LogLevel::Error
            && m == "edgeward-probe: invalid configuration: x: is bad"));
    }

    #[test]
    fn unconfigured_use_is_refused() {
        let host = FakeHost::new(0);
        let mut d = Driver::<Probe>::new(1);
        host.start_stream(2, &[(":path", "/")]);
        assert_eq!(d.on_request_headers(&host, 2, false), Action::Pause);
        let reply = host.stream(2).reply.unwrap();
        assert_eq!(reply.status, 500);
        assert_eq!(reply.details, "edgeward_probe_denied.filter_unconfigured");
        assert_eq!(d.on_request_body(&host, 2, 10, true), Action::Pause);
    }

    #[test]
    fn a_held_request_stays_held_through_body_and_trailers_until_resumed() {
        let host = FakeHost::new(0);
        let mut d = configured(&host);
        host.start_stream(2, &[(":path", "/hold")]);
        assert_eq!(d.on_request_headers(&host, 2, false), Action::Pause);
        assert_eq!(d.on_request_body(&host, 2, 5, false), Action::Pause);
        assert_eq!(d.on_request_trailers(&host, 2), Action::Pause);
        assert_eq!(
            d.filter().unwrap().bodies,
            0,
            "held: the filter is not asked"
        );
        host.set_current(1);
        d.on_tick(&host);
        assert_eq!(host.stream(2).resumed, 1);
        assert_eq!(host.current(), 1, "back in the root context after the tick");
        assert_eq!(d.streams().request_flow(2), Some(Flow::Open));
        assert_eq!(d.on_request_body(&host, 2, 5, true), Action::Continue);
    }

    #[test]
    fn answered_requests_never_continue_and_paused_ones_see_their_body() {
        let host = FakeHost::new(0);
        let mut d = configured(&host);
        host.start_stream(3, &[(":path", "/deny")]);
        assert_eq!(d.on_request_headers(&host, 3, false), Action::Pause);
        assert_eq!(d.on_request_body(&host, 3, 1, true), Action::Pause);
        host.start_stream(4, &[(":path", "/body")]);
        assert_eq!(d.on_request_headers(&host, 4, false), Action::Pause);
        assert_eq!(d.on_request_body(&host, 4, 1, false), Action::Pause);
        assert_eq!(d.on_request_body(&host, 4, 2, true), Action::Continue);
        assert_eq!(d.filter().unwrap().bodies, 2);
        d.on_log(&host, 3);
        d.on_done(3);
        assert!(!d.streams().exists(3));
        assert_eq!(d.filter().unwrap().done, vec![3]);
        assert_eq!(d.filter().unwrap().logs, 1);
    }

    #[test]
    fn a_reset_held_stream_cannot_be_resumed() {
        let host = FakeHost::new(0);
        let mut d = configured(&host);
        host.start_stream(5, &[(":path", "/hold")]);
        d.on_request_headers(&host, 5, true);
        d.on_done(5);
        d.on_tick(&host);
        assert_eq!(host.stream(5).resumed, 0);
    }

    #[test]
    fn callout_replies_know_their_origin_and_restore_the_context() {
        let host = FakeHost::new(0);
        let mut d = configured(&host);
        host.start_stream(6, &[(":path", "/")]);
        d.on_request_headers(&host, 6, true);
        let r = BufferedResponse::default();
        d.on_http_call_response(&host, 1, 7, &r);
        d.on_http_call_response(&host, 6, 8, &r);
        assert_eq!(
            d.filter().unwrap().callouts,
            vec![Origin::Root, Origin::Stream(6)]
        );
        assert_eq!(host.current(), 6);
    }
}
