//! The floor of a body-validating filter (benches/load.py): on edgeward's
//! own adapter and driver, like the schema filter, it pauses on the
//! headers, lets Envoy buffer the body, reads it whole at the end of the
//! stream and continues, deciding nothing. What the schema filter costs
//! above it is parsing and validation.
use edgeward_core::config::ConfigError;
use edgeward_core::filter::{Filter, StreamId, Verdict};
use edgeward_core::host::Host;

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
            Ok(b) if b.len() == size => Verdict::Continue,
            _ => Verdict::Continue,
        }
    }
}

edgeward_wasm_host::export_filters!(
    BodyFloor;
    callbacks: request_headers, request_body, request_trailers, response_headers, response_body
);
