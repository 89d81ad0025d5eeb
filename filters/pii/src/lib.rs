//! edgeward-pii: the PII-masking audit record filter as a proxy-wasm module.
//! All logic is in `edgeward_core::pii`; the shared adapter does the rest.
//! Exported: the body callbacks (excerpts), the response headers (excerpt
//! content type), the log phase (the record), the timer and the collector's
//! reply. Nothing is exported for trailers: the filter never pauses.
edgeward_wasm_host::export_filters!(
    edgeward_core::pii::PiiFilter;
    callbacks: request_headers, request_body, response_headers, response_body, log, tick,
        http_call_response
);
