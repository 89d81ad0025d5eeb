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
