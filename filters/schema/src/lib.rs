//! edgeward-schema: the schema enforcement filter as a proxy-wasm module.
//! All logic is in `edgeward_core::schema`; the shared adapter does the
//! rest. Request headers, body and trailers (the body is validated), and
//! the response headers and body (response validation and stripping).
edgeward_wasm_host::export_filters!(
    edgeward_core::schema::SchemaFilter;
    callbacks: request_headers, request_body, request_trailers, response_headers, response_body
);
