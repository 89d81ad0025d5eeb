//! edgeward-jwt: the JWT validation filter as a proxy-wasm module. All logic
//! is in `edgeward_core::jwt`; the shared adapter does the rest.
edgeward_wasm_host::export_filters!(edgeward_core::jwt::JwtFilter);
