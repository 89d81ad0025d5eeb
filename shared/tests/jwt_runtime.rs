//! The JWT filter's whole event flow against the fake host: decisions,
//! replies, headers, identity, metrics, and remote JWKS (waiting requests,
//! failures, rotation, two VMs sharing one fetch).
//!
//! Runs natively and on wasm32-unknown-unknown under node, so verdicts are
//! known to be the same in Wasm.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{b64, ed_jwk, hs256, SECRET};
use edgeward_core::host::fake::FakeHost;
use edgeward_core::host::BufferedResponse;
use edgeward_core::jwt::config::JwtConfig;
use edgeward_core::jwt::runtime::{HeadersAction, JwtRuntime};
use serde_json::{json, Value};

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const NOW_MS: u64 = 1_800_000_000_000;
const NOW_S: i64 = 1_800_000_000;
fn claims() -> Value {
    json!({"iss": "https://idp", "aud": "api", "sub": "alice", "tenant_id": "acme",
           "scope": "orders:read orders:write", "exp": NOW_S + 300, "iat": NOW_S})
}

fn inline_config() -> JwtConfig {
    let cfg = json!({
        "providers": {"idp": {
            "issuer": "https://idp", "audiences": ["api"], "algorithms": ["HS256"],
            "jwks": {"inline": {"keys": [{"kty": "oct", "kid": "s1", "k": b64(SECRET)}]}},
            "claims_to_headers": [{"claim": "tenant_id", "header": "x-tenant-id"}]
        }},
        "rules": [
            {"match": {"prefix": "/health"}, "requires": "none"},
            {"match": {"prefix": "/"}, "requires": {"provider": "idp"}}
        ]
    });
    JwtConfig::from_json(cfg.to_string().as_bytes()).unwrap()
}

fn remote_config() -> JwtConfig {
    let cfg = json!({
        "providers": {"idp": {
            "issuer": "https://idp", "audiences": ["api"], "algorithms": ["EdDSA"],
            "jwks": {"remote": {"cluster": "idp", "authority": "idp.test", "path": "/jwks",
                                "cache_duration_s": 60, "timeout_ms": 1000, "max_wait_ms": 1500}}
        }},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider": "idp"}}]
    });
    JwtConfig::from_json(cfg.to_string().as_bytes()).unwrap()
}

fn request(host: &FakeHost, id: u32, path: &str, extra: &[(&str, &str)]) {
    let mut headers = vec![(":method", "GET"), (":path", path), (":authority", "api")];
    headers.extend_from_slice(extra);
    host.start_stream(id, &headers);
}

fn header(host: &FakeHost, id: u32, name: &str) -> Option<String> {
    host.stream(id)
        .headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

fn reply_reason(host: &FakeHost, id: u32) -> Option<(u16, String)> {
    let r = host.stream(id).reply?;
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    Some((r.status, body["reason"].as_str().unwrap().to_string()))
}

fn jwks_body(keys: &[Value]) -> BufferedResponse {
    BufferedResponse {
        status: Some(200),
        body: json!({"keys": keys}).to_string().into_bytes(),
    }
}

#[test]
fn valid_token_passes_with_identity_and_headers() {
    let host = FakeHost::new(NOW_MS);
    let mut rt = JwtRuntime::new(inline_config());
    let token = hs256(&json!({"alg": "HS256", "kid": "s1"}), &claims());
    let auth = format!("Bearer {token}");
    request(
        &host,
        2,
        "/orders",
        &[("authorization", &auth), ("x-tenant-id", "evil")],
    );
    assert_eq!(rt.on_request_headers(&host, 2), HeadersAction::Continue);
    let s = host.stream(2);
    assert!(s.reply.is_none());
    assert_eq!(header(&host, 2, "x-tenant-id").as_deref(), Some("acme"));
    assert_eq!(
        header(&host, 2, "authorization"),
        None,
        "token not forwarded by default"
    );
    let identity: Value =
        serde_json::from_slice(&s.properties[&vec!["edgeward.identity".to_string()]]).unwrap();
    assert_eq!(identity["sub"], "alice");
    assert_eq!(identity["provider"], "idp");
    assert_eq!(identity["scopes"], json!(["orders:read", "orders:write"]));
    assert_eq!(host.metric("edgeward.jwt.allowed"), 1);

    // Same token again: a cache hit, no signature check.
    request(&host, 3, "/orders", &[("authorization", &auth)]);
    assert_eq!(rt.on_request_headers(&host, 3), HeadersAction::Continue);
    assert_eq!(host.metric("edgeward.jwt.token_cache.hit"), 1);
}

#[test]
fn denials_carry_rfc6750_challenges_and_reasons() {
    let host = FakeHost::new(NOW_MS);
    let mut rt = JwtRuntime::new(inline_config());
    request(&host, 2, "/orders", &[("x-tenant-id", "evil")]);
    assert_eq!(rt.on_request_headers(&host, 2), HeadersAction::Pause);
    let reply = host.stream(2).reply.unwrap();
    assert_eq!(reply.status, 401);
    let www: Vec<_> = reply
        .headers
        .iter()
        .filter(|(k, _)| k == "www-authenticate")
        .collect();
    assert_eq!(www[0].1, "Bearer realm=\"edgeward\"");
    assert_eq!(reply_reason(&host, 2), Some((401, "missing_token".into())));

    let mut c = claims();
    c["exp"] = json!(NOW_S - 61);
    let expired = hs256(&json!({"alg": "HS256"}), &c);
    request(
        &host,
        3,
        "/orders",
        &[("authorization", &format!("Bearer {expired}"))],
    );
    rt.on_request_headers(&host, 3);
    let reply = host.stream(3).reply.unwrap();
    let www = &reply
        .headers
        .iter()
        .find(|(k, _)| k == "www-authenticate")
        .unwrap()
        .1;
    assert!(www.contains("error=\"invalid_token\""), "{www}");
    assert!(!String::from_utf8_lossy(&reply.body).contains(&expired));
    assert_eq!(reply_reason(&host, 3), Some((401, "expired".into())));
    assert_eq!(host.metric("edgeward.jwt.denied.expired"), 1);

    let mut c = claims();
    c["aud"] = json!("other");
    let t = hs256(&json!({"alg": "HS256"}), &c);
    request(
        &host,
        4,
        "/orders",
        &[("authorization", &format!("Bearer {t}"))],
    );
    rt.on_request_headers(&host, 4);
    assert_eq!(
        reply_reason(&host, 4),
        Some((401, "audience_mismatch".into()))
    );

    let t = hs256(&json!({"alg": "HS256", "kid": "nope"}), &claims());
    request(
        &host,
        5,
        "/orders",
        &[("authorization", &format!("Bearer {t}"))],
    );
    rt.on_request_headers(&host, 5);
    assert_eq!(
        reply_reason(&host, 5),
        Some((401, "unknown_kid".into())),
        "inline keys never wait"
    );

    request(
        &host,
        6,
        "/orders",
        &[
            ("authorization", "Bearer a.b.c"),
            ("authorization", "Bearer d.e.f"),
        ],
    );
    rt.on_request_headers(&host, 6);
    assert_eq!(
        reply_reason(&host, 6),
        Some((400, "multiple_tokens".into()))
    );
}

#[test]
fn none_route_passes_but_strips_spoofed_headers() {
    let host = FakeHost::new(NOW_MS);
    let mut rt = JwtRuntime::new(inline_config());
    request(&host, 2, "/health", &[("x-tenant-id", "evil")]);
    assert_eq!(rt.on_request_headers(&host, 2), HeadersAction::Continue);
    assert_eq!(header(&host, 2, "x-tenant-id"), None);
}

#[test]
fn remote_keys_first_request_waits_for_the_fetch() {
    let host = FakeHost::new(NOW_MS);
    let mut rt = JwtRuntime::new(remote_config());
    let token = eddsa(1, "k1", &claims());
    request(
        &host,
        2,
        "/orders",
        &[("authorization", &format!("Bearer {token}"))],
    );
    assert_eq!(rt.on_request_headers(&host, 2), HeadersAction::Pause);
    assert_eq!(rt.waiting(), 1);
    assert_eq!(host.calls.borrow().len(), 1);
    assert_eq!(host.calls.borrow()[0].cluster, "idp");
    rt.on_http_call_response(&host, 1, &jwks_body(&[ed_jwk(1, "k1")]));
    assert_eq!(rt.waiting(), 0);
    let s = host.stream(2);
    assert_eq!(s.resumed, 1, "the paused request was resumed");
    assert!(s.reply.is_none());
    assert!(s
        .properties
        .contains_key(&vec!["edgeward.identity".to_string()]));
}

#[test]
fn remote_keys_failure_fails_closed_and_hang_times_out() {
    let host = FakeHost::new(NOW_MS);
    let mut rt = JwtRuntime::new(remote_config());
    let token = eddsa(1, "k1", &claims());
    let auth = format!("Bearer {token}");
    request(&host, 2, "/orders", &[("authorization", &auth)]);
    rt.on_request_headers(&host, 2);
    rt.on_http_call_response(
        &host,
        1,
        &BufferedResponse {
            status: Some(503),
            body: vec![],
        },
    );
    assert_eq!(
        reply_reason(&host, 2),
        Some((401, "jwks_unavailable".into()))
    );
    // During the back-off, requests fail fast instead of waiting.
    request(&host, 3, "/orders", &[("authorization", &auth)]);
    assert_eq!(rt.on_request_headers(&host, 3), HeadersAction::Pause);
    assert_eq!(rt.waiting(), 0);
    assert_eq!(
        reply_reason(&host, 3),
        Some((401, "jwks_unavailable".into()))
    );
    // After the back-off a new fetch starts; it hangs; the deadline denies.
    host.advance_ms(1_000);
    request(&host, 4, "/orders", &[("authorization", &auth)]);
    rt.on_request_headers(&host, 4);
    assert_eq!(rt.waiting(), 1);
    host.advance_ms(1_499);
    rt.on_tick(&host);
    assert_eq!(rt.waiting(), 1);
    host.advance_ms(1);
    rt.on_tick(&host);
    assert_eq!(rt.waiting(), 0);
    assert_eq!(
        reply_reason(&host, 4),
        Some((401, "jwks_unavailable".into()))
    );
}

#[test]
fn rotation_new_kid_waits_for_refetch_old_kid_is_rejected() {
    let host = FakeHost::new(NOW_MS);
    let mut rt = JwtRuntime::new(remote_config());
    rt.on_tick(&host);
    rt.on_http_call_response(&host, 1, &jwks_body(&[ed_jwk(1, "k1")]));
    let old = format!("Bearer {}", eddsa(1, "k1", &claims()));
    request(&host, 2, "/orders", &[("authorization", &old)]);
    assert_eq!(rt.on_request_headers(&host, 2), HeadersAction::Continue);

    // The IdP rotates to k2; a k2 token triggers one refetch and waits.
    let new = format!("Bearer {}", eddsa(2, "k2", &claims()));
    request(&host, 3, "/orders", &[("authorization", &new)]);
    assert_eq!(rt.on_request_headers(&host, 3), HeadersAction::Pause);
    assert_eq!(host.calls.borrow().len(), 2);
    rt.on_http_call_response(&host, 2, &jwks_body(&[ed_jwk(2, "k2")]));
    assert_eq!(host.stream(3).resumed, 1);
    assert!(host.stream(3).reply.is_none());

    // The retired key no longer works, even though k1's token was cached.
    request(&host, 4, "/orders", &[("authorization", &old)]);
    rt.on_request_headers(&host, 4);
    assert_eq!(
        reply_reason(&host, 4),
        Some((401, "unknown_kid".into())),
        "rate-limited: no new fetch"
    );
    assert_eq!(host.calls.borrow().len(), 2);

    // Unknown kids right after: no fetch storm.
    for i in 0..10 {
        let t = format!("Bearer {}", eddsa(3, &format!("rand{i}"), &claims()));
        request(&host, 10 + i, "/orders", &[("authorization", &t)]);
        rt.on_request_headers(&host, 10 + i);
        assert_eq!(
            reply_reason(&host, 10 + i),
            Some((401, "unknown_kid".into()))
        );
    }
    assert_eq!(host.calls.borrow().len(), 2);
}

#[test]
fn second_vm_uses_the_first_vms_fetch() {
    let host = FakeHost::new(NOW_MS);
    let mut vm_a = JwtRuntime::new(remote_config());
    let mut vm_b = JwtRuntime::new(remote_config());
    vm_a.on_tick(&host);
    vm_b.on_tick(&host);
    assert_eq!(host.calls.borrow().len(), 1, "one fetch for both VMs");
    let auth = format!("Bearer {}", eddsa(1, "k1", &claims()));
    request(&host, 7, "/orders", &[("authorization", &auth)]);
    assert_eq!(vm_b.on_request_headers(&host, 7), HeadersAction::Pause);
    assert_eq!(host.calls.borrow().len(), 1, "b waits on a's fetch");
    vm_a.on_http_call_response(&host, 1, &jwks_body(&[ed_jwk(1, "k1")]));
    host.set_current(0);
    vm_b.on_tick(&host);
    assert_eq!(host.stream(7).resumed, 1);
    assert!(host.stream(7).reply.is_none());
}

fn eddsa(seed: u8, kid: &str, claims: &Value) -> String {
    common::eddsa(seed, &json!({"alg": "EdDSA", "kid": kid}), claims)
}
