//! Times `Driver::<JwtFilter>::on_request_headers` on the fake host for
//! each algorithm, with the verified-token cache on (a hit) and off (a full
//! parse and verify), the edge module's request (`EdgeFilter`: JWT cached +
//! tenant, the request of benches/load.py's edge case), plus the request
//! head and identity pieces alone.
//!
//! Usage: edgeward-jwt-path-bench [ITERATIONS] [CASE-SUBSTRING]

use edgeward_core::edge::EdgeFilter;
use edgeward_core::filter::{Action, Driver};
use edgeward_core::host::fake::FakeHost;
use edgeward_core::http::RequestHead;
use edgeward_core::jwt::JwtFilter;
use serde_json::Value;
use std::hint::black_box;
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

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // Embedded (make_fixture.py writes it before the build): WASI under node
    // has no file system here.
    let fixture: Value = serde_json::from_str(include_str!("../fixture.json")).expect("json");
    let iterations: u32 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(2000);
    // Optional: only the cases whose name contains this (e.g. "RS256 no cache").
    let only = args.get(2).cloned().unwrap_or_default();
    // Two passes: the first lets V8 tier the module up (as a long-running
    // Envoy worker has); only the second is printed.
    for pass in 0..2 {
        run_pass(&fixture, iterations, pass == 1, &only);
    }
}

fn run_pass(fixture: &Value, iterations: u32, print: bool, only: &str) {
    if print {
        println!("{:28} {:>10}", "case", "us/request");
    }
    for alg in ["RS256", "ES256", "EdDSA", "HS256"] {
        let token = fixture["tokens"][alg].as_str().expect("token").to_string();
        let auth = format!("Bearer {token}");
        for cache in [1000, 0] {
            let label = if cache > 0 { "cached" } else { "no cache" };
            if !format!("{alg} {label}").contains(only) {
                continue;
            }
            let host = FakeHost::new(1_800_000_000_000);
            *host.plugin_config.borrow_mut() = fixture["configs"][format!("{alg}-{cache}")]
                .to_string()
                .into_bytes();
            let mut vm = Driver::<JwtFilter>::new(1);
            assert!(vm.configure(&host));
            let headers = [
                (":method", "GET"),
                (":path", "/orders"),
                (":authority", "bench"),
                ("user-agent", "wrk"),
                ("accept", "*/*"),
                ("authorization", auth.as_str()),
            ];
            let us = time(iterations, || {
                host.start_stream(2, &headers);
                let a = vm.on_request_headers(&host, 2, true);
                assert_eq!(a, Action::Continue);
                vm.on_done(2);
            });
            if print {
                println!("{:28} {:10.1}", format!("{alg} {label}"), us);
            }
        }
    }
    if "edge RS256 cached".contains(only) {
        let token = fixture["tokens"]["RS256"].as_str().expect("token");
        let auth = format!("Bearer {token}");
        let host = FakeHost::new(1_800_000_000_000);
        *host.plugin_config.borrow_mut() = fixture["configs"]["edge"].to_string().into_bytes();
        let mut vm = Driver::<EdgeFilter>::new(1);
        assert!(vm.configure(&host));
        // What Envoy hands the filter for wrk's GET.
        let headers = [
            (":authority", "127.0.0.1:10000"),
            (":path", "/v1/tenants/acme/orders"),
            (":method", "GET"),
            (":scheme", "http"),
            ("authorization", auth.as_str()),
            ("x-forwarded-proto", "http"),
            ("x-request-id", "6f1c1d2e-8a4b-4c1e-9a7e-0c5b2f3d4e5f"),
        ];
        let us = time(iterations, || {
            host.start_stream(2, &headers);
            let a = vm.on_request_headers(&host, 2, true);
            assert_eq!(a, Action::Continue);
            vm.on_done(2);
        });
        if print {
            println!("{:28} {:10.1}", "edge RS256 cached", us);
        }
    }
    let pairs: Vec<(String, String)> = [
        (":method", "GET"),
        (":path", "/orders"),
        (":authority", "bench"),
        ("user-agent", "wrk"),
        ("authorization", "Bearer x".repeat(80).as_str()),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let us = time(iterations, || {
        black_box(RequestHead::new(black_box(pairs.clone())));
    });
    if print {
        println!("{:28} {:10.1}", "RequestHead from pairs", us);
    }
}
