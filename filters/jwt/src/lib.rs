//! edgeward-jwt: the JWT validation filter as a proxy-wasm module. All logic
//! is in `edgeward_core::jwt`; the shared adapter does the rest. Only the
//! callbacks the filter uses are exported: the request (body and trailers
//! too, so a request held for keys stays held), the timer and the key
//! fetch's reply.
edgeward_wasm_host::export_filters!(
    edgeward_core::jwt::JwtFilter;
    callbacks: request_headers, request_body, request_trailers, tick, http_call_response
);
