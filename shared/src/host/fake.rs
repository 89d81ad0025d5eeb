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
    pub properties: BTreeMap<Vec<String>, Vec<u8>>,
    pub reply: Option<LocalReply>,
    pub resumed: u32,
}

#[derive(Default)]
pub struct FakeHost {
    now_ms: Cell<u64>,
    shared: RefCell<HashMap<String, (Vec<u8>, u32)>>,
    pub calls: RefCell<Vec<HttpCallRequest>>,
    next_token: Cell<u32>,
    pub metrics: RefCell<BTreeMap<String, u64>>,
    pub logs: RefCell<Vec<(LogLevel, String)>>,
    streams: RefCell<BTreeMap<u32, FakeStream>>,
    current: Cell<u32>,
    /// When set, `dispatch_http_call` fails with this error.
    pub fail_dispatch: RefCell<Option<HostError>>,
}

impl FakeHost {
    pub fn new(now_ms: u64) -> Self {
        let host = FakeHost::default();
        host.now_ms.set(now_ms);
        host.next_token.set(1);
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
    pub fn set_current(&self, id: u32) {
        self.current.set(id);
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
        let mut shared = self.shared.borrow_mut();
        let current = shared.get(key).map(|(_, c)| *c);
        if let (Some(want), Some(have)) = (cas, current) {
            if want != have {
                return Err(HostError::CasMismatch);
            }
        }
        let next = current.unwrap_or(0) + 1;
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
    fn set_request_header(&self, name: &str, value: Option<&str>) -> Result<(), HostError> {
        self.with_stream(|s| {
            let name = name.to_ascii_lowercase();
            s.headers.retain(|(k, _)| *k != name);
            if let Some(v) = value {
                s.headers.push((name, v.to_string()));
            }
        });
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
