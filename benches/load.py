#!/usr/bin/env python3
"""Load benchmark through a real Envoy, by the paired method.

Why paired: on these shared VMs one unchanged no-filter Envoy drifts by 20%
between sequential runs, which swamps the differences we want to see. So
every case runs AT THE SAME TIME as its own no-filter Envoy (its baseline),
and the figure reported is the ratio of the two:

- both Envoys are started under `taskset -c 0` (the whole process, worker
  threads included; `taskset -p` on a running Envoy would pin only its main
  thread), with `--concurrency 1`;
- one `wrk -t1 -c10` per Envoy, both on CPU 1, 1 s warm-up then N s;
- CPU time = sum of the first field of /proc/PID/task/*/schedstat (ns on
  CPU) over every thread of each Envoy, read before and after;
- ratio = case CPU per request / baseline CPU per request;
- R rounds, each with fresh Envoys and the cases in a new random order;
  printed as median [min-max], with the command that reruns the case.

The `no filter` case (no filter against no filter) must read ~1.00; if it
does not, the run is not trustworthy.

    .venv/bin/python benches/load.py [--seconds 5] [--rounds 3] [--only REGEX]
                                     [--json out.json] [--list]

Adding a case: append a `Case` to `default_cases()` (or build a list and
call `main(argv, cases)` from another script, as benches/abi-floor/run.py
does). A case is a name, the HTTP filters under test, the request wrk sends,
where the route goes, and optional extra clusters / bootstrap pieces. The
baseline of a case is the same Envoy, route and request without those
filters (`shared_filters`, e.g. the buffer filter of body cases, stay in
both), or with `baseline_filters` instead: an A/B pair of two filters,
which resolves differences of ~1 us that two ratios to no filter do not
(benches/jwt-breakdown/run.py).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import shlex
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from harness import keys  # noqa: E402
from harness.envoy import EnvoyProcess, EnvoyStartError, gateway_config, wasm_filter  # noqa: E402
from harness.ports import free_port  # noqa: E402

WORK = REPO / "tests" / ".work" / "bench"
ENVOY_CPU, WRK_CPU = "0", "1"
WASM = REPO / "dist" / "edgeward_jwt.wasm"
ISS, AUD = "https://idp.bench", "bench-api"

# Route kinds. DIRECT_RESPONSE answers inside Envoy; UPSTREAM routes to the
# cluster `upstream`, served by a small direct_response Envoy that load.py
# starts for each side (on the wrk CPU, so it never competes with the
# measured Envoys). Any other string is a cluster name the case supplies in
# `extra_clusters` and serves itself.
DIRECT_RESPONSE = "direct_response"
UPSTREAM = "upstream"


# --------------------------------------------------------------------------
# What a case is
# --------------------------------------------------------------------------

@dataclass
class RequestSpec:
    """The request wrk sends over and over."""
    method: str = "GET"
    path: str = "/orders"
    headers: dict = field(default_factory=dict)
    body: bytes | None = None


@dataclass
class Probe:
    """A request sent once before measuring, with the status it must get:
    proves the filter under test is really in the chain (e.g. no token ->
    401), so a filter that silently does nothing cannot pass for a cheap one."""
    request: RequestSpec
    status: int


@dataclass
class Case:
    name: str
    # Filters under test (before `shared_filters` and the router). A callable
    # is called only if the case is selected (e.g. one that builds a .wasm).
    http_filters: list | Callable[[], list]
    request: RequestSpec = field(default_factory=RequestSpec)
    route: str = DIRECT_RESPONSE
    extra_clusters: list = field(default_factory=list)
    # Deep-merged into both bootstraps: dicts merge, lists are appended to.
    bootstrap_extra: dict = field(default_factory=dict)
    # Filters both the case and its baseline run, after the filters under
    # test. None means: Envoy's buffer filter when the request has a body
    # (without something waiting for the body, Envoy answers a POST to a
    # direct_response route early and the benchmark measures TCP setup).
    shared_filters: list | None = None
    probes: list = field(default_factory=list)
    # Run after each measurement with (case Envoy, requests); raises when the
    # case did not do what it claims (e.g. a cache that never hit).
    check: Callable[[EnvoyProcess, int], None] | None = None
    # Not in the default run; selected only by --only.
    optional: bool = False
    # What the paired Envoy runs instead of no filter, to measure one filter
    # against another directly (an A/B pair cancels the host's load far
    # better than two ratios to no filter do). Lazy like http_filters.
    baseline_filters: list | Callable[[], list] | None = None
    baseline_name: str = "no filter"

    def filters(self) -> list:
        if callable(self.http_filters):
            self.http_filters = self.http_filters()
        return list(self.http_filters)

    def baseline(self) -> list:
        if callable(self.baseline_filters):
            self.baseline_filters = self.baseline_filters()
        return list(self.baseline_filters or [])

    def common_filters(self) -> list:
        if self.shared_filters is not None:
            return list(self.shared_filters)
        if self.request.body is not None:
            return [buffer_filter(max(2 * len(self.request.body), 1 << 20))]
        return []


# --------------------------------------------------------------------------
# Envoy configuration pieces
# --------------------------------------------------------------------------

def buffer_filter(max_request_bytes: int) -> dict:
    return {
        "name": "envoy.filters.http.buffer",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer",
            "max_request_bytes": max_request_bytes,
        },
    }


def direct_response_routes(status: int = 200, body: str = "ok") -> list:
    return [{"match": {"prefix": "/"},
             "direct_response": {"status": status, "body": {"inline_string": body}}}]


def deep_merge(dst: dict, src: dict) -> dict:
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            deep_merge(dst[k], v)
        elif isinstance(v, list) and isinstance(dst.get(k), list):
            dst[k].extend(v)
        else:
            dst[k] = v
    return dst


def bootstrap(case: Case, with_case_filters: bool, upstream_port: int) -> dict:
    filters = (case.filters() if with_case_filters else case.baseline()) + case.common_filters()
    if case.route == DIRECT_RESPONSE:
        routes = direct_response_routes()
    else:
        routes = [{"match": {"prefix": "/"}, "route": {"cluster": case.route}}]
    # No access log: it would cost both sides the same, diluting every ratio.
    cfg = gateway_config(free_port(), free_port(), upstream_port, filters,
                         extra_clusters=case.extra_clusters, routes=routes,
                         hcm_extra={"access_log": []})
    return deep_merge(cfg, json.loads(json.dumps(case.bootstrap_extra)))


# --------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------

class PinnedEnvoy(EnvoyProcess):
    """An Envoy started under `taskset -c CPU`, so every thread it ever
    creates inherits the affinity (taskset execs Envoy: same pid)."""

    def __init__(self, config: dict, cpu: str, name: str):
        super().__init__(config, concurrency=1, log_level="warn", name=name,
                         workdir=None)
        self.cpu = cpu

    def command(self) -> list[str]:
        return ["taskset", "-c", self.cpu] + super().command()

    def check_pinned(self):
        """Every thread must be allowed on our CPU only."""
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            status = (task / "status").read_text()
            allowed = re.search(r"^Cpus_allowed_list:\s*(\S+)", status, re.M).group(1)
            if allowed != self.cpu:
                raise RuntimeError(f"thread {task.name} of Envoy {self.proc.pid} may run on "
                                   f"CPUs {allowed}, not only {self.cpu}")

    def connections_opened(self) -> int:
        got = self.stat("http.edgeward.downstream_cx_total")
        if not isinstance(got, int):
            raise RuntimeError(f"Envoy {self.proc.pid}: no downstream_cx_total stat ({got!r})")
        return got

    def cpu_ns(self) -> int:
        total = 0
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            try:
                total += int((task / "schedstat").read_text().split()[0])
            except (FileNotFoundError, ProcessLookupError):
                pass  # a thread that just exited
        return total


def start_envoy(make_config: Callable[[], dict], cpu: str, name: str) -> PinnedEnvoy:
    """Starts Envoy on a config made with fresh free ports. A free port can
    be taken by another process before Envoy binds it (the machine is
    shared): then it tries again with new ports."""
    for attempt in range(3):
        env = PinnedEnvoy(make_config(), cpu, name)
        try:
            env.start(timeout=60)
        except EnvoyStartError as e:
            if "Address already in use" in e.log_tail and attempt < 2:
                continue
            raise
        try:
            env.check_pinned()
        except BaseException:
            env.stop()
            raise
        return env
    raise RuntimeError(f"{name}: no free ports after 3 attempts")


def lua_string(data: str | bytes) -> str:
    """A Lua string literal for any bytes (decimal escapes, no quoting issues)."""
    raw = data.encode() if isinstance(data, str) else data
    out = []
    for b in raw:
        ch = chr(b)
        out.append(ch if 0x20 <= b < 0x7f and ch not in "\"\\" else f"\\{b:03d}")
    return '"' + "".join(out) + '"'


def wrk_script(req: RequestSpec, path: Path) -> Path:
    lines = [f"wrk.method = {lua_string(req.method)}",
             f"wrk.path = {lua_string(req.path)}"]
    for k, v in req.headers.items():
        lines.append(f"wrk.headers[{lua_string(k)}] = {lua_string(v)}")
    if req.body is not None:
        body_file = path.with_suffix(".body")
        body_file.write_bytes(req.body)
        lines.append(f"local f = assert(io.open({lua_string(str(body_file))}, \"rb\"))")
        lines.append("wrk.body = f:read(\"*a\")")
        lines.append("f:close()")
    path.write_text("\n".join(lines) + "\n")
    return path


def wrk_command(port: int, script: Path, seconds: float, connections: int) -> list[str]:
    return ["taskset", "-c", WRK_CPU, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s",
            "-s", str(script), f"http://127.0.0.1:{port}/"]


def parse_wrk(out: str, who: str) -> dict:
    total = re.search(r"(\d+) requests in", out)
    if not total:
        raise RuntimeError(f"{who}: cannot read wrk's output:\n{out}")
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise RuntimeError(f"{who}: {non2xx.group(1)} non-2xx responses; the case is broken")
    errors = re.search(r"Socket errors: (.*)", out)
    if errors:
        raise RuntimeError(f"{who}: socket errors ({errors.group(1)}): Envoy closes "
                           "connections (an early reply?); the case is broken")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return {"requests": int(total.group(1)), "rps": rps}


def run_wrk_pair(cmds: list[list[str]], who: list[str]) -> list[dict]:
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for c in cmds]
    outs = [p.communicate()[0] for p in procs]
    for p, out, w in zip(procs, outs, who):
        if p.returncode != 0:
            raise RuntimeError(f"{w}: wrk exited {p.returncode}:\n{out}")
    return [parse_wrk(o, w) for o, w in zip(outs, who)]


def send_once(port: int, req: RequestSpec) -> int:
    r = urllib.request.Request(f"http://127.0.0.1:{port}{req.path}", data=req.body,
                               method=req.method, headers=req.headers)
    try:
        with urllib.request.urlopen(r, timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code


# --------------------------------------------------------------------------
# One paired measurement
# --------------------------------------------------------------------------

def start_upstream(name: str) -> PinnedEnvoy:
    return start_envoy(lambda: gateway_config(free_port(), free_port(), free_port(), [],
                                              routes=direct_response_routes(),
                                              hcm_extra={"access_log": []}),
                       WRK_CPU, name)


def measure_pair(case: Case, seconds: float, connections: int) -> dict:
    WORK.mkdir(parents=True, exist_ok=True)
    started: list[PinnedEnvoy] = []
    try:
        ups = [0, 0]
        if case.route == UPSTREAM:
            for i in range(2):
                u = start_upstream("bench-upstream")
                started.append(u)
                ups[i] = u.port
        base = start_envoy(lambda: bootstrap(case, False, ups[0]), ENVOY_CPU, "bench-base")
        started.append(base)
        subj = start_envoy(lambda: bootstrap(case, True, ups[1]), ENVOY_CPU, "bench-case")
        started.append(subj)
        for status_env, label in ((base, "baseline"), (subj, "case")):
            got = send_once(status_env.port, case.request)
            if got != 200:
                raise RuntimeError(f"{case.name} ({label}): the benchmark request got {got}, "
                                   f"not 200; see {status_env.workdir}")
        for probe in case.probes:
            got = send_once(subj.port, probe.request)
            if got != probe.status:
                raise RuntimeError(f"{case.name}: probe {probe.request.method} "
                                   f"{probe.request.path} got {got}, expected {probe.status}: "
                                   "is the filter under test in the chain?")
        script = wrk_script(case.request, WORK / f"req-{os.getpid()}.lua")
        who = [f"{case.name} (baseline)", case.name]
        ports = [base.port, subj.port]
        run_wrk_pair([wrk_command(p, script, 1, connections) for p in ports], who)  # warm-up
        cx0 = [base.connections_opened(), subj.connections_opened()]
        cpu0 = [base.cpu_ns(), subj.cpu_ns()]
        res = run_wrk_pair([wrk_command(p, script, seconds, connections) for p in ports], who)
        cpu1 = [base.cpu_ns(), subj.cpu_ns()]
        cx1 = [base.connections_opened(), subj.connections_opened()]
        for w, a, b in zip(who, cx0, cx1):
            # wrk keeps its connections open; many new ones mean Envoy closes
            # them (an early reply to a POST, `connection: close`): the run
            # would measure TCP setup.
            if b - a > 2 * connections:
                raise RuntimeError(f"{w}: {b - a} connections opened during the run "
                                   f"(wrk keeps {connections}); Envoy closes them, so this "
                                   "measures TCP setup. A body case needs something that "
                                   "waits for the body (the buffer filter).")
        for env in (base, subj):
            if not env.is_running():
                raise RuntimeError(f"{case.name}: an Envoy exited; see {env.workdir}")
        if case.check:
            case.check(subj, res[1]["requests"])
        base_us = (cpu1[0] - cpu0[0]) / 1e3 / res[0]["requests"]
        case_us = (cpu1[1] - cpu0[1]) / 1e3 / res[1]["requests"]
        return {"ratio": case_us / base_us, "case_us": case_us, "base_us": base_us,
                "case_rps": res[1]["rps"], "base_rps": res[0]["rps"],
                "case_requests": res[1]["requests"], "base_requests": res[0]["requests"]}
    finally:
        for env in reversed(started):
            env.stop()


# --------------------------------------------------------------------------
# Runs and reporting
# --------------------------------------------------------------------------

def summarize(rounds: list[dict]) -> dict:
    def stat(key):
        vals = [r[key] for r in rounds]
        return {"median": statistics.median(vals), "min": min(vals), "max": max(vals)}
    for r in rounds:
        r["extra_us"] = r["case_us"] - r["base_us"]
    return {"ratio": stat("ratio"), "extra_us": stat("extra_us"), "case_us": stat("case_us"),
            "base_us": stat("base_us"), "rounds": rounds}


def rerun_command(script: str, only: str | None, seconds: float, rounds: int) -> str:
    cmd = [".venv/bin/python", script]
    if only:
        cmd += ["--only", only]
    cmd += ["--seconds", f"{seconds:g}", "--rounds", str(rounds)]
    return " ".join(shlex.quote(c) for c in cmd)


def print_table(cases: list[Case], results: dict, script: str, args) -> None:
    width = max(len(c.name) for c in cases)
    named = any(c.baseline_name != "no filter" for c in cases)
    bwidth = max([len("paired with")] + [len(c.baseline_name) for c in cases])
    vs = f"  {'paired with':{bwidth}}" if named else ""
    print(f"\n{'case':{width}}{vs}  {'CPU/request vs paired baseline':<31}  "
          f"{'extra us/req':>12}  {'baseline us/req':>15}")
    for c in cases:
        s = results[c.name]
        r = s["ratio"]
        ratio = f"{r['median']:.3f} [{r['min']:.3f}-{r['max']:.3f}]"
        b = f"  {c.baseline_name:{bwidth}}" if named else ""
        print(f"{c.name:{width}}{b}  {ratio:<31}  {s['extra_us']['median']:12.1f}  "
              f"{s['base_us']['median']:15.1f}")
    print(f"\n{args.rounds} rounds x {args.seconds:g} s, each case beside its own baseline "
          "Envoy (no filter unless named); median [min-max] over rounds.\nextra us/req: case "
          "minus its baseline, median over rounds. Absolute us follow the host's load; ratios "
          "much less (a Wasm filter's ratio still rises a little on a busier host).")
    print("Rerun one case:")
    for c in cases:
        print(f"  {rerun_command(script, name_regex(c.name), args.seconds, args.rounds)}")
    print(f"Rerun all: {rerun_command(script, args.only, args.seconds, args.rounds)}")


def name_regex(name: str) -> str:
    """An anchored regex matching exactly `name` (readable: only regex
    metacharacters are escaped)."""
    return "^" + re.sub(r"([.^$*+?{}\[\]\\|()])", r"\\\1", name) + "$"


def select(cases: list[Case], only: str | None) -> list[Case]:
    if only:
        return [c for c in cases if re.search(only, c.name)]
    return [c for c in cases if not c.optional]


def main(argv=None, cases: list[Case] | None = None, script: str | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=5, help="measured seconds per round (5)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds, each with fresh Envoys (3)")
    ap.add_argument("--connections", type=int, default=10, help="wrk connections per Envoy (10)")
    ap.add_argument("--only", help="regex of case names to run (also selects optional cases)")
    ap.add_argument("--json", type=Path, help="write every round's figures here")
    ap.add_argument("--list", action="store_true", help="list the case names and exit")
    ap.add_argument("--seed", type=int, help="seed of the case order (default: random)")
    args = ap.parse_args(argv)
    if script is None:
        script = os.path.relpath(Path(sys.argv[0]).resolve(), REPO)
    all_cases = cases if cases is not None else default_cases()
    if args.list:
        for c in all_cases:
            print(c.name + ("  (optional)" if c.optional else ""))
        return 0
    chosen = select(all_cases, args.only)
    if not chosen:
        print(f"no case matches {args.only!r}; --list shows them", file=sys.stderr)
        return 2
    for tool in ("wrk", "taskset"):
        if subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True).returncode:
            print(f"{tool} is missing: apt-get install -y wrk util-linux "
                  "(benches/run.sh does it)", file=sys.stderr)
            return 2
    if (os.cpu_count() or 1) < 2:
        print("the paired method needs 2 CPUs (Envoys on 0, wrk on 1)", file=sys.stderr)
        return 2
    rng = random.Random(args.seed)
    rounds: dict = {c.name: [] for c in chosen}
    try:
        for r in range(args.rounds):
            order = chosen[:]
            rng.shuffle(order)
            for c in order:
                t0 = time.monotonic()
                m = measure_pair(c, args.seconds, args.connections)
                rounds[c.name].append(m)
                print(f"round {r + 1}/{args.rounds}  {c.name:40} ratio {m['ratio']:6.3f}  "
                      f"case {m['case_us']:7.1f} us  base {m['base_us']:6.1f} us  "
                      f"({time.monotonic() - t0:.0f} s)", flush=True)
    except BaseException:
        done = [c for c in chosen if rounds[c.name]]
        if done:
            print("\nINCOMPLETE: the rounds measured before the failure:")
            print_table(done, {c.name: summarize(rounds[c.name]) for c in done}, script, args)
        raise
    results = {name: summarize(rs) for name, rs in rounds.items()}
    for c in chosen:
        results[c.name]["baseline"] = c.baseline_name
    print_table(chosen, results, script, args)
    if args.json:
        args.json.write_text(json.dumps({
            "method": "paired", "seconds": args.seconds, "rounds": args.rounds,
            "connections": args.connections,
            "command": rerun_command(script, args.only, args.seconds, args.rounds),
            "cases": results,
        }, indent=2))
        print(f"wrote {args.json}")
    return 0


# --------------------------------------------------------------------------
# The cases: edgeward-jwt against no filter and Envoy's native jwt_authn
# --------------------------------------------------------------------------

def bearer(token: str, path: str = "/orders") -> RequestSpec:
    return RequestSpec(path=path, headers={"authorization": f"Bearer {token}"})


def no_token_probe() -> Probe:
    return Probe(RequestSpec(path="/orders"), 401)


def edgeward_filters(kp, cache_size: int, wasm: Path | None = None) -> list:
    cfg = {
        "providers": {"idp": {
            "issuer": ISS, "audiences": [AUD], "algorithms": [kp.alg],
            "jwks": {"inline": keys.jwks(kp)},
        }},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider": "idp"}}],
        "token_cache_size": cache_size,
    }
    return [wasm_filter("edgeward_jwt", wasm or WASM, cfg, failure_policy="FAIL_CLOSED")]


PII_WASM = REPO / "dist" / "edgeward_pii.wasm"


def pii_filters(**cfg) -> list:
    """edgeward_pii with the default detectors (plus `cfg`)."""
    if not PII_WASM.exists():
        raise SystemExit(f"{PII_WASM} is missing: run `make wasm` first")
    return [wasm_filter("edgeward_pii", PII_WASM, cfg, allow_on_headers_stop_iteration=False,
                        failure_policy="FAIL_CLOSED")]


def pii_filters_from(wasm: Path, **cfg) -> list:
    """edgeward_pii from another build (A/B against this one)."""
    return [wasm_filter("edgeward_pii", wasm, cfg, allow_on_headers_stop_iteration=False,
                        failure_policy="FAIL_CLOSED")]


def pii_request_4k() -> RequestSpec:
    """POST of a ~4 KB JSON body full of PII-looking values."""
    rows: list = []
    while True:
        i = len(rows)
        row = {"id": i, "email": f"user{i}@example.com", "card": "4111 1111 1111 1111",
               "note": f"call +1 415 555 {1000 + i:04d}", "name": "Zoë Ünïcode"}
        if len(json.dumps({"rows": rows + [row]}).encode()) > 4096:
            break
        rows.append(row)
    body = json.dumps({"rows": rows}).encode()
    return RequestSpec(method="POST", path="/orders/bob@example.com?ref=4111111111111111",
                       headers={"content-type": "application/json",
                                "user-agent": "bench/1.0"},
                       body=body)


def pii_get() -> RequestSpec:
    return RequestSpec(path="/orders/bob@example.com?ref=4111111111111111&q=ok",
                       headers={"user-agent": "bench/1.0", "x-request-id": "bench-1"})


def trivial_wasm_filters() -> list:
    """tests/fixtures/trivial-filter (proxy-wasm SDK: reads one header, sets
    one), built here on first use."""
    manifest = REPO / "tests" / "fixtures" / "trivial-filter" / "Cargo.toml"
    target = REPO / "tests" / ".work" / "trivial-target"
    subprocess.run(["cargo", "build", "--release", "--target", "wasm32-wasip1", "--manifest-path",
                    str(manifest)], check=True, capture_output=True,
                   env=dict(os.environ, CARGO_TARGET_DIR=str(target)))
    path = target / "wasm32-wasip1" / "release" / "edgeward_trivial_filter.wasm"
    return [wasm_filter("trivial", path, {})]


def native_jwt_authn_filters(kp, cache_size: int = 0) -> list:
    provider = {
        "issuer": ISS, "audiences": [AUD],
        "local_jwks": {"inline_string": json.dumps(keys.jwks(kp))},
    }
    if cache_size:
        provider["jwt_cache_config"] = {"jwt_cache_size": cache_size}
    return [{
        "name": "envoy.filters.http.jwt_authn",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
            "providers": {"idp": provider},
            "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "idp"}}],
        },
    }]


TENANT_WASM = REPO / "dist" / "edgeward_tenant.wasm"
EDGE_WASM = REPO / "dist" / "edgeward_edge.wasm"
TENANT_PATH = "/v1/tenants/acme/orders"


def tenant_token_claims() -> dict:
    return keys.standard_claims(ISS, AUD, ttl=3600, tenant_id="acme", scope="orders:read profile")


def edgeward_tenant_filters(kp) -> list:
    """edgeward JWT (cached token, tenant from `tenant_id`) + the tenant
    filter: GET /v1/tenants/{tenant}/orders needs scope orders:read and the
    token's tenant in the path; x-tenant-id is set from the token."""
    jwt = {
        "providers": {"idp": {
            "issuer": ISS, "audiences": [AUD], "algorithms": [kp.alg],
            "jwks": {"inline": keys.jwks(kp)}, "tenant_claim": "tenant_id",
        }},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider": "idp"}}],
        "token_cache_size": 1000,
    }
    tenant = {
        "identity_headers": [{"header": "x-tenant-id", "value": "tenant"}],
        "rules": [{"name": "orders", "match": {"template": "/v1/tenants/{tenant}/orders", "methods": ["GET"]},
                   "scopes": {"all_of": ["orders:read"]}, "tenant": {"path": "tenant"}}],
    }
    return [wasm_filter("edgeward_jwt", WASM, jwt, failure_policy="FAIL_CLOSED"),
            wasm_filter("edgeward_tenant", TENANT_WASM, tenant, failure_policy="FAIL_CLOSED")]


def edgeward_edge_filters(kp, wasm: Path | None = None) -> list:
    """The same JWT and tenant configurations in one filter entry
    (edgeward_edge.wasm, or another build of it: one module, the identity
    handed over in memory)."""
    jwt, tenant = (json.loads(f["typed_config"]["config"]["configuration"]["value"])
                   for f in edgeward_tenant_filters(kp))
    return [wasm_filter("edgeward_edge", wasm or EDGE_WASM, {"jwt": jwt, "tenant": tenant},
                        failure_policy="FAIL_CLOSED")]


def native_jwt_rbac_filters(kp) -> list:
    """The same policy natively: jwt_authn (cached, payload in metadata,
    scope split into a list, x-tenant-id from the claim) + rbac: GET on
    ^/v1/tenants/[^/]+/orders$, principal holding scope orders:read in the
    jwt_authn metadata, and a CEL condition binding the path to the claim
    (request.path == the path header_mutation built from tenant_id)."""
    jwt = native_jwt_authn_filters(kp, cache_size=100)
    cfg = jwt[0]["typed_config"]
    cfg["providers"]["idp"].update({
        "payload_in_metadata": "jwt_payload",
        "normalize_payload_in_metadata": {"space_delimited_claims": ["scope"]},
        "claim_to_headers": [{"header_name": "x-tenant-id", "claim_name": "tenant_id"}],
    })
    # Envoy's CEL has no string concatenation (cel-cpp's enable_string_concat
    # is off), so the path the token allows is built by header_mutation from
    # the jwt_authn metadata and compared in the condition.
    mutation = {
        "name": "envoy.filters.http.header_mutation",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
            "mutations": {"request_mutations": [{"append": {
                "header": {"key": "x-allowed-path", "value":
                           "/v1/tenants/%DYNAMIC_METADATA(envoy.filters.http.jwt_authn:jwt_payload:tenant_id)%/orders"},
                "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}}]},
        },
    }
    allowed = {"call_expr": {"function": "_[_]", "args": [
        {"select_expr": {"operand": {"ident_expr": {"name": "request"}}, "field": "headers"}},
        {"const_expr": {"string_value": "x-allowed-path"}}]}}
    condition = {"call_expr": {"function": "_==_", "args": [
        {"select_expr": {"operand": {"ident_expr": {"name": "request"}}, "field": "path"}}, allowed]}}
    rbac = {
        "name": "envoy.filters.http.rbac",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
            "rules": {"action": "ALLOW", "policies": {"orders": {
                "permissions": [{"and_rules": {"rules": [
                    {"header": {"name": ":method", "string_match": {"exact": "GET"}}},
                    {"url_path": {"path": {"safe_regex": {"regex": "^/v1/tenants/[^/]+/orders$"}}}},
                ]}}],
                "principals": [{"sourced_metadata": {"metadata_matcher": {
                    "filter": "envoy.filters.http.jwt_authn",
                    "path": [{"key": "jwt_payload"}, {"key": "scope"}],
                    "value": {"list_match": {"one_of": {"string_match": {"exact": "orders:read"}}}},
                }}}],
                "condition": condition,
            }}},
        },
    }
    return jwt + [mutation, rbac]


def stat_at_least(name: str, share: float) -> Callable[[EnvoyProcess, int], None]:
    """A check: counter `name` grew by at least share x the measured requests
    (it also counts warm-up requests, so it only errs towards passing)."""
    def check(env: EnvoyProcess, requests: int) -> None:
        got = env.stat(name)
        if not isinstance(got, int) or got < share * requests:
            raise RuntimeError(f"{name} = {got} after {requests} requests: "
                               "the case does not exercise what it claims")
    return check


# --------------------------------------------------------------------------
# Rate limiting cases
# --------------------------------------------------------------------------

WASM_RATELIMIT = REPO / "dist" / "edgeward_ratelimit.wasm"
RL_HEADERS = {"x-tenant": "bench"}
# A limit no benchmark reaches: the measured path is "checked and allowed".
RL_HUGE = 4_000_000_000


def edgeward_ratelimit_local_filters(wasm: Path = WASM_RATELIMIT) -> list:
    cfg = {"policies": [{"name": "per-tenant",
                         "key": [{"dimension": "header", "name": "x-tenant"}],
                         "limit": {"token_bucket": {"rate": 1_000_000_000,
                                                    "burst": 1_000_000_000}}}]}
    return [wasm_filter("edgeward_ratelimit", wasm, cfg, failure_policy="FAIL_CLOSED")]


def native_local_ratelimit_filters() -> list:
    full = {"default_value": {"numerator": 100, "denominator": "HUNDRED"}}
    return [{
        "name": "envoy.filters.http.local_ratelimit",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
            "stat_prefix": "bench_rl",
            "token_bucket": {"max_tokens": 1_000_000_000, "tokens_per_fill": 1_000_000_000,
                             "fill_interval": "1s"},
            "filter_enabled": dict(full, runtime_key="bench_rl_enabled"),
            "filter_enforced": dict(full, runtime_key="bench_rl_enforced"),
        },
    }]


class BenchRls:
    """One Rate Limit Service (in memory) both sides of a global case talk
    to, started on first use on the wrk CPU and stopped at exit."""
    port = free_port()
    proc = None

    @classmethod
    def ensure(cls) -> int:
        if cls.proc is None:
            import atexit
            from harness.rls import RlsProcess

            class PinnedRls(RlsProcess):
                def command(self):
                    return ["taskset", "-c", WRK_CPU] + super().command()

            limits = [{"domain": "edgeward", "name": "g", "max": RL_HUGE, "seconds": 60,
                       "conditions": ["policy == 'g'"], "variables": ["tenant"]}]
            cls.proc = PinnedRls(limits, memory=True, port=cls.port,
                                 workdir=WORK / "rls").start()
            atexit.register(cls.proc.stop)
        return cls.port


def rls_cluster() -> dict:
    from harness.envoy import cluster
    return cluster("rls", BenchRls.port, http2=True)


def fault_answer_filter() -> dict:
    """Answers 200 after the limiter, so the route can name a cluster (the
    native ratelimit filter does nothing on a direct_response route)."""
    return {
        "name": "envoy.filters.http.fault",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault",
            "abort": {"http_status": 200,
                      "percentage": {"numerator": 100, "denominator": "HUNDRED"}},
        },
    }


def edgeward_ratelimit_global_filters(local_first: dict | None = None,
                                      wasm: Path = WASM_RATELIMIT) -> list:
    BenchRls.ensure()
    cfg = {"domain": "edgeward", "service": {"cluster": "rls"}, "policies": [{
        "name": "g", "mode": "global", "timeout_ms": 2000, "failure_mode": "deny",
        "key": [{"dimension": "header", "name": "x-tenant", "descriptor_key": "tenant"}],
        "limit": {"fixed_window": {"requests": 1000, "window_s": 60}}}]}
    if local_first:
        cfg["policies"][0]["local_first"] = local_first
    return [wasm_filter("edgeward_ratelimit", wasm, cfg, failure_policy="FAIL_CLOSED")]


def native_ratelimit_global_filters() -> list:
    BenchRls.ensure()
    return [{
        "name": "envoy.filters.http.ratelimit",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimit",
            "domain": "edgeward",
            "failure_mode_deny": True,
            "timeout": "2s",
            "rate_limit_service": {"grpc_service": {"envoy_grpc": {"cluster_name": "rls"}},
                                   "transport_api_version": "V3"},
            # The same descriptor edgeward sends: {policy: g, tenant: <x-tenant>}.
            "rate_limits": [{"actions": [
                {"generic_key": {"descriptor_key": "policy", "descriptor_value": "g"}},
                {"request_headers": {"header_name": "x-tenant", "descriptor_key": "tenant"}}]}],
        },
    }]


def ratelimit_cases() -> list[Case]:
    req = RequestSpec(headers=dict(RL_HEADERS))
    limited = Probe(RequestSpec(), 200)  # no x-tenant: the "absent" key, still allowed
    global_kw = dict(route="rls", extra_clusters=[rls_cluster()],
                     shared_filters=[fault_answer_filter()])
    return [
        Case("native local_ratelimit", native_local_ratelimit_filters, req),
        Case("edgeward ratelimit local", edgeward_ratelimit_local_filters, req, probes=[limited],
             check=stat_at_least("wasmcustom.edgeward.ratelimit.allowed.policy.per-tenant", 1.0)),
        Case("edgeward ratelimit local, vs native local_ratelimit",
             edgeward_ratelimit_local_filters, req,
             baseline_filters=native_local_ratelimit_filters,
             baseline_name="native local_ratelimit"),
        Case("edgeward ratelimit local, vs minimal wasm filter",
             edgeward_ratelimit_local_filters, req,
             baseline_filters=trivial_wasm_filters, baseline_name="minimal wasm filter"),
        Case("native ratelimit global (RLS)", native_ratelimit_global_filters, req, **global_kw),
        Case("edgeward ratelimit global (RLS), vs native ratelimit",
             edgeward_ratelimit_global_filters, req,
             baseline_filters=native_ratelimit_global_filters,
             baseline_name="native ratelimit (same RLS)",
             check=stat_at_least("wasmcustom.edgeward.ratelimit.allowed.policy.g", 1.0),
             **global_kw),
        # A/B: this build against another build of the module
        # ($EDGEWARD_RL_BASELINE_WASM, e.g. main's), same configuration.
        Case("edgeward ratelimit local, vs baseline build",
             edgeward_ratelimit_local_filters, req,
             baseline_filters=lambda: edgeward_ratelimit_local_filters(
                 Path(os.environ["EDGEWARD_RL_BASELINE_WASM"])),
             baseline_name="$EDGEWARD_RL_BASELINE_WASM", optional=True),
        Case("edgeward ratelimit global (RLS), vs baseline build",
             edgeward_ratelimit_global_filters, req,
             baseline_filters=lambda: edgeward_ratelimit_global_filters(
                 None, Path(os.environ["EDGEWARD_RL_BASELINE_WASM"])),
             baseline_name="$EDGEWARD_RL_BASELINE_WASM", optional=True, **global_kw),
        # Local-first: one call per 1000 requests (leases of 1000 units).
        Case("edgeward ratelimit global local-first (lease 1000), vs native ratelimit",
             lambda: edgeward_ratelimit_global_filters(
                 {"lease": 1000, "max_lease_ms": 60_000}), req,
             baseline_filters=native_ratelimit_global_filters,
             baseline_name="native ratelimit (same RLS)",
             check=stat_at_least("wasmcustom.edgeward.ratelimit.allowed.policy.g", 1.0),
             **global_kw),
    ]
# ---- schema enforcement (shared/src/schema) --------------------------------

SCHEMA_WASM = REPO / "dist" / "edgeward_schema.wasm"
BENCH_ORDER_SCHEMA = {
    "type": "object", "required": ["customer", "items"],
    "properties": {
        "customer": {"type": "object", "required": ["id"],
                     "properties": {"id": {"type": "string", "pattern": "^c-[0-9]+$"},
                                    "email": {"type": "string", "maxLength": 254}}},
        "items": {"type": "array", "maxItems": 5000, "items": {"$ref": "#/$defs/item"}},
        "note": {"type": "string", "maxLength": 500},
    },
    "$defs": {"item": {"type": "object", "required": ["sku", "qty"], "additionalProperties": False,
                       "properties": {"sku": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{3}$"},
                                      "qty": {"type": "integer", "minimum": 1, "maximum": 1000},
                                      "price": {"type": "number", "minimum": 0}}}},
}


def order_body(size: int) -> bytes:
    """A valid order of about `size` bytes."""
    items, body = [], b""
    while True:
        items.append({"sku": "ABC-%03d" % (len(items) % 1000), "qty": 1 + len(items) % 9, "price": 9.5})
        nxt = json.dumps({"customer": {"id": "c-42", "email": "a@example.com"}, "items": items}).encode()
        if len(nxt) > size:
            return body or nxt
        body = nxt


def json_post(size: int) -> RequestSpec:
    return RequestSpec(method="POST", path="/orders", body=order_body(size),
                       headers={"content-type": "application/json"})


def schema_filters(wasm: Path = SCHEMA_WASM, schema: dict | None = BENCH_ORDER_SCHEMA) -> list:
    """The bench route; `schema=None` leaves the body schema out (the body
    is then only checked to be well-formed JSON)."""
    if not wasm.exists():
        raise SystemExit(f"{wasm} is missing: run `make wasm` first")
    body = {"max_bytes": 131072}
    if schema is not None:
        body["schema"] = schema
    cfg = {"routes": [{"name": "orders", "match": {"path": "/orders", "methods": ["POST"]},
                       "contract": {"body": body}}]}
    return [wasm_filter("edgeward_schema", wasm, cfg, failure_policy="FAIL_CLOSED")]


def schema_reference_filters() -> list:
    """The same filter from another build (EDGEWARD_SCHEMA_REFERENCE=<path to
    an edgeward_schema.wasm>, e.g. main's): an A/B pair of two builds."""
    ref = os.environ.get("EDGEWARD_SCHEMA_REFERENCE")
    if not ref:
        raise SystemExit("set EDGEWARD_SCHEMA_REFERENCE to the reference edgeward_schema.wasm")
    return schema_filters(Path(ref))


def body_floor_filters() -> list:
    """benches/body-floor: edgeward's adapter and driver, pausing, buffering
    and reading the whole body, deciding nothing (the floor of a body filter)."""
    subprocess.run(["cargo", "build", "--release", "--target", "wasm32-wasip1", "-p", "edgeward-body-floor"],
                   check=True, capture_output=True, cwd=REPO)
    path = REPO / "target" / "wasm32-wasip1" / "release" / "edgeward_body_floor.wasm"
    return [wasm_filter("body_floor", path, {})]


def schema_cases() -> list[Case]:
    bad = Probe(RequestSpec(method="POST", path="/orders", body=b'{"items": 1}',
                            headers={"content-type": "application/json"}), 400)
    cases = []
    for size, label in ((1024, "1 KB"), (65536, "64 KB")):
        req = json_post(size)
        cases += [
            Case(f"no filter, POST {label} JSON", [], req),
            Case(f"body floor (wasm, buffers only), POST {label} JSON", body_floor_filters, req),
            Case(f"edgeward schema, POST {label} JSON", schema_filters, req, probes=[bad]),
            Case(f"edgeward schema vs body floor, POST {label} JSON", schema_filters, req, probes=[bad],
                 baseline_filters=body_floor_filters, baseline_name="body floor"),
            Case(f"edgeward schema vs reference build, POST {label} JSON", schema_filters, req,
                 probes=[bad], baseline_filters=schema_reference_filters,
                 baseline_name="reference build", optional=True),
        ]
    return cases


def default_cases() -> list[Case]:
    if not WASM.exists():
        raise SystemExit(f"{WASM} is missing: run `make wasm` first")
    claims = keys.standard_claims(ISS, AUD, ttl=3600)
    kps = {alg: keys.cached_keypair(alg) for alg in ("RS256", "ES256", "EdDSA", "HS256")}
    tok = {alg: keys.mint(kp, claims) for alg, kp in kps.items()}

    def edgeward(alg: str, cache_size: int, check=None) -> Case:
        label = "cached token" if cache_size else "no cache"
        return Case(f"edgeward {alg}, {label}",
                    lambda: edgeward_filters(kps[alg], cache_size),
                    bearer(tok[alg]), probes=[no_token_probe()], check=check)

    def native(alg: str, cache_size: int = 0) -> Case:
        label = f", jwt_cache_size {cache_size}" if cache_size else ", no cache"
        return Case(f"native jwt_authn {alg}{label}",
                    lambda: native_jwt_authn_filters(kps[alg], cache_size),
                    bearer(tok[alg]), probes=[no_token_probe()])

    return [
        Case("no filter", [], RequestSpec()),
        Case("minimal wasm filter (SDK)", trivial_wasm_filters, RequestSpec()),
        native("RS256"),
        native("ES256"),
        native("RS256", cache_size=100),
        edgeward("RS256", 1000, check=stat_at_least("wasmcustom.edgeward.jwt.token_cache.hit", 1.0)),
        edgeward("RS256", 0),
        edgeward("ES256", 0),
        edgeward("EdDSA", 0),
        edgeward("HS256", 0),
        # A/B: this build against another build of the JWT module
        # ($EDGEWARD_BASELINE_WASM), e.g. before and after a change.
        *[Case(f"edgeward RS256 {label}, vs baseline build",
               lambda size=size: edgeward_filters(kps["RS256"], size), bearer(tok["RS256"]),
               baseline_filters=lambda size=size: edgeward_filters(
                   kps["RS256"], size, Path(os.environ["EDGEWARD_BASELINE_WASM"])),
               baseline_name="$EDGEWARD_BASELINE_WASM", optional=True)
          for size, label in ((1000, "cached"), (0, "no cache"))],
        # Tenant authorization behind a cached token, edgeward against
        # native jwt_authn + rbac with the same policy; the A/B pair gives
        # the ratio between the two directly.
        *tenant_cases(),
        # The PII audit filter: default detectors, record built in on_log and
        # published in filter state (the log line is not written: the bench
        # Envoy runs at warn), against no filter and against the minimal
        # Wasm filter (target: GET <= 1.5x the minimal filter).
        Case("edgeward pii GET, default detectors", lambda: pii_filters(), pii_get(),
             check=stat_at_least("wasmcustom.edgeward.pii.records", 1.0)),
        Case("edgeward pii GET, vs minimal wasm filter", lambda: pii_filters(), pii_get(),
             baseline_filters=trivial_wasm_filters, baseline_name="minimal wasm filter",
             check=stat_at_least("wasmcustom.edgeward.pii.records", 1.0)),
        # The same with only the whole record in filter state (an access log
        # that prints `wasm.edgeward.log` and none of the single fields): five
        # set_property calls fewer on this GET.
        Case("edgeward pii GET, record only in filter state, vs minimal wasm filter",
             lambda: pii_filters(filter_state=["record"]), pii_get(),
             baseline_filters=trivial_wasm_filters, baseline_name="minimal wasm filter",
             check=stat_at_least("wasmcustom.edgeward.pii.records", 1.0)),
        # A/B: this build of the PII module against another one
        # ($EDGEWARD_PII_BASELINE_WASM, e.g. main's), same request.
        # Listed only when the variable is set.
        *([Case("edgeward pii GET, vs baseline build", lambda: pii_filters(), pii_get(),
                baseline_filters=lambda: pii_filters_from(
                    Path(os.environ["EDGEWARD_PII_BASELINE_WASM"])),
                baseline_name="$EDGEWARD_PII_BASELINE_WASM", optional=True),
           Case("edgeward pii POST 4 KB JSON, excerpts on, vs baseline build",
                lambda: pii_filters(body={"request": True, "max_bytes": 4096}), pii_request_4k(),
                baseline_filters=lambda: pii_filters_from(
                    Path(os.environ["EDGEWARD_PII_BASELINE_WASM"]),
                    body={"request": True, "max_bytes": 4096}),
                baseline_name="$EDGEWARD_PII_BASELINE_WASM", optional=True)]
          if os.environ.get("EDGEWARD_PII_BASELINE_WASM") else []),
        Case("edgeward pii GET, record also written to Envoy's log",
             lambda: pii_filters(log={"level": "warn"}), pii_get(), optional=True),
        Case("edgeward pii POST 4 KB JSON, excerpts on",
             lambda: pii_filters(body={"request": True, "max_bytes": 4096}), pii_request_4k(),
             check=stat_at_least("wasmcustom.edgeward.pii.records", 1.0)),
        # Route kinds other than direct_response; not in the default run.
        Case("no filter, via upstream", [], RequestSpec(), route=UPSTREAM, optional=True),
        Case("no filter, POST 1 KB", [], RequestSpec(method="POST", body=b"x" * 1024,
                                                       headers={"content-type": "text/plain"}),
             optional=True),
        *ratelimit_cases(),
    ]


def tenant_cases() -> list[Case]:
    kp = keys.cached_keypair("RS256")
    tok = keys.mint(kp, tenant_token_claims())
    req = bearer(tok, TENANT_PATH)
    cross = Probe(bearer(tok, "/v1/tenants/globex/orders"), 403)
    probes = [no_token_probe(), cross]
    cached = stat_at_least("wasmcustom.edgeward.jwt.token_cache.hit", 1.0)
    return [
        Case("edgeward RS256 cached + tenant", lambda: edgeward_tenant_filters(kp), req,
             probes=probes, check=cached),
        Case("native jwt_authn RS256 cached + rbac", lambda: native_jwt_rbac_filters(kp), req,
             probes=probes),
        # The tenant filter's own cost: the same chain without it as the baseline.
        Case("edgeward RS256 cached + tenant, vs edgeward RS256 cached alone",
             lambda: edgeward_tenant_filters(kp), req, probes=probes, check=cached,
             baseline_filters=lambda: edgeward_tenant_filters(kp)[:1],
             baseline_name="edgeward RS256 cached alone"),
        Case("edgeward RS256 cached + tenant, vs native jwt_authn cached + rbac",
             lambda: edgeward_tenant_filters(kp), req, probes=probes, check=cached,
             baseline_filters=lambda: native_jwt_rbac_filters(kp),
             baseline_name="native jwt_authn cached + rbac"),
        # JWT + tenant in one filter entry (edgeward_edge): the deployment
        # that pays one module floor.
        Case("edgeward edge (JWT + tenant, one module), vs native jwt_authn cached + rbac",
             lambda: edgeward_edge_filters(kp), req, probes=probes, check=cached,
             baseline_filters=lambda: native_jwt_rbac_filters(kp),
             baseline_name="native jwt_authn cached + rbac"),
        Case("edgeward edge (JWT + tenant, one module), vs edgeward RS256 cached + tenant",
             lambda: edgeward_edge_filters(kp), req, probes=probes, check=cached,
             baseline_filters=lambda: edgeward_tenant_filters(kp),
             baseline_name="edgeward RS256 cached + tenant"),
        # A/B of two builds of the edge module ($EDGEWARD_EDGE_BASELINE_WASM,
        # e.g. main's), same configuration and request.
        *([Case("edgeward edge (JWT + tenant, one module), vs baseline build",
                lambda: edgeward_edge_filters(kp), req, probes=probes, check=cached,
                baseline_filters=lambda: edgeward_edge_filters(
                    kp, Path(os.environ["EDGEWARD_EDGE_BASELINE_WASM"])),
                baseline_name="$EDGEWARD_EDGE_BASELINE_WASM", optional=True)]
          if os.environ.get("EDGEWARD_EDGE_BASELINE_WASM") else []),
        *schema_cases(),
    ]


if __name__ == "__main__":
    sys.exit(main())
