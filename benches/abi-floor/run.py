#!/usr/bin/env python3
"""How much of the empty-Wasm-filter floor comes from the callbacks a module
exports (Envoy enters every exported one, skips the rest)? Builds the
modules in examples/ and measures each with benches/load.py's paired method.

    .venv/bin/python benches/abi-floor/run.py [--seconds 5] [--rounds 3] [--only REGEX]
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import load  # noqa: E402
from load import Case, RequestSpec  # noqa: E402
from harness.envoy import EnvoyProcess, wasm_filter  # noqa: E402
from wasm_exports import exports  # noqa: E402

TARGET = load.REPO / "target"
OUT = TARGET / "wasm32-wasip1" / "release" / "examples"
HTTP_CALLBACKS = {
    "proxy_on_request_headers", "proxy_on_request_body", "proxy_on_request_trailers",
    "proxy_on_response_headers", "proxy_on_response_body", "proxy_on_response_trailers",
    "proxy_on_log", "proxy_on_http_call_response", "proxy_on_tick",
}


def build() -> None:
    subprocess.run(["cargo", "build", "--release", "--target", "wasm32-wasip1", "--examples",
                    "--manifest-path", str(HERE / "Cargo.toml")], check=True,
                   env=dict(os.environ, CARGO_TARGET_DIR=str(TARGET)))


def module(name: str, expect_http: set[str]) -> Path:
    """The built module, after checking it exports exactly the HTTP
    callbacks the variant claims (so a linker surprise cannot skew it)."""
    path = OUT / f"{name}.wasm"
    got = set(exports(path)) & HTTP_CALLBACKS
    if got != expect_http:
        raise SystemExit(f"{path}: exports HTTP callbacks {sorted(got)}, "
                         f"expected {sorted(expect_http)}")
    return path


def vm_running(env: EnvoyProcess, _requests: int) -> None:
    if env.stat("wasm.envoy.wasm.runtime.v8.active") < 1:
        raise RuntimeError("no Wasm VM is active: the module did not load")


def cases() -> list[Case]:
    build()
    only_headers = {"proxy_on_request_headers"}

    def wasm(name: str, path: Path) -> list:
        return [wasm_filter(name, path, {})]

    mods = {
        "a": wasm("a", module("a_all_callbacks", HTTP_CALLBACKS)),
        "b": wasm("b", module("b_request_headers", only_headers)),
        "e": wasm("e", module("e_sdk_empty", HTTP_CALLBACKS)),
        "g": wasm("g", module("g_no_http_callbacks", set())),
        "h": wasm("h", module("h_bare_module", set())),
        "i": wasm("i", module("i_ratelimit_floor", only_headers)),
        "k": wasm("k", module("k_ratelimit_floor_map", only_headers)),
        "j": wasm("j", module("j_audit_record_floor", {"proxy_on_log"})),
    }
    rl_request = RequestSpec(headers=dict(load.RL_HEADERS))

    def ab(name: str, with_it: str, without_it: str) -> Case:
        """Module `with_it` beside module `without_it`: the difference directly."""
        return Case(name, mods[with_it], RequestSpec(), baseline_filters=mods[without_it],
                    baseline_name=f"({without_it})", check=vm_running)

    return [
        Case("no filter", [], RequestSpec()),
        Case("(a) raw, exports every HTTP callback",
             wasm("a", module("a_all_callbacks", HTTP_CALLBACKS)), check=vm_running),
        Case("(b) raw, exports request headers only",
             wasm("b", module("b_request_headers", only_headers)), check=vm_running),
        Case("(c) raw, (b) + header map + set_property 300 B",
             wasm("c", module("c_headers_map_set_property", only_headers)), check=vm_running),
        Case("(d) SDK trivial filter (1 get + 1 replace header)",
             load.trivial_wasm_filters, check=vm_running),
        Case("(e) SDK, HTTP context overriding nothing",
             wasm("e", module("e_sdk_empty", HTTP_CALLBACKS)), check=vm_running),
        Case("(f) raw, (a) + 1 get + 1 replace header",
             wasm("f", module("f_raw_trivial", HTTP_CALLBACKS)), check=vm_running),
        Case("(g) raw, lifecycle exports, no HTTP callback",
             wasm("g", module("g_no_http_callbacks", set())), check=vm_running),
        Case("(h) raw, no context callbacks either",
             wasm("h", module("h_bare_module", set())), check=vm_running),
        # Side by side, each step of the floor against the one below it.
        ab("(g) vs (h): context create + done + delete entries", "g", "h"),
        ab("(b) vs (g): the request-headers entry", "b", "g"),
        ab("(a) vs (b): every other HTTP callback exported", "a", "b"),
        ab("(e) vs (a): the SDK instead of raw exports", "e", "a"),
        # The least host work of two issue targets, against what each target
        # is measured against: if the floor alone misses it, no filter can meet it.
        Case("(i) raw, rate-limit host calls (1 header, clock, get + CAS, set_property, counter)",
             mods["i"], rl_request, check=vm_running),
        Case("edgeward ratelimit local, vs (i)", load.edgeward_ratelimit_local_filters,
             rl_request, baseline_filters=mods["i"], baseline_name="(i)"),
        Case("(k) raw, (i) with the header map instead of one header",
             mods["k"], rl_request, check=vm_running),
        Case("(k) vs (i): the header map instead of one header", mods["k"], rl_request,
             baseline_filters=mods["i"], baseline_name="(i)", check=vm_running),
        Case("edgeward ratelimit local, vs (k)", load.edgeward_ratelimit_local_filters,
             rl_request, baseline_filters=mods["k"], baseline_name="(k)"),
        Case("(j) raw, audit-record host calls (header map, 9 properties, set_property), "
             "vs minimal wasm filter", mods["j"], load.pii_get(),
             baseline_filters=load.trivial_wasm_filters, baseline_name="minimal wasm filter",
             check=vm_running),
        Case("edgeward pii GET, vs (j)", lambda: load.pii_filters(), load.pii_get(),
             baseline_filters=mods["j"], baseline_name="(j)"),
    ]


if __name__ == "__main__":
    sys.exit(load.main(cases=cases(), script="benches/abi-floor/run.py"))
