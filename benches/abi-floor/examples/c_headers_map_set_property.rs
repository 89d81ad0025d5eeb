//! (c) As (b), and the callback reads the whole request header map and
//! sets one 300-byte property: roughly what a JWT filter's cache hit must do
//! at least (read the head, publish the identity).
edgeward_abi_floor::lifecycle_exports!();

/// 300 bytes, about the size of an identity record.
static IDENTITY: [u8; 300] = [b'x'; 300];

#[no_mangle]
pub extern "C" fn proxy_on_request_headers(_id: u32, _count: u32, _end: u32) -> u32 {
    edgeward_abi_floor::read_request_header_map();
    edgeward_abi_floor::set_property("bench.identity", &IDENTITY);
    edgeward_abi_floor::abi::CONTINUE
}
