//! edgeward-core's host traits over the raw proxy-wasm ABI. Every status
//! becomes a [`HostError`]; nothing here can panic.

use crate::abi::{self, RawStatus, Status};
use edgeward_core::fnv::FnvMap;
use edgeward_core::host::{
    BodyHost, CalloutResponse, Callouts, Clock, ContextSwitch, GrpcCallRequest, GrpcCallouts,
    GrpcResponse, HostError, HttpCallRequest, LocalReply, LogLevel, Logger, Metrics, PluginHost,
    SharedStore, SharedValue, StreamHost,
};
use std::cell::{Cell, RefCell};
use std::ptr::{null, null_mut};

fn status_error(raw: RawStatus) -> HostError {
    match raw {
        x if x == Status::NotFound as u32 => HostError::NotFound,
        x if x == Status::CasMismatch as u32 => HostError::CasMismatch,
        x if x == Status::BadArgument as u32 => HostError::NotAvailable,
        x if x == Status::Unimplemented as u32 => HostError::Unimplemented,
        other => HostError::Other(format!("host status {other}")),
    }
}

fn check(raw: RawStatus) -> Result<(), HostError> {
    if raw == Status::Ok as u32 {
        Ok(())
    } else {
        Err(status_error(raw))
    }
}

const OK: RawStatus = Status::Ok as u32;
const NOT_FOUND: RawStatus = Status::NotFound as u32;

/// Takes ownership of a buffer the host allocated through this module's
/// `proxy_on_memory_allocate`.
///
/// SAFETY: `data`/`size` must come from a successful host call that returned
/// a buffer allocated by this module's allocator (the ABI's contract).
unsafe fn take_buffer(data: *mut u8, size: usize) -> Vec<u8> {
    if data.is_null() {
        Vec::new()
    } else {
        Vec::from_raw_parts(data, size, size)
    }
}

/// Decodes the ABI's map serialisation: count, (key len, value len) pairs,
/// then NUL-terminated keys and values. Malformed input yields what was
/// decodable so far (it comes from the host, but is never indexed blindly).
pub(crate) fn decode_map(bytes: &[u8]) -> Vec<(String, String)> {
    let read_u32 = |at: usize| -> Option<usize> {
        let b = bytes.get(at..at.checked_add(4)?)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let mut out = Vec::new();
    let Some(count) = read_u32(0) else {
        return out;
    };
    let mut data = count.saturating_mul(8).saturating_add(4);
    for i in 0..count {
        let at = i.saturating_mul(8).saturating_add(4);
        let (Some(klen), Some(vlen)) = (read_u32(at), read_u32(at.saturating_add(4))) else {
            break;
        };
        let k_end = data.saturating_add(klen);
        let v_start = k_end.saturating_add(1);
        let v_end = v_start.saturating_add(vlen);
        let (Some(k), Some(v)) = (bytes.get(data..k_end), bytes.get(v_start..v_end)) else {
            break;
        };
        out.push((
            String::from_utf8_lossy(k).into_owned(),
            String::from_utf8_lossy(v).into_owned(),
        ));
        data = v_end.saturating_add(1);
    }
    out
}

/// The ABI's map serialisation, for headers and gRPC metadata.
pub(crate) fn encode_map<K: AsRef<[u8]>, V: AsRef<[u8]>>(pairs: &[(K, V)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    for (k, v) in pairs {
        out.extend_from_slice(&(k.as_ref().len() as u32).to_le_bytes());
        out.extend_from_slice(&(v.as_ref().len() as u32).to_le_bytes());
    }
    for (k, v) in pairs {
        out.extend_from_slice(k.as_ref());
        out.push(0);
        out.extend_from_slice(v.as_ref());
        out.push(0);
    }
    out
}

/// A property path in the ABI's form (segments joined by NUL); a
/// one-segment path (filter state such as `edgeward.schema`) is its own
/// bytes, with no copy.
fn encode_path<'a>(path: &[&'a str]) -> std::borrow::Cow<'a, [u8]> {
    match path {
        [one] => std::borrow::Cow::Borrowed(one.as_bytes()),
        many => std::borrow::Cow::Owned(many.join("\0").into_bytes()),
    }
}

fn timeout_ms(ms: u64) -> u32 {
    u32::try_from(ms).unwrap_or(u32::MAX)
}

thread_local! {
    static METRIC_IDS: RefCell<FnvMap<String, u32>> = RefCell::new(FnvMap::default());
    /// The host's log level (proxy-wasm numbering), read on configure and on
    /// every tick, so that disabled debug lines cost nothing per request.
    static LOG_LEVEL: Cell<u32> = const { Cell::new(0) };
}

/// The proxy-wasm host as seen from any callback. Stateless: every call acts
/// on the current effective context.
#[derive(Debug, Default, Clone, Copy)]
pub struct WasmHost;

impl WasmHost {
    /// Re-reads the host's log level (it can change at run time).
    pub fn refresh_log_level(&self) {
        let mut level = 0u32;
        if unsafe { abi::proxy_get_log_level(&mut level) } == OK {
            LOG_LEVEL.with(|l| l.set(level));
        }
    }

    fn buffer_at(&self, kind: u32, start: usize, max: usize) -> Result<Vec<u8>, HostError> {
        let mut data = null_mut();
        let mut size = 0usize;
        match unsafe { abi::proxy_get_buffer_bytes(kind, start, max, &mut data, &mut size) } {
            OK => Ok(unsafe { take_buffer(data, size) }),
            NOT_FOUND => Ok(Vec::new()),
            other => Err(status_error(other)),
        }
    }

    /// Replaces the whole buffered body (start 0, size = everything).
    fn replace_buffer(&self, kind: u32, body: &[u8]) -> Result<(), HostError> {
        check(unsafe {
            abi::proxy_set_buffer_bytes(kind, 0, usize::MAX, body.as_ptr(), body.len())
        })
    }

    fn header_pairs(&self, map: u32) -> Result<Vec<(String, String)>, HostError> {
        let mut data = null_mut();
        let mut size = 0usize;
        match unsafe { abi::proxy_get_header_map_pairs(map, &mut data, &mut size) } {
            OK => Ok(decode_map(&unsafe { take_buffer(data, size) })),
            other => Err(status_error(other)),
        }
    }

    fn set_header(&self, map: u32, name: &str, value: Option<&str>) -> Result<(), HostError> {
        check(unsafe {
            match value {
                Some(v) => abi::proxy_replace_header_map_value(
                    map,
                    name.as_ptr(),
                    name.len(),
                    v.as_ptr(),
                    v.len(),
                ),
                None => abi::proxy_remove_header_map_value(map, name.as_ptr(), name.len()),
            }
        })
    }

    fn header_value(&self, map: u32, key: &str) -> Result<Option<String>, HostError> {
        let mut data = null_mut();
        let mut size = 0usize;
        match unsafe {
            abi::proxy_get_header_map_value(map, key.as_ptr(), key.len(), &mut data, &mut size)
        } {
            OK => Ok(Some(
                String::from_utf8_lossy(&unsafe { take_buffer(data, size) }).into_owned(),
            )),
            NOT_FOUND => Ok(None),
            other => Err(status_error(other)),
        }
    }
}

impl Clock for WasmHost {
    fn now_ms(&self) -> u64 {
        let mut ns = 0u64;
        match unsafe { abi::proxy_get_current_time_nanoseconds(&mut ns) } {
            OK => ns / 1_000_000,
            // A host without a clock: fall back to WASI's (wasip1 imports it).
            _ => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
                .unwrap_or(0),
        }
    }
}

impl SharedStore for WasmHost {
    fn get_shared(&self, key: &str) -> Result<SharedValue, HostError> {
        let mut data = null_mut();
        let mut size = 0usize;
        let mut cas = 0u32;
        match unsafe {
            abi::proxy_get_shared_data(key.as_ptr(), key.len(), &mut data, &mut size, &mut cas)
        } {
            OK => Ok(SharedValue {
                data: Some(unsafe { take_buffer(data, size) }),
                cas: (cas != 0).then_some(cas),
            }),
            NOT_FOUND => Ok(SharedValue::default()),
            other => Err(status_error(other)),
        }
    }

    fn set_shared(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), HostError> {
        check(unsafe {
            abi::proxy_set_shared_data(
                key.as_ptr(),
                key.len(),
                value.as_ptr(),
                value.len(),
                cas.unwrap_or(0),
            )
        })
    }
}

impl Callouts for WasmHost {
    fn dispatch_http_call(&self, request: &HttpCallRequest) -> Result<u32, HostError> {
        let headers = encode_map(&request.headers);
        let trailers = encode_map::<&str, &str>(&[]);
        let body = request.body.as_deref().unwrap_or(&[]);
        let mut token = 0u32;
        check(unsafe {
            abi::proxy_http_call(
                request.cluster.as_ptr(),
                request.cluster.len(),
                headers.as_ptr(),
                headers.len(),
                if body.is_empty() {
                    null()
                } else {
                    body.as_ptr()
                },
                body.len(),
                trailers.as_ptr(),
                trailers.len(),
                timeout_ms(request.timeout_ms),
                &mut token,
            )
        })?;
        Ok(token)
    }
}

impl GrpcCallouts for WasmHost {
    fn dispatch_grpc_call(&self, request: &GrpcCallRequest) -> Result<u32, HostError> {
        let metadata = encode_map(&request.initial_metadata);
        let mut token = 0u32;
        check(unsafe {
            abi::proxy_grpc_call(
                request.cluster.as_ptr(),
                request.cluster.len(),
                request.service.as_ptr(),
                request.service.len(),
                request.method.as_ptr(),
                request.method.len(),
                metadata.as_ptr(),
                metadata.len(),
                request.message.as_ptr(),
                request.message.len(),
                timeout_ms(request.timeout_ms),
                &mut token,
            )
        })?;
        crate::exports::grpc_dispatched(token);
        Ok(token)
    }
}

impl Metrics for WasmHost {
    fn increment(&self, name: &str, delta: u64) {
        let id = METRIC_IDS.with(|ids| {
            if let Some(id) = ids.borrow().get(name) {
                return Some(*id);
            }
            let mut id = 0u32;
            let status = unsafe {
                abi::proxy_define_metric(abi::METRIC_COUNTER, name.as_ptr(), name.len(), &mut id)
            };
            (status == OK).then(|| {
                ids.borrow_mut().insert(name.to_string(), id);
                id
            })
        });
        if let Some(id) = id {
            let _ = unsafe {
                abi::proxy_increment_metric(id, i64::try_from(delta).unwrap_or(i64::MAX))
            };
        }
    }
}

impl StreamHost for WasmHost {
    fn request_headers(&self) -> Result<Vec<(String, String)>, HostError> {
        self.header_pairs(abi::MAP_HTTP_REQUEST_HEADERS)
    }

    fn request_head(&self) -> Result<edgeward_core::http::RequestHead, HostError> {
        let mut data = null_mut();
        let mut size = 0usize;
        match unsafe {
            abi::proxy_get_header_map_pairs(abi::MAP_HTTP_REQUEST_HEADERS, &mut data, &mut size)
        } {
            OK => {
                let bytes = unsafe { take_buffer(data, size) };
                // Not UTF-8 (obs-text in a value): decode lossily.
                Ok(
                    edgeward_core::http::RequestHead::from_abi_map(bytes).unwrap_or_else(|bytes| {
                        edgeward_core::http::RequestHead::new(decode_map(&bytes))
                    }),
                )
            }
            other => Err(status_error(other)),
        }
    }

    fn request_header(&self, name: &str) -> Result<Option<String>, HostError> {
        self.header_value(abi::MAP_HTTP_REQUEST_HEADERS, name)
    }

    fn set_request_header(&self, name: &str, value: Option<&str>) -> Result<(), HostError> {
        self.set_header(abi::MAP_HTTP_REQUEST_HEADERS, name, value)
    }

    fn property(&self, path: &[&str]) -> Result<Option<Vec<u8>>, HostError> {
        let p = encode_path(path);
        let mut data = null_mut();
        let mut size = 0usize;
        match unsafe { abi::proxy_get_property(p.as_ptr(), p.len(), &mut data, &mut size) } {
            OK => Ok(Some(unsafe { take_buffer(data, size) })),
            NOT_FOUND => Ok(None),
            other => Err(status_error(other)),
        }
    }

    fn set_property(&self, path: &[&str], value: &[u8]) -> Result<(), HostError> {
        let p = encode_path(path);
        check(unsafe { abi::proxy_set_property(p.as_ptr(), p.len(), value.as_ptr(), value.len()) })
    }

    fn send_local_reply(&self, reply: &LocalReply) -> Result<(), HostError> {
        let headers = encode_map(&reply.headers);
        check(unsafe {
            abi::proxy_send_local_response(
                u32::from(reply.status),
                reply.details.as_ptr(),
                reply.details.len(),
                if reply.body.is_empty() {
                    null()
                } else {
                    reply.body.as_ptr()
                },
                reply.body.len(),
                headers.as_ptr(),
                headers.len(),
                -1,
            )
        })
    }

    fn resume_request(&self) -> Result<(), HostError> {
        check(unsafe { abi::proxy_continue_stream(abi::STREAM_HTTP_REQUEST) })
    }

    fn resume_response(&self) -> Result<(), HostError> {
        check(unsafe { abi::proxy_continue_stream(abi::STREAM_HTTP_RESPONSE) })
    }
}

impl BodyHost for WasmHost {
    fn request_body(&self, start: usize, max: usize) -> Result<Vec<u8>, HostError> {
        self.buffer_at(abi::BUFFER_HTTP_REQUEST_BODY, start, max)
    }
    fn replace_request_body(&self, body: &[u8]) -> Result<(), HostError> {
        self.replace_buffer(abi::BUFFER_HTTP_REQUEST_BODY, body)
    }
    fn response_headers(&self) -> Result<Vec<(String, String)>, HostError> {
        self.header_pairs(abi::MAP_HTTP_RESPONSE_HEADERS)
    }
    fn set_response_header(&self, name: &str, value: Option<&str>) -> Result<(), HostError> {
        self.set_header(abi::MAP_HTTP_RESPONSE_HEADERS, name, value)
    }
    fn response_body(&self, start: usize, max: usize) -> Result<Vec<u8>, HostError> {
        self.buffer_at(abi::BUFFER_HTTP_RESPONSE_BODY, start, max)
    }
    fn replace_response_body(&self, body: &[u8]) -> Result<(), HostError> {
        self.replace_buffer(abi::BUFFER_HTTP_RESPONSE_BODY, body)
    }
}

impl ContextSwitch for WasmHost {
    fn switch_to_context(&self, context_id: u32) -> Result<(), HostError> {
        check(unsafe { abi::proxy_set_effective_context(context_id) })
    }
}

impl PluginHost for WasmHost {
    fn plugin_configuration(&self) -> Result<Vec<u8>, HostError> {
        self.buffer_at(abi::BUFFER_PLUGIN_CONFIGURATION, 0, usize::MAX)
    }
    fn set_tick_period_ms(&self, ms: u64) -> Result<(), HostError> {
        check(unsafe { abi::proxy_set_tick_period_milliseconds(timeout_ms(ms)) })
    }
}

fn abi_level(level: LogLevel) -> u32 {
    match level {
        LogLevel::Debug => 1,
        LogLevel::Info => 2,
        LogLevel::Warn => 3,
        LogLevel::Error => 4,
    }
}

impl Logger for WasmHost {
    fn log(&self, level: LogLevel, message: &str) {
        let _ = unsafe { abi::proxy_log(abi_level(level), message.as_ptr(), message.len()) };
    }
    fn log_enabled(&self, level: LogLevel) -> bool {
        abi_level(level) >= LOG_LEVEL.with(|l| l.get())
    }
}

/// The reply to an HTTP callout, read from the host inside
/// `proxy_on_http_call_response`.
pub struct WasmCalloutResponse {
    pub body_size: usize,
    pub num_headers: usize,
}

impl CalloutResponse for WasmCalloutResponse {
    fn status(&self) -> Option<u16> {
        if self.num_headers == 0 {
            return None;
        }
        WasmHost
            .header_value(abi::MAP_HTTP_CALL_RESPONSE_HEADERS, ":status")
            .ok()
            .flatten()
            .and_then(|s| s.parse().ok())
    }
    fn body_size(&self) -> usize {
        self.body_size
    }
    fn body(&self) -> Result<Vec<u8>, HostError> {
        WasmHost.buffer_at(abi::BUFFER_HTTP_CALL_RESPONSE_BODY, 0, self.body_size)
    }
}

/// A gRPC reply (`proxy_on_grpc_receive`) or failure (`proxy_on_grpc_close`).
pub struct WasmGrpcResponse {
    pub status_code: u32,
    pub message_size: usize,
}

impl GrpcResponse for WasmGrpcResponse {
    fn status_code(&self) -> u32 {
        self.status_code
    }
    fn status_message(&self) -> Option<String> {
        let mut code = 0u32;
        let mut data = null_mut();
        let mut size = 0usize;
        match unsafe { abi::proxy_get_status(&mut code, &mut data, &mut size) } {
            OK => {
                let msg = unsafe { take_buffer(data, size) };
                (!msg.is_empty()).then(|| String::from_utf8_lossy(&msg).into_owned())
            }
            _ => None,
        }
    }
    fn message_size(&self) -> usize {
        self.message_size
    }
    fn message(&self) -> Result<Vec<u8>, HostError> {
        if self.message_size == 0 {
            return Ok(Vec::new());
        }
        WasmHost.buffer_at(abi::BUFFER_GRPC_RECEIVE, 0, self.message_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_maps_round_trip_and_garbage_is_harmless() {
        let pairs = vec![
            (":path".to_string(), "/x".to_string()),
            ("a".to_string(), String::new()),
        ];
        assert_eq!(decode_map(&encode_map(&pairs)), pairs);
        assert!(decode_map(&[]).is_empty());
        assert!(decode_map(&[5, 0, 0, 0, 1]).is_empty());
        assert!(decode_map(&[0xff, 0xff, 0xff, 0xff]).is_empty());
        let mut truncated = encode_map(&pairs);
        truncated.truncate(truncated.len() - 3);
        assert_eq!(decode_map(&truncated).len(), 1);
        assert_eq!(encode_map::<&str, &str>(&[]), vec![0, 0, 0, 0]);
    }

    #[test]
    fn property_paths_are_nul_joined() {
        assert_eq!(&*encode_path(&["edgeward.schema"]), b"edgeward.schema");
        assert_eq!(&*encode_path(&["request", "path"]), b"request\0path");
        assert_eq!(&*encode_path(&[]), b"");
    }
}
