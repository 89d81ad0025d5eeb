//! edgeward-core's host traits over the proxy-wasm ABI.
//!
//! The proxy-wasm Rust SDK's `hostcalls` panic on any status they do not
//! expect (a client reset mid-callback, a host that lacks a call), and a
//! panic kills the VM and every later request on that worker. So this crate
//! calls the ABI functions itself and turns every status into a
//! [`HostError`]. The one exception is `dispatch_http_call`, which must go
//! through the SDK so its dispatcher can route the reply back.

use edgeward_core::host::{
    BodyHost, CalloutResponse, Callouts, Clock, ContextSwitch, GrpcCallRequest, GrpcCallouts,
    HostError, HttpCallRequest, LocalReply, LogLevel, Logger, Metrics, SharedStore, SharedValue,
    StreamHost,
};
use proxy_wasm::types::{BufferType, MapType, MetricType, Status};
use std::cell::RefCell;
use std::collections::HashMap;
use std::ptr::{null, null_mut};
use std::time::Duration;

mod abi {
    use proxy_wasm::types::{BufferType, MapType, MetricType, Status};
    #[link(wasm_import_module = "env")]
    extern "C" {
        pub fn proxy_log(level: u32, message_data: *const u8, message_size: usize) -> Status;
        pub fn proxy_get_log_level(return_level: *mut u32) -> Status;
        pub fn proxy_get_current_time_nanoseconds(return_time: *mut u64) -> Status;
        pub fn proxy_set_tick_period_milliseconds(period: u32) -> Status;
        pub fn proxy_get_buffer_bytes(
            buffer_type: BufferType,
            start: usize,
            max_size: usize,
            return_buffer_data: *mut *mut u8,
            return_buffer_size: *mut usize,
        ) -> Status;
        pub fn proxy_set_buffer_bytes(
            buffer_type: BufferType,
            start: usize,
            size: usize,
            buffer_data: *const u8,
            buffer_size: usize,
        ) -> Status;
        pub fn proxy_get_header_map_pairs(
            map_type: MapType,
            return_map_data: *mut *mut u8,
            return_map_size: *mut usize,
        ) -> Status;
        pub fn proxy_get_header_map_value(
            map_type: MapType,
            key_data: *const u8,
            key_size: usize,
            return_value_data: *mut *mut u8,
            return_value_size: *mut usize,
        ) -> Status;
        pub fn proxy_replace_header_map_value(
            map_type: MapType,
            key_data: *const u8,
            key_size: usize,
            value_data: *const u8,
            value_size: usize,
        ) -> Status;
        pub fn proxy_remove_header_map_value(
            map_type: MapType,
            key_data: *const u8,
            key_size: usize,
        ) -> Status;
        pub fn proxy_get_property(
            path_data: *const u8,
            path_size: usize,
            return_value_data: *mut *mut u8,
            return_value_size: *mut usize,
        ) -> Status;
        pub fn proxy_set_property(
            path_data: *const u8,
            path_size: usize,
            value_data: *const u8,
            value_size: usize,
        ) -> Status;
        pub fn proxy_get_shared_data(
            key_data: *const u8,
            key_size: usize,
            return_value_data: *mut *mut u8,
            return_value_size: *mut usize,
            return_cas: *mut u32,
        ) -> Status;
        pub fn proxy_set_shared_data(
            key_data: *const u8,
            key_size: usize,
            value_data: *const u8,
            value_size: usize,
            cas: u32,
        ) -> Status;
        pub fn proxy_send_local_response(
            status_code: u32,
            status_code_details_data: *const u8,
            status_code_details_size: usize,
            body_data: *const u8,
            body_size: usize,
            headers_data: *const u8,
            headers_size: usize,
            grpc_status: i32,
        ) -> Status;
        pub fn proxy_continue_stream(stream_type: u32) -> Status;
        pub fn proxy_set_effective_context(context_id: u32) -> Status;
        pub fn proxy_define_metric(
            metric_type: MetricType,
            name_data: *const u8,
            name_size: usize,
            return_id: *mut u32,
        ) -> Status;
        pub fn proxy_increment_metric(metric_id: u32, offset: i64) -> Status;
    }
}

fn status_error(s: Status) -> HostError {
    match s {
        Status::NotFound => HostError::NotFound,
        Status::CasMismatch => HostError::CasMismatch,
        Status::BadArgument => HostError::NotAvailable,
        other => {
            // Unimplemented (12) is not in the SDK's enum; compare raw values.
            let raw = other as u32;
            if raw == 12 {
                HostError::Unimplemented
            } else {
                HostError::Other(format!("host status {raw}"))
            }
        }
    }
}

fn check(s: Status) -> Result<(), HostError> {
    match s {
        Status::Ok => Ok(()),
        other => Err(status_error(other)),
    }
}

/// Takes ownership of a buffer the host allocated through the SDK's
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

/// Decodes the ABI's header-map serialisation: count, (key len, value len)
/// pairs, then NUL-terminated keys and values. Malformed input yields what
/// was decodable so far (it comes from the host, but we never index blindly).
fn decode_map(bytes: &[u8]) -> Vec<(String, String)> {
    let read_u32 = |at: usize| -> Option<usize> {
        let b = bytes.get(at..at + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let mut out = Vec::new();
    let Some(count) = read_u32(0) else {
        return out;
    };
    let mut data = 4 + count.saturating_mul(8);
    for i in 0..count {
        let (Some(klen), Some(vlen)) = (read_u32(4 + i * 8), read_u32(8 + i * 8)) else {
            break;
        };
        let (Some(k), Some(v)) = (
            bytes.get(data..data + klen),
            bytes.get(data + klen + 1..data + klen + 1 + vlen),
        ) else {
            break;
        };
        out.push((
            String::from_utf8_lossy(k).into_owned(),
            String::from_utf8_lossy(v).into_owned(),
        ));
        data += klen + 1 + vlen + 1;
    }
    out
}

fn encode_map(pairs: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    for (k, v) in pairs {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    }
    for (k, v) in pairs {
        out.extend_from_slice(k.as_bytes());
        out.push(0);
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
    out
}

fn encode_path(path: &[&str]) -> Vec<u8> {
    path.join("\0").into_bytes()
}

thread_local! {
    static METRIC_IDS: RefCell<HashMap<String, u32>> = RefCell::new(HashMap::new());
    /// The host's log level (proxy-wasm numbering), read on configure and on
    /// every tick, so that disabled debug lines cost nothing per request.
    static LOG_LEVEL: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// The proxy-wasm host as seen from any callback. Stateless: every call acts
/// on the current effective context.
#[derive(Debug, Default, Clone, Copy)]
pub struct WasmHost;

impl WasmHost {
    /// Re-reads the host's log level (it can change at run time).
    pub fn refresh_log_level(&self) {
        let mut level = 0u32;
        if unsafe { abi::proxy_get_log_level(&mut level) } == Status::Ok {
            LOG_LEVEL.with(|l| l.set(level));
        }
    }

    /// Asks for `on_tick` every `ms` milliseconds (0 stops it).
    pub fn set_tick_period_ms(&self, ms: u64) -> Result<(), HostError> {
        check(unsafe { abi::proxy_set_tick_period_milliseconds(ms.min(u32::MAX as u64) as u32) })
    }

    /// The plugin configuration bytes (empty when none was given).
    pub fn plugin_configuration(&self) -> Result<Vec<u8>, HostError> {
        self.buffer(BufferType::PluginConfiguration, usize::MAX)
    }

    fn buffer(&self, kind: BufferType, max: usize) -> Result<Vec<u8>, HostError> {
        self.buffer_at(kind, 0, max)
    }

    fn buffer_at(&self, kind: BufferType, start: usize, max: usize) -> Result<Vec<u8>, HostError> {
        let mut data = null_mut();
        let mut size = 0usize;
        match unsafe { abi::proxy_get_buffer_bytes(kind, start, max, &mut data, &mut size) } {
            Status::Ok => Ok(unsafe { take_buffer(data, size) }),
            Status::NotFound => Ok(Vec::new()),
            other => Err(status_error(other)),
        }
    }

    /// Replaces the whole buffered body (start 0, size = everything).
    fn replace_buffer(&self, kind: BufferType, body: &[u8]) -> Result<(), HostError> {
        check(unsafe {
            abi::proxy_set_buffer_bytes(kind, 0, usize::MAX, body.as_ptr(), body.len())
        })
    }

    fn header_pairs(&self, map: MapType) -> Result<Vec<(String, String)>, HostError> {
        let mut data = null_mut();
        let mut size = 0usize;
        match unsafe { abi::proxy_get_header_map_pairs(map, &mut data, &mut size) } {
            Status::Ok => Ok(decode_map(&unsafe { take_buffer(data, size) })),
            other => Err(status_error(other)),
        }
    }

    fn set_header(&self, map: MapType, name: &str, value: Option<&str>) -> Result<(), HostError> {
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

    fn header_value(&self, map: MapType, key: &str) -> Result<Option<String>, HostError> {
        let mut data = null_mut();
        let mut size = 0usize;
        match unsafe {
            abi::proxy_get_header_map_value(map, key.as_ptr(), key.len(), &mut data, &mut size)
        } {
            Status::Ok => Ok(Some(
                String::from_utf8_lossy(&unsafe { take_buffer(data, size) }).into_owned(),
            )),
            Status::NotFound => Ok(None),
            other => Err(status_error(other)),
        }
    }
}

impl Clock for WasmHost {
    fn now_ms(&self) -> u64 {
        let mut ns = 0u64;
        match unsafe { abi::proxy_get_current_time_nanoseconds(&mut ns) } {
            Status::Ok => ns / 1_000_000,
            // A host without a clock: fall back to WASI's (wasip1 imports it).
            _ => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
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
            Status::Ok => Ok(SharedValue {
                data: Some(unsafe { take_buffer(data, size) }),
                cas: (cas != 0).then_some(cas),
            }),
            Status::NotFound => Ok(SharedValue::default()),
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
        let headers: Vec<(&str, &str)> = request
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        proxy_wasm::hostcalls::dispatch_http_call(
            &request.cluster,
            headers,
            request.body.as_deref(),
            vec![],
            Duration::from_millis(request.timeout_ms),
        )
        .map_err(status_error)
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
                abi::proxy_define_metric(MetricType::Counter, name.as_ptr(), name.len(), &mut id)
            };
            (status == Status::Ok).then(|| {
                ids.borrow_mut().insert(name.to_string(), id);
                id
            })
        });
        if let Some(id) = id {
            let _ = unsafe { abi::proxy_increment_metric(id, delta.min(i64::MAX as u64) as i64) };
        }
    }
}

impl StreamHost for WasmHost {
    fn request_headers(&self) -> Result<Vec<(String, String)>, HostError> {
        let mut data = null_mut();
        let mut size = 0usize;
        match unsafe {
            abi::proxy_get_header_map_pairs(MapType::HttpRequestHeaders, &mut data, &mut size)
        } {
            Status::Ok => Ok(decode_map(&unsafe { take_buffer(data, size) })),
            other => Err(status_error(other)),
        }
    }

    fn set_request_header(&self, name: &str, value: Option<&str>) -> Result<(), HostError> {
        check(unsafe {
            match value {
                Some(v) => abi::proxy_replace_header_map_value(
                    MapType::HttpRequestHeaders,
                    name.as_ptr(),
                    name.len(),
                    v.as_ptr(),
                    v.len(),
                ),
                None => abi::proxy_remove_header_map_value(
                    MapType::HttpRequestHeaders,
                    name.as_ptr(),
                    name.len(),
                ),
            }
        })
    }

    fn property(&self, path: &[&str]) -> Result<Option<Vec<u8>>, HostError> {
        let p = encode_path(path);
        let mut data = null_mut();
        let mut size = 0usize;
        match unsafe { abi::proxy_get_property(p.as_ptr(), p.len(), &mut data, &mut size) } {
            Status::Ok => Ok(Some(unsafe { take_buffer(data, size) })),
            Status::NotFound => Ok(None),
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
                reply.status as u32,
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
        // Stream type 0: the HTTP request.
        check(unsafe { abi::proxy_continue_stream(0) })
    }
}

impl BodyHost for WasmHost {
    fn request_body(&self, start: usize, max: usize) -> Result<Vec<u8>, HostError> {
        self.buffer_at(BufferType::HttpRequestBody, start, max)
    }
    fn replace_request_body(&self, body: &[u8]) -> Result<(), HostError> {
        self.replace_buffer(BufferType::HttpRequestBody, body)
    }
    fn response_headers(&self) -> Result<Vec<(String, String)>, HostError> {
        self.header_pairs(MapType::HttpResponseHeaders)
    }
    fn set_response_header(&self, name: &str, value: Option<&str>) -> Result<(), HostError> {
        self.set_header(MapType::HttpResponseHeaders, name, value)
    }
    fn response_body(&self, start: usize, max: usize) -> Result<Vec<u8>, HostError> {
        self.buffer_at(BufferType::HttpResponseBody, start, max)
    }
    fn replace_response_body(&self, body: &[u8]) -> Result<(), HostError> {
        self.replace_buffer(BufferType::HttpResponseBody, body)
    }
}

impl GrpcCallouts for WasmHost {
    /// Through the SDK, like HTTP callouts, so its dispatcher routes the reply.
    fn dispatch_grpc_call(&self, request: &GrpcCallRequest) -> Result<u32, HostError> {
        let metadata: Vec<(&str, &[u8])> = request
            .initial_metadata
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_slice()))
            .collect();
        proxy_wasm::hostcalls::dispatch_grpc_call(
            &request.cluster,
            &request.service,
            &request.method,
            metadata,
            Some(&request.message),
            Duration::from_millis(request.timeout_ms),
        )
        .map_err(status_error)
    }
}

impl ContextSwitch for WasmHost {
    fn switch_to_context(&self, context_id: u32) -> Result<(), HostError> {
        check(unsafe { abi::proxy_set_effective_context(context_id) })
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
/// `on_http_call_response`.
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
            .header_value(MapType::HttpCallResponseHeaders, ":status")
            .ok()
            .flatten()
            .and_then(|s| s.parse().ok())
    }
    fn body_size(&self) -> usize {
        self.body_size
    }
    fn body(&self) -> Result<Vec<u8>, HostError> {
        WasmHost.buffer(BufferType::HttpCallResponseBody, self.body_size)
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
        let mut truncated = encode_map(&pairs);
        truncated.truncate(truncated.len() - 3);
        assert_eq!(decode_map(&truncated).len(), 1);
    }
}
