"""The gateway in containers: two gateways behind an edge, the Rate Limit Service with
Redis, the IdP stub, the echo upstream and Prometheus (deploy/compose/).

The host reaches containers only through ports published on 127.0.0.1; faults are made
with Docker: `kill`/`stop`/`start` (crash, outage, restart), `network disconnect` /
`connect` (a partition). Every wait is for a condition, with a deadline.

Limits (edgeward's rate-limit filter in global mode against the RLS, deploy/compose/limits.yaml):
5 per tenant per hour on /api/ (fail closed: RLS or Redis unreachable -> 503) and on
/catalog/ (fail open: -> allowed). Each test uses
its own tenants, so the counters of one test never reach another.
"""

from __future__ import annotations

import copy
import json
import threading
import time
import urllib.parse
import uuid

import pytest

import render
from composectl import mint, new_es256_key, request, wait_for

LIMIT = 5


def tenant(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}"


def statuses(port: int, path: str, token: str, n: int) -> list[int]:
    return [request(port, path, token).status for _ in range(n)]


def test_requests_flow_through_every_container(healthy):
    st = healthy
    p = st.ports()
    assert request(p["edge"], "/api/orders").status == 401
    t = tenant("flow")
    r = request(p["edge"], "/orders", mint(t))
    assert r.status == 200, r
    # The tenant comes from the verified token; the token itself is not forwarded.
    assert r.headers["x-echo-tenant"] == t
    assert r.headers.get("x-echo-authorization", "") == ""
    # A client-supplied tenant header is replaced, not trusted.
    r = request(p["gw1"], "/orders", mint(t), headers={"x-tenant-id": "other"})
    assert r.headers["x-echo-tenant"] == t
    # The edge spreads requests over both gateways (round robin).
    assert st.served_by_edge(20) == {"gw1", "gw2"}


def prometheus_query(port: int, expr: str) -> list:
    q = urllib.parse.urlencode({"query": expr})
    return json.loads(request(port, f"/api/v1/query?{q}").body)["data"]["result"]


def test_prometheus_scrapes_both_gateways(healthy):
    st = healthy
    p = st.ports()
    for gw in ("gw1", "gw2"):
        assert request(p[gw], "/orders", mint(tenant("prom"))).status == 200
        assert request(p[gw], "/api/x", mint(tenant("prom"))).status == 200

    def query(expr: str) -> list:
        return prometheus_query(p["prometheus"], expr)

    def scraped():
        up = {r["metric"]["instance"]: r["value"][1] for r in query('up{job="edgeward-gateways"}')}
        allowed = {r["metric"]["instance"] for r in query('edgeward_jwt_allowed{rule="api"}')}
        # The rate-limit filter's counters, labelled by policy (envoy/stats_tags.json).
        limited = {r["metric"]["instance"] for r in query('edgeward_ratelimit_allowed{policy="api"} > 0')}
        return up == {"gw1:9901": "1", "gw2:9901": "1"} and \
            allowed == limited == {"gw1:9901", "gw2:9901"}
    wait_for(scraped, 30, "Prometheus to scrape edgeward_jwt_allowed{rule=api} and "
             "edgeward_ratelimit_allowed{policy=api} from both gateways", interval=0.5)


def test_kill_one_gateway_the_other_serves_and_the_global_limit_holds(healthy):
    st = healthy
    p = st.ports()
    t = tenant("kill")
    tok = mint(t)
    assert statuses(p["gw1"], "/api/orders", tok, 3) == [200] * 3
    assert statuses(p["gw2"], "/api/orders", tok, 1) == [200]
    st.kill("gw1")
    assert not st.running("gw1")
    # The edge retries a failed connection on the other gateway: no request is lost,
    # not even the first ones after the crash.
    served = [request(p["edge"], "/health") for _ in range(10)]
    assert [r.status for r in served] == [200] * 10
    assert {r.headers["x-edgeward-gateway"] for r in served} == {"gw2"}
    # One hit left for this tenant, counted across gateways in Redis.
    r = request(p["edge"], "/api/orders", tok)
    assert (r.status, r.headers["x-edgeward-gateway"]) == (200, "gw2")
    r = request(p["edge"], "/api/orders", tok)
    assert r.status == 429, r
    # Refused by edgeward's rate-limit filter on the RLS's verdict (not a local count).
    assert json.loads(r.body)["reason"] == "quota_exceeded" and json.loads(r.body)["policy"] == "api", r
    assert int(r.headers["retry-after"]) >= 1, r
    assert request(p["gw2"], "/api/orders", tok).status == 429
    # Prometheus notices: gw1's target goes down, gw2's stays up.
    wait_for(lambda: {r["metric"]["instance"]: r["value"][1] for r in prometheus_query(
        p["prometheus"], 'up{job="edgeward-gateways"}')} == {"gw1:9901": "0", "gw2:9901": "1"},
        30, "Prometheus to see gw1 down", interval=0.5)
    # gw1 back: same verdict there (the counter is global, not per gateway).
    st.start("gw1")
    st.wait_gateway("gw1")
    assert request(st.port("gw1", 10000), "/api/orders", tok).status == 429
    assert request(st.port("gw1", 10000), "/api/orders", mint(tenant("kill-new"))).status == 200


def _rls_restarts(st) -> tuple[str, str]:
    out = st.docker("inspect", "-f", "{{.RestartCount}} {{.State.StartedAt}}", st.container("rls")).stdout
    count, started = out.split()
    return count, started


def _allowed_after(port: int, tok: str, n: int = LIMIT + 1) -> int:
    return statuses(port, "/api/x", tok, n).count(200)


def _partition_redis(st, during) -> None:
    st.disconnect("redis")
    try:
        during()
    finally:
        st.connect("redis")
    # Recovery without restarting anything: the RLS reconnects on a later request.
    # Each probe is a new tenant, so probing charges no one that is checked later.
    wait_for(lambda: request(st.port("gw2", 10000), "/api/x", mint(tenant("probe"))).status == 200, 30,
             "the fail-closed route to allow again after Redis is back", interval=0.25)


def test_redis_partition_each_failure_mode_as_configured_and_recovery(healthy):
    st = healthy
    p = st.ports()
    spent, fresh, untouched = mint(tenant("spent")), mint(tenant("fresh")), mint(tenant("untouched"))
    for path in ("/api/x", "/catalog/x"):
        assert statuses(p["gw1"], path, spent, LIMIT + 1) == [200] * LIMIT + [429]
    rls_before = _rls_restarts(st)

    def during():
        for gw in ("gw1", "gw2"):
            # Fail closed: nothing allowed while counters cannot be read, not even a
            # tenant that has hits left.
            for tok in (fresh, spent):
                r = request(p[gw], "/api/x", tok)
                assert r.status == 503, (gw, r)
                assert json.loads(r.body)["reason"] == "rate_limit_unavailable", (gw, r)
            # Fail open, as configured there: allowed, even the spent tenant.
            assert request(p[gw], "/catalog/x", spent).status == 200
            assert request(p[gw], "/catalog/x", fresh).status == 200
    _partition_redis(st, during)
    assert _rls_restarts(st) == rls_before
    # The counters survived the partition (Redis kept running): still spent.
    assert request(p["gw1"], "/api/x", spent).status == 429
    assert request(p["gw2"], "/catalog/x", spent).status == 429
    # Nothing wrongly allowed afterwards either: never more than the limit.
    assert _allowed_after(p["gw1"], untouched) == LIMIT
    assert _allowed_after(p["gw2"], fresh) <= LIMIT


# A Lua call that timed out during the partition is still in the TCP send queue and
# reaches Redis when the partition heals: the RLS's script carries a deadline and
# refuses to count a call that arrives after it (services/ratelimit-service/src/store.rs).
def test_requests_refused_during_a_redis_partition_are_not_charged(healthy):
    st = healthy
    p = st.ports()
    tok = mint(tenant("charged"))

    def during():
        assert statuses(p["gw1"], "/api/x", tok, 4) == [503] * 4
    _partition_redis(st, during)
    assert _allowed_after(p["gw2"], tok) == LIMIT


def test_rls_restart(healthy):
    st = healthy
    p = st.ports()
    tok = mint(tenant("rls"))
    assert statuses(p["edge"], "/api/x", tok, 3) == [200] * 3
    st.stop("rls")
    try:
        r = request(p["gw1"], "/api/x", tok)                         # fail closed
        assert r.status == 503 and json.loads(r.body)["reason"] == "rate_limit_unavailable", r
        assert request(p["gw2"], "/api/x", mint(tenant("rls-new"))).status == 503
        assert request(p["gw1"], "/catalog/x", tok).status == 200   # fail open
    finally:
        st.start("rls")
    wait_for(lambda: request(p["gw1"], "/api/x", mint(tenant("rls-probe"))).status == 200, 30,
             "the gateways to reach the restarted RLS", interval=0.25)
    # The count went on where it was: Redis holds it, not the RLS.
    assert statuses(p["gw2"], "/api/x", tok, 3) == [200, 200, 429]


def test_idp_down_and_back_with_a_rotated_key(healthy):
    st = healthy
    p = st.ports()
    new_pem, new_jwk = new_es256_key()
    old_tok = mint(tenant("idp"))
    new_tok = mint(tenant("idp-rotated"), private_pem=new_pem, kid=new_jwk["kid"])
    assert request(p["gw1"], "/orders", old_tok).status == 200
    st.stop("idp")
    try:
        for gw in ("gw1", "gw2"):
            # Keys already fetched keep working (a token never seen before: no token cache).
            assert request(p[gw], "/orders", mint(tenant("idp-down"))).status == 200
            # A key the gateways never saw cannot be fetched: refused, never allowed.
            r = request(p[gw], "/orders", new_tok)
            assert r.status == 401, r
            assert json.loads(r.body)["reason"] in ("unknown_kid", "jwks_unavailable"), r
        jwks = json.loads((render.GENERATED / "jwks.json").read_text())
        jwks["keys"].append(new_jwk)
        st.set_jwks(jwks)
    finally:
        st.start("idp")
    for gw in ("gw1", "gw2"):
        wait_for(lambda: request(p[gw], "/orders", new_tok).status == 200, 60,
                 f"{gw} to fetch the rotated key once the IdP is back", interval=0.25)
    # The file as rendered again (read at the IdP's next start; the extra key served
    # until then is harmless).
    st.set_jwks(json.loads((render.GENERATED / "jwks.json").read_text()))


class Load:
    """Requests through the edge from a few threads until stopped; records statuses."""

    def __init__(self, port: int, plan: list[tuple[str, str | None]], threads: int = 4):
        self.port, self.plan, self.threads = port, plan, threads
        self.results: list[tuple[float, str, int | str]] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._workers = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def _run(self, i: int) -> None:
        n = i
        while not self._stop.is_set():
            path, tok = self.plan[n % len(self.plan)]
            n += 1
            try:
                status = request(self.port, path, tok, timeout=10).status
            except OSError as e:
                status = f"error: {e!r}"
            with self._lock:
                self.results.append((time.monotonic(), path, status))

    def __enter__(self):
        for w in self._workers:
            w.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for w in self._workers:
            w.join(15)

    def count(self) -> int:
        with self._lock:
            return len(self.results)


def _policy_v2() -> list[dict]:
    """v2: /public needs a token too."""
    filters = copy.deepcopy(render.load_filters())
    jwt = next(f for f in filters if f["name"] == "jwt")
    for rule in jwt["config"]["rules"]:
        if rule["name"] == "public":
            rule["requires"] = {"provider": "idp"}
    return filters


def test_rolling_config_update_under_load(healthy):
    st = healthy
    p = st.ports()
    tok = mint(tenant("rolling"))
    assert request(p["gw1"], "/public/x").status == 200
    plan = [("/public/x", tok), ("/orders", tok), ("/public/x", None), ("/health", None)]
    try:
        with Load(p["edge"], plan) as load:
            wait_for(lambda: load.count() > 50, 30, "load to run")
            for gw in ("gw1", "gw2"):              # one gateway at a time
                st.update_gateway(gw, _policy_v2())
                wait_for(lambda: request(p[gw], "/public/x").status == 401, 30,
                         f"{gw} to apply the new policy")
                mark = load.count()
                wait_for(lambda: load.count() > mark + 50, 30, "load to go on after the update")
        bad = [r for r in load.results if not isinstance(r[2], int) or r[2] >= 500]
        assert not bad, bad[:10]
        by_path = {}
        for _, path, status in load.results:
            by_path.setdefault(path, set()).add(status)
        assert by_path["/orders"] == {200}
        assert by_path["/health"] == {200}
        assert by_path[("/public/x")] >= {200}
        # Anonymous /public: allowed before, refused once both gateways run v2 -- on
        # every connection, once the old listeners have drained (--drain-time-s 2:
        # a connection opened before the update is served by the old chain until then).
        wait_for(lambda: [request(p["edge"], "/public/x").status for _ in range(10)] == [401] * 10,
                 20, "every request through the edge to see the new policy", interval=0.5)
        assert request(p["edge"], "/public/x", tok).status == 200
        # Neither gateway restarted: the listener was replaced in place.
        for gw in ("gw1", "gw2"):
            assert "add/update listener 'gateway'" in st.logs(gw)
            assert st.docker("inspect", "-f", "{{.RestartCount}}", st.container(gw)).stdout.strip() == "0"
    finally:
        for gw in ("gw1", "gw2"):
            st.update_gateway(gw, render.load_filters())
        for gw in ("gw1", "gw2"):
            wait_for(lambda: request(p[gw], "/public/x").status == 200, 30, f"{gw} back on policy v1")


@pytest.mark.parametrize("gw", ["gw1", "gw2"])
def test_no_wasm_crash_in_gateway_logs(stack, gw):
    from harness.envoy import CRASH_MARKERS
    log = stack.logs(gw)
    assert "wasm log jwt" in log
    for marker in CRASH_MARKERS:
        assert marker not in log, marker
