//! (a) Exports every HTTP callback; each returns Continue at once. The
//! raw-ABI counterpart of an SDK filter that overrides nothing.
edgeward_abi_floor::lifecycle_exports!();
edgeward_abi_floor::other_http_callbacks!();

#[no_mangle]
pub extern "C" fn proxy_on_request_headers(_id: u32, _count: u32, _end: u32) -> u32 {
    edgeward_abi_floor::abi::CONTINUE
}
