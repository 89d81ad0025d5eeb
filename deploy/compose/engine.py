"""A Docker engine for the compose harness: an existing one, or a private dockerd.

Order of preference:
1. an engine that already runs and answers, never started or stopped by us:
   `DOCKER_HOST` when it is set; else the docker CLI's own default (its current
   context, normally /var/run/docker.sock); else a rootless or Docker Desktop socket
   that exists (`$XDG_RUNTIME_DIR/docker.sock`, `/run/user/<uid>/docker.sock`,
   `~/.docker/run/docker.sock`, `~/.docker/desktop/docker.sock`), used through
   `DOCKER_HOST=unix://...`;
2. the private dockerd an earlier `make compose-up` started (state file below);
3. only when none of these answers, a new private dockerd: `--data-root` under the
   repo's `.compose/`, vfs storage, no iptables, no default bridge (user-defined
   networks only), its own socket. Its pid goes into the state file so
   `compose-down` (or the test session that started it) stops exactly that process.

The engine must be local: the harness bind-mounts rendered configs from `.compose/run/`.
Docker itself (`docker.io`, `docker-compose`) is apt-installed when we are root and
`dockerd` is missing, or when an engine's socket answers `/_ping` but there is no
docker CLI to drive it. `EngineUnavailable` says why Docker cannot run here; the
tests turn it into a skip with that message. `composectl.py engine` (`make
compose-engine`) prints what would be used, starting nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
WORK = REPO_ROOT / ".compose"
STATE_FILE = WORK / "dockerd.json"
APT_PACKAGES = ("docker.io", "docker-compose")


class EngineUnavailable(RuntimeError):
    """Docker cannot run on this machine (the message says why)."""


def _short_dir() -> Path:
    # Unix socket paths are limited to 108 bytes and containerd nests its sockets
    # under the exec root: keep both short, one per checkout.
    digest = hashlib.sha256(str(REPO_ROOT).encode()).hexdigest()[:10]
    return Path("/tmp") / f"edgeward-docker-{digest}"


def _answers(env: dict, timeout: float = 10.0) -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        r = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], env=env,
                           capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0 and r.stdout.strip() != ""


def _is_socket(path: Path) -> bool:
    try:
        return stat.S_ISSOCK(path.stat().st_mode)
    except OSError:
        return False


def candidate_hosts(environ: dict) -> list[str | None]:
    """Where an engine that already runs may answer, in order of preference. `None`
    is the docker CLI's own default (its context, normally /var/run/docker.sock).
    An explicit DOCKER_HOST is the only candidate: the user chose that engine."""
    if environ.get("DOCKER_HOST"):
        return [environ["DOCKER_HOST"]]
    hosts: list[str | None] = [None]
    uid = os.getuid()
    home = Path(environ["HOME"]) if environ.get("HOME") else None
    paths = []
    if environ.get("XDG_RUNTIME_DIR"):
        paths.append(Path(environ["XDG_RUNTIME_DIR"]) / "docker.sock")   # rootless dockerd
    paths.append(Path(f"/run/user/{uid}/docker.sock"))
    if home:
        paths += [home / ".docker" / "run" / "docker.sock",              # Docker Desktop
                  home / ".docker" / "desktop" / "docker.sock"]
    for path in paths:
        host = f"unix://{path}"
        if host not in hosts and _is_socket(path):
            hosts.append(host)
    return hosts


def _pings(host: str, timeout: float = 2.0) -> bool:
    """True when a Docker API answers `GET /_ping` on a unix:// host (no CLI needed)."""
    if not host.startswith("unix://"):
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(host.removeprefix("unix://"))
            s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            reply = b""
            while len(reply) < 4096:
                chunk = s.recv(4096)
                if not chunk:
                    break
                reply += chunk
    except OSError:
        return False
    head, _, body = reply.partition(b"\r\n\r\n")
    return head.split(b" ", 2)[1:2] == [b"200"] and body.strip() == b"OK"


def _pid_alive(pid: int) -> bool:
    """True when `pid` is still the dockerd we started (pids get reused)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return bool(cmdline) and cmdline[0].endswith(b"dockerd") and \
        str(WORK / "docker").encode() in cmdline


class Engine:
    """Where the docker CLI talks to, and whether we own that daemon."""

    def __init__(self, docker_host: str | None, owned_pid: int | None):
        self.docker_host = docker_host
        self.owned_pid = owned_pid

    @property
    def env(self) -> dict:
        env = dict(os.environ)
        if self.docker_host:
            env["DOCKER_HOST"] = self.docker_host
        # docker-compose 1.29 and the v2 plugin both honour these; no telemetry, no prompts.
        env.setdefault("COMPOSE_INTERACTIVE_NO_CLI", "1")
        env["DOCKER_CLI_HINTS"] = "false"
        return env

    def describe(self) -> str:
        if self.owned_pid:
            return f"private dockerd pid {self.owned_pid} on {self.docker_host}"
        return f"existing Docker engine ({self.docker_host or 'default socket'})"

    # ------------------------------------------------------------------
    @classmethod
    def find(cls, environ: dict | None = None) -> "Engine | None":
        """An engine that answers now, without starting anything."""
        environ = dict(os.environ) if environ is None else environ
        for host in candidate_hosts(environ):
            env = dict(environ) if host is None else dict(environ, DOCKER_HOST=host)
            if _answers(env):
                return cls(host, None)
        state = _read_state()
        if state and _pid_alive(state["pid"]):
            env = dict(environ, DOCKER_HOST=state["host"])
            if _answers(env):
                return cls(state["host"], state["pid"])
        return None

    @classmethod
    def ensure(cls, log=print, install: bool = True, timeout: float = 60.0) -> "Engine":
        """An engine that answers, installing Docker and starting a dockerd if needed."""
        found = cls.find()
        if found:
            return found
        if shutil.which("docker") is None:
            pinging = [h for h in candidate_hosts(dict(os.environ)) if h and _pings(h)]
            if pinging:
                # An engine runs, only the CLI is missing: install it, start nothing.
                if not install:
                    raise EngineUnavailable(f"a Docker engine answers on {pinging[0]} but the "
                                            "docker CLI is not installed")
                log(f"a Docker engine answers on {pinging[0]}; installing the docker CLI")
                _apt_install(log)
                found = cls.find()
                if found:
                    return found
        if shutil.which("dockerd") is None:
            if not install:
                raise EngineUnavailable("no Docker engine answers and dockerd is not installed")
            _apt_install(log)
            found = cls.find()   # the package may have brought a daemon that now runs
            if found:
                return found
        if os.environ.get("DOCKER_HOST"):
            log(f"DOCKER_HOST={os.environ['DOCKER_HOST']} does not answer: "
                "starting a private dockerd instead")
        return _start_private(log, timeout)

    def stop_if_owned(self, log=print) -> None:
        """Stop the private dockerd (only the one whose pid we recorded)."""
        if not self.owned_pid:
            return
        stop_private(log)
        self.owned_pid = None


def _read_state() -> dict | None:
    try:
        return json.loads(STATE_FILE.read_text())
    except (OSError, ValueError):
        return None


def _apt_install(log) -> None:
    if os.geteuid() != 0:
        raise EngineUnavailable("dockerd is not installed and installing it needs root "
                                f"(apt-get install {' '.join(APT_PACKAGES)})")
    if shutil.which("apt-get") is None:
        raise EngineUnavailable("dockerd is not installed and there is no apt-get")
    log(f"installing {' '.join(APT_PACKAGES)} with apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"],
                ["apt-get", "install", "-y", "-qq", "-o", "DPkg::Lock::Timeout=300",
                 *APT_PACKAGES]):
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            raise EngineUnavailable(f"{' '.join(cmd)} failed: {r.stderr.strip()[-500:]}")


def _start_private(log, timeout: float) -> Engine:
    if os.geteuid() != 0:
        raise EngineUnavailable("no Docker engine answers, and starting a private dockerd needs root")
    short = _short_dir()
    short.mkdir(parents=True, exist_ok=True)
    WORK.mkdir(parents=True, exist_ok=True)
    data_root = WORK / "docker"
    sock = short / "docker.sock"
    host = f"unix://{sock}"
    log_path = WORK / "dockerd.log"
    cmd = ["dockerd", "--data-root", str(data_root), "--exec-root", str(short / "exec"),
           "--pidfile", str(short / "dockerd.pid"), "-H", host,
           "--storage-driver=vfs", "--iptables=false", "--ip6tables=false", "--bridge=none",
           "--log-level=warn"]
    log(f"starting a private dockerd ({host}, data root {data_root})")
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    STATE_FILE.write_text(json.dumps({"pid": proc.pid, "host": host}))
    env = dict(os.environ, DOCKER_HOST=host)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            STATE_FILE.unlink(missing_ok=True)
            tail = log_path.read_text(errors="replace")[-1500:]
            raise EngineUnavailable(f"dockerd exited with {proc.returncode}: {tail}")
        if _answers(env, timeout=5):
            return Engine(host, proc.pid)
        time.sleep(0.2)
    _stop_pid(proc.pid)
    STATE_FILE.unlink(missing_ok=True)
    raise EngineUnavailable(f"dockerd did not answer within {timeout:.0f} s (log: {log_path})")


def _stop_pid(pid: int, grace: float = 20.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            # Reap it when it is our child; otherwise just poll.
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done == pid:
                return
        except ChildProcessError:
            if not Path(f"/proc/{pid}").exists():
                return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def stop_private(log=print) -> bool:
    """Stop the private dockerd recorded in the state file, if it still runs."""
    state = _read_state()
    if not state:
        return False
    if _pid_alive(state["pid"]):
        log(f"stopping the private dockerd (pid {state['pid']})")
        _stop_pid(state["pid"])
    STATE_FILE.unlink(missing_ok=True)
    # Its exec root and socket directory -- unless something is still mounted under
    # it (a daemon that had to be killed): rmtree would walk into a container's rootfs.
    short = str(_short_dir())
    try:
        mounts = Path("/proc/self/mounts").read_text().split("\n")
    except OSError:
        mounts = [short]
    if not any(len(m.split()) > 1 and m.split()[1].startswith(short) for m in mounts):
        shutil.rmtree(short, ignore_errors=True)
    return True
