//! edgeward-jwt: the JWT validation filter as a proxy-wasm module.
//!
//! Only glue: each proxy-wasm callback is forwarded to
//! [`edgeward_core::jwt::runtime::JwtRuntime`], with [`WasmHost`] as the
//! host. The root context and every HTTP context of a VM share one runtime
//! (key copies, token cache, waiting requests).

use edgeward_core::host::{LogLevel as CoreLevel, Logger};
use edgeward_core::jwt::config::JwtConfig;
use edgeward_core::jwt::runtime::{HeadersAction, JwtRuntime};
use edgeward_wasm_host::{WasmCalloutResponse, WasmHost};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};
use std::cell::RefCell;
use std::rc::Rc;

type Shared = Rc<RefCell<Option<JwtRuntime>>>;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Trace);
    proxy_wasm::set_root_context(|context_id| -> Box<dyn RootContext> {
        Box::new(JwtRoot { context_id, runtime: Rc::new(RefCell::new(None)) })
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
        let response = WasmCalloutResponse {
            body_size,
            num_headers,
        };
        if let Ok(mut rt) = self.runtime.try_borrow_mut() {
            if let Some(rt) = rt.as_mut() {
                rt.on_http_call_response(&WasmHost, token, &response);
            }
        }
        let _ = edgeward_core::host::ContextSwitch::switch_to_context(&WasmHost, self.context_id);
    }
}

impl RootContext for JwtRoot {
    fn on_configure(&mut self, _size: usize) -> bool {
        let host = WasmHost;
        host.refresh_log_level();
        let bytes = match host.plugin_configuration() {
            Ok(b) => b,
            Err(e) => {
                host.log(
                    CoreLevel::Error,
                    &format!("edgeward-jwt: cannot read the plugin configuration: {e}"),
                );
                return false;
            }
        };
        match JwtConfig::from_json(&bytes) {
            Ok(cfg) => {
                let runtime = JwtRuntime::new(cfg);
                let tick = runtime.tick_period_ms().unwrap_or(0);
                if let Ok(mut slot) = self.runtime.try_borrow_mut() {
                    *slot = Some(runtime);
                } else {
                    return false;
                }
                if let Err(e) = host.set_tick_period_ms(tick) {
                    host.log(
                        CoreLevel::Error,
                        &format!("edgeward-jwt: cannot start the timer: {e}"),
                    );
                    return false;
                }
                true
            }
            Err(e) => {
                host.log(
                    CoreLevel::Error,
                    &format!("edgeward-jwt: invalid configuration: {e}"),
                );
                false
            }
        }
    }

    fn on_tick(&mut self) {
        WasmHost.refresh_log_level();
        if let Ok(mut rt) = self.runtime.try_borrow_mut() {
            if let Some(rt) = rt.as_mut() {
                rt.on_tick(&WasmHost);
            }
        }
        // Settling waiters switches to their contexts; come back.
        let _ = edgeward_core::host::ContextSwitch::switch_to_context(&WasmHost, self.context_id);
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
        if self.decided == Decided::HeldOrDenied {
            let released = self
                .runtime
                .try_borrow()
                .map(|rt| {
                    rt.as_ref()
                        .is_some_and(|rt| rt.was_released(self.context_id))
                })
                .unwrap_or(false);
            if released {
                self.decided = Decided::Allowed;
            }
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
        let response = WasmCalloutResponse {
            body_size,
            num_headers,
        };
        if let Ok(mut rt) = self.runtime.try_borrow_mut() {
            if let Some(rt) = rt.as_mut() {
                rt.on_http_call_response(&WasmHost, token, &response);
            }
        }
        let _ = edgeward_core::host::ContextSwitch::switch_to_context(&WasmHost, self.context_id);
    }

    fn on_done(&mut self) -> bool {
        if let Ok(mut rt) = self.runtime.try_borrow_mut() {
            if let Some(rt) = rt.as_mut() {
                rt.on_stream_done(self.context_id);
            }
        }
        true
    }
}

impl HttpContext for JwtStream {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Ok(mut rt) = self.runtime.try_borrow_mut() else {
            return deny_unconfigured();
        };
        let Some(rt) = rt.as_mut() else {
            return deny_unconfigured();
        };
        match rt.on_request_headers(&WasmHost, self.context_id) {
            HeadersAction::Continue => {
                self.decided = Decided::Allowed;
                Action::Continue
            }
            HeadersAction::Pause => {
                self.decided = Decided::HeldOrDenied;
                Action::Pause
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
    let _ = edgeward_core::host::StreamHost::send_local_reply(&WasmHost, &reply);
    Action::Pause
}
