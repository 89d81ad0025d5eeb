"""PII filter through Envoy: PII of every kind in the path, query, headers,
cookies and JSON bodies (nested, arrays, unicode, split across chunks) never
reaches Envoy's log, the access log file or the collector, and each masked
form is exactly what its rule says. Look-alikes that are not PII (cards
failing Luhn or without an issuer, invalid IBANs and SSNs) stay as they are.
Pseudonyms are the same across requests and across both workers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time
from urllib.parse import quote

from harness import client, keys
from harness.envoy import cluster
from harness.jwt_e2e import AUD, ISS, inline_provider, jwt_config, jwt_filter
from harness.pii_e2e import (
    ACCESS_LOG_FORMAT, HASH_KEY, STAT, CollectorStub, assert_no_raw, pii_filter,
    records_with_threads, wait_access_lines, wait_records,
)

KP = keys.cached_keypair("ES256")

EMAIL = "bob.smith@example.com"
EMAIL_Q = "carol+tag@example.org"
EMAIL_UNICODE = "zoë@exämple.de"
CARD = "4111111111111111"
CARD_SPACED = "5555 5555 5555 4444"
CARD_DASHED = "3782-822463-10005"
IBAN = "DE89370400440532013000"
IBAN_SPACED = "GB82 WEST 1234 5698 7654 32"
SSN = "536-90-4399"
PHONE = "+1 415 555 0132"
IPV4 = "198.51.100.23"
IPV6 = "2001:db8:85a3::8a2e:370:7334"
JWT_LIKE = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
API_KEY = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
GH_TOKEN = "ghp_16C7e42F292c6912E7710c838347Ae178B4a"
SLACK = "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
PASSWORD = "hunter2-Very-Secret"
COOKIE_VALUE = "s3ss10n-c00kie-value"
DOB = "1984-02-29"

RAW = [EMAIL, EMAIL_Q, quote(EMAIL_Q, safe=""), EMAIL_UNICODE, CARD, CARD_SPACED, CARD_DASHED,
       IBAN, IBAN_SPACED, SSN, PHONE, IPV4, IPV6, JWT_LIKE, API_KEY, AWS_KEY, GH_TOKEN, SLACK,
       PASSWORD, COOKIE_VALUE, DOB, "zoë", "bob.smith"]

# Not PII: must stay exactly as sent.
LUHN_FAIL = "4111111111111112"
NO_ISSUER = "1234567812345670"          # Luhn-valid, no issuer has this prefix
BAD_IBAN = "DE89370400440532013001"     # mod-97 fails
BAD_SSN_AREA = "666-12-3456"
BAD_SSN_EXAMPLE = "078-05-1120"
NOT_PII = [LUHN_FAIL, NO_ISSUER, BAD_IBAN, BAD_SSN_AREA, BAD_SSN_EXAMPLE]


def pseudonym(label: str, value: str) -> str:
    mac = hmac.new(HASH_KEY.encode(), value.encode(), hashlib.sha256).hexdigest()
    return f"[HASH:{label}:{mac[:16]}]"


def partial(value: str, keep: int = 4) -> str:
    return "*" * (len(value) - keep) + value[-keep:]


def pii_config(collector: bool = True, **extra) -> dict:
    cfg = {
        "masking": {
            "hash": {"key": HASH_KEY},
            "detectors": {"email": {"action": "hash"},
                          "card": {"action": {"partial": {"keep_last": 4}}}},
            "json": {"extra_fields": ["dob"]},
        },
        "subject": "hash",
        "client_ip": {"action": "truncate"},
        "request_headers": ["user-agent", "referer", "authorization", "cookie", "x-contact",
                            "x-api-key", "x-forwarded-for", "x-note"],
        "response_headers": ["content-type", "set-cookie"],
        "body": {"request": True, "response": True, "max_bytes": 4096},
    }
    if collector:
        cfg["collector"] = {"cluster": "audit", "authority": "audit.test", "path": "/ingest",
                            "batch_records": 50, "flush_interval_ms": 100}
    cfg.update(extra)
    return cfg


def start(gateway, wasm_path, collector: CollectorStub, tmp_path, cfg=None, jwt=True,
          **kw):
    access = tmp_path / "access.log"
    filters = []
    if jwt:
        filters.append(jwt_filter(wasm_path, jwt_config(
            {"idp": inline_provider(KP, tenant_claim="tenant_id")},
            [{"match": {"prefix": "/public"}, "requires": "none"},
             {"match": {"prefix": "/"}, "requires": {"provider": "idp"}}])))
    filters.append(pii_filter(wasm_path, cfg or pii_config()))
    gw = gateway(filters, extra_clusters=[cluster("audit", collector.port)],
                 access_log_path=str(access), access_log_format=ACCESS_LOG_FORMAT, **kw)
    return gw, access


def user_token(sub=EMAIL, tenant="acme"):
    claims = keys.standard_claims(ISS, AUD, sub=sub)
    claims["tenant_id"] = tenant
    return keys.mint(KP, claims)


def everything(gw, access, collector) -> dict:
    return {"envoy log": gw.log_text(), "access log": access.read_text(),
            "collector": "\n".join(collector.batches())}


def chunked_post(port: int, path: str, chunks: list[bytes], headers: dict) -> int:
    """POST with Transfer-Encoding: chunked, each chunk its own write (values
    are split across chunks on purpose). Returns the status."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        head = f"POST {path} HTTP/1.1\r\nHost: api.test\r\nTransfer-Encoding: chunked\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        s.sendall(head.encode())
        for c in chunks:
            s.sendall(b"%x\r\n%s\r\n" % (len(c), c))
            time.sleep(0.02)  # shape the traffic: separate reads, separate body callbacks
        s.sendall(b"0\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            part = s.recv(65536)
            if not part:
                break
            data += part
        return int(data.split(b" ", 2)[1])


def test_pii_everywhere_is_masked_in_every_output(gateway, upstream, wasm_path, tmp_path):
    collector = CollectorStub().start()
    try:
        gw, access = start(gateway, wasm_path, collector, tmp_path)
        token = user_token()
        query = (f"?contact={quote(EMAIL_Q, safe='')}&acct={IBAN}&ref={CARD}"
                 f"&n1={LUHN_FAIL}&n2={NO_ISSUER}&n3={BAD_IBAN}&s1={BAD_SSN_AREA}"
                 f"&password={quote(PASSWORD)}")
        path = f"/customers/{EMAIL}/cards/{CARD}{query}"
        headers = [
            ("authorization", f"Bearer {token}"),
            ("user-agent", f"probe/1.0 (contact {EMAIL})"),
            ("referer", f"https://shop.example/checkout?card={CARD}&mail={EMAIL}"),
            ("cookie", f"session={COOKIE_VALUE}; theme=dark"),
            ("x-contact", f"call {PHONE} or mail {EMAIL}"),
            ("x-api-key", API_KEY),
            ("x-forwarded-for", f"{IPV4}, {IPV6}"),
            ("x-note", f"aws {AWS_KEY} gh {GH_TOKEN} slack {SLACK} jwt {JWT_LIKE} ssn {SSN}"),
            ("content-type", "application/json"),
        ]
        body = json.dumps({
            "customer": {"email": EMAIL, "password": PASSWORD, "dob": DOB,
                         "名前": "Zoë Ünïcode", "contact": EMAIL_UNICODE,
                         "addresses": [{"line": "1 Main St", "phone": PHONE}]},
            "payment": {"cards": [CARD_SPACED, {"pan": CARD_DASHED}], "account": IBAN_SPACED,
                        "notes": f"ssn {SSN}"},
            "lookalikes": NOT_PII + [BAD_SSN_EXAMPLE],
        }, ensure_ascii=False).encode()
        r = client.request(gw.port, "POST", path, headers, body)
        assert r.status == 200, r
        # The upstream got everything raw: the filter never changes traffic.
        assert upstream.last()["path"] == path

        rec = wait_records(gw, 1)[0]
        lines = wait_access_lines(access, 1)
        got = collector.wait_records(1)
        assert len(got) == 1 and got[0] == rec, "the collector gets the record as logged"
        assert_no_raw(everything(gw, access, collector), RAW)

        e, q = pseudonym("email", EMAIL), pseudonym("email", EMAIL_Q)
        assert rec["path"] == (
            f"/customers/{e}/cards/{partial(CARD)}?contact={q}&acct=[REDACTED:iban]"
            f"&ref={partial(CARD)}&n1={LUHN_FAIL}&n2={NO_ISSUER}&n3={BAD_IBAN}"
            f"&s1={BAD_SSN_AREA}&password=[REDACTED:param]")
        assert rec["method"] == "POST" and rec["status"] == 200
        assert rec["identity"] == {"provider": "idp", "subject": pseudonym("subject", EMAIL),
                                   "tenant": "acme"}
        # Envoy's downstream address: without use_remote_address, Envoy takes
        # the last x-forwarded-for entry (here IPV6), cut to its /48.
        assert rec["client_ip"] == "2001:db8:85a3::/48"
        h = rec["request_headers"]
        # The JWT filter removed the credential before the log phase.
        assert "authorization" not in h
        assert h["user-agent"] == f"probe/1.0 (contact {e})"
        assert h["referer"] == f"https://shop.example/checkout?card=[REDACTED:param]&mail={e}"
        assert h["cookie"] == "session=[REDACTED:cookie]; theme=[REDACTED:cookie]"
        assert h["x-contact"] == f"call [REDACTED:phone] or mail {e}"
        assert h["x-api-key"] == "[REDACTED:header]"
        assert h["x-forwarded-for"] == "[REDACTED:ipv4], [REDACTED:ipv6]"
        assert h["x-note"] == ("aws [REDACTED:api_key] gh [REDACTED:api_key] slack "
                               "[REDACTED:api_key] jwt [REDACTED:jwt] ssn [REDACTED:ssn]")
        b = rec["request_body"]
        assert b["bytes"] == len(body) and "truncated" not in b
        c = b["json"]["customer"]
        assert c["email"] == e
        assert c["password"] == "[REDACTED:field]" and c["dob"] == "[REDACTED:field]"
        assert c["名前"] == "Zoë Ünïcode"
        assert c["contact"] == pseudonym("email", EMAIL_UNICODE)
        assert c["addresses"] == [{"line": "1 Main St", "phone": "[REDACTED:phone]"}]
        p = b["json"]["payment"]
        assert p["cards"] == [partial(CARD_SPACED), {"pan": partial(CARD_DASHED)}]
        assert p["account"] == "[REDACTED:iban]" and p["notes"] == "ssn [REDACTED:ssn]"
        assert b["json"]["lookalikes"] == NOT_PII + [BAD_SSN_EXAMPLE]
        # The echoed response carries the request again (its body as a JSON
        # string): masked the same way.
        resp = json.dumps(rec["response_body"])
        assert "[REDACTED:field]" in resp and e in resp

        # The access log: masked values only, in the shipped format.
        line = lines[0]
        assert f" POST /customers/{e}/cards/{partial(CARD)}?" in line
        assert f"subject={pseudonym('subject', EMAIL)}" in line
        assert "tenant=acme" in line and "client=2001:db8:85a3::/48" in line
        assert f"ua=probe/1.0 (contact {e})" in line

        # Metrics by detector.
        assert gw.counter("edgeward.pii.records") >= 1
        for det in ("email", "card", "iban", "ssn", "phone", "api_key", "jwt", "field",
                    "cookie", "header", "subject"):
            assert gw.counter("edgeward.pii.redactions", detector=det) >= 1, det
    finally:
        collector.stop()


def test_values_split_across_body_chunks_are_masked(gateway, upstream, wasm_path, tmp_path):
    collector = CollectorStub().start()
    try:
        gw, access = start(gateway, wasm_path, collector, tmp_path, jwt=False)
        body = json.dumps({"items": [{"email": EMAIL, "card": CARD_SPACED, "n": CARD},
                                     {"nested": {"deeper": [IBAN, f"ssn {SSN}"]}}]}).encode()
        # Cut inside the email, inside the card and inside the IBAN.
        cuts = [body.index(b"@") - 2, body.index(CARD_SPACED[:9].encode()) + 4,
                body.index(IBAN.encode()) + 7]
        chunks, last = [], 0
        for c in cuts + [len(body)]:
            chunks.append(body[last:c])
            last = c
        status = chunked_post(gw.port, "/public/upload", chunks,
                              {"content-type": "application/json"})
        assert status == 200
        assert upstream.last()["body"] == body.decode()
        rec = wait_records(gw, 1)[0]
        collector.wait_records(1)
        assert_no_raw(everything(gw, access, collector), RAW)
        items = rec["request_body"]["json"]["items"]
        assert items[0]["email"] == pseudonym("email", EMAIL)
        assert items[0]["card"] == "[REDACTED:field]"  # "card" is a sensitive field name
        assert items[0]["n"] == partial(CARD)
        assert items[1]["nested"]["deeper"] == ["[REDACTED:iban]", "ssn [REDACTED:ssn]"]
        assert rec["request_body"]["bytes"] == len(body)
    finally:
        collector.stop()


def test_an_oversized_body_is_truncated_not_buffered(gateway, upstream, wasm_path, tmp_path):
    collector = CollectorStub().start()
    try:
        cfg = pii_config(body={"request": True, "max_bytes": 256})
        gw, access = start(gateway, wasm_path, collector, tmp_path, cfg=cfg, jwt=False)
        rows = [{"id": i, "email": EMAIL, "password": PASSWORD, "card": CARD} for i in range(4000)]
        body = json.dumps({"rows": rows}).encode()
        assert len(body) > 256 * 1000
        r = client.request(gw.port, "POST", "/public/bulk", {"content-type": "application/json"},
                           body)
        assert r.status == 200 and upstream.last()["body"] == body.decode()
        rec = wait_records(gw, 1)[0]
        b = rec["request_body"]
        assert b["truncated"] is True and b["bytes"] == len(body)
        assert len(json.dumps(b["json"])) < 1024
        assert b["json"]["rows"][0] == {"id": 0, "email": pseudonym("email", EMAIL),
                                        "password": "[REDACTED:field]",
                                        "card": "[REDACTED:field]"}
        collector.wait_records(1)
        assert_no_raw(everything(gw, access, collector), RAW)
    finally:
        collector.stop()


def test_pseudonyms_are_stable_across_requests_and_workers(gateway, upstream, wasm_path,
                                                           tmp_path):
    collector = CollectorStub().start()
    try:
        gw, access = start(gateway, wasm_path, collector, tmp_path, concurrency=2)
        token = user_token(sub="subject-42@example.com")
        # Two connections held open: exact balancing puts them on different workers.
        a, b = client.Client(gw.port), client.Client(gw.port)
        try:
            for i in range(6):
                conn = a if i % 2 == 0 else b
                r = conn.get(f"/u/{EMAIL}", {"authorization": f"Bearer {token}"})
                assert r.status == 200
        finally:
            a.close()
            b.close()
        recs = []
        deadline = time.monotonic() + 10
        while len(recs) < 6 and time.monotonic() < deadline:
            recs = records_with_threads(gw.log_text())
            time.sleep(0.05)
        assert len(recs) == 6
        threads = {t for t, _ in recs}
        assert len(threads) == 2, f"records from one worker only: {threads}"
        subjects = {r["identity"]["subject"] for _, r in recs}
        paths = {r["path"] for _, r in recs}
        assert subjects == {pseudonym("subject", "subject-42@example.com")}
        assert paths == {f"/u/{pseudonym('email', EMAIL)}"}
        collector.wait_records(6)
        assert {r["path"] for r in collector.received()} == paths
    finally:
        collector.stop()
