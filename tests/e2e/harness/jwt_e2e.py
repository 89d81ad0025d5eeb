"""Helpers shared by the JWT filter's end-to-end tests (tests/e2e/test_jwt_*.py).

- config builders: `inline_provider`, `remote_provider`, `jwt_config`, `jwt_filter`
- `assert_problem`: the full shape of a denial (status, problem+json body,
  WWW-Authenticate form, the token never echoed)
- access-log parsing: `DECISION_LOG_FORMAT` + `parse_decision_line` (decision
  and identity filter state), `identity_from_access_line` (default format)
- polling: `wait_until`, `wait_stat`
"""

from __future__ import annotations

import json
import os
import re
import time

from . import keys
from .envoy import wasm_filter

ISS = "https://idp.example"
AUD = "api"
STAT = "wasmcustom.edgeward.jwt."
PROBLEM_MEMBERS = {"type", "title", "status", "detail", "reason"}
# Denials that are not about the token carry no Bearer challenge.
NO_CHALLENGE = {"non_canonical_path", "no_rule_matched", "internal_error", "filter_unconfigured"}

# Tab-separated so JSON with spaces stays one field.
DECISION_LOG_FORMAT = (
    "%REQ(:METHOD)%\t%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%\t%RESPONSE_CODE%\t"
    "%FILTER_STATE(wasm.edgeward.jwt.decision:PLAIN)%\t"
    "%FILTER_STATE(wasm.edgeward.identity:PLAIN)%\n"
)


# ----------------------------------------------------------------- configs

def inline_provider(*keypairs: keys.KeyPair, algorithms=None, issuer: str | None = ISS,
                    audiences=(AUD,), **extra) -> dict:
    """A provider with an inline JWKS of `keypairs` (algorithms default to theirs)."""
    p = {
        "algorithms": list(algorithms or dict.fromkeys(kp.alg for kp in keypairs)),
        "jwks": {"inline": keys.jwks(*keypairs)},
    }
    if issuer is not None:
        p["issuer"] = issuer
    if audiences is not None:
        p["audiences"] = list(audiences)
    p.update(extra)
    return p


def remote_settings(idp, **kw) -> dict:
    """`jwks.remote` for the IdP stub behind Envoy cluster "idp"."""
    r = {"cluster": "idp", "authority": "idp.test", "path": idp.path}
    r.update(kw)
    return r


def remote_provider(idp, algorithms=("RS256",), issuer: str | None = ISS, audiences=(AUD,),
                    remote: dict | None = None, **extra) -> dict:
    p = {
        "algorithms": list(algorithms),
        "jwks": {"remote": remote_settings(idp, **(remote or {}))},
    }
    if issuer is not None:
        p["issuer"] = issuer
    if audiences is not None:
        p["audiences"] = list(audiences)
    p.update(extra)
    return p


def jwt_config(providers: dict, rules: list | None = None, **extra) -> dict:
    """Default rules: every path needs the first provider."""
    if rules is None:
        rules = [{"match": {"prefix": "/"}, "requires": {"provider": next(iter(providers))}}]
    cfg = {"providers": providers, "rules": rules}
    cfg.update(extra)
    return cfg


def jwt_filter(wasm_path, cfg: dict) -> dict:
    """The edgeward_jwt Wasm filter entry (`wasm_path` is the conftest fixture)."""
    return wasm_filter("edgeward_jwt", wasm_path("edgeward_jwt"), cfg)


# ----------------------------------------------------------------- tokens

def token(kp: keys.KeyPair, ttl: int = 300, iss: str = ISS, aud=AUD, headers=None,
          **claims) -> str:
    """A valid token (unique jti, so it is never a token-cache hit by accident)."""
    c = keys.standard_claims(iss, aud, ttl=ttl, **claims)
    c.setdefault("jti", keys.b64url(os.urandom(9)))
    return keys.mint(kp, c, headers=headers)


# ----------------------------------------------------------------- denials

_CHALLENGE_ERROR = re.compile(
    r'^Bearer realm="(?P<realm>[^"]*)", error="(?P<error>[a-z_]+)", '
    r'error_description="(?P<desc>[^"\\]+)"$'
)


def assert_problem(resp, status: int, reason: str, *, token: str | None = None,
                   realm: str = "edgeward") -> dict:
    """Asserts a complete denial; returns the parsed problem body."""
    where = f"{reason}: got {resp.status} {resp.body[:300]!r} {list(resp.headers)}"
    assert resp.status == status, where
    assert resp.headers.get("content-type") == "application/problem+json", where
    body = json.loads(resp.body)
    assert set(body) == PROBLEM_MEMBERS, where
    assert body["reason"] == reason, where
    assert body["type"] == f"urn:edgeward:problem:{reason}", where
    assert body["status"] == status, where
    assert isinstance(body["title"], str) and body["title"], where
    assert isinstance(body["detail"], str) and body["detail"], where
    challenges = resp.headers.get_all("www-authenticate")
    if reason in NO_CHALLENGE:
        assert challenges == [], where
    elif reason == "missing_token":
        assert challenges == [f'Bearer realm="{realm}"'], where
    elif status in (400, 401):
        assert len(challenges) == 1, where
        m = _CHALLENGE_ERROR.match(challenges[0])
        assert m, where
        assert m["realm"] == realm, where
        assert m["error"] == ("invalid_request" if status == 400 else "invalid_token"), where
    if token:
        assert token.encode() not in resp.body, f"{reason}: the token is echoed in the body"
        # nor any of its parts (a signature or payload alone identifies it)
        for part in token.split("."):
            if len(part) >= 16:
                assert part.encode() not in resp.body, f"{reason}: a token part is echoed"
                for v in challenges:
                    assert part not in v, f"{reason}: a token part is in WWW-Authenticate"
    return body


# ----------------------------------------------------------------- access log

def parse_decision_line(line: str) -> dict:
    """A DECISION_LOG_FORMAT line -> {method, path, status, decision, identity}."""
    method, path, status, decision, identity = line.split("\t")
    return {
        "method": method,
        "path": path,
        "status": int(status),
        "decision": None if decision == "-" else json.loads(decision),
        "identity": None if identity == "-" else json.loads(identity),
    }


_ACCESS = re.compile(r'^\[[^\]]*\] "(\S+) (\S+)" (\d+) (\S+) (.*)$')


def parse_access_line(line: str) -> dict:
    """A line of the harness's default access-log format."""
    m = _ACCESS.match(line)
    assert m, f"unexpected access-log line: {line!r}"
    ident = m[5]
    return {
        "method": m[1],
        "path": m[2],
        "status": int(m[3]),
        "details": m[4],
        "identity": None if ident == "-" else json.loads(ident),
    }


# ----------------------------------------------------------------- polling

def wait_until(pred, timeout: float = 5.0, interval: float = 0.05):
    """Polls `pred()` until it returns a truthy value (returned) or time runs out
    (the last value is returned)."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def wait_stat(gw, name: str, at_least: int, timeout: float = 5.0) -> int:
    """Waits until stat `name` (full name) is >= at_least; returns its value."""
    value = 0

    def ok():
        nonlocal value
        value = gw.stat(name)
        return isinstance(value, int) and value >= at_least

    wait_until(ok, timeout)
    return value
