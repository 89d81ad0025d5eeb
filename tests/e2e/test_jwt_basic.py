"""JWT filter, the happy paths: every algorithm, what the upstream and the
access log see, token locations, CORS preflight bypass, metrics and the token
cache. Inline JWKS only (remote keys: test_jwt_jwks.py).
"""

from __future__ import annotations

import json

from harness import client, keys
from harness.jwt_e2e import (
    AUD, ISS, STAT, assert_problem, inline_provider, jwt_config, jwt_filter,
    parse_access_line, token,
)

KPS = {alg: keys.cached_keypair(alg) for alg in keys.ALGORITHMS}  # RS256 PS256 ES256 ES384 ES512 EdDSA HS256


def basic_config(**extra) -> dict:
    """idp: every algorithm, claim headers and the payload header; fwd: forwards
    Authorization; /public needs nothing."""
    return jwt_config(
        {
            "idp": inline_provider(
                *KPS.values(),
                claims_to_headers=[
                    {"claim": "tenant_id", "header": "x-tenant-id"},
                    {"claim": "org.unit", "header": "x-org-unit"},
                ],
                forward_payload_header="x-jwt-payload",
            ),
            "fwd": inline_provider(KPS["ES256"], forward=True),
        },
        [
            {"match": {"prefix": "/public"}, "requires": "none"},
            {"match": {"prefix": "/fwd"}, "requires": {"provider": "fwd"}},
            {"match": {"prefix": "/"}, "requires": {"provider": "idp"}},
        ],
        **extra,
    )


def start_basic(gateway, wasm_path, **extra):
    return gateway([jwt_filter(wasm_path, basic_config(**extra))])


def test_every_algorithm_passes_and_publishes_the_identity(gateway, upstream, wasm_path):
    gw = start_basic(gateway, wasm_path)
    sent = {}
    for alg, kp in KPS.items():
        tok = token(kp, sub=f"user-{alg}", tenant_id=f"acme-{alg}", scope="orders:read orders:write",
                    org={"unit": f"unit-{alg}"})
        sent[alg] = tok
        n = len(upstream.requests)
        r = client.get(gw.port, f"/orders/{alg}",
                       headers=[("authorization", f"Bearer {tok}"), ("x-tenant-id", "evil-spoof"),
                                ("x-jwt-payload", "spoofed"), ("x-org-unit", "spoofed")])
        assert r.status == 200, f"{alg}: {r.status} {r.body[:300]!r}"
        assert len(upstream.requests) == n + 1, alg
        seen = upstream.last()
        assert seen["path"] == f"/orders/{alg}"
        h = seen["headers"]
        assert h.get("x-tenant-id") == f"acme-{alg}", f"{alg}: {h}"  # the spoof is replaced, not added to
        assert h.get("x-org-unit") == f"unit-{alg}", f"{alg}: nested claim: {h}"
        assert "authorization" not in h, f"{alg}: Authorization forwarded although forward=false"
        payload = json.loads(keys.b64url_decode(h["x-jwt-payload"]))
        assert payload == keys.split(tok)[1], f"{alg}: forward_payload_header"
        assert "=" not in h["x-jwt-payload"]  # base64url without padding

        # The same algorithm with a changed payload must be refused: the
        # signature really is checked for this algorithm.
        bad = keys.tamper_payload(tok, sub="mallory")
        r = client.get(gw.port, f"/orders/{alg}", client.bearer(bad))
        assert_problem(r, 401, "bad_signature", token=bad)
        assert len(upstream.requests) == n + 1, f"{alg}: a tampered token reached the upstream"

    lines = gw.wait_for_access_log(2 * len(KPS))
    records = [parse_access_line(ln) for ln in lines]
    assert len(records) == 2 * len(KPS), lines
    allowed = [r for r in records if r["status"] == 200]
    denied = [r for r in records if r["status"] == 401]
    assert len(allowed) == len(KPS) and len(denied) == len(KPS)
    for rec in denied:
        assert rec["identity"] is None, rec  # no identity for a refused token
    for rec in allowed:
        alg = rec["path"].rsplit("/", 1)[1]
        ident = rec["identity"]
        assert ident is not None, f"{alg}: no identity in the access log"
        assert ident["provider"] == "idp"
        assert ident["sub"] == f"user-{alg}"
        assert ident["iss"] == ISS
        assert ident["aud"] == [AUD]
        assert ident["scopes"] == ["orders:read", "orders:write"]
        assert ident["exp"] == keys.split(sent[alg])[1]["exp"]
        assert ident["claims"]["tenant_id"] == f"acme-{alg}"
        assert ident["claims"]["org"] == {"unit": f"unit-{alg}"}

    assert gw.counter("edgeward.jwt.allowed") == len(KPS)
    assert gw.counter("edgeward.jwt.denied") == len(KPS)
    assert gw.counter("edgeward.jwt.denied", reason="bad_signature") == len(KPS)


def test_forward_keeps_authorization_and_none_route_drops_spoofed_headers(gateway, upstream,
                                                                           wasm_path):
    gw = start_basic(gateway, wasm_path)
    tok = token(KPS["ES256"], tenant_id="acme", scp=["a", "b"])

    # forward: true -> the upstream gets the token too
    r = client.get(gw.port, "/fwd/x", headers=[("authorization", f"Bearer {tok}"),
                                                ("x-tenant-id", "evil")])
    assert r.status == 200, r.body
    h = upstream.last()["headers"]
    assert h.get("authorization") == f"Bearer {tok}"
    # x-tenant-id is an output header of edgeward: the client's copy never passes,
    # even on a route whose provider does not set it
    assert "x-tenant-id" not in h, h

    # the same token on a forward: false route: Authorization removed
    r = client.get(gw.port, "/orders", client.bearer(tok))
    assert r.status == 200, r.body
    assert "authorization" not in upstream.last()["headers"]
    assert upstream.last()["headers"]["x-tenant-id"] == "acme"

    # requires: none -> no token needed, but spoofed output headers are removed
    n = len(upstream.requests)
    r = client.get(gw.port, "/public/info",
                   headers=[("x-tenant-id", "evil"), ("x-org-unit", "evil"),
                            ("x-jwt-payload", keys.b64url(b'{"sub":"admin"}')),
                            ("x-other", "kept")])
    assert r.status == 200, r.body
    assert len(upstream.requests) == n + 1
    h = upstream.last()["headers"]
    for name in ("x-tenant-id", "x-org-unit", "x-jwt-payload"):
        assert name not in h, f"spoofed {name} reached the upstream on a none route: {h}"
    assert h["x-other"] == "kept"

    # Upper-case / repeated spoofs are removed too
    r = client.get(gw.port, "/public/x", headers=[("X-Tenant-Id", "evil1"), ("x-tenant-id", "evil2")])
    assert r.status == 200
    assert "x-tenant-id" not in upstream.last()["headers"]

    lines = [parse_access_line(ln) for ln in gw.wait_for_access_log(4)]
    assert lines[0]["identity"]["provider"] == "fwd"
    assert lines[0]["identity"]["scopes"] == ["a", "b"]  # from scp (array)
    assert lines[2]["identity"] is None  # none route: no identity


def test_token_locations_query_cookie_and_both(gateway, upstream, wasm_path):
    kp = KPS["EdDSA"]
    cfg = jwt_config({"multi": inline_provider(kp, **{"from": [
        {"header": "authorization", "prefix": "Bearer "},
        {"query": "access_token"},
        {"cookie": "at"},
    ]})})
    gw = gateway([jwt_filter(wasm_path, cfg)])

    def ok(path, headers=None, label=""):
        n = len(upstream.requests)
        r = client.get(gw.port, path, headers)
        assert r.status == 200, f"{label}: {r.status} {r.body[:300]!r}"
        assert len(upstream.requests) == n + 1, label
        return upstream.last()

    def denied(path, headers, status, reason, tok, label):
        n = len(upstream.requests)
        r = client.get(gw.port, path, headers)
        assert_problem(r, status, reason, token=tok)
        assert len(upstream.requests) == n, f"{label}: reached the upstream"

    t1 = token(kp, sub="one")
    t2 = token(kp, sub="two")
    bad = keys.tamper_payload(t2, sub="mallory")
    expired = token(kp, ttl=-3600)

    ok(f"/q?access_token={t1}", label="query")
    ok(f"/q?x=1&access_token={t1}&y=2", label="query among others")
    ok("/c", [("cookie", f"theme=dark; at={t1}; other=1")], label="cookie")
    ok("/h", [("authorization", f"bearer {t1}")], label="scheme is case-insensitive")

    # header AND query: both must verify
    ok(f"/hq?access_token={t2}", client.bearer(t1), label="header + query, both valid")
    denied(f"/hq?access_token={bad}", client.bearer(t1), 401, "bad_signature", bad,
           "header valid, query tampered")
    denied(f"/hq?access_token={t1}", client.bearer(bad), 401, "bad_signature", bad,
           "header tampered, query valid")
    denied(f"/hq?access_token={expired}", client.bearer(t1), 401, "expired", expired,
           "header valid, query expired")
    denied("/hc", [("authorization", f"Bearer {t1}"), ("cookie", f"at={bad}")], 401,
           "bad_signature", bad, "header valid, cookie tampered")

    # two tokens in the query: ambiguous
    denied(f"/qq?access_token={t1}&access_token={t2}", None, 400, "multiple_tokens", t1,
           "repeated query parameter")
    # nothing anywhere
    denied("/none?access_token_x=1", [("cookie", "atx=1")], 401, "missing_token", None, "missing")


def test_repeated_authorization_header_is_multiple_tokens(gateway, upstream, wasm_path):
    gw = start_basic(gateway, wasm_path)
    t1 = token(KPS["ES256"], sub="one")
    t2 = token(KPS["ES256"], sub="two")
    for label, headers in [
        ("two valid tokens", [("authorization", f"Bearer {t1}"), ("authorization", f"Bearer {t2}")]),
        ("same token twice", [("authorization", f"Bearer {t1}"), ("authorization", f"Bearer {t1}")]),
    ]:
        r = client.get(gw.port, "/orders", headers)
        try:
            assert_problem(r, 400, "multiple_tokens", token=t1)
        except AssertionError as e:
            raise AssertionError(f"{label}: {e}") from None
    assert upstream.requests == []
    assert gw.counter("edgeward.jwt.denied", reason="multiple_tokens") == 2


def test_cors_preflight_bypass_on_and_off(gateway, upstream, wasm_path):
    preflight = [("origin", "https://app.example"), ("access-control-request-method", "POST")]
    on = start_basic(gateway, wasm_path, bypass_cors_preflight=True)
    off = start_basic(gateway, wasm_path)

    r = client.request(on.port, "OPTIONS", "/orders", preflight)
    assert r.status == 200, r.body
    assert upstream.last()["method"] == "OPTIONS" and upstream.last()["path"] == "/orders"
    assert on.stat(STAT + "cors_preflight_bypassed") == 1
    n = len(upstream.requests)
    # not a preflight: an OPTIONS without access-control-request-method, or a GET
    assert_problem(client.request(on.port, "OPTIONS", "/orders", preflight[:1]), 401, "missing_token")
    assert_problem(client.request(on.port, "OPTIONS", "/orders", preflight[1:]), 401, "missing_token")
    assert_problem(client.request(on.port, "GET", "/orders", preflight), 401, "missing_token")
    assert len(upstream.requests) == n
    assert on.stat(STAT + "cors_preflight_bypassed") == 1

    # bypass off (the default): a preflight needs a token like anything else
    assert_problem(client.request(off.port, "OPTIONS", "/orders", preflight), 401, "missing_token")
    assert len(upstream.requests) == n
    assert off.stat(STAT + "cors_preflight_bypassed") == 0
    assert off.counter("edgeward.jwt.denied", reason="missing_token") == 1


def test_metrics_and_token_cache(gateway, upstream, wasm_path):
    gw = start_basic(gateway, wasm_path)
    kp = KPS["RS256"]
    tok = token(kp)
    # one keep-alive connection = one worker = one VM's token cache
    with client.Client(gw.port) as c:
        for i in range(3):
            r = c.get(f"/orders/{i}", client.bearer(tok))
            assert r.status == 200, r.body
        assert gw.stat(STAT + "token_cache.hit") == 2
        miss_after_valid = gw.stat(STAT + "token_cache.miss")
        assert miss_after_valid >= 1

        assert_problem(c.get("/orders"), 401, "missing_token")
        expired = token(kp, ttl=-3600)
        assert_problem(c.get("/orders", client.bearer(expired)), 401, "expired", token=expired)
        # a refused token is not cached: asking again is refused again, not a hit
        assert_problem(c.get("/orders", client.bearer(expired)), 401, "expired", token=expired)
        assert_problem(c.get("/orders", client.bearer("not-a-jwt")), 401, "malformed")
        assert gw.stat(STAT + "token_cache.hit") == 2

    assert len(upstream.requests) == 3
    stats = gw.stats(filter_regex=r"^wasmcustom\.edgeward\.jwt\.")
    assert gw.counter("edgeward.jwt.allowed") == 3, stats
    assert gw.counter("edgeward.jwt.denied") == 4, stats
    assert gw.counter("edgeward.jwt.denied", reason="missing_token") == 1, stats
    assert gw.counter("edgeward.jwt.denied", reason="expired") == 2, stats
    assert gw.counter("edgeward.jwt.denied", reason="malformed") == 1, stats
    assert gw.counter("edgeward.jwt.denied", reason="bad_signature") == 0, stats
