"""Fixtures for the docker-compose harness tests (deploy/compose/).

- `stack`: one compose project for the whole session, with its own project name and
  image tag (never a stack `make compose-up` started). Docker is installed and a
  private dockerd started when needed; only when Docker cannot run at all are the
  tests skipped, with the reason. On teardown -- also after a failure or Ctrl-C --
  every container, the network and the images of this session are removed, and the
  dockerd is stopped if this session started it.
- `healthy`: the stack with every service running and connected, before and after
  the test (tests crash, stop and partition containers; each test starts from a
  whole stack and leaves one).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "deploy" / "compose"))
sys.path.insert(0, str(REPO_ROOT / "tests" / "e2e"))

import composectl  # noqa: E402
from engine import Engine, EngineUnavailable  # noqa: E402

TIMINGS: dict[str, float] = {}


def _log(msg: str) -> None:
    print(f"[compose] {msg}", file=sys.stderr, flush=True)


def _remove_stale_test_projects(eng: Engine) -> None:
    """Containers and networks of an earlier session that was killed (SIGKILL leaves no
    teardown): projects named edgeward-test-<pid> whose pid is gone."""
    r = subprocess.run(["docker", "ps", "-a", "--format", '{{.Label "com.docker.compose.project"}}'],
                       env=eng.env, capture_output=True, text=True)
    for project in set(r.stdout.split()):
        if project.startswith("edgeward-test-"):
            pid = project.rsplit("-", 1)[1]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                _log(f"removing leftovers of {project}")
                composectl.Stack(eng, project, f"test-{pid}", log=_log).down(remove_images=True)
    r = subprocess.run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}",
                        "--filter", f"reference={composectl.images.REPOSITORY}/*:test-*"],
                       env=eng.env, capture_output=True, text=True)
    for ref in r.stdout.split():
        pid = ref.rsplit("test-", 1)[1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            subprocess.run(["docker", "rmi", "-f", ref], env=eng.env, capture_output=True)


@pytest.fixture(scope="session")
def stack():
    t0 = time.monotonic()
    pre_existing = Engine.find()
    try:
        eng = pre_existing or Engine.ensure(log=_log)
    except EngineUnavailable as e:
        pytest.skip(f"Docker cannot run here: {e}")
    TIMINGS["engine_s"] = time.monotonic() - t0
    started_engine = pre_existing is None
    _remove_stale_test_projects(eng)
    st = composectl.Stack(eng, f"edgeward-test-{os.getpid()}", f"test-{os.getpid()}", log=_log)
    try:
        t1 = time.monotonic()
        composectl.images.build(eng, st.tag, log=_log)
        TIMINGS["images_s"] = time.monotonic() - t1
        # A daemon that answers may still be unable to run a container (no namespaces
        # or cgroups in an unprivileged CI container): that is "Docker cannot run" too.
        probe = st.docker("run", "--rm", "--network", "none", composectl.images.image_ref("redis", st.tag),
                          "--version", check=False)
        if probe.returncode != 0:
            pytest.skip(f"Docker cannot run containers here: {probe.stderr.strip()[-400:]}")
        t2 = time.monotonic()
        st.render()
        st.compose("up", "-d", "--no-build")
        st.wait_ready(timeout=180)
        TIMINGS["up_s"] = time.monotonic() - t2
        _log(f"stack up: engine {TIMINGS['engine_s']:.1f} s, images {TIMINGS['images_s']:.1f} s, "
             f"containers {TIMINGS['up_s']:.1f} s")
        yield st
    finally:
        t3 = time.monotonic()
        st.down(remove_images=True)
        if started_engine:
            eng.stop_if_owned(log=_log)
        TIMINGS["teardown_s"] = time.monotonic() - t3


def pytest_terminal_summary(terminalreporter):
    if TIMINGS:
        terminalreporter.write_line("compose harness: " + ", ".join(
            f"{k.removesuffix('_s')} {v:.1f} s" for k, v in TIMINGS.items()))


def restore(st: composectl.Stack) -> None:
    """Every service running and on the network, the configs as rendered; wait."""
    for service in composectl.SERVICES:
        cid = st.container(service)
        nets = st.docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", cid).stdout
        if st.network not in nets:
            st.connect(service)
        if not st.running(service):
            st.start(service)
    st.wait_ready(timeout=120)


@pytest.fixture
def healthy(stack):
    restore(stack)
    try:
        yield stack
    finally:
        restore(stack)
