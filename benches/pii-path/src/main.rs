//! Times `Driver::<PiiFilter>::on_log` on the fake host for the request of
//! `benches/load.py`'s PII cases (default detectors), plus the masking
//! pieces alone, so the in-VM share of the filter's cost is known.
//!
//! Usage: edgeward-pii-path-bench [ITERATIONS] [CASE-SUBSTRING]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use edgeward_core::filter::{Action, Driver};
use edgeward_core::host::fake::FakeHost;
use edgeward_core::host::StreamHost;
use edgeward_core::pii::{PiiConfig, PiiFilter};
use std::hint::black_box;
use std::time::Instant;

fn time<F: FnMut()>(iterations: u32, mut f: F) -> f64 {
    let batch = iterations.div_ceil(10).max(1);
    for _ in 0..batch {
        f();
    }
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

fn finish(host: &FakeHost) {
    let int = |v: i64| v.to_le_bytes().to_vec();
    host.set_property(&["response", "code"], &int(200)).unwrap();
    host.set_property(&["request", "duration"], &int(1_500_000)).unwrap();
    host.set_property(&["request", "size"], &int(0)).unwrap();
    host.set_property(&["response", "size"], &int(17)).unwrap();
    host.set_property(&["source", "address"], b"127.0.0.1:40000").unwrap();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let iterations: u32 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5000);
    let only = args.get(2).cloned().unwrap_or_default();
    for pass in 0..2 {
        run_pass(iterations, pass == 1, &only);
    }
}

fn run_pass(iterations: u32, print: bool, only: &str) {
    if print {
        println!("{:36} {:>10}", "case", "us/request");
    }
    let get = [
        (":method", "GET"),
        (":path", "/orders/bob@example.com?ref=4111111111111111&q=ok"),
        (":authority", "bench"),
        ("user-agent", "bench/1.0"),
        ("x-request-id", "bench-1"),
        ("accept", "*/*"),
    ];
    let response = [(":status", "200"), ("content-type", "text/plain"), ("content-length", "17")];
    let report = |name: &str, us: f64| {
        if print {
            println!("{name:36} {us:>10.2}");
        }
    };
    if "on_log GET default".contains(only) {
        let host = FakeHost::new(1_800_000_000_000);
        *host.plugin_config.borrow_mut() = b"{}".to_vec();
        let mut vm = Driver::<PiiFilter>::new(1);
        assert!(vm.configure(&host));
        let us = time(iterations, || {
            host.start_stream(2, &get);
            host.set_response(&response, b"");
            finish(&host);
            let a = vm.on_request_headers(&host, 2, true);
            assert_eq!(a, Action::Continue);
            vm.on_log(&host, 2);
            vm.on_done(2);
        });
        report("on_log GET default", us);
        let empty = FakeHost::new(1_800_000_000_000);
        let us = time(iterations, || {
            empty.start_stream(2, &get);
            empty.set_response(&response, b"");
            finish(&empty);
        });
        report("  fake host setup alone", us);
    }
    let m = PiiConfig::from_json(b"{}").unwrap();
    let path = "/orders/bob@example.com?ref=4111111111111111&q=ok";
    if "mask_url path".contains(only) {
        report("mask_url path", time(iterations, || {
            black_box(m.mask_url(black_box(path)));
        }));
    }
    for (name, text) in [
        ("mask_text path email", "/orders/bob@example.com"),
        ("mask_text card", "4111111111111111"),
        ("mask_text ok", "ok"),
        ("mask_query", "ref=4111111111111111&q=ok"),
    ] {
        if name.contains(only) {
            let f = |t: &str| if name == "mask_query" { m.mask_query(t) } else { m.mask_text(t) };
            report(name, time(iterations, || {
                black_box(f(black_box(text)));
            }));
        }
    }
    if "mask_text short clean".contains(only) {
        report("mask_text short clean", time(iterations, || {
            black_box(m.mask_text(black_box("bench/1.0")));
        }));
    }
    if "mask_text GET".contains(only) {
        report("mask_text GET", time(iterations, || {
            black_box(m.mask_text(black_box("GET")));
        }));
    }
}
