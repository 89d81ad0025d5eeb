"""edgeward's Rate Limit Service (services/ratelimit-service) behind a real Envoy.

Envoy's native `envoy.filters.http.ratelimit` filter asks the service; routes carry
a `rate_limits` action that turns the `x-tenant` header into the descriptor
{tenant: <value>}. Counters live in a throwaway Redis. This proves the service
before edgeward's own rate-limit filter uses it.

Needs `make rls` first (builds the binary, installs redis-server): without it
these tests fail and say so.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from harness import client
from harness.envoy import cluster
from harness.rls import RlsError, RlsProcess

DOMAIN = "edgeward"


def per_tenant(max_hits: int, seconds: int = 60) -> list[dict]:
    return [{"domain": DOMAIN, "name": "per-tenant", "max": max_hits, "seconds": seconds,
             "variables": ["tenant"]}]


def ratelimit_filter(failure_mode_deny: bool = True, cluster_name: str = "rls") -> dict:
    return {
        "name": "envoy.filters.http.ratelimit",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimit",
            "domain": DOMAIN,
            "failure_mode_deny": failure_mode_deny,
            # Envoy's default is 20 ms: too tight for a loaded 2-core CI machine.
            "timeout": "2s",
            "rate_limit_service": {
                "grpc_service": {"envoy_grpc": {"cluster_name": cluster_name}},
                "transport_api_version": "V3",
            },
        },
    }


# The ratelimit filter does nothing useful on a direct_response route: go upstream.
TENANT_ROUTES = [{
    "match": {"prefix": "/"},
    "route": {
        "cluster": "upstream",
        "rate_limits": [{"actions": [{"request_headers": {
            "header_name": "x-tenant", "descriptor_key": "tenant"}}]}],
    },
}]



pytestmark = pytest.mark.usefixtures("rls_service_built")




def rate_limited_gateway(gateway, rls_proc: RlsProcess, failure_mode_deny: bool = True):
    return gateway([ratelimit_filter(failure_mode_deny)],
                   extra_clusters=[cluster("rls", rls_proc.port, http2=True)],
                   routes=TENANT_ROUTES)


def tenant_get(port: int, tenant: str | None, path: str = "/orders"):
    headers = {"x-tenant": tenant} if tenant is not None else None
    return client.get(port, path, headers)


# ------------------------------------------------------------ the service alone

def test_service_answers_statuses_costs_and_errors_over_grpc(rls, redis):
    svc = rls(per_tenant(5) + [
        {"domain": DOMAIN, "name": "per-path", "max": 100, "seconds": 3600,
         "variables": ["path"]}], redis_url=redis.url)
    assert "2 limits" in svc.log_text() and "per-tenant=5/60s" in svc.log_text()

    r = svc.should_rate_limit(DOMAIN, [{"tenant": "a"}, {"path": "/x"}], hits_addend=2)
    assert r["overall_code"] == "OK"
    tenant, path = r["statuses"]
    assert tenant == {"code": "OK", "limit_remaining": 3, "reset_seconds": pytest.approx(60, abs=1),
                      "limit": {"requests_per_unit": 5, "unit": "MINUTE", "name": "per-tenant"}}
    assert path["limit"] == {"requests_per_unit": 100, "unit": "HOUR", "name": "per-path"}
    assert path["limit_remaining"] == 98

    # Cost 4 > 3 left: over limit, and nothing is counted on either descriptor.
    r = svc.should_rate_limit(DOMAIN, [{"tenant": "a"}, {"path": "/x"}], hits_addend=4)
    assert r["overall_code"] == "OVER_LIMIT"
    assert [s["code"] for s in r["statuses"]] == ["OVER_LIMIT", "OK"]
    assert [s["limit_remaining"] for s in r["statuses"]] == [3, 98]
    # hits_addend 0 means 1
    r = svc.should_rate_limit(DOMAIN, [{"tenant": "a"}])
    assert r["statuses"][0]["limit_remaining"] == 2

    # A descriptor no limit matches is OK, without a limit.
    r = svc.should_rate_limit(DOMAIN, [{"other": "v"}])
    assert r == {"overall_code": "OK", "statuses": [
        {"code": "OK", "limit": None, "limit_remaining": 0, "reset_seconds": None}]}

    for bad in ([{"tenant": "a"}], []):
        with pytest.raises(RlsError) as e:
            svc.should_rate_limit("" if bad else DOMAIN, bad)
        assert e.value.code == "INVALID_ARGUMENT"


def test_memory_storage_counts_in_process(rls):
    svc = rls(per_tenant(2), memory=True)
    codes = [svc.should_rate_limit(DOMAIN, [{"tenant": "m"}])["overall_code"] for _ in range(4)]
    assert codes == ["OK", "OK", "OVER_LIMIT", "OVER_LIMIT"]


def test_bad_limits_file_refuses_to_start(rls, redis):
    from harness.rls import RlsStartError
    with pytest.raises(RlsStartError) as e:
        rls([{"domain": DOMAIN, "max": 1, "seconds": 0}], redis_url=redis.url)
    assert "limits[0].seconds" in str(e.value)


# ------------------------------------------------------------ through Envoy

def test_exactly_limit_requests_pass_then_429(gateway, upstream, rls, redis):
    limit = 4
    gw = rate_limited_gateway(gateway, rls(per_tenant(limit), redis_url=redis.url))
    statuses = [tenant_get(gw.port, "acme").status for _ in range(limit + 3)]
    assert statuses == [200] * limit + [429] * 3
    assert len(upstream.requests) == limit  # the 429s never reached the upstream
    r = tenant_get(gw.port, "acme")
    assert r.status == 429 and r.headers.get("x-envoy-ratelimited") == "true"
    log = gw.wait_for_access_log(limit + 4)
    assert sum("request_rate_limited" in line for line in log) == 4
    # No x-tenant header: no descriptor, so Envoy does not ask and lets it pass.
    assert tenant_get(gw.port, None).status == 200


def test_two_gateways_two_services_one_redis_share_the_limit(gateway, upstream, rls, redis):
    limit = 10
    gw1 = rate_limited_gateway(gateway, rls(per_tenant(limit), redis_url=redis.url))
    gw2 = rate_limited_gateway(gateway, rls(per_tenant(limit), redis_url=redis.url))
    ports = [gw1.port, gw2.port] * (limit + 5)  # 30 requests, alternating gateways
    # Concurrent, so the services' check-and-count really races in Redis.
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda p: (p, tenant_get(p, "shared").status), ports))
    allowed = [p for p, s in statuses if s == 200]
    assert len(allowed) == limit, statuses
    assert sorted({s for _, s in statuses}) == [200, 429]
    assert len(upstream.requests) == limit
    # Both gateways are now over the limit for this tenant.
    assert tenant_get(gw1.port, "shared").status == 429
    assert tenant_get(gw2.port, "shared").status == 429


def test_tenants_are_independent(gateway, rls, redis):
    gw = rate_limited_gateway(gateway, rls(per_tenant(2), redis_url=redis.url))
    assert [tenant_get(gw.port, "a").status for _ in range(3)] == [200, 200, 429]
    assert [tenant_get(gw.port, "b").status for _ in range(3)] == [200, 200, 429]
    assert tenant_get(gw.port, "a").status == 429


def _wait_until(predicate, timeout: float = 10.0, what: str = "condition"):
    import time
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        ok, last = predicate()
        if ok:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def test_redis_outage_unavailable_failure_modes_and_recovery(gateway, upstream, rls, redis):
    svc = rls(per_tenant(3), redis_url=redis.url)
    deny = rate_limited_gateway(gateway, svc, failure_mode_deny=True)
    allow = rate_limited_gateway(gateway, svc, failure_mode_deny=False)
    assert [tenant_get(deny.port, "t").status for _ in range(4)] == [200, 200, 200, 429]

    redis.down()
    with pytest.raises(RlsError) as e:
        svc.should_rate_limit(DOMAIN, [{"tenant": "t"}])
    assert e.value.code == "UNAVAILABLE"
    assert "counters unavailable" in e.value.details

    # failure_mode_deny: true -> Envoy answers 500 itself (its default status_on_error).
    upstream.clear()
    r = tenant_get(deny.port, "fresh")
    assert r.status == 500, r.body
    assert upstream.requests == []
    assert any(" 500 rate_limiter_error" in line for line in deny.wait_for_access_log(5))
    # failure_mode_deny: false -> the request goes through, even for an exhausted tenant.
    assert tenant_get(allow.port, "t").status == 200
    assert len(upstream.requests) == 1
    assert svc.is_running()

    # Redis back (empty, same port): limits apply again, nothing restarted.
    redis.up()

    def rls_answers():
        try:
            return True, svc.should_rate_limit(DOMAIN, [{"tenant": "probe"}])
        except RlsError as err:
            return False, err

    _wait_until(rls_answers, what="the RLS to answer again after Redis came back")
    assert [tenant_get(deny.port, "t").status for _ in range(4)] == [200, 200, 200, 429]
    assert tenant_get(allow.port, "t").status == 429
    assert svc.is_running() and deny.is_running() and allow.is_running()
