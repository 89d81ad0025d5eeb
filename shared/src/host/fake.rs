//! An in-memory host for native tests: records every effect so a test can
//! assert on headers set, replies sent, callouts made, metrics and logs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};

/// What happened to one stream (request context).
#[derive(Debug, Clone, Default)]
pub struct FakeStream {
    pub headers: Vec<(String, String)>,
    pub request_body: Vec<u8>,
    pub response_headers: Vec<(String, String)>,
    pub response_body: Vec<u8>,
    pub properties: BTreeMap<Vec<String>, Vec<u8>>,
    pub reply: Option<LocalReply>,
    pub resumed: u32,
    pub response_resumed: u32,
}

#[derive(Default)]
pub struct FakeHost {
    now_ms: Cell<u64>,
    shared: RefCell<HashMap<String, (Vec<u8>, u32)>>,
    pub calls: RefCell<Vec<HttpCallRequest>>,
    pub grpc_calls: RefCell<Vec<GrpcCallRequest>>,
    next_token: Cell<u32>,
    pub metrics: RefCell<BTreeMap<String, u64>>,
    pub logs: RefCell<Vec<(LogLevel, String)>>,
    streams: RefCell<BTreeMap<u32, FakeStream>>,
    current: Cell<u32>,
    next_cas: Cell<u32>,
    /// When set, `dispatch_http_call` and `dispatch_grpc_call` fail with this error.
    pub fail_dispatch: RefCell<Option<HostError>>,
    /// What `plugin_configuration` returns.
    pub plugin_config: RefCell<Vec<u8>>,
    /// The last tick period asked for.
    pub tick_period_ms: Cell<u64>,
    /// Each (call, context it was dispatched from), in order.
    pub dispatched_from: RefCell<Vec<u32>>,
}

impl FakeHost {
    pub fn new(now_ms: u64) -> Self {
        let host = FakeHost::default();
        host.now_ms.set(now_ms);
        host.next_token.set(1);
        host.next_cas.set(1);
        host
    }
    pub fn set_now_ms(&self, ms: u64) {
        self.now_ms.set(ms);
    }
    pub fn advance_ms(&self, ms: u64) {
        self.now_ms.set(self.now_ms.get() + ms);
    }
    /// Starts a new request on context `id` with these headers and makes it current.
    pub fn start_stream(&self, id: u32, headers: &[(&str, &str)]) {
        let stream = FakeStream {
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
                .collect(),
            ..FakeStream::default()
        };
        self.streams.borrow_mut().insert(id, stream);
        self.current.set(id);
    }
    /// Sets the current stream's buffered request body.
    pub fn set_request_body(&self, body: &[u8]) {
        self.with_stream(|s| s.request_body = body.to_vec());
    }
    /// Sets the current stream's response headers and body.
    pub fn set_response(&self, headers: &[(&str, &str)], body: &[u8]) {
        self.with_stream(|s| {
            s.response_headers = headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
                .collect();
            s.response_body = body.to_vec();
        });
    }
    /// Sets the current stream's mTLS peer certificate URI SAN (a SPIFFE ID).
    pub fn set_peer_uri_san(&self, uri: &str) {
        self.with_stream(|s| {
            s.properties.insert(
                vec!["connection".into(), "uri_san_peer_certificate".into()],
                uri.as_bytes().to_vec(),
            )
        });
    }
    /// Sets the current stream's downstream peer address (`ip:port`).
    pub fn set_peer_address(&self, addr: &str) {
        self.with_stream(|s| {
            s.properties.insert(
                vec!["source".into(), "address".into()],
                addr.as_bytes().to_vec(),
            )
        });
    }
    pub fn set_current(&self, id: u32) {
        self.current.set(id);
    }
    /// The context host calls currently act on.
    pub fn current(&self) -> u32 {
        self.current.get()
    }
    pub fn stream(&self, id: u32) -> FakeStream {
        self.streams.borrow().get(&id).cloned().unwrap_or_default()
    }
    pub fn metric(&self, name: &str) -> u64 {
        self.metrics.borrow().get(name).copied().unwrap_or(0)
    }
    pub fn shared_raw(&self, key: &str) -> Option<Vec<u8>> {
        self.shared.borrow().get(key).map(|(v, _)| v.clone())
    }
    fn with_stream<R>(&self, f: impl FnOnce(&mut FakeStream) -> R) -> R {
        let mut streams = self.streams.borrow_mut();
        let stream = streams.entry(self.current.get()).or_default();
        f(stream)
    }
}

impl Clock for FakeHost {
    fn now_ms(&self) -> u64 {
        self.now_ms.get()
    }
}

impl SharedStore for FakeHost {
    fn get_shared(&self, key: &str) -> Result<SharedValue, HostError> {
        Ok(match self.shared.borrow().get(key) {
            Some((v, cas)) => SharedValue {
                data: Some(v.clone()),
                cas: Some(*cas),
            },
            None => SharedValue::default(),
        })
    }
    fn set_shared(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), HostError> {
        // As Envoy (proxy-wasm-cpp-host SharedData::set): the token is
        // compared only when the key exists; tokens come from one counter.
        let mut shared = self.shared.borrow_mut();
        let current = shared.get(key).map(|(_, c)| *c);
        if let (Some(want), Some(have)) = (cas.filter(|c| *c != 0), current) {
            if want != have {
                return Err(HostError::CasMismatch);
            }
        }
        let next = self.next_cas.get();
        self.next_cas.set(next.wrapping_add(1).max(1));
        shared.insert(key.to_string(), (value.to_vec(), next));
        Ok(())
    }
}

impl Callouts for FakeHost {
    fn dispatch_http_call(&self, request: &HttpCallRequest) -> Result<u32, HostError> {
        if let Some(err) = self.fail_dispatch.borrow().clone() {
            return Err(err);
        }
        self.calls.borrow_mut().push(request.clone());
        self.dispatched_from.borrow_mut().push(self.current.get());
        let token = self.next_token.get();
        self.next_token.set(token + 1);
        Ok(token)
    }
}

fn slice_of(data: &[u8], start: usize, max: usize) -> Vec<u8> {
    data.iter().skip(start).take(max).copied().collect()
}

fn set_header(headers: &mut Vec<(String, String)>, name: &str, value: Option<&str>) {
    let name = name.to_ascii_lowercase();
    headers.retain(|(k, _)| *k != name);
    if let Some(v) = value {
        headers.push((name, v.to_string()));
    }
}

impl BodyHost for FakeHost {
    fn request_body(&self, start: usize, max: usize) -> Result<Vec<u8>, HostError> {
        Ok(self.with_stream(|s| slice_of(&s.request_body, start, max)))
    }
    fn replace_request_body(&self, body: &[u8]) -> Result<(), HostError> {
        self.with_stream(|s| s.request_body = body.to_vec());
        Ok(())
    }
    fn response_headers(&self) -> Result<Vec<(String, String)>, HostError> {
        Ok(self.with_stream(|s| s.response_headers.clone()))
    }
    fn set_response_header(&self, name: &str, value: Option<&str>) -> Result<(), HostError> {
        self.with_stream(|s| set_header(&mut s.response_headers, name, value));
        Ok(())
    }
    fn response_body(&self, start: usize, max: usize) -> Result<Vec<u8>, HostError> {
        Ok(self.with_stream(|s| slice_of(&s.response_body, start, max)))
    }
    fn replace_response_body(&self, body: &[u8]) -> Result<(), HostError> {
        self.with_stream(|s| s.response_body = body.to_vec());
        Ok(())
    }
}

impl GrpcCallouts for FakeHost {
    fn dispatch_grpc_call(&self, request: &GrpcCallRequest) -> Result<u32, HostError> {
        if let Some(err) = self.fail_dispatch.borrow().clone() {
            return Err(err);
        }
        self.grpc_calls.borrow_mut().push(request.clone());
        self.dispatched_from.borrow_mut().push(self.current.get());
        let token = self.next_token.get();
        self.next_token.set(token + 1);
        Ok(token)
    }
}

impl Metrics for FakeHost {
    fn increment(&self, name: &str, delta: u64) {
        *self
            .metrics
            .borrow_mut()
            .entry(name.to_string())
            .or_default() += delta;
    }
}

impl StreamHost for FakeHost {
    fn request_headers(&self) -> Result<Vec<(String, String)>, HostError> {
        Ok(self.with_stream(|s| s.headers.clone()))
    }
    fn request_header(&self, name: &str) -> Result<Option<String>, HostError> {
        Ok(self.with_stream(|s| {
            s.headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }))
    }
    fn set_request_header(&self, name: &str, value: Option<&str>) -> Result<(), HostError> {
        self.with_stream(|s| set_header(&mut s.headers, name, value));
        Ok(())
    }
    fn property(&self, path: &[&str]) -> Result<Option<Vec<u8>>, HostError> {
        let key: Vec<String> = path.iter().map(|s| s.to_string()).collect();
        Ok(self.with_stream(|s| s.properties.get(&key).cloned()))
    }
    fn set_property(&self, path: &[&str], value: &[u8]) -> Result<(), HostError> {
        let key: Vec<String> = path.iter().map(|s| s.to_string()).collect();
        self.with_stream(|s| s.properties.insert(key, value.to_vec()));
        Ok(())
    }
    fn send_local_reply(&self, reply: &LocalReply) -> Result<(), HostError> {
        self.with_stream(|s| s.reply = Some(reply.clone()));
        Ok(())
    }
    fn resume_request(&self) -> Result<(), HostError> {
        self.with_stream(|s| s.resumed += 1);
        Ok(())
    }
    fn resume_response(&self) -> Result<(), HostError> {
        self.with_stream(|s| s.response_resumed += 1);
        Ok(())
    }
}

impl PluginHost for FakeHost {
    fn plugin_configuration(&self) -> Result<Vec<u8>, HostError> {
        Ok(self.plugin_config.borrow().clone())
    }
    fn set_tick_period_ms(&self, ms: u64) -> Result<(), HostError> {
        self.tick_period_ms.set(ms);
        Ok(())
    }
}

impl ContextSwitch for FakeHost {
    fn switch_to_context(&self, context_id: u32) -> Result<(), HostError> {
        self.current.set(context_id);
        Ok(())
    }
}

impl Logger for FakeHost {
    fn log(&self, level: LogLevel, message: &str) {
        self.logs.borrow_mut().push((level, message.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_and_response_are_per_stream() {
        let host = FakeHost::new(0);
        host.start_stream(1, &[(":path", "/")]);
        host.set_request_body(b"hello world");
        host.set_response(&[("Content-Type", "application/json")], b"{}");
        assert_eq!(host.request_body(6, 100).unwrap(), b"world");
        host.set_response_header("x-a", Some("1")).unwrap();
        assert_eq!(host.response_headers().unwrap().len(), 2);
        host.start_stream(2, &[]);
        assert!(host.request_body(0, 10).unwrap().is_empty());
        host.set_current(1);
        host.replace_response_body(b"[]").unwrap();
        assert_eq!(host.response_body(0, 10).unwrap(), b"[]");
    }

    #[test]
    fn shared_data_compare_and_swap() {
        let host = FakeHost::new(0);
        host.set_shared("k", b"1", None).unwrap();
        let v = host.get_shared("k").unwrap();
        host.set_shared("k", b"2", v.cas).unwrap();
        assert_eq!(
            host.set_shared("k", b"3", v.cas),
            Err(HostError::CasMismatch)
        );
        assert_eq!(
            host.get_shared("k").unwrap().data.as_deref(),
            Some(&b"2"[..])
        );
    }
}
