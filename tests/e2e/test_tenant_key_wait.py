"""A request held by the JWT filter while keys are fetched (a rotation: the
token's kid is new) is then decided by the tenant filter, body included, in
both deployments (two filter entries, or edgeward_edge's one): a body bound
to the caller's tenant reaches the upstream whole, a cross-tenant one
never reaches it.
"""

from __future__ import annotations

import json

from harness import client, keys
from harness.envoy import cluster, wasm_filter
from harness.jwt_e2e import jwt_config, jwt_filter, remote_provider, token
from harness.tenant_e2e import assert_denied, deployment  # noqa: F401
from harness import tenant_e2e

K1 = keys.cached_keypair("RS256", "kid1")
K2 = keys.cached_keypair("RS256", "kid2")
POLICY = {"json_body": {"max_bytes": 262144}, "rules": [
    {"name": "warm", "match": {"path": "/warm"}},
    {"name": "orders-create", "match": {"path": "/v2/orders", "methods": ["POST"]},
     "tenant": {"body": "/customer/tenant_id"}},
]}


def start(gateway, wasm_path, idp):
    jwt = jwt_config({"idp": remote_provider(idp, tenant_claim="tenant_id")})
    if tenant_e2e._current["deployment"] == "edge":
        filters = [wasm_filter("edgeward_edge", wasm_path("edgeward_edge"), {"jwt": jwt, "tenant": POLICY})]
    else:
        filters = [jwt_filter(wasm_path, jwt), tenant_e2e.tenant_filter(wasm_path, POLICY)]
    return gateway(filters, extra_clusters=[cluster("idp", idp.port)])


def body(tenant: str) -> bytes:
    # Large enough to arrive in several chunks while the request is held.
    return json.dumps({"customer": {"tenant_id": tenant}, "lines": ["x" * 100] * 2000}).encode()


def test_a_request_held_for_keys_is_then_bound_to_its_tenant(gateway, upstream, idp, wasm_path):
    idp.set_jwks(keys.jwks(K1))
    gw = start(gateway, wasm_path, idp)
    assert client.get(gw.port, "/warm", client.bearer(token(K1, tenant_id="acme"))).status == 200
    idp.set_jwks(keys.jwks(K2))  # rotation: the next tokens' kid is unknown
    upstream.clear()
    headers = {**client.bearer(token(K2, tenant_id="acme")), "content-type": "application/json"}
    r = client.request(gw.port, "POST", "/v2/orders", headers, body("globex"), timeout=15)
    assert_denied(r, 403, "tenant_mismatch")
    assert upstream.requests == []
    assert gw.stat("wasmcustom.edgeward.jwt.waited_for_keys") >= 1
    r = client.request(gw.port, "POST", "/v2/orders", headers, body("acme"), timeout=15)
    assert r.status == 200, r.body[:300]
    got = upstream.last()
    assert got["path"] == "/v2/orders" and got["body"].encode() == body("acme")
