"""A throwaway Redis for tests: `RedisServer().start()` ... `.stop()`.

Runs Debian's `redis-server` (`make rls` installs it) on 127.0.0.1 and a free
port, with persistence off, so every start is empty. `down()` / `up()` stop it
and start it again on the same port: an outage the Rate Limit Service must
survive without a restart. "Ready" means it answers PING (spoken in RESP over
a plain socket: no client library needed).
Every started server is also killed by an atexit hook.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from .ports import free_port
from .process import ManagedProcess

def redis_binary() -> str | None:
    return shutil.which("redis-server")


def command(port: int, host: str, *args: str, timeout: float = 1.0) -> bytes:
    """Send one RESP command, return the raw first reply line (e.g. b"+PONG")."""
    parts = [a.encode() for a in args]
    wire = b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(wire)
        buf = b""
        while b"\r\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
    return buf.split(b"\r\n", 1)[0]


class RedisStartError(RuntimeError):
    pass


class RedisServer(ManagedProcess):
    def __init__(self, port: int | None = None, host: str = "127.0.0.1", workdir=None):
        self.host = host
        self.port = port or free_port()
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="redis-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / f"redis-{self.port}.log"
        self.proc: subprocess.Popen | None = None
        self._log = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}"

    def ping(self) -> bool:
        try:
            return command(self.port, self.host, "PING", timeout=0.5) == b"+PONG"
        except OSError:
            return False

    # -- lifecycle -------------------------------------------------------
    def start(self, timeout: float = 10.0) -> "RedisServer":
        binary = redis_binary()
        if binary is None:
            raise RedisStartError("redis-server is not installed: run `make rls` (it installs it)")
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [binary, "--bind", self.host, "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
        )
        self._started()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                raise RedisStartError(f"redis-server exited with {self.proc.returncode}:\n"
                                      + self.log_tail())
            if self.ping():
                return self
            time.sleep(0.02)
        self.stop()
        raise RedisStartError(f"redis-server on port {self.port} did not answer PING in "
                              f"{timeout:.0f}s:\n" + self.log_tail())

    def _close_files(self) -> None:
        if self._log is not None and not self._log.closed:
            self._log.close()

    def down(self):
        """Stop the server and wait until its port refuses connections."""
        self.stop()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
            except OSError:
                return
            time.sleep(0.02)
        raise RuntimeError(f"port {self.port} still accepts connections after stopping Redis")

    def up(self, timeout: float = 10.0) -> "RedisServer":
        """Start again on the same port (empty: persistence is off)."""
        return self.start(timeout)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""
