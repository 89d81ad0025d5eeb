"""A request with a body that waits for keys is held whole: nothing reaches
the upstream before the decision, the body arrives intact when the request is
allowed, and nothing arrives when it is denied.

(The filter pauses in the headers phase with allow_on_headers_stop_iteration
on, so Envoy delivers body chunks to the filter while it waits; continuing
from a body callback would release the headers unchecked.)
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from harness import client, keys
from harness.envoy import cluster
from harness.jwt_e2e import assert_problem, jwt_config, jwt_filter, remote_provider, token

K1 = keys.cached_keypair("RS256", "kid1")
K2 = keys.cached_keypair("RS256", "kid2")
BODY = b"".join(b"%06d," % i for i in range(40_000))  # 280 KB, several chunks


def start(gateway, wasm_path, idp, **remote):
    cfg = jwt_config({"idp": remote_provider(idp, remote=remote)})
    return gateway([jwt_filter(wasm_path, cfg)], extra_clusters=[cluster("idp", idp.port)])


def test_body_of_a_request_waiting_for_a_refetch_arrives_whole(gateway, upstream, idp, wasm_path):
    idp.set_jwks(keys.jwks(K1))
    gw = start(gateway, wasm_path, idp)
    assert client.get(gw.port, "/warm", client.bearer(token(K1))).status == 200
    idp.set_jwks(keys.jwks(K2))  # rotation: the next token's kid is unknown
    upstream.clear()
    r = client.request(gw.port, "POST", "/orders", client.bearer(token(K2)), BODY, timeout=15)
    assert r.status == 200, r.body[:300]
    got = upstream.last()
    assert got["method"] == "POST" and got["path"] == "/orders"
    assert got["body"].encode() == BODY
    assert gw.stat("wasmcustom.edgeward.jwt.waited_for_keys") >= 1


def test_body_of_a_request_denied_after_waiting_never_reaches_upstream(gateway, upstream, idp, wasm_path):
    idp.set_jwks(keys.jwks(K1))
    idp.set_mode("hang")
    gw = start(gateway, wasm_path, idp, timeout_ms=10_000, max_wait_ms=1500)
    assert idp.wait_for_fetches(1, timeout=5)
    tok = token(K1)
    with ThreadPoolExecutor(max_workers=4) as ex:
        futures = [ex.submit(client.request, gw.port, "POST", f"/orders/{i}", client.bearer(tok),
                             BODY, 15) for i in range(4)]
        time.sleep(0.5)
        assert upstream.requests == [], "a held request reached the upstream early"
        responses = [f.result() for f in futures]
    for r in responses:
        assert_problem(r, 401, "jwks_unavailable", token=tok)
    time.sleep(0.2)
    assert upstream.requests == []
