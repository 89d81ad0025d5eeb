//! (b) Exports only the request-headers callback (besides the lifecycle
//! exports): Envoy skips every callback a module does not export.
edgeward_abi_floor::lifecycle_exports!();

#[no_mangle]
pub extern "C" fn proxy_on_request_headers(_id: u32, _count: u32, _end: u32) -> u32 {
    edgeward_abi_floor::abi::CONTINUE
}
