"""The canonical-path policy through a real Envoy, in both connection-manager
set-ups: Envoy's defaults (the path reaches the filter as sent) and the
recommended settings (Envoy normalises first, README "Recommended Envoy
settings").

The attack: a path that one parser reads as public and another as
protected. Both directions are tried: a public prefix followed by `..`
into the protected one, and a protected prefix followed by `..` into a
public one (which matters when Envoy routes on the raw prefix). With
Envoy's defaults, every trick is answered 400 `non_canonical_path` and
never reaches the upstream, whatever `unmatched` says. With the recommended
settings Envoy rewrites or refuses first; the filter then decides on the
path Envoy forwards, so a request reaches the upstream only with the path
it was decided on, and never a protected path without a token.
"""

from __future__ import annotations

import pytest

from harness import client, keys
from harness.envoy import RECOMMENDED_HCM
from harness.jwt_e2e import (
    DECISION_LOG_FORMAT, assert_problem, inline_provider, jwt_config, jwt_filter,
    parse_decision_line, token,
)

IDP = keys.cached_keypair("RS256", "path-rs256")

RULES = [
    {"match": {"path_prefix": "/health"}, "requires": "none"},
    {"match": {"path_prefix": "/public"}, "requires": "none"},
    {"match": {"path_prefix": "/private"}, "requires": {"provider": "idp"}},
]

# public prefix, then into /private
INTO_PRIVATE = [
    "/health/../private",
    "/health/./../private",
    "/health/%2e%2e/private",
    "/health/%2E%2E/private",
    "/health/.%2e/private",
    "/health%2F..%2Fprivate",
    "/health%2f..%2fprivate",
    "/health/..%2Fprivate",
    "/health/..;/private",
    "/health;x=1/../private",
    "/health\\..\\private",
    "/health/..%5Cprivate",
    "/health%5C..%5Cprivate",
    "/%70rivate",
    "/priv%61te",
    "//private",
    "/health//../private",
    "/health/../../private",
    "/public/x/../../private",
]
# protected prefix, then into a public one
INTO_PUBLIC = [
    "/private/../health",
    "/private/%2e%2e/health",
    "/private/..;/health",
    "/private%2F..%2Fhealth",
    "/private\\..\\health",
    "/private/./../public",
]
TRICKS = INTO_PRIVATE + INTO_PUBLIC
PUBLIC = ("/health", "/public")


def gw_for(gateway, wasm_path, *, recommended: bool, unmatched: str = "deny"):
    cfg = jwt_config({"idp": inline_provider(IDP)}, RULES, unmatched=unmatched)
    return gateway([jwt_filter(wasm_path, cfg)], access_log_format=DECISION_LOG_FORMAT,
                   hcm_extra=RECOMMENDED_HCM if recommended else None)


@pytest.mark.parametrize("unmatched", ["deny", "allow"])
def test_with_envoy_defaults_every_trick_is_refused_400(gateway, upstream, wasm_path, unmatched):
    gw = gw_for(gateway, wasm_path, recommended=False, unmatched=unmatched)
    good = token(IDP)
    for i, path in enumerate(TRICKS, start=1):
        r = client.get(gw.port, path)
        assert_problem(r, 400, "non_canonical_path")
        # a valid token does not make a non-canonical path acceptable either
        r = client.get(gw.port, path, client.bearer(good))
        assert_problem(r, 400, "non_canonical_path", token=good)
        lines = gw.wait_for_access_log(2 * i)
        rec = parse_decision_line(lines[-1])
        assert rec["decision"]["reason"] == "non_canonical_path", rec
        assert rec["identity"] is None
    assert upstream.requests == [], [q["path"] for q in upstream.requests]
    assert gw.counter("edgeward.jwt.denied", reason="non_canonical_path") == 2 * len(TRICKS)
    # the canonical forms still work as configured
    assert client.get(gw.port, "/health/live").status == 200
    assert_problem(client.get(gw.port, "/private/x"), 401, "missing_token")
    assert client.get(gw.port, "/private/x", client.bearer(good)).status == 200
    assert [q["path"] for q in upstream.requests] == ["/health/live", "/private/x"]


def test_with_recommended_settings_the_decision_is_on_the_forwarded_path(gateway, upstream,
                                                                         wasm_path):
    gw = gw_for(gateway, wasm_path, recommended=True)
    expected = {
        # Envoy resolves the dot segments: the filter sees (and Envoy
        # forwards) /private, which needs a token.
        "/health/../private": 401,
        "/health/%2e%2e/private": 401,
        # Envoy refuses escaped slashes itself (REJECT_REQUEST).
        "/health%2F..%2Fprivate": 400,
        # Envoy 1.40's normalisation (Chromium's URL canonicaliser) also
        # reads `..;` as `..`, `\\` as `/` and decodes `%61`: the filter
        # sees /private.
        "/health/..;/private": 401,
        "/health\\..\\private": 401,
        "/priv%61te": 401,
        # Resolved to /health by Envoy: public, and forwarded as /health.
        "/private/../health": 200,
        "/private/..;/health": 200,
    }
    forwarded_as = {"/health//../private": "/health/private", "/private/../health": "/health"}
    for path in TRICKS:
        before = len(upstream.requests)
        r = client.get(gw.port, path)
        forwarded = upstream.requests[before:]
        if path in expected:
            assert r.status == expected[path], f"{path}: {r.status} {r.body[:200]!r}"
        assert r.status in (200, 400, 401, 404), f"{path}: {r.status}"
        if r.status == 200:
            assert len(forwarded) == 1, path
            got = forwarded[0]["path"]
            assert got.startswith(PUBLIC), f"{path} reached the upstream as {got}"
            if path in forwarded_as:
                assert got == forwarded_as[path], (path, got)
        else:
            assert forwarded == [], f"{path} reached the upstream as {forwarded[0]['path']}"
        if r.status == 400 and r.headers.get("content-type") == "application/problem+json":
            assert_problem(r, 400, "non_canonical_path")
    # nothing ever reached /private without a token
    assert not any(q["path"].startswith("/private") for q in upstream.requests)
