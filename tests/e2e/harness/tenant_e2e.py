"""Helpers shared by the tenant authorization filter's end-to-end tests
(tests/e2e/test_tenant_*.py): the JWT filter in front (tokens optional, so
the tenant filter's own 401 `no_identity` shows), the tenant filter behind
it, an access log that prints the `edgeward.authz` decision, token minting.
"""

from __future__ import annotations

import json

import pytest

from . import client, keys
from .envoy import RECOMMENDED_HCM, wasm_filter
from .jwt_e2e import inline_provider, jwt_config, jwt_filter, token

IDP = keys.cached_keypair("ES256", "tenant-es256")
STAT = "wasmcustom.edgeward.tenant."

AUTHZ_LOG_FORMAT = (
    "%REQ(:METHOD)%\t%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%\t%RESPONSE_CODE%\t"
    "%FILTER_STATE(wasm.edgeward.authz:PLAIN)%\n"
)

# Both connection-manager set-ups the tests run in.
HCM_SETUPS = {"defaults": None, "recommended": RECOMMENDED_HCM}

IDENTITY_HEADERS = [
    {"header": "x-tenant-id", "value": "tenant"},
    {"header": "x-user-id", "value": "sub"},
]


# How the JWT and tenant filters are deployed: two filter entries
# (edgeward_jwt.wasm, edgeward_tenant.wasm), or one (edgeward_edge.wasm, both
# in one module). Every tenant test runs against both (the `deployment`
# fixture below, autouse in each test module that imports it): they must
# behave the same.
DEPLOYMENTS = ("two_modules", "edge")
_current = {"deployment": "two_modules"}


@pytest.fixture(params=DEPLOYMENTS, autouse=True)
def deployment(request):
    _current["deployment"] = request.param
    yield request.param
    _current["deployment"] = "two_modules"


def jwt_front_config() -> dict:
    """A token is optional (the tenant filter decides who needs one); its
    tenant comes from claim `tenant_id`."""
    return jwt_config(
        {"idp": inline_provider(IDP, tenant_claim="tenant_id")},
        [{"name": "all", "match": {"prefix": "/"}, "requires": {"allow_missing": ["idp"]}}],
    )


def jwt_front(wasm_path):
    """The JWT filter entry (see jwt_front_config)."""
    return jwt_filter(wasm_path, jwt_front_config())


def tenant_filter(wasm_path, policy: dict):
    return wasm_filter("edgeward_tenant", wasm_path("edgeward_tenant"), policy)


def tenant_chain(wasm_path, policy: dict) -> list:
    """The JWT filter then the tenant filter, as the current deployment has them."""
    if _current["deployment"] == "edge":
        return [wasm_filter("edgeward_edge", wasm_path("edgeward_edge"),
                            {"jwt": jwt_front_config(), "tenant": policy})]
    return [jwt_front(wasm_path), tenant_filter(wasm_path, policy)]


def config_error_prefix() -> str:
    """How Envoy's log starts a tenant configuration error in this deployment."""
    if _current["deployment"] == "edge":
        return "edgeward-edge: invalid configuration: tenant."
    return "edgeward-tenant: invalid configuration: "


def start(gateway, wasm_path, policy: dict, *, setup: str = "defaults", **kw):
    """JWT filter + tenant filter + echo upstream, access log of decisions."""
    return gateway(tenant_chain(wasm_path, policy),
                   access_log_format=AUTHZ_LOG_FORMAT, hcm_extra=HCM_SETUPS[setup], **kw)


def user(tenant: str = "acme", scope: str = "invoices:read orders:read", **claims) -> dict:
    tok = token(IDP, sub=claims.pop("sub", "alice"), tenant_id=tenant, scope=scope, **claims)
    return client.bearer(tok)


def parse_line(line: str) -> dict:
    method, path, status, decision = line.split("\t")
    return {"method": method, "path": path, "status": int(status),
            "decision": None if decision == "-" else json.loads(decision)}


def problem(resp) -> dict:
    assert resp.headers.get("content-type") == "application/problem+json", resp
    return json.loads(resp.body)


def assert_denied(resp, status: int, reason: str) -> dict:
    where = f"{reason}: got {resp.status} {resp.body[:300]!r}"
    assert resp.status == status, where
    body = problem(resp)
    assert body["reason"] == reason, where
    assert body["status"] == status, where
    return body
