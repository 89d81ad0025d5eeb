"""Tenant binding through a real Envoy (JWT filter + tenant filter + echo
upstream): a caller of tenant `acme` never reaches `globex`'s objects,
whether the tenant is named by the path, a header or the JSON body, and
however the request is spelled to make two parsers disagree. Each case
runs in both connection-manager set-ups (Envoy's defaults, and
normalize_path / merge_slashes / path_with_escaped_slashes_action /
headers_with_underscores_action), and each asserts on the upstream's
record that the cross-tenant request never reached it.
"""

from __future__ import annotations

import json

import pytest

from harness import client
from harness.tenant_e2e import (
    HCM_SETUPS, IDENTITY_HEADERS, assert_denied, deployment, parse_line, start, user,  # noqa: F401
)

POLICY = {
    "identity_headers": IDENTITY_HEADERS,
    "json_body": {"max_bytes": 1024, "max_depth": 16},
    "rules": [
        {"name": "invoices", "match": {"template": "/v1/tenants/{tenant}/invoices/{id}", "methods": ["GET"]},
         "scopes": {"all_of": ["invoices:read"]}, "tenant": {"path": "tenant"}},
        {"name": "orders", "match": {"path_prefix": "/v1/orders", "methods": ["GET"]},
         "tenant": {"header": "x-org"}},
        {"name": "create", "match": {"path": "/v2/orders", "methods": ["POST"]},
         "tenant": {"body": "/customer/tenant_id"}},
        {"name": "docs", "match": {"template": "/docs/**"}, "requires_identity": False},
    ],
}

SETUPS = list(HCM_SETUPS)

# Each tries to reach globex's invoice with acme's token. Servlet containers
# strip `;` parameters and resolve `..;`; IIS and ASP.NET turn `\` into `/`;
# Go's and Node's routers clean `..` and `//`; some decode `%2F`; Rails and
# Express match case-sensitively but a database collation may not.
CROSS_TENANT_PATHS = [
    "/v1/tenants/globex/invoices/1",
    "/v1/tenants/acme/../globex/invoices/1",
    "/v1/tenants/acme/./../globex/invoices/1",
    "/v1/tenants/acme/%2e%2e/globex/invoices/1",
    "/v1/tenants/acme/%2E%2E/globex/invoices/1",
    "/v1/tenants/acme/invoices/1/../../../globex/invoices/1",
    "/v1/tenants/acme%2F..%2Fglobex/invoices/1",
    "/v1/tenants/acme%2f..%2fglobex/invoices/1",
    "/v1/tenants/acme/..%2Fglobex/invoices/1",
    "/v1/tenants/acme/..;/globex/invoices/1",
    "/v1/tenants/acme;/../globex/invoices/1",
    "/v1/tenants/globex;tenant=acme/invoices/1",
    "/v1/tenants/acme\\..\\globex/invoices/1",
    "/v1/tenants/acme/..%5Cglobex/invoices/1",
    "/v1/tenants/globex\\invoices/1",
    "/v1/tenants//globex/invoices/1",
    "/v1/tenants/%67lobex/invoices/1",
    "/v1/tenants/%67%6c%6f%62%65%78/invoices/1",
    "/v1/tenants/GLOBEX/invoices/1",
    "/v1/tenants/ACME/invoices/1",
    "/v1/tenants/Acme/invoices/1",
    "/v1/tenants/acme%20/invoices/1",
    "/v1/tenants/%20acme/invoices/1",
    "/v1/tenants/acme%00/invoices/1",
    "/v1/tenants/globex/invoices/1?tenant=acme",
    "/v1/tenants/globex/invoices/1#/v1/tenants/acme/invoices/1",
]


def upstream_count(upstream) -> int:
    return len(upstream.requests)


@pytest.mark.parametrize("setup", SETUPS)
def test_cross_tenant_paths_never_reach_the_upstream(gateway, upstream, wasm_path, setup):
    gw = start(gateway, wasm_path, POLICY, setup=setup)
    acme = user("acme")
    r = client.get(gw.port, "/v1/tenants/acme/invoices/1", acme)
    assert r.status == 200, r
    seen = upstream.last()
    assert seen["path"] == "/v1/tenants/acme/invoices/1"
    assert seen["headers"]["x-tenant-id"] == "acme"
    for path in CROSS_TENANT_PATHS:
        before = upstream_count(upstream)
        r = client.get(gw.port, path, acme)
        assert r.status in (400, 403, 404), f"{setup} {path}: {r.status} {r.body[:200]!r}"
        assert upstream_count(upstream) == before, f"{setup} {path}: reached the upstream"
        if r.status == 403:
            assert_denied(r, 403, "tenant_mismatch")
    # What the router would act on is what the filter decided on: the access
    # log shows no request allowed for globex.
    lines = gw.wait_for_access_log(1 + len(CROSS_TENANT_PATHS))
    for rec in map(parse_line, lines):
        if rec["status"] == 200:
            assert rec["path"] == "/v1/tenants/acme/invoices/1", rec


@pytest.mark.parametrize("setup", SETUPS)
def test_not_yours_and_not_existing_get_the_same_answer(gateway, upstream, wasm_path, setup):
    gw = start(gateway, wasm_path, POLICY, setup=setup)
    acme = user("acme")
    a = client.get(gw.port, "/v1/tenants/globex/invoices/1", acme)
    b = client.get(gw.port, "/v1/tenants/no-such-tenant/invoices/999999", acme)
    assert_denied(a, 403, "tenant_mismatch")
    assert (a.status, a.body) == (b.status, b.body)
    strip = {"date", "x-envoy-upstream-service-time", "server"}
    assert [h for h in a.headers if h[0] not in strip] == [h for h in b.headers if h[0] not in strip]
    assert gw.counter("edgeward.tenant.denied", rule="invoices", reason="tenant_mismatch") == 2


@pytest.mark.parametrize("setup", SETUPS)
def test_cross_tenant_headers_are_refused(gateway, upstream, wasm_path, setup):
    gw = start(gateway, wasm_path, POLICY, setup=setup)
    acme = user("acme")
    r = client.get(gw.port, "/v1/orders/7", dict(acme, **{"x-org": "acme"}))
    assert r.status == 200, r
    cases = [
        ([("x-org", "globex")], 403, "tenant_mismatch"),
        ([("X-Org", "GLOBEX")], 403, "tenant_mismatch"),
        ([("x-org", "Acme")], 403, "tenant_mismatch"),
        ([("x-org", "acme%20")], 403, "tenant_mismatch"),
        ([], 403, "tenant_mismatch"),
        # Two copies: Go, Rails and Node pick the first, ASP.NET and Java join them.
        ([("x-org", "acme"), ("x-org", "globex")], 400, "ambiguous_header"),
        ([("x-org", "globex"), ("x-org", "acme")], 400, "ambiguous_header"),
        ([("x-org", "acme,globex")], 400, "ambiguous_header"),
        ([("x-org", "acme, globex")], 400, "ambiguous_header"),
        # CGI, WSGI and Rack read x_org as x-org.
        ([("x-org", "acme"), ("x_org", "globex")], 400, "ambiguous_header"),
        ([("X_ORG", "globex"), ("x-org", "acme")], 400, "ambiguous_header"),
        # A method override would turn the GET decided on into something else.
        ([("x-org", "acme"), ("x-http-method-override", "DELETE")], 400, "method_override"),
        ([("x-org", "acme"), ("X-HTTP-Method", "PUT")], 400, "method_override"),
        ([("x-org", "acme"), ("x-method-override", "DELETE")], 400, "method_override"),
    ]
    for extra, status, reason in cases:
        before = upstream_count(upstream)
        r = client.get(gw.port, "/v1/orders/7", list(acme.items()) + extra)
        assert upstream_count(upstream) == before, f"{setup} {extra}: reached the upstream"
        has_underscore = any("_" in k for k, _ in extra)
        if setup == "recommended" and has_underscore:
            assert r.status == 400, f"Envoy refuses underscores itself: {r}"
        else:
            assert_denied(r, status, reason)
    before = upstream_count(upstream)
    r = client.get(gw.port, "/v1/orders/7?_method=DELETE", dict(acme, **{"x-org": "acme"}))
    assert_denied(r, 400, "method_override")
    assert upstream_count(upstream) == before


def post(port, body: bytes, headers: dict, ctype: str | None = "application/json", **extra):
    h = dict(headers)
    if ctype is not None:
        h["content-type"] = ctype
    h.update(extra)
    return client.request(port, "POST", "/v2/orders", headers=h, body=body)


@pytest.mark.parametrize("setup", SETUPS)
def test_cross_tenant_bodies_are_refused(gateway, upstream, wasm_path, setup):
    gw = start(gateway, wasm_path, POLICY, setup=setup)
    acme = user("acme")
    ok = json.dumps({"customer": {"tenant_id": "acme"}, "amount": 3}).encode()
    r = post(gw.port, ok, acme)
    assert r.status == 200, r
    assert json.loads(upstream.last()["body"]) == {"customer": {"tenant_id": "acme"}, "amount": 3}
    assert upstream.last()["headers"]["x-tenant-id"] == "acme"
    deep = b'{"customer": {"tenant_id": "acme"}, "x": ' + b"[" * 40 + b"]" * 40 + b"}"
    cases = [
        (b'{"customer": {"tenant_id": "globex"}}', "application/json", {}, 403, "tenant_mismatch"),
        (b'{"customer": {"tenant_id": "ACME"}}', "application/json", {}, 403, "tenant_mismatch"),
        (b'{"customer": {"tenant_id": ["acme"]}}', "application/json", {}, 403, "tenant_mismatch"),
        (b'{"customer": {"tenant": "acme"}}', "application/json", {}, 403, "tenant_mismatch"),
        (b'{"customer": {"tenant_id": "acme "}}', "application/json", {}, 403, "tenant_mismatch"),
        # First-wins (Go, Jackson's default is last-wins, JSON.parse last-wins...)
        (b'{"customer": {"tenant_id": "acme", "tenant_id": "globex"}}', "application/json", {}, 400, "invalid_body"),
        (b'{"customer": {"tenant_id": "globex", "tenant_id": "acme"}}', "application/json", {}, 400, "invalid_body"),
        (b'{"customer": {"tenant_id": "acme"}, "customer": {"tenant_id": "globex"}}', "application/json", {}, 400, "invalid_body"),
        # Streaming parsers read the second document.
        (b'{"customer": {"tenant_id": "acme"}}{"customer": {"tenant_id": "globex"}}', "application/json", {}, 400, "invalid_body"),
        (b'{"customer": {"tenant_id": "acme"}}\n[1]', "application/json", {}, 400, "invalid_body"),
        (b'{"customer": {"tenant_id": "acme\xff"}}', "application/json", {}, 400, "invalid_body"),
        (b'{"customer": {"tenant_id": "acme\\ud800"}}', "application/json", {}, 400, "invalid_body"),
        (deep, "application/json", {}, 400, "invalid_body"),
        # Form or multipart parsers upstream would read something else.
        (b'customer[tenant_id]=globex', "application/x-www-form-urlencoded", {}, 415, "unsupported_media_type"),
        (b'{"customer": {"tenant_id": "acme"}}', "text/plain", {}, 415, "unsupported_media_type"),
        (b'{"customer": {"tenant_id": "acme"}}', None, {}, 415, "unsupported_media_type"),
        (b'{"customer": {"tenant_id": "acme"}}', "application/json; charset=utf-16", {}, 415, "unsupported_media_type"),
        (b'{"customer": {"tenant_id": "acme"}}', "application/json; boundary=x", {}, 415, "unsupported_media_type"),
        (b'{"customer": {"tenant_id": "acme"}}', "application/json", {"content-encoding": "gzip"}, 415, "unsupported_media_type"),
        (b'{"customer": {"tenant_id": "acme", "pad": "' + b"x" * 2000 + b'"}}', "application/json", {}, 413, "body_too_large"),
    ]
    for body, ctype, extra, status, reason in cases:
        before = upstream_count(upstream)
        r = post(gw.port, body, acme, ctype, **extra)
        assert_denied(r, status, reason)
        assert upstream_count(upstream) == before, f"{setup} {body[:60]!r}: reached the upstream"
    # Two content types: which one does the upstream believe?
    before = upstream_count(upstream)
    r = client.request(gw.port, "POST", "/v2/orders", body=ok,
                       headers=list(acme.items()) + [("content-type", "application/json"),
                                                      ("content-type", "text/plain")])
    assert_denied(r, 415, "unsupported_media_type")
    assert upstream_count(upstream) == before
    # Chunked, over the limit: refused as it crosses it.
    before = upstream_count(upstream)
    big = b'{"customer": {"tenant_id": "acme", "pad": "' + b"x" * 3000 + b'"}}'
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(big[i:i + 500]), big[i:i + 500])
                       for i in range(0, len(big), 500)) + b"0\r\n\r\n"
    auth = acme["authorization"].encode()
    raw = (b"POST /v2/orders HTTP/1.1\r\nHost: x\r\nAuthorization: " + auth +
           b"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked)
    r = client.raw_request(gw.port, raw)
    assert r is not None and r.status == 413, r
    assert upstream_count(upstream) == before


@pytest.mark.parametrize("setup", SETUPS)
def test_spoofed_tenant_headers_are_replaced_by_the_tokens(gateway, upstream, wasm_path, setup):
    gw = start(gateway, wasm_path, POLICY, setup=setup)
    acme = user("acme", sub="alice")
    spoofs = [("x-tenant-id", "globex"), ("X-Tenant-Id", "initech"), ("X-TENANT-ID", "umbrella"),
              ("x-user-id", "root"), ("X-User-ID", "admin")]
    if setup == "defaults":
        spoofs += [("x_tenant_id", "globex"), ("X_Tenant-Id", "globex"), ("x-tenant_id", "globex"),
                   ("x_user_id", "root")]
    r = client.get(gw.port, "/v1/tenants/acme/invoices/1", list(acme.items()) + spoofs)
    assert r.status == 200, r
    h = upstream.last()["headers"]
    assert h["x-tenant-id"] == "acme", h
    assert h["x-user-id"] == "alice", h
    norm = [k for k in h if k.replace("_", "-") in ("x-tenant-id", "x-user-id")]
    assert sorted(norm) == ["x-tenant-id", "x-user-id"], h
    assert gw.counter("edgeward.tenant.identity_header_removed") >= 2
    # Also on a public route, with no identity: removed, never set.
    r = client.get(gw.port, "/docs/a/b", spoofs)
    assert r.status == 200, r
    h = upstream.last()["headers"]
    assert not [k for k in h if k.replace("_", "-") in ("x-tenant-id", "x-user-id")], h
    # And on a denied request.
    before = upstream_count(upstream)
    r = client.get(gw.port, "/v1/tenants/globex/invoices/1", list(acme.items()) + spoofs)
    assert_denied(r, 403, "tenant_mismatch")
    assert upstream_count(upstream) == before
