"""Helpers for the rate-limit filter's end-to-end tests (tests/e2e/test_ratelimit_*.py).

- `ratelimit_filter(wasm_path, cfg)`: the edgeward_ratelimit Wasm filter entry
- `parse_sf_list`: an RFC 8941 structured-field List parser (items and inner
  lists with parameters; strings, tokens, integers, decimals, booleans, byte
  sequences), strict: anything not in the RFC's grammar raises ValueError
- `burst`: many concurrent keep-alive clients sending requests, statuses counted
- `rss_kb`: a process's resident set size
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from . import client
from .envoy import wasm_filter


def ratelimit_filter(wasm_path, cfg: dict) -> dict:
    return wasm_filter("edgeward_ratelimit", wasm_path("edgeward_ratelimit"), cfg)


def policy(name: str, limit: dict, key=("tenant",), **extra) -> dict:
    """A policy; `key` items are dimension names or ready dicts."""
    dims = [k if isinstance(k, dict) else {"dimension": k} for k in key]
    p = {"name": name, "key": dims, "limit": limit}
    p.update(extra)
    return p


def fixed(requests: int, window_s: int) -> dict:
    return {"fixed_window": {"requests": requests, "window_s": window_s}}


def bucket(rate: int, burst: int, period_s: int = 1) -> dict:
    return {"token_bucket": {"rate": rate, "period_s": period_s, "burst": burst}}


def header_key(name: str = "x-tenant") -> dict:
    return {"dimension": "header", "name": name}


# ----------------------------------------------------------------- load

def burst(port: int, total: int, clients: int, headers_for=lambda i: None,
          path_for=lambda i: "/", raw: bool = False) -> Counter:
    """`total` requests over `clients` keep-alive connections, all threads
    released at once; returns Counter of statuses. `raw`: on
    `client.RawClient` (cheaper per request, for floods) instead of
    `client.Client`."""
    statuses: Counter = Counter()
    lock = threading.Lock()
    start = threading.Barrier(clients)
    counter = iter(range(total))
    counter_lock = threading.Lock()

    def worker(_):
        c = client.RawClient(port) if raw else client.Client(port)
        start.wait()
        try:
            while True:
                with counter_lock:
                    i = next(counter, None)
                if i is None:
                    return
                r = c.get(path_for(i), headers_for(i))
                with lock:
                    statuses[r.status] += 1
        finally:
            c.close()

    with ThreadPoolExecutor(clients) as ex:
        list(ex.map(worker, range(clients)))
    return statuses


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


# ----------------------------------------------------------------- RFC 8941

_TOKEN_START = re.compile(r"[A-Za-z*]")
_TOKEN_CHARS = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z:/]*")
_KEY = re.compile(r"[a-z*][a-z0-9_\-.*]*")


class Token(str):
    """An sf-token (distinct from an sf-string)."""


class _Parser:
    def __init__(self, text: str):
        if any(ord(c) > 0x7E or (ord(c) < 0x20) for c in text):
            raise ValueError("non-ASCII or control character in a structured field")
        self.s = text
        self.i = 0

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def skip_sp(self):
        while self.peek() == " ":
            self.i += 1

    def skip_ows(self):
        while self.peek() in (" ", "\t") and self.peek():
            self.i += 1

    def parse_list(self) -> list:
        self.skip_sp()
        members = []
        while self.i < len(self.s):
            members.append(self.parse_item_or_inner())
            self.skip_ows()
            if self.i >= len(self.s):
                return members
            if self.peek() != ",":
                raise ValueError(f"expected ',' at {self.i} in {self.s!r}")
            self.i += 1
            self.skip_ows()
            if self.i >= len(self.s):
                raise ValueError("trailing comma")
        return members

    def parse_item_or_inner(self):
        if self.peek() == "(":
            self.i += 1
            items = []
            while True:
                self.skip_sp()
                if self.peek() == ")":
                    self.i += 1
                    return (items, self.parse_params())
                items.append((self.parse_bare(), self.parse_params()))
                if self.peek() not in (" ", ")"):
                    raise ValueError("bad inner list")
        return (self.parse_bare(), self.parse_params())

    def parse_params(self) -> dict:
        params = {}
        while self.peek() == ";":
            self.i += 1
            self.skip_sp()
            m = _KEY.match(self.s, self.i)
            if not m:
                raise ValueError(f"bad parameter key at {self.i}")
            key = m.group(0)
            self.i = m.end()
            value = True
            if self.peek() == "=":
                self.i += 1
                value = self.parse_bare()
            params[key] = value
        return params

    def parse_bare(self):
        c = self.peek()
        if c == "-" or c.isdigit():
            return self.parse_number()
        if c == '"':
            return self.parse_string()
        if c == "?":
            self.i += 1
            b = self.peek()
            if b not in ("0", "1"):
                raise ValueError("bad boolean")
            self.i += 1
            return b == "1"
        if c == ":":
            end = self.s.index(":", self.i + 1)
            import base64
            data = base64.b64decode(self.s[self.i + 1:end], validate=True)
            self.i = end + 1
            return data
        if _TOKEN_START.match(c or " "):
            m = _TOKEN_CHARS.match(self.s, self.i + 1)
            tok = self.s[self.i:m.end()]
            self.i = m.end()
            return Token(tok)
        raise ValueError(f"unexpected {c!r} at {self.i} in {self.s!r}")

    def parse_number(self):
        m = re.compile(r"-?\d+(\.\d+)?").match(self.s, self.i)
        if not m:
            raise ValueError("bad number")
        text = m.group(0)
        self.i = m.end()
        if m.group(1):
            int_part = text.lstrip("-").split(".")[0]
            if len(int_part) > 12 or len(m.group(1)) - 1 > 3:
                raise ValueError("decimal out of range")
            return float(text)
        if len(text.lstrip("-")) > 15:
            raise ValueError("integer out of range")
        return int(text)

    def parse_string(self) -> str:
        self.i += 1
        out = []
        while True:
            c = self.peek()
            if c == "":
                raise ValueError("unterminated string")
            self.i += 1
            if c == "\\":
                n = self.peek()
                if n not in ('"', "\\"):
                    raise ValueError("bad escape")
                out.append(n)
                self.i += 1
            elif c == '"':
                return "".join(out)
            else:
                out.append(c)


def parse_sf_list(text: str) -> list:
    """[(value, {param: value})...]; raises ValueError on anything malformed."""
    p = _Parser(text)
    members = p.parse_list()
    if p.i != len(p.s):
        raise ValueError("trailing characters")
    return members


def ratelimit_headers(resp) -> dict:
    """{policy name: {"q", "w", "r", "t"}} from RateLimit-Policy and RateLimit."""
    out: dict = {}
    for header, keys in (("ratelimit-policy", ("q", "w")), ("ratelimit", ("r", "t"))):
        values = resp.headers.get_all(header)
        assert len(values) == 1, f"{header}: {values}"
        for name, params in parse_sf_list(values[0]):
            assert isinstance(name, str) and not isinstance(name, Token), name
            for k in keys:
                assert isinstance(params.get(k), int) and params[k] >= 0, (header, params)
            out.setdefault(name, {}).update({k: params[k] for k in keys})
    return out
