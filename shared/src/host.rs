//! The host boundary: every call a filter makes into the proxy.
//!
//! Each capability is its own small trait so that a host which lacks one
//! (APISIX has no shared data or gRPC, Kong has no gRPC) can say so with
//! [`HostError::Unimplemented`] instead of the SDK panicking. Filters in
//! `filters/` implement these over `proxy_wasm::hostcalls`; tests use
//! [`fake::FakeHost`].

#[cfg(any(test, feature = "fake-host"))]
pub mod fake;

/// Why a host call did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostError {
    /// The thing asked for does not exist (missing property, unknown key).
    NotFound,
    /// Compare-and-swap lost: someone else wrote the value first.
    CasMismatch,
    /// The host refused the call in this phase (e.g. headers already sent).
    NotAvailable,
    /// The host does not implement this call at all.
    Unimplemented,
    /// Any other failure, with the host's status for the log.
    Other(String),
}

impl std::fmt::Display for HostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostError::NotFound => write!(f, "not found"),
            HostError::CasMismatch => write!(f, "compare-and-swap mismatch"),
            HostError::NotAvailable => write!(f, "not available in this phase"),
            HostError::Unimplemented => write!(f, "not implemented by this host"),
            HostError::Other(s) => write!(f, "{s}"),
        }
    }
}

/// Wall-clock time. Token expiry and cache lifetimes are judged against it.
pub trait Clock {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

/// A value read from shared data, with the token to pass back for
/// compare-and-swap.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SharedValue {
    pub data: Option<Vec<u8>>,
    pub cas: Option<u32>,
}

/// Key/value store shared by every VM (every worker thread) of one plugin.
pub trait SharedStore {
    fn get_shared(&self, key: &str) -> Result<SharedValue, HostError>;
    /// Writes `value`; with `cas` set, only if nobody wrote since that read
    /// (otherwise [`HostError::CasMismatch`]).
    fn set_shared(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), HostError>;
}

/// An outgoing HTTP request to a named upstream (an Envoy cluster).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCallRequest {
    pub cluster: String,
    /// Includes the pseudo-headers `:method`, `:path` and `:authority`.
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub timeout_ms: u64,
}

/// Asynchronous callouts. The reply comes back later through the filter's
/// `on_http_call_response`, matched by the returned token.
pub trait Callouts {
    fn dispatch_http_call(&self, request: &HttpCallRequest) -> Result<u32, HostError>;
}

/// The reply to an HTTP callout, read inside `on_http_call_response`.
pub trait CalloutResponse {
    /// The `:status`, or None when the call failed (timeout, reset, no
    /// healthy upstream).
    fn status(&self) -> Option<u16>;
    /// Size of the body the host buffered.
    fn body_size(&self) -> usize;
    /// The body, read only when the caller accepts its size.
    fn body(&self) -> Result<Vec<u8>, HostError>;
}

/// A canned callout response (tests, and hosts that hand the whole reply over).
#[derive(Debug, Clone, Default)]
pub struct BufferedResponse {
    pub status: Option<u16>,
    pub body: Vec<u8>,
}

impl CalloutResponse for BufferedResponse {
    fn status(&self) -> Option<u16> {
        self.status
    }
    fn body_size(&self) -> usize {
        self.body.len()
    }
    fn body(&self) -> Result<Vec<u8>, HostError> {
        Ok(self.body.clone())
    }
}

/// A unary gRPC reply, read inside the gRPC callback.
pub trait GrpcResponse {
    /// The gRPC status code (0 = OK).
    fn status_code(&self) -> u32;
    /// The status message the host reported, if any (failures only).
    fn status_message(&self) -> Option<String>;
    /// Size of the reply message (0 on failure).
    fn message_size(&self) -> usize;
    /// The serialised reply message, read only when the caller accepts its size.
    fn message(&self) -> Result<Vec<u8>, HostError>;
}

/// A canned gRPC reply (tests).
#[derive(Debug, Clone, Default)]
pub struct BufferedGrpcResponse {
    pub status_code: u32,
    pub status_message: Option<String>,
    pub message: Vec<u8>,
}

impl GrpcResponse for BufferedGrpcResponse {
    fn status_code(&self) -> u32 {
        self.status_code
    }
    fn status_message(&self) -> Option<String> {
        self.status_message.clone()
    }
    fn message_size(&self) -> usize {
        self.message.len()
    }
    fn message(&self) -> Result<Vec<u8>, HostError> {
        Ok(self.message.clone())
    }
}

/// The plugin itself: its configuration and its timer.
pub trait PluginHost {
    /// The plugin configuration bytes (empty when none was given).
    fn plugin_configuration(&self) -> Result<Vec<u8>, HostError>;
    /// Asks for `on_tick` every `ms` milliseconds (0 stops it).
    fn set_tick_period_ms(&self, ms: u64) -> Result<(), HostError>;
}

/// Counters. The adapter defines each name once and caches its id.
pub trait Metrics {
    fn increment(&self, name: &str, delta: u64);
}

/// A reply the filter sends instead of forwarding the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Short detail for Envoy's `%RESPONSE_CODE_DETAILS%`.
    pub details: String,
}

/// Calls that act on one HTTP stream (the current request).
pub trait StreamHost {
    /// All request headers, pseudo-headers included, names lower-case,
    /// repeated headers as repeated pairs.
    fn request_headers(&self) -> Result<Vec<(String, String)>, HostError>;
    /// The request headers as a [`RequestHead`] (hosts may build it without
    /// copying every header).
    fn request_head(&self) -> Result<crate::http::RequestHead, HostError> {
        self.request_headers().map(crate::http::RequestHead::new)
    }
    /// One request header (the first value), when a filter needs only a few.
    fn request_header(&self, name: &str) -> Result<Option<String>, HostError>;
    /// Replaces every value of `name`, or removes them all when `value` is None.
    fn set_request_header(&self, name: &str, value: Option<&str>) -> Result<(), HostError>;
    fn property(&self, path: &[&str]) -> Result<Option<Vec<u8>>, HostError>;
    fn set_property(&self, path: &[&str], value: &[u8]) -> Result<(), HostError>;
    /// Publishes the verified identity: `json` (its serialisation) goes to
    /// filter state `edgeward.identity` for later filters and the access
    /// log; a host that runs a later filter in the same module
    /// ([`crate::chain`]) also keeps `identity` to hand it over typed.
    fn publish_identity(
        &self,
        json: &[u8],
        identity: &std::rc::Rc<crate::identity::Identity>,
    ) -> Result<(), HostError> {
        let _ = identity;
        self.set_property(&[crate::identity::IDENTITY_PROPERTY], json)
    }
    /// The identity an earlier filter of the same module published on this
    /// stream with [`StreamHost::publish_identity`], typed; None: read
    /// filter state `edgeward.identity`.
    fn handed_identity(&self) -> Option<std::rc::Rc<crate::identity::Identity>> {
        None
    }
    fn send_local_reply(&self, reply: &LocalReply) -> Result<(), HostError>;
    /// The first URI SAN of the downstream peer's TLS certificate (a SPIFFE
    /// ID under mTLS); None on a plain connection or without a client
    /// certificate. Envoy: property `connection.uri_san_peer_certificate`.
    fn peer_uri_san(&self) -> Result<Option<String>, HostError> {
        match self.property(&["connection", "uri_san_peer_certificate"]) {
            Ok(Some(v)) if !v.is_empty() => String::from_utf8(v)
                .map(Some)
                .map_err(|_| HostError::Other("peer URI SAN is not UTF-8".into())),
            Ok(_) | Err(HostError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }
    /// The downstream peer's address (`ip:port`). Envoy: `source.address`.
    fn peer_address(&self) -> Result<Option<String>, HostError> {
        match self.property(&["source", "address"]) {
            Ok(Some(v)) if !v.is_empty() => Ok(String::from_utf8(v).ok()),
            Ok(_) | Err(HostError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }
    /// Continues a request that an earlier callback paused.
    fn resume_request(&self) -> Result<(), HostError>;
    /// Continues a response that an earlier callback paused.
    fn resume_response(&self) -> Result<(), HostError>;
}

/// Bodies and the response, for filters that inspect payloads (schema
/// enforcement, PII masking). Only valid in the callback that delivers them.
pub trait BodyHost {
    /// Up to `max` bytes of the buffered request body from `start`.
    fn request_body(&self, start: usize, max: usize) -> Result<Vec<u8>, HostError>;
    fn replace_request_body(&self, body: &[u8]) -> Result<(), HostError>;
    fn response_headers(&self) -> Result<Vec<(String, String)>, HostError>;
    /// Replaces every value of `name`, or removes them all when `value` is None.
    fn set_response_header(&self, name: &str, value: Option<&str>) -> Result<(), HostError>;
    fn response_body(&self, start: usize, max: usize) -> Result<Vec<u8>, HostError>;
    fn replace_response_body(&self, body: &[u8]) -> Result<(), HostError>;
}

/// An outgoing unary gRPC call (e.g. `envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrpcCallRequest {
    /// An Envoy cluster with HTTP/2 enabled.
    pub cluster: String,
    pub service: String,
    pub method: String,
    pub initial_metadata: Vec<(String, Vec<u8>)>,
    /// The serialised request message.
    pub message: Vec<u8>,
    pub timeout_ms: u64,
}

/// gRPC callouts; the reply comes back through the filter's
/// `on_grpc_call_response`, matched by the returned token. Hosts without
/// gRPC (APISIX, Kong) answer [`HostError::Unimplemented`].
pub trait GrpcCallouts {
    fn dispatch_grpc_call(&self, request: &GrpcCallRequest) -> Result<u32, HostError>;
}

/// Lets code running in one context (the root, on a timer) act on another
/// (a paused request) of the same VM.
pub trait ContextSwitch {
    fn switch_to_context(&self, context_id: u32) -> Result<(), HostError>;
}

/// Log lines. Kept behind the host so tests can assert on what was logged.
pub trait Logger {
    fn log(&self, level: LogLevel, message: &str);
    /// Whether `level` would be written, so hot paths skip formatting.
    fn log_enabled(&self, _level: LogLevel) -> bool {
        true
    }
}

/// Logs the message `make` builds, only if `level` is enabled.
pub fn log_lazy<L: Logger + ?Sized>(host: &L, level: LogLevel, make: impl FnOnce() -> String) {
    if host.log_enabled(level) {
        host.log(level, &make());
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// Everything a filter uses from its host. Blanket-implemented.
pub trait Host:
    Clock
    + SharedStore
    + Callouts
    + GrpcCallouts
    + Metrics
    + StreamHost
    + BodyHost
    + ContextSwitch
    + Logger
    + PluginHost
{
}

impl<T> Host for T where
    T: Clock
        + SharedStore
        + Callouts
        + GrpcCallouts
        + Metrics
        + StreamHost
        + BodyHost
        + ContextSwitch
        + Logger
        + PluginHost
{
}
