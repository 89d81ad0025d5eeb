//! The rate-limit filter's whole event flow on the shared driver and the
//! fake host (whose shared data mirrors Envoy's CAS semantics): exactness
//! across two VMs, isolation, costs, most-restrictive, shadow, the key cap,
//! global mode (request encoding, replies, every failure mode) and the
//! response headers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use edgeward_core::filter::{Action, Driver};
use edgeward_core::host::fake::FakeHost;
use edgeward_core::host::BufferedGrpcResponse;
use edgeward_core::identity::{Identity, IDENTITY_PROPERTY};
use edgeward_core::protobuf::{put_bytes, put_message, put_uint, Fields};
use edgeward_core::ratelimit::RateLimitFilter;
use serde_json::{json, Value};

const NOW_MS: u64 = 1_800_000_000_000;

fn vm(host: &FakeHost, root: u32, cfg: &Value) -> Driver<RateLimitFilter> {
    *host.plugin_config.borrow_mut() = cfg.to_string().into_bytes();
    let mut d = Driver::new(root);
    assert!(d.configure(host), "{:?}", host.logs.borrow());
    d
}

fn identity(tenant: &str) -> Identity {
    Identity {
        provider: "idp".into(),
        iss: None,
        sub: Some(format!("user-of-{tenant}")),
        aud: vec![],
        scopes: vec![],
        client_id: None,
        tenant: Some(tenant.into()),
        exp: None,
        claims: Default::default(),
    }
}

/// Starts a request; `tenant` publishes an identity as the JWT filter would.
fn start(host: &FakeHost, id: u32, method: &str, path: &str, tenant: Option<&str>) {
    host.start_stream(
        id,
        &[(":method", method), (":path", path), (":authority", "api")],
    );
    if let Some(t) = tenant {
        host.set_property(&[IDENTITY_PROPERTY], identity(t).to_json().as_bytes())
            .unwrap();
    }
}

use edgeward_core::host::StreamHost;

fn send(
    d: &mut Driver<RateLimitFilter>,
    host: &FakeHost,
    id: u32,
    path: &str,
    tenant: Option<&str>,
) -> Option<u16> {
    start(host, id, "GET", path, tenant);
    match d.on_request_headers(host, id, true) {
        Action::Continue => None,
        Action::Pause => host.stream(id).reply.map(|r| r.status),
    }
}

fn fixed(name: &str, requests: u64, window_s: u64) -> Value {
    json!({"name": name, "key": [{"dimension": "tenant"}],
           "limit": {"fixed_window": {"requests": requests, "window_s": window_s}}})
}

#[test]
fn exact_across_two_vms_interleaved_then_refills() {
    let host = FakeHost::new(NOW_MS);
    let cfg = json!({"policies": [fixed("per-tenant", 7, 1)]});
    let mut a = vm(&host, 1, &cfg);
    let mut b = vm(&host, 2, &cfg);
    let mut allowed = 0;
    for i in 0..40u32 {
        let d = if i % 3 == 0 { &mut a } else { &mut b };
        if send(d, &host, 100 + i, "/x", Some("acme")).is_none() {
            allowed += 1;
        } else {
            assert_eq!(host.stream(100 + i).reply.unwrap().status, 429);
        }
    }
    assert_eq!(allowed, 7);
    assert_eq!(
        host.metric("edgeward.ratelimit.allowed.policy.per-tenant"),
        7
    );
    assert_eq!(
        host.metric("edgeward.ratelimit.limited.policy.per-tenant"),
        33
    );
    host.advance_ms(1000);
    assert_eq!(
        send(&mut b, &host, 500, "/x", Some("acme")),
        None,
        "refilled"
    );
}

#[test]
fn tenants_are_isolated_and_anonymous_requests_share_the_absent_key() {
    let host = FakeHost::new(NOW_MS);
    let mut d = vm(&host, 1, &json!({"policies": [fixed("t", 2, 60)]}));
    for i in 0..2 {
        assert_eq!(send(&mut d, &host, 10 + i, "/", Some("a")), None);
    }
    assert_eq!(send(&mut d, &host, 12, "/", Some("a")), Some(429));
    assert_eq!(send(&mut d, &host, 13, "/", Some("b")), None);
    assert_eq!(send(&mut d, &host, 14, "/", None), None);
    assert_eq!(send(&mut d, &host, 15, "/", None), None);
    assert_eq!(
        send(&mut d, &host, 16, "/", None),
        Some(429),
        "no tenant: one shared key"
    );
}

#[test]
fn costs_most_restrictive_and_denied_requests_consume_nothing() {
    let host = FakeHost::new(NOW_MS);
    let cfg = json!({"response_headers": "all", "policies": [
        {"name": "all", "key": [{"dimension": "tenant"}],
         "limit": {"fixed_window": {"requests": 10, "window_s": 60}}},
        {"name": "export", "match": {"prefix": "/export"}, "key": [{"dimension": "tenant"}],
         "cost": 5, "limit": {"token_bucket": {"rate": 1, "period_s": 60, "burst": 5}}}
    ]});
    let mut d = vm(&host, 1, &cfg);
    assert_eq!(send(&mut d, &host, 1, "/export", Some("a")), None);
    // The export bucket is empty: denied by "export" (the longer wait), and
    // "all" keeps its 9 units.
    assert_eq!(send(&mut d, &host, 2, "/export", Some("a")), Some(429));
    let body: Value = serde_json::from_slice(&host.stream(2).reply.unwrap().body).unwrap();
    assert_eq!(body["policy"], "export");
    assert_eq!(
        body["type"],
        "https://iana.org/assignments/http-problem-types#quota-exceeded"
    );
    for i in 0..9 {
        assert_eq!(send(&mut d, &host, 10 + i, "/a", Some("a")), None, "{i}");
    }
    assert_eq!(send(&mut d, &host, 30, "/a", Some("a")), Some(429));
    let reply = host.stream(30).reply.unwrap();
    let h = |n: &str| {
        reply
            .headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(h("ratelimit-policy").as_deref(), Some("\"all\";q=10;w=60"));
    assert_eq!(h("ratelimit").as_deref(), Some("\"all\";r=0;t=60"));
    assert_eq!(h("retry-after").as_deref(), Some("60"));
    // Allowed responses carry the headers too (response_headers: all).
    start(&host, 40, "GET", "/a", Some("b"));
    assert_eq!(d.on_request_headers(&host, 40, true), Action::Continue);
    assert_eq!(d.on_response_headers(&host, 40, true), Action::Continue);
    let rh = host.stream(40).response_headers;
    assert!(
        rh.contains(&("ratelimit".into(), "\"all\";r=9;t=60".into())),
        "{rh:?}"
    );
    let state: Value = serde_json::from_slice(
        &host.stream(40).properties[&vec!["edgeward.ratelimit".to_string()]],
    )
    .unwrap();
    assert_eq!(state["decision"], "allowed");
}

#[test]
fn shadow_policies_count_but_never_block() {
    let host = FakeHost::new(NOW_MS);
    let cfg = json!({"policies": [
        {"name": "trial", "shadow": true, "key": [{"dimension": "tenant"}],
         "limit": {"fixed_window": {"requests": 1, "window_s": 60}}}
    ]});
    let mut d = vm(&host, 1, &cfg);
    for i in 0..3 {
        assert_eq!(send(&mut d, &host, 1 + i, "/", Some("a")), None);
    }
    assert_eq!(
        host.metric("edgeward.ratelimit.shadow_limited.policy.trial"),
        2
    );
    let state: Value =
        serde_json::from_slice(&host.stream(3).properties[&vec!["edgeward.ratelimit".to_string()]])
            .unwrap();
    assert_eq!(state["shadow_limited"], json!(["trial"]));
}

#[test]
fn a_key_flood_stays_in_the_table_and_never_fails_open() {
    let host = FakeHost::new(NOW_MS);
    let cfg = json!({"max_keys": 64, "policies": [
        {"name": "per-key", "key": [{"dimension": "header", "name": "x-key"}],
         "limit": {"fixed_window": {"requests": 1, "window_s": 60}}}
    ]});
    let mut d = vm(&host, 1, &cfg);
    let mut allowed = 0;
    for i in 0..2000u32 {
        host.start_stream(
            i + 10,
            &[
                (":method", "GET"),
                (":path", "/"),
                ("x-key", &format!("k{i}")),
            ],
        );
        if d.on_request_headers(&host, i + 10, true) == Action::Continue {
            allowed += 1;
        }
    }
    // 16 records x 4 keys hold at most 64 live keys, plus one shared
    // overflow state that admits 1: never one fresh quota per new key.
    assert!(allowed <= 65, "{allowed}");
    assert!(allowed >= 40, "{allowed}");
    assert!(host.metric("edgeward.ratelimit.overflow.policy.per-key") > 0);
}

#[test]
fn client_ip_uses_the_trusted_hop() {
    let host = FakeHost::new(NOW_MS);
    let cfg = json!({"trusted_hops": 1, "policies": [
        {"name": "ip", "applies_to": "anonymous", "key": [{"dimension": "client_ip"}],
         "limit": {"fixed_window": {"requests": 1, "window_s": 60}}}
    ]});
    let mut d = vm(&host, 1, &cfg);
    let go = |d: &mut Driver<RateLimitFilter>, id: u32, xff: &str| {
        host.start_stream(
            id,
            &[(":method", "GET"), (":path", "/"), ("x-forwarded-for", xff)],
        );
        d.on_request_headers(&host, id, true)
    };
    assert_eq!(go(&mut d, 1, "9.9.9.9, 1.1.1.1"), Action::Continue);
    assert_eq!(
        go(&mut d, 2, "8.8.8.8, 1.1.1.1"),
        Action::Pause,
        "left of the hop is ignored"
    );
    assert_eq!(go(&mut d, 3, "2.2.2.2"), Action::Continue);
    // Authenticated requests are not under this policy.
    assert_eq!(send(&mut d, &host, 4, "/", Some("a")), None);
}

// ---- global mode ----------------------------------------------------------

fn global_cfg(failure_mode: &str) -> Value {
    json!({"domain": "edgeward", "service": {"cluster": "rls"}, "policies": [
        {"name": "g", "mode": "global", "timeout_ms": 50, "failure_mode": failure_mode,
         "key": [{"dimension": "tenant"}], "cost": 2,
         "limit": {"fixed_window": {"requests": 4, "window_s": 60}}}
    ]})
}

fn rls_reply(code: u64, remaining: u64) -> BufferedGrpcResponse {
    let mut status = Vec::new();
    put_uint(&mut status, 1, code);
    put_message(&mut status, 2, |l| {
        put_uint(l, 1, 4);
        put_uint(l, 2, 2);
    });
    put_uint(&mut status, 3, remaining);
    put_message(&mut status, 4, |d| put_uint(d, 1, 42));
    let mut m = Vec::new();
    put_uint(&mut m, 1, code);
    put_bytes(&mut m, 2, &status);
    BufferedGrpcResponse {
        status_code: 0,
        status_message: None,
        message: m,
    }
}

fn strings(data: &[u8]) -> Vec<String> {
    // Every length-delimited leaf that is valid UTF-8, depth first.
    let mut out = Vec::new();
    for f in Fields::new(data) {
        let (_, v) = f.unwrap();
        if let edgeward_core::protobuf::Value::Len(b) = v {
            let inner = strings_or_leaf(b);
            out.extend(inner);
        }
    }
    out
}

fn strings_or_leaf(b: &[u8]) -> Vec<String> {
    let parsed: Result<Vec<_>, _> = Fields::new(b).collect();
    match parsed {
        Ok(fields) if !fields.is_empty() && !b.iter().all(|c| c.is_ascii_graphic()) => strings(b),
        _ => vec![String::from_utf8_lossy(b).into_owned()],
    }
}

#[test]
fn global_policies_ask_the_service_and_follow_its_answer() {
    let host = FakeHost::new(NOW_MS);
    let mut d = vm(&host, 1, &global_cfg("local"));
    start(&host, 5, "GET", "/", Some("acme"));
    assert_eq!(d.on_request_headers(&host, 5, true), Action::Pause);
    let call = host.grpc_calls.borrow()[0].clone();
    assert_eq!(call.service, "envoy.service.ratelimit.v3.RateLimitService");
    assert_eq!(call.method, "ShouldRateLimit");
    assert_eq!((call.cluster.as_str(), call.timeout_ms), ("rls", 50));
    assert_eq!(
        strings(&call.message),
        ["edgeward", "policy", "g", "tenant", "acme"]
    );
    assert!(call.message.ends_with(&[0x18, 2]), "hits_addend = cost");
    // Body and trailers stay held.
    assert_eq!(d.on_request_body(&host, 5, 3, true), Action::Pause);
    d.on_grpc_call_response(&host, 5, 1, &rls_reply(1, 2));
    assert_eq!(host.stream(5).resumed, 1);
    assert_eq!(host.metric("edgeward.ratelimit.allowed.policy.g"), 1);

    start(&host, 6, "GET", "/", Some("acme"));
    assert_eq!(d.on_request_headers(&host, 6, true), Action::Pause);
    d.on_grpc_call_response(&host, 6, 2, &rls_reply(2, 0));
    let reply = host.stream(6).reply.unwrap();
    assert_eq!(reply.status, 429);
    assert!(reply.headers.contains(&("retry-after".into(), "42".into())));
    assert!(reply
        .headers
        .contains(&("ratelimit-policy".into(), "\"g\";q=4;w=60".into())));
    assert_eq!(d.filter().unwrap().waiting(), 0);
}

#[test]
fn failure_modes() {
    let failed = BufferedGrpcResponse {
        status_code: 14,
        status_message: Some("unavailable".into()),
        message: vec![],
    };
    // deny: 503.
    let host = FakeHost::new(NOW_MS);
    let mut d = vm(&host, 1, &global_cfg("deny"));
    start(&host, 5, "GET", "/", Some("a"));
    d.on_request_headers(&host, 5, true);
    d.on_grpc_call_response(&host, 5, 1, &failed);
    assert_eq!(host.stream(5).reply.unwrap().status, 503);
    assert_eq!(host.metric("edgeward.ratelimit.service_error.policy.g"), 1);
    // allow: through, counted as a fallback.
    let host = FakeHost::new(NOW_MS);
    let mut d = vm(&host, 1, &global_cfg("allow"));
    for i in 0..5 {
        start(&host, 5 + i, "GET", "/", Some("a"));
        d.on_request_headers(&host, 5 + i, true);
        d.on_grpc_call_response(&host, 5 + i, 1 + i, &failed);
        assert_eq!(host.stream(5 + i).resumed, 1);
    }
    assert_eq!(
        host.metric("edgeward.ratelimit.fallback.policy.g.outcome.allow"),
        5
    );
    // local: the policy's own limit (4 units, cost 2) per gateway; also
    // when the call cannot even be dispatched, and for a garbage reply.
    let host = FakeHost::new(NOW_MS);
    let mut d = vm(&host, 1, &global_cfg("local"));
    let garbage = BufferedGrpcResponse {
        status_code: 0,
        status_message: None,
        message: vec![0x0b],
    };
    start(&host, 5, "GET", "/", Some("a"));
    d.on_request_headers(&host, 5, true);
    d.on_grpc_call_response(&host, 5, 1, &garbage);
    assert_eq!(host.stream(5).resumed, 1);
    *host.fail_dispatch.borrow_mut() = Some(edgeward_core::host::HostError::NotFound);
    assert_eq!(send(&mut d, &host, 6, "/", Some("a")), None);
    assert_eq!(send(&mut d, &host, 7, "/", Some("a")), Some(429));
    assert_eq!(
        host.metric("edgeward.ratelimit.fallback.policy.g.outcome.local"),
        3
    );
    // The service answers again: it decides again.
    *host.fail_dispatch.borrow_mut() = None;
    start(&host, 8, "GET", "/", Some("a"));
    assert_eq!(d.on_request_headers(&host, 8, true), Action::Pause);
    d.on_grpc_call_response(&host, 8, 2, &rls_reply(1, 1));
    assert_eq!(host.stream(8).resumed, 1);
}

#[test]
fn a_local_denial_never_reaches_the_service_and_resets_clean_up() {
    let host = FakeHost::new(NOW_MS);
    let mut cfg = global_cfg("local");
    cfg["policies"]
        .as_array_mut()
        .unwrap()
        .push(fixed("local-cap", 1, 60));
    let mut d = vm(&host, 1, &cfg);
    start(&host, 5, "GET", "/", Some("a"));
    d.on_request_headers(&host, 5, true);
    d.on_grpc_call_response(&host, 5, 1, &rls_reply(1, 2));
    assert_eq!(host.stream(5).resumed, 1);
    assert_eq!(send(&mut d, &host, 6, "/", Some("a")), Some(429));
    assert_eq!(host.grpc_calls.borrow().len(), 1, "denied locally: no call");
    // A held stream that goes away is forgotten; its late reply is ignored.
    start(&host, 7, "GET", "/", Some("b"));
    d.on_request_headers(&host, 7, true);
    d.on_done(7);
    d.on_grpc_call_response(&host, 7, 2, &rls_reply(1, 2));
    assert_eq!(host.stream(7).resumed, 0);
    assert_eq!(d.filter().unwrap().waiting(), 0);
}

#[test]
fn configuration_errors_refuse_the_plugin() {
    let host = FakeHost::new(NOW_MS);
    *host.plugin_config.borrow_mut() = br#"{"policies": [{"name": "x"}]}"#.to_vec();
    let mut d: Driver<RateLimitFilter> = Driver::new(1);
    assert!(!d.configure(&host));
    assert!(host
        .logs
        .borrow()
        .iter()
        .any(|(_, m)| m.contains("invalid configuration")));
}

#[test]
fn non_canonical_paths_are_refused() {
    let host = FakeHost::new(NOW_MS);
    let mut d = vm(&host, 1, &json!({"policies": [fixed("t", 2, 60)]}));
    assert_eq!(send(&mut d, &host, 1, "/a/../b", Some("a")), Some(400));
}

/// A host whose every shared-data write loses the compare-and-swap (a storm
/// of writers): requests are limited, never let through uncounted, never 5xx.
#[test]
fn a_lost_cas_storm_limits_instead_of_failing_open() {
    use edgeward_core::host::*;
    struct Storm(FakeHost);
    impl Clock for Storm {
        fn now_ms(&self) -> u64 {
            self.0.now_ms()
        }
    }
    impl SharedStore for Storm {
        fn get_shared(&self, key: &str) -> Result<SharedValue, HostError> {
            self.0.get_shared(key)
        }
        fn set_shared(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), HostError> {
            if key.starts_with("edgeward.rl.b.") {
                return Err(HostError::CasMismatch);
            }
            self.0.set_shared(key, value, cas)
        }
    }
    impl Callouts for Storm {
        fn dispatch_http_call(&self, r: &HttpCallRequest) -> Result<u32, HostError> {
            self.0.dispatch_http_call(r)
        }
    }
    impl GrpcCallouts for Storm {
        fn dispatch_grpc_call(&self, r: &GrpcCallRequest) -> Result<u32, HostError> {
            self.0.dispatch_grpc_call(r)
        }
    }
    impl Metrics for Storm {
        fn increment(&self, n: &str, d: u64) {
            self.0.increment(n, d)
        }
    }
    impl StreamHost for Storm {
        fn request_headers(&self) -> Result<Vec<(String, String)>, HostError> {
            self.0.request_headers()
        }
        fn request_header(&self, n: &str) -> Result<Option<String>, HostError> {
            self.0.request_header(n)
        }
        fn set_request_header(&self, n: &str, v: Option<&str>) -> Result<(), HostError> {
            self.0.set_request_header(n, v)
        }
        fn property(&self, p: &[&str]) -> Result<Option<Vec<u8>>, HostError> {
            self.0.property(p)
        }
        fn set_property(&self, p: &[&str], v: &[u8]) -> Result<(), HostError> {
            self.0.set_property(p, v)
        }
        fn send_local_reply(&self, r: &LocalReply) -> Result<(), HostError> {
            self.0.send_local_reply(r)
        }
        fn resume_request(&self) -> Result<(), HostError> {
            self.0.resume_request()
        }
        fn resume_response(&self) -> Result<(), HostError> {
            self.0.resume_response()
        }
    }
    impl BodyHost for Storm {
        fn request_body(&self, s: usize, m: usize) -> Result<Vec<u8>, HostError> {
            self.0.request_body(s, m)
        }
        fn replace_request_body(&self, b: &[u8]) -> Result<(), HostError> {
            self.0.replace_request_body(b)
        }
        fn response_headers(&self) -> Result<Vec<(String, String)>, HostError> {
            self.0.response_headers()
        }
        fn set_response_header(&self, n: &str, v: Option<&str>) -> Result<(), HostError> {
            self.0.set_response_header(n, v)
        }
        fn response_body(&self, s: usize, m: usize) -> Result<Vec<u8>, HostError> {
            self.0.response_body(s, m)
        }
        fn replace_response_body(&self, b: &[u8]) -> Result<(), HostError> {
            self.0.replace_response_body(b)
        }
    }
    impl ContextSwitch for Storm {
        fn switch_to_context(&self, c: u32) -> Result<(), HostError> {
            self.0.switch_to_context(c)
        }
    }
    impl Logger for Storm {
        fn log(&self, l: LogLevel, m: &str) {
            self.0.log(l, m)
        }
    }
    impl PluginHost for Storm {
        fn plugin_configuration(&self) -> Result<Vec<u8>, HostError> {
            self.0.plugin_configuration()
        }
        fn set_tick_period_ms(&self, ms: u64) -> Result<(), HostError> {
            self.0.set_tick_period_ms(ms)
        }
    }
    let host = Storm(FakeHost::new(NOW_MS));
    *host.0.plugin_config.borrow_mut() = json!({"policies": [fixed("t", 5, 60)]})
        .to_string()
        .into_bytes();
    let mut d: Driver<RateLimitFilter> = Driver::new(1);
    assert!(d.configure(&host));
    start(&host.0, 2, "GET", "/", Some("a"));
    assert_eq!(d.on_request_headers(&host, 2, true), Action::Pause);
    let reply = host.0.stream(2).reply.unwrap();
    assert_eq!(reply.status, 429);
    assert!(reply.headers.contains(&("retry-after".into(), "1".into())));
}

#[test]
fn local_first_spends_a_lease_without_calls_until_it_runs_out_or_expires() {
    let host = FakeHost::new(NOW_MS);
    let mut cfg = global_cfg("local");
    cfg["policies"][0]["cost"] = json!(1);
    cfg["policies"][0]["local_first"] = json!({"lease": 4, "max_lease_ms": 1000});
    cfg["policies"]
        .as_array_mut()
        .unwrap()
        .push(fixed("cap", 5, 60));
    let mut d = vm(&host, 1, &cfg);
    let mut vm2 = vm(&host, 2, &cfg);
    start(&host, 5, "GET", "/", Some("a"));
    assert_eq!(d.on_request_headers(&host, 5, true), Action::Pause);
    assert!(
        host.grpc_calls.borrow()[0].message.ends_with(&[0x18, 4]),
        "asks for a whole lease"
    );
    d.on_grpc_call_response(&host, 5, 1, &rls_reply(1, 10));
    assert_eq!(host.stream(5).resumed, 1);
    // Three units left in the lease: spent by both VMs with no call.
    assert_eq!(send(&mut vm2, &host, 6, "/", Some("a")), None);
    assert_eq!(send(&mut d, &host, 7, "/", Some("a")), None);
    assert_eq!(send(&mut vm2, &host, 8, "/", Some("a")), None);
    assert_eq!(host.grpc_calls.borrow().len(), 1);
    let state: Value =
        serde_json::from_slice(&host.stream(8).properties[&vec!["edgeward.ratelimit".to_string()]])
            .unwrap();
    assert_eq!(state["policies"][0]["source"], "lease", "{state}");
    // The lease is empty: the next request asks again. "cap" (5) has one
    // unit left; the service grants, request 9 spends it.
    start(&host, 9, "GET", "/", Some("a"));
    assert_eq!(d.on_request_headers(&host, 9, true), Action::Pause);
    d.on_grpc_call_response(&host, 9, 2, &rls_reply(1, 6));
    assert_eq!(host.stream(9).resumed, 1);
    // "cap" is spent: a request is denied by it before any lease or call.
    assert_eq!(send(&mut d, &host, 10, "/", Some("a")), Some(429));
    assert_eq!(host.grpc_calls.borrow().len(), 2);
    // Past max_lease_ms the lease lapses: the service is asked again.
    host.advance_ms(1000);
    start(&host, 20, "GET", "/", Some("b"));
    assert_eq!(d.on_request_headers(&host, 20, true), Action::Pause);
    d.on_grpc_call_response(&host, 20, 3, &rls_reply(1, 6));
    assert_eq!(send(&mut d, &host, 21, "/", Some("b")), None);
    assert_eq!(host.grpc_calls.borrow().len(), 3, "b's lease pays");
    host.advance_ms(1000);
    start(&host, 22, "GET", "/", Some("b"));
    assert_eq!(
        d.on_request_headers(&host, 22, true),
        Action::Pause,
        "b's lease lapsed"
    );
    assert_eq!(host.grpc_calls.borrow().len(), 4);
}

/// With no `header` dimension the filter reads `:path`, `:method` and
/// `:authority` one by one (not the whole map): a `match` on methods and
/// hosts, and a `method` dimension, must still see them.
#[test]
fn methods_hosts_and_the_method_dimension_without_the_header_map() {
    let host = FakeHost::new(NOW_MS);
    let cfg = json!({"policies": [
        {"name": "posts", "match": {"prefix": "/", "methods": ["POST"], "hosts": ["api"]},
         "key": [{"dimension": "method"}],
         "limit": {"fixed_window": {"requests": 1, "window_s": 60}}},
        {"name": "per-method", "key": [{"dimension": "method"}],
         "limit": {"fixed_window": {"requests": 2, "window_s": 60}}}]});
    let mut d = vm(&host, 1, &cfg);
    let mut run = |id: u32, method: &str, authority: &str| {
        host.start_stream(
            id,
            &[
                (":method", method),
                (":path", "/x"),
                (":authority", authority),
            ],
        );
        let status = match d.on_request_headers(&host, id, true) {
            Action::Continue => None,
            Action::Pause => host.stream(id).reply.map(|r| r.status),
        };
        d.on_done(id);
        status
    };
    assert_eq!(run(2, "POST", "api"), None);
    // The second POST to host api: "posts" (1 per minute) denies.
    assert_eq!(run(3, "POST", "api"), Some(429));
    // Another host: "posts" does not match, "per-method" counts POST (2nd).
    assert_eq!(run(4, "POST", "other"), None);
    assert_eq!(run(5, "POST", "other"), Some(429));
    // GET has a counter of its own under "per-method".
    assert_eq!(run(6, "GET", "api"), None);
    assert_eq!(run(7, "GET", "api"), None);
    assert_eq!(run(8, "GET", "api"), Some(429));
}
