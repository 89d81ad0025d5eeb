//! edgeward's one proxy-wasm adapter, shared by every filter module.
//!
//! - [`abi`]: the host functions, imported directly (the proxy-wasm SDK's
//!   wrappers panic on statuses they do not expect; a panic kills the VM);
//! - [`host`]: edgeward-core's host traits over them ([`WasmHost`]);
//! - [`exports`]: the ABI callbacks, routed to a `Driver` per plugin.
//!
//! A filter crate is one line (optionally naming the callbacks it needs,
//! see [`export_filters!`]):
//!
//! ```ignore
//! edgeward_wasm_host::export_filters!(edgeward_core::jwt::JwtFilter);
//! ```
//!
//! and a module holding several filters, selected by the plugin's
//! `root_id` and sharing one VM, lists them:
//!
//! ```ignore
//! edgeward_wasm_host::export_filters! {
//!     "edgeward_jwt" => edgeward_core::jwt::JwtFilter,
//!     "edgeward_tenant" => edgeward_core::authz::TenantFilter,
//! }
//! ```

pub mod abi;
pub mod exports;
pub mod host;

pub use exports::{factory, register, Factory, Plugin};
pub use host::{WasmCalloutResponse, WasmGrpcResponse, WasmHost};

/// Defines the module's ABI exports and its `_initialize`, registering its
/// filter(s).
///
/// `callbacks:` lists the stream callbacks the filter needs; only those are
/// exported (Envoy skips a callback a module does not export, and entering
/// one costs per request). Without it, every callback is exported. The
/// groups: `request_headers`, `request_body`, `request_trailers`,
/// `response_headers`, `response_body`, `response_trailers`, `log`, `tick`,
/// `http_call_response`, `grpc` (the gRPC reply callbacks). The lifecycle
/// exports (context create, configure, done, delete, memory) are always
/// there. A held request needs `request_body` and `request_trailers`, or
/// its body would continue past the filter.
#[macro_export]
macro_rules! export_filters {
    ($filter:ty) => {
        $crate::export_filters!($filter; callbacks: all);
    };
    ($filter:ty; callbacks: $($cb:ident),+ $(,)?) => {
        $crate::__edgeward_lifecycle!("" => $filter);
        $( $crate::__edgeward_callback!($cb); )+
    };
    ($($root_id:literal => $filter:ty),+ $(,)?) => {
        $crate::__edgeward_lifecycle!($($root_id => $filter),+);
        $crate::__edgeward_callback!(all);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __edgeward_lifecycle {
    ($($root_id:literal => $filter:ty),+) => {
        #[cfg(target_os = "wasi")]
        extern "C" {
            fn __wasm_call_ctors();
        }

        /// WASI reactor entry point: the host calls it once after loading.
        #[no_mangle]
        pub extern "C" fn _initialize() {
            #[cfg(target_os = "wasi")]
            // SAFETY: run once, by the host, before any other export.
            unsafe {
                __wasm_call_ctors();
            }
            $crate::register(&[$(($root_id, $crate::factory::<$filter> as $crate::Factory)),+]);
        }
        #[no_mangle]
        pub extern "C" fn proxy_abi_version_0_2_1() {}
        #[no_mangle]
        pub extern "C" fn proxy_on_memory_allocate(size: usize) -> *mut u8 {
            $crate::exports::on_memory_allocate(size)
        }
        #[no_mangle]
        pub extern "C" fn proxy_on_context_create(context_id: u32, parent: u32) {
            $crate::exports::on_context_create(context_id, parent)
        }
        #[no_mangle]
        pub extern "C" fn proxy_on_vm_start(root: u32, size: usize) -> bool {
            $crate::exports::on_vm_start(root, size)
        }
        #[no_mangle]
        pub extern "C" fn proxy_on_configure(root: u32, size: usize) -> bool {
            $crate::exports::on_configure(root, size)
        }
        #[no_mangle]
        pub extern "C" fn proxy_on_done(context_id: u32) -> bool {
            $crate::exports::on_done(context_id)
        }
        #[no_mangle]
        pub extern "C" fn proxy_on_delete(context_id: u32) {
            $crate::exports::on_delete(context_id)
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __edgeward_callback {
    (all) => {
        $crate::__edgeward_callback!(request_headers);
        $crate::__edgeward_callback!(request_body);
        $crate::__edgeward_callback!(request_trailers);
        $crate::__edgeward_callback!(response_headers);
        $crate::__edgeward_callback!(response_body);
        $crate::__edgeward_callback!(response_trailers);
        $crate::__edgeward_callback!(log);
        $crate::__edgeward_callback!(tick);
        $crate::__edgeward_callback!(http_call_response);
        $crate::__edgeward_callback!(grpc);
    };
    (request_headers) => {
        #[no_mangle]
        pub extern "C" fn proxy_on_request_headers(c: u32, n: usize, eos: bool) -> u32 {
            $crate::exports::on_request_headers(c, n, eos)
        }
    };
    (request_body) => {
        #[no_mangle]
        pub extern "C" fn proxy_on_request_body(c: u32, size: usize, eos: bool) -> u32 {
            $crate::exports::on_request_body(c, size, eos)
        }
    };
    (request_trailers) => {
        #[no_mangle]
        pub extern "C" fn proxy_on_request_trailers(c: u32, n: usize) -> u32 {
            $crate::exports::on_request_trailers(c, n)
        }
    };
    (response_headers) => {
        #[no_mangle]
        pub extern "C" fn proxy_on_response_headers(c: u32, n: usize, eos: bool) -> u32 {
            $crate::exports::on_response_headers(c, n, eos)
        }
    };
    (response_body) => {
        #[no_mangle]
        pub extern "C" fn proxy_on_response_body(c: u32, size: usize, eos: bool) -> u32 {
            $crate::exports::on_response_body(c, size, eos)
        }
    };
    (response_trailers) => {
        #[no_mangle]
        pub extern "C" fn proxy_on_response_trailers(c: u32, n: usize) -> u32 {
            $crate::exports::on_response_trailers(c, n)
        }
    };
    (log) => {
        #[no_mangle]
        pub extern "C" fn proxy_on_log(c: u32) {
            $crate::exports::on_log(c)
        }
    };
    (tick) => {
        #[no_mangle]
        pub extern "C" fn proxy_on_tick(root: u32) {
            $crate::exports::on_tick(root)
        }
    };
    (http_call_response) => {
        #[no_mangle]
        pub extern "C" fn proxy_on_http_call_response(
            c: u32,
            token: u32,
            headers: usize,
            body: usize,
            trailers: usize,
        ) {
            $crate::exports::on_http_call_response(c, token, headers, body, trailers)
        }
    };
    (grpc) => {
        #[no_mangle]
        pub extern "C" fn proxy_on_grpc_receive_initial_metadata(c: u32, t: u32, n: u32) {
            $crate::exports::on_grpc_receive_initial_metadata(c, t, n)
        }
        #[no_mangle]
        pub extern "C" fn proxy_on_grpc_receive_trailing_metadata(c: u32, t: u32, n: u32) {
            $crate::exports::on_grpc_receive_trailing_metadata(c, t, n)
        }
        #[no_mangle]
        pub extern "C" fn proxy_on_grpc_receive(c: u32, t: u32, size: usize) {
            $crate::exports::on_grpc_receive(c, t, size)
        }
        #[no_mangle]
        pub extern "C" fn proxy_on_grpc_close(c: u32, t: u32, status: u32) {
            $crate::exports::on_grpc_close(c, t, status)
        }
    };
}
