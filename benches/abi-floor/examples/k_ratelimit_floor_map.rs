//! (k) (i) with the key read the way edgeward reads a `header` dimension:
//! the whole request header map, because `proxy_get_header_map_value`
//! returns only the first value of a repeated header and the key must
//! count all of them (two readings of one request are refused elsewhere;
//! here the limiter must not key `x-tenant: a` + `x-tenant: b` as `a`).
//! Everything else as (i): the clock, one shared-data read and one CAS
//! write, the decision in filter state, one counter. Nothing computed.
use std::sync::atomic::AtomicU32;

edgeward_abi_floor::lifecycle_exports!();

static ALLOWED: AtomicU32 = AtomicU32::new(0);

#[no_mangle]
pub extern "C" fn proxy_on_request_headers(_id: u32, _count: u32, _end: u32) -> u32 {
    edgeward_abi_floor::read_request_header_map();
    edgeward_abi_floor::ratelimit_decision_calls(&ALLOWED);
    edgeward_abi_floor::abi::CONTINUE
}
