"""Response validation through a real Envoy: a response that violates its
schema is replaced by 502 problem+json (enforce) or passed on, logged and
counted (log); stripping removes what the schema does not declare (the echo
upstream's `headers`, `body`, ... never reach the client) and fixes the
length; statuses without a schema pass untouched."""

from __future__ import annotations

import json

import pytest

from harness import client
from harness.schema_e2e import STARTUP_S, assert_problem, schema_filter

# What the echo upstream answers: {"method", "path", "headers", "body", "body_encoding"}.
ECHO_SHAPE = {"type": "object", "required": ["method", "path"],
              "properties": {"method": {"type": "string"}, "path": {"type": "string"}}}
NEEDS_ID = {"type": "object", "required": ["id"]}


def config() -> dict:
    return {
        "unmatched": "allow",
        "routes": [
            {"name": "enforced", "match": {"path_prefix": "/enforced"},
             "contract": {"responses": {"200": NEEDS_ID}, "response_validation": "enforce"}},
            {"name": "valid", "match": {"path_prefix": "/valid"},
             "contract": {"responses": {"2XX": ECHO_SHAPE}}},
            {"name": "logged", "match": {"path_prefix": "/logged"},
             "contract": {"responses": {"200": NEEDS_ID}, "response_validation": "log"}},
            {"name": "stripped", "match": {"path_prefix": "/stripped"},
             "contract": {"responses": {"200": ECHO_SHAPE}, "response_validation": "enforce",
                          "strip_undeclared": True}},
            {"name": "dry", "match": {"path_prefix": "/dry"}, "dry_run": True,
             "contract": {"responses": {"200": NEEDS_ID}}},
        ],
    }


@pytest.fixture
def gw(gateway, wasm_path):
    return gateway([schema_filter(wasm_path, config())], timeout=STARTUP_S)


def test_a_violating_response_is_replaced_by_502(gw, upstream):
    r = client.get(gw.port, "/enforced/x", {"x-secret": "internal-value"})
    assert_problem(r, 502, "response_violation", secrets=["internal-value", "/enforced/x"])
    assert upstream.last()["path"] == "/enforced/x", "the request itself was forwarded"
    assert gw.counter("edgeward_schema_responses", route="enforced", outcome="replaced") == 1
    assert gw.wait_for_log("response on route enforced violates its contract")


def test_a_valid_response_passes_untouched(gw, upstream):
    r = client.get(gw.port, "/valid/x")
    assert r.status == 200
    body = r.json()
    assert body["path"] == "/valid/x" and "headers" in body
    assert gw.counter("edgeward_schema_responses", route="valid", outcome="valid") == 1


def test_log_mode_passes_the_response_and_counts_it(gw, upstream):
    r = client.get(gw.port, "/logged/x")
    assert r.status == 200
    assert r.json()["path"] == "/logged/x"
    assert gw.counter("edgeward_schema_responses", route="logged", outcome="logged") == 1
    assert gw.wait_for_log("passed on (log only)")


def test_dry_run_never_replaces_a_response(gw, upstream):
    r = client.get(gw.port, "/dry/x")
    assert r.status == 200
    assert gw.counter("edgeward_schema_responses", route="dry", outcome="logged") == 1


def test_undeclared_fields_are_stripped_and_the_length_fixed(gw, upstream):
    r = client.get(gw.port, "/stripped/x", {"x-internal": "do-not-leak"})
    assert r.status == 200, r.body[:300]
    assert json.loads(r.body) == {"method": "GET", "path": "/stripped/x"}
    assert b"do-not-leak" not in r.body
    length = r.headers.get("content-length")
    assert length is None or int(length) == len(r.body)
    assert gw.counter("edgeward_schema_stripped_fields", route="stripped") == 3


def test_statuses_without_a_schema_pass(gw, upstream):
    r = client.get(gw.port, "/enforced/x", {"x-echo-status": "404"})
    assert r.status == 404
    assert r.json()["path"] == "/enforced/x"
