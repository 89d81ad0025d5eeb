//! edgeward's one proxy-wasm adapter, shared by every filter module.
//!
//! - [`abi`]: the host functions, imported directly (the proxy-wasm SDK's
//!   wrappers panic on statuses they do not expect; a panic kills the VM);
//! - [`host`]: edgeward-core's host traits over them ([`WasmHost`]);
//! - [`exports`]: the ABI callbacks, routed to a `Driver` per plugin.
//!
//! A filter crate is one line:
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

/// Defines the module's `_initialize`, registering its filter(s).
#[macro_export]
macro_rules! export_filters {
    ($filter:ty) => {
        $crate::export_filters! { "" => $filter }
    };
    ($($root_id:literal => $filter:ty),+ $(,)?) => {
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
    };
}
