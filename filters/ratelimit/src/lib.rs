//! edgeward-ratelimit: the rate limiting filter as a proxy-wasm module. All
//! logic is in `edgeward_core::ratelimit`; the shared adapter does the rest.
//! Exported: the request (body and trailers too, so a request held for the
//! Rate Limit Service stays held), the response headers (rate-limit headers
//! on allowed responses) and the gRPC reply callbacks.
edgeward_wasm_host::export_filters!(
    edgeward_core::ratelimit::RateLimitFilter;
    callbacks: request_headers, request_body, request_trailers, response_headers, grpc
);
