//! The audit filter's whole event flow on the shared driver and the fake
//! host: the record of passed and denied requests, masking of every field,
//! identity and decisions from filter state, body excerpts across chunks,
//! filter state for the access log, metrics, and the collector queue.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use edgeward_core::filter::Driver;
use edgeward_core::host::fake::FakeHost;
use edgeward_core::host::{BufferedResponse, HostError, LogLevel};
use edgeward_core::pii::PiiFilter;
use serde_json::{json, Value};

const ROOT: u32 = 1;
const KEY: &str = "an-audit-key-of-32-bytes-or-more!";

fn vm(host: &FakeHost, config: Value) -> Driver<PiiFilter> {
    *host.plugin_config.borrow_mut() = config.to_string().into_bytes();
    let mut d = Driver::<PiiFilter>::new(ROOT);
    assert!(d.configure(host), "{:?}", host.logs.borrow());
    d
}

fn int(v: i64) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}

fn set_prop(host: &FakeHost, path: &[&str], value: &[u8]) {
    use edgeward_core::host::StreamHost;
    host.set_property(path, value).unwrap();
}

/// Sets what Envoy knows at the log phase.
fn finish(host: &FakeHost, status: i64, details: &str, peer: &str) {
    set_prop(host, &["response", "code"], &int(status));
    set_prop(host, &["response", "code_details"], details.as_bytes());
    set_prop(host, &["request", "duration"], &int(1_500_000));
    set_prop(host, &["request", "size"], &int(0));
    set_prop(host, &["response", "size"], &int(17));
    set_prop(host, &["source", "address"], peer.as_bytes());
}

fn records(host: &FakeHost) -> Vec<Value> {
    host.logs
        .borrow()
        .iter()
        .filter_map(|(_, m)| m.strip_prefix("edgeward-audit "))
        .map(|j| serde_json::from_str(j).unwrap())
        .collect()
}

fn state(host: &FakeHost, id: u32, key: &str) -> Option<String> {
    host.stream(id)
        .properties
        .get(&vec![key.to_string()])
        .map(|v| String::from_utf8(v.clone()).unwrap())
}

const RAW: &[&str] = &[
    "bob@example.com",
    "4111111111111111",
    "4111 1111 1111 1111",
    "DE89370400440532013000",
    "536-90-4399",
    "hunter2",
    "s3cr3t-cookie",
    "eyJhbGciOiJIUzI1NiJ9",
    "203.0.113.77",
    "alice@corp.example",
];

fn assert_clean(text: &str) {
    for raw in RAW {
        assert!(!text.contains(raw), "raw {raw:?} in {text}");
    }
}

#[test]
fn a_passed_request_leaves_one_masked_record_everywhere() {
    let host = FakeHost::new(1_800_000_000_000);
    let mut d = vm(
        &host,
        json!({"masking": {"hash": {"key": KEY}}, "subject": "hash",
               "request_headers": ["user-agent", "authorization", "cookie", "x-note"],
               "response_headers": ["set-cookie"]}),
    );
    host.start_stream(
        2,
        &[
            (":method", "GET"),
            (":authority", "api.example"),
            (
                ":path",
                "/users/bob@example.com/cards/4111111111111111?acct=DE89370400440532013000&q=ok",
            ),
            ("x-request-id", "r-1"),
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
            ("user-agent", "curl/8 (bob@example.com)"),
            (
                "authorization",
                "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
            ),
            ("cookie", "session=s3cr3t-cookie; theme=dark"),
            ("x-note", "ssn 536-90-4399"),
        ],
    );
    d.on_request_headers(&host, 2, true);
    host.set_response(
        &[("set-cookie", "sid=s3cr3t-cookie; Path=/; HttpOnly")],
        b"",
    );
    d.on_response_headers(&host, 2, false);
    finish(&host, 200, "via_upstream", "203.0.113.77:5555");
    let identity = json!({"provider": "idp", "sub": "alice@corp.example", "tenant": "acme",
                          "claims": {"email": "alice@corp.example"}});
    set_prop(
        &host,
        &["edgeward.identity"],
        identity.to_string().as_bytes(),
    );
    set_prop(
        &host,
        &["edgeward.authz"],
        br#"{"decision": "allow", "policy": "orders", "email": "bob@example.com"}"#,
    );
    d.on_log(&host, 2);
    d.on_done(2);

    let recs = records(&host);
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    assert_clean(&r.to_string());
    assert_eq!(r["method"], "GET");
    assert_eq!(r["status"], 200);
    assert_eq!(r["request_id"], "r-1");
    assert_eq!(r["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(r["duration_us"], 1500);
    assert_eq!(r["bytes_out"], 17);
    assert_eq!(r["time"], "2027-01-15T07:59:59.999Z");
    assert_eq!(
        r["path"],
        "/users/[REDACTED:email]/cards/[REDACTED:card]?acct=[REDACTED:iban]&q=ok"
    );
    assert_eq!(r["client_ip"], "203.0.113.0/24");
    let sub = r["identity"]["subject"].as_str().unwrap();
    assert!(sub.starts_with("[HASH:subject:"), "{sub}");
    assert_eq!(r["identity"]["tenant"], "acme");
    assert_eq!(r["identity"]["provider"], "idp");
    assert_eq!(r["decisions"]["authz"]["policy"], "orders");
    assert_eq!(r["decisions"]["authz"]["email"], "[REDACTED:email]");
    let h = &r["request_headers"];
    assert_eq!(h["user-agent"], "curl/8 ([REDACTED:email])");
    assert_eq!(h["authorization"], "Bearer [REDACTED:bearer]");
    assert_eq!(
        h["cookie"],
        "session=[REDACTED:cookie]; theme=[REDACTED:cookie]"
    );
    assert_eq!(h["x-note"], "ssn [REDACTED:ssn]");
    assert_eq!(
        r["response_headers"]["set-cookie"],
        "sid=[REDACTED:cookie]; Path=/; HttpOnly"
    );
    assert!(r.get("denied").is_none());

    // Filter state for the access log: the record and single fields.
    let whole = state(&host, 2, "edgeward.log").unwrap();
    assert_eq!(serde_json::from_str::<Value>(&whole).unwrap(), *r);
    assert_eq!(state(&host, 2, "edgeward.log.path").unwrap(), r["path"]);
    assert_eq!(state(&host, 2, "edgeward.log.subject").unwrap(), sub);
    assert_eq!(
        state(&host, 2, "edgeward.log.client_ip").unwrap(),
        "203.0.113.0/24"
    );
    assert_eq!(
        state(&host, 2, "edgeward.log.user_agent").unwrap(),
        "curl/8 ([REDACTED:email])"
    );

    assert_eq!(host.metric("edgeward.pii.records"), 1);
    assert_eq!(host.metric("edgeward.pii.redactions.detector.email"), 3);
    assert_eq!(host.metric("edgeward.pii.redactions.detector.card"), 1);
    assert_eq!(host.metric("edgeward.pii.redactions.detector.cookie"), 3);
    assert_eq!(host.metric("edgeward.pii.redactions.detector.subject"), 1);

    // The same subject hashes the same in the next record (and any VM with
    // the same key).
    let host2 = FakeHost::new(1_800_000_000_000);
    let mut d2 = vm(
        &host2,
        json!({"masking": {"hash": {"key": KEY}}, "subject": "hash"}),
    );
    host2.start_stream(7, &[(":method", "GET"), (":path", "/")]);
    finish(&host2, 200, "via_upstream", "10.0.0.1:1");
    set_prop(
        &host2,
        &["edgeward.identity"],
        identity.to_string().as_bytes(),
    );
    d2.on_log(&host2, 7);
    assert_eq!(records(&host2)[0]["identity"]["subject"], sub);
}

#[test]
fn requests_answered_before_the_filter_leave_a_record_with_the_reason() {
    let host = FakeHost::new(1_800_000_000_000);
    let mut d = vm(&host, json!({}));
    // The JWT filter answered: this filter's request callbacks never ran.
    host.start_stream(
        3,
        &[
            (":method", "POST"),
            (":path", "/orders?email=bob%40example.com"),
            (
                "authorization",
                "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
            ),
        ],
    );
    finish(
        &host,
        401,
        "edgeward_jwt_denied.bad_signature",
        "[2001:db8:1:2::9]:443",
    );
    d.on_log(&host, 3);
    let r = &records(&host)[0];
    assert_clean(&r.to_string());
    assert_eq!(r["status"], 401);
    assert_eq!(
        r["denied"],
        json!({"filter": "jwt", "reason": "bad_signature"})
    );
    assert_eq!(r["details"], "edgeward_jwt_denied.bad_signature");
    assert_eq!(r["identity"], Value::Null);
    assert_eq!(r["path"], "/orders?email=[REDACTED:email]");
    assert_eq!(r["client_ip"], "2001:db8:1::/48");
    assert_eq!(
        state(&host, 3, "edgeward.log.denied").unwrap(),
        "jwt.bad_signature"
    );

    // A long request id holding a token: masked whole, then cut.
    let jwt = format!("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.{}", "c2ln".repeat(80));
    let rid = format!("{} {jwt}", "x".repeat(250));
    host.start_stream(
        9,
        &[(":method", "GET"), (":path", "/"), ("x-request-id", &rid)],
    );
    finish(&host, 200, "via_upstream", "10.0.0.1:1");
    d.on_log(&host, 9);
    let r = records(&host).pop().unwrap();
    let got = r["request_id"].as_str().unwrap();
    assert!(got.ends_with("[TRUNCATED]"), "{got}");
    assert!(!got.contains("eyJ"), "{got}");

    // Envoy's own replies (413 from a buffer limit) are recorded with their details.
    host.start_stream(4, &[(":method", "POST"), (":path", "/upload")]);
    finish(&host, 413, "request_payload_too_large", "10.0.0.1:1");
    d.on_log(&host, 4);
    let r = &records(&host)[2];
    assert_eq!(r["status"], 413);
    assert_eq!(r["details"], "request_payload_too_large");
    assert!(r.get("denied").is_none());
}

#[test]
fn body_excerpts_span_chunks_and_are_capped() {
    let host = FakeHost::new(0);
    let mut d = vm(
        &host,
        json!({"body": {"request": true, "response": true, "max_bytes": 96}}),
    );
    // Written by hand: the key order matters for where the cap cuts.
    let body = r#"{"user": {"email": "bob@example.com", "password": "hunter2", "name": "Zoë Ünïcode"}, "cards": ["4111 1111 1111 1111", {"iban": "DE89370400440532013000"}]}"#;
    host.start_stream(
        5,
        &[
            (":method", "POST"),
            (":path", "/p"),
            ("content-type", "application/json; charset=utf-8"),
        ],
    );
    d.on_request_headers(&host, 5, false);
    let bytes = body.as_bytes();
    for (i, chunk) in bytes.chunks(13).enumerate() {
        host.set_request_body(chunk);
        let last = (i + 1) * 13 >= bytes.len();
        d.on_request_body(&host, 5, chunk.len(), last);
    }
    host.set_response(&[("content-type", "application/json")], b"");
    d.on_response_headers(&host, 5, false);
    host.set_response(
        &[("content-type", "application/json")],
        br#"{"ok": true, "ssn": "536-90-4399"}"#,
    );
    d.on_response_body(&host, 5, 34, true);
    finish(&host, 200, "via_upstream", "10.0.0.1:1");
    d.on_log(&host, 5);
    let r = &records(&host)[0];
    assert_clean(&r.to_string());
    let req = &r["request_body"];
    assert_eq!(req["bytes"], bytes.len());
    assert_eq!(req["truncated"], true, "{req}");
    assert_eq!(req["json"]["user"]["password"], "[REDACTED:field]");
    assert_eq!(req["json"]["user"]["name"], "Zoë Ünïcode");
    let resp = &r["response_body"];
    assert_eq!(resp["json"], json!({"ok": true, "ssn": "[REDACTED:field]"}));
    assert!(resp.get("truncated").is_none());

    // Not JSON: no excerpt at all.
    host.start_stream(
        6,
        &[
            (":method", "POST"),
            (":path", "/p"),
            ("content-type", "text/plain"),
        ],
    );
    d.on_request_headers(&host, 6, false);
    host.set_request_body(b"bob@example.com");
    d.on_request_body(&host, 6, 15, true);
    finish(&host, 200, "via_upstream", "10.0.0.1:1");
    d.on_log(&host, 6);
    assert!(records(&host)[1].get("request_body").is_none());
}

#[test]
fn excerpts_are_off_by_default() {
    let host = FakeHost::new(0);
    let mut d = vm(&host, json!({}));
    host.start_stream(
        8,
        &[
            (":method", "POST"),
            (":path", "/p"),
            ("content-type", "application/json"),
        ],
    );
    d.on_request_headers(&host, 8, false);
    host.set_request_body(br#"{"a": 1}"#);
    d.on_request_body(&host, 8, 8, true);
    finish(&host, 200, "via_upstream", "10.0.0.1:1");
    d.on_log(&host, 8);
    assert!(records(&host)[0].get("request_body").is_none());
}

fn collector_vm(host: &FakeHost, extra: Value) -> Driver<PiiFilter> {
    let mut c = json!({"cluster": "audit", "authority": "audit.test", "path": "/ingest",
                       "batch_records": 2, "queue_records": 3, "flush_interval_ms": 100});
    if let (Some(c), Some(e)) = (c.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            c.insert(k.clone(), v.clone());
        }
    }
    let d = vm(host, json!({"log": {"enabled": false}, "collector": c}));
    assert_eq!(host.tick_period_ms.get(), 100);
    d
}

fn one_request(host: &FakeHost, d: &mut Driver<PiiFilter>, id: u32) {
    host.start_stream(id, &[(":method", "GET"), (":path", "/u/bob@example.com")]);
    finish(host, 200, "via_upstream", "10.0.0.1:1");
    d.on_log(host, id);
    d.on_done(id);
}

#[test]
fn the_collector_gets_batches_from_the_timer_and_drops_are_counted() {
    let host = FakeHost::new(0);
    let mut d = collector_vm(&host, json!({}));
    for id in 10..15 {
        one_request(&host, &mut d, id);
    }
    assert!(records(&host).is_empty(), "log output is off");
    assert!(
        host.calls.borrow().is_empty(),
        "nothing sent from the request path"
    );
    assert_eq!(host.metric("edgeward.pii.dropped.reason.queue_full"), 2);
    host.set_current(ROOT);
    d.on_tick(&host);
    {
        let calls = host.calls.borrow();
        assert_eq!(calls.len(), 1);
        let c = &calls[0];
        assert_eq!(c.cluster, "audit");
        assert!(c.headers.contains(&(":path".into(), "/ingest".into())));
        let body = String::from_utf8(c.body.clone().unwrap()).unwrap();
        assert_eq!(body.lines().count(), 2);
        assert_clean(&body);
        for line in body.lines() {
            let r: Value = serde_json::from_str(line).unwrap();
            assert_eq!(r["path"], "/u/[REDACTED:email]");
        }
    }
    // One batch in flight at a time.
    d.on_tick(&host);
    assert_eq!(host.calls.borrow().len(), 1);
    let ok = BufferedResponse {
        status: Some(204),
        body: vec![],
    };
    d.on_http_call_response(&host, ROOT, 1, &ok);
    assert_eq!(host.metric("edgeward.pii.collector.outcome.sent"), 1);
    d.on_tick(&host);
    assert_eq!(host.calls.borrow().len(), 2);
    // The collector fails: the batch's record is dropped and counted.
    let failed = BufferedResponse {
        status: None,
        body: vec![],
    };
    d.on_http_call_response(&host, ROOT, 2, &failed);
    assert_eq!(host.metric("edgeward.pii.collector.outcome.failed"), 1);
    assert_eq!(host.metric("edgeward.pii.dropped.reason.sink_failed"), 1);
    // The cluster is unknown: dispatch fails, records dropped, nothing blocks.
    one_request(&host, &mut d, 20);
    *host.fail_dispatch.borrow_mut() = Some(HostError::Other("bad cluster".into()));
    host.set_current(ROOT);
    d.on_tick(&host);
    assert_eq!(host.metric("edgeward.pii.dropped.reason.sink_failed"), 2);
    assert!(host
        .logs
        .borrow()
        .iter()
        .any(|(l, m)| *l == LogLevel::Warn && m.contains("collector batch failed")));
    assert_eq!(host.metric("edgeward.pii.records"), 6);
}

#[test]
fn configuration_errors_refuse_the_plugin() {
    let host = FakeHost::new(0);
    *host.plugin_config.borrow_mut() = br#"{"subject": "hash"}"#.to_vec();
    let mut d = Driver::<PiiFilter>::new(ROOT);
    assert!(!d.configure(&host));
    assert!(host
        .logs
        .borrow()
        .iter()
        .any(|(_, m)| m.starts_with("edgeward-pii: invalid configuration: subject:")));
}

/// `bytes_in` of a request that ended with its headers is 0 without a host
/// call; with a body, a `content-length`, or headers the filter never saw
/// (an earlier filter answered), it is Envoy's `request.size`.
#[test]
fn bytes_in_asks_the_host_unless_the_request_had_no_body() {
    let host = FakeHost::new(1_800_000_000_000);
    let mut d = vm(&host, json!({}));
    let run = |d: &mut Driver<PiiFilter>, id: u32, extra: &[(&str, &str)], eos: Option<bool>| {
        let mut headers = vec![(":method", "POST"), (":path", "/x"), (":authority", "a")];
        headers.extend_from_slice(extra);
        host.start_stream(id, &headers);
        if let Some(eos) = eos {
            d.on_request_headers(&host, id, eos);
        }
        host.set_response(&[], b"");
        set_prop(&host, &["response", "code"], &int(200));
        set_prop(&host, &["request", "size"], &int(42));
        d.on_log(&host, id);
        d.on_done(id);
        let whole = state(&host, id, "edgeward.log").unwrap();
        serde_json::from_str::<Value>(&whole).unwrap()["bytes_in"].clone()
    };
    assert_eq!(run(&mut d, 2, &[], Some(true)), 0);
    assert_eq!(run(&mut d, 3, &[], Some(false)), 42);
    assert_eq!(run(&mut d, 4, &[("content-length", "0")], Some(true)), 42);
    assert_eq!(run(&mut d, 5, &[], None), 42);
}

/// `filter_state` as a list publishes only what it names; the record in
/// Envoy's log is the same whatever is published.
#[test]
fn filter_state_publishes_only_what_the_config_names() {
    let request = [
        (":method", "GET"),
        (":path", "/users/bob@example.com"),
        (":authority", "api.example"),
        ("user-agent", "curl/8"),
    ];
    let mut lines = Vec::new();
    for (id, fs) in [
        (2, json!(true)),
        (3, json!(["path", "record"])),
        (4, json!(false)),
    ] {
        let host = FakeHost::new(1_800_000_000_000);
        let mut d = vm(&host, json!({"filter_state": fs}));
        host.start_stream(id, &request);
        d.on_request_headers(&host, id, true);
        finish(&host, 200, "via_upstream", "203.0.113.77:5555");
        d.on_log(&host, id);
        d.on_done(id);
        let path = state(&host, id, "edgeward.log.path");
        let method = state(&host, id, "edgeward.log.method");
        let record = state(&host, id, "edgeward.log");
        match id {
            2 => assert!(path.is_some() && method.is_some() && record.is_some()),
            3 => {
                assert_eq!(path.as_deref(), Some("/users/[REDACTED:email]"));
                assert!(method.is_none() && record.is_some());
                assert!(state(&host, id, "edgeward.log.user_agent").is_none());
            }
            _ => assert!(path.is_none() && method.is_none() && record.is_none()),
        }
        lines.push(records(&host));
    }
    assert_eq!(lines[0], lines[1]);
    assert_eq!(lines[0], lines[2]);
}
