"""edgeward demo: a JWT-protected, tenant-authorizing, rate-limited gateway you can curl,
with masked audit records.

    make demo                      # or: .venv/bin/python tests/demo.py
    .venv/bin/python tests/demo.py --check   # run the curls itself, exit 0 if all pass

Starts the echo upstream on 127.0.0.1:10001 and Envoy with envoy/demo.yaml
(listener 127.0.0.1:10000, admin 127.0.0.1:9901; the edgeward JWT and tenant
filters in one entry from dist/edgeward_edge.wasm, then the
schema filter from dist/edgeward_schema.wasm, then the
rate-limit filter from dist/edgeward_ratelimit.wasm, then the PII audit filter from
dist/edgeward_pii.wasm), mints demo tokens with the DEMO-ONLY key
envoy/demo/demo-es256-private.pem, prints ready-to-paste curl commands, and
waits. Ctrl-C (SIGINT) or SIGTERM stops both processes.
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "tests" / "e2e"))

from harness import client, keys  # noqa: E402
from harness.envoy import WORK_ROOT, EnvoyProcess, EnvoyStartError  # noqa: E402
from harness.ports import wait_for_port  # noqa: E402

GATEWAY_PORT, ADMIN_PORT, ECHO_PORT = 10000, 9901, 10001
CONFIG = REPO_ROOT / "envoy" / "demo.yaml"
EDGE_WASM = REPO_ROOT / "dist" / "edgeward_edge.wasm"
WASM_RATELIMIT = REPO_ROOT / "dist" / "edgeward_ratelimit.wasm"
SCHEMA_WASM = REPO_ROOT / "dist" / "edgeward_schema.wasm"
PII_WASM = REPO_ROOT / "dist" / "edgeward_pii.wasm"
AUDIT_PREFIX = "edgeward-audit "
# What the PII scenarios send; none of it may appear in Envoy's log or the access log.
PII_EMAIL, PII_CARD, PII_IBAN = "bob@example.com", "4111111111111111", "DE89370400440532013000"
PII_PHONE, PII_PASSWORD, PII_COOKIE = "+1 415 555 0132", "hunter2-secret", "s3ss10n-v4lue"
PII_RAW = [PII_EMAIL, PII_CARD, PII_IBAN, PII_PHONE, PII_PASSWORD, PII_COOKIE]
DEMO_KEY = REPO_ROOT / "envoy" / "demo" / "demo-es256-private.pem"
ISSUER, AUDIENCE = "https://idp.demo.edgeward.local", "orders-api"
BASE = f"http://127.0.0.1:{GATEWAY_PORT}"


def mint_tokens() -> dict[str, str]:
    kp = keys.KeyPair.from_private_pem(DEMO_KEY.read_bytes(), "ES256", "demo-es256")
    extra = {"tenant_id": "acme", "scope": "orders:read orders:write invoices:read"}
    valid = keys.mint(kp, keys.standard_claims(ISSUER, AUDIENCE, sub="alice", ttl=3600, **extra))
    t = keys.now()
    expired_claims = keys.standard_claims(ISSUER, AUDIENCE, sub="alice", **extra)
    expired_claims.update(iat=t - 7200, exp=t - 3600)  # far beyond the 60 s clock skew
    expired = keys.mint(kp, expired_claims)
    tampered = keys.tamper_payload(valid, tenant_id="evil-corp")  # signature no longer matches
    noscope = keys.mint(kp, keys.standard_claims(ISSUER, AUDIENCE, sub="bob", ttl=3600,
                                                 tenant_id="acme", scope="profile"))
    return {"VALID": valid, "EXPIRED": expired, "TAMPERED": tampered, "NOSCOPE": noscope}


def scenarios() -> list[dict]:
    """The demo checks: what to send and what the gateway must answer.

    `tenant`: expected x-tenant-id as the upstream saw it (None: must be absent).
    """
    return [
        dict(name="health, no token", path="/health", token=None, status=200),
        dict(name="orders, no token", path="/orders", token=None, status=401),
        dict(name="orders, valid token", path="/orders", token="VALID", status=200, tenant="acme"),
        dict(name="orders, token in ?access_token", path="/orders?access_token=$VALID",
             token=None, status=200, tenant="acme"),
        dict(name="orders, expired token", path="/orders", token="EXPIRED", status=401),
        dict(name="orders, tampered token", path="/orders", token="TAMPERED", status=401),
        dict(name="orders, valid token + spoofed x-tenant-id", path="/orders", token="VALID",
             spoof="evil-corp", status=200, tenant="acme"),
        dict(name="health, spoofed x-tenant-id (must not reach upstream)", path="/health",
             token=None, spoof="evil-corp", status=200, tenant=None),
        dict(name="path parameter trick (a servlet container reads /health): 400 non_canonical_path",
             path="/health;x=1", token=None, status=400),
        # Rate limits: 3 searches per minute per tenant; the 4th is 429 with
        # Retry-After, RateLimit-Policy / RateLimit and a quota-exceeded problem.
        dict(name="search burst, 4 curls: 3 x 200 then 429 (policy search-per-tenant)",
             path="/search", token="VALID", repeat=4, statuses=[200, 200, 200, 429],
             status=429, limited_by="search-per-tenant"),
        dict(name="orders still allowed: another policy, its RateLimit header on the 200",
             path="/orders", token="VALID", status=200, tenant="acme", ratelimit="per-tenant"),
        # Tenant authorization (edgeward_tenant): the token is acme's.
        dict(name="own tenant's invoices", path="/tenants/acme/invoices/1", token="VALID",
             status=200, tenant="acme"),
        dict(name="cross-tenant: acme's token on globex's invoices: 403 tenant_mismatch",
             path="/tenants/globex/invoices/1", token="VALID", status=403, reason="tenant_mismatch"),
        dict(name="spoofed x-tenant-id: globex is replaced by the token's acme",
             path="/tenants/acme/invoices/1", token="VALID", spoof="globex", status=200, tenant="acme"),
        dict(name="missing scope: 403 missing_scope with WWW-Authenticate insufficient_scope",
             path="/orders", token="NOSCOPE", status=403, reason="missing_scope"),
        # Schema enforcement (edgeward_schema): POST /orders against the order contract.
        dict(name="create order, valid body (reaches the upstream byte for byte)", path="/orders",
             token="VALID", method="POST", body='{"sku": "ABC-123", "qty": 2}',
             headers={"content-type": "application/json"}, status=200, echo_body=True),
        dict(name="create order, schema violation: 400 problem+json listing each violation",
             path="/orders", token="VALID", method="POST",
             body='{"sku": "abc", "qty": 0, "isAdmin": true}',
             headers={"content-type": "application/json"}, status=400, reason="schema_violation"),
        dict(name="create order, oversized body (70 KB > 64 KB): 413", path="/orders",
             token="VALID", method="POST", big=70_000,
             headers={"content-type": "application/json"}, status=413, reason="body_too_large"),
        dict(name="a request full of PII: 200, its audit record is masked",
             path=f"/orders/{PII_EMAIL}?card={PII_CARD}&acct={PII_IBAN}", token="VALID",
             method="POST", request_id="demo-pii-1",
             headers={"cookie": f"session={PII_COOKIE}", "x-contact": f"call {PII_PHONE}",
                      "content-type": "application/json"},
             body=json.dumps({"customer": {"email": PII_EMAIL, "password": PII_PASSWORD,
                                           "cards": [PII_CARD]}, "iban": PII_IBAN}),
             status=200, audit={"status": 200}),
        dict(name="a denied request with PII: 401, its audit record names the JWT reason",
             path=f"/orders?email={PII_EMAIL}", token=None, request_id="demo-pii-2",
             status=401, audit={"status": 401, "denied": {"filter": "jwt", "reason": "missing_token"}}),
    ]


def curl_line(s: dict) -> str:
    if s.get("repeat"):
        one = curl_line({k: v for k, v in s.items() if k != "repeat"})
        return f"for i in $(seq {s['repeat']}); do {one}; echo; done"
    parts = [f"head -c {s['big']} /dev/zero | tr '\\0' ' ' |"] if s.get("big") else []
    parts.append("curl -s -i --path-as-is")
    if s.get("big"):
        parts.append("--data-binary @-")
    if s.get("method"):
        parts.append(f"-X {s['method']}")
    if s.get("request_id"):
        parts.append(f'-H "x-request-id: {s["request_id"]}"')
    for k, v in s.get("headers", {}).items():
        parts.append(f"-H {shlex.quote(f'{k}: {v}')}")
    if s.get("body"):
        parts.append(f"--data {shlex.quote(s['body'])}")
    if s.get("token"):
        parts.append(f'-H "Authorization: Bearer ${s["token"]}"')
    if s.get("spoof"):
        parts.append(f'-H "x-tenant-id: {s["spoof"]}"')
    parts.append(f'"{BASE}{s["path"]}"')
    return " ".join(parts)


def audit_record(envoy: EnvoyProcess, request_id: str, timeout: float = 5.0) -> dict | None:
    """The audit record of the request with this x-request-id, from Envoy's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in envoy.log_text().splitlines():
            if AUDIT_PREFIX in line:
                rec = json.loads(line.split(AUDIT_PREFIX, 1)[1])
                if rec.get("request_id") == request_id:
                    return rec
        time.sleep(0.05)
    return None


def check_audit(envoy: EnvoyProcess, s: dict) -> list[str]:
    rec = audit_record(envoy, s["request_id"])
    if rec is None:
        return ["no audit record in Envoy's log"]
    problems = [f"record {k}={rec.get(k)!r}, expected {v!r}" for k, v in s["audit"].items()
                if rec.get(k) != v]
    logs = envoy.log_text() + envoy.stdout_text()
    problems += [f"raw {raw!r} in the logs" for raw in PII_RAW if raw in logs]
    print("      audit record: " + json.dumps(rec, ensure_ascii=False))
    return problems


def run_check(tokens: dict[str, str], envoy: EnvoyProcess) -> bool:
    ok_all = True
    for s in scenarios():
        path = s["path"].replace("$VALID", tokens["VALID"])
        headers = []
        if s.get("token"):
            headers.append(("authorization", f"Bearer {tokens[s['token']]}"))
        if s.get("spoof"):
            headers.append(("x-tenant-id", s["spoof"]))
        if s.get("request_id"):
            headers.append(("x-request-id", s["request_id"]))
        headers += list(s.get("headers", {}).items())
        try:
            seen_statuses = []
            for _ in range(s.get("repeat", 1)):
                body = b" " * s["big"] if s.get("big") else s.get("body")
                r = client.request(GATEWAY_PORT, s.get("method", "GET"), path, headers=headers,
                                   body=body, timeout=10)
                seen_statuses.append(r.status)
        except OSError as e:
            print(f"FAIL  {s['name']}: {e}")
            ok_all = False
            continue
        problems = []
        if "statuses" in s and seen_statuses != s["statuses"]:
            problems.append(f"statuses {seen_statuses}, expected {s['statuses']}")
        if s.get("limited_by"):
            try:
                body = r.json()
            except ValueError:
                body = {}
            if body.get("policy") != s["limited_by"] or "retry-after" not in r.headers \
                    or f'"{s["limited_by"]}";' not in r.headers.get("ratelimit", ""):
                problems.append(f"no 429 problem/headers of {s['limited_by']}: {r.headers} {body}")
        if s.get("ratelimit") and f'"{s["ratelimit"]}";' not in r.headers.get("ratelimit", ""):
            problems.append(f"no RateLimit header for {s['ratelimit']}")
        if r.status != s["status"]:
            problems.append(f"status {r.status}, expected {s['status']}")
        elif "reason" in s and r.json().get("reason") != s["reason"]:
            problems.append(f"reason {r.json().get('reason')!r}, expected {s['reason']!r}")
        elif r.status == 200 and "tenant" in s:
            try:
                seen = r.json()["headers"].get("x-tenant-id")
            except ValueError:
                seen = "<not an echo response>"
            if seen != s["tenant"]:
                problems.append(f"upstream saw x-tenant-id={seen!r}, expected {s['tenant']!r}")
        if not problems and s.get("echo_body"):
            try:
                seen_body = r.json().get("body")
            except ValueError:
                seen_body = None
            if seen_body != s["body"]:
                problems.append("the upstream did not receive the body byte for byte")
        if not problems and "audit" in s:
            problems += check_audit(envoy, s)
        verdict = "ok  " if not problems else "FAIL"
        print(f"{verdict}  {r.status}  {s['name']}" + (f"  ({'; '.join(problems)})" if problems else ""))
        ok_all &= not problems
    return ok_all


def port_free(port: int) -> bool:
    with socket.socket() as s:
        # SO_REUSEADDR: TIME_WAIT leftovers of a previous run do not count as busy.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true",
                    help="run the demo requests, print statuses, exit 0 only if all match")
    args = ap.parse_args(argv)

    for wasm in (EDGE_WASM, SCHEMA_WASM, WASM_RATELIMIT, PII_WASM):
        if not wasm.is_file():
            print(f"{wasm.relative_to(REPO_ROOT)} is missing: run `make wasm` (make demo does it)")
            return 1
    busy = [p for p in (GATEWAY_PORT, ADMIN_PORT, ECHO_PORT) if not port_free(p)]
    if busy:
        print(f"port(s) {busy} on 127.0.0.1 are in use (another demo running?): stop it first")
        return 1

    stop_requested = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop_requested.set())

    workdir = WORK_ROOT / "demo"
    echo = subprocess.Popen([sys.executable, str(REPO_ROOT / "tests/e2e/harness/echo_upstream.py"),
                             "--port", str(ECHO_PORT)], stdin=subprocess.DEVNULL)
    envoy = EnvoyProcess(config_path=CONFIG, admin_port=ADMIN_PORT, listener_ports=[GATEWAY_PORT],
                         concurrency=2, log_level="info", cwd=REPO_ROOT, workdir=workdir,
                         inherit_stdout=not args.check)
    try:
        if not wait_for_port(ECHO_PORT, timeout=10):
            print("echo upstream did not start")
            return 1
        try:
            envoy.start(timeout=120)  # V8 compiles the schema module (4.6 MB) at start
        except EnvoyStartError as e:
            print(e)
            return 1
        print(f"Envoy ready in {envoy.startup_seconds:.2f}s; its log: {envoy.log_path}")
        tokens = mint_tokens()
        if args.check:
            ok = run_check(tokens, envoy)
            print("demo check:", "all passed" if ok else "FAILED")
            return 0 if ok else 1

        print("\nedgeward demo gateway on", BASE, "(admin http://127.0.0.1:9901)\n")
        print("# Demo tokens (signed with the DEMO-ONLY key; paste these into your shell):")
        for name, tok in tokens.items():
            print(f"{name}={shlex.quote(tok)}")
        print()
        for s in scenarios():
            expect = f"expect {s['status']}" + (f" {s['reason']}" if "reason" in s else "")
            if "tenant" in s:
                expect += (f", echo shows x-tenant-id: {s['tenant']}" if s["tenant"]
                           else ", echo shows no x-tenant-id")
            if "audit" in s:
                expect += f", then Envoy's log shows its masked `{AUDIT_PREFIX.strip()}` record"
            print(f"# {s['name']}: {expect}")
            print(curl_line(s))
        print("\nAccess log below. Ctrl-C to stop.\n", flush=True)
        while not stop_requested.wait(0.5):
            # A terminal's Ctrl-C reaches Envoy too; give our handler a moment first.
            if not envoy.is_running() and not stop_requested.wait(0.3):
                print(f"Envoy exited (code {envoy.returncode}):\n{envoy.log_tail()}")
                return 1
            if echo.poll() is not None and not stop_requested.wait(0.3):
                print(f"echo upstream exited (code {echo.returncode})")
                return 1
        print("\nstopping ...")
        return 0
    finally:
        envoy.stop()
        if echo.poll() is None:
            echo.terminate()
            try:
                echo.wait(timeout=5)
            except subprocess.TimeoutExpired:
                echo.kill()
                echo.wait()


if __name__ == "__main__":
    sys.exit(main())
