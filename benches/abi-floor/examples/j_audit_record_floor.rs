//! (j) The least the PII filter's audit record asks of the host on a GET
//! (issue 17): in the log phase, the request header map (request id, trace
//! id, method, authority, path, chosen headers), the five values Envoy
//! offers only as properties (status, duration, bytes in and out, client
//! address), the four other filters' decisions from filter state, and the
//! record written to filter state once. No masking, no JSON: host calls.
edgeward_abi_floor::lifecycle_exports!();

/// About the size of the record the bench's GET leaves.
static RECORD: [u8; 400] = [b'x'; 400];

static PROPERTIES: [&[u8]; 9] = [
    b"response\0code",
    b"request\0duration",
    b"request\0size",
    b"response\0size",
    b"source\0address",
    b"edgeward.identity",
    b"edgeward.authz",
    b"edgeward.schema",
    b"edgeward.ratelimit",
];

#[no_mangle]
pub extern "C" fn proxy_on_log(_id: u32) {
    edgeward_abi_floor::read_request_header_map();
    for p in PROPERTIES {
        edgeward_abi_floor::read_property(p);
    }
    edgeward_abi_floor::set_property("edgeward.log", &RECORD);
}
