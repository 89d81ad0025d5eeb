"""Schema enforcement through a real Envoy: valid bodies reach the upstream
byte for byte; every failure class answers its status with a problem body
and never reaches the upstream; oversized bodies in many chunks; a
100,000-level document; parameters; OpenAPI 3.0 and 3.1; contract
selection; dry run; configs Envoy must refuse."""

from __future__ import annotations

import copy
import json
import time

import pytest

from harness import client
from harness.envoy import EnvoyStartError
from harness.schema_e2e import STARTUP_S, assert_problem, schema_filter, send_chunked

ORDER = {
    "type": "object",
    "required": ["sku", "qty"],
    "properties": {
        "sku": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{3}$"},
        "qty": {"type": "integer", "minimum": 1, "maximum": 100},
        "customer": {"$ref": "#/$defs/customer"},
    },
    "$defs": {"customer": {"type": "object", "properties": {"id": {"type": "string"}}}},
}


def config(**over) -> dict:
    cfg = {
        "routes": [
            {"name": "orders", "match": {"template": "/orders/{id}", "methods": ["PUT", "POST"]},
             "contract": {
                 "strict": True,
                 "body": {"schema": ORDER, "max_bytes": 4096},
                 "parameters": [
                     {"in": "path", "name": "id", "schema": {"type": "integer", "minimum": 1}},
                     {"in": "query", "name": "notify", "schema": {"type": "boolean"}},
                     {"in": "header", "name": "x-client-id", "schema": {"type": "string", "pattern": "^[a-f0-9]{8}$"}},
                 ]}},
            {"name": "trial", "match": {"path_prefix": "/trial"}, "dry_run": True,
             "contract": {"body": {"schema": {"type": "object", "required": ["a"]}}}},
            {"name": "widgets", "match": {"path": "/widgets"},
             "select": {"by": {"header": "api-version"}, "default": "v1", "cases": {
                 "v1": {"contract": {"body": {"schema": {"required": ["name"]}}}},
                 "v2": {"contract": {"body": {"schema": {"required": ["title"]}}}}}}},
            {"name": "free", "match": {"prefix": "/free"}, "contract": {}},
        ],
        "unmatched": "allow",
    }
    cfg.update(over)
    return cfg


JSON = {"content-type": "application/json"}


@pytest.fixture
def gw(gateway, wasm_path):
    return gateway([schema_filter(wasm_path, config())], timeout=STARTUP_S)


def test_valid_bodies_reach_the_upstream_byte_for_byte(gw, upstream):
    # Odd spacing, key order, escapes and a number spelling a re-serialiser would change.
    body = b'{ "qty" : 2,"sku":"ABC-123" ,"customer":{"id":"\\u00e9t\\u00e9"}}\n'
    r = client.request(gw.port, "PUT", "/orders/7?notify=true", {**JSON, "x-client-id": "deadbeef"}, body)
    assert r.status == 200, r.body[:300]
    got = upstream.last()
    assert got["method"] == "PUT" and got["path"] == "/orders/7?notify=true"
    assert got["body"].encode() == body
    assert gw.counter("edgeward_schema_requests", route="orders", outcome="allowed") == 1


# Every failure class, each with its status and reason (body, content type).
FAILURE_CLASSES = [
    (b'{"sku":"secret-sku","qty":0}', "application/json", 400, "schema_violation"),
    (b'{"sku":"ABC-123","qty":1,"isAdmin":true}', "application/json", 400, "schema_violation"),
    (b"not json at all", "application/json", 400, "invalid_body"),
    (b'{"sku":"ABC-123","qty":1,"qty":2}', "application/json", 400, "invalid_body"),
    (b'{"sku":"ABC-123","qty":1}{"x":1}', "application/json", 400, "invalid_body"),
    (b'{"sku":"\xff\xfe","qty":1}', "application/json", 400, "invalid_body"),
    (b"[" * 65 + b"]" * 65, "application/json", 400, "invalid_body"),
    (b'{"sku":"ABC-123","qty":1}', "text/plain", 415, "unsupported_media_type"),
    (b" " * 5000, "application/json", 413, "body_too_large"),
]


def test_each_failure_class_is_refused_and_never_forwarded(gw, upstream):
    # One gateway for all of them (an Envoy with the schema module takes ~5 s
    # to start on CI): each case is checked by its own counter delta and its
    # own path, so a case that leaked would be named.
    for n, (body, ctype, status, reason) in enumerate(FAILURE_CLASSES):
        case = f"case {n} ({reason}, {body[:30]!r})"
        before = gw.counter("edgeward_schema_requests", route="orders", outcome="denied", reason=reason)
        r = client.request(gw.port, "POST", f"/orders/{n + 1}", {"content-type": ctype}, body)
        p = assert_problem(r, status, reason, secrets=["secret-sku"] if status == 400 else ())
        if reason == "schema_violation":
            assert p["violations"], (case, p)
            for v in p["violations"]:
                assert set(v) == {"pointer", "keyword", "schema", "message"}, (case, v)
        after = gw.counter("edgeward_schema_requests", route="orders", outcome="denied", reason=reason)
        assert after == before + 1, case
    time.sleep(0.1)
    assert [x["path"] for x in upstream.requests] == []


def test_violation_list_points_at_the_instance_and_the_schema(gw, upstream):
    r = client.request(gw.port, "POST", "/orders/7", JSON, b'{"sku":"nope","qty":500}')
    p = assert_problem(r, 400, "schema_violation", secrets=["nope"])
    by_kw = {v["keyword"]: v for v in p["violations"]}
    assert by_kw["pattern"]["pointer"] == "/sku"
    assert by_kw["pattern"]["schema"] == "/properties/sku/pattern"
    assert by_kw["maximum"]["pointer"] == "/qty"


def test_a_body_over_the_limit_in_many_chunks_is_refused_early(gw, upstream):
    chunks = [b"[" + b"1," * 200 + b"1]"] * 200  # ~80 KB in 200 chunks; the limit is 4 KB
    status, body, written = send_chunked(gw.port, "/orders/7", JSON, chunks)
    assert status == 413, body
    assert json.loads(body)["reason"] == "body_too_large"
    assert written < len(chunks), "the gateway waited for the whole body"
    time.sleep(0.1)
    assert upstream.requests == []


def test_a_100k_level_document_is_refused_fast(gateway, wasm_path, upstream):
    cfg = config()
    cfg["routes"][0]["contract"]["body"]["max_bytes"] = 1_000_000
    gw = gateway([schema_filter(wasm_path, cfg)], timeout=STARTUP_S)
    deep = b"[" * 100_000 + b"]" * 100_000
    t0 = time.monotonic()
    r = client.request(gw.port, "POST", "/orders/7", JSON, deep, timeout=10)
    elapsed = time.monotonic() - t0
    assert_problem(r, 400, "invalid_body")
    assert elapsed < 2.0, f"took {elapsed:.2f}s"
    # The VM is alive: the next request is decided normally.
    ok = client.request(gw.port, "POST", "/orders/7", JSON, b'{"sku":"ABC-123","qty":1}')
    assert ok.status == 200
    assert upstream.requests and upstream.last()["path"] == "/orders/7"
    assert len(upstream.requests) == 1


def test_parameters(gw, upstream):
    good = {"sku": "ABC-123", "qty": 1}
    body = json.dumps(good).encode()
    for path, headers, pointer in [
        ("/orders/0", {}, "/path/id"),
        ("/orders/abc", {}, "/path/id"),
        ("/orders/5?notify=maybe", {}, "/query/notify"),
        ("/orders/5?notify=true&notify=false", {}, "/query/notify"),
        ("/orders/5", {"x-client-id": "secret-header-value"}, "/header/x-client-id"),
    ]:
        r = client.request(gw.port, "POST", path, {**JSON, **headers}, body)
        p = assert_problem(r, 400, "parameter_violation", secrets=["secret-header-value", "maybe"])
        assert p["violations"][0]["pointer"] == pointer, (path, p)
    assert upstream.requests == []
    r = client.request(gw.port, "POST", "/orders/5?notify=false", {**JSON, "x-client-id": "0a1b2c3d"}, body)
    assert r.status == 200


def test_contract_selection_by_header(gw, upstream):
    v2 = {**JSON, "api-version": "v2"}
    assert client.request(gw.port, "POST", "/widgets", v2, b'{"title":"t"}').status == 200
    assert_problem(client.request(gw.port, "POST", "/widgets", v2, b'{"name":"n"}'), 400, "schema_violation")
    assert client.request(gw.port, "POST", "/widgets", JSON, b'{"name":"n"}').status == 200
    r = client.request(gw.port, "POST", "/widgets", {**JSON, "api-version": "v9"}, b'{"name":"n"}')
    assert r.status == 200, "unknown version -> the default case (v1)"


def test_dry_run_route_logs_and_counts_but_never_blocks(gw, upstream):
    r = client.request(gw.port, "POST", "/trial/x", JSON, b'{"b":1}')
    assert r.status == 200
    assert upstream.last()["path"] == "/trial/x"
    assert gw.counter("edgeward_schema_requests", route="trial", outcome="dry_run",
                      reason="schema_violation") == 1
    assert gw.wait_for_log("dry run: would deny (schema_violation) on route trial")


def test_global_dry_run(gateway, wasm_path, upstream):
    gw = gateway([schema_filter(wasm_path, config(dry_run=True))], timeout=STARTUP_S)
    r = client.request(gw.port, "POST", "/orders/7", JSON, b"garbage")
    assert r.status == 200
    assert upstream.last()["body"] == "garbage"


def test_operations_without_a_body_refuse_one(gw, upstream):
    assert client.get(gw.port, "/free/x").status == 200
    r = client.request(gw.port, "POST", "/free/x", JSON, b"{}")
    assert_problem(r, 415, "unsupported_media_type")


# ---------------------------------------------------------------- OpenAPI

def petstore(version: str) -> dict:
    tag = {"type": "string", "nullable": True} if version.startswith("3.0") else {"type": ["string", "null"]}
    return {
        "openapi": version,
        "info": {"title": "pets", "version": "1"},
        "paths": {
            "/pets": {
                "post": {
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/NewPet"}}}},
                    "responses": {"201": {"description": "created"}},
                },
                "get": {"parameters": [{"$ref": "#/components/parameters/limit"}],
                        "responses": {"200": {"description": "ok"}}},
            },
            "/pets/{petId}": {
                "parameters": [{"name": "petId", "in": "path", "required": True,
                                "schema": {"type": "integer", "minimum": 1}}],
                "get": {"responses": {"200": {"description": "ok"}}},
            },
        },
        "components": {
            "parameters": {"limit": {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 50}}},
            "schemas": {"NewPet": {"type": "object", "required": ["name"], "additionalProperties": False,
                                   "properties": {"name": {"type": "string"}, "tag": tag}}},
        },
    }


@pytest.mark.parametrize("version", ["3.0.3", "3.1.0"])
def test_openapi_documents(gateway, wasm_path, upstream, version):
    cfg = {"routes": [{"name": "pets", "match": {"path_prefix": "/api"},
                       "openapi": {"document": petstore(version), "base_path": "/api"}}]}
    gw = gateway([schema_filter(wasm_path, cfg)], timeout=STARTUP_S)
    assert client.request(gw.port, "POST", "/api/pets", JSON, b'{"name":"rex","tag":null}').status == 200
    p = assert_problem(client.request(gw.port, "POST", "/api/pets", JSON, b'{"tag":"x"}'), 400, "schema_violation")
    assert p["violations"][0]["keyword"] == "required"
    assert_problem(client.request(gw.port, "POST", "/api/pets", JSON, b'{"name":"a","x":1}'), 400,
                   "schema_violation")
    assert client.get(gw.port, "/api/pets?limit=10").status == 200
    assert_problem(client.get(gw.port, "/api/pets?limit=80"), 400, "parameter_violation")
    assert client.get(gw.port, "/api/pets/3").status == 200
    assert_problem(client.get(gw.port, "/api/pets/0"), 400, "parameter_violation")
    assert_problem(client.get(gw.port, "/api/cats"), 404, "unknown_operation")
    assert_problem(client.request(gw.port, "DELETE", "/api/pets"), 405, "method_not_allowed")
    assert [r["path"] for r in upstream.requests] == ["/api/pets", "/api/pets?limit=10", "/api/pets/3"]


def test_openapi_unknown_operations_may_be_allowed(gateway, wasm_path, upstream):
    cfg = {"routes": [{"match": {"prefix": "/"},
                       "openapi": {"document": json.dumps(petstore("3.1.0")), "unknown_operation": "allow"}}]}
    gw = gateway([schema_filter(wasm_path, cfg)], timeout=STARTUP_S)
    assert client.get(gw.port, "/cats").status == 200
    assert_problem(client.request(gw.port, "POST", "/pets", JSON, b"{}"), 400, "schema_violation")


# ---------------------------------------------------------------- refused configs

PREFIX = "edgeward-schema: invalid configuration: "


@pytest.mark.parametrize("mutate,field", [
    (lambda c: c["routes"][0]["contract"]["body"].__setitem__("schema", {"type": 12}),
     "routes[0] (orders).contract.body.schema"),
    (lambda c: c["routes"][0]["contract"]["body"].__setitem__("schema", {"$ref": "#/$defs/nowhere"}),
     "routes[0] (orders).contract.body.schema"),
    (lambda c: c["routes"][0]["contract"].__setitem__("draft", "2019-09"),
     "routes[0] (orders).contract.draft"),
    (lambda c: c["routes"].insert(0, {"name": "api", "match": {"prefix": "/api"},
                                      "openapi": {"document": "{\"openapi\": \"3.1.0\", paths"}}),
     "routes[0] (api).openapi.document"),
])
def test_config_errors_refuse_envoy_start_naming_the_route(gateway, wasm_path, mutate, field):
    cfg = copy.deepcopy(config())
    mutate(cfg)
    with pytest.raises(EnvoyStartError) as err:
        gateway([schema_filter(wasm_path, cfg)], timeout=STARTUP_S)
    assert err.value.returncode not in (None, 0)
    lines = [ln for ln in err.value.log_tail.splitlines() if PREFIX in ln]
    assert lines, err.value.log_tail[-3000:]
    assert lines[0].split(PREFIX, 1)[1].startswith(field), lines[0]
