"""PII filter through Envoy: every request leaves a record, including those
answered by the JWT filter (with its reason) and by Envoy itself (413, 503);
the collector down, failing or slow never slows or fails a request, and the
dropped records are counted.
"""

from __future__ import annotations

import time

from harness import client, keys
from harness.envoy import cluster
from harness.jwt_e2e import AUD, ISS, inline_provider, jwt_config, jwt_filter
from harness.pii_e2e import (
    ACCESS_LOG_FORMAT, HASH_KEY, STAT, CollectorStub, assert_no_raw, pii_filter,
    wait_access_lines, wait_records,
)
from harness.ports import free_port

KP = keys.cached_keypair("ES256")
EMAIL = "dana.denied@example.com"


def audit_config(collector=None, **extra) -> dict:
    cfg = {"masking": {"hash": {"key": HASH_KEY}, "detectors": {"email": {"action": "hash"}}},
           "subject": "hash", "request_headers": ["user-agent", "authorization"]}
    if collector is not None:
        cfg["collector"] = collector
    cfg.update(extra)
    return cfg


def jwt(wasm_path) -> dict:
    return jwt_filter(wasm_path, jwt_config(
        {"idp": inline_provider(KP, tenant_claim="tenant_id")},
        [{"match": {"prefix": "/public"}, "requires": "none"},
         {"match": {"prefix": "/"}, "requires": {"provider": "idp"}}]))


def wait_stat(gw, name: str, at_least: int, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while True:
        v = gw.stat(name)
        if (isinstance(v, int) and v >= at_least) or time.monotonic() > deadline:
            return v
        time.sleep(0.05)


def test_denied_and_envoy_answered_requests_leave_records(gateway, upstream, wasm_path,
                                                          tmp_path):
    access = tmp_path / "access.log"
    buffer_limit = {
        "name": "envoy.filters.http.buffer",
        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer",
                         "max_request_bytes": 1024},
    }
    routes = [
        {"match": {"prefix": "/public/down"}, "route": {"cluster": "nowhere"}},
        {"match": {"prefix": "/"}, "route": {"cluster": "upstream"}},
    ]
    gw = gateway([buffer_limit, jwt(wasm_path), pii_filter(wasm_path, audit_config())],
                 extra_clusters=[cluster("nowhere", free_port())], routes=routes,
                 access_log_path=str(access), access_log_format=ACCESS_LOG_FORMAT)
    good = keys.mint(KP, {**keys.standard_claims(ISS, AUD, sub=EMAIL), "tenant_id": "acme"})
    expired = keys.mint(KP, keys.standard_claims(ISS, AUD, sub=EMAIL, ttl=-600))
    tampered = keys.tamper_payload(good, sub="mallory@example.com")
    cases = [
        ("GET", f"/orders?who={EMAIL}", {}, None, 401, ("jwt", "missing_token")),
        ("GET", "/orders", {"authorization": f"Bearer {expired}"}, None, 401, ("jwt", "expired")),
        ("GET", "/orders", {"authorization": f"Bearer {tampered}"}, None, 401,
         ("jwt", "bad_signature")),
        ("GET", "/orders/../admin", {"authorization": f"Bearer {good}"}, None, 400, None),
        ("POST", "/public/upload", {"content-type": "application/json"},
         b'{"email": "' + EMAIL.encode() + b'", "pad": "' + b"x" * 4096 + b'"}', 413, None),
        ("GET", "/public/down", {}, None, 503, None),
        ("GET", "/orders", {"authorization": f"Bearer {good}"}, None, 200, None),
    ]
    for method, path, headers, body, status, _ in cases:
        r = client.request(gw.port, method, path, headers, body)
        if status is not None:
            assert r.status == status, (path, r)
    recs = wait_records(gw, len(cases))
    assert len(recs) == len(cases), recs
    lines = wait_access_lines(access, len(cases))
    by_status = {}
    for rec in recs:
        by_status.setdefault(rec["status"], []).append(rec)

    denied = sorted((r["denied"]["filter"], r["denied"]["reason"]) for r in by_status[401])
    assert denied == [("jwt", "bad_signature"), ("jwt", "expired"), ("jwt", "missing_token")]
    for r in by_status[401]:
        assert r["identity"] is None
        assert r["details"] == f"edgeward_jwt_denied.{r['denied']['reason']}"
    missing = next(r for r in by_status[401] if r["denied"]["reason"] == "missing_token")
    assert missing["path"] == f"/orders?who={_pseudonym(EMAIL)}"
    # A credential the filter refused is still never logged.
    auths = [r["request_headers"]["authorization"] for r in by_status[401]
             if "authorization" in r.get("request_headers", {})]
    assert auths == ["Bearer [REDACTED:bearer]"] * 2
    assert [r["denied"]["reason"] for r in by_status[400]] == ["non_canonical_path"]
    assert by_status[413][0]["details"] == "request_payload_too_large"
    assert "denied" not in by_status[413][0]
    assert by_status[503][0]["path"] == "/public/down"
    ok = by_status[200][0]
    assert ok["identity"]["subject"] == _pseudonym(EMAIL, "subject")
    assert ok["identity"]["tenant"] == "acme"
    # The access log carries the denial from filter state.
    assert sum("denied=jwt.missing_token" in ln for ln in lines) == 1
    assert sum("denied=jwt.expired" in ln for ln in lines) == 1
    assert_no_raw({"envoy log": gw.log_text(), "access log": access.read_text()},
                  [EMAIL, "mallory@example.com", good, expired])
    assert gw.counter("edgeward.pii.records") == len(cases)


def _pseudonym(value: str, label: str = "email") -> str:
    import hashlib
    import hmac
    mac = hmac.new(HASH_KEY.encode(), value.encode(), hashlib.sha256).hexdigest()
    return f"[HASH:{label}:{mac[:16]}]"


def collector_settings(port_cluster="audit", **kw) -> dict:
    c = {"cluster": port_cluster, "authority": "audit.test", "path": "/ingest",
         "batch_records": 5, "flush_interval_ms": 50, "queue_records": 20, "timeout_ms": 300}
    c.update(kw)
    return c


def timed_requests(port: int, n: int) -> float:
    """n requests on one connection; the slowest one's latency (s)."""
    worst = 0.0
    with client.Client(port) as c:
        for i in range(n):
            t0 = time.monotonic()
            r = c.get(f"/public/item/{i}?email={EMAIL}")
            worst = max(worst, time.monotonic() - t0)
            assert r.status == 200
    return worst


def test_collector_down_requests_succeed_and_drops_are_counted(gateway, upstream, wasm_path):
    gw = gateway([pii_filter(wasm_path, audit_config(collector_settings(), log={"enabled": False}))],
                 extra_clusters=[cluster("audit", free_port())], concurrency=1)
    worst = timed_requests(gw.port, 40)
    assert worst < 1.0
    failed = wait_stat(gw, STAT + "collector.outcome.failed", 1)
    assert failed >= 1
    dropped = wait_stat(gw, STAT + "dropped.reason.sink_failed", 5)
    assert dropped >= 5
    assert gw.stat(STAT + "records") == 40
    assert gw.wait_for_log("edgeward-pii: collector batch failed")


def test_collector_failing_counts_sink_failures(gateway, upstream, wasm_path):
    collector = CollectorStub().start()
    collector.mode = "fail"
    try:
        gw = gateway([pii_filter(wasm_path, audit_config(collector_settings()))],
                     extra_clusters=[cluster("audit", collector.port)], concurrency=1)
        timed_requests(gw.port, 10)
        assert wait_stat(gw, STAT + "collector.outcome.failed", 2) >= 2
        assert wait_stat(gw, STAT + "dropped.reason.sink_failed", 10) >= 10
        assert collector.wait_for(2)
    finally:
        collector.stop()


def test_collector_slow_never_slows_requests_and_the_queue_is_bounded(gateway, upstream,
                                                                      wasm_path):
    collector = CollectorStub().start()
    collector.mode = "slow"
    collector.delay = 5.0
    try:
        gw = gateway([pii_filter(wasm_path, audit_config(collector_settings(timeout_ms=3000),
                                                         log={"enabled": False}))],
                     extra_clusters=[cluster("audit", collector.port)], concurrency=1)
        worst = timed_requests(gw.port, 60)
        assert worst < 1.0, f"a request took {worst:.2f}s"
        # One batch in flight (5 records), 20 queued: the rest were dropped.
        assert wait_stat(gw, STAT + "dropped.reason.queue_full", 30) >= 30
        assert gw.stat(STAT + "records") == 60
        collector.release()
        collector.mode = "ok"
        assert wait_stat(gw, STAT + "collector.outcome.sent", 2) >= 2
        got = collector.received()
        assert 0 < len(got) <= 30
        assert all(r["path"].startswith("/public/item/") and EMAIL not in r["path"] for r in got)
    finally:
        collector.release()
        collector.stop()
