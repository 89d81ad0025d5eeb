"""Fixtures for edgeward end-to-end tests (real Envoy + Wasm filters).

- upstream:   EchoUpstream (one per session, cleared before each test)
- idp:        a fresh IdpStub per test (serves an empty JWKS until set_jwks)
- wasm_path:  wasm_path("edgeward_jwt") -> Path of dist/edgeward_jwt.wasm (fails if missing)
- gateway:    gateway(http_filters, extra_clusters=(), routes=None, ...) -> started EnvoyProcess
              routed to `upstream`; stopped after the test, whose log is then
              checked for Wasm crashes (panics, V8 traps)
- trivial_wasm: path of a tiny test filter built from tests/fixtures/trivial-filter
- rls_service_built: fails the test unless `make rls` built the service and installed Redis
- redis:      a fresh, empty RedisServer on a free port
- rls:        rls(limits, redis_url=... | memory=True) -> started RlsProcess (factory)
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.echo_upstream import EchoUpstream
from harness.envoy import (
    REPO_ROOT, WORK_ROOT, EnvoyProcess, envoy_binary, gateway_config,
)
from harness.idp_stub import IdpStub
from harness.ports import free_port
from harness.redis import RedisServer, redis_binary
from harness.rls import RlsProcess, rls_binary

E2E_WORK = WORK_ROOT / "e2e"


def pytest_sessionstart(session):
    # Fresh work dirs each run; old ones are kept until the next run for debugging.
    shutil.rmtree(E2E_WORK, ignore_errors=True)
    E2E_WORK.mkdir(parents=True, exist_ok=True)
    if not envoy_binary().exists():
        pytest.exit(f"Envoy not found at {envoy_binary()}: run `make venv` and use .venv/bin/python",
                    returncode=1)


@pytest.fixture(scope="session")
def _echo_server():
    with EchoUpstream() as server:
        yield server


@pytest.fixture
def upstream(_echo_server) -> EchoUpstream:
    """The echo upstream, with its request log cleared for this test."""
    _echo_server.clear()
    return _echo_server


@pytest.fixture
def idp():
    """A fresh IdP stub ("ok" mode, empty JWKS): call idp.set_jwks(keys.jwks(kp))."""
    with IdpStub() as stub:
        yield stub


@pytest.fixture(scope="session")
def wasm_path():
    """wasm_path(name) -> REPO_ROOT/dist/<name>.wasm; the test fails if it is missing
    (`make e2e` builds dist/ first)."""

    def _path(name: str) -> Path:
        p = REPO_ROOT / "dist" / f"{name}.wasm"
        if not p.is_file():
            pytest.fail(f"{p} is missing: run `make wasm` (or `make e2e`, which builds it)")
        return p

    return _path


def _safe_name(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid.split("::", 1)[-1])[:80]


@pytest.fixture
def gateway(request, upstream):
    """Factory: start an Envoy gateway in front of `upstream`.

        gw = gateway([wasm_filter(...)], extra_clusters=[cluster("idp", idp.port)])
        client.get(gw.port, "/orders", bearer(token))

    Keyword args: routes, concurrency (2), wasm_debug (False), timeout (20 s),
    allow_crash (False: after the test, crash markers in the log fail it),
    and any gateway_config() keyword (access_log_path, hcm_extra, ...).
    Every Envoy started here is stopped after the test, even on failure.
    """
    started: list[tuple[EnvoyProcess, bool]] = []

    def start(http_filters, extra_clusters=(), routes=None, *, concurrency=2,
              wasm_debug=False, timeout=20.0, allow_crash=False, **config_kw) -> EnvoyProcess:
        cfg = gateway_config(free_port(), free_port(), upstream.port, http_filters,
                             extra_clusters=extra_clusters, routes=routes, **config_kw)
        workdir = E2E_WORK / f"{_safe_name(request.node.nodeid)}-{len(started)}"
        proc = EnvoyProcess(cfg, concurrency=concurrency, wasm_debug=wasm_debug,
                            workdir=workdir)
        started.append((proc, allow_crash))
        return proc.start(timeout)

    yield start

    crashes = []
    for proc, allow_crash in started:
        proc.stop()
        # A failed start already raised EnvoyStartError (with the log) in the test.
        if not allow_crash and proc.startup_seconds is not None:
            lines = proc.crash_lines()
            if lines:
                crashes.append(f"{proc.log_path}:\n  " + "\n  ".join(lines[:20]))
    if crashes:
        pytest.fail("Wasm crash markers in the Envoy log:\n" + "\n".join(crashes), pytrace=False)


@pytest.fixture(scope="session")
def trivial_wasm() -> Path:
    """Build tests/fixtures/trivial-filter for wasm32-wasip1 (a few seconds warm)."""
    manifest = REPO_ROOT / "tests" / "fixtures" / "trivial-filter" / "Cargo.toml"
    target_dir = WORK_ROOT / "trivial-target"
    env = dict(os.environ, CARGO_TARGET_DIR=str(target_dir))
    if shutil.which("cargo") is None:
        pytest.skip("cargo is not installed: cannot build the trivial test filter")
    if shutil.which("rustup"):
        subprocess.run(["rustup", "target", "add", "wasm32-wasip1"], capture_output=True)
    r = subprocess.run(
        ["cargo", "build", "--release", "--target", "wasm32-wasip1", "--manifest-path",
         str(manifest)], capture_output=True, text=True, env=env,
    )
    if r.returncode != 0:
        pytest.fail(f"building the trivial filter failed:\n{r.stderr[-3000:]}")
    return target_dir / "wasm32-wasip1" / "release" / "edgeward_trivial_filter.wasm"


def _test_workdir(request, what: str) -> Path:
    """A work dir named after the test, for a process the test starts."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)[:60]
    d = E2E_WORK / f"{name}-{what}"
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture(scope="session")
def rls_service_built():
    if not rls_binary().is_file():
        pytest.fail(f"{rls_binary()} is missing: run `make rls` first (it installs "
                    "redis-server, then builds the service)", pytrace=False)
    if redis_binary() is None:
        pytest.fail("redis-server is not installed: run `make rls` first", pytrace=False)


@pytest.fixture
def redis(request, rls_service_built):
    """A fresh, empty Redis on a free port (stopped after the test)."""
    server = RedisServer(workdir=_test_workdir(request, "redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def rls(request, rls_service_built):
    """Factory: rls(limits, redis_url=... | memory=True) -> started RlsProcess."""
    started: list[RlsProcess] = []

    def start(limits, **kw) -> RlsProcess:
        p = RlsProcess(limits, workdir=_test_workdir(request, f"rls{len(started)}"), **kw)
        started.append(p)
        return p.start()

    yield start
    for p in started:
        p.stop()
