//! Pieces shared by the ABI-floor modules in `examples/`: the proxy-wasm
//! imports they use and macros for the exports every module needs.
//!
//! No SDK here on purpose: a module exports exactly the callbacks it names,
//! so the difference between two modules is only which callbacks Envoy can
//! enter and which host calls they make.

/// The host functions the modules call (proxy-wasm ABI 0.2.1): edgeward's
/// own declarations (`edgeward_wasm_host::abi`), so both read the ABI the
/// same way. Only declarations are used: nothing of the adapter is linked.
pub mod abi {
    pub use edgeward_wasm_host::abi::*;

    /// `Status::Ok`.
    pub const OK: RawStatus = Status::Ok as RawStatus;
    /// What a stream callback returns to let the request go on.
    pub const CONTINUE: u32 = 0;
}

/// Gives back a buffer the host filled through `proxy_on_memory_allocate`.
///
/// # Safety
/// `data`/`size` must come from one successful host call that allocated it
/// with [`allocate`].
pub unsafe fn release(data: *mut u8, size: usize) {
    if let (false, Ok(layout)) = (
        data.is_null(),
        std::alloc::Layout::from_size_align(size.max(1), 1),
    ) {
        std::alloc::dealloc(data, layout);
    }
}

/// The allocator behind `proxy_on_memory_allocate` (null when the size is
/// absurd; the host then fails the call).
pub fn allocate(size: usize) -> *mut u8 {
    match std::alloc::Layout::from_size_align(size.max(1), 1) {
        Ok(layout) => unsafe { std::alloc::alloc(layout) },
        Err(_) => std::ptr::null_mut(),
    }
}

/// Reads the whole request header map and drops it (what a filter that
/// copies the request head pays in host calls and copying).
pub fn read_request_header_map() -> usize {
    let mut data = std::ptr::null_mut();
    let mut size = 0usize;
    let status = unsafe {
        abi::proxy_get_header_map_pairs(abi::MAP_HTTP_REQUEST_HEADERS, &mut data, &mut size)
    };
    if status == abi::OK {
        unsafe { release(data, size) };
        size
    } else {
        0
    }
}

/// Reads one request header; whether it was there.
pub fn read_request_header(name: &str) -> bool {
    let mut data = std::ptr::null_mut();
    let mut size = 0usize;
    let status = unsafe {
        abi::proxy_get_header_map_value(
            abi::MAP_HTTP_REQUEST_HEADERS,
            name.as_ptr(),
            name.len(),
            &mut data,
            &mut size,
        )
    };
    if status == abi::OK {
        unsafe { release(data, size) };
        true
    } else {
        false
    }
}

pub fn replace_request_header(name: &str, value: &str) -> u32 {
    unsafe {
        abi::proxy_replace_header_map_value(
            abi::MAP_HTTP_REQUEST_HEADERS,
            name.as_ptr(),
            name.len(),
            value.as_ptr(),
            value.len(),
        )
    }
}

pub fn set_property(path: &str, value: &[u8]) -> u32 {
    unsafe { abi::proxy_set_property(path.as_ptr(), path.len(), value.as_ptr(), value.len()) }
}

/// Reads one property (`path` with segments separated by NUL, as the ABI
/// wants them); its size, 0 when absent.
pub fn read_property(path: &[u8]) -> usize {
    let mut data = std::ptr::null_mut();
    let mut size = 0usize;
    let status =
        unsafe { abi::proxy_get_property(path.as_ptr(), path.len(), &mut data, &mut size) };
    if status == abi::OK {
        unsafe { release(data, size) };
        size
    } else {
        0
    }
}

pub fn now_nanos() -> u64 {
    let mut t = 0u64;
    unsafe { abi::proxy_get_current_time_nanoseconds(&mut t) };
    t
}

/// One compare-and-swap round on a shared-data key: read the value and its
/// CAS token, write `value` back under that token (one try).
pub fn shared_data_cas(key: &str, value: &[u8]) -> u32 {
    let mut data = std::ptr::null_mut();
    let mut size = 0usize;
    let mut cas = 0u32;
    let status = unsafe {
        abi::proxy_get_shared_data(key.as_ptr(), key.len(), &mut data, &mut size, &mut cas)
    };
    if status == abi::OK {
        unsafe { release(data, size) };
    }
    unsafe { abi::proxy_set_shared_data(key.as_ptr(), key.len(), value.as_ptr(), value.len(), cas) }
}

/// A counter, defined on first use (id kept), incremented by one.
pub fn count(id: &std::sync::atomic::AtomicU32, name: &str) {
    use std::sync::atomic::Ordering;
    let mut metric = id.load(Ordering::Relaxed);
    if metric == 0 {
        unsafe {
            abi::proxy_define_metric(abi::METRIC_COUNTER, name.as_ptr(), name.len(), &mut metric)
        };
        id.store(metric, Ordering::Relaxed);
    }
    unsafe { abi::proxy_increment_metric(metric, 1) };
}

/// The host calls of an exact local rate-limit decision after the key is
/// read (modules (i) and (k)): the clock, one shared-data read and one CAS
/// write of a bucket record, the decision in filter state (about the size
/// of edgeward's `edgeward.ratelimit`), one counter. Nothing is computed.
pub fn ratelimit_decision_calls(allowed: &std::sync::atomic::AtomicU32) {
    static DECISION: &[u8] = br#"{"decision":"allow","policy":"per-tenant","limit":1000000000,"remaining":999999999,"reset_ms":0}"#;
    let now = now_nanos();
    // A bucket record: tokens and the time they were counted.
    let mut record = [0u8; 16];
    record[8..].copy_from_slice(&now.to_le_bytes());
    shared_data_cas("edgeward.rl.per-tenant.bench", &record);
    set_property("edgeward.ratelimit", DECISION);
    count(allowed, "edgeward.ratelimit.allowed.policy.per-tenant");
}

/// The exports a module cannot do without: ABI version and allocator.
/// `_initialize` runs the static constructors once, as the SDK's does;
/// without it the linker would run them at the start of every export.
#[macro_export]
macro_rules! module_exports {
    () => {
        extern "C" {
            fn __wasm_call_ctors();
        }

        #[no_mangle]
        pub extern "C" fn _initialize() {
            unsafe { __wasm_call_ctors() }
        }

        #[no_mangle]
        pub extern "C" fn proxy_abi_version_0_2_1() {}

        #[no_mangle]
        pub extern "C" fn proxy_on_memory_allocate(size: usize) -> *mut u8 {
            $crate::allocate(size)
        }
    };
}

/// [`module_exports`] plus start-up, configuration and the context
/// lifecycle, all doing nothing (and saying yes). Envoy enters
/// `proxy_on_context_create`, `proxy_on_done` and `proxy_on_delete` once
/// per request when they are exported.
#[macro_export]
macro_rules! lifecycle_exports {
    () => {
        $crate::module_exports!();

        #[no_mangle]
        pub extern "C" fn proxy_on_context_create(_context_id: u32, _parent_id: u32) {}

        #[no_mangle]
        pub extern "C" fn proxy_on_vm_start(_root_id: u32, _vm_configuration_size: u32) -> u32 {
            1
        }

        #[no_mangle]
        pub extern "C" fn proxy_on_configure(_root_id: u32, _configuration_size: u32) -> u32 {
            1
        }

        #[no_mangle]
        pub extern "C" fn proxy_on_done(_context_id: u32) -> u32 {
            1
        }

        #[no_mangle]
        pub extern "C" fn proxy_on_delete(_context_id: u32) {}
    };
}

/// Every HTTP callback but request headers, each doing nothing and
/// returning Continue (the SDK exports all of these, so Envoy enters them).
#[macro_export]
macro_rules! other_http_callbacks {
    () => {
        #[no_mangle]
        pub extern "C" fn proxy_on_request_body(_id: u32, _size: u32, _end: u32) -> u32 {
            $crate::abi::CONTINUE
        }

        #[no_mangle]
        pub extern "C" fn proxy_on_request_trailers(_id: u32, _count: u32) -> u32 {
            $crate::abi::CONTINUE
        }

        #[no_mangle]
        pub extern "C" fn proxy_on_response_headers(_id: u32, _count: u32, _end: u32) -> u32 {
            $crate::abi::CONTINUE
        }

        #[no_mangle]
        pub extern "C" fn proxy_on_response_body(_id: u32, _size: u32, _end: u32) -> u32 {
            $crate::abi::CONTINUE
        }

        #[no_mangle]
        pub extern "C" fn proxy_on_response_trailers(_id: u32, _count: u32) -> u32 {
            $crate::abi::CONTINUE
        }

        #[no_mangle]
        pub extern "C" fn proxy_on_log(_id: u32) {}

        #[no_mangle]
        pub extern "C" fn proxy_on_http_call_response(
            _id: u32,
            _token: u32,
            _headers: u32,
            _body_size: u32,
            _trailers: u32,
        ) {
        }

        #[no_mangle]
        pub extern "C" fn proxy_on_tick(_root_id: u32) {}
    };
}
