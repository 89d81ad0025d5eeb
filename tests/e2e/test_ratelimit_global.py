"""The rate-limit filter in global mode: edgeward's Rate Limit Service
(services/ratelimit-service, limitador + Redis) over gRPC.

Two Envoys, two RLS instances, one Redis: the total allowed across both
gateways is the limit. Faults: the RLS down, the RLS slow (a listener that
never answers: the call times out), Redis down and back; each failure mode
(local, allow, deny) behaves as configured, local and allow never answer
5xx, and decisions come back from the service without restarting Envoy.

Needs `make rls` first.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from harness import client
from harness.envoy import cluster
from harness.ratelimit_e2e import burst, fixed, header_key, policy, ratelimit_filter

DOMAIN = "edgeward"


pytestmark = pytest.mark.usefixtures("rls_service_built")





def limits(max_hits: int, seconds: int = 60, name: str = "g") -> list[dict]:
    return [{"domain": DOMAIN, "name": name, "max": max_hits, "seconds": seconds,
             "conditions": [f"policy == '{name}'"], "variables": ["tenant"]}]


def global_policy(name="g", local_limit=(3, 60), failure_mode="local", timeout_ms=1000,
                  **extra) -> dict:
    return policy(name, fixed(*local_limit), key=[header_key() | {"descriptor_key": "tenant"}],
                  mode="global", failure_mode=failure_mode, timeout_ms=timeout_ms, **extra)


def rl_config(*policies, **extra) -> dict:
    cfg = {"domain": DOMAIN, "service": {"cluster": "rls"}, "response_headers": "all",
           "policies": list(policies)}
    cfg.update(extra)
    return cfg


def global_gateway(gateway, wasm_path, rls_port: int, cfg: dict):
    return gateway([ratelimit_filter(wasm_path, cfg)],
                   extra_clusters=[cluster("rls", rls_port, http2=True)])


def get(gw, tenant="acme"):
    return client.get(gw.port, "/", {"x-tenant": tenant})


def test_two_gateways_two_services_one_redis_admit_exactly_the_limit(
        gateway, wasm_path, rls, redis):
    limit = 25
    svc1 = rls(limits(limit), redis_url=redis.url)
    svc2 = rls(limits(limit), redis_url=redis.url)
    cfg = rl_config(global_policy(local_limit=(1000, 60)))
    gw1 = global_gateway(gateway, wasm_path, svc1.port, cfg)
    gw2 = global_gateway(gateway, wasm_path, svc2.port, cfg)
    results = {}

    def run(name, gw):
        results[name] = burst(gw.port, total=60, clients=6,
                              headers_for=lambda i: {"x-tenant": "acme"})

    threads = [threading.Thread(target=run, args=(n, g)) for n, g in (("a", gw1), ("b", gw2))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    allowed = results["a"][200] + results["b"][200]
    assert allowed == limit, results
    assert results["a"][200] > 0 and results["b"][200] > 0, results
    assert set(results["a"]) | set(results["b"]) <= {200, 429}, results
    r = get(gw1)
    assert r.status == 429 and int(r.headers["retry-after"]) >= 1
    assert r.json()["policy"] == "g"
    assert get(gw2, "another").status == 200


def _slow_listener():
    """A TCP listener that accepts and never answers: an RLS that hangs."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    conns = []
    stop = threading.Event()

    def accept():
        s.settimeout(0.2)
        while not stop.is_set():
            try:
                c, _ = s.accept()
                conns.append(c)
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()

    def close():
        stop.set()
        t.join()
        for c in conns:
            c.close()
        s.close()

    return s.getsockname()[1], close


@pytest.mark.parametrize("mode", ["local", "allow", "deny"])
def test_rls_slow_times_out_into_the_failure_mode(gateway, wasm_path, mode):
    port, close = _slow_listener()
    try:
        cfg = rl_config(global_policy(failure_mode=mode, timeout_ms=200))
        gw = global_gateway(gateway, wasm_path, port, cfg)
        t0 = time.monotonic()
        statuses = [get(gw).status for _ in range(5)]
        elapsed = time.monotonic() - t0
        assert elapsed < 5 * 1.5, elapsed
        expected = {"local": [200, 200, 200, 429, 429], "allow": [200] * 5,
                    "deny": [503] * 5}[mode]
        assert statuses == expected
        assert gw.counter("edgeward.ratelimit.service_error", policy="g") == 5
        assert gw.counter("edgeward.ratelimit.fallback", policy="g", outcome=mode) == 5
    finally:
        close()


def test_rls_down_then_back_without_restarting_envoy(gateway, wasm_path, rls, redis):
    svc = rls(limits(4), redis_url=redis.url)
    port = svc.port
    cfg = rl_config(global_policy("g", local_limit=(2, 60), failure_mode="local"),
                    global_policy("h", local_limit=(2, 60), failure_mode="allow"))
    # Two policies, one call: both descriptors in one request.
    svc.stop()
    svc2 = rls(limits(4) + limits(100, name="h"), redis_url=redis.url, port=port)
    gw = global_gateway(gateway, wasm_path, port, cfg)
    assert [get(gw, "t1").status for _ in range(5)] == [200, 200, 200, 200, 429]
    svc2.stop()
    # Down: "g" falls back to its local limit (2), "h" lets through: no 5xx.
    down = [get(gw, "t2").status for _ in range(4)]
    assert down == [200, 200, 429, 429], down
    assert gw.counter("edgeward.ratelimit.fallback", policy="g", outcome="local") >= 4
    # Back on the same port: the service decides again. A decision by the
    # service advertises its limit (q=4); the local fallback's is q=2.
    rls(limits(4) + limits(100, name="h"), redis_url=redis.url, port=port)
    deadline = time.monotonic() + 15
    n = 0
    while True:
        n += 1
        r = get(gw, f"probe-{n}")
        assert r.status == 200
        if '"g";q=4' in r.headers.get("ratelimit-policy", ""):
            break
        assert time.monotonic() < deadline, r.headers
        time.sleep(0.2)
    r = get(gw, "t1")
    assert r.status == 429 and r.json()["policy"] == "g"


def test_redis_down_and_back(gateway, wasm_path, rls, redis):
    svc = rls(limits(3), redis_url=redis.url)
    cfg = rl_config(global_policy(failure_mode="allow"))
    gw = global_gateway(gateway, wasm_path, svc.port, cfg)
    assert [get(gw).status for _ in range(4)] == [200, 200, 200, 429]
    redis.down()
    # The service answers UNAVAILABLE: failure_mode allow, never 5xx.
    assert [get(gw).status for _ in range(3)] == [200, 200, 200]
    assert gw.counter("edgeward.ratelimit.service_error", policy="g") >= 3
    redis.up()
    # Redis came back empty: counting starts over, decided by the service.
    deadline = time.monotonic() + 15
    seen = []
    while True:
        seen.append(get(gw, "fresh").status)
        if seen[-4:] == [200, 200, 200, 429]:
            break
        assert time.monotonic() < deadline, seen
        time.sleep(0.1)


def test_local_first_leases_make_few_calls_and_never_exceed_the_limit(
        gateway, wasm_path, rls, redis):
    limit, lease = 40, 5
    svc1 = rls(limits(limit), redis_url=redis.url)
    svc2 = rls(limits(limit), redis_url=redis.url)
    cfg = rl_config(global_policy(local_limit=(1000, 60),
                                  local_first={"lease": lease, "max_lease_ms": 30_000}))
    gws = [global_gateway(gateway, wasm_path, s.port, cfg) for s in (svc1, svc2)]
    # Under the limit: everything passes, on a fraction of the calls.
    for i in range(20):
        assert get(gws[i % 2]).status == 200
    calls = sum(g.stat("cluster.rls.upstream_rq_total") for g in gws)
    assert calls <= 20 // lease + 2 * 2, calls
    # Exhaust it from both gateways at once: never more than the limit in total.
    results = {}

    def run(n, g):
        results[n] = burst(g.port, total=60, clients=4, headers_for=lambda i: {"x-tenant": "acme"})

    threads = [threading.Thread(target=run, args=(n, g)) for n, g in enumerate(gws)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    allowed = 20 + results[0][200] + results[1][200]
    print(f"\nlocal-first: {calls} calls for the first 20 requests; {allowed} of {limit} "
          f"admitted in total; {results}")
    assert set(results[0]) | set(results[1]) <= {200, 429}, results
    # Leases are counted by the service when taken: unspent units only
    # under-admit (at most lease-1 per gateway, plus a last lease refused).
    assert limit - 3 * (lease - 1) <= allowed <= limit, (allowed, results)
