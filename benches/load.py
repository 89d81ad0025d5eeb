#!/usr/bin/env python3
"""Load benchmark through a real Envoy: edgeward-jwt against no filter and
against Envoy's native jwt_authn.

Method (as in shared/PLATFORM.md): Envoy --concurrency 1 pinned to CPU 0, wrk
pinned to CPU 1, a direct_response route (no upstream), the same request for
every case. For each case: requests/s and Envoy CPU time per request (from
/proc/<pid>/stat), then both as ratios to the no-filter case measured in the
same run. This machine is shared and noisy: compare ratios, not absolutes.

    .venv/bin/python benches/load.py [--seconds 5] [--connections 10]

(`make bench` runs it.)
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from harness import keys  # noqa: E402
from harness.envoy import EnvoyProcess, gateway_config, wasm_filter  # noqa: E402
from harness.ports import free_port  # noqa: E402

WASM = REPO / "dist" / "edgeward_jwt.wasm"
ISS, AUD = "https://idp.bench", "bench-api"
ROUTES = [{"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "ok"}}}]


def edgeward(kp, cache_size: int) -> list:
    cfg = {
        "providers": {"idp": {
            "issuer": ISS, "audiences": [AUD], "algorithms": [kp.alg],
            "jwks": {"inline": keys.jwks(kp)},
        }},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider": "idp"}}],
        "token_cache_size": cache_size,
    }
    return [wasm_filter("edgeward_jwt", WASM, cfg, failure_policy="FAIL_CLOSED")]


def minimal_wasm() -> list:
    """The floor: a proxy-wasm filter that reads one header and sets one
    (tests/fixtures/trivial-filter), built here."""
    manifest = REPO / "tests" / "fixtures" / "trivial-filter" / "Cargo.toml"
    target = REPO / "tests" / ".work" / "trivial-target"
    subprocess.run(["cargo", "build", "--release", "--target", "wasm32-wasip1", "--manifest-path",
                    str(manifest)], check=True, capture_output=True,
                   env=dict(os.environ, CARGO_TARGET_DIR=str(target)))
    path = target / "wasm32-wasip1" / "release" / "edgeward_trivial_filter.wasm"
    return [wasm_filter("trivial", path, {})]


def native_jwt_authn(kp) -> list:
    return [{
        "name": "envoy.filters.http.jwt_authn",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
            "providers": {"idp": {
                "issuer": ISS, "audiences": [AUD],
                "local_jwks": {"inline_string": json.dumps(keys.jwks(kp))},
            }},
            "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "idp"}}],
        },
    }]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_case(name: str, filters: list, token: str | None, seconds: int, connections: int) -> dict:
    admin, port = free_port(), free_port()
    cfg = gateway_config(port, admin, free_port(), filters, routes=ROUTES, access_log_path="/dev/null")
    env = EnvoyProcess(cfg, concurrency=1, log_level="warn", name="bench")
    env.start()
    try:
        subprocess.run(["taskset", "-pc", "0", str(env.proc.pid)], check=True, capture_output=True)
        lua = REPO / "tests" / ".work" / "bench-headers.lua"
        lua.parent.mkdir(parents=True, exist_ok=True)
        lua.write_text(
            f'wrk.headers["authorization"] = "Bearer {token}"\n' if token else "\n")
        url = f"http://127.0.0.1:{port}/orders"
        wrk = ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", "-s", str(lua)]
        subprocess.run(wrk + ["-d1s", url], check=True, capture_output=True)  # warm-up
        before = cpu_seconds(env.proc.pid)
        out = subprocess.run(wrk + [f"-d{seconds}s", url], check=True, capture_output=True, text=True).stdout
        cpu = cpu_seconds(env.proc.pid) - before
        total = int(re.search(r"(\d+) requests in", out).group(1))
        non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        if non2xx:
            raise RuntimeError(f"{name}: {non2xx.group(1)} non-2xx responses; the case is broken")
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        return {"case": name, "rps": rps, "cpu_us_per_req": cpu / total * 1e6}
    finally:
        env.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--connections", type=int, default=10)
    ap.add_argument("--only", help="regex of case names to run (the no-filter baseline always runs)")
    args = ap.parse_args()
    claims = keys.standard_claims(ISS, AUD, ttl=3600)
    kps = {alg: keys.cached_keypair(alg) for alg in ("RS256", "ES256", "EdDSA", "HS256")}
    tok = {alg: keys.mint(kp, claims) for alg, kp in kps.items()}
    cases = [
        ("no filter", [], None),
        ("minimal wasm filter (floor)", minimal_wasm(), None),
        ("native jwt_authn RS256", native_jwt_authn(kps["RS256"]), tok["RS256"]),
        ("native jwt_authn ES256", native_jwt_authn(kps["ES256"]), tok["ES256"]),
        ("edgeward RS256, cached token", edgeward(kps["RS256"], 1000), tok["RS256"]),
        ("edgeward RS256, no cache", edgeward(kps["RS256"], 0), tok["RS256"]),
        ("edgeward ES256, no cache", edgeward(kps["ES256"], 0), tok["ES256"]),
        ("edgeward EdDSA, no cache", edgeward(kps["EdDSA"], 0), tok["EdDSA"]),
        ("edgeward HS256, no cache", edgeward(kps["HS256"], 0), tok["HS256"]),
    ]
    if args.only:
        cases = [c for c in cases if c[0] == "no filter" or re.search(args.only, c[0])]
    results = [run_case(n, f, t, args.seconds, args.connections) for n, f, t in cases]
    base = results[0]
    print(f"\n{'case':34} {'req/s':>9} {'vs none':>8} {'CPU us/req':>11} {'CPU vs none':>12}")
    for r in results:
        print(f"{r['case']:34} {r['rps']:9.0f} {r['rps'] / base['rps']:8.3f} "
              f"{r['cpu_us_per_req']:11.1f} {r['cpu_us_per_req'] / base['cpu_us_per_req']:12.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
