//! The proxy-wasm ABI exports: every callback the host makes, routed to the
//! [`Driver`] of the plugin (root context) it belongs to.
//!
//! One module can hold several filters: [`register`] gives a table of
//! `root_id -> filter`, and each root context picks its filter by the
//! plugin's `root_id` when it is configured (with a single filter, any
//! `root_id` selects it). Streams are routed to the root that created them.
//! Nothing here panics: an unknown context, or a callback arriving while
//! another runs (never done by proxy-wasm hosts), pauses the stream rather
//! than letting it through.

use crate::host::{WasmCalloutResponse, WasmGrpcResponse, WasmHost};
use edgeward_core::filter::{Action, Driver, Filter};
use edgeward_core::fnv::FnvMap;
use edgeward_core::host::{CalloutResponse, GrpcResponse, LogLevel, Logger, StreamHost};
use std::cell::RefCell;
use std::collections::HashSet;
use std::mem::MaybeUninit;

/// What the exports need of one plugin instance: a [`Driver`] with the
/// proxy-wasm host, behind a trait object so that one module can hold
/// drivers of several filter types.
pub trait Plugin {
    fn configure(&mut self) -> bool;
    fn on_tick(&mut self);
    fn on_request_headers(&mut self, id: u32, eos: bool) -> Action;
    fn on_request_body(&mut self, id: u32, size: usize, eos: bool) -> Action;
    fn on_request_trailers(&mut self, id: u32) -> Action;
    fn on_response_headers(&mut self, id: u32, eos: bool) -> Action;
    fn on_response_body(&mut self, id: u32, size: usize, eos: bool) -> Action;
    fn on_response_trailers(&mut self, id: u32) -> Action;
    fn on_log(&mut self, id: u32);
    fn on_done(&mut self, id: u32);
    fn on_http_call_response(&mut self, context: u32, token: u32, r: &dyn CalloutResponse);
    fn on_grpc_call_response(&mut self, context: u32, token: u32, r: &dyn GrpcResponse);
}

impl<F: Filter> Plugin for Driver<F> {
    fn configure(&mut self) -> bool {
        Driver::configure(self, &WasmHost)
    }
    fn on_tick(&mut self) {
        Driver::on_tick(self, &WasmHost)
    }
    fn on_request_headers(&mut self, id: u32, eos: bool) -> Action {
        Driver::on_request_headers(self, &WasmHost, id, eos)
    }
    fn on_request_body(&mut self, id: u32, size: usize, eos: bool) -> Action {
        Driver::on_request_body(self, &WasmHost, id, size, eos)
    }
    fn on_request_trailers(&mut self, id: u32) -> Action {
        Driver::on_request_trailers(self, &WasmHost, id)
    }
    fn on_response_headers(&mut self, id: u32, eos: bool) -> Action {
        Driver::on_response_headers(self, &WasmHost, id, eos)
    }
    fn on_response_body(&mut self, id: u32, size: usize, eos: bool) -> Action {
        Driver::on_response_body(self, &WasmHost, id, size, eos)
    }
    fn on_response_trailers(&mut self, id: u32) -> Action {
        Driver::on_response_trailers(self, &WasmHost, id)
    }
    fn on_log(&mut self, id: u32) {
        Driver::on_log(self, &WasmHost, id)
    }
    fn on_done(&mut self, id: u32) {
        Driver::on_done(self, id)
    }
    fn on_http_call_response(&mut self, context: u32, token: u32, r: &dyn CalloutResponse) {
        Driver::on_http_call_response(self, &WasmHost, context, token, r)
    }
    fn on_grpc_call_response(&mut self, context: u32, token: u32, r: &dyn GrpcResponse) {
        Driver::on_grpc_call_response(self, &WasmHost, context, token, r)
    }
}

/// Makes a plugin for a root context.
pub type Factory = fn(root_context: u32) -> Box<dyn Plugin>;

/// The factory of filter `F` (used by [`crate::export_filters!`]).
pub fn factory<F: Filter + 'static>(root_context: u32) -> Box<dyn Plugin> {
    Box::new(Driver::<F>::new(root_context))
}

#[derive(Default)]
struct Registry {
    filters: Vec<(&'static str, Factory)>,
    /// Root contexts; `None` until configured (or when the root_id is unknown).
    roots: FnvMap<u32, Option<Box<dyn Plugin>>>,
    /// Stream context -> its root context.
    streams: FnvMap<u32, u32>,
}

thread_local! {
    static REGISTRY: RefCell<Registry> = RefCell::new(Registry::default());
    /// gRPC calls in flight, so a reply is delivered once. Apart from the
    /// registry: calls are dispatched while a plugin (inside the registry)
    /// runs.
    static GRPC_PENDING: RefCell<HashSet<u32>> = RefCell::new(HashSet::new());
}

/// Called once from the module's `_initialize` (see [`crate::export_filters!`]).
pub fn register(filters: &[(&'static str, Factory)]) {
    REGISTRY.with(|r| {
        if let Ok(mut r) = r.try_borrow_mut() {
            r.filters = filters.to_vec();
        }
    });
}

pub(crate) fn grpc_dispatched(token: u32) {
    GRPC_PENDING.with(|p| {
        if let Ok(mut p) = p.try_borrow_mut() {
            p.insert(token);
        }
    });
}

/// Runs `f` on the plugin owning `context` (a root or one of its streams).
fn with_plugin<R>(context: u32, otherwise: R, f: impl FnOnce(&mut dyn Plugin) -> R) -> R {
    REGISTRY.with(|r| {
        let Ok(mut reg) = r.try_borrow_mut() else {
            return otherwise;
        };
        let root = reg.streams.get(&context).copied().unwrap_or(context);
        match reg.roots.get_mut(&root) {
            Some(Some(plugin)) => f(plugin.as_mut()),
            _ => otherwise,
        }
    })
}

fn action(a: Action) -> u32 {
    match a {
        Action::Continue => 0,
        Action::Pause => 1,
    }
}

// ---------------------------------------------------------------- exports
//
// The bodies of the ABI exports. The `#[no_mangle]` wrappers are emitted by
// `export_filters!` in each filter crate, so a module exports only the
// callbacks its filters use: Envoy skips a callback a module does not
// export, and entering one costs per request (benches/abi-floor).

/// The host allocates buffers it hands to the module with this.
#[doc(hidden)]
pub fn on_memory_allocate(size: usize) -> *mut u8 {
    let mut buf: Vec<MaybeUninit<u8>> = Vec::with_capacity(size);
    // SAFETY: MaybeUninit needs no initialisation; the host writes `size` bytes.
    unsafe { buf.set_len(size) };
    Box::into_raw(buf.into_boxed_slice()) as *mut u8
}

#[doc(hidden)]
pub fn on_context_create(context_id: u32, parent_context_id: u32) {
    REGISTRY.with(|r| {
        if let Ok(mut reg) = r.try_borrow_mut() {
            if parent_context_id == 0 {
                reg.roots.insert(context_id, None);
            } else {
                reg.streams.insert(context_id, parent_context_id);
            }
        }
    });
}

#[doc(hidden)]
pub fn on_vm_start(_root_context: u32, _vm_configuration_size: usize) -> bool {
    true
}

#[doc(hidden)]
pub fn on_configure(root_context: u32, _configuration_size: usize) -> bool {
    let host = WasmHost;
    host.refresh_log_level();
    let root_id = host
        .property(&["plugin_root_id"])
        .ok()
        .flatten()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    // Build the plugin outside the borrow: configuring may log, and logging
    // never re-enters, but keep the registry borrow short anyway.
    let factory = REGISTRY.with(|r| {
        let reg = r.try_borrow().ok()?;
        match reg.filters.as_slice() {
            [(_, only)] => Some(*only),
            many => many.iter().find(|(id, _)| *id == root_id).map(|(_, f)| *f),
        }
    });
    let Some(factory) = factory else {
        let known: Vec<&str> = REGISTRY.with(|r| {
            r.try_borrow()
                .map(|reg| reg.filters.iter().map(|(id, _)| *id).collect())
                .unwrap_or_default()
        });
        host.log(
            LogLevel::Error,
            &format!(
                "edgeward: no filter for root_id {root_id:?} in this module; it holds: {}",
                known.join(", ")
            ),
        );
        return false;
    };
    let mut plugin = factory(root_context);
    if !plugin.configure() {
        return false;
    }
    REGISTRY.with(|r| match r.try_borrow_mut() {
        Ok(mut reg) => {
            reg.roots.insert(root_context, Some(plugin));
            true
        }
        Err(_) => false,
    })
}

#[doc(hidden)]
pub fn on_tick(root_context: u32) {
    WasmHost.refresh_log_level();
    with_plugin(root_context, (), |p| p.on_tick());
}

#[doc(hidden)]
pub fn on_request_headers(context_id: u32, _num_headers: usize, eos: bool) -> u32 {
    action(with_plugin(context_id, Action::Pause, |p| {
        p.on_request_headers(context_id, eos)
    }))
}

#[doc(hidden)]
pub fn on_request_body(context_id: u32, size: usize, eos: bool) -> u32 {
    action(with_plugin(context_id, Action::Pause, |p| {
        p.on_request_body(context_id, size, eos)
    }))
}

#[doc(hidden)]
pub fn on_request_trailers(context_id: u32, _num_trailers: usize) -> u32 {
    action(with_plugin(context_id, Action::Pause, |p| {
        p.on_request_trailers(context_id)
    }))
}

#[doc(hidden)]
pub fn on_response_headers(context_id: u32, _num_headers: usize, eos: bool) -> u32 {
    action(with_plugin(context_id, Action::Pause, |p| {
        p.on_response_headers(context_id, eos)
    }))
}

#[doc(hidden)]
pub fn on_response_body(context_id: u32, size: usize, eos: bool) -> u32 {
    action(with_plugin(context_id, Action::Pause, |p| {
        p.on_response_body(context_id, size, eos)
    }))
}

#[doc(hidden)]
pub fn on_response_trailers(context_id: u32, _num_trailers: usize) -> u32 {
    action(with_plugin(context_id, Action::Pause, |p| {
        p.on_response_trailers(context_id)
    }))
}

#[doc(hidden)]
pub fn on_log(context_id: u32) {
    with_plugin(context_id, (), |p| p.on_log(context_id));
}

#[doc(hidden)]
pub fn on_done(context_id: u32) -> bool {
    with_plugin(context_id, (), |p| p.on_done(context_id));
    true
}

#[doc(hidden)]
pub fn on_delete(context_id: u32) {
    REGISTRY.with(|r| {
        if let Ok(mut reg) = r.try_borrow_mut() {
            if reg.streams.remove(&context_id).is_none() {
                reg.roots.remove(&context_id);
            }
        }
    });
}

#[doc(hidden)]
pub fn on_http_call_response(
    context_id: u32,
    token: u32,
    num_headers: usize,
    body_size: usize,
    _num_trailers: usize,
) {
    let response = WasmCalloutResponse {
        body_size,
        num_headers,
    };
    with_plugin(context_id, (), |p| {
        p.on_http_call_response(context_id, token, &response)
    });
}

/// Takes a gRPC call off the pending set; false when already delivered.
fn grpc_settle(token: u32) -> bool {
    GRPC_PENDING.with(|p| match p.try_borrow_mut() {
        Ok(mut p) => p.remove(&token),
        Err(_) => false,
    })
}

#[doc(hidden)]
pub fn on_grpc_receive_initial_metadata(_context: u32, _token: u32, _n: u32) {}

#[doc(hidden)]
pub fn on_grpc_receive_trailing_metadata(_context: u32, _token: u32, _n: u32) {}

/// A unary call's reply message (status OK).
#[doc(hidden)]
pub fn on_grpc_receive(context_id: u32, token: u32, response_size: usize) {
    if !grpc_settle(token) {
        return;
    }
    let response = WasmGrpcResponse {
        status_code: 0,
        message_size: response_size,
    };
    with_plugin(context_id, (), |p| {
        p.on_grpc_call_response(context_id, token, &response)
    });
}

/// A unary call ended without a reply (or after it): deliver the failure once.
#[doc(hidden)]
pub fn on_grpc_close(context_id: u32, token: u32, status_code: u32) {
    if !grpc_settle(token) {
        return;
    }
    let response = WasmGrpcResponse {
        // A close with OK but no message is still not an answer.
        status_code: if status_code == 0 { 2 } else { status_code },
        message_size: 0,
    };
    with_plugin(context_id, (), |p| {
        p.on_grpc_call_response(context_id, token, &response)
    });
}
