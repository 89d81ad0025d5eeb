"""The tenant filter's policy through a real Envoy (JWT filter + tenant
filter + echo upstream): scopes and the RFC 6750 challenge, roles, claim
and numeric conditions, deny-overrides-allow, time windows, shadow mode,
401 without an identity, per-rule deny responses, the decision in filter
state and the access log, labeled metrics, and a configuration error that
keeps Envoy from starting.
"""

from __future__ import annotations

import datetime

import pytest

from harness import client
from harness.envoy import EnvoyStartError
from harness.tenant_e2e import (
    HCM_SETUPS, IDENTITY_HEADERS, assert_denied, config_error_prefix, deployment, parse_line,  # noqa: F401
    problem, start, user,
)


def _hours_around_now() -> tuple[list, list, str, str]:
    now = datetime.datetime.now(datetime.timezone.utc)
    h = now.hour
    inside = [(h - 1) % 24, (h + 2) % 24]
    outside = [(h + 3) % 24, (h + 5) % 24]
    days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    today = days[now.weekday()]
    other = days[(now.weekday() + 3) % 7]
    return inside, outside, today, other


INSIDE, OUTSIDE, TODAY, OTHER_DAY = _hours_around_now()

POLICY = {
    "identity_headers": IDENTITY_HEADERS,
    "rules": [
        {"name": "risky", "effect": "deny", "match": {"path_prefix": "/v1"},
         "claims": [{"claim": "risk.score", "gt": 70}]},
        {"name": "suspended", "effect": "deny", "match": {"path_prefix": "/v1"},
         "claims": [{"claim": "status", "equals": "suspended"}],
         "deny": {"status": 451, "title": "Account suspended", "type": "https://errors.example/suspended",
                  "headers": {"x-policy": "suspended"}}},
        {"name": "invoices", "match": {"template": "/v1/tenants/{tenant}/invoices/{id}", "methods": ["GET"]},
         "scopes": {"all_of": ["invoices:read"]}, "tenant": {"path": "tenant"}},
        {"name": "admin", "match": {"template": "/v1/tenants/{tenant}/invoices/{id}", "methods": ["DELETE"]},
         "roles": {"claim": "realm_access.roles", "any_of": ["billing-admin"]}, "tenant": {"path": "tenant"},
         "deny": {"status": 404, "title": "Not Found"}},
        {"name": "premium", "match": {"path_prefix": "/v1/premium"},
         "claims": [{"claim": "plan", "in": ["gold", "platinum"]}, {"claim": "seats", "gte": 10},
                    {"claim": "email", "prefix": "ops@"}]},
        {"name": "office", "match": {"path_prefix": "/v1/office"},
         "time": [{"weekdays": [TODAY], "hours": INSIDE}]},
        {"name": "night", "match": {"path_prefix": "/v1/night"},
         "time": [{"hours": OUTSIDE}, {"weekdays": [OTHER_DAY]}]},
        {"name": "beta", "shadow": True, "match": {"path_prefix": "/v1/beta"},
         "scopes": {"all_of": ["beta"]}},
        {"name": "beta-open", "match": {"path_prefix": "/v1/beta"}},
        {"name": "health", "match": {"path": "/health"}, "requires_identity": False},
    ],
}


@pytest.fixture(params=list(HCM_SETUPS))
def gw(request, gateway, wasm_path):
    return start(gateway, wasm_path, POLICY, setup=request.param)


def test_missing_scope_is_403_with_the_challenge(gw, upstream):
    before = len(upstream.requests)
    r = client.get(gw.port, "/v1/tenants/acme/invoices/1", user("acme", scope="orders:read"))
    assert_denied(r, 403, "missing_scope")
    assert r.headers.get_all("www-authenticate") == [
        'Bearer realm="edgeward", error="insufficient_scope", scope="invoices:read"']
    assert len(upstream.requests) == before
    assert gw.counter("edgeward.tenant.denied", rule="invoices", reason="missing_scope") == 1


def test_no_identity_is_401(gw, upstream):
    before = len(upstream.requests)
    r = client.get(gw.port, "/v1/tenants/acme/invoices/1")
    assert_denied(r, 401, "no_identity")
    assert r.headers.get_all("www-authenticate") == ['Bearer realm="edgeward"']
    assert client.get(gw.port, "/health").status == 200
    assert len(upstream.requests) == before + 1


def test_roles_with_a_custom_deny_response(gw, upstream):
    before = len(upstream.requests)
    r = client.request(gw.port, "DELETE", "/v1/tenants/acme/invoices/1",
                       user("acme", realm_access={"roles": ["viewer"]}))
    assert r.status == 404
    body = problem(r)
    assert body["reason"] == "role_denied" and body["title"] == "Not Found"
    # An admin of another tenant: the same answer.
    r2 = client.request(gw.port, "DELETE", "/v1/tenants/globex/invoices/1",
                        user("acme", realm_access={"roles": ["billing-admin"]}))
    assert r2.status == 404
    assert len(upstream.requests) == before
    r = client.request(gw.port, "DELETE", "/v1/tenants/acme/invoices/1",
                       user("acme", realm_access={"roles": ["viewer", "billing-admin"]}))
    assert r.status == 200, r
    assert upstream.last()["method"] == "DELETE"


def test_claim_conditions_and_deny_overrides_allow(gw, upstream):
    ok = user("acme", plan="gold", seats=10, email="ops@acme.test", risk={"score": 70})
    assert client.get(gw.port, "/v1/premium/x", ok).status == 200
    for claims in ({"plan": "silver", "seats": 10, "email": "ops@acme.test"},
                   {"plan": "gold", "seats": 9, "email": "ops@acme.test"},
                   {"plan": "gold", "seats": "10", "email": "ops@acme.test"},
                   {"plan": "gold", "seats": 10, "email": "dev@acme.test"},
                   {"plan": "gold", "seats": 10}):
        r = client.get(gw.port, "/v1/premium/x", user("acme", **claims))
        assert_denied(r, 403, "condition_failed")
    # risk_score > 70 denies whatever the allow rules say.
    before = len(upstream.requests)
    r = client.get(gw.port, "/v1/tenants/acme/invoices/1", user("acme", risk={"score": 71}))
    assert_denied(r, 403, "denied_by_rule")
    r = client.get(gw.port, "/v1/tenants/acme/invoices/1", user("acme", status="suspended"))
    assert r.status == 451
    body = problem(r)
    assert (body["reason"], body["type"], body["title"]) == (
        "denied_by_rule", "https://errors.example/suspended", "Account suspended")
    assert r.headers.get("x-policy") == "suspended"
    assert len(upstream.requests) == before
    assert gw.counter("edgeward.tenant.denied", rule="risky", reason="denied_by_rule") == 1
    assert client.get(gw.port, "/v1/tenants/acme/invoices/1", user("acme", risk={"score": 12.5})).status == 200


def test_time_windows(gw, upstream):
    assert client.get(gw.port, "/v1/office/x", user()).status == 200
    assert_denied(client.get(gw.port, "/v1/night/x", user()), 403, "condition_failed")


def test_shadow_rule_lets_through_and_records_the_would_be_denial(gw, upstream):
    before = len(upstream.requests)
    r = client.get(gw.port, "/v1/beta/feature", user("acme", scope="orders:read"))
    assert r.status == 200, r
    assert len(upstream.requests) == before + 1
    assert upstream.last()["headers"]["x-tenant-id"] == "acme"
    assert gw.counter("edgeward.tenant.shadow_denied", rule="beta", reason="missing_scope") == 1
    lines = gw.wait_for_access_log(1)
    rec = parse_line(lines[-1])
    assert rec["decision"] == {"decision": "shadow_deny", "rule": "beta", "reason": "missing_scope",
                               "tenant": "acme", "effect": "allow"}, rec


def test_decisions_in_the_access_log_and_metrics(gw, upstream):
    client.get(gw.port, "/v1/tenants/acme/invoices/1", user("acme"))
    client.get(gw.port, "/v1/tenants/globex/invoices/1", user("acme"))
    client.get(gw.port, "/nowhere", user("acme"))
    recs = [parse_line(x) for x in gw.wait_for_access_log(3)]
    assert [(r["status"], r["decision"]["decision"], r["decision"]["rule"], r["decision"]["reason"])
            for r in recs] == [
        (200, "allow", "invoices", None),
        (403, "deny", "invoices", "tenant_mismatch"),
        (403, "deny", None, "no_matching_rule"),
    ]
    assert all(r["decision"]["tenant"] == "acme" for r in recs)
    assert gw.counter("edgeward.tenant.allowed", rule="invoices") == 1
    assert gw.counter("edgeward.tenant.denied", reason="no_matching_rule") == 1


def test_global_shadow_enforces_nothing(gateway, upstream, wasm_path):
    gw = start(gateway, wasm_path, dict(POLICY, shadow=True))
    before = len(upstream.requests)
    r = client.get(gw.port, "/v1/tenants/globex/invoices/1", user("acme"))
    assert r.status == 200
    assert len(upstream.requests) == before + 1
    assert upstream.last()["headers"]["x-tenant-id"] == "acme"
    assert gw.counter("edgeward.tenant.shadow_denied", rule="invoices", reason="tenant_mismatch") == 1


@pytest.mark.parametrize("bad, field", [
    ({"name": "inv", "match": {"template": "/t/{tenant}"}, "tenant": {"path": "org"}}, "rules[0](inv).tenant.path"),
    ({"name": "net", "match": {"prefix": "/"}, "client_ips": ["10.0.0.1/8"]}, "rules[0](net).client_ips[0]"),
    ({"name": "ptr", "match": {"prefix": "/"}, "tenant": {"body": "customer/id"}}, "rules[0](ptr).tenant.body"),
    ({"name": "tpl", "match": {"template": "/a/**/b"}}, "rules[0](tpl).match.template"),
    ({"name": "num", "match": {"prefix": "/"}, "claims": [{"claim": "risk", "gt": "70"}]}, "rules[0](num)"),
])
def test_a_config_error_keeps_envoy_from_starting(gateway, wasm_path, bad, field):
    with pytest.raises(EnvoyStartError) as e:
        start(gateway, wasm_path, {"rules": [bad]}, timeout=15)
    assert config_error_prefix() + field in e.value.log_tail, e.value.log_tail
