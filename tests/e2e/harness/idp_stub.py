"""IdP stub: serves a JWKS and misbehaves on demand.

The JWT filter fetches keys from an identity provider through an Envoy cluster.
Tests need to see how the filter copes when that IdP is slow, broken or hostile,
so the stub has modes (switchable at any time with `set_mode`):

- "ok":         200 with the current JWKS (`set_jwks`)
- "fail":       500
- "hang":       accept the request and never answer, until the mode changes or
                the stub stops (then the connection is closed with no answer)
- "garbage":    200 with bytes that are not JSON
- "huge":       200 with a ~10 MB body: the current JWKS plus a 10 MB "padding"
                member, so it is VALID JSON -- a filter without a size limit
                would accept it, which is exactly what a test should catch
- "empty_keys": 200 {"keys": []}
- "held":       accept the request and answer only when the mode changes
                again, then with the JWKS current at that moment (a slow IdP
                whose answer does arrive)

Other paths answer 404 (and are not counted as fetches).
`fetch_count` / `fetch_times` (time.monotonic()) count requests to the JWKS path.
"""

from __future__ import annotations

import json
import threading
import time

from .httpserver import BackgroundHTTPServer, BaseHandler

MODES = ("ok", "fail", "hang", "garbage", "huge", "empty_keys", "held")
HUGE_SIZE = 10 * 1024 * 1024
GARBAGE = b"\x00\xffthis is <not> json \x89PNG\r\n\x1a\n{{{]]]" * 8


class IdpStub(BackgroundHTTPServer):
    def __init__(self, jwks: dict | None = None, path: str = "/.well-known/jwks.json",
                 port: int | None = None, mode: str = "ok"):
        super().__init__(port=port)
        self.path = path
        self._lock = threading.Lock()
        self._jwks = jwks if jwks is not None else {"keys": []}
        self._mode = "ok"
        self._release = threading.Event()  # set => hanging handlers give up
        self._fetch_times: list[float] = []
        self.set_mode(mode)

    # -- control ---------------------------------------------------------
    def set_jwks(self, jwks: dict):
        with self._lock:
            self._jwks = jwks

    def set_mode(self, mode: str):
        if mode not in MODES:
            raise ValueError(f"unknown IdP stub mode {mode!r}; one of {MODES}")
        with self._lock:
            old_release = self._release
            self._mode = mode
            self._release = threading.Event()
        old_release.set()  # wake handlers hanging in the previous mode

    @property
    def mode(self) -> str:
        with self._lock:
            return self._mode

    @property
    def jwks_url(self) -> str:
        return self.url + self.path

    @property
    def fetch_count(self) -> int:
        with self._cond:
            return len(self._fetch_times)

    @property
    def fetch_times(self) -> list[float]:
        with self._cond:
            return list(self._fetch_times)

    def wait_for_fetches(self, n: int, timeout: float = 5.0) -> bool:
        """Wait until at least n JWKS fetches arrived; True on success."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._fetch_times) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def reset_counts(self):
        with self._cond:
            self._fetch_times.clear()
            self._requests.clear()

    def _on_stop(self):
        with self._lock:
            self._release.set()

    # -- serving ---------------------------------------------------------
    def _record(self, record: dict):
        with self._cond:
            self._requests.append(record)
            if record["path"].split("?", 1)[0] == self.path:
                self._fetch_times.append(record["received_at"])
            self._cond.notify_all()

    def handle(self, handler: BaseHandler, record: dict):
        if record["path"].split("?", 1)[0] != self.path:
            handler.send_bytes(404, b'{"error":"not found"}')
            return
        with self._lock:
            mode, jwks, release = self._mode, self._jwks, self._release
        if mode == "ok":
            handler.send_bytes(200, json.dumps(jwks).encode())
        elif mode == "fail":
            handler.send_bytes(500, b'{"error":"idp stub: fail mode"}')
        elif mode == "garbage":
            handler.send_bytes(200, GARBAGE)
        elif mode == "empty_keys":
            handler.send_bytes(200, b'{"keys":[]}')
        elif mode == "huge":
            self._send_huge(handler, jwks)
        elif mode == "held":
            release.wait()  # until set_mode() or stop()
            with self._lock:
                jwks = self._jwks
            try:
                handler.send_bytes(200, json.dumps(jwks).encode())
            except OSError:
                handler.close_connection = True
        elif mode == "hang":
            release.wait()  # until set_mode() or stop()
            handler.close_connection = True
            try:
                handler.connection.shutdown(2)
            except OSError:
                pass

    @staticmethod
    def _send_huge(handler: BaseHandler, jwks: dict):
        head = json.dumps(jwks)[:-1].encode() + b', "padding": "'
        if head.startswith(b'{, '):  # jwks was {}
            head = b'{"padding": "'
        tail = b'"}'
        pad = HUGE_SIZE - len(head) - len(tail)
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(head) + pad + len(tail)))
        handler.end_headers()
        try:
            handler.wfile.write(head)
            block = b"x" * 65536
            left = pad
            while left > 0:
                n = min(left, len(block))
                handler.wfile.write(block[:n])
                left -= n
            handler.wfile.write(tail)
        except (BrokenPipeError, ConnectionResetError):
            handler.close_connection = True  # the client gave up: fine
