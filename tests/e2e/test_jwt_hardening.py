"""The JWT filter at the HTTP edge, through a real Envoy: what reaches the
upstream is exactly what the decision allowed.

- client copies of identity headers, in every spelling a CGI/WSGI/Rack
  server reads as the same name, never reach the upstream (Envoy defaults
  and the recommended settings);
- under `any`, a forged token beside a valid one is removed too;
- a claim that cannot be a header is refused, encoded or skipped, per mapping;
- a stream reset during an unknown-`kid` refetch does not cancel the fetch:
  the rotated key works at once, well within one refetch interval;
- metrics are labelled for Prometheus (`stats_tags`).
"""

from __future__ import annotations

import json
import socket
import struct
import time

import pytest

from harness import client, keys
from harness.envoy import RECOMMENDED_HCM, cluster
from harness.jwt_e2e import (
    ISS, assert_problem, inline_provider, jwt_config, jwt_filter, remote_provider, token,
    wait_until,
)

RSA = keys.cached_keypair("RS256", "hard-rs256")
DEVICE = keys.cached_keypair("ES256", "hard-device")
DEVICE_ISS = "https://device.example"

SPOOFS = [
    ("x-tenant-id", "evil-1"),
    ("X-Tenant-Id", "evil-2"),
    ("x_tenant_id", "evil-3"),
    ("X_TENANT-ID", "evil-4"),
    ("x-tenant_id", "evil-5"),
]


def tenant_provider(**extra):
    return inline_provider(RSA, claims_to_headers=[{"claim": "tenant_id", "header": "x-tenant-id"}],
                           **extra)


def same_name(a: str, b: str) -> bool:
    return a.lower().replace("_", "-") == b.lower().replace("_", "-")


@pytest.mark.parametrize("route", ["/orders", "/health"])
def test_spoofed_identity_headers_never_reach_the_upstream_envoy_defaults(
        gateway, upstream, wasm_path, route):
    rules = [{"match": {"path_prefix": "/health"}, "requires": "none"},
             {"match": {"prefix": "/"}, "requires": {"provider": "idp"}}]
    gw = gateway([jwt_filter(wasm_path, jwt_config({"idp": tenant_provider()}, rules))])
    tok = token(RSA, tenant_id="acme")
    r = client.get(gw.port, route, SPOOFS + [("authorization", f"Bearer {tok}")])
    assert r.status == 200, r.body
    seen = upstream.last()["headers"]
    spelled = {k: v for k, v in seen.items() if same_name(k, "x-tenant-id")}
    if route == "/orders":
        assert spelled == {"x-tenant-id": "acme"}, seen
    else:  # a `none` route sets nothing, and still strips every copy
        assert spelled == {}, seen
    assert not any(str(v).startswith("evil") for v in seen.values()), seen
    # Envoy lower-cases names: five copies, four distinct spellings removed
    assert gw.counter("edgeward.jwt.spoofed_header_removed") == 4


def test_spoofed_identity_headers_with_recommended_settings(gateway, upstream, wasm_path):
    gw = gateway([jwt_filter(wasm_path, jwt_config({"idp": tenant_provider()}))],
                 hcm_extra=RECOMMENDED_HCM)
    tok = token(RSA, tenant_id="acme")
    auth = ("authorization", f"Bearer {tok}")
    # underscores: Envoy itself refuses the request (headers_with_underscores_action)
    r = client.get(gw.port, "/orders", [("x_tenant_id", "evil"), auth])
    assert r.status == 400
    assert upstream.requests == []
    # case variants and repeats: replaced by the token's tenant
    r = client.get(gw.port, "/orders", [("X-Tenant-Id", "evil"), ("x-tenant-id", "evil2"), auth])
    assert r.status == 200
    seen = upstream.last()["headers"]
    assert seen["x-tenant-id"] == "acme", seen


def test_a_forged_second_token_under_any_is_removed(gateway, upstream, wasm_path):
    providers = {
        "idp": inline_provider(RSA),
        "device": inline_provider(DEVICE, issuer=DEVICE_ISS, audiences=None,
                                  **{"from": [{"header": "x-device-token"}]}),
    }
    rules = [{"match": {"prefix": "/"}, "requires": {"any": ["idp", "device"]}}]
    gw = gateway([jwt_filter(wasm_path, jwt_config(providers, rules))])
    device = token(DEVICE, iss=DEVICE_ISS)
    forged = keys.tamper_payload(token(RSA), sub="admin")
    r = client.get(gw.port, "/orders",
                   [("authorization", f"Bearer {forged}"), ("x-device-token", device)])
    assert r.status == 200, r.body
    seen = upstream.last()["headers"]
    assert "authorization" not in seen, "the forged token reached the upstream"
    assert "x-device-token" not in seen
    # and the other way round: a valid idp token beside a junk device token
    r = client.get(gw.port, "/orders",
                   [("authorization", f"Bearer {token(RSA)}"), ("x-device-token", "junk")])
    assert r.status == 200
    assert "x-device-token" not in upstream.last()["headers"]


@pytest.mark.parametrize("mode,status,header", [
    ("deny", 401, None),
    ("encode", 200, "acme%0D%0Ax-admin:%20yes"),
    ("skip", 200, None),
])
def test_claims_that_cannot_be_headers(gateway, upstream, wasm_path, mode, status, header):
    provider = inline_provider(RSA, claims_to_headers=[
        {"claim": "tenant_id", "header": "x-tenant-id", "on_invalid": mode}])
    gw = gateway([jwt_filter(wasm_path, jwt_config({"idp": provider}))])
    tok = token(RSA, tenant_id="acme\r\nx-admin: yes")
    r = client.get(gw.port, "/orders", client.bearer(tok))
    if status == 401:
        assert_problem(r, 401, "unsafe_claim_value", token=tok)
        assert upstream.requests == []
        return
    assert r.status == 200, r.body
    seen = upstream.last()["headers"]
    assert seen.get("x-tenant-id") == header, seen
    assert "x-admin" not in seen


def _reset(sock: socket.socket):
    """Close with RST (SO_LINGER 0): the stream is reset, not half-closed."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_a_stream_reset_during_the_kid_refetch_does_not_cancel_it(gateway, upstream, idp,
                                                                  wasm_path):
    old = keys.cached_keypair("RS256", "rot-old")
    new = keys.KeyPair.generate("RS256", "rot-new")
    idp.set_jwks(keys.jwks(old))
    provider = remote_provider(idp, remote={"timeout_ms": 5000, "max_wait_ms": 5000,
                                            "unknown_kid_refetch_interval_s": 60})
    gw = gateway([jwt_filter(wasm_path, jwt_config({"idp": provider}))],
                 extra_clusters=[cluster("idp", idp.port, connect_timeout="1s")])
    assert wait_until(lambda: gw.counter("edgeward.jwt.jwks.fetch_ok") >= 1, 10)
    assert client.get(gw.port, "/a", client.bearer(token(old))).status == 200

    # The IdP rotates; its answer is slow. A request with the new kid starts
    # the refetch, and its client resets the stream before the answer.
    idp.set_jwks(keys.jwks(old, new))
    idp.set_mode("held")
    fetches = idp.fetch_count
    started = time.monotonic()
    sock = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
    sock.sendall(f"GET /a HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token(new)}\r\n\r\n"
                 .encode())
    assert idp.wait_for_fetches(fetches + 1, 5), "the unknown kid did not trigger a refetch"
    _reset(sock)
    assert wait_until(lambda: gw.stat("http.edgeward.downstream_rq_rx_reset") >= 1, 5)

    # The answer arrives after the reset; the root context still takes it.
    idp.set_mode("ok")
    assert wait_until(lambda: gw.counter("edgeward.jwt.jwks.fetch_ok") >= 2, 5), \
        "the fetch died with the stream"
    r = client.get(gw.port, "/a", client.bearer(token(new)))
    assert r.status == 200, r.body
    assert idp.fetch_count == fetches + 1, "no second refetch was needed"
    assert time.monotonic() - started < 60, "within one refetch interval"


@pytest.mark.parametrize("where", ["inline", "remote"])
def test_a_kidless_jwks_key_verifies_a_token_that_names_a_kid(gateway, upstream, idp, wasm_path,
                                                              where):
    kp = keys.cached_keypair("ES512", "kidless-es512")
    jwk = {k: v for k, v in kp.public_jwk().items() if k != "kid"}
    if where == "inline":
        provider = inline_provider(kp)
        provider["jwks"] = {"inline": {"keys": [jwk]}}
        extra = []
    else:
        idp.set_jwks({"keys": [jwk]})
        provider = remote_provider(idp, algorithms=["ES512"])
        extra = [cluster("idp", idp.port)]
    gw = gateway([jwt_filter(wasm_path, jwt_config({"idp": provider}))], extra_clusters=extra)
    tok = token(kp)  # its header names kid "kidless-es512"
    assert keys.split(tok)[0]["kid"] == "kidless-es512"
    r = client.get(gw.port, "/orders", client.bearer(tok))
    assert r.status == 200, r.body
    forged = keys.tamper_payload(tok, sub="admin")
    # no key has that kid and the kid-less one refuses the signature
    assert_problem(client.get(gw.port, "/orders", client.bearer(forged)), 401, "unknown_kid",
                   token=forged)


def test_metrics_are_labelled_for_prometheus(gateway, upstream, wasm_path):
    rules = [{"name": "health", "match": {"path_prefix": "/health"}, "requires": "none"},
             {"name": "orders", "match": {"prefix": "/"}, "requires": {"provider": "idp"}}]
    gw = gateway([jwt_filter(wasm_path, jwt_config({"idp": inline_provider(RSA)}, rules))])
    client.get(gw.port, "/health")
    client.get(gw.port, "/orders")
    client.get(gw.port, "/orders", client.bearer(keys.tamper_payload(token(RSA), sub="x")))
    client.get(gw.port, "/a/../b")
    _, prom = gw.admin("/stats/prometheus")
    lines = [ln for ln in prom.splitlines() if ln.startswith("edgeward_jwt_")]
    assert 'edgeward_jwt_allowed{rule="health"} 1' in lines, lines
    assert 'edgeward_jwt_denied{rule="orders",reason="missing_token"} 1' in lines, lines
    assert 'edgeward_jwt_denied{rule="orders",reason="bad_signature"} 1' in lines, lines
    assert 'edgeward_jwt_denied{reason="non_canonical_path"} 1' in lines, lines
    assert gw.counter("edgeward.jwt.denied") == 3
