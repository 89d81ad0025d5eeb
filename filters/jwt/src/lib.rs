//! edgeward-jwt: the JWT validation filter as a proxy-wasm module.
//!
//! Only glue: each proxy-wasm callback is forwarded to
//! [`edgeward_core::jwt::runtime::JwtRuntime`], with [`WasmHost`] as the
//! host. The root context and every HTTP context of a VM share one runtime
//! (key copies, token cache, waiting requests).

use edgeward_core::host::{ContextSwitch, LogLevel as CoreLevel, Logger, StreamHost};
use edgeward_core::jwt::config::JwtConfig;
use edgeward_core::jwt::runtime::{HeadersAction, JwtRuntime};
use edgeward_wasm_host::{WasmCalloutResponse, WasmHost};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};
use std::cell::RefCell;
use std::rc::Rc;

/// The VM's runtime, shared by the root and every HTTP context; `None`
/// until `on_configure` succeeds.
#[derive(Clone, Default)]
struct Shared(Rc<RefCell<Option<JwtRuntime>>>);

impl Shared {
    /// Runs `f` on the runtime; `None` when unconfigured (or re-entered,
    /// which proxy-wasm's single-threaded callbacks never do).
    fn with<R>(&self, f: impl FnOnce(&mut JwtRuntime) -> R) -> Option<R> {
        self.0.try_borrow_mut().ok()?.as_mut().map(f)
    }

    /// A callout reply, delivered to whichever context dispatched it; the
    /// runtime may act on other (waiting) contexts, so switch back after.
    fn deliver_call_response(
        &self,
        own_context: u32,
        token: u32,
        num_headers: usize,
        body_size: usize,
    ) {
        let response = WasmCalloutResponse {
            body_size,
            num_headers,
        };
        self.with(|rt| rt.on_http_call_response(&WasmHost, token, &response));
        let _ = WasmHost.switch_to_context(own_context);
    }
}

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Trace);
    proxy_wasm::set_root_context(|context_id| -> Box<dyn RootContext> {
        Box::new(JwtRoot { context_id, runtime: Shared::default() })
    });
}}

struct JwtRoot {
    context_id: u32,
    runtime: Shared,
}

impl Context for JwtRoot {
    fn on_http_call_response(
        &mut self,
        token: u32,
        num_headers: usize,
        body_size: usize,
        _: usize,
    ) {
        self.runtime
            .deliver_call_response(self.context_id, token, num_headers, body_size);
    }
}

impl RootContext for JwtRoot {
    fn on_configure(&mut self, _size: usize) -> bool {
        let host = WasmHost;
        host.refresh_log_level();
        let fail = |what: String| {
            host.log(CoreLevel::Error, &format!("edgeward-jwt: {what}"));
            false
        };
        let bytes = match host.plugin_configuration() {
            Ok(b) => b,
            Err(e) => return fail(format!("cannot read the plugin configuration: {e}")),
        };
        let runtime = match JwtConfig::from_json(&bytes) {
            Ok(cfg) => JwtRuntime::new(cfg),
            Err(e) => return fail(format!("invalid configuration: {e}")),
        };
        let tick = runtime.tick_period_ms().unwrap_or(0);
        match self.runtime.0.try_borrow_mut() {
            Ok(mut slot) => *slot = Some(runtime),
            Err(_) => return fail("configuration update while in use".into()),
        }
        if let Err(e) = host.set_tick_period_ms(tick) {
            return fail(format!("cannot start the timer: {e}"));
        }
        true
    }

    fn on_tick(&mut self) {
        WasmHost.refresh_log_level();
        self.runtime.with(|rt| rt.on_tick(&WasmHost));
        // Settling waiters switches to their contexts; come back.
        let _ = WasmHost.switch_to_context(self.context_id);
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(JwtStream {
            context_id,
            runtime: self.runtime.clone(),
            decided: Decided::No,
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// What the headers callback decided, so body and trailer callbacks never
/// release a request that is held or was denied.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Decided {
    No,
    Allowed,
    HeldOrDenied,
}

struct JwtStream {
    context_id: u32,
    runtime: Shared,
    decided: Decided,
}

impl JwtStream {
    /// Body/trailer verdict: continue only once the request is allowed
    /// (directly, or resumed after waiting for keys).
    fn hold_unless_allowed(&mut self) -> Action {
        let id = self.context_id;
        if self.decided == Decided::HeldOrDenied
            && self.runtime.with(|rt| rt.was_released(id)) == Some(true)
        {
            self.decided = Decided::Allowed;
        }
        match self.decided {
            Decided::Allowed | Decided::No => Action::Continue,
            Decided::HeldOrDenied => Action::Pause,
        }
    }
}

impl Context for JwtStream {
    fn on_http_call_response(
        &mut self,
        token: u32,
        num_headers: usize,
        body_size: usize,
        _: usize,
    ) {
        // A key fetch this request started; the runtime owns it.
        self.runtime
            .deliver_call_response(self.context_id, token, num_headers, body_size);
    }

    fn on_done(&mut self) -> bool {
        let id = self.context_id;
        self.runtime.with(|rt| rt.on_stream_done(id));
        true
    }
}

impl HttpContext for JwtStream {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let id = self.context_id;
        match self.runtime.with(|rt| rt.on_request_headers(&WasmHost, id)) {
            Some(HeadersAction::Continue) => {
                self.decided = Decided::Allowed;
                Action::Continue
            }
            Some(HeadersAction::Pause) => {
                self.decided = Decided::HeldOrDenied;
                Action::Pause
            }
            None => {
                self.decided = Decided::HeldOrDenied;
                deny_unconfigured()
            }
        }
    }

    fn on_http_request_body(&mut self, _body_size: usize, _end_of_stream: bool) -> Action {
        self.hold_unless_allowed()
    }

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        self.hold_unless_allowed()
    }
}

/// No configuration (cannot happen after a successful `on_configure`, but
/// never let a request through unchecked).
fn deny_unconfigured() -> Action {
    let reply = edgeward_core::http::problem_reply(
        500,
        "Internal Server Error",
        "filter_unconfigured",
        "The JWT filter has no configuration.",
        vec![],
        "edgeward_jwt_unconfigured".into(),
    );
    let _ = WasmHost.send_local_reply(&reply);
    Action::Pause
}
