"""What every process the harness starts has in common.

A `ManagedProcess` subclass sets `self.proc` and calls `_started()` right after
`Popen`; from then on the process is killed at interpreter exit if a test (or
a crash) left it running, `stop()` sends SIGTERM and escalates to SIGKILL after
a grace period, and the object works as a context manager. Subclasses close
their own log files in `_close_files()`.
"""

from __future__ import annotations

import atexit
import subprocess
import threading

_live: set["ManagedProcess"] = set()
_live_lock = threading.Lock()


@atexit.register
def _kill_leftovers():
    with _live_lock:
        procs = list(_live)
    for p in procs:
        p.stop(grace=1.0)


class ManagedProcess:
    proc: subprocess.Popen | None = None

    def start(self):  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def _started(self) -> None:
        with _live_lock:
            _live.add(self)

    def _close_files(self) -> None:
        """Close the files the process wrote to (none by default)."""

    def stop(self, grace: float = 5.0) -> int | None:
        """SIGTERM, wait up to `grace` seconds, then SIGKILL. Returns the exit code."""
        p = self.proc
        if p is not None and p.poll() is None:
            try:
                p.terminate()
                p.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
            except ProcessLookupError:
                pass
        with _live_lock:
            _live.discard(self)
        self._close_files()
        return None if p is None else p.returncode

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
