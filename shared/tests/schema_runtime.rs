//! The schema filter's whole flow on the shared driver and the fake host:
//! routes, contract selection, parameters, bodies (sizes per chunk, strict
//! JSON, schemas, strict mode), OpenAPI 3.0 / 3.1, responses (502, log
//! only, stripping), dry run, filter state and metrics, config errors.
#![cfg(feature = "schema")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use edgeward_core::filter::{Action, Driver};
use edgeward_core::host::fake::FakeHost;
use edgeward_core::host::{LogLevel, StreamHost};
use edgeward_core::schema::SchemaFilter;
use serde_json::{json, Value};

const ROOT: u32 = 1;

fn vm(host: &FakeHost, cfg: &Value) -> Driver<SchemaFilter> {
    *host.plugin_config.borrow_mut() = cfg.to_string().into_bytes();
    let mut d = Driver::<SchemaFilter>::new(ROOT);
    assert!(
        d.configure(host),
        "config refused: {:?}",
        host.logs.borrow()
    );
    d
}

fn config_error(cfg: &Value) -> String {
    let host = FakeHost::new(0);
    *host.plugin_config.borrow_mut() = cfg.to_string().into_bytes();
    let mut d = Driver::<SchemaFilter>::new(ROOT);
    assert!(!d.configure(&host), "config accepted: {cfg}");
    let logs = host.logs.borrow();
    logs.iter()
        .find(|(l, _)| *l == LogLevel::Error)
        .map(|(_, m)| m.clone())
        .unwrap()
}

fn order_schema() -> Value {
    json!({
        "type": "object",
        "required": ["sku", "qty"],
        "properties": {
            "sku": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{3}$"},
            "qty": {"type": "integer", "minimum": 1, "maximum": 100},
            "note": {"type": "string", "maxLength": 20},
            "customer": {"$ref": "#/$defs/customer"}
        },
        "$defs": {"customer": {"type": "object", "properties": {"id": {"type": "string"}}}}
    })
}

fn config() -> Value {
    json!({
        "routes": [
            {"name": "orders", "match": {"template": "/orders/{id}", "methods": ["PUT"]},
             "contract": {
                "body": {"schema": order_schema(), "max_bytes": 200},
                "parameters": [
                    {"in": "path", "name": "id", "schema": {"type": "integer", "minimum": 1}},
                    {"in": "query", "name": "dry", "schema": {"type": "boolean"}},
                    {"in": "header", "name": "x-request-id", "required": true, "schema": {"type": "string", "pattern": "^[a-f0-9]{8}$"}}
                ],
                "responses": {"200": {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}}},
                "strict": true
             }},
            {"name": "strip", "match": {"path": "/profile"},
             "contract": {"responses": {"2XX": {"properties": {"name": {"type": "string"}, "email": {}}}},
                          "response_validation": "log", "strip_undeclared": true}},
            {"name": "trial", "match": {"path_prefix": "/trial"}, "dry_run": true,
             "contract": {"body": {"schema": {"type": "object", "required": ["a"]}}}},
            {"name": "versions", "match": {"path": "/widgets"},
             "select": {"by": {"header": "api-version"}, "default": "v1", "cases": {
                "v1": {"contract": {"body": {"schema": {"required": ["name"]}}}},
                "v2": {"contract": {"body": {"schema": {"required": ["title"]}}}}}}},
            {"name": "plans", "match": {"path": "/reports"},
             "select": {"by": {"claim": "plan"}, "cases": {
                "gold": {"contract": {"body": {"schema": {"properties": {"rows": {"maximum": 1000}}}}}},
                "free": {"contract": {"body": {"schema": {"properties": {"rows": {"maximum": 10}}}}}}}}}
        ],
        "unmatched": "deny"
    })
}

const ORDER_HEADERS: [(&str, &str); 5] = [
    (":method", "PUT"),
    (":path", "/orders/7"),
    (":authority", "api"),
    ("content-type", "application/json"),
    ("x-request-id", "deadbeef"),
];

fn start(host: &FakeHost, id: u32, headers: &[(&str, &str)], body: Option<&[u8]>) {
    let mut h: Vec<(&str, &str)> = headers.to_vec();
    let len;
    if let Some(b) = body {
        len = b.len().to_string();
        h.push(("content-length", &len));
    }
    host.start_stream(id, &h);
}

/// Sends the headers then the whole body in one chunk; the last action.
fn send(
    d: &mut Driver<SchemaFilter>,
    host: &FakeHost,
    id: u32,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Action {
    start(host, id, headers, Some(body));
    let a = d.on_request_headers(host, id, body.is_empty());
    if body.is_empty() || a == Action::Pause && host.stream(id).reply.is_some() {
        return a;
    }
    host.set_request_body(body);
    d.on_request_body(host, id, body.len(), true)
}

fn reply(host: &FakeHost, id: u32) -> Option<(u16, Value)> {
    let r = host.stream(id).reply?;
    Some((r.status, serde_json::from_slice(&r.body).unwrap()))
}

fn state(host: &FakeHost, id: u32) -> Value {
    let raw = host
        .stream(id)
        .properties
        .get(&vec!["edgeward.schema".to_string()])
        .cloned()
        .unwrap();
    serde_json::from_slice(&raw).unwrap()
}

#[test]
fn a_valid_body_passes_untouched() {
    let host = FakeHost::new(0);
    let mut d = vm(&host, &config());
    let body = br#"{"sku":"ABC-123","qty":2,  "customer":{"id":"c1"}}"#;
    assert_eq!(
        send(&mut d, &host, 2, &ORDER_HEADERS, body),
        Action::Continue
    );
    assert!(host.stream(2).reply.is_none());
    assert_eq!(
        host.stream(2).request_body,
        body.to_vec(),
        "never re-serialised"
    );
    let s = state(&host, 2);
    assert_eq!(s["decision"], "allow");
    assert_eq!(s["route"], "orders");
    assert_eq!(
        host.metric("edgeward.schema.requests.route.orders.outcome.allowed"),
        1
    );
    // Written directly, the record keeps serde_json's form of a sorted map.
    let raw = host.stream(2).properties[&vec!["edgeward.schema".to_string()]].clone();
    assert_eq!(raw, serde_json::to_vec(&s).unwrap());
}

#[test]
fn schema_violations_are_listed_without_values() {
    let host = FakeHost::new(0);
    let mut d = vm(&host, &config());
    let body = br#"{"sku":"secret-sku-value","qty":0,"note":"x"}"#;
    assert_eq!(send(&mut d, &host, 2, &ORDER_HEADERS, body), Action::Pause);
    let (status, p) = reply(&host, 2).unwrap();
    assert_eq!(status, 400);
    assert_eq!(p["reason"], "schema_violation");
    let v = p["violations"].as_array().unwrap();
    let kw: Vec<&str> = v.iter().map(|x| x["keyword"].as_str().unwrap()).collect();
    assert!(kw.contains(&"pattern") && kw.contains(&"minimum"), "{p}");
    let sku = v.iter().find(|x| x["keyword"] == "pattern").unwrap();
    assert_eq!(sku["pointer"], "/sku");
    assert_eq!(sku["schema"], "/properties/sku/pattern");
    assert!(!p.to_string().contains("secret-sku-value"), "{p}");
    assert_eq!(state(&host, 2)["decision"], "deny");
    assert_eq!(
        host.metric("edgeward.schema.requests.route.orders.outcome.denied.reason.schema_violation"),
        1
    );
}

#[test]
fn strict_mode_refuses_undeclared_properties() {
    let host = FakeHost::new(0);
    let mut d = vm(&host, &config());
    let body = br#"{"sku":"ABC-123","qty":1,"isAdmin":true,"customer":{"id":"c","role":"x"}}"#;
    send(&mut d, &host, 2, &ORDER_HEADERS, body);
    let (status, p) = reply(&host, 2).unwrap();
    assert_eq!(status, 400, "{p}");
    let ptrs: Vec<&str> = p["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(ptrs, vec!["/customer/role", "/isAdmin"]);
}

#[test]
fn body_failure_classes() {
    let host = FakeHost::new(0);
    let mut d = vm(&host, &config());
    let cases: [(&[u8], u16, &str); 6] = [
        (b"not json", 400, "invalid_body"),
        (br#"{"sku":"ABC-123","qty":1,"qty":2}"#, 400, "invalid_body"),
        (br#"{"sku":"ABC-123","qty":1} {}"#, 400, "invalid_body"),
        (b"{\"sku\":\"\xff\",\"qty\":1}", 400, "invalid_body"),
        (&[b'['; 150], 400, "invalid_body"),
        (&[b' '; 201], 413, "body_too_large"),
    ];
    for (i, (body, status, reason)) in cases.iter().enumerate() {
        let id = 10 + i as u32;
        send(&mut d, &host, id, &ORDER_HEADERS, body);
        let (s, p) = reply(&host, id).unwrap_or_else(|| panic!("case {i} passed"));
        assert_eq!(
            (s, p["reason"].as_str().unwrap()),
            (*status, *reason),
            "case {i}"
        );
    }
    // Content type not allowed: 415 before any body is read.
    let mut h = ORDER_HEADERS.to_vec();
    h[3] = ("content-type", "text/plain");
    start(&host, 30, &h, Some(b"{}"));
    assert_eq!(d.on_request_headers(&host, 30, false), Action::Pause);
    assert_eq!(reply(&host, 30).unwrap().0, 415);
    // No body at all on an operation that requires one.
    start(&host, 31, &ORDER_HEADERS, None);
    d.on_request_headers(&host, 31, true);
    assert_eq!(reply(&host, 31).unwrap().1["reason"], "missing_body");
}

#[test]
fn oversized_bodies_are_refused_as_chunks_cross_the_limit() {
    let host = FakeHost::new(0);
    let mut d = vm(&host, &config());
    let mut h = ORDER_HEADERS.to_vec();
    h.push(("transfer-encoding", "chunked"));
    host.start_stream(2, &h);
    assert_eq!(d.on_request_headers(&host, 2, false), Action::Pause);
    assert_eq!(d.on_request_body(&host, 2, 100, false), Action::Pause);
    assert!(host.stream(2).reply.is_none());
    assert_eq!(d.on_request_body(&host, 2, 201, false), Action::Pause);
    assert_eq!(reply(&host, 2).unwrap().0, 413);
    // Later chunks are not even looked at.
    assert_eq!(d.on_request_body(&host, 2, 300, true), Action::Pause);
    // Declared up front: refused at the headers.
    start(&host, 3, &ORDER_HEADERS, Some(&[b' '; 500]));
    d.on_request_headers(&host, 3, false);
    assert_eq!(reply(&host, 3).unwrap().0, 413);
}

#[test]
fn deep_nesting_is_refused_without_recursion() {
    let host = FakeHost::new(0);
    let cfg = json!({"routes": [{"match": {"prefix": "/"}, "contract": {"body": {"max_bytes": 300000}}}]});
    let mut d = vm(&host, &cfg);
    let deep = "[".repeat(100_000);
    let h = [
        (":method", "POST"),
        (":path", "/x"),
        ("content-type", "application/json"),
    ];
    send(&mut d, &host, 2, &h, deep.as_bytes());
    assert_eq!(reply(&host, 2).unwrap().1["reason"], "invalid_body");
}

#[test]
fn parameters_are_coerced_and_checked() {
    let host = FakeHost::new(0);
    let mut d = vm(&host, &config());
    let body = br#"{"sku":"ABC-123","qty":1}"#;
    let mut h = ORDER_HEADERS.to_vec();
    h[1] = (":path", "/orders/0?dry=maybe");
    h[4] = ("x-request-id", "not-hex-secret");
    send(&mut d, &host, 2, &h, body);
    let (status, p) = reply(&host, 2).unwrap();
    assert_eq!(status, 400);
    assert_eq!(p["reason"], "parameter_violation");
    let ptrs: Vec<&str> = p["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(ptrs, vec!["/path/id", "/query/dry", "/header/x-request-id"]);
    assert!(!p.to_string().contains("not-hex-secret"));
    let mut ok = ORDER_HEADERS.to_vec();
    ok[1] = (":path", "/orders/12?dry=true");
    assert_eq!(send(&mut d, &host, 3, &ok, body), Action::Continue);
}

#[test]
fn contracts_are_selected_by_header_and_by_claim() {
    let host = FakeHost::new(0);
    let mut d = vm(&host, &config());
    fn w(v: Option<&'static str>) -> Vec<(&'static str, &'static str)> {
        let mut h = vec![
            (":method", "POST"),
            (":path", "/widgets"),
            ("content-type", "application/json"),
        ];
        if let Some(v) = v {
            h.push(("api-version", v));
        }
        h
    }
    assert_eq!(
        send(&mut d, &host, 2, &w(Some("v2")), br#"{"title":"t"}"#),
        Action::Continue
    );
    assert_eq!(state(&host, 2)["contract"], "v2");
    send(&mut d, &host, 3, &w(Some("v2")), br#"{"name":"n"}"#);
    assert_eq!(reply(&host, 3).unwrap().0, 400);
    assert_eq!(
        send(&mut d, &host, 4, &w(None), br#"{"name":"n"}"#),
        Action::Continue,
        "default v1"
    );
    // Reports: the plan claim of the verified identity picks the contract.
    let r = [
        (":method", "POST"),
        (":path", "/reports"),
        ("content-type", "application/json"),
    ];
    let ident = |host: &FakeHost, plan: &str| {
        let id = json!({"provider": "idp", "claims": {"plan": plan}});
        host.set_property(&["edgeward.identity"], id.to_string().as_bytes())
            .unwrap();
    };
    start(&host, 5, &r, Some(br#"{"rows":500}"#));
    ident(&host, "free");
    d.on_request_headers(&host, 5, false);
    host.set_request_body(br#"{"rows":500}"#);
    d.on_request_body(&host, 5, 12, true);
    assert_eq!(
        reply(&host, 5).unwrap().0,
        400,
        "free plan: at most 10 rows"
    );
    start(&host, 6, &r, Some(br#"{"rows":500}"#));
    ident(&host, "gold");
    d.on_request_headers(&host, 6, false);
    host.set_request_body(br#"{"rows":500}"#);
    assert_eq!(d.on_request_body(&host, 6, 12, true), Action::Continue);
    // No identity, no default: no contract.
    send(&mut d, &host, 7, &r, br#"{"rows":1}"#);
    assert_eq!(reply(&host, 7).unwrap().1["reason"], "no_contract");
}

#[test]
fn dry_run_never_blocks() {
    let host = FakeHost::new(0);
    let mut d = vm(&host, &config());
    let h = [
        (":method", "POST"),
        (":path", "/trial"),
        ("content-type", "application/json"),
    ];
    assert_eq!(send(&mut d, &host, 2, &h, br#"{"b":1}"#), Action::Continue);
    assert!(host.stream(2).reply.is_none());
    assert_eq!(state(&host, 2)["decision"], "dry_run_deny");
    assert_eq!(
        host.metric("edgeward.schema.requests.route.trial.outcome.dry_run.reason.schema_violation"),
        1
    );
    let mut global = config();
    global["dry_run"] = json!(true);
    let host2 = FakeHost::new(0);
    let mut d2 = vm(&host2, &global);
    assert_eq!(
        send(&mut d2, &host2, 2, &ORDER_HEADERS, b"nope"),
        Action::Continue
    );
    // Unmatched requests are denied (unmatched: deny)...
    let u = [(":method", "GET"), (":path", "/elsewhere")];
    start(&host, 9, &u, None);
    d.on_request_headers(&host, 9, true);
    assert_eq!(reply(&host, 9).unwrap().1["reason"], "no_rule_matched");
}

#[test]
fn responses_are_validated_replaced_logged_and_stripped() {
    let host = FakeHost::new(0);
    let mut d = vm(&host, &config());
    let body = br#"{"sku":"ABC-123","qty":1}"#;
    assert_eq!(
        send(&mut d, &host, 2, &ORDER_HEADERS, body),
        Action::Continue
    );
    host.set_response(
        &[(":status", "200"), ("content-type", "application/json")],
        br#"{"id":"x"}"#,
    );
    assert_eq!(d.on_response_headers(&host, 2, false), Action::Pause);
    assert_eq!(d.on_response_body(&host, 2, 10, true), Action::Pause);
    let (status, p) = reply(&host, 2).unwrap();
    assert_eq!(
        (status, p["reason"].as_str().unwrap()),
        (502, "response_violation")
    );
    assert_eq!(state(&host, 2)["response"]["decision"], "replaced");
    // A valid one passes untouched.
    send(&mut d, &host, 3, &ORDER_HEADERS, body);
    host.set_response(
        &[(":status", "200"), ("content-type", "application/json")],
        br#"{"id": 7}"#,
    );
    d.on_response_headers(&host, 3, false);
    assert_eq!(d.on_response_body(&host, 3, 9, true), Action::Continue);
    assert_eq!(host.stream(3).response_body, br#"{"id": 7}"#.to_vec());
    // Log mode + stripping: internal fields removed, content-length fixed.
    let g = [(":method", "GET"), (":path", "/profile")];
    start(&host, 4, &g, None);
    assert_eq!(d.on_request_headers(&host, 4, true), Action::Continue);
    let resp = br#"{"name":"a","email":"e","password_hash":"xx","internal":{"k":1}}"#;
    host.set_response(
        &[
            (":status", "200"),
            ("content-type", "application/json"),
            ("content-length", "60"),
        ],
        resp,
    );
    assert_eq!(d.on_response_headers(&host, 4, false), Action::Pause);
    assert_eq!(
        d.on_response_body(&host, 4, resp.len(), true),
        Action::Continue
    );
    let out: Value = serde_json::from_slice(&host.stream(4).response_body).unwrap();
    assert_eq!(out, json!({"name": "a", "email": "e"}));
    let cl = host
        .stream(4)
        .response_headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .cloned();
    assert_eq!(
        cl.unwrap().1,
        host.stream(4).response_body.len().to_string()
    );
    assert_eq!(
        host.metric("edgeward.schema.stripped_fields.route.strip"),
        2
    );
    // Log mode: a violating response passes, counted.
    start(&host, 5, &g, None);
    d.on_request_headers(&host, 5, true);
    host.set_response(
        &[(":status", "201"), ("content-type", "application/json")],
        br#"{"name":5}"#,
    );
    d.on_response_headers(&host, 5, false);
    assert_eq!(d.on_response_body(&host, 5, 10, true), Action::Continue);
    assert!(host.stream(5).reply.is_none());
    assert_eq!(
        host.metric("edgeward.schema.responses.route.strip.outcome.logged"),
        1
    );
}

fn petstore(version: &str) -> Value {
    let nullable_tag = if version.starts_with("3.0") {
        json!({"type": "string", "nullable": true})
    } else {
        json!({"type": ["string", "null"]})
    };
    json!({
        "openapi": version,
        "info": {"title": "pets", "version": "1"},
        "paths": {
            "/pets": {
                "post": {
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewPet"}}}},
                    "responses": {"201": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}}}}
                },
                "get": {
                    "parameters": [{"$ref": "#/components/parameters/limit"}],
                    "responses": {"200": {"description": "ok"}}
                }
            },
            "/pets/{petId}": {
                "parameters": [{"name": "petId", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 1}}],
                "get": {"responses": {"200": {"description": "ok"}}}
            },
            "/pets/mine": {"get": {"responses": {"200": {"description": "ok"}}}}
        },
        "components": {
            "parameters": {"limit": {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 50}}},
            "schemas": {
                "NewPet": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}, "tag": nullable_tag}},
                "Pet": {"allOf": [{"$ref": "#/components/schemas/NewPet"}, {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}}]}
            }
        }
    })
}

#[test]
fn openapi_30_and_31_documents() {
    for version in ["3.0.3", "3.1.0"] {
        let host = FakeHost::new(0);
        let cfg = json!({"routes": [{"name": "pets", "match": {"path_prefix": "/api"},
            "openapi": {"document": petstore(version), "base_path": "/api", "strict": true,
                        "response_validation": "enforce", "strip_undeclared": true}}]});
        let mut d = vm(&host, &cfg);
        let post = [
            (":method", "POST"),
            (":path", "/api/pets"),
            ("content-type", "application/json"),
        ];
        assert_eq!(
            send(&mut d, &host, 2, &post, br#"{"name":"rex","tag":null}"#),
            Action::Continue,
            "{version}"
        );
        assert_eq!(state(&host, 2)["operation"], "POST /pets");
        send(&mut d, &host, 3, &post, br#"{"tag":"x"}"#);
        assert_eq!(
            reply(&host, 3).unwrap().1["violations"][0]["keyword"],
            "required",
            "{version}"
        );
        send(&mut d, &host, 4, &post, br#"{"name":"rex","owner":"me"}"#);
        assert_eq!(reply(&host, 4).unwrap().0, 400, "strict: {version}");
        let get = |p: &'static str| [(":method", "GET"), (":path", p)];
        for (id, path, want) in [
            (5, "/api/pets/mine", None),
            (6, "/api/pets/0", Some(400)),
            (7, "/api/pets/9", None),
            (8, "/api/pets?limit=80", Some(400)),
            (9, "/api/cats", Some(404)),
        ] {
            start(&host, id, &get(path), None);
            d.on_request_headers(&host, id, true);
            assert_eq!(reply(&host, id).map(|r| r.0), want, "{version} {path}");
        }
        start(
            &host,
            10,
            &[(":method", "DELETE"), (":path", "/api/pets")],
            None,
        );
        d.on_request_headers(&host, 10, true);
        assert_eq!(reply(&host, 10).unwrap().0, 405);
        // Responses through allOf + $ref, stripped of what Pet does not declare.
        send(&mut d, &host, 11, &post, br#"{"name":"rex"}"#);
        host.set_response(
            &[(":status", "201"), ("content-type", "application/json")],
            br#"{"id":1,"name":"rex","secret":"s"}"#,
        );
        d.on_response_headers(&host, 11, false);
        assert_eq!(d.on_response_body(&host, 11, 34, true), Action::Continue);
        let out: Value = serde_json::from_slice(&host.stream(11).response_body).unwrap();
        assert_eq!(out, json!({"id": 1, "name": "rex"}), "{version}");
    }
}

#[test]
fn config_errors_name_the_route_and_field() {
    let cases = [
        (
            json!({"routes": [{"name": "a", "match": {"prefix": "/"}, "contract": {"body": {"schema": {"type": 5}}}}]}),
            "routes[0] (a).contract.body.schema",
        ),
        (
            json!({"routes": [{"name": "b", "match": {"prefix": "/"}, "contract": {"body": {"schema": {"$ref": "#/$defs/missing"}}}}]}),
            "routes[0] (b).contract.body.schema",
        ),
        (
            json!({"routes": [{"name": "c", "match": {"prefix": "/"}, "contract": {"draft": "4"}}]}),
            "routes[0] (c).contract.draft",
        ),
        (
            json!({"routes": [{"name": "d", "match": {"prefix": "/"}, "openapi": {"document": "{not json"}}]}),
            "routes[0] (d).openapi.document",
        ),
        (
            json!({"routes": [{"name": "e", "match": {"prefix": "/"}, "openapi": {"document": {"openapi": "2.0"}}}]}),
            "routes[0] (e).openapi.document.openapi",
        ),
        (
            json!({"routes": [{"name": "f", "match": {"template": "/x/{id}"}, "contract": {"parameters": [{"in": "path", "name": "nope"}]}}]}),
            "routes[0] (f).contract.parameters[0].name",
        ),
        (
            json!({"routes": [{"match": {"prefix": "/"}, "contract": {}, "extra": 1}]}),
            "routes[0].extra",
        ),
    ];
    for (cfg, field) in cases {
        let msg = config_error(&cfg);
        assert!(msg.contains(field), "{field} not in {msg}");
    }
}
