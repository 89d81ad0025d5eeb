"""Helpers shared by the PII filter's end-to-end tests (tests/e2e/test_pii_*.py).

- `CollectorStub`: the audit collector (records every batch; modes ok / fail / slow)
- `ACCESS_LOG_FORMAT`: the PII-safe access-log format of envoy/examples/pii.yaml
  (read from the shipped file, so the shipped format is what the tests check)
- `pii_filter`, `records`, `wait_records`, `everything_logged`
"""

from __future__ import annotations

import json
import re
import threading
import time

import yaml

from .envoy import REPO_ROOT, wasm_filter
from .httpserver import BackgroundHTTPServer, BaseHandler

PREFIX = "edgeward-audit "
STAT = "wasmcustom.edgeward.pii."
HASH_KEY = "e2e-audit-key-0123456789abcdef0123"


def _shipped_access_log_format() -> str:
    doc = yaml.safe_load((REPO_ROOT / "envoy" / "examples" / "pii.yaml").read_text())
    hcm = doc["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    return hcm["access_log"][0]["typed_config"]["log_format"]["text_format_source"]["inline_string"]


ACCESS_LOG_FORMAT = _shipped_access_log_format()


class CollectorStub(BackgroundHTTPServer):
    """Receives the filter's batches (newline-delimited JSON records).

    mode "ok" answers 204, "fail" 500, "slow" waits `delay` seconds first.
    """

    def __init__(self, port=None):
        super().__init__(port)
        self.mode = "ok"
        self.delay = 3.0
        self._release = threading.Event()

    def handle(self, handler: BaseHandler, record: dict):
        if self.mode == "slow":
            self._release.wait(self.delay)
        status = 500 if self.mode == "fail" else 204
        handler.send_response(status)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def release(self):
        self._release.set()

    def batches(self) -> list[str]:
        return [r["body"] for r in self.requests]

    def received(self) -> list[dict]:
        out = []
        for body in self.batches():
            out += [json.loads(line) for line in body.splitlines() if line.strip()]
        return out

    def wait_records(self, n: int, timeout: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while True:
            got = self.received()
            if len(got) >= n or time.monotonic() > deadline:
                return got
            time.sleep(0.05)


def pii_filter(wasm_path, config: dict, **kw) -> dict:
    return wasm_filter("edgeward_pii", wasm_path("edgeward_pii"), config,
                       allow_on_headers_stop_iteration=False, **kw)


_LINE = re.compile(r"\[(\d+)\]\[\w+\]\[\w+\].*?" + re.escape(PREFIX) + r"(\{.*\})\s*$")


def records_with_threads(log_text: str) -> list[tuple[str, dict]]:
    """(thread id, record) of every audit line in Envoy's log."""
    out = []
    for line in log_text.splitlines():
        if PREFIX not in line:
            continue
        m = _LINE.search(line)
        if m:
            out.append((m.group(1), json.loads(m.group(2))))
    return out


def records(gw) -> list[dict]:
    return [r for _, r in records_with_threads(gw.log_text())]


def wait_records(gw, n: int, timeout: float = 10.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        got = records(gw)
        if len(got) >= n or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def wait_access_lines(path, n: int, timeout: float = 10.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
        except FileNotFoundError:
            lines = []
        if len(lines) >= n or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def assert_no_raw(texts: dict, raw_values) -> None:
    """No raw value in any of the named texts (Envoy log, access log, batches)."""
    for name, text in texts.items():
        for raw in raw_values:
            assert raw not in text, f"raw {raw!r} found in {name}"
