"""Self-tests of the e2e harness: Envoy without edgeward filters, the stubs, keys.

If these fail, JWT e2e failures mean nothing, so they run first (file order).
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time

import jwt
import pytest

from harness import client, keys
from harness.envoy import (
    EnvoyProcess, EnvoyStartError, cluster, gateway_config, wasm_filter,
)
from harness.idp_stub import HUGE_SIZE, IdpStub
from harness.ports import free_port


# ---------------------------------------------------------------- Envoy proxying

def test_envoy_proxies_path_headers_and_body(gateway, upstream):
    gw = gateway([])
    r = client.request(gw.port, "POST", "/orders/42?x=1&y=%20z",
                       headers=[("X-Custom", "abc"), ("content-type", "text/plain")],
                       body="hello body")
    assert r.status == 200, r.body
    echoed = r.json()
    assert echoed["method"] == "POST"
    assert echoed["path"] == "/orders/42?x=1&y=%20z"
    assert echoed["headers"]["x-custom"] == "abc"
    assert echoed["body"] == "hello body"
    seen = upstream.last()
    assert seen["path"] == "/orders/42?x=1&y=%20z"
    assert "x-request-id" in seen["headers"]  # added by Envoy: it really went through
    assert len(upstream.requests) == 1


def test_repeated_headers_reach_upstream(gateway, upstream):
    gw = gateway([])
    r = client.get(gw.port, "/", headers=[("x-multi", "one"), ("x-multi", "two")])
    assert r.status == 200
    value = upstream.last()["headers"]["x-multi"]
    # Envoy may forward repeats as separate lines or fold them; both keep both values
    values = value if isinstance(value, list) else [v.strip() for v in value.split(",")]
    assert values == ["one", "two"]


def test_binary_body_is_base64(gateway, upstream):
    gw = gateway([])
    r = client.request(gw.port, "PUT", "/bin", body=b"\xff\x00\xfe")
    assert r.status == 200
    assert r.json()["body_encoding"] == "base64"
    assert base64.b64decode(upstream.last()["body"]) == b"\xff\x00\xfe"


def test_keep_alive_connection_serves_several_requests(gateway, upstream):
    gw = gateway([])
    with client.Client(gw.port) as c:
        statuses = [c.get(f"/k{i}").status for i in range(5)]
    assert statuses == [200] * 5
    assert [q["path"] for q in upstream.requests] == [f"/k{i}" for i in range(5)]


def test_huge_request_headers_are_refused_by_envoy(gateway, upstream):
    gw = gateway([])
    r = client.get(gw.port, "/", headers={"x-big": "a" * 100_000})
    assert r.status == 431  # Envoy's default max_request_headers_kb is 60
    assert upstream.requests == []


def test_raw_request(gateway, upstream):
    gw = gateway([])
    r = client.raw_request(gw.port, b"GET /raw?q=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert r is not None and r.status == 200
    assert upstream.last()["path"] == "/raw?q=1"


def test_access_log_stats_and_admin(gateway, upstream):
    gw = gateway([])
    assert client.get(gw.port, "/logged").status == 200
    lines = gw.wait_for_access_log(1)
    assert len(lines) == 1
    assert '"GET /logged" 200 via_upstream -' in lines[0]  # "-": no identity filter state
    assert gw.stat("http.edgeward.downstream_rq_2xx") == 1
    assert gw.stat("cluster.upstream.upstream_rq_total") == 1
    status, body = gw.admin("/ready")
    assert (status, body.strip()) == (200, "LIVE")


def test_route_to_extra_cluster_and_two_envoys_at_once(gateway, idp):
    idp.set_jwks({"keys": [{"kid": "k"}]})
    routes = [
        {"match": {"prefix": "/.well-known/"}, "route": {"cluster": "idp"}},
        {"match": {"prefix": "/"}, "route": {"cluster": "upstream"}},
    ]
    a = gateway([], extra_clusters=[cluster("idp", idp.port)], routes=routes)
    b = gateway([])
    assert a.port != b.port and a.is_running() and b.is_running()
    r = client.get(a.port, "/.well-known/jwks.json")
    assert r.status == 200 and r.json() == {"keys": [{"kid": "k"}]}
    assert idp.fetch_count == 1
    assert client.get(b.port, "/.well-known/jwks.json").json()["path"] == "/.well-known/jwks.json"


def test_envoy_start_failure_reports_log_tail():
    cfg = gateway_config(free_port(), free_port(), free_port(),
                         [wasm_filter("missing", "/nonexistent/x.wasm", {})])
    proc = EnvoyProcess(cfg)
    with pytest.raises(EnvoyStartError) as err:
        proc.start(timeout=10)
    assert err.value.returncode not in (None, 0)
    assert "/nonexistent/x.wasm" in err.value.log_tail
    assert not proc.is_running()


def test_envoy_stop_is_prompt_and_clean(gateway):
    gw = gateway([])
    t0 = time.monotonic()
    assert gw.stop() == 0
    assert time.monotonic() - t0 < 5


# ------------------------------------------------------------ trivial wasm filter

def test_trivial_wasm_filter_loads_and_runs(gateway, upstream, trivial_wasm):
    gw = gateway([wasm_filter("trivial", trivial_wasm, {"hello": "world"})])
    assert client.get(gw.port, "/").status == 200
    assert upstream.last()["headers"]["x-trivial"] == "seen"
    assert gw.wait_for_log('trivial filter configured with {"hello": "world"}')


def test_wasm_panic_is_detected(gateway, upstream, trivial_wasm):
    gw = gateway([wasm_filter("trivial", trivial_wasm, {})], concurrency=1, allow_crash=True)
    r = client.get(gw.port, "/", headers={"x-panic": "1"})
    assert r.status == 503  # default failure policy: fail closed
    assert upstream.requests == []
    gw.stop()
    crash = "\n".join(gw.crash_lines())
    assert "panicked at" in crash
    assert "Uncaught RuntimeError" in crash


def test_wasm_failure_policy_field_is_accepted(gateway, upstream, trivial_wasm):
    gw = gateway([wasm_filter("trivial", trivial_wasm, {}, failure_policy="FAIL_RELOAD",
                              vm_id="trivial-vm", root_id="")], wasm_debug=True)
    assert client.get(gw.port, "/").status == 200


def test_rejected_plugin_configuration_stops_envoy(trivial_wasm):
    cfg = gateway_config(free_port(), free_port(), free_port(),
                         [wasm_filter("trivial", trivial_wasm, {"reject": True})])
    with pytest.raises(EnvoyStartError) as err:
        EnvoyProcess(cfg).start(timeout=10)
    assert err.value.returncode == 1


# ------------------------------------------------------------------- IdP stub

def _get(stub: IdpStub, path=None, timeout=5.0) -> client.Response:
    return client.get(stub.port, path or stub.path, timeout=timeout)


def test_idp_ok_and_counts(idp):
    kp = keys.cached_keypair("ES256")
    idp.set_jwks(keys.jwks(kp))
    r = _get(idp)
    assert r.status == 200 and r.json() == keys.jwks(kp)
    assert _get(idp, "/other").status == 404
    assert idp.fetch_count == 1 and len(idp.fetch_times) == 1
    assert idp.wait_for_fetches(1, timeout=0.1)
    assert not idp.wait_for_fetches(2, timeout=0.1)


@pytest.mark.parametrize("mode,status", [("fail", 500), ("garbage", 200), ("empty_keys", 200)])
def test_idp_error_modes(idp, mode, status):
    idp.set_mode(mode)
    r = _get(idp)
    assert r.status == status
    if mode == "garbage":
        with pytest.raises(ValueError):
            json.loads(r.body)
    if mode == "empty_keys":
        assert r.json() == {"keys": []}
    assert idp.fetch_count == 1


def test_idp_huge(idp):
    idp.set_jwks(keys.jwks(keys.cached_keypair("RS256")))
    idp.set_mode("huge")
    r = _get(idp, timeout=20)
    assert r.status == 200
    assert len(r.body) == HUGE_SIZE
    assert r.json()["keys"][0]["kid"] == "test-rs256"  # valid JSON, just enormous


def test_idp_hang_times_out_and_is_released(idp):
    idp.set_mode("hang")
    with pytest.raises((socket.timeout, TimeoutError)):
        _get(idp, timeout=0.5)
    assert idp.wait_for_fetches(1, timeout=1)

    # A hanging request is released (closed without an answer) by a mode change.
    result = {}

    def fetch():
        try:
            result["r"] = _get(idp, timeout=5)
        except Exception as e:  # noqa: BLE001 - recorded for the assertion
            result["e"] = e

    t = threading.Thread(target=fetch)
    t.start()
    assert idp.wait_for_fetches(2, timeout=2)
    idp.set_mode("ok")
    t.join(timeout=3)
    assert not t.is_alive() and "e" in result
    assert _get(idp).status == 200


def test_idp_hang_does_not_block_stop():
    stub = IdpStub(mode="hang").start()
    t = threading.Thread(target=lambda: pytest.raises(Exception, _get, stub, None, 10))
    t.start()
    assert stub.wait_for_fetches(1, timeout=2)
    t0 = time.monotonic()
    stub.stop()
    assert time.monotonic() - t0 < 2
    t.join(timeout=3)
    assert not t.is_alive()


# ----------------------------------------------------------------------- keys

@pytest.mark.parametrize("alg", keys.ALGORITHMS)
def test_minted_tokens_verify_with_the_published_jwk(alg):
    kp = keys.cached_keypair(alg)
    claims = keys.standard_claims("https://issuer", "api", tenant_id="acme")
    token = keys.mint(kp, claims, headers={"typ": "at+jwt"})
    header, payload, _ = keys.split(token)
    assert header == {"alg": alg, "typ": "at+jwt", "kid": kp.kid}
    jwk = kp.public_jwk()
    assert jwk["kid"] == kp.kid and jwk["alg"] == alg and jwk["use"] == "sig"
    assert "d" not in jwk
    decoded = jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=[alg], audience="api")
    assert decoded["tenant_id"] == "acme"
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(keys.tamper_payload(token, sub="mallory"), jwt.PyJWK(jwk).key,
                   algorithms=[alg], audience="api")


def test_hostile_token_helpers():
    kp = keys.cached_keypair("RS256")
    lying = keys.mint(kp, {"sub": "x"}, headers={"alg": "HS256", "kid": None})
    header, _, sig = keys.split(lying)
    assert header == {"alg": "HS256", "typ": "JWT"} and len(sig) == 256  # RSA-signed anyway
    raw = keys.raw_token({"alg": "none"}, b'{"sub":"a","sub":"b"}', b"")
    assert raw.endswith(".") and raw.count(".") == 2
    assert keys.b64url(b"\xfb\xff") == "-_8"
