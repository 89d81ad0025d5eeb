"""edgeward demo: a JWT-protected gateway you can curl.

    make demo                      # or: .venv/bin/python tests/demo.py
    .venv/bin/python tests/demo.py --check   # run the curls itself, exit 0 if all pass

Starts the echo upstream on 127.0.0.1:10001 and Envoy with envoy/demo.yaml
(listener 127.0.0.1:10000, admin 127.0.0.1:9901; the edgeward JWT filter from
dist/edgeward_jwt.wasm), mints demo tokens with the DEMO-ONLY key
envoy/demo/demo-es256-private.pem, prints ready-to-paste curl commands, and
waits. Ctrl-C (SIGINT) or SIGTERM stops both processes.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "tests" / "e2e"))

from harness import client, keys  # noqa: E402
from harness.envoy import WORK_ROOT, EnvoyProcess, EnvoyStartError  # noqa: E402
from harness.ports import wait_for_port  # noqa: E402

GATEWAY_PORT, ADMIN_PORT, ECHO_PORT = 10000, 9901, 10001
CONFIG = REPO_ROOT / "envoy" / "demo.yaml"
WASM = REPO_ROOT / "dist" / "edgeward_jwt.wasm"
SCHEMA_WASM = REPO_ROOT / "dist" / "edgeward_schema.wasm"
DEMO_KEY = REPO_ROOT / "envoy" / "demo" / "demo-es256-private.pem"
ISSUER, AUDIENCE = "https://idp.demo.edgeward.local", "orders-api"
BASE = f"http://127.0.0.1:{GATEWAY_PORT}"


def mint_tokens() -> dict[str, str]:
    kp = keys.KeyPair.from_private_pem(DEMO_KEY.read_bytes(), "ES256", "demo-es256")
    extra = {"tenant_id": "acme", "scope": "orders:read orders:write"}
    valid = keys.mint(kp, keys.standard_claims(ISSUER, AUDIENCE, sub="alice", ttl=3600, **extra))
    t = keys.now()
    expired_claims = keys.standard_claims(ISSUER, AUDIENCE, sub="alice", **extra)
    expired_claims.update(iat=t - 7200, exp=t - 3600)  # far beyond the 60 s clock skew
    expired = keys.mint(kp, expired_claims)
    tampered = keys.tamper_payload(valid, tenant_id="evil-corp")  # signature no longer matches
    return {"VALID": valid, "EXPIRED": expired, "TAMPERED": tampered}


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
        dict(name="create order, valid body (reaches the upstream byte for byte)", path="/orders",
             token="VALID", method="POST", body='{"sku": "ABC-123", "qty": 2}', status=200, echo_body=True),
        dict(name="create order, schema violation: 400 problem+json listing each violation", path="/orders",
             token="VALID", method="POST", body='{"sku": "abc", "qty": 0, "isAdmin": true}', status=400,
             reason="schema_violation"),
        dict(name="create order, oversized body (70 KB > 64 KB): 413", path="/orders", token="VALID",
             method="POST", big=70_000, status=413, reason="body_too_large"),
    ]


def curl_line(s: dict) -> str:
    parts = ["curl -s -i --path-as-is"]
    if s.get("method"):
        parts = [f"head -c {s['big']} /dev/zero | tr '\\0' ' ' |"] if s.get("big") else []
        parts.append(f"curl -s -i --path-as-is -X {s['method']} -H 'content-type: application/json'")
        if s.get("big"):
            parts.append("--data-binary @-")
        elif s.get("body"):
            parts.append(f"-d {shlex.quote(s['body'])}")
    if s.get("token"):
        parts.append(f'-H "Authorization: Bearer ${s["token"]}"')
    if s.get("spoof"):
        parts.append(f'-H "x-tenant-id: {s["spoof"]}"')
    parts.append(f'"{BASE}{s["path"]}"')
    return " ".join(parts)


def run_check(tokens: dict[str, str]) -> bool:
    ok_all = True
    for s in scenarios():
        path = s["path"].replace("$VALID", tokens["VALID"])
        headers = []
        if s.get("token"):
            headers.append(("authorization", f"Bearer {tokens[s['token']]}"))
        if s.get("spoof"):
            headers.append(("x-tenant-id", s["spoof"]))
        body = None
        if s.get("method"):
            headers.append(("content-type", "application/json"))
            body = b" " * s["big"] if s.get("big") else s["body"].encode()
        try:
            r = client.request(GATEWAY_PORT, s.get("method", "GET"), path, headers, body, timeout=10)
        except OSError as e:
            print(f"FAIL  {s['name']}: {e}")
            ok_all = False
            continue
        problems = []
        if r.status != s["status"]:
            problems.append(f"status {r.status}, expected {s['status']}")
        elif r.status == 200 and "tenant" in s:
            try:
                seen = r.json()["headers"].get("x-tenant-id")
            except ValueError:
                seen = "<not an echo response>"
            if seen != s["tenant"]:
                problems.append(f"upstream saw x-tenant-id={seen!r}, expected {s['tenant']!r}")
        elif r.status == 200 and s.get("echo_body"):
            if r.json().get("body") != s["body"]:
                problems.append("the upstream did not receive the body byte for byte")
        if s.get("reason") and r.status == s["status"]:
            try:
                got = r.json().get("reason")
            except ValueError:
                got = None
            if got != s["reason"]:
                problems.append(f"reason {got!r}, expected {s['reason']!r}")
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

    for module in (WASM, SCHEMA_WASM):
        if not module.is_file():
            print(f"{module.relative_to(REPO_ROOT)} is missing: run `make wasm` (make demo does it)")
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
            # The schema module (4.6 MB) takes V8 ~10 s to compile on a busy machine.
            envoy.start(timeout=120)
        except EnvoyStartError as e:
            print(e)
            return 1
        print(f"Envoy ready in {envoy.startup_seconds:.2f}s; its log: {envoy.log_path}")
        tokens = mint_tokens()
        if args.check:
            ok = run_check(tokens)
            print("demo check:", "all passed" if ok else "FAILED")
            return 0 if ok else 1

        print("\nedgeward demo gateway on", BASE, "(admin http://127.0.0.1:9901)\n")
        print("# Demo tokens (signed with the DEMO-ONLY key; paste these into your shell):")
        for name, tok in tokens.items():
            print(f"{name}={shlex.quote(tok)}")
        print()
        for s in scenarios():
            expect = f"expect {s['status']}"
            if s.get("reason"):
                expect += f", reason {s['reason']}"
            if "tenant" in s:
                expect += (f", echo shows x-tenant-id: {s['tenant']}" if s["tenant"]
                           else ", echo shows no x-tenant-id")
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
