//! (i) The least a local rate-limit decision that is exact across Envoy's
//! workers must ask of the host per request (issue 18's local case): one
//! request header (the key; the real filter reads the whole map so that a
//! repeated header is one key), the clock, one shared-data read and one
//! CAS write of the bucket, the decision in filter state for the audit
//! record, one counter. No decision is computed: only the host calls.
use std::sync::atomic::AtomicU32;

edgeward_abi_floor::lifecycle_exports!();

static ALLOWED: AtomicU32 = AtomicU32::new(0);

#[no_mangle]
pub extern "C" fn proxy_on_request_headers(_id: u32, _count: u32, _end: u32) -> u32 {
    edgeward_abi_floor::read_request_header("x-tenant");
    edgeward_abi_floor::ratelimit_decision_calls(&ALLOWED);
    edgeward_abi_floor::abi::CONTINUE
}
