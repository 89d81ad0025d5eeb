"""A small HTTP client for poking the gateway, built on http.client.

Not `requests`: tests need to send things a friendly client refuses or
normalizes -- repeated headers, header names in odd case, huge headers, raw
paths and queries (`//a/../b?x=%00`), and, through `raw_request`, bytes that
are not valid HTTP at all.
"""

from __future__ import annotations

import http.client
import json as _json
import socket
from typing import Iterable, Mapping


class Headers(list):
    """Response headers as a list of (name, value) pairs, in wire order.

    Also dict-like with case-insensitive names: h["content-type"],
    h.get(name), h.get_all(name), name in h.
    """

    def get(self, name: str, default=None):
        n = name.lower()
        for k, v in self:
            if k.lower() == n:
                return v
        return default

    def get_all(self, name: str) -> list[str]:
        n = name.lower()
        return [v for k, v in self if k.lower() == n]

    def __getitem__(self, key):
        if isinstance(key, str):
            v = self.get(key)
            if v is None:
                raise KeyError(key)
            return v
        return super().__getitem__(key)

    def __contains__(self, key):
        if isinstance(key, str):
            return self.get(key) is not None
        return super().__contains__(key)


class Response:
    def __init__(self, status: int, reason: str, headers: Headers, body: bytes):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body

    def json(self):
        return _json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def __iter__(self):  # allows: status, headers, body = resp
        return iter((self.status, self.headers, self.body))

    def __repr__(self):
        return f"<Response {self.status} {len(self.body)} bytes>"


HeaderArg = Mapping[str, str] | Iterable[tuple[str, str]] | None


def _pairs(headers: HeaderArg) -> list[tuple[str, str]]:
    if headers is None:
        return []
    if isinstance(headers, Mapping):
        return list(headers.items())
    return list(headers)


class Client:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1:port (reconnects if closed)."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 10.0):
        self.host, self.port, self.timeout = host, port, timeout
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self._conn

    def request(self, method: str = "GET", path: str = "/", headers: HeaderArg = None,
                body: bytes | str | None = None, host_header: str | None = None) -> Response:
        """Send one request. `headers` may be a dict or a list of pairs (repeats kept).

        A Host header is added unless one is in `headers` (or host_header is
        given); Content-Length is added when there is a body.
        """
        pairs = _pairs(headers)
        if isinstance(body, str):
            body = body.encode()
        conn = self._connection()
        names = {k.lower() for k, _ in pairs}
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            if "host" not in names:
                conn.putheader("Host", host_header or f"{self.host}:{self.port}")
            for k, v in pairs:
                conn.putheader(k, v)
            if body is not None and "content-length" not in names \
                    and "transfer-encoding" not in names:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            r = conn.getresponse()
            data = r.read()
        except Exception:
            self.close()
            raise
        resp = Response(r.status, r.reason, Headers(r.getheaders()), data)
        if r.will_close:
            self.close()
        return resp

    def get(self, path: str = "/", headers: HeaderArg = None, **kw) -> Response:
        return self.request("GET", path, headers, **kw)

    def post(self, path: str = "/", body: bytes | str = b"", headers: HeaderArg = None,
             **kw) -> Response:
        return self.request("POST", path, headers, body, **kw)

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class RawClient:
    """GETs on one keep-alive HTTP/1.1 connection over a bare socket, for
    floods: http.client's header parsing costs more Python per request than
    this (the 100k-key rate-limit flood ran 50 s with `Client`, 36 s with
    this). One request at a time, never pipelined: Envoy closes a
    connection that has pipelined requests waiting when a filter sends a
    local reply. Every response must carry a content-length (Envoy's local
    replies and the echo upstream do): anything else fails loudly instead
    of being misread."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 30.0):
        self.host, self.port = host, port
        self._sock = socket.create_connection((host, port), timeout=timeout)
        self._buf = bytearray()

    def get(self, path: str = "/", headers: HeaderArg = None) -> Response:
        lines = [f"GET {path} HTTP/1.1", f"host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in _pairs(headers)]
        self._sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return self._read_response()

    def _fill(self, why: str):
        chunk = self._sock.recv(1 << 16)
        if not chunk:
            raise AssertionError(f"connection closed {why}")
        self._buf += chunk

    def _read_response(self) -> Response:
        while (end := self._buf.find(b"\r\n\r\n")) < 0:
            self._fill("before a response")
        status_line, *lines = bytes(self._buf[:end]).decode("latin-1").split("\r\n")
        headers = Headers()
        for line in lines:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
        if "transfer-encoding" in headers:
            raise AssertionError(f"unexpected transfer-encoding: {status_line} {headers}")
        if "content-length" not in headers:
            raise AssertionError(f"response without content-length: {status_line} {headers}")
        body_end = end + 4 + int(headers["content-length"])
        while len(self._buf) < body_end:
            self._fill("inside a body")
        body = bytes(self._buf[end + 4:body_end])
        del self._buf[:body_end]
        _, status, reason = (status_line.split(" ", 2) + [""])[:3]
        return Response(int(status), reason, headers, body)

    def close(self):
        self._sock.close()


def request(port: int, method: str = "GET", path: str = "/", headers: HeaderArg = None,
            body: bytes | str | None = None, timeout: float = 10.0,
            host: str = "127.0.0.1") -> Response:
    """One request on a fresh connection."""
    with Client(port, host=host, timeout=timeout) as c:
        return c.request(method, path, headers, body)


def get(port: int, path: str = "/", headers: HeaderArg = None, **kw) -> Response:
    return request(port, "GET", path, headers, **kw)


def bearer(token: str) -> dict:
    return {"authorization": f"Bearer {token}"}


def raw_request(port: int, data: bytes, timeout: float = 10.0,
                host: str = "127.0.0.1") -> Response | None:
    """Write raw bytes, parse one HTTP/1.1 response; None if the peer closed
    without answering (e.g. Envoy dropped a malformed request)."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(data)
        r = http.client.HTTPResponse(s, method="GET")
        try:
            r.begin()
        except (http.client.RemoteDisconnected, ConnectionResetError):
            return None
        body = r.read()
        return Response(r.status, r.reason, Headers(r.getheaders()), body)
