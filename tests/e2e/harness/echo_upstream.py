"""Echo upstream: answers every request with what it received, as JSON.

Tests put it behind Envoy to see exactly what the gateway forwarded (path,
headers added/removed by a filter, body). Every request is also recorded in
`.requests`, so a test can assert that a request was NOT forwarded.

Response body: {"method", "path", "headers": {name_lowercase: value | [values]},
"body": utf-8 text or base64, "body_encoding": "utf-8" | "base64"}.
A request header `x-echo-status: NNN` makes it answer with that status instead
of 200 (handy for response-phase tests).

Also a script for the demo: `python tests/e2e/harness/echo_upstream.py --port N`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `harness` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import harness  # noqa: F401

    __package__ = "harness"

from .httpserver import BackgroundHTTPServer, BaseHandler  # noqa: E402


class EchoUpstream(BackgroundHTTPServer):
    """HTTP/1.1 keep-alive echo server on 127.0.0.1 in a background thread."""

    def handle(self, handler: BaseHandler, record: dict):
        payload = {k: v for k, v in record.items() if k != "received_at"}
        status = 200
        wanted = record["headers"].get("x-echo-status")
        if isinstance(wanted, str) and wanted.isdigit():
            status = int(wanted)
        body = json.dumps(payload).encode()
        handler.send_bytes(status, body)


def main(argv=None) -> int:
    import argparse
    import signal
    import threading

    ap = argparse.ArgumentParser(description="edgeward echo upstream")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    args = ap.parse_args(argv)

    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    server = EchoUpstream(port=args.port, host=args.host).start()
    print(f"echo upstream listening on {server.url}", flush=True)
    try:
        while not done.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
