//! The floor of a body-validating filter (benches/load.py): on edgeward's
//! own adapter and driver, like the schema filter, it pauses on the
//! headers, lets Envoy buffer the body, reads it whole at the end of the
//! stream and continues, deciding nothing. What the schema filter costs
//! above it is parsing and validation.
//!
//! Two features add the least any JSON body validator must do, to bound
//! from below what a schema filter can cost here (README, schema "Cost"):
//! `scan` reads every byte once (counts quote bytes), `syntax` checks the
//! body is one JSON document (serde_json into `IgnoredAny`: no tree, no
//! duplicate-key check, no schema). A body that fails is answered 400, so
//! the work cannot be optimised away.
use edgeward_core::config::ConfigError;
use edgeward_core::filter::{Filter, StreamId, Verdict};
use edgeward_core::host::{Host, LocalReply};

pub struct BodyFloor;

impl Filter for BodyFloor {
    const NAME: &'static str = "body_floor";

    fn configure<H: Host>(_host: &H, _config: &[u8]) -> Result<Self, ConfigError> {
        Ok(BodyFloor)
    }

    fn on_request_headers<H: Host>(&mut self, host: &H, _s: StreamId, eos: bool) -> Verdict {
        // The same header read the schema filter starts with.
        let _ = host.request_head();
        if eos {
            Verdict::Continue
        } else {
            Verdict::Pause
        }
    }

    fn on_request_body<H: Host>(
        &mut self,
        host: &H,
        _s: StreamId,
        size: usize,
        eos: bool,
    ) -> Verdict {
        if !eos {
            return Verdict::Pause;
        }
        match host.request_body(0, size) {
            Ok(b) if b.len() == size && least_check(&b) => Verdict::Continue,
            Ok(_) if cfg!(any(feature = "scan", feature = "syntax")) => {
                let reply = LocalReply {
                    status: 400,
                    headers: Vec::new(),
                    body: b"body refused".to_vec(),
                    details: "body_refused".into(),
                };
                match host.send_local_reply(&reply) {
                    Ok(()) => Verdict::Answered,
                    Err(_) => Verdict::Continue,
                }
            }
            _ => Verdict::Continue,
        }
    }
}

#[cfg(feature = "syntax")]
fn least_check(body: &[u8]) -> bool {
    serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok()
}

#[cfg(all(feature = "scan", not(feature = "syntax")))]
fn least_check(body: &[u8]) -> bool {
    // An odd count is refused so the pass has an observable result.
    body.iter().filter(|&&b| b == b'"').count() % 2 == 0
}

#[cfg(not(any(feature = "scan", feature = "syntax")))]
fn least_check(_body: &[u8]) -> bool {
    true
}

edgeward_wasm_host::export_filters!(
    BodyFloor;
    callbacks: request_headers, request_body, request_trailers, response_headers, response_body
);
