"""Helpers for the schema filter's end-to-end tests."""

from __future__ import annotations

import json
import socket
import time

from .envoy import wasm_filter

# Envoy's V8 compiles the 4.6 MB schema module at start-up: ~10 s on these
# shared machines (the JWT module, 0.8 MB, takes a fraction of it).
STARTUP_S = 90.0

PROBLEM_CORE = {"type", "title", "status", "detail", "reason"}


def schema_filter(wasm_path, config: dict, name: str = "edgeward_schema") -> dict:
    return wasm_filter(name, wasm_path("edgeward_schema"), config, failure_policy="FAIL_CLOSED")


def assert_problem(resp, status: int, reason: str, *, secrets=()) -> dict:
    where = f"{reason}: got {resp.status} {resp.body[:400]!r}"
    assert resp.status == status, where
    assert resp.headers.get("content-type") == "application/problem+json", where
    body = json.loads(resp.body)
    assert PROBLEM_CORE <= set(body), where
    assert set(body) - PROBLEM_CORE <= {"violations"}, where
    assert body["reason"] == reason, where
    assert body["type"] == f"urn:edgeward:problem:{reason}", where
    assert body["status"] == status, where
    for s in secrets:
        assert s.encode() not in resp.body, f"{reason}: {s!r} is echoed in the problem body"
    return body


def send_chunked(port: int, path: str, headers: dict, chunks, timeout: float = 10.0):
    """POSTs `chunks` with chunked transfer encoding, one write per chunk,
    and stops writing as soon as the gateway answers. Returns
    (status, body, chunks_written)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        head = f"POST {path} HTTP/1.1\r\nhost: api\r\ntransfer-encoding: chunked\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        s.sendall(head.encode())
        written = 0
        s.setblocking(False)
        got = b""
        for c in chunks:
            try:
                got += s.recv(65536)
            except BlockingIOError:
                pass
            if got:
                break
            try:
                s.sendall(b"%x\r\n%s\r\n" % (len(c), c))
            except (BrokenPipeError, ConnectionResetError, BlockingIOError):
                break
            written += 1
            time.sleep(0.002)
        else:
            try:
                s.sendall(b"0\r\n\r\n")
            except OSError:
                pass
        s.setblocking(True)
        deadline = time.time() + timeout
        while b"\r\n\r\n" not in got and time.time() < deadline:
            part = s.recv(65536)
            if not part:
                break
            got += part
        head_bytes, _, rest = got.partition(b"\r\n\r\n")
        status = int(head_bytes.split(b" ", 2)[1])
        length = 0
        for line in head_bytes.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v.strip())
        while len(rest) < length and time.time() < deadline:
            part = s.recv(65536)
            if not part:
                break
            rest += part
        return status, rest[:length], written
    finally:
        s.close()
