//! Times `Driver::<RateLimitFilter>::on_request_headers` on the fake host
//! for the configuration `benches/load.py` measures (one token-bucket
//! policy keyed by a header, allowed), and the fake host's own share (a
//! stream started and ended with no filter work), so the difference is the
//! filter's in-VM time. Host calls cost far more in Envoy than on the fake
//! host: this measures only what runs inside the VM.
//!
//! Usage: edgeward-ratelimit-path-bench [ITERATIONS] [CASE-SUBSTRING]

use edgeward_core::filter::{Action, Driver};
use edgeward_core::host::fake::FakeHost;
use edgeward_core::ratelimit::RateLimitFilter;
use serde_json::json;
use std::time::Instant;

fn time<F: FnMut()>(iterations: u32, mut f: F) -> f64 {
    for _ in 0..iterations.div_ceil(10) {
        f();
    }
    let batch = iterations.div_ceil(10).max(1);
    let mut per: Vec<f64> = (0..10)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..batch {
                f();
            }
            start.elapsed().as_secs_f64() * 1e6 / f64::from(batch)
        })
        .collect();
    per.sort_by(f64::total_cmp);
    per[5]
}

fn configs() -> Vec<(&'static str, serde_json::Value)> {
    let huge = 1_000_000_000u64;
    vec![
        (
            "local header key (load.py)",
            json!({"policies": [{"name": "per-tenant",
                "key": [{"dimension": "header", "name": "x-tenant"}],
                "limit": {"token_bucket": {"rate": huge, "burst": huge}}}]}),
        ),
        (
            "local header key, headers all",
            json!({"response_headers": "all", "policies": [{"name": "per-tenant",
                "key": [{"dimension": "header", "name": "x-tenant"}],
                "limit": {"token_bucket": {"rate": huge, "burst": huge}}}]}),
        ),
        (
            "local two policies",
            json!({"policies": [
                {"name": "per-tenant", "key": [{"dimension": "header", "name": "x-tenant"}],
                 "limit": {"token_bucket": {"rate": huge, "burst": huge}}},
                {"name": "all", "match": {"prefix": "/"},
                 "limit": {"fixed_window": {"requests": huge, "window_s": 60}}}]}),
        ),
    ]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let iterations: u32 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(20000);
    let only = args.get(2).cloned().unwrap_or_default();
    // Two passes: the first lets V8 tier the module up; only the second prints.
    for pass in 0..2 {
        run_pass(iterations, pass == 1, &only);
    }
}

fn run_pass(iterations: u32, print: bool, only: &str) {
    if print {
        println!("{:34} {:>10}", "case", "us/request");
    }
    let headers = [
        (":method", "GET"),
        (":path", "/orders?page=2"),
        (":authority", "bench"),
        (":scheme", "http"),
        ("user-agent", "wrk"),
        ("accept", "*/*"),
        ("x-tenant", "bench"),
        ("x-request-id", "5f0c5d6e-2b1d-4c1e-9a57-3f7b1c8e9d01"),
    ];
    let host = FakeHost::new(1_800_000_000_000);
    let floor = time(iterations, || {
        host.start_stream(2, &headers);
    });
    if print && "fake host stream only".contains(only) {
        println!("{:34} {:10.2}", "fake host stream only", floor);
    }
    for (name, cfg) in configs() {
        if !name.contains(only) {
            continue;
        }
        let host = FakeHost::new(1_800_000_000_000);
        *host.plugin_config.borrow_mut() = cfg.to_string().into_bytes();
        let mut vm = Driver::<RateLimitFilter>::new(1);
        assert!(vm.configure(&host));
        let mut n = 0u64;
        let us = time(iterations, || {
            host.start_stream(2, &headers);
            let a = vm.on_request_headers(&host, 2, true);
            assert_eq!(a, Action::Continue);
            let _ = vm.on_response_headers(&host, 2, true);
            vm.on_done(2);
            n += 1;
            if n % 1024 == 0 {
                host.advance_ms(1);
            }
        });
        if print {
            println!("{:34} {:10.2}  (filter {:.2})", name, us, us - floor);
        }
    }
}
