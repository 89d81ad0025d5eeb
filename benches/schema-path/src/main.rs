//! Times the schema filter's request path for a valid 1 KB and 64 KB order
//! (`Driver::<SchemaFilter>` on the fake host: headers, then the whole body
//! at end of stream), and its pieces: UTF-8 check, the strict parse, a plain
//! `serde_json` parse, validation (`is_valid` and the violation iterator)
//! of the parsed value, and the fast path (`fast::compile` of the same
//! schema, then `check` on the bytes; also with every `pattern` removed, to
//! show what the regexes cost).
//!
//! Usage: edgeward-schema-path-bench [ITERATIONS] [CASE-SUBSTRING]

use edgeward_core::filter::{Action, Driver};
use edgeward_core::host::fake::FakeHost;
use edgeward_core::json::parse_strict;
use edgeward_core::schema::compile::{compile, CompileOptions, Dialect};
use edgeward_core::schema::fast::{self, Fast};
use edgeward_core::schema::SchemaFilter;
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
    let iterations: u32 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(200);
    let only = args.get(2).cloned().unwrap_or_default();
    // Two passes: the first lets V8 tier the module up.
    for pass in 0..2 {
        run_pass(&fixture, iterations, pass == 1, &only);
    }
}

fn run_pass(fixture: &Value, iterations: u32, print: bool, only: &str) {
    if print {
        println!("{:36} {:>10}", "case", "us/request");
    }
    let config = fixture["config"].to_string().into_bytes();
    let schema = &fixture["config"]["routes"][0]["contract"]["body"]["schema"];
    let opts = CompileOptions {
        dialect: Dialect::Draft202012,
        formats: false,
    };
    let compiled = compile(&edgeward_core::config::Field::root("s"), schema, opts).expect("schema");
    for size in ["1 KB", "64 KB"] {
        let body = fixture["bodies"][size]
            .as_str()
            .expect("body")
            .as_bytes()
            .to_vec();
        let len = body.len().to_string();
        let report = |name: &str, us: f64| {
            if print {
                println!("{:36} {:10.1}", format!("{size} {name}"), us);
            }
        };
        let want = |name: &str| format!("{size} {name}").contains(only);

        if want("filter path") {
            let host = FakeHost::new(1_800_000_000_000);
            *host.plugin_config.borrow_mut() = config.clone();
            let mut vm = Driver::<SchemaFilter>::new(1);
            assert!(vm.configure(&host));
            let headers = [
                (":method", "POST"),
                (":path", "/orders"),
                (":authority", "bench"),
                ("content-type", "application/json"),
                ("content-length", len.as_str()),
            ];
            let us = time(iterations, || {
                host.start_stream(2, &headers);
                host.set_request_body(&body);
                assert_eq!(vm.on_request_headers(&host, 2, false), Action::Pause);
                let a = vm.on_request_body(&host, 2, body.len(), true);
                assert_eq!(a, Action::Continue);
                vm.on_done(2);
            });
            report("filter path", us);
        }
        if want("utf-8 check") {
            report(
                "utf-8 check",
                time(iterations, || {
                    black_box(std::str::from_utf8(black_box(&body)).is_ok());
                }),
            );
        }
        if want("parse_strict") {
            report(
                "parse_strict",
                time(iterations, || {
                    black_box(parse_strict(black_box(&body), 64).is_ok());
                }),
            );
        }
        if want("serde_json::from_slice") {
            report(
                "serde_json::from_slice",
                time(iterations, || {
                    black_box(serde_json::from_slice::<Value>(black_box(&body)).is_ok());
                }),
            );
        }
        if want("fast path") {
            let program = fast::compile(schema, "", opts).expect("a fast path");
            assert_eq!(program.check(&body, 64), Fast::Valid);
            report(
                "fast path check",
                time(iterations, || {
                    black_box(program.check(black_box(&body), 64));
                }),
            );
            let mut unpatterned = schema.clone();
            strip_patterns(&mut unpatterned);
            let program = fast::compile(&unpatterned, "", opts).expect("a fast path");
            assert_eq!(program.check(&body, 64), Fast::Valid);
            report(
                "fast path check, no patterns",
                time(iterations, || {
                    black_box(program.check(black_box(&body), 64));
                }),
            );
        }
        let value = parse_strict(&body, 64).expect("valid");
        if want("is_valid") {
            report(
                "is_valid",
                time(iterations, || {
                    assert!(compiled.is_valid(black_box(&value)));
                }),
            );
        }
        if want("violations") {
            report(
                "violations (iter_errors)",
                time(iterations, || {
                    assert!(compiled.violations(black_box(&value), 10).is_empty());
                }),
            );
        }
        if want("drop value") {
            report(
                "clone + drop value",
                time(iterations, || {
                    drop(black_box(value.clone()));
                }),
            );
        }
    }
}

/// The schema without its `pattern` keywords (what the fast path costs
/// without the regexes). Blind to context: a property *named* `pattern`
/// would go too; the bench's order schema has none.
fn strip_patterns(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.remove("pattern");
            m.values_mut().for_each(strip_patterns);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_patterns),
        _ => {}
    }
}
