//! (i) The least a local rate-limit decision that is exact across Envoy's
//! workers must ask of the host per request (issue 18's local case): one
//! request header (the key; the real filter reads the whole map so that a
//! repeated header is one key), the clock, one shared-data read and one
//! CAS write of the bucket, the decision in filter state for the audit
//! record, one counter. No decision is computed: only the host calls.
use std::sync::atomic::AtomicU32;

edgeward_abi_floor::lifecycle_exports!();

static ALLOWED: AtomicU32 = AtomicU32::new(0);

/// About the size of edgeward's `edgeward.ratelimit` decision.
static DECISION: &[u8] =
    br#"{"decision":"allow","policy":"per-tenant","limit":1000000000,"remaining":999999999,"reset_ms":0}"#;

#[no_mangle]
pub extern "C" fn proxy_on_request_headers(_id: u32, _count: u32, _end: u32) -> u32 {
    edgeward_abi_floor::read_request_header("x-tenant");
    let now = edgeward_abi_floor::now_nanos();
    // A bucket record: tokens and the time they were counted.
    let mut record = [0u8; 16];
    record[8..].copy_from_slice(&now.to_le_bytes());
    edgeward_abi_floor::shared_data_cas("edgeward.rl.per-tenant.bench", &record);
    edgeward_abi_floor::set_property("edgeward.ratelimit", DECISION);
    edgeward_abi_floor::count(&ALLOWED, "edgeward.ratelimit.allowed.policy.per-tenant");
    edgeward_abi_floor::abi::CONTINUE
}
