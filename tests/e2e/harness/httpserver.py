"""A small threaded HTTP/1.1 server that runs in a background thread.

Shared base of the echo upstream and the IdP stub. Why not plain
`ThreadingHTTPServer.shutdown()`: that only stops the accept loop, while Envoy
keeps upstream connections alive, so handler threads would sit in `readline()`
forever. This server remembers every accepted connection and shuts them down on
`stop()`, so stopping is prompt even with keep-alive or "hanging" handlers.
"""

from __future__ import annotations

import base64
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .ports import free_port


class _TrackingServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # Envoy may open many upstream connections at once.
    request_queue_size = 128

    def __init__(self, addr, handler, owner):
        self.owner = owner
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(addr, handler)

    def process_request(self, request, client_address):
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def close_all_connections(self):
        with self._conns_lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class BaseHandler(BaseHTTPRequestHandler):
    """Handler that accepts any method and reads the body (length or chunked)."""

    protocol_version = "HTTP/1.1"  # keep-alive

    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        pass  # keep test output clean; requests are recorded instead

    # http.server dispatches to `do_<METHOD>`; answer every method the same way.
    def __getattr__(self, name):
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def _dispatch(self):
        body = self.read_body()
        record = request_record(self, body)
        self.server.owner._record(record)
        self.server.owner.handle(self, record)

    def read_body(self) -> bytes:
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    break
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # trailers until an empty line
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)  # CRLF after the chunk
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send_bytes(self, status: int, body: bytes, content_type="application/json", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def headers_dict(pairs) -> dict:
    """name_lowercase -> value, or a list of values when the header repeats."""
    out: dict = {}
    for name, value in pairs:
        k = name.lower()
        if k in out:
            if isinstance(out[k], list):
                out[k].append(value)
            else:
                out[k] = [out[k], value]
        else:
            out[k] = value
    return out


def body_repr(body: bytes) -> tuple[str, str]:
    """(text, encoding): UTF-8 text when it decodes, else base64."""
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), "base64"


def request_record(handler: BaseHTTPRequestHandler, body: bytes) -> dict:
    text, enc = body_repr(body)
    return {
        "method": handler.command,
        "path": handler.path,
        "headers": headers_dict(handler.headers.items()),
        "body": text,
        "body_encoding": enc,
        "received_at": time.monotonic(),
    }


class BackgroundHTTPServer:
    """Start/stop an HTTP server in a thread; records requests thread-safely.

    Subclasses implement `handle(handler, record)` to answer.
    """

    handler_class = BaseHandler

    def __init__(self, port: int | None = None, host: str = "127.0.0.1"):
        self.host = host
        self.port = port or free_port()
        self._requests: list[dict] = []
        self._cond = threading.Condition()
        self._server: _TrackingServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------
    def start(self):
        self._server = _TrackingServer((self.host, self.port), self.handler_class, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"{type(self).__name__}:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self):
        srv, self._server = self._server, None
        if srv is None:
            return
        self._on_stop()
        srv.shutdown()
        srv.close_all_connections()
        srv.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def _on_stop(self):
        """Hook for subclasses to release blocked handlers before shutdown."""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- request log -----------------------------------------------------
    def _record(self, record: dict):
        with self._cond:
            self._requests.append(record)
            self._cond.notify_all()

    @property
    def requests(self) -> list[dict]:
        """A snapshot copy of every request received so far."""
        with self._cond:
            return list(self._requests)

    def last(self) -> dict | None:
        with self._cond:
            return self._requests[-1] if self._requests else None

    def clear(self):
        with self._cond:
            self._requests.clear()

    def wait_for(self, n: int, timeout: float = 5.0) -> bool:
        """Wait until at least n requests were received; True on success."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._requests) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def handle(self, handler: BaseHandler, record: dict):  # pragma: no cover
        raise NotImplementedError
