//! edgeward-tenant: the tenant authorization filter as a proxy-wasm module.
//! All logic is in `edgeward_core::authz`; the shared adapter does the rest.
//! Exported: the request headers, and the body and trailers (a rule bound
//! to the JSON body decides once the body is complete).
edgeward_wasm_host::export_filters!(
    edgeward_core::authz::TenantFilter;
    callbacks: request_headers, request_body, request_trailers
);
