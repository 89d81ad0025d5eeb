//! (f) As (a), and the request-headers callback does what the SDK-based
//! trivial filter (tests/fixtures/trivial-filter) does: read one header,
//! replace one. Against that filter it isolates the SDK's own cost.
edgeward_abi_floor::lifecycle_exports!();
edgeward_abi_floor::other_http_callbacks!();

#[no_mangle]
pub extern "C" fn proxy_on_request_headers(_id: u32, _count: u32, _end: u32) -> u32 {
    if edgeward_abi_floor::read_request_header("x-panic") {
        // The trivial filter panics here; this module only refuses to go on.
        return 1;
    }
    edgeward_abi_floor::replace_request_header("x-trivial", "seen");
    edgeward_abi_floor::abi::CONTINUE
}
