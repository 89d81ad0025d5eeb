"""Records of requests denied by the tenant, schema and rate-limit filters
(issue 17), through Envoy: one gateway chaining JWT -> tenant -> schema ->
rate limit -> PII, as the demo does. Each denial (403 `tenant_mismatch`;
400 `schema_violation`, 413 `body_too_large`, 415 `unsupported_media_type`;
429 `quota_exceeded`) leaves one audit record naming the denying filter and
its reason, in Envoy's log and in the access log (from filter state), and
no raw PII of the request appears anywhere: not in the path, the query, the
body that was refused, the token or the subject. Also: emails percent-encoded
twice (`%2540`) in a query string are masked.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from harness import client
from harness.pii_e2e import (
    ACCESS_LOG_FORMAT, HASH_KEY, assert_no_raw, pii_filter, wait_access_lines, wait_records,
)
from harness.ratelimit_e2e import fixed, policy, ratelimit_filter
from harness.schema_e2e import STARTUP_S, schema_filter
from harness.tenant_e2e import jwt_front, tenant_filter, user

EMAIL = "erin.denied@example.com"
CARD = "4111111111111111"
SUBJECT = "sub-erin@example.com"

TENANT = {
    "rules": [{"name": "invoices",
               "match": {"template": "/v1/tenants/{tenant}/invoices/{id}", "methods": ["GET"]},
               "tenant": {"path": "tenant"}}],
    "unmatched": "allow",
}
SCHEMA = {
    "routes": [{"name": "orders", "match": {"path": "/v1/orders", "methods": ["POST"]},
                "contract": {"body": {"max_bytes": 256, "schema": {
                    "type": "object", "required": ["sku"],
                    "properties": {"sku": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{3}$"}}}}}}],
    "unmatched": "allow",
}
RATE = {"policies": [policy("search", fixed(2, 3600), key=("tenant",),
                            match={"path_prefix": "/v1/search"})]}
AUDIT = {"masking": {"hash": {"key": HASH_KEY}, "detectors": {"email": {"action": "hash"}}},
         "subject": "hash", "request_headers": ["user-agent", "authorization", "content-type"]}


def pseudonym(value: str, label: str) -> str:
    mac = hmac.new(HASH_KEY.encode(), value.encode(), hashlib.sha256).hexdigest()
    return f"[HASH:{label}:{mac[:16]}]"


def chain(wasm_path) -> list:
    return [jwt_front(wasm_path), tenant_filter(wasm_path, TENANT),
            schema_filter(wasm_path, SCHEMA), ratelimit_filter(wasm_path, RATE),
            pii_filter(wasm_path, AUDIT)]


def test_denials_of_each_filter_leave_a_masked_record(gateway, upstream, wasm_path, tmp_path):
    access = tmp_path / "access.log"
    gw = gateway(chain(wasm_path), access_log_path=str(access),
                 access_log_format=ACCESS_LOG_FORMAT, timeout=STARTUP_S)
    acme = user("acme", sub=SUBJECT)
    token = acme["authorization"].split(" ", 1)[1]
    js = {"content-type": "application/json"}
    big = json.dumps({"sku": "ABC-123", "contact": EMAIL, "pad": "x" * 400}).encode()
    # (method, path, headers, body, status, (filter, reason) or None)
    cases = [
        ("GET", f"/v1/tenants/globex/invoices/1?contact={EMAIL}", {}, None,
         403, ("tenant", "tenant_mismatch")),
        ("POST", "/v1/orders", js, json.dumps({"sku": EMAIL, "card": CARD}).encode(),
         400, ("schema", "schema_violation")),
        ("POST", "/v1/orders", js, big, 413, ("schema", "body_too_large")),
        ("POST", "/v1/orders", {"content-type": "text/plain"}, f"card {CARD}".encode(),
         415, ("schema", "unsupported_media_type")),
        ("GET", f"/v1/search?q={EMAIL}", {}, None, 200, None),
        ("GET", f"/v1/search?q={EMAIL}", {}, None, 200, None),
        ("GET", f"/v1/search?q={EMAIL}&card={CARD}", {}, None, 429, ("ratelimit", "quota_exceeded")),
        ("POST", "/v1/orders", js, b'{"sku": "ABC-123"}', 200, None),
    ]
    for method, path, headers, body, status, _ in cases:
        r = client.request(gw.port, method, path, {**acme, **headers}, body)
        assert r.status == status, (method, path, r.status, r.body[:300])
    recs = wait_records(gw, len(cases))
    assert len(recs) == len(cases), recs
    lines = wait_access_lines(access, len(cases))

    denied = sorted(tuple(r["denied"].values()) for r in recs if "denied" in r)
    assert denied == sorted(d for *_, d in cases if d is not None), recs
    for rec in recs:
        # Every record knows who it was, without showing the subject.
        assert rec["identity"]["tenant"] == "acme", rec
        assert rec["identity"]["subject"] == pseudonym(SUBJECT, "subject"), rec
        # The JWT filter removes the token it verified; if one is left, it is masked.
        auth = rec.get("request_headers", {}).get("authorization")
        assert auth in (None, "Bearer [REDACTED:bearer]"), rec
        if "denied" in rec:
            d = rec["denied"]
            assert rec["details"] == f"edgeward_{d['filter']}_denied.{d['reason']}", rec
    by_reason = {r["denied"]["reason"]: r for r in recs if "denied" in r}
    assert by_reason["tenant_mismatch"]["status"] == 403
    assert by_reason["tenant_mismatch"]["path"] == (
        f"/v1/tenants/globex/invoices/1?contact={pseudonym(EMAIL, 'email')}")
    assert by_reason["schema_violation"]["status"] == 400
    assert by_reason["body_too_large"]["status"] == 413
    assert by_reason["unsupported_media_type"]["status"] == 415
    limited = by_reason["quota_exceeded"]
    assert limited["status"] == 429
    assert limited["path"] == (
        f"/v1/search?q={pseudonym(EMAIL, 'email')}&card=[REDACTED:param]"), limited
    # The other filters' decisions are in the record, masked like the rest.
    assert limited["decisions"]["ratelimit"]["decision"] == "limited", limited
    assert limited["decisions"]["authz"], limited
    # The access log names each denial, from the PII filter's filter state.
    for _, _, _, _, _, d in cases:
        if d is not None:
            assert sum(f"denied={d[0]}.{d[1]}" in ln for ln in lines) >= 1, (d, lines)
    assert_no_raw({"envoy log": gw.log_text(), "access log": access.read_text()},
                  [EMAIL, CARD, SUBJECT, token])


def test_double_percent_encoded_emails_in_queries_are_masked(gateway, upstream, wasm_path,
                                                             tmp_path):
    access = tmp_path / "access.log"
    gw = gateway([pii_filter(wasm_path, {})], access_log_path=str(access),
                 access_log_format=ACCESS_LOG_FORMAT)
    paths = [
        "/lookup?email=dana%2540example.com",
        "/lookup?next=%2Fusers%3Fe%3Ddana%2540example.com",
        "/lookup?email=DANA%25252540EXAMPLE.COM",
        "/lookup/dana%2540example.com",
    ]
    for p in paths:
        assert client.get(gw.port, p).status == 200
    recs = wait_records(gw, len(paths))
    wait_access_lines(access, len(paths))
    got = sorted(r["path"] for r in recs)
    for path in got:
        assert "[REDACTED:email]" in path, got
        assert "dana" not in path.lower() and "example" not in path.lower(), got
    assert_no_raw({"envoy log": gw.log_text(), "access log": access.read_text()},
                  ["dana%2540example.com", "dana%40example.com", "dana@example.com",
                   "DANA%25252540EXAMPLE.COM"])
