//! The JWT filter's whole event flow on the shared driver and the fake host:
//! decisions, replies, headers, identity, metrics, the canonical-path
//! policy, and remote JWKS (waiting requests, failures, rotation, a stream
//! reset during a refetch, two VMs sharing one fetch).
//!
//! Runs natively and on wasm32-wasip1 under node (WASI), so verdicts are
//! known to be the same in Wasm.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{b64, ed_jwk, hs256, jwt_vm, ROOT, SECRET};
use edgeward_core::filter::{Action, Driver};
use edgeward_core::host::fake::FakeHost;
use edgeward_core::host::BufferedResponse;
use edgeward_core::jwt::JwtFilter;
use serde_json::{json, Value};

const NOW_MS: u64 = 1_800_000_000_000;
const NOW_S: i64 = 1_800_000_000;
const SECRET2: &[u8] = b"another-secret-another-secret-another-secret";

fn claims() -> Value {
    json!({"iss": "https://idp", "aud": "api", "sub": "alice", "tenant_id": "acme",
           "scope": "orders:read orders:write", "exp": NOW_S + 300, "iat": NOW_S})
}

fn inline_config() -> Value {
    json!({
        "providers": {"idp": {
            "issuer": "https://idp", "audiences": ["api"], "algorithms": ["HS256"],
            "tenant_claim": "tenant_id",
            "jwks": {"inline": {"keys": [{"kty": "oct", "kid": "s1", "k": b64(SECRET)}]}},
            "claims_to_headers": [{"claim": "tenant_id", "header": "x-tenant-id"}]
        }},
        "rules": [
            {"match": {"prefix": "/health"}, "requires": "none"},
            {"name": "orders", "match": {"prefix": "/"}, "requires": {"provider": "idp"}}
        ]
    })
}

fn remote_config() -> Value {
    json!({
        "providers": {"idp": {
            "issuer": "https://idp", "audiences": ["api"], "algorithms": ["EdDSA"],
            "jwks": {"remote": {"cluster": "idp", "authority": "idp.test", "path": "/jwks",
                                "cache_duration_s": 60, "timeout_ms": 1000, "max_wait_ms": 1500}}
        }},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider": "idp"}}]
    })
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

fn identity(host: &FakeHost, id: u32) -> Option<Value> {
    host.stream(id)
        .properties
        .get(&vec!["edgeward.identity".to_string()])
        .map(|b| serde_json::from_slice(b).unwrap())
}

fn jwks_body(keys: &[Value]) -> BufferedResponse {
    BufferedResponse {
        status: Some(200),
        body: json!({"keys": keys}).to_string().into_bytes(),
    }
}

fn eddsa(seed: u8, kid: &str, claims: &Value) -> String {
    common::eddsa(seed, &json!({"alg": "EdDSA", "kid": kid}), claims)
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

/// The reply to the `n`-th callout (1-based), delivered to the root context.
fn deliver(vm: &mut Driver<JwtFilter>, host: &FakeHost, token: u32, r: &BufferedResponse) {
    host.set_current(ROOT);
    vm.on_http_call_response(host, ROOT, token, r);
}

fn tick(vm: &mut Driver<JwtFilter>, host: &FakeHost) {
    host.set_current(ROOT);
    vm.on_tick(host);
}

#[test]
fn valid_token_passes_with_identity_and_headers() {
    let host = FakeHost::new(NOW_MS);
    let mut vm = jwt_vm(&host, &inline_config());
    let auth = bearer(&hs256(&json!({"alg": "HS256", "kid": "s1"}), &claims()));
    request(
        &host,
        2,
        "/orders",
        &[("authorization", &auth), ("x-tenant-id", "evil")],
    );
    assert_eq!(vm.on_request_headers(&host, 2, true), Action::Continue);
    assert!(host.stream(2).reply.is_none());
    assert_eq!(header(&host, 2, "x-tenant-id").as_deref(), Some("acme"));
    assert_eq!(
        header(&host, 2, "authorization"),
        None,
        "token not forwarded by default"
    );
    let id = identity(&host, 2).unwrap();
    assert_eq!(id["sub"], "alice");
    assert_eq!(id["provider"], "idp");
    assert_eq!(id["tenant"], "acme");
    assert_eq!(id["scopes"], json!(["orders:read", "orders:write"]));
    assert_eq!(host.metric("edgeward.jwt.allowed.rule.orders"), 1);

    // Same token again: a cache hit, no signature check.
    request(&host, 3, "/orders", &[("authorization", &auth)]);
    assert_eq!(vm.on_request_headers(&host, 3, true), Action::Continue);
    assert_eq!(host.metric("edgeward.jwt.token_cache.hit"), 1);
}

#[test]
fn denials_carry_rfc6750_challenges_and_reasons() {
    let host = FakeHost::new(NOW_MS);
    let mut vm = jwt_vm(&host, &inline_config());
    request(&host, 2, "/orders", &[("x-tenant-id", "evil")]);
    assert_eq!(vm.on_request_headers(&host, 2, true), Action::Pause);
    assert_eq!(vm.on_request_body(&host, 2, 3, true), Action::Pause);
    let reply = host.stream(2).reply.unwrap();
    assert_eq!(reply.status, 401);
    let www: Vec<_> = reply
        .headers
        .iter()
        .filter(|(k, _)| k == "www-authenticate")
        .collect();
    assert_eq!(www[0].1, "Bearer realm=\"edgeward\"");
    assert_eq!(reply_reason(&host, 2), Some((401, "missing_token".into())));
    assert_eq!(
        host.metric("edgeward.jwt.denied.rule.orders.reason.missing_token"),
        1
    );

    let mut c = claims();
    c["exp"] = json!(NOW_S - 61);
    let expired = hs256(&json!({"alg": "HS256"}), &c);
    request(&host, 3, "/orders", &[("authorization", &bearer(&expired))]);
    vm.on_request_headers(&host, 3, true);
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
    assert_eq!(
        host.metric("edgeward.jwt.denied.rule.orders.reason.expired"),
        1
    );

    let mut c = claims();
    c["aud"] = json!("other");
    let t = hs256(&json!({"alg": "HS256"}), &c);
    request(&host, 4, "/orders", &[("authorization", &bearer(&t))]);
    vm.on_request_headers(&host, 4, true);
    assert_eq!(
        reply_reason(&host, 4),
        Some((401, "audience_mismatch".into()))
    );

    let t = hs256(&json!({"alg": "HS256", "kid": "nope"}), &claims());
    request(&host, 5, "/orders", &[("authorization", &bearer(&t))]);
    vm.on_request_headers(&host, 5, true);
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
    vm.on_request_headers(&host, 6, true);
    assert_eq!(
        reply_reason(&host, 6),
        Some((400, "multiple_tokens".into()))
    );
}

#[test]
fn none_route_passes_but_strips_spoofed_headers_in_every_spelling() {
    let host = FakeHost::new(NOW_MS);
    let mut vm = jwt_vm(&host, &inline_config());
    request(
        &host,
        2,
        "/health",
        &[
            ("x-tenant-id", "evil"),
            ("x_tenant_id", "evil"),
            ("x-tenant_id", "evil"),
            ("X_Tenant-ID", "evil"),
            ("x-tenant-idx", "kept"),
        ],
    );
    assert_eq!(vm.on_request_headers(&host, 2, true), Action::Continue);
    let names: Vec<String> = host
        .stream(2)
        .headers
        .iter()
        .map(|(k, _)| k.clone())
        .collect();
    assert!(
        !names.iter().any(|n| n.replace('_', "-") == "x-tenant-id"),
        "{names:?}"
    );
    assert_eq!(header(&host, 2, "x-tenant-idx").as_deref(), Some("kept"));
    assert_eq!(host.metric("edgeward.jwt.spoofed_header_removed"), 4);
}

#[test]
fn non_canonical_paths_are_refused_before_any_rule() {
    let host = FakeHost::new(NOW_MS);
    let mut vm = jwt_vm(&host, &inline_config());
    for (i, p) in [
        "/health/../orders",
        "/orders/../health",
        "/health%2F..%2Forders",
        "/health/..;/orders",
        "/health\\..\\orders",
        "/%68ealth",
        "//health",
    ]
    .iter()
    .enumerate()
    {
        let id = 10 + i as u32;
        request(&host, id, p, &[]);
        assert_eq!(vm.on_request_headers(&host, id, true), Action::Pause, "{p}");
        assert_eq!(
            reply_reason(&host, id),
            Some((400, "non_canonical_path".into())),
            "{p}"
        );
        let reply = host.stream(id).reply.unwrap();
        assert!(
            !reply.headers.iter().any(|(k, _)| k == "www-authenticate"),
            "{p}"
        );
    }
    assert_eq!(
        host.metric("edgeward.jwt.denied.reason.non_canonical_path"),
        7
    );
}

#[test]
fn claims_that_cannot_be_headers_deny_encode_or_skip() {
    let mut c = claims();
    c["tenant_id"] = json!("acme\r\nx-admin: 1");
    let token = bearer(&hs256(&json!({"alg": "HS256"}), &c));
    for (mode, want) in [
        ("deny", None),
        ("encode", Some("acme%0D%0Ax-admin:%201")),
        ("skip", None),
    ] {
        let mut cfg = inline_config();
        cfg["providers"]["idp"]["claims_to_headers"][0]["on_invalid"] = json!(mode);
        let host = FakeHost::new(NOW_MS);
        let mut vm = jwt_vm(&host, &cfg);
        request(&host, 2, "/orders", &[("authorization", &token)]);
        let action = vm.on_request_headers(&host, 2, true);
        match mode {
            "deny" => {
                assert_eq!(action, Action::Pause);
                assert_eq!(
                    reply_reason(&host, 2),
                    Some((401, "unsafe_claim_value".into()))
                );
            }
            _ => {
                assert_eq!(action, Action::Continue, "{mode}");
                assert_eq!(header(&host, 2, "x-tenant-id").as_deref(), want, "{mode}");
            }
        }
    }
}

fn two_provider_config(requires: Value) -> Value {
    json!({
        "providers": {
            "idp": {"issuer": "https://idp", "algorithms": ["HS256"],
                    "jwks": {"inline": {"keys": [{"kty": "oct", "k": b64(SECRET)}]}},
                    "claims_to_headers": [{"claim": "sub", "header": "x-user"}]},
            "device": {"issuer": "https://device", "algorithms": ["HS256"],
                       "jwks": {"inline": {"keys": [{"kty": "oct", "k": b64(SECRET2)}]}},
                       "from": [{"header": "x-device-token"}],
                       "claims_to_headers": [{"claim": "sub", "header": "x-device"}]}
        },
        "rules": [{"match": {"prefix": "/"}, "requires": requires}]
    })
}

fn device_token(sub: &str) -> String {
    use hmac::{KeyInit, Mac};
    let c = json!({"iss": "https://device", "sub": sub, "exp": NOW_S + 300});
    let input = format!(
        "{}.{}",
        b64(json!({"alg": "HS256"}).to_string().as_bytes()),
        b64(c.to_string().as_bytes())
    );
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET2).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", b64(&mac.finalize().into_bytes()))
}

#[test]
fn under_any_a_forged_second_token_never_reaches_the_upstream() {
    let host = FakeHost::new(NOW_MS);
    let mut vm = jwt_vm(
        &host,
        &two_provider_config(json!({"any": ["idp", "device"]})),
    );
    request(
        &host,
        2,
        "/orders",
        &[
            ("authorization", "Bearer forged.token.here"),
            ("x-device-token", &device_token("dev-1")),
        ],
    );
    assert_eq!(vm.on_request_headers(&host, 2, true), Action::Continue);
    assert_eq!(
        header(&host, 2, "authorization"),
        None,
        "forged token removed"
    );
    assert_eq!(header(&host, 2, "x-device-token"), None);
    assert_eq!(header(&host, 2, "x-device").as_deref(), Some("dev-1"));
    assert_eq!(header(&host, 2, "x-user"), None);
}

#[test]
fn under_all_every_verified_provider_maps_its_claims() {
    let host = FakeHost::new(NOW_MS);
    let mut vm = jwt_vm(
        &host,
        &two_provider_config(json!({"all": ["idp", "device"]})),
    );
    let user = bearer(&hs256(&json!({"alg": "HS256"}), &claims()));
    request(
        &host,
        2,
        "/orders",
        &[
            ("authorization", &user),
            ("x-device-token", &device_token("dev-9")),
        ],
    );
    assert_eq!(vm.on_request_headers(&host, 2, true), Action::Continue);
    assert_eq!(header(&host, 2, "x-user").as_deref(), Some("alice"));
    assert_eq!(header(&host, 2, "x-device").as_deref(), Some("dev-9"));
    assert_eq!(
        identity(&host, 2).unwrap()["provider"],
        "idp",
        "the rule's first provider"
    );
    request(&host, 3, "/orders", &[("authorization", &user)]);
    vm.on_request_headers(&host, 3, true);
    assert_eq!(reply_reason(&host, 3), Some((401, "missing_token".into())));
}

#[test]
fn a_kidless_key_verifies_a_token_that_names_a_kid() {
    let host = FakeHost::new(NOW_MS);
    let mut cfg = inline_config();
    cfg["providers"]["idp"]["jwks"] =
        json!({"inline": {"keys": [{"kty": "oct", "k": b64(SECRET)}]}});
    let mut vm = jwt_vm(&host, &cfg);
    let t = bearer(&hs256(
        &json!({"alg": "HS256", "kid": "rotated-7"}),
        &claims(),
    ));
    request(&host, 2, "/orders", &[("authorization", &t)]);
    assert_eq!(vm.on_request_headers(&host, 2, true), Action::Continue);
}

#[test]
fn remote_keys_first_request_waits_for_the_fetch_sent_from_the_root() {
    let host = FakeHost::new(NOW_MS);
    let mut vm = jwt_vm(&host, &remote_config());
    assert_eq!(host.tick_period_ms.get(), 100);
    let token = eddsa(1, "k1", &claims());
    request(&host, 2, "/orders", &[("authorization", &bearer(&token))]);
    assert_eq!(vm.on_request_headers(&host, 2, false), Action::Pause);
    assert_eq!(
        vm.on_request_body(&host, 2, 10, true),
        Action::Pause,
        "held"
    );
    assert_eq!(vm.filter().unwrap().waiting(), 1);
    assert!(host.calls.borrow().is_empty(), "a stream never dispatches");
    assert_eq!(host.tick_period_ms.get(), 1, "the next tick comes at once");
    tick(&mut vm, &host);
    assert_eq!(host.calls.borrow().len(), 1);
    assert_eq!(host.dispatched_from.borrow()[0], ROOT);
    assert_eq!(host.calls.borrow()[0].cluster, "idp");
    assert_eq!(host.tick_period_ms.get(), 100);
    deliver(&mut vm, &host, 1, &jwks_body(&[ed_jwk(1, "k1")]));
    assert_eq!(vm.filter().unwrap().waiting(), 0);
    let s = host.stream(2);
    assert_eq!(s.resumed, 1, "the paused request was resumed");
    assert!(s.reply.is_none());
    assert!(identity(&host, 2).is_some());
    assert_eq!(host.current(), ROOT);
    assert_eq!(vm.on_request_body(&host, 2, 10, true), Action::Continue);
}

#[test]
fn remote_keys_failure_fails_closed_and_hang_times_out() {
    let host = FakeHost::new(NOW_MS);
    let mut vm = jwt_vm(&host, &remote_config());
    let auth = bearer(&eddsa(1, "k1", &claims()));
    request(&host, 2, "/orders", &[("authorization", &auth)]);
    vm.on_request_headers(&host, 2, true);
    tick(&mut vm, &host);
    deliver(
        &mut vm,
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
    assert_eq!(vm.on_request_headers(&host, 3, true), Action::Pause);
    assert_eq!(vm.filter().unwrap().waiting(), 0);
    assert_eq!(
        reply_reason(&host, 3),
        Some((401, "jwks_unavailable".into()))
    );
    // After the back-off a new fetch starts; it hangs; the deadline denies.
    host.advance_ms(1_000);
    request(&host, 4, "/orders", &[("authorization", &auth)]);
    vm.on_request_headers(&host, 4, true);
    assert_eq!(vm.filter().unwrap().waiting(), 1);
    tick(&mut vm, &host);
    assert_eq!(host.calls.borrow().len(), 2);
    host.advance_ms(1_499);
    tick(&mut vm, &host);
    assert_eq!(vm.filter().unwrap().waiting(), 1);
    host.advance_ms(1);
    tick(&mut vm, &host);
    assert_eq!(vm.filter().unwrap().waiting(), 0);
    assert_eq!(
        reply_reason(&host, 4),
        Some((401, "jwks_unavailable".into()))
    );
}

#[test]
fn rotation_new_kid_waits_for_refetch_old_kid_is_rejected() {
    let host = FakeHost::new(NOW_MS);
    let mut vm = jwt_vm(&host, &remote_config());
    tick(&mut vm, &host);
    deliver(&mut vm, &host, 1, &jwks_body(&[ed_jwk(1, "k1")]));
    let old = bearer(&eddsa(1, "k1", &claims()));
    request(&host, 2, "/orders", &[("authorization", &old)]);
    assert_eq!(vm.on_request_headers(&host, 2, true), Action::Continue);

    // The IdP rotates to k2; a k2 token triggers one refetch and waits.
    let new = bearer(&eddsa(2, "k2", &claims()));
    request(&host, 3, "/orders", &[("authorization", &new)]);
    assert_eq!(vm.on_request_headers(&host, 3, true), Action::Pause);
    tick(&mut vm, &host);
    assert_eq!(host.calls.borrow().len(), 2);
    deliver(&mut vm, &host, 2, &jwks_body(&[ed_jwk(2, "k2")]));
    assert_eq!(host.stream(3).resumed, 1);
    assert!(host.stream(3).reply.is_none());

    // The retired key no longer works, even though k1's token was cached.
    request(&host, 4, "/orders", &[("authorization", &old)]);
    vm.on_request_headers(&host, 4, true);
    assert_eq!(
        reply_reason(&host, 4),
        Some((401, "unknown_kid".into())),
        "rate-limited: no new fetch"
    );
    // Unknown kids right after: no fetch storm.
    for i in 0..10 {
        let t = bearer(&eddsa(3, &format!("rand{i}"), &claims()));
        request(&host, 10 + i, "/orders", &[("authorization", &t)]);
        vm.on_request_headers(&host, 10 + i, true);
        assert_eq!(
            reply_reason(&host, 10 + i),
            Some((401, "unknown_kid".into()))
        );
    }
    tick(&mut vm, &host);
    assert_eq!(host.calls.borrow().len(), 2);
}

#[test]
fn a_stream_reset_during_the_kid_refetch_cannot_cancel_it() {
    let host = FakeHost::new(NOW_MS);
    let mut vm = jwt_vm(&host, &remote_config());
    tick(&mut vm, &host);
    deliver(&mut vm, &host, 1, &jwks_body(&[ed_jwk(1, "k1")]));
    // A k2 token arrives; the client resets before the refetch is sent.
    let new = bearer(&eddsa(2, "k2", &claims()));
    request(&host, 3, "/orders", &[("authorization", &new)]);
    assert_eq!(vm.on_request_headers(&host, 3, true), Action::Pause);
    vm.on_done(3);
    assert_eq!(vm.filter().unwrap().waiting(), 0);
    // The root sends the fetch anyway, and its reply is the root's.
    tick(&mut vm, &host);
    assert_eq!(host.calls.borrow().len(), 2);
    assert_eq!(host.dispatched_from.borrow()[1], ROOT);
    deliver(
        &mut vm,
        &host,
        2,
        &jwks_body(&[ed_jwk(1, "k1"), ed_jwk(2, "k2")]),
    );
    assert_eq!(host.stream(3).resumed, 0, "the reset stream is left alone");
    // Well within the refetch interval, the rotated key works at once.
    request(&host, 4, "/orders", &[("authorization", &new)]);
    assert_eq!(vm.on_request_headers(&host, 4, true), Action::Continue);
    assert_eq!(host.calls.borrow().len(), 2);
}

#[test]
fn second_vm_uses_the_first_vms_fetch() {
    let host = FakeHost::new(NOW_MS);
    let mut vm_a = jwt_vm(&host, &remote_config());
    let mut vm_b = jwt_vm(&host, &remote_config());
    tick(&mut vm_a, &host);
    tick(&mut vm_b, &host);
    assert_eq!(host.calls.borrow().len(), 1, "one fetch for both VMs");
    let auth = bearer(&eddsa(1, "k1", &claims()));
    request(&host, 7, "/orders", &[("authorization", &auth)]);
    assert_eq!(vm_b.on_request_headers(&host, 7, true), Action::Pause);
    tick(&mut vm_b, &host);
    assert_eq!(host.calls.borrow().len(), 1, "b waits on a's fetch");
    deliver(&mut vm_a, &host, 1, &jwks_body(&[ed_jwk(1, "k1")]));
    tick(&mut vm_b, &host);
    assert_eq!(host.stream(7).resumed, 1);
    assert!(host.stream(7).reply.is_none());
}
