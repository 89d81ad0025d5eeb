"""The rate-limit filter in local mode, in a real Envoy with two workers.

Exactness (many concurrent keep-alive clients, both workers serving: exactly
L allowed, then a refill), isolation between tenants (identity from the JWT
filter), costs, the most restrictive policy deciding, shadow mode, headers
parsed as RFC 8941 structured fields, and a flood of 100k distinct keys
that must not grow Envoy's memory past the key cap.
"""

from __future__ import annotations

import time

import pytest

from harness import client, keys
from harness.jwt_e2e import inline_provider, jwt_config, jwt_filter, token
from harness.ratelimit_e2e import (bucket, burst, fixed, header_key, parse_sf_list, policy,
                                   ratelimit_filter, ratelimit_headers, rss_kb)

STAT = "wasmcustom.edgeward.ratelimit."


def worker_connections(gw) -> dict:
    """Connections accepted per worker (the listener's per-worker stats)."""
    stats = gw.stats(filter_regex=r"^listener\..*worker_\d+\.downstream_cx_total$")
    return {k.split(".")[-2]: v for k, v in stats.items() if "127.0.0.1" in k}


def test_exactly_the_limit_across_two_workers_then_a_refill(gateway, wasm_path):
    limit = 30
    cfg = {"response_headers": "all", "policies": [
        policy("per-tenant", fixed(limit, 8), key=[header_key()])]}
    gw = gateway([ratelimit_filter(wasm_path, cfg)], concurrency=2)
    statuses = burst(gw.port, total=150, clients=12, headers_for=lambda i: {"x-tenant": "acme"})
    assert statuses[200] == limit, statuses
    assert statuses[429] == 150 - limit, statuses
    workers = worker_connections(gw)
    assert len(workers) == 2 and all(v > 0 for v in workers.values()), workers
    assert gw.stat(STAT + "allowed.policy.per-tenant") == limit
    # Another tenant is untouched.
    assert client.get(gw.port, "/", {"x-tenant": "other"}).status == 200
    # Refill: once the window is over, exactly `limit` again (one used by the probe).
    deadline = time.monotonic() + 20
    while client.get(gw.port, "/", {"x-tenant": "acme"}).status != 200:
        assert time.monotonic() < deadline, "no refill"
        time.sleep(0.2)
    again = burst(gw.port, total=80, clients=12, headers_for=lambda i: {"x-tenant": "acme"})
    assert again[200] == limit - 1, again


def test_token_bucket_refills_at_its_rate(gateway, wasm_path):
    # One token per 2 s: the burst of 20 finishes long before a refill, even
    # on a loaded machine.
    cfg = {"policies": [policy("tb", bucket(rate=1, burst=5, period_s=2), key=[header_key()])]}
    gw = gateway([ratelimit_filter(wasm_path, cfg)])
    s = burst(gw.port, total=20, clients=4, headers_for=lambda i: {"x-tenant": "a"})
    assert s[200] == 5, s
    r = client.get(gw.port, "/", {"x-tenant": "a"})
    assert r.status == 429
    assert int(r.headers["retry-after"]) in (1, 2)
    deadline = time.monotonic() + 5
    while client.get(gw.port, "/", {"x-tenant": "a"}).status != 200:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def _jwt_chain(wasm_path, rl_cfg, kp):
    provider = inline_provider(kp, tenant_claim="tenant_id")
    rules = [{"match": {"prefix": "/public"}, "requires": "none"},
             {"match": {"prefix": "/"}, "requires": {"provider": "idp"}}]
    return [jwt_filter(wasm_path, jwt_config({"idp": provider}, rules)),
            ratelimit_filter(wasm_path, rl_cfg)]


def test_tenants_are_isolated_costs_and_the_most_restrictive_decides(gateway, wasm_path):
    kp = keys.cached_keypair("ES256")
    cfg = {"response_headers": "all", "policies": [
        policy("tenant", fixed(10, 60), applies_to="authenticated"),
        policy("export", bucket(rate=1, burst=6, period_s=60), cost=3,
               match={"path_prefix": "/export"}, applies_to="authenticated"),
        policy("anon-ip", fixed(2, 60), key=["client_ip"], applies_to="anonymous"),
    ]}
    gw = gateway(_jwt_chain(wasm_path, cfg, kp))
    a = client.bearer(token(kp, tenant_id="tenant-a"))
    b = client.bearer(token(kp, tenant_id="tenant-b"))
    # Two exports of cost 3 empty tenant-a's export bucket.
    for _ in range(2):
        assert client.get(gw.port, "/export", a).status == 200
    r = client.get(gw.port, "/export", a)
    assert r.status == 429
    body = r.json()
    assert body["policy"] == "export" and body["reason"] == "quota_exceeded"
    assert body["type"] == "https://iana.org/assignments/http-problem-types#quota-exceeded"
    assert r.headers["content-type"] == "application/problem+json"
    # The denied export took nothing from "tenant": 8 of 10 are left.
    s = burst(gw.port, total=20, clients=4, headers_for=lambda i: a, path_for=lambda i: "/orders")
    assert s[200] == 8, s
    # tenant-b is untouched by all of it.
    r = client.get(gw.port, "/export", b)
    assert r.status == 200
    h = ratelimit_headers(r)
    assert h["export"] == {"q": 6, "w": 360, "r": 3, "t": 180}, h
    assert h["tenant"]["r"] == 9
    # Anonymous requests: their own policy, keyed by client IP.
    assert [client.get(gw.port, "/public").status for _ in range(3)] == [200, 200, 429]


def test_shadow_policies_never_block_and_are_counted(gateway, wasm_path):
    cfg = {"policies": [policy("trial", fixed(2, 60), key=[header_key()], shadow=True)]}
    gw = gateway([ratelimit_filter(wasm_path, cfg)])
    assert [client.get(gw.port, "/", {"x-tenant": "t"}).status for _ in range(6)] == [200] * 6
    assert gw.counter("edgeward.ratelimit.shadow_limited", policy="trial") == 4
    assert gw.counter("edgeward.ratelimit.allowed", policy="trial") == 6


def test_a_repeated_header_is_one_key_over_all_its_values(gateway, wasm_path):
    # `x-k: a` + `x-k: b` is the key "a,b", the same as `x-k: a,b`, and not
    # the key of `x-k: a` alone: repeating a header cannot split or dodge a
    # key, and a key over only the first value would count "a" twice.
    cfg = {"policies": [policy("per-k", fixed(2, 60), key=[header_key("x-k")])]}
    gw = gateway([ratelimit_filter(wasm_path, cfg)])
    repeated = [("x-k", "a"), ("x-k", "b")]
    assert [client.get(gw.port, "/", repeated).status for _ in range(2)] == [200, 200]
    assert client.get(gw.port, "/", {"x-k": "a,b"}).status == 429
    assert client.get(gw.port, "/", repeated).status == 429
    assert client.get(gw.port, "/", {"x-k": "a"}).status == 200
    assert client.get(gw.port, "/", {"x-k": "b"}).status == 200
    assert gw.counter("edgeward.ratelimit.limited", policy="per-k") == 2


def test_headers_are_rfc8941_structured_fields(gateway, wasm_path):
    cfg = {"response_headers": "all", "legacy_headers": True, "policies": [
        policy("per-key", fixed(3, 30), key=[header_key()]),
        policy("global-cap", bucket(rate=100, burst=100))]}
    gw = gateway([ratelimit_filter(wasm_path, cfg)])
    r = client.get(gw.port, "/", {"x-tenant": "k"})
    assert r.status == 200
    h = ratelimit_headers(r)
    assert h["per-key"] == {"q": 3, "w": 30, "r": 2, "t": 30}
    assert h["global-cap"]["q"] == 100 and h["global-cap"]["r"] == 99
    assert r.headers["x-ratelimit-limit"] == "3" and r.headers["x-ratelimit-remaining"] == "2"
    for _ in range(2):
        client.get(gw.port, "/", {"x-tenant": "k"})
    r = client.get(gw.port, "/", {"x-tenant": "k"})
    assert r.status == 429
    assert parse_sf_list(r.headers["retry-after"])[0][0] > 0  # an sf-integer
    assert ratelimit_headers(r)["per-key"]["r"] == 0
    # The parser itself refuses what is not a structured field.
    for bad in ['"a";q=1,', 'a;q="', '"a";Q=1', '"a" "b"']:
        with pytest.raises(ValueError):
            parse_sf_list(bad)


def test_a_flood_of_distinct_keys_stays_under_the_cap(gateway, wasm_path):
    max_keys = 2048
    cfg = {"max_keys": max_keys, "policies": [
        policy("per-key", fixed(1, 600), key=[header_key("x-key")])]}
    gw = gateway([ratelimit_filter(wasm_path, cfg)])
    pid = gw.proc.pid
    # Fill the table (and warm every allocator) first.
    warm = burst(gw.port, total=10_000, clients=4, raw=True,
                 headers_for=lambda i: {"x-key": f"w{i}"})
    assert warm[200] <= max_keys + 1, warm
    rss_full = rss_kb(pid)
    flood = burst(gw.port, total=100_000, clients=4, raw=True,
                  headers_for=lambda i: {"x-key": f"flood-{i}"})
    assert sum(flood.values()) == 100_000, flood
    rss_after = rss_kb(pid)
    print(f"\nkey flood: RSS after table full {rss_full} KB, after 100k more keys "
          f"{rss_after} KB (+{rss_after - rss_full} KB); statuses {dict(flood)}")
    # Past the cap new keys share one overflow state: at most one more passes.
    assert flood[200] <= 1, flood
    assert flood[429] >= 100_000 - 1
    assert gw.counter("edgeward.ratelimit.overflow", policy="per-key") > 0
    # Memory: bounded by the table, not by the number of keys.
    assert rss_after - rss_full < 16 * 1024, (rss_full, rss_after)
