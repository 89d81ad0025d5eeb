#!/usr/bin/env python3
"""Where edgeward-jwt's cache-hit cost goes: the RS256 cached-token case of
benches/load.py, against variants that skip work (built by build.sh from
patches/, or chosen by configuration), all measured with load.py's paired
method. Three groups: rungs of a ladder against no filter (the overall
picture), each step of the ladder against the rung below it, and each
piece of work as HEAD against HEAD without it. Steps and pieces are A/B
pairs (two edgeward Envoys side by side), so `extra us/req` is the cost of
that step or piece directly.

    bash benches/jwt-breakdown/build.sh
    .venv/bin/python benches/jwt-breakdown/run.py [--seconds 5] [--rounds 3] [--only REGEX]
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import load  # noqa: E402
from load import Case  # noqa: E402
from harness import keys  # noqa: E402
from harness.envoy import wasm_filter  # noqa: E402

BUILT = load.REPO / "tests" / ".work" / "breakdown"
FLOOR_CRATE = HERE.parent / "abi-floor"
HIT = "wasmcustom.edgeward.jwt.token_cache.hit"


def variant(name: str) -> Path:
    path = BUILT / f"{name}.wasm"
    if not path.exists():
        raise SystemExit(f"{path} is missing: run `bash benches/jwt-breakdown/build.sh`")
    return path


def sdk_floor() -> list:
    """benches/abi-floor's SDK module with an HTTP context overriding
    nothing: what edgeward pays before its own code runs."""
    target = load.REPO / "target"
    subprocess.run(["cargo", "build", "--quiet", "--release", "--target", "wasm32-wasip1",
                    "--examples", "--manifest-path", str(FLOOR_CRATE / "Cargo.toml")],
                   check=True, env=dict(os.environ, CARGO_TARGET_DIR=str(target)))
    path = target / "wasm32-wasip1" / "release" / "examples" / "e_sdk_empty.wasm"
    return [wasm_filter("floor", path, {})]


def cases() -> list[Case]:
    kp = keys.cached_keypair("RS256")
    token = keys.mint(kp, keys.standard_claims(load.ISS, load.AUD, ttl=3600))
    request = load.bearer(token)

    def filters(wasm: str, forward: bool = False, claim_header: bool = False):
        provider = {
            "issuer": load.ISS, "audiences": [load.AUD], "algorithms": ["RS256"],
            "jwks": {"inline": keys.jwks(kp)}, "forward": forward,
        }
        if claim_header:
            provider["claims_to_headers"] = [{"claim": "sub", "header": "x-jwt-sub"}]
        cfg = {
            "providers": {"idp": provider},
            "rules": [{"match": {"prefix": "/"}, "requires": {"provider": "idp"}}],
            "token_cache_size": 1000,
        }
        return lambda: [wasm_filter("edgeward_jwt", variant(wasm), cfg,
                                    failure_policy="FAIL_CLOSED")]

    head = filters("head")
    decided = {"probes": [load.no_token_probe()]}
    hits = {**decided, "check": load.stat_at_least(HIT, 1.0)}

    def ladder(name: str, wasm_filters, **kw) -> Case:
        """One rung, against no filter."""
        return Case(name, wasm_filters, request, **kw)

    def ab(name: str, with_it, without_it, without_name: str, **kw) -> Case:
        """What `with_it` costs more than `without_it`, measured side by side."""
        return Case(name, with_it, request, baseline_filters=without_it,
                    baseline_name=without_name, **kw)

    return [
        # Against no filter: the overall picture.
        Case("no filter", [], load.RequestSpec()),
        ladder("SDK floor (HTTP context overriding nothing)", sdk_floor),
        ladder("native jwt_authn RS256, jwt_cache_size 100",
               lambda: load.native_jwt_authn_filters(kp, 100), **decided),
        ladder("edgeward: returns Continue at once", filters("return-at-once")),
        ladder("edgeward: reads the map, builds the head", filters("map-only")),
        ladder("edgeward: decides, skips the 4 pieces", filters("all-off-map", forward=True),
               **decided),
        ladder("edgeward RS256 cached (HEAD)", head, **hits),
        # Steps up the ladder, each against the rung below it.
        ab("step: enter the edgeward module", filters("return-at-once"), sdk_floor,
           "SDK floor"),
        ab("step: header map + RequestHead", filters("map-only"), filters("return-at-once"),
           "returns at once"),
        ab("  of which: the header-map host call", filters("map-call-only"),
           filters("return-at-once"), "returns at once"),
        ab("  of which: decoding it + RequestHead", filters("map-only"),
           filters("map-call-only"), "map call only"),
        ab("step: decide (rule, token, cache, clock)", filters("all-off-map", forward=True),
           filters("map-only"), "map only", **decided),
        ab("step: the 4 pieces together", head, filters("all-off-map", forward=True),
           "4 pieces skipped", **hits),
        # One piece each: HEAD against HEAD without it.
        ab("piece: identity set_property", head, filters("no-identity-property"),
           "HEAD - identity", **hits),
        ab("piece: decision set_property", head, filters("no-decision-property"),
           "HEAD - decision", **hits),
        ab("piece: both set_property calls", head, filters("no-properties"),
           "HEAD - both properties", **hits),
        ab("piece: the clock host call", head, filters("fixed-clock"), "HEAD, clock read once",
           **hits),
        ab("piece: counters (cache hit, allowed)", head, filters("no-counters"),
           "HEAD - counters", **hits),
        ab("piece: authorization removal", head, filters("head", forward=True),
           "HEAD, forward: true", **hits),
        ab("piece: whole map instead of 3 header reads", head, filters("three-headers"),
           "HEAD, 3 header reads", **hits),
        ab("piece: 1 claim header (drop client copy + set)", filters("head", claim_header=True),
           head, "HEAD", **hits),
        ab("piece: that claim header's set", filters("head", claim_header=True),
           filters("no-claim-header-set", claim_header=True), "claim header, set skipped",
           **hits),
    ]


if __name__ == "__main__":
    sys.exit(load.main(cases=cases(), script="benches/jwt-breakdown/run.py"))
