//! The edge filter (JWT then tenant in one filter entry, `edgeward::chain`)
//! against the two filters chained, on the fake host: for every request the
//! same reply (status, headers, body, details), the same request headers
//! upstream, the same filter state and the same metrics. Also with remote
//! keys (the request held for the fetch, then decided by the tenant filter,
//! body included), and configuration errors named by their field path.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{b64, ed_jwk, hs256, ROOT, SECRET};
use edgeward_core::authz::TenantFilter;
use edgeward_core::edge::EdgeFilter;
use edgeward_core::filter::{Action, Driver};
use edgeward_core::host::fake::FakeHost;
use edgeward_core::host::{BufferedResponse, LocalReply};
use edgeward_core::jwt::JwtFilter;
use serde_json::{json, Value};

const NOW_MS: u64 = 1_800_000_000_000;
const NOW_S: i64 = 1_800_000_000;

fn jwt_config(remote: bool) -> Value {
    let keys = if remote {
        json!({"remote": {"cluster": "idp", "authority": "idp.test", "path": "/jwks",
                          "cache_duration_s": 60, "timeout_ms": 1000, "max_wait_ms": 1500}})
    } else {
        json!({"inline": {"keys": [{"kty": "oct", "kid": "s1", "k": b64(SECRET)}]}})
    };
    let alg = if remote { "EdDSA" } else { "HS256" };
    json!({
        "providers": {"idp": {"issuer": "https://idp", "audiences": ["api"], "algorithms": [alg],
                              "tenant_claim": "tenant_id", "jwks": keys}},
        "rules": [{"name": "all", "match": {"prefix": "/"}, "requires": {"allow_missing": ["idp"]}}]
    })
}

fn tenant_config() -> Value {
    json!({
        "identity_headers": [{"header": "x-tenant-id", "value": "tenant"},
                             {"header": "x-user-id", "value": "sub"}],
        "rules": [
            {"name": "invoices", "match": {"template": "/v1/tenants/{tenant}/invoices/{id}", "methods": ["GET"]},
             "scopes": {"all_of": ["invoices:read"]}, "tenant": {"path": "tenant"},
             "deny": {"status": 404, "title": "Not Found"}},
            {"name": "orders-by-header", "match": {"path_prefix": "/v1/orders"},
             "tenant": {"header": "x-org"}},
            {"name": "orders-create", "match": {"path": "/v2/orders", "methods": ["POST"]},
             "tenant": {"body": "/customer/tenant_id"}},
            {"name": "public", "match": {"path_prefix": "/public"}, "requires_identity": false}
        ]
    })
}

fn claims(tenant: &str, scope: &str) -> Value {
    json!({"iss": "https://idp", "aud": "api", "sub": "alice", "tenant_id": tenant,
           "scope": scope, "exp": NOW_S + 300, "iat": NOW_S})
}

fn hs_token(tenant: &str, scope: &str) -> String {
    format!(
        "Bearer {}",
        hs256(
            &json!({"alg": "HS256", "kid": "s1"}),
            &claims(tenant, scope)
        )
    )
}

fn configure<F: edgeward_core::filter::Filter>(host: &FakeHost, cfg: &Value) -> Driver<F> {
    *host.plugin_config.borrow_mut() = cfg.to_string().into_bytes();
    let mut d = Driver::<F>::new(ROOT);
    assert!(d.configure(host), "refused: {:?}", host.logs.borrow());
    d
}

/// One request: headers, and optionally a body (delivered in one chunk).
struct Req {
    method: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Option<&'static [u8]>,
}

fn req(method: &'static str, path: &'static str, headers: &[(&'static str, &str)]) -> Req {
    Req {
        method,
        path,
        headers: headers.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        body: None,
    }
}

/// What the client and the upstream see of a request.
#[derive(Debug, PartialEq)]
struct Seen {
    reply: Option<LocalReply>,
    /// The request continued to the upstream.
    forwarded: bool,
    headers: Vec<(String, String)>,
    properties: Vec<(Vec<String>, Vec<u8>)>,
}

fn start(host: &FakeHost, id: u32, r: &Req) {
    let mut h: Vec<(&str, &str)> = vec![
        (":method", r.method),
        (":path", r.path),
        (":authority", "api"),
    ];
    h.extend(r.headers.iter().map(|(k, v)| (*k, v.as_str())));
    host.start_stream(id, &h);
    if let Some(b) = r.body {
        host.set_request_body(b);
    }
}

fn seen(host: &FakeHost, id: u32, forwarded: bool) -> Seen {
    let s = host.stream(id);
    Seen {
        reply: s.reply.clone(),
        forwarded: forwarded && s.reply.is_none(),
        headers: s.headers.clone(),
        properties: s.properties.clone().into_iter().collect(),
    }
}

/// Envoy with two filter entries: the tenant filter gets each event only
/// once the JWT filter let it through.
fn chained(
    jwt: &mut Driver<JwtFilter>,
    tenant: &mut Driver<TenantFilter>,
    host: &FakeHost,
    id: u32,
    r: &Req,
) -> Seen {
    start(host, id, r);
    let eos = r.body.is_none();
    let mut forwarded = false;
    if jwt.on_request_headers(host, id, eos) == Action::Continue {
        let mut a = tenant.on_request_headers(host, id, eos);
        if let Some(b) = r.body {
            if jwt.on_request_body(host, id, b.len(), true) == Action::Continue {
                a = tenant.on_request_body(host, id, b.len(), true);
            }
        }
        forwarded = a == Action::Continue;
    }
    seen(host, id, forwarded)
}

fn edge(d: &mut Driver<EdgeFilter>, host: &FakeHost, id: u32, r: &Req) -> Seen {
    start(host, id, r);
    let eos = r.body.is_none();
    let mut a = d.on_request_headers(host, id, eos);
    if let Some(b) = r.body {
        a = d.on_request_body(host, id, b.len(), true);
    }
    seen(host, id, a == Action::Continue)
}

fn requests() -> Vec<Req> {
    let acme = hs_token("acme", "invoices:read");
    let acme_no_scope = hs_token("acme", "profile");
    let mut v = vec![
        req(
            "GET",
            "/v1/tenants/acme/invoices/7",
            &[("authorization", &acme)],
        ),
        req(
            "GET",
            "/v1/tenants/globex/invoices/7",
            &[("authorization", &acme)],
        ),
        req(
            "GET",
            "/v1/tenants/acme/invoices/7",
            &[("authorization", &acme_no_scope)],
        ),
        req("GET", "/v1/tenants/acme/invoices/7", &[]),
        req(
            "GET",
            "/v1/tenants/acme/invoices/7",
            &[("authorization", "Bearer not.a.token")],
        ),
        req(
            "GET",
            "/v1/tenants/acme/invoices/7",
            &[
                ("authorization", &acme),
                ("x-tenant-id", "globex"),
                ("X_Tenant_Id", "evil"),
                ("x-user-id", "mallory"),
            ],
        ),
        req(
            "GET",
            "/v1/tenants/acme/../globex/invoices/7",
            &[("authorization", &acme)],
        ),
        req(
            "GET",
            "/v1/tenants/acme/invoices/7",
            &[
                ("authorization", &acme),
                ("x-http-method-override", "DELETE"),
            ],
        ),
        req(
            "GET",
            "/v1/orders/1",
            &[("authorization", &acme), ("x-org", "acme")],
        ),
        req(
            "GET",
            "/v1/orders/1",
            &[("authorization", &acme), ("x-org", "globex")],
        ),
        req(
            "GET",
            "/v1/orders/1",
            &[
                ("authorization", &acme),
                ("x-org", "acme"),
                ("x-org", "globex"),
            ],
        ),
        req("GET", "/public/x", &[]),
        req("GET", "/nowhere", &[("authorization", &acme)]),
    ];
    let bodies: [&'static [u8]; 4] = [
        br#"{"customer": {"tenant_id": "acme"}}"#,
        br#"{"customer": {"tenant_id": "globex"}}"#,
        br#"{"customer": {"tenant_id": "acme", "tenant_id": "globex"}}"#,
        b"{not json",
    ];
    for b in bodies {
        let mut r = req(
            "POST",
            "/v2/orders",
            &[
                ("authorization", &acme),
                ("content-type", "application/json"),
            ],
        );
        r.body = Some(b);
        v.push(r);
    }
    v
}

#[test]
fn the_edge_filter_answers_every_request_as_the_two_chained() {
    let chain_host = FakeHost::new(NOW_MS);
    let mut jwt = configure::<JwtFilter>(&chain_host, &jwt_config(false));
    let mut tenant = configure::<TenantFilter>(&chain_host, &tenant_config());
    let edge_host = FakeHost::new(NOW_MS);
    let mut e = configure::<EdgeFilter>(
        &edge_host,
        &json!({"jwt": jwt_config(false), "tenant": tenant_config()}),
    );
    let mut outcomes = Vec::new();
    for (i, r) in requests().iter().enumerate() {
        let id = 10 + i as u32;
        let a = chained(&mut jwt, &mut tenant, &chain_host, id, r);
        let b = edge(&mut e, &edge_host, id, r);
        assert_eq!(a, b, "request {i}: {} {}", r.method, r.path);
        outcomes.push((a.forwarded, a.reply.map(|x| x.details)));
    }
    assert_eq!(*chain_host.metrics.borrow(), *edge_host.metrics.borrow());
    // The scenarios cover allow and every kind of refusal.
    let forwarded = outcomes.iter().filter(|o| o.0).count();
    assert_eq!(forwarded, 5, "{outcomes:?}");
    let details: Vec<String> = outcomes.into_iter().filter_map(|o| o.1).collect();
    for d in [
        "edgeward_tenant_denied.tenant_mismatch",
        "edgeward_tenant_denied.missing_scope",
        "edgeward_tenant_denied.no_identity",
        "edgeward_jwt_denied.malformed",
        "edgeward_jwt_denied.non_canonical_path",
        "edgeward_tenant_denied.method_override",
        "edgeward_tenant_denied.ambiguous_header",
        "edgeward_tenant_denied.no_matching_rule",
        "edgeward_tenant_denied.invalid_body",
    ] {
        assert!(details.iter().any(|x| x == d), "{d} not in {details:?}");
    }
}

#[test]
fn a_spoofed_tenant_header_is_replaced_and_the_identity_still_published() {
    let host = FakeHost::new(NOW_MS);
    let mut e = configure::<EdgeFilter>(
        &host,
        &json!({"jwt": jwt_config(false), "tenant": tenant_config()}),
    );
    let r = req(
        "GET",
        "/v1/tenants/acme/invoices/7",
        &[
            ("authorization", &hs_token("acme", "invoices:read")),
            ("x-tenant-id", "globex"),
        ],
    );
    let s = edge(&mut e, &host, 2, &r);
    assert!(s.forwarded);
    let get = |n: &str| {
        s.headers
            .iter()
            .filter(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(get("x-tenant-id"), vec!["acme"]);
    assert_eq!(get("authorization"), Vec::<String>::new());
    let prop = |k: &str| host.stream(2).properties.get(&vec![k.to_string()]).cloned();
    let identity: Value = serde_json::from_slice(&prop("edgeward.identity").unwrap()).unwrap();
    assert_eq!(identity["tenant"], "acme");
    let authz: Value = serde_json::from_slice(&prop("edgeward.authz").unwrap()).unwrap();
    assert_eq!(authz["decision"], "allow");
    assert_eq!(authz["rule"], "invoices");
}

fn eddsa(tenant: &str) -> String {
    format!(
        "Bearer {}",
        common::eddsa(
            1,
            &json!({"alg": "EdDSA", "kid": "k1"}),
            &claims(tenant, "invoices:read")
        )
    )
}

fn jwks() -> BufferedResponse {
    BufferedResponse {
        status: Some(200),
        body: json!({"keys": [ed_jwk(1, "k1")]}).to_string().into_bytes(),
    }
}

/// Remote keys: the first requests wait for the fetch; once it arrives the
/// JWT filter resumes them and the tenant filter decides them (with the body
/// buffered meanwhile); only what the tenant filter allows really resumes.
#[test]
fn requests_held_for_keys_are_decided_by_the_tenant_filter_once_resumed() {
    let host = FakeHost::new(NOW_MS);
    let mut e = configure::<EdgeFilter>(
        &host,
        &json!({"jwt": jwt_config(true), "tenant": tenant_config()}),
    );
    assert_eq!(host.tick_period_ms.get(), 100, "the JWT filter's timer");
    let ok = req(
        "GET",
        "/v1/tenants/acme/invoices/7",
        &[("authorization", &eddsa("acme"))],
    );
    let cross = req(
        "GET",
        "/v1/tenants/globex/invoices/7",
        &[("authorization", &eddsa("acme"))],
    );
    let mut body_ok = req(
        "POST",
        "/v2/orders",
        &[
            ("authorization", &eddsa("acme")),
            ("content-type", "application/json"),
        ],
    );
    body_ok.body = Some(br#"{"customer": {"tenant_id": "acme"}}"#);
    let mut body_cross = req(
        "POST",
        "/v2/orders",
        &[
            ("authorization", &eddsa("acme")),
            ("content-type", "application/json"),
        ],
    );
    body_cross.body = Some(br#"{"customer": {"tenant_id": "globex"}}"#);
    for (id, r) in [(2, &ok), (3, &cross), (4, &body_ok), (5, &body_cross)] {
        start(&host, id, r);
        assert_eq!(
            e.on_request_headers(&host, id, r.body.is_none()),
            Action::Pause,
            "held"
        );
        if let Some(b) = r.body {
            assert_eq!(
                e.on_request_body(&host, id, b.len(), true),
                Action::Pause,
                "held"
            );
        }
    }
    assert_eq!(
        host.tick_period_ms.get(),
        1,
        "the fetch goes out on the next tick"
    );
    host.set_current(ROOT);
    e.on_tick(&host);
    assert_eq!(host.calls.borrow().len(), 1);
    host.set_current(ROOT);
    e.on_http_call_response(&host, ROOT, 1, &jwks());
    assert_eq!(host.current(), ROOT);
    let s = |id| host.stream(id);
    assert_eq!(
        (s(2).resumed, s(2).reply.is_none()),
        (1, true),
        "allowed: resumed"
    );
    assert_eq!(
        s(2).headers
            .iter()
            .find(|(k, _)| k == "x-tenant-id")
            .map(|(_, v)| v.as_str()),
        Some("acme")
    );
    assert_eq!(
        s(3).resumed,
        0,
        "denied by the tenant filter: never resumed"
    );
    assert_eq!(
        s(3).reply.as_ref().unwrap().status,
        404,
        "the rule's own denial"
    );
    assert_eq!(
        (s(4).resumed, s(4).reply.is_none()),
        (1, true),
        "body bound and allowed"
    );
    assert_eq!(s(5).resumed, 0);
    assert_eq!(
        s(5).reply.as_ref().unwrap().details,
        "edgeward_tenant_denied.tenant_mismatch"
    );
    // A late body callback of a request the tenant filter answered goes nowhere.
    host.set_current(5);
    assert_eq!(e.on_request_body(&host, 5, 10, true), Action::Pause);
    assert_eq!(host.metric("edgeward.tenant.allowed.rule.orders-create"), 1);

    // The same key again: decided at once, in the headers callback.
    start(&host, 6, &ok);
    assert_eq!(e.on_request_headers(&host, 6, true), Action::Continue);
}

#[test]
fn a_held_request_the_jwt_filter_denies_never_reaches_the_tenant_filter() {
    let host = FakeHost::new(NOW_MS);
    let mut e = configure::<EdgeFilter>(
        &host,
        &json!({"jwt": jwt_config(true), "tenant": tenant_config()}),
    );
    let r = req(
        "GET",
        "/v1/tenants/acme/invoices/7",
        &[("authorization", &eddsa("acme"))],
    );
    start(&host, 2, &r);
    assert_eq!(e.on_request_headers(&host, 2, true), Action::Pause);
    host.set_current(ROOT);
    e.on_tick(&host);
    host.set_current(ROOT);
    e.on_http_call_response(
        &host,
        ROOT,
        1,
        &BufferedResponse {
            status: Some(503),
            body: vec![],
        },
    );
    let s = host.stream(2);
    assert_eq!(s.resumed, 0);
    assert_eq!(
        s.reply.unwrap().details,
        "edgeward_jwt_denied.jwks_unavailable"
    );
    assert!(host
        .metrics
        .borrow()
        .keys()
        .all(|k| !k.starts_with("edgeward.tenant.")));
}

#[test]
fn configuration_errors_name_the_filter_and_its_field() {
    let cases = [
        (json!({"jwt": jwt_config(false)}), "missing field `tenant`"),
        (
            json!({"jwt": jwt_config(false), "tenant": tenant_config(), "jtw": {}}),
            "jtw: unknown field",
        ),
        (
            json!({"jwt": {"providers": {}, "rules": []}, "tenant": tenant_config()}),
            "jwt.",
        ),
        (
            json!({"jwt": jwt_config(false), "tenant": {"rules": [{"name": "x", "match": {"template": "/a/{b"}}]}}),
            "tenant.rules[0](x).match",
        ),
        (json!([1]), "an object"),
    ];
    for (cfg, want) in cases {
        let host = FakeHost::new(NOW_MS);
        *host.plugin_config.borrow_mut() = cfg.to_string().into_bytes();
        let mut d = Driver::<EdgeFilter>::new(ROOT);
        assert!(!d.configure(&host), "{cfg}");
        let logs = host.logs.borrow();
        assert!(
            logs.iter().any(
                |(_, m)| m.starts_with("edgeward-edge: invalid configuration: ")
                    && m.contains(want)
            ),
            "{want}: {logs:?}"
        );
    }
    // A key twice is refused, not last-wins.
    let host = FakeHost::new(NOW_MS);
    let t = tenant_config().to_string();
    *host.plugin_config.borrow_mut() = format!(
        r#"{{"jwt": {}, "tenant": {t}, "tenant": {t}}}"#,
        jwt_config(false)
    )
    .into_bytes();
    let mut d = Driver::<EdgeFilter>::new(ROOT);
    assert!(!d.configure(&host));
    assert!(host
        .logs
        .borrow()
        .iter()
        .any(|(_, m)| m.contains("tenant: duplicate field")));
}

#[test]
fn the_shipped_envoy_configs_carry_valid_edge_configurations() {
    for (name, yaml) in [
        (
            "examples/edge.yaml",
            include_str!("../../envoy/examples/edge.yaml"),
        ),
        ("demo.yaml", include_str!("../../envoy/demo.yaml")),
    ] {
        let host = FakeHost::new(NOW_MS);
        *host.plugin_config.borrow_mut() =
            common::plugin_config_in(yaml, "dist/edgeward_edge.wasm").into_bytes();
        let mut d = Driver::<EdgeFilter>::new(ROOT);
        assert!(d.configure(&host), "{name}: {:?}", host.logs.borrow());
    }
}
