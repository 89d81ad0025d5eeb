"""Which Docker engine and which compose CLI the harness uses (deploy/compose/engine.py,
composectl.compose_command), with a fake `docker` / `docker-compose` / `dockerd` on PATH:
no Docker needed, nothing started.

- an engine that already answers (DOCKER_HOST, the CLI's default, a rootless socket)
  is used and never owned (so never stopped); the private dockerd is only the fallback;
- `docker compose` (v2) is preferred, `docker-compose` (v1) used when the plugin is
  missing, `EDGEWARD_COMPOSE` picks one explicitly;
- a socket that answers `/_ping` with no docker CLI installed gets the CLI installed,
  not a second daemon.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import textwrap
import threading
from pathlib import Path

import pytest

import composectl
import engine

# The fake CLI: `docker info` answers only for the hosts in FAKE_DOCKER_ANSWERS
# ("default" = no DOCKER_HOST); `docker compose version` works iff FAKE_COMPOSE_PLUGIN=1.
# Every call is appended to FAKE_DOCKER_LOG as JSON [argv, DOCKER_HOST].
FAKE_DOCKER = textwrap.dedent(f"""\
    #!{sys.executable}
    import json, os, sys
    host = os.environ.get("DOCKER_HOST") or "default"
    with open(os.environ["FAKE_DOCKER_LOG"], "a") as f:
        f.write(json.dumps([os.path.basename(sys.argv[0]), sys.argv[1:], host]) + "\\n")
    args = sys.argv[1:]
    name = os.path.basename(sys.argv[0])
    if name == "docker-compose":
        sys.exit(0 if args[:1] == ["version"] else 2)
    if name == "dockerd":
        sys.exit(3)
    if args[:1] == ["info"]:
        if host in os.environ.get("FAKE_DOCKER_ANSWERS", "").split(","):
            print("27.0.0-fake")
            sys.exit(0)
        print("Cannot connect to the Docker daemon", file=sys.stderr)
        sys.exit(1)
    if args[:2] == ["compose", "version"]:
        sys.exit(0 if os.environ.get("FAKE_COMPOSE_PLUGIN") == "1" else 1)
    sys.exit(2)
""")


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """A PATH with only the fake tools chosen (plus what the fakes need), a clean
    environment and a state file of our own."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    log.touch()

    class Fake:
        def tool(self, name: str) -> None:
            path = bin_dir / name
            path.write_text(FAKE_DOCKER)
            path.chmod(0o755)

        def calls(self) -> list:
            return [json.loads(line) for line in log.read_text().splitlines()]

    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("FAKE_DOCKER_LOG", str(log))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for var in ("DOCKER_HOST", "XDG_RUNTIME_DIR", "EDGEWARD_COMPOSE", "FAKE_DOCKER_ANSWERS",
                "FAKE_COMPOSE_PLUGIN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(engine, "STATE_FILE", tmp_path / "dockerd.json")
    started, installed = [], []

    def no_private(log, timeout):
        started.append(True)
        raise engine.EngineUnavailable("test: would start a private dockerd")

    def no_apt(log):
        installed.append(True)
    monkeypatch.setattr(engine, "_start_private", no_private)
    monkeypatch.setattr(engine, "_apt_install", no_apt)
    f = Fake()
    f.started, f.installed, f.tmp = started, installed, tmp_path
    return f


def _unix_listener(path: Path, reply: bytes | None):
    """A unix socket at `path`; with `reply`, a tiny server answering every connection."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.listen(8)
    stop = threading.Event()

    def serve():
        s.settimeout(0.1)
        while not stop.is_set():
            try:
                c, _ = s.accept()
            except OSError:
                continue
            with c:
                c.settimeout(1)
                try:
                    c.recv(4096)
                    c.sendall(reply)
                except OSError:
                    pass
    t = threading.Thread(target=serve, daemon=True)
    if reply is not None:
        t.start()

    def close():
        stop.set()
        if reply is not None:
            t.join()
        s.close()
    return close


def test_the_engine_the_cli_reaches_by_default_is_used_and_not_owned(fake, monkeypatch):
    fake.tool("docker")
    monkeypatch.setenv("FAKE_DOCKER_ANSWERS", "default")
    eng = engine.Engine.ensure(log=lambda m: None)
    assert (eng.docker_host, eng.owned_pid) == (None, None)
    assert "existing Docker engine" in eng.describe()
    assert not fake.started and not fake.installed
    eng.stop_if_owned(log=lambda m: None)      # never stops an engine it did not start
    assert "DOCKER_HOST" not in eng.env


def test_docker_host_is_used_when_it_answers(fake, monkeypatch):
    fake.tool("docker")
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2375")
    monkeypatch.setenv("FAKE_DOCKER_ANSWERS", "tcp://127.0.0.1:2375")
    eng = engine.Engine.ensure(log=lambda m: None)
    assert (eng.docker_host, eng.owned_pid) == ("tcp://127.0.0.1:2375", None)
    assert eng.env["DOCKER_HOST"] == "tcp://127.0.0.1:2375"
    assert not fake.started


def test_an_explicit_docker_host_is_the_only_existing_candidate(fake, monkeypatch):
    """DOCKER_HOST names the engine the user wants: the default socket is not tried
    behind its back; when it does not answer, the private dockerd is the fallback."""
    fake.tool("docker")
    fake.tool("dockerd")
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    monkeypatch.setenv("FAKE_DOCKER_ANSWERS", "default")
    assert engine.Engine.find() is None
    msgs = []
    with pytest.raises(engine.EngineUnavailable, match="would start a private dockerd"):
        engine.Engine.ensure(log=msgs.append)
    assert fake.started == [True]
    assert any("does not answer" in m for m in msgs), msgs
    hosts = {c[2] for c in fake.calls() if c[1][:1] == ["info"]}
    assert hosts == {"unix:///nonexistent/docker.sock"}


def test_a_rootless_socket_is_found_when_the_default_does_not_answer(fake, monkeypatch):
    fake.tool("docker")
    run = fake.tmp / "run"
    run.mkdir()
    sock = run / "docker.sock"
    close = _unix_listener(sock, None)
    try:
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(run))
        monkeypatch.setenv("FAKE_DOCKER_ANSWERS", f"unix://{sock}")
        assert engine.candidate_hosts(dict(os.environ))[:2] == [None, f"unix://{sock}"]
        eng = engine.Engine.ensure(log=lambda m: None)
        assert (eng.docker_host, eng.owned_pid) == (f"unix://{sock}", None)
        assert not fake.started
    finally:
        close()


def test_a_socket_path_that_is_not_a_socket_is_not_a_candidate(fake, monkeypatch):
    run = fake.tmp / "run"
    run.mkdir()
    (run / "docker.sock").write_text("not a socket")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(run))
    assert f"unix://{run / 'docker.sock'}" not in engine.candidate_hosts(dict(os.environ))


def test_the_private_dockerd_is_only_the_fallback(fake, monkeypatch):
    fake.tool("docker")
    fake.tool("dockerd")
    monkeypatch.setenv("FAKE_DOCKER_ANSWERS", "")
    assert engine.Engine.find() is None
    with pytest.raises(engine.EngineUnavailable, match="would start a private dockerd"):
        engine.Engine.ensure(log=lambda m: None)
    assert fake.started == [True] and not fake.installed


def test_a_recorded_private_dockerd_whose_pid_is_gone_is_not_used(fake, monkeypatch):
    fake.tool("docker")
    engine.STATE_FILE.write_text(json.dumps({"pid": 2 ** 22 + 12345, "host": "unix:///gone.sock"}))
    monkeypatch.setenv("FAKE_DOCKER_ANSWERS", "unix:///gone.sock")
    assert engine.Engine.find() is None


def test_without_dockerd_and_without_install_it_says_why(fake, monkeypatch):
    fake.tool("docker")
    monkeypatch.setenv("FAKE_DOCKER_ANSWERS", "")
    with pytest.raises(engine.EngineUnavailable, match="dockerd is not installed"):
        engine.Engine.ensure(log=lambda m: None, install=False)
    assert not fake.started


def test_a_running_engine_without_the_cli_gets_the_cli_not_a_second_daemon(fake, monkeypatch):
    run = fake.tmp / "run"
    run.mkdir()
    sock = run / "docker.sock"
    close = _unix_listener(sock, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")
    try:
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(run))
        assert engine._pings(f"unix://{sock}")
        assert not engine._pings(f"unix://{run / 'absent.sock'}")
        with pytest.raises(engine.EngineUnavailable, match="docker CLI is not installed"):
            engine.Engine.ensure(log=lambda m: None, install=False)
        # With install: apt brings the CLI (here: the fake appears), then that engine is used.
        monkeypatch.setenv("FAKE_DOCKER_ANSWERS", f"unix://{sock}")
        monkeypatch.setattr(engine, "_apt_install", lambda log: (fake.installed.append(True),
                                                                 fake.tool("docker")))
        eng = engine.Engine.ensure(log=lambda m: None)
        assert eng.docker_host == f"unix://{sock}" and eng.owned_pid is None
        assert fake.installed == [True] and not fake.started
    finally:
        close()


def test_a_socket_that_is_not_docker_does_not_ping(fake):
    sock = fake.tmp / "other.sock"
    close = _unix_listener(sock, b"HTTP/1.1 404 Not Found\r\n\r\nno")
    try:
        assert not engine._pings(f"unix://{sock}")
    finally:
        close()


def test_compose_v2_plugin_is_preferred(fake, monkeypatch):
    fake.tool("docker")
    fake.tool("docker-compose")
    monkeypatch.setenv("FAKE_COMPOSE_PLUGIN", "1")
    assert composectl.compose_command(dict(os.environ)) == ["docker", "compose"]


def test_compose_v1_is_used_without_the_plugin(fake, monkeypatch):
    fake.tool("docker")
    fake.tool("docker-compose")
    assert composectl.compose_command(dict(os.environ)) == ["docker-compose"]


def test_no_compose_at_all_is_engine_unavailable(fake):
    fake.tool("docker")
    with pytest.raises(composectl.EngineUnavailable, match="apt-get install docker-compose"):
        composectl.compose_command(dict(os.environ))


def test_edgeward_compose_chooses_the_flavour(fake, monkeypatch):
    fake.tool("docker")
    fake.tool("docker-compose")
    monkeypatch.setenv("FAKE_COMPOSE_PLUGIN", "1")
    env = dict(os.environ, EDGEWARD_COMPOSE="docker-compose")
    assert composectl.compose_command(env) == ["docker-compose"]
    monkeypatch.setenv("FAKE_COMPOSE_PLUGIN", "0")
    env = dict(os.environ, EDGEWARD_COMPOSE="docker compose")
    with pytest.raises(composectl.EngineUnavailable, match="does not run"):
        composectl.compose_command(env)
    with pytest.raises(composectl.EngineUnavailable, match="give 'docker compose'"):
        composectl.compose_command(dict(os.environ, EDGEWARD_COMPOSE="podman-compose"))


def test_composectl_engine_reports_without_starting_anything(fake, monkeypatch, capsys):
    fake.tool("docker")
    fake.tool("docker-compose")
    monkeypatch.setenv("FAKE_DOCKER_ANSWERS", "default")
    assert composectl.main(["engine"]) == 0
    out = capsys.readouterr().out
    assert "existing Docker engine (default socket)" in out and "compose: docker-compose" in out
    monkeypatch.setenv("FAKE_DOCKER_ANSWERS", "")
    assert composectl.main(["engine"]) == 1
    assert "would start a private dockerd" in capsys.readouterr().out
    assert not fake.started
