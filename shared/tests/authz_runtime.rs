//! The tenant authorization filter's whole flow on the shared driver and
//! the fake host: tenant binding to path, header and body (and the tricks
//! that make two parsers disagree), identity headers, scopes and the
//! RFC 6750 challenge, roles, claim, time, address and SPIFFE conditions,
//! deny-overrides-allow, shadow mode, per-rule deny responses, metrics and
//! the decision record.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use edgeward_core::authz::TenantFilter;
use edgeward_core::filter::{Action, Driver};
use edgeward_core::host::fake::FakeHost;
use edgeward_core::host::LogLevel;
use edgeward_core::host::StreamHost;
use serde_json::{json, Value};

/// 2027-01-15 (a Friday) 10:00:00 UTC.
const FRIDAY_10H_MS: u64 = 1_800_007_200_000;

fn policy() -> Value {
    json!({
        "identity_headers": [
            {"header": "x-tenant-id", "value": "tenant"},
            {"header": "x-user-id", "value": "sub"}
        ],
        "rules": [
            {"name": "risky", "effect": "deny", "match": {"path_prefix": "/v1"},
             "claims": [{"claim": "risk.score", "gt": 70}]},
            {"name": "invoices-read", "match": {"template": "/v1/tenants/{tenant}/invoices/{id}", "methods": ["GET"]},
             "scopes": {"all_of": ["invoices:read"]}, "tenant": {"path": "tenant"}},
            {"name": "invoices-admin", "match": {"template": "/v1/tenants/{tenant}/invoices/{id}", "methods": ["DELETE"]},
             "roles": {"claim": "realm.roles", "any_of": ["admin"]}, "tenant": {"path": "tenant"},
             "deny": {"status": 404, "type": "https://errors.example/not-found", "title": "Not Found", "headers": {"x-why": "policy"}}},
            {"name": "orders-by-header", "match": {"path_prefix": "/v1/orders"},
             "scopes": {"any_of": ["orders:read", "orders:write"]}, "tenant": {"header": "x-org"}},
            {"name": "orders-create", "match": {"path": "/v2/orders", "methods": ["POST"]},
             "tenant": {"body": "/customer/tenant_id"}},
            {"name": "office-hours", "match": {"path_prefix": "/reports"},
             "time": [{"weekdays": ["mon", "tue", "wed", "thu", "fri"], "hours": [9, 17]}]},
            {"name": "internal", "match": {"path_prefix": "/internal"},
             "client_ips": ["10.0.0.0/8"], "headers": [{"name": "x-env", "equals": "prod"}]},
            {"name": "plan", "match": {"path_prefix": "/premium"},
             "claims": [{"claim": "plan", "in": ["gold", "platinum"]}, {"claim": "email", "prefix": "ops@"},
                        {"claim": "verified", "equals": true}, {"claim": "beta", "exists": false}]},
            {"name": "east-west", "match": {"path_prefix": "/svc"}, "requires_identity": false,
             "peer": {"trust_domain": "corp", "path": "/ns/billing/**"}},
            {"name": "east-west-tenant", "match": {"template": "/mesh/{tenant}/**"},
             "peer": {"trust_domain": "corp", "path": "/tenants/{tenant}/sa/*"}, "tenant": {"path": "tenant"}},
            {"name": "exact-peer", "match": {"path_prefix": "/pay"}, "requires_identity": false,
             "peer": {"spiffe_ids": ["spiffe://corp/ns/pay/sa/api"]}},
            {"name": "public", "match": {"path_prefix": "/public"}, "requires_identity": false},
            {"name": "trial", "match": {"path_prefix": "/trial"}, "shadow": true,
             "scopes": {"all_of": ["trial"]}},
            {"name": "trial-open", "match": {"path_prefix": "/trial"}}
        ]
    })
}

fn identity(tenant: &str) -> Value {
    json!({"provider": "idp", "iss": "https://idp", "sub": "alice", "aud": ["api"],
           "scopes": ["invoices:read", "orders:read"], "tenant": tenant,
           "claims": {"sub": "alice", "tenant_id": tenant, "risk": {"score": 10},
                      "realm": {"roles": ["user"]}, "plan": "gold", "email": "ops@acme.test",
                      "verified": true}})
}

struct T {
    host: FakeHost,
    d: Driver<TenantFilter>,
    next: u32,
}

impl T {
    fn new(cfg: &Value) -> T {
        let host = FakeHost::new(FRIDAY_10H_MS);
        *host.plugin_config.borrow_mut() = cfg.to_string().into_bytes();
        let mut d = Driver::<TenantFilter>::new(1);
        assert!(d.configure(&host), "{:?}", host.logs.borrow());
        T { host, d, next: 2 }
    }

    /// Starts a request with `identity` (None: anonymous); returns its id.
    fn start(
        &mut self,
        method: &str,
        path: &str,
        extra: &[(&str, &str)],
        id: Option<&Value>,
    ) -> u32 {
        let sid = self.next;
        self.next += 1;
        let mut headers = vec![(":method", method), (":path", path), (":authority", "api")];
        headers.extend_from_slice(extra);
        self.host.start_stream(sid, &headers);
        if let Some(i) = id {
            self.host
                .set_property(&["edgeward.identity"], i.to_string().as_bytes())
                .unwrap();
        }
        sid
    }

    fn get(&mut self, path: &str, extra: &[(&str, &str)], id: Option<&Value>) -> (Action, u32) {
        self.send("GET", path, extra, id)
    }

    fn send(
        &mut self,
        method: &str,
        path: &str,
        extra: &[(&str, &str)],
        id: Option<&Value>,
    ) -> (Action, u32) {
        let sid = self.start(method, path, extra, id);
        (self.d.on_request_headers(&self.host, sid, true), sid)
    }

    fn status(&self, sid: u32) -> Option<u16> {
        self.host.stream(sid).reply.map(|r| r.status)
    }

    fn reason(&self, sid: u32) -> String {
        let r = self.host.stream(sid).reply.expect("a reply");
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        body["reason"].as_str().unwrap().to_string()
    }

    fn record(&self, sid: u32) -> Value {
        let s = self.host.stream(sid);
        let bytes = s
            .properties
            .get(&vec!["edgeward.authz".to_string()])
            .expect("decision record");
        serde_json::from_slice(bytes).unwrap()
    }

    fn header(&self, sid: u32, name: &str) -> Vec<String> {
        self.host
            .stream(sid)
            .headers
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

#[test]
fn own_tenant_in_the_path_is_allowed_and_identity_headers_set() {
    let mut t = T::new(&policy());
    let acme = identity("acme");
    let (a, sid) = t.get("/v1/tenants/acme/invoices/7", &[], Some(&acme));
    assert_eq!(a, Action::Continue);
    assert_eq!(t.header(sid, "x-tenant-id"), vec!["acme"]);
    assert_eq!(t.header(sid, "x-user-id"), vec!["alice"]);
    let rec = t.record(sid);
    assert_eq!(rec["decision"], "allow");
    assert_eq!(rec["rule"], "invoices-read");
    assert_eq!(rec["tenant"], "acme");
    assert_eq!(
        t.host.metric("edgeward.tenant.allowed.rule.invoices-read"),
        1
    );
}

#[test]
fn another_tenant_in_the_path_is_denied_the_same_whether_it_exists_or_not() {
    let mut t = T::new(&policy());
    let acme = identity("acme");
    let (a, globex) = t.get("/v1/tenants/globex/invoices/7", &[], Some(&acme));
    assert_eq!(a, Action::Pause);
    assert_eq!(t.status(globex), Some(403));
    assert_eq!(t.reason(globex), "tenant_mismatch");
    let (_, nobody) = t.get("/v1/tenants/no-such-tenant/invoices/999", &[], Some(&acme));
    assert_eq!(
        t.host.stream(globex).reply.unwrap(),
        t.host.stream(nobody).reply.unwrap(),
        "byte-identical answers"
    );
    assert_eq!(
        t.host
            .metric("edgeward.tenant.denied.rule.invoices-read.reason.tenant_mismatch"),
        2
    );
    assert_eq!(t.record(globex)["decision"], "deny");
}

#[test]
fn a_tenant_that_differs_by_case_whitespace_or_encoding_is_a_mismatch() {
    let mut t = T::new(&json!({
        "path_policy": {"allow": ["encoded_unreserved", "double_slash", "semicolon"]},
        "rules": [{"name": "r", "match": {"template": "/t/{tenant}/x"}, "tenant": {"path": "tenant"}}]
    }));
    let acme = identity("acme");
    for p in [
        "/t/ACME/x",
        "/t/Acme/x",
        "/t/%61cme/x",
        "/t/acme%20/x",
        "/t/%20acme/x",
        "/t/acm%65/x",
    ] {
        let (_, sid) = t.get(p, &[], Some(&acme));
        assert_eq!(t.status(sid), Some(403), "{p}");
        assert_eq!(t.reason(sid), "tenant_mismatch", "{p}");
    }
    // Relaxed spellings the policy maps onto the same segments still bind.
    for p in ["/t/acme/x", "//t//acme/x", "/t/acme;v=1/x"] {
        let (a, sid) = t.get(p, &[], Some(&acme));
        assert_eq!(a, Action::Continue, "{p}: {:?}", t.host.stream(sid).reply);
    }
}

#[test]
fn ambiguous_paths_never_reach_a_rule() {
    let mut t = T::new(&policy());
    let acme = identity("acme");
    for p in [
        "/v1/tenants/acme/../globex/invoices/7",
        "/v1/tenants/acme/%2e%2e/globex/invoices/7",
        "/v1/tenants/globex%2Finvoices/7",
        "/v1/tenants/acme;/../globex/invoices/7",
        "/v1/tenants/acme\\..\\globex/invoices/7",
        "/v1/tenants//globex/invoices/7",
        "/v1/tenants/%67lobex/invoices/7",
        "/v1/tenants/acme/invoices/7#x",
    ] {
        let (_, sid) = t.get(p, &[], Some(&acme));
        assert_eq!(t.status(sid), Some(400), "{p}");
        assert_eq!(t.reason(sid), "non_canonical_path", "{p}");
    }
}

#[test]
fn header_binding_refuses_repeats_lists_and_other_spellings() {
    let mut t = T::new(&policy());
    let acme = identity("acme");
    let (a, _) = t.get("/v1/orders/1", &[("x-org", "acme")], Some(&acme));
    assert_eq!(a, Action::Continue);
    let (_, sid) = t.get("/v1/orders/1", &[("x-org", "globex")], Some(&acme));
    assert_eq!(t.reason(sid), "tenant_mismatch");
    let (_, sid) = t.get("/v1/orders/1", &[], Some(&acme));
    assert_eq!(t.reason(sid), "tenant_mismatch");
    for extra in [
        vec![("x-org", "acme"), ("x-org", "globex")],
        vec![("x-org", "acme,globex")],
        vec![("x-org", "acme"), ("x_org", "globex")],
        vec![("X_ORG", "globex"), ("x-org", "acme")],
    ] {
        let (_, sid) = t.get("/v1/orders/1", &extra, Some(&acme));
        assert_eq!(t.status(sid), Some(400), "{extra:?}");
        assert_eq!(t.reason(sid), "ambiguous_header", "{extra:?}");
    }
}

#[test]
fn spoofed_identity_headers_are_replaced_in_every_spelling() {
    let mut t = T::new(&policy());
    let acme = identity("acme");
    let (a, sid) = t.get(
        "/v1/tenants/acme/invoices/7",
        &[
            ("x-tenant-id", "globex"),
            ("X-Tenant-ID", "globex"),
            ("x_tenant_id", "globex"),
            ("X_TENANT-id", "globex"),
            ("x-user-id", "root"),
        ],
        Some(&acme),
    );
    assert_eq!(a, Action::Continue);
    let s = t.host.stream(sid);
    let spoof: Vec<_> = s
        .headers
        .iter()
        .filter(|(k, _)| k.replace('_', "-") == "x-tenant-id")
        .collect();
    assert_eq!(
        spoof,
        vec![&("x-tenant-id".to_string(), "acme".to_string())]
    );
    assert_eq!(t.header(sid, "x-user-id"), vec!["alice"]);
    assert_eq!(t.host.metric("edgeward.tenant.identity_header_removed"), 4);
    // Also removed when the request is denied.
    let (_, sid) = t.get("/nothing", &[("x_tenant_id", "globex")], Some(&acme));
    assert_eq!(t.status(sid), Some(403));
    assert!(t
        .host
        .stream(sid)
        .headers
        .iter()
        .all(|(k, _)| k != "x_tenant_id"));
}

#[test]
fn missing_scope_is_403_with_the_rfc6750_challenge() {
    let mut t = T::new(&policy());
    let mut id = identity("acme");
    id["scopes"] = json!(["orders:read"]);
    let (_, sid) = t.get("/v1/tenants/acme/invoices/7", &[], Some(&id));
    let r = t.host.stream(sid).reply.unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(t.reason(sid), "missing_scope");
    let www = r
        .headers
        .iter()
        .find(|(k, _)| k == "www-authenticate")
        .unwrap();
    assert_eq!(
        www.1,
        r#"Bearer realm="edgeward", error="insufficient_scope", scope="invoices:read""#
    );
}

#[test]
fn no_identity_is_401_but_public_rules_need_none() {
    let mut t = T::new(&policy());
    let (_, sid) = t.get("/v1/tenants/acme/invoices/7", &[], None);
    assert_eq!(t.status(sid), Some(401));
    assert_eq!(t.reason(sid), "no_identity");
    let (a, _) = t.get("/public/x", &[], None);
    assert_eq!(a, Action::Continue);
}

#[test]
fn roles_and_per_rule_deny_responses() {
    let mut t = T::new(&policy());
    let user = identity("acme");
    let (_, sid) = t.send("DELETE", "/v1/tenants/acme/invoices/7", &[], Some(&user));
    let r = t.host.stream(sid).reply.unwrap();
    assert_eq!(r.status, 404);
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["type"], "https://errors.example/not-found");
    assert_eq!(body["title"], "Not Found");
    assert_eq!(body["reason"], "role_denied");
    assert!(r.headers.contains(&("x-why".into(), "policy".into())));
    let mut admin = identity("acme");
    admin["claims"]["realm"]["roles"] = json!(["user", "admin"]);
    let (a, _) = t.send("DELETE", "/v1/tenants/acme/invoices/7", &[], Some(&admin));
    assert_eq!(a, Action::Continue);
    // A role claim that is one string counts too.
    admin["claims"]["realm"]["roles"] = json!("admin");
    let (a, _) = t.send("DELETE", "/v1/tenants/acme/invoices/7", &[], Some(&admin));
    assert_eq!(a, Action::Continue);
    // An admin of another tenant gets the same 404.
    let (_, sid) = t.send("DELETE", "/v1/tenants/globex/invoices/7", &[], Some(&admin));
    assert_eq!(t.status(sid), Some(404));
}

#[test]
fn deny_overrides_allow_and_numeric_conditions() {
    let mut t = T::new(&policy());
    let mut risky = identity("acme");
    risky["claims"]["risk"]["score"] = json!(71);
    let (_, sid) = t.get("/v1/tenants/acme/invoices/7", &[], Some(&risky));
    assert_eq!(t.status(sid), Some(403));
    assert_eq!(t.reason(sid), "denied_by_rule");
    assert_eq!(t.record(sid)["rule"], "risky");
    risky["claims"]["risk"]["score"] = json!(70);
    let (a, _) = t.get("/v1/tenants/acme/invoices/7", &[], Some(&risky));
    assert_eq!(a, Action::Continue, "70 is not > 70");
    // A mistyped claim in a deny rule fails closed.
    risky["claims"]["risk"]["score"] = json!("10");
    let (_, sid) = t.get("/v1/tenants/acme/invoices/7", &[], Some(&risky));
    assert_eq!(t.reason(sid), "denied_by_rule");
    // A missing claim satisfies no condition.
    risky["claims"]["risk"] = json!({});
    let (a, _) = t.get("/v1/tenants/acme/invoices/7", &[], Some(&risky));
    assert_eq!(a, Action::Continue);
}

#[test]
fn claim_conditions() {
    let mut t = T::new(&policy());
    let ok = identity("acme");
    assert_eq!(t.get("/premium/a", &[], Some(&ok)).0, Action::Continue);
    for (path, v) in [
        ("plan", json!("silver")),
        ("email", json!("dev@acme.test")),
        ("verified", json!(false)),
        ("beta", json!(true)),
        ("plan", json!(["gold"])),
    ] {
        let mut id = identity("acme");
        id["claims"][path] = v.clone();
        let (_, sid) = t.get("/premium/a", &[], Some(&id));
        assert_eq!(t.reason(sid), "condition_failed", "{path}={v}");
    }
}

#[test]
fn time_windows_are_utc_weekday_and_hour() {
    let mut t = T::new(&policy());
    let id = identity("acme");
    assert_eq!(t.get("/reports/q1", &[], Some(&id)).0, Action::Continue);
    t.host.set_now_ms(FRIDAY_10H_MS + 7 * 3_600_000); // 17:00: past the window
    let (_, sid) = t.get("/reports/q1", &[], Some(&id));
    assert_eq!(t.reason(sid), "condition_failed");
    t.host.set_now_ms(FRIDAY_10H_MS + 86_400_000); // Saturday 10:00
    let (_, sid) = t.get("/reports/q1", &[], Some(&id));
    assert_eq!(t.reason(sid), "condition_failed");
    t.host
        .set_now_ms(FRIDAY_10H_MS + 3 * 86_400_000 - 3_600_000); // Monday 09:00
    assert_eq!(t.get("/reports/q1", &[], Some(&id)).0, Action::Continue);
}

#[test]
fn client_address_and_header_conditions() {
    let mut t = T::new(&policy());
    let id = identity("acme");
    let sid = t.start("GET", "/internal/x", &[("x-env", "prod")], Some(&id));
    t.host.set_peer_address("10.1.2.3:5555");
    assert_eq!(t.d.on_request_headers(&t.host, sid, true), Action::Continue);
    let sid = t.start("GET", "/internal/x", &[("x-env", "prod")], Some(&id));
    t.host.set_peer_address("192.168.1.1:5555");
    t.d.on_request_headers(&t.host, sid, true);
    assert_eq!(t.reason(sid), "condition_failed");
    let sid = t.start("GET", "/internal/x", &[("x-env", "dev")], Some(&id));
    t.host.set_peer_address("10.1.2.3:5555");
    t.d.on_request_headers(&t.host, sid, true);
    assert_eq!(t.reason(sid), "condition_failed");
    // The client's own x-forwarded-for is not believed with 0 trusted hops.
    let sid = t.start(
        "GET",
        "/internal/x",
        &[("x-env", "prod"), ("x-forwarded-for", "10.0.0.1")],
        Some(&id),
    );
    t.host.set_peer_address("192.168.1.1:5555");
    t.d.on_request_headers(&t.host, sid, true);
    assert_eq!(t.reason(sid), "condition_failed");
}

#[test]
fn trusted_hops_pick_the_address_the_last_proxy_saw() {
    let mut t = T::new(&json!({"trusted_hops": 1, "rules": [
        {"name": "lan", "match": {"prefix": "/"}, "requires_identity": false, "client_ips": ["10.0.0.0/8"]}]}));
    let (a, _) = t.get("/", &[("x-forwarded-for", "192.168.0.1, 10.9.9.9")], None);
    assert_eq!(a, Action::Continue);
    let (_, sid) = t.get("/", &[("x-forwarded-for", "10.9.9.9, 192.168.0.1")], None);
    assert_eq!(t.reason(sid), "condition_failed");
    let (_, sid) = t.get("/", &[], None);
    assert_eq!(
        t.reason(sid),
        "condition_failed",
        "unknown client fails closed"
    );
}

#[test]
fn spiffe_peers_exact_by_domain_and_bound_to_the_tenant() {
    let mut t = T::new(&policy());
    let cases: &[(&str, Option<&str>, bool)] = &[
        ("/svc/a", Some("spiffe://corp/ns/billing/sa/api"), true),
        ("/svc/a", Some("spiffe://corp/ns/billing"), true),
        ("/svc/a", Some("spiffe://corp/ns/billingx/sa/api"), false),
        ("/svc/a", Some("spiffe://other/ns/billing/sa/api"), false),
        ("/svc/a", Some("spiffe://corp/ns/billing/../x"), false),
        ("/svc/a", Some("https://corp/ns/billing"), false),
        ("/svc/a", None, false),
        ("/pay/x", Some("spiffe://corp/ns/pay/sa/api"), true),
        ("/pay/x", Some("spiffe://corp/ns/pay/sa/api2"), false),
    ];
    for (path, peer, ok) in cases {
        let sid = t.start("GET", path, &[], None);
        if let Some(p) = peer {
            t.host.set_peer_uri_san(p);
        }
        let a = t.d.on_request_headers(&t.host, sid, true);
        assert_eq!(a == Action::Continue, *ok, "{path} {peer:?}");
    }
    let acme = identity("acme");
    for (peer, path, reason) in [
        ("spiffe://corp/tenants/acme/sa/api", "/mesh/acme/x", None),
        (
            "spiffe://corp/tenants/globex/sa/api",
            "/mesh/acme/x",
            Some("tenant_mismatch"),
        ),
        (
            "spiffe://corp/tenants/acme/sa/api",
            "/mesh/globex/x",
            Some("tenant_mismatch"),
        ),
    ] {
        let sid = t.start("GET", path, &[], Some(&acme));
        t.host.set_peer_uri_san(peer);
        let a = t.d.on_request_headers(&t.host, sid, true);
        match reason {
            None => assert_eq!(a, Action::Continue, "{peer} {path}"),
            Some(r) => assert_eq!(t.reason(sid), r, "{peer} {path}"),
        }
    }
}

#[test]
fn method_overrides_are_refused_or_stripped() {
    let mut t = T::new(&policy());
    let acme = identity("acme");
    for extra in [
        vec![("x-http-method-override", "DELETE")],
        vec![("X-HTTP-Method", "DELETE")],
        vec![("x_method_override", "DELETE")],
    ] {
        let (_, sid) = t.get("/v1/tenants/acme/invoices/7", &extra, Some(&acme));
        assert_eq!(t.reason(sid), "method_override", "{extra:?}");
    }
    for q in [
        "?_method=DELETE",
        "?a=1&_METHOD=DELETE",
        "?%5Fmethod=DELETE",
    ] {
        let (_, sid) = t.get(&format!("/v1/tenants/acme/invoices/7{q}"), &[], Some(&acme));
        assert_eq!(t.reason(sid), "method_override", "{q}");
    }
    let mut cfg = policy();
    cfg["method_override"] = json!("strip");
    let mut t = T::new(&cfg);
    let (a, sid) = t.get(
        "/v1/tenants/acme/invoices/7",
        &[("x-http-method-override", "DELETE")],
        Some(&acme),
    );
    assert_eq!(a, Action::Continue);
    assert!(t.header(sid, "x-http-method-override").is_empty());
}

fn post_body(t: &mut T, body: &[u8], ctype: &str, id: &Value) -> (Action, u32) {
    let len = body.len().to_string();
    let sid = t.start(
        "POST",
        "/v2/orders",
        &[("content-type", ctype), ("content-length", &len)],
        Some(id),
    );
    let a = t.d.on_request_headers(&t.host, sid, false);
    if a != Action::Pause || t.host.stream(sid).reply.is_some() {
        return (a, sid);
    }
    t.host.set_request_body(body);
    (t.d.on_request_body(&t.host, sid, body.len(), true), sid)
}

#[test]
fn body_binding_reads_the_json_the_upstream_will() {
    let mut t = T::new(&policy());
    let acme = identity("acme");
    let ok = br#"{"customer": {"tenant_id": "acme"}, "amount": 3}"#;
    let (a, sid) = post_body(&mut t, ok, "application/json", &acme);
    assert_eq!(a, Action::Continue, "{:?}", t.host.stream(sid).reply);
    assert_eq!(t.header(sid, "x-tenant-id"), vec!["acme"]);
    let cases: &[(&[u8], &str, &str)] = &[
        (
            br#"{"customer": {"tenant_id": "globex"}}"#,
            "application/json",
            "tenant_mismatch",
        ),
        (
            br#"{"customer": {"tenant_id": "ACME"}}"#,
            "application/json",
            "tenant_mismatch",
        ),
        (
            br#"{"customer": {"tenant_id": 1}}"#,
            "application/json",
            "tenant_mismatch",
        ),
        (
            br#"{"customer": {}}"#,
            "application/json",
            "tenant_mismatch",
        ),
        // first-wins vs last-wins parsers
        (
            br#"{"customer": {"tenant_id": "acme", "tenant_id": "globex"}}"#,
            "application/json",
            "invalid_body",
        ),
        (
            br#"{"customer": {"tenant_id": "acme"}} {"customer": {"tenant_id": "globex"}}"#,
            "application/json",
            "invalid_body",
        ),
        (
            b"{\"customer\": {\"tenant_id\": \"acme\xff\"}}",
            "application/json",
            "invalid_body",
        ),
        (
            br#"{"customer": {"tenant_id": "acme"}}"#,
            "text/plain",
            "unsupported_media_type",
        ),
        (
            br#"{"customer": {"tenant_id": "acme"}}"#,
            "application/json; charset=utf-16",
            "unsupported_media_type",
        ),
        (
            br#"{"customer": {"tenant_id": "acme"}}"#,
            "application/json; boundary=x",
            "unsupported_media_type",
        ),
    ];
    for (body, ctype, reason) in cases {
        let (_, sid) = post_body(&mut t, body, ctype, &acme);
        assert_eq!(
            t.reason(sid),
            *reason,
            "{} {ctype}",
            String::from_utf8_lossy(body)
        );
    }
    // Compressed: refused before the body is read.
    let sid = t.start(
        "POST",
        "/v2/orders",
        &[
            ("content-type", "application/json"),
            ("content-length", "10"),
            ("content-encoding", "gzip"),
        ],
        Some(&acme),
    );
    t.d.on_request_headers(&t.host, sid, false);
    assert_eq!(t.reason(sid), "unsupported_media_type");
    // Deep nesting.
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let (_, sid) = post_body(&mut t, deep.as_bytes(), "application/json", &acme);
    assert_eq!(t.reason(sid), "invalid_body");
}

#[test]
fn body_binding_is_bounded() {
    let mut cfg = policy();
    cfg["json_body"] = json!({"max_bytes": 64});
    let mut t = T::new(&cfg);
    let acme = identity("acme");
    let sid = t.start(
        "POST",
        "/v2/orders",
        &[
            ("content-type", "application/json"),
            ("content-length", "100"),
        ],
        Some(&acme),
    );
    t.d.on_request_headers(&t.host, sid, false);
    assert_eq!(t.status(sid), Some(413));
    // Chunked (no length): refused as it crosses the limit.
    let sid = t.start(
        "POST",
        "/v2/orders",
        &[("content-type", "application/json")],
        Some(&acme),
    );
    assert_eq!(t.d.on_request_headers(&t.host, sid, false), Action::Pause);
    assert_eq!(t.d.on_request_body(&t.host, sid, 40, false), Action::Pause);
    t.d.on_request_body(&t.host, sid, 80, false);
    assert_eq!(t.status(sid), Some(413));
    assert_eq!(t.d.filter().unwrap().waiting(), 0);
    // No body at all: the tenant is not named.
    let sid = t.start(
        "POST",
        "/v2/orders",
        &[("content-type", "application/json")],
        Some(&acme),
    );
    t.d.on_request_headers(&t.host, sid, true);
    assert_eq!(t.reason(sid), "tenant_mismatch");
}

#[test]
fn shadow_rules_let_through_and_record_the_would_be_denial() {
    let mut t = T::new(&policy());
    let id = identity("acme");
    let (a, sid) = t.get("/trial/x", &[], Some(&id));
    assert_eq!(a, Action::Continue);
    let rec = t.record(sid);
    assert_eq!(rec["decision"], "shadow_deny");
    assert_eq!(rec["rule"], "trial");
    assert_eq!(rec["reason"], "missing_scope");
    assert_eq!(
        t.host
            .metric("edgeward.tenant.shadow_denied.rule.trial.reason.missing_scope"),
        1
    );
    assert_eq!(t.header(sid, "x-tenant-id"), vec!["acme"]);
}

#[test]
fn global_shadow_enforces_nothing_but_records_everything() {
    let mut cfg = policy();
    cfg["shadow"] = json!(true);
    let mut t = T::new(&cfg);
    let acme = identity("acme");
    let (a, sid) = t.get(
        "/v1/tenants/globex/invoices/7",
        &[("x-tenant-id", "globex")],
        Some(&acme),
    );
    assert_eq!(a, Action::Continue);
    assert_eq!(t.record(sid)["decision"], "shadow_deny");
    assert_eq!(t.record(sid)["reason"], "tenant_mismatch");
    assert_eq!(
        t.header(sid, "x-tenant-id"),
        vec!["acme"],
        "identity headers still replaced"
    );
    let (_, sid) = t.get("/nothing", &[], Some(&acme));
    assert_eq!(t.record(sid)["reason"], "no_matching_rule");
    // Parser-difference refusals are enforced even in shadow mode.
    let (_, sid) = t.get("/v1/tenants/acme/../globex/invoices/7", &[], Some(&acme));
    assert_eq!(t.status(sid), Some(400));
}

#[test]
fn a_shadow_deny_rule_does_not_override_and_enforced_rules_still_deny() {
    let mut t = T::new(&json!({"rules": [
        {"name": "block-new", "effect": "deny", "shadow": true, "match": {"prefix": "/"}, "claims": [{"claim": "new", "equals": true}]},
        {"name": "need-scope", "match": {"prefix": "/a"}, "scopes": {"all_of": ["a"]}},
        {"name": "open", "match": {"prefix": "/"}}
    ]}));
    let mut id = identity("acme");
    id["claims"]["new"] = json!(true);
    let (a, sid) = t.get("/b", &[], Some(&id));
    assert_eq!(a, Action::Continue);
    assert_eq!(t.record(sid)["decision"], "shadow_deny");
    assert_eq!(t.record(sid)["rule"], "block-new");
    let (_, sid) = t.get("/a", &[], Some(&id));
    assert_eq!(t.status(sid), Some(403));
    assert_eq!(t.reason(sid), "missing_scope");
}

#[test]
fn unmatched_requests_are_denied_or_allowed_as_configured() {
    let mut t = T::new(&policy());
    let acme = identity("acme");
    let (_, sid) = t.get("/elsewhere", &[], Some(&acme));
    assert_eq!(t.status(sid), Some(403));
    assert_eq!(t.reason(sid), "no_matching_rule");
    assert_eq!(
        t.host
            .metric("edgeward.tenant.denied.reason.no_matching_rule"),
        1
    );
    let mut cfg = policy();
    cfg["unmatched"] = json!("allow");
    let mut t = T::new(&cfg);
    let (a, sid) = t.get("/elsewhere", &[], Some(&acme));
    assert_eq!(a, Action::Continue);
    assert_eq!(t.record(sid)["rule"], Value::Null);
}

#[test]
fn a_tenant_claim_overrides_the_identity_tenant() {
    let mut t = T::new(
        &json!({"tenant_claim": "org.id", "identity_headers": [{"header": "x-tenant-id", "value": "tenant"}],
        "rules": [{"name": "r", "match": {"template": "/t/{tenant}"}, "tenant": {"path": "tenant"}}]}),
    );
    let mut id = identity("acme");
    id["claims"]["org"] = json!({"id": "initech"});
    let (a, sid) = t.get("/t/initech", &[], Some(&id));
    assert_eq!(a, Action::Continue);
    assert_eq!(t.header(sid, "x-tenant-id"), vec!["initech"]);
    let (_, sid) = t.get("/t/acme", &[], Some(&id));
    assert_eq!(t.reason(sid), "tenant_mismatch");
    // No tenant at all never matches.
    id["claims"]["org"] = json!({});
    let (_, sid) = t.get("/t/initech", &[], Some(&id));
    assert_eq!(t.reason(sid), "tenant_mismatch");
}

#[test]
fn an_unreadable_identity_fails_closed() {
    let mut t = T::new(&policy());
    let sid = t.start("GET", "/public/x", &[], None);
    t.host
        .set_property(&["edgeward.identity"], b"not json")
        .unwrap();
    t.d.on_request_headers(&t.host, sid, true);
    assert_eq!(t.status(sid), Some(500));
}

fn config_error(cfg: Value) -> String {
    let host = FakeHost::new(0);
    *host.plugin_config.borrow_mut() = cfg.to_string().into_bytes();
    let mut d = Driver::<TenantFilter>::new(1);
    assert!(!d.configure(&host), "{cfg}");
    let logs = host.logs.borrow();
    logs.iter()
        .find(|(l, _)| *l == LogLevel::Error)
        .map(|(_, m)| m.clone())
        .unwrap()
}

#[test]
fn config_errors_name_the_rule_and_field() {
    let rule = |extra: Value| {
        let mut r = json!({"name": "inv", "match": {"template": "/t/{tenant}/x"}});
        for (k, v) in extra.as_object().unwrap() {
            r[k] = v.clone();
        }
        json!({"rules": [{"name": "ok", "match": {"prefix": "/a"}}, r]})
    };
    for (extra, field) in [
        (
            json!({"match": {"template": "/t/{Tenant}"}}),
            "rules[1](inv).match.template",
        ),
        (
            json!({"tenant": {"path": "org"}}),
            "rules[1](inv).tenant.path",
        ),
        (
            json!({"tenant": {"body": "customer"}}),
            "rules[1](inv).tenant.body",
        ),
        (
            json!({"tenant": {"body": "/a/~2"}}),
            "rules[1](inv).tenant.body",
        ),
        (
            json!({"client_ips": ["10.0.0.1/8"]}),
            "rules[1](inv).client_ips[0]",
        ),
        (
            json!({"client_ips": ["nope"]}),
            "rules[1](inv).client_ips[0]",
        ),
        (
            json!({"claims": [{"claim": "a", "gt": 1, "lt": 2}]}),
            "rules[1](inv).claims[0]",
        ),
        (
            json!({"claims": [{"claim": "a..b", "exists": true}]}),
            "rules[1](inv).claims[0].claim",
        ),
        (
            json!({"claims": [{"claim": "a", "equals": {"x": 1}}]}),
            "rules[1](inv).claims[0].equals",
        ),
        (
            json!({"time": [{"hours": [9, 25]}]}),
            "rules[1](inv).time[0].hours[1]",
        ),
        (
            json!({"time": [{"weekdays": ["funday"]}]}),
            "rules[1](inv).time[0].weekdays[0]",
        ),
        (
            json!({"peer": {"spiffe_ids": ["spiffe://Corp/x"]}}),
            "rules[1](inv).peer.spiffe_ids[0]",
        ),
        (
            json!({"peer": {"trust_domain": "corp", "path": "/a/**/b"}}),
            "rules[1](inv).peer.path",
        ),
        (
            json!({"deny": {"status": 200}}),
            "rules[1](inv).deny.status",
        ),
        (
            json!({"deny": {"headers": {"content-type": "x"}}}),
            "rules[1](inv).deny.headers.content-type",
        ),
        (
            json!({"scopes": {"all_of": ["a b"]}}),
            "rules[1](inv).scopes.all_of[0]",
        ),
        (
            json!({"effect": "deny", "tenant": {"path": "tenant"}}),
            "rules[1](inv).tenant",
        ),
        (
            json!({"requires_identity": false, "scopes": {"all_of": ["a"]}}),
            "rules[1](inv).requires_identity",
        ),
        (json!({"bogus": 1}), "rules[1](inv)"),
        (
            json!({"claims": [{"claim": "a", "gt": "70"}]}),
            "rules[1](inv).claims[0].gt",
        ),
    ] {
        let msg = config_error(rule(extra.clone()));
        assert!(msg.contains(field), "{extra}: {msg}");
        assert!(
            msg.starts_with("edgeward-tenant: invalid configuration: "),
            "{msg}"
        );
    }
    let msg = config_error(
        json!({"identity_headers": [{"header": "x-org", "value": "tenant"}],
        "rules": [{"name": "h", "match": {"prefix": "/"}, "tenant": {"header": "X_Org"}}]}),
    );
    assert!(msg.contains("rules[0](h).tenant.header"), "{msg}");
    let msg = config_error(
        json!({"rules": [{"name": "a", "match": {"prefix": "/"}}, {"name": "a", "match": {"prefix": "/"}}]}),
    );
    assert!(msg.contains("rules[1](a).name"), "{msg}");
    let msg = config_error(json!({"rules": []}));
    assert!(msg.contains("rules"), "{msg}");
    let msg = config_error(
        json!({"identity_headers": [{"header": "Host", "value": "tenant"}], "rules": [{"name": "a", "match": {"prefix": "/"}}]}),
    );
    assert!(msg.contains("identity_headers[0].header"), "{msg}");
}

/// The tenant filter's configuration in an Envoy YAML (the block after
/// `local: {filename: dist/edgeward_tenant.wasm}`).
#[test]
fn the_shipped_envoy_config_carries_a_valid_policy() {
    let yaml = include_str!("../../envoy/examples/tenant.yaml");
    let host = FakeHost::new(0);
    *host.plugin_config.borrow_mut() =
        common::plugin_config_in(yaml, "dist/edgeward_tenant.wasm").into_bytes();
    let mut d = Driver::<TenantFilter>::new(1);
    assert!(
        d.configure(&host),
        "examples/tenant.yaml: {:?}",
        host.logs.borrow()
    );
}

#[test]
fn a_shadow_allow_rule_never_grants_what_the_enforced_rules_deny() {
    let mut t = T::new(&json!({"rules": [
        {"name": "new-open", "shadow": true, "match": {"prefix": "/x"}},
        {"name": "strict", "match": {"prefix": "/x"}, "scopes": {"all_of": ["x"]}}
    ]}));
    let id = identity("acme");
    let (_, sid) = t.get("/x", &[], Some(&id));
    assert_eq!(t.status(sid), Some(403));
    assert_eq!(t.reason(sid), "missing_scope");
    assert_eq!(t.record(sid)["rule"], "strict");
}
