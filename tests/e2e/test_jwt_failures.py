"""JWT filter against hostile and malformed tokens (inline keys).

One gateway serves the whole table (module scope: an Envoy with the Wasm VMs
takes ~2 s to start). For every case: exact status and reason, the
WWW-Authenticate form, `application/problem+json`, the token not echoed, and
nothing forwarded. Afterwards: the metrics add up, the log shows no crash and
a valid token still passes (the VMs are alive).
"""

from __future__ import annotations

import collections
import hmac
import json
import os
from dataclasses import dataclass
from typing import Callable

import pytest
from cryptography.hazmat.primitives import serialization

from harness import client, keys
from harness.envoy import WORK_ROOT, EnvoyProcess, gateway_config
from harness.jwt_e2e import (
    AUD, ISS, STAT, assert_problem, inline_provider, jwt_config, jwt_filter, token,
)
from harness.ports import free_port

RSA = keys.cached_keypair("RS256")
EC = keys.cached_keypair("ES256")
HS = keys.cached_keypair("HS256")
PS = keys.cached_keypair("PS256")  # a valid key, but PS256 is not in the allowlist
MAX_LIFETIME = 3600

CONFIG = jwt_config(
    {
        "idp": inline_provider(RSA, EC, HS, max_lifetime_s=MAX_LIFETIME),
        "typed": inline_provider(RSA, typ="at+jwt"),
    },
    [
        {"match": {"prefix": "/typed"}, "requires": {"provider": "typed"}},
        {"match": {"prefix": "/"}, "requires": {"provider": "idp"}},
    ],
)


@pytest.fixture(scope="module")
def other_rsa() -> keys.KeyPair:
    """Another RSA key that claims the kid of the configured one."""
    return keys.KeyPair.generate("RS256", kid=RSA.kid)


@pytest.fixture(scope="module")
def shared_gw(_echo_server, wasm_path):
    cfg = gateway_config(free_port(), free_port(), _echo_server.port, [jwt_filter(wasm_path, CONFIG)])
    proc = EnvoyProcess(cfg, concurrency=2, workdir=WORK_ROOT / "e2e" / "test_jwt_failures-table")
    proc.start()
    yield proc
    proc.stop()
    crash = proc.crash_lines()
    if crash:
        pytest.fail(f"Wasm crash markers in {proc.log_path}:\n  " + "\n  ".join(crash[:20]),
                    pytrace=False)


# --------------------------------------------------------------- token makers

def b64(data) -> str:
    return keys.b64url(data if isinstance(data, bytes) else data.encode())


def claims(**over) -> dict:
    c = keys.standard_claims(ISS, AUD)
    c["jti"] = b64(os.urandom(9))
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def signed(kp: keys.KeyPair, header: bytes | dict, payload: bytes | dict, alg: str | None = None) -> str:
    """Signs exactly these header/payload bytes with kp (duplicate members possible)."""
    h = header if isinstance(header, bytes) else json.dumps(header).encode()
    p = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    si = f"{b64(h)}.{b64(p)}"
    return si + "." + keys.b64url(kp.sign(si.encode(), alg))


def hs256_with_secret(secret: bytes, kid: str | None) -> str:
    header = {"alg": "HS256", "typ": "JWT"}
    if kid:
        header["kid"] = kid
    si = f"{b64(json.dumps(header))}.{b64(json.dumps(claims()))}"
    return si + "." + keys.b64url(hmac.new(secret, si.encode(), "sha256").digest())


def unsigned(alg: str, signature: bytes = b"") -> str:
    return f"{b64(json.dumps({'alg': alg, 'typ': 'JWT'}))}.{b64(json.dumps(claims()))}.{keys.b64url(signature)}"


def rsa_public_der() -> bytes:
    return RSA.public_key.public_bytes(serialization.Encoding.DER,
                                       serialization.PublicFormat.SubjectPublicKeyInfo)


def rsa_public_pkcs1_pem() -> bytes:
    return RSA.public_key.public_bytes(serialization.Encoding.PEM,
                                       serialization.PublicFormat.PKCS1)


def insert_at(tok: str, i: int, s: str) -> str:
    return tok[:i] + s + tok[i:]


# --------------------------------------------------------------- the table

@dataclass
class Case:
    id: str
    # () -> authorization header value (None: no header); other_rsa is passed in
    make: Callable[[keys.KeyPair], str | None]
    status: int
    reason: str
    path: str = "/orders"


def bearer(make):
    return lambda o: "Bearer " + make(o)


CASES = [
    # --- no token / not a token
    Case("no_authorization_header", lambda o: None, 401, "missing_token"),
    Case("other_scheme_basic", lambda o: "Basic dXNlcjpwYXNz", 401, "missing_token"),
    # extract.rs: "an empty bearer is an empty token, not a missing one" -> malformed
    Case("empty_bearer", lambda o: "Bearer ", 401, "malformed"),
    Case("garbage", lambda o: "Bearer garbage!!#$%", 401, "malformed"),
    Case("two_parts", bearer(lambda o: token(RSA).rsplit(".", 1)[0]), 401, "malformed"),
    Case("four_parts", bearer(lambda o: token(RSA) + ".c2ln"), 401, "malformed"),
    Case("jwe_like_five_parts", bearer(lambda o: ".".join([
        b64('{"alg":"RSA-OAEP","enc":"A256GCM","kid":"test-rs256"}'),
        b64(os.urandom(256)), b64(os.urandom(12)), b64(os.urandom(64)), b64(os.urandom(16))])),
        401, "malformed"),
    Case("whitespace_inside", bearer(lambda o: insert_at(token(RSA), 40, " ")), 401, "malformed"),
    Case("tab_inside", bearer(lambda o: insert_at(token(RSA), 40, "\t")), 401, "malformed"),
    # UTF-8 bytes on the wire (latin-1 is how http.client sends str header values)
    Case("unicode_in_token", bearer(lambda o: insert_at(token(RSA), 30, "é✓").encode().decode("latin-1")),
         401, "malformed"),
    Case("long_7kb_value_not_a_token", lambda o: "Bearer " + "A" * 7000, 401, "malformed"),
    Case("token_9kb", bearer(lambda o: token(RSA, pad="x" * 9 * 1024)), 401, "token_too_large"),
    Case("padded_base64", bearer(lambda o: (lambda t: insert_at(t, t.index("."), "="))(token(RSA))), 401,
         "malformed"),
    Case("standard_base64_alphabet", bearer(lambda o: token(RSA)[:-2] + "+/"), 401, "malformed"),
    Case("empty_signature_rs256", bearer(lambda o: token(RSA).rsplit(".", 1)[0] + "."), 401, "malformed"),
    Case("header_not_an_object", bearer(lambda o: signed(RSA, b'"RS256"', claims())), 401, "malformed"),
    Case("payload_is_an_array", bearer(lambda o: signed(RSA, {"alg": "RS256", "kid": RSA.kid}, b"[1,2]")),
         401, "malformed"),
    Case("payload_not_json", bearer(lambda o: signed(RSA, {"alg": "RS256", "kid": RSA.kid}, b"sub=admin")),
         401, "malformed"),
    Case("duplicate_alg_member", bearer(lambda o: signed(
        RSA, b'{"alg":"RS256","kid":"test-rs256","alg":"none"}', claims())), 401, "malformed"),
    Case("duplicate_sub_member", bearer(lambda o: signed(
        RSA, {"alg": "RS256", "kid": RSA.kid},
        json.dumps(claims(sub="user-1"))[:-1].encode() + b',"sub":"admin"}')), 401, "malformed"),
    Case("crit_header", bearer(lambda o: keys.mint(RSA, claims(), headers={"crit": ["exp"]})), 401,
         "malformed"),
    Case("b64_false_header", bearer(lambda o: keys.mint(RSA, claims(), headers={"b64": False})),
         401, "malformed"),
    Case("enc_header", bearer(lambda o: keys.mint(RSA, claims(), headers={"enc": "A256GCM"})), 401,
         "malformed"),
    Case("kid_not_a_string", bearer(lambda o: keys.mint(RSA, claims(), headers={"kid": 7})), 401,
         "malformed"),
    Case("exp_as_string", bearer(lambda o: keys.mint(RSA, claims(exp=str(keys.now() + 300)))), 401,
         "malformed"),
    Case("nbf_as_bool", bearer(lambda o: keys.mint(RSA, claims(nbf=True))), 401, "malformed"),
    Case("aud_as_number", bearer(lambda o: keys.mint(RSA, claims(aud=123))), 401, "malformed"),
    Case("aud_array_with_number", bearer(lambda o: keys.mint(RSA, claims(aud=[AUD, 1]))), 401, "malformed"),
    # --- algorithm attacks
    Case("alg_none_unsigned", bearer(lambda o: unsigned("none")), 401, "alg_not_allowed"),
    Case("alg_None_unsigned", bearer(lambda o: unsigned("None")), 401, "alg_not_allowed"),
    Case("alg_NONE_signed", bearer(lambda o: unsigned("NONE", os.urandom(32))), 401, "alg_not_allowed"),
    Case("alg_nOnE_signed_by_rsa", bearer(lambda o: signed(RSA, {"alg": "nOnE", "kid": RSA.kid}, claims(),
                                                           alg="RS256")), 401, "alg_not_allowed"),
    Case("alg_none_signed", bearer(lambda o: unsigned("none", os.urandom(256))), 401, "alg_not_allowed"),
    Case("alg_unknown_HS257", bearer(lambda o: unsigned("HS257", os.urandom(32))), 401, "alg_not_allowed"),
    Case("alg_lowercase_rs256", bearer(lambda o: signed(RSA, {"alg": "rs256", "kid": RSA.kid}, claims(),
                                                        alg="RS256")), 401, "alg_not_allowed"),
    Case("alg_PS256_not_in_allowlist", bearer(lambda o: token(PS)), 401, "alg_not_allowed"),
    Case("alg_RS512_not_in_allowlist", bearer(lambda o: keys.mint(RSA, claims(), alg="RS512")), 401,
         "alg_not_allowed"),
    Case("rs256_to_hs256_pem_secret_rsa_kid", bearer(lambda o: hs256_with_secret(RSA.public_pem(), RSA.kid)),
         401, "key_alg_mismatch"),
    Case("rs256_to_hs256_pkcs1_pem_secret_rsa_kid",
         bearer(lambda o: hs256_with_secret(rsa_public_pkcs1_pem(), RSA.kid)), 401, "key_alg_mismatch"),
    Case("rs256_to_hs256_der_secret_rsa_kid", bearer(lambda o: hs256_with_secret(rsa_public_der(), RSA.kid)),
         401, "key_alg_mismatch"),
    # without a kid the oct key is the only candidate: it does not verify
    Case("rs256_to_hs256_pem_secret_no_kid", bearer(lambda o: hs256_with_secret(RSA.public_pem(), None)),
         401, "bad_signature"),
    Case("es256_alg_with_rsa_kid", bearer(lambda o: keys.mint(EC, claims(), headers={"kid": RSA.kid})),
         401, "key_alg_mismatch"),
    # --- keys and signatures
    Case("unknown_kid", bearer(lambda o: keys.mint(o, claims(), headers={"kid": "no-such-kid"})), 401,
         "unknown_kid"),
    Case("bad_signature_tampered_payload", bearer(lambda o: keys.tamper_payload(token(RSA), sub="admin")),
         401, "bad_signature"),
    Case("bad_signature_flipped_bit", bearer(lambda o: (lambda t: t[:-4] + ("A" if t[-4] != "A" else "B")
                                                       + t[-3:])(token(EC))), 401, "bad_signature"),
    Case("another_key_same_kid", bearer(lambda o: token(o)), 401, "bad_signature"),
    Case("hs256_wrong_secret_same_kid", bearer(lambda o: hs256_with_secret(os.urandom(32), HS.kid)), 401,
         "bad_signature"),
    # --- claims
    Case("typ_mismatch", bearer(lambda o: token(RSA)), 401, "typ_mismatch", path="/typed/x"),
    Case("typ_missing", bearer(lambda o: token(RSA, headers={"typ": None})), 401, "typ_mismatch",
         path="/typed/x"),
    Case("expired", bearer(lambda o: keys.mint(RSA, claims(iat=keys.now() - 4000, exp=keys.now() - 3600))),
         401, "expired"),
    Case("nbf_in_future", bearer(lambda o: keys.mint(RSA, claims(nbf=keys.now() + 600, exp=keys.now() + 900))),
         401, "not_yet_valid"),
    Case("iat_in_future", bearer(lambda o: keys.mint(RSA, claims(iat=keys.now() + 600, exp=keys.now() + 900))),
         401, "not_yet_valid"),
    Case("missing_exp", bearer(lambda o: keys.mint(RSA, claims(exp=None))), 401, "missing_exp"),
    Case("lifetime_too_long", bearer(lambda o: keys.mint(RSA, claims(exp=keys.now() + 2 * MAX_LIFETIME))),
         401, "lifetime_too_long"),
    Case("wrong_issuer", bearer(lambda o: keys.mint(RSA, claims(iss="https://evil.example"))), 401,
         "issuer_mismatch"),
    Case("issuer_with_trailing_slash", bearer(lambda o: keys.mint(RSA, claims(iss=ISS + "/"))), 401,
         "issuer_mismatch"),
    Case("missing_issuer", bearer(lambda o: keys.mint(RSA, claims(iss=None))), 401, "issuer_mismatch"),
    Case("wrong_audience", bearer(lambda o: keys.mint(RSA, claims(aud="other-api"))), 401, "audience_mismatch"),
    Case("wrong_audience_list", bearer(lambda o: keys.mint(RSA, claims(aud=["x", "y"]))), 401,
         "audience_mismatch"),
    Case("missing_audience", bearer(lambda o: keys.mint(RSA, claims(aud=None))), 401, "audience_mismatch"),
]

# reason codes the shared gateway really answered (for the metric totals)
_answered: list[str] = []


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_token_is_refused(case: Case, shared_gw, upstream, other_rsa):
    value = case.make(other_rsa)
    headers = [] if value is None else [("authorization", value)]
    tok = None
    if value is not None and value.lower().startswith("bearer "):
        tok = value[7:].strip() or None
    r = client.get(shared_gw.port, case.path, headers)
    try:
        _answered.append(json.loads(r.body)["reason"])
    except (ValueError, KeyError, TypeError):
        _answered.append(f"<no reason: {r.status}>")
    assert_problem(r, case.status, case.reason, token=tok)
    assert upstream.requests == [], "a refused request reached the upstream"


def test_afterwards_metrics_add_up_no_crash_and_valid_tokens_pass(shared_gw, upstream):
    # Valid tokens still pass (on both workers: several fresh connections).
    for i in range(6):
        kp = (RSA, EC, HS)[i % 3]
        r = client.get(shared_gw.port, f"/orders/{i}", client.bearer(token(kp)))
        assert r.status == 200, r.body
    r = client.get(shared_gw.port, "/typed/ok", client.bearer(token(RSA, headers={"typ": "at+jwt"})))
    assert r.status == 200, r.body
    # typ is compared case-insensitively, "application/" optional (RFC 7515 4.1.9)
    r = client.get(shared_gw.port, "/typed/ok",
                   client.bearer(token(RSA, headers={"typ": "application/AT+JWT"})))
    assert r.status == 200, r.body
    # clock skew: expired 30 s ago is within the default 60 s
    r = client.get(shared_gw.port, "/orders/skew",
                   client.bearer(keys.mint(RSA, claims(iat=keys.now() - 300, exp=keys.now() - 30))))
    assert r.status == 200, r.body
    assert len(upstream.requests) == 9

    stats = shared_gw.stats(filter_regex=r"^wasmcustom\.edgeward\.jwt\.")
    assert shared_gw.counter("edgeward.jwt.allowed") == 9, stats
    # the metrics agree with what the clients were told
    assert shared_gw.counter("edgeward.jwt.denied") == len(_answered), stats
    for reason, n in collections.Counter(_answered).items():
        assert shared_gw.counter("edgeward.jwt.denied", reason=reason) == n, (reason, stats)

    assert shared_gw.is_running()
    assert shared_gw.crash_lines() == []
