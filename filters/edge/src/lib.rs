//! edgeward-edge: the JWT filter then the tenant authorization filter in
//! one proxy-wasm filter entry (`edgeward_core::edge::EdgeFilter`), for a
//! gateway that runs both: one module floor and one header-map read per
//! request instead of two, the identity handed over in memory (still
//! published to `edgeward.identity`). Exported: the JWT filter's callbacks
//! (the tenant filter's are a subset).
edgeward_wasm_host::export_filters!(
    edgeward_core::edge::EdgeFilter;
    callbacks: request_headers, request_body, request_trailers, tick, http_call_response
);
