"""Run edgeward's Rate Limit Service (services/ratelimit-service) for tests.

    with RlsProcess(limits=[{"domain": "edgeward", "max": 5, "seconds": 60,
                             "variables": ["tenant"]}], redis_url=redis.url) as rls:
        rls.port                                   # gRPC (HTTP/2) on 127.0.0.1
        rls.should_rate_limit("edgeward", [{"tenant": "a"}])  # -> dict, or raises RlsError

The binary comes from `make rls` (RLS_BIN in the Makefile; override with
$EDGEWARD_RLS_BIN). The limits are written as JSON into the work directory.
"Ready" is the service's own `... ready on ADDR` line on stdout, printed once
its listener is bound. Every started process is also killed by an atexit hook.

`should_rate_limit` speaks gRPC through grpcio with hand-encoded protobuf (a
few fields of envoy.service.ratelimit.v3), so no generated code is needed.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from .envoy import REPO_ROOT
from .ports import free_port
from .process import ManagedProcess

RLS_BIN = REPO_ROOT / "services" / "ratelimit-service" / "target" / "release" / \
    "edgeward-ratelimit-service"
READY_MARK = "edgeward-ratelimit-service ready on "
METHOD = "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit"
CODES = {0: "UNKNOWN", 1: "OK", 2: "OVER_LIMIT"}
UNITS = {0: "UNKNOWN", 1: "SECOND", 2: "MINUTE", 3: "HOUR", 4: "DAY", 5: "MONTH", 6: "YEAR",
         7: "WEEK"}

def rls_binary() -> Path:
    override = os.environ.get("EDGEWARD_RLS_BIN")
    return Path(override) if override else RLS_BIN


class RlsStartError(RuntimeError):
    pass


class RlsError(RuntimeError):
    """A gRPC error from ShouldRateLimit: `.code` is e.g. "UNAVAILABLE"."""

    def __init__(self, code: str, details: str):
        super().__init__(f"{code}: {details}")
        self.code = code
        self.details = details


class RlsProcess(ManagedProcess):
    """One service process. Give `redis_url` or `memory=True`; `limits` is the
    limits file's content (a list of limit dicts, see the service's README)."""

    def __init__(self, limits, redis_url: str | None = None, memory: bool = False,
                 workdir=None, port: int | None = None):
        if (redis_url is None) == (not memory):
            raise ValueError("give exactly one of redis_url / memory=True")
        self.redis_url = redis_url
        self.memory = memory
        self.port = port or free_port()
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="rls-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.limits_path = self.workdir / f"limits-{self.port}.json"
        self.limits_path.write_text(json.dumps(limits, indent=2))
        self.stdout_path = self.workdir / f"rls-{self.port}.stdout"
        self.log_path = self.workdir / f"rls-{self.port}.log"
        self.proc: subprocess.Popen | None = None
        self._files = []
        self._channel = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        storage = ["--memory"] if self.memory else ["--redis", self.redis_url]
        return [str(rls_binary()), "--listen", self.address, *storage,
                "--limits", str(self.limits_path)]

    # -- lifecycle -------------------------------------------------------
    def start(self, timeout: float = 10.0) -> "RlsProcess":
        binary = rls_binary()
        if not binary.is_file():
            raise RlsStartError(f"{binary} is missing: run `make rls` first "
                                "(it installs redis-server and builds the service)")
        out = open(self.stdout_path, "wb")
        err = open(self.log_path, "wb")
        self._files = [out, err]
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                     stdout=out, stderr=err, cwd=str(self.workdir))
        self._started()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                raise RlsStartError(f"the RLS exited with {self.proc.returncode}:\n"
                                    + self.log_text())
            if READY_MARK in self.stdout_text():
                return self
            time.sleep(0.02)
        self.stop()
        raise RlsStartError(f"the RLS printed no ready line in {timeout:.0f}s:\n" + self.log_text())

    def stop(self, grace: float = 5.0) -> int | None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        return super().stop(grace)

    def _close_files(self) -> None:
        for f in self._files:
            if not f.closed:
                f.close()

    def stdout_text(self) -> str:
        try:
            return self.stdout_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_text(self) -> str:
        """stderr: the start-up line with the loaded limits, storage errors."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # -- gRPC ------------------------------------------------------------
    def should_rate_limit(self, domain: str, descriptors: list[dict], hits_addend: int = 0,
                          timeout: float = 5.0) -> dict:
        """Ask ShouldRateLimit. descriptors: one {key: value} dict per descriptor.

        Returns {"overall_code": "OK"|"OVER_LIMIT", "statuses": [{"code",
        "limit": {"requests_per_unit", "unit", "name"} | None, "limit_remaining",
        "reset_seconds"}]}; raises RlsError on a gRPC error status.
        """
        import grpc

        if self._channel is None:
            self._channel = grpc.insecure_channel(self.address)
        call = self._channel.unary_unary(METHOD, request_serializer=None,
                                         response_deserializer=None)
        try:
            raw = call(encode_request(domain, descriptors, hits_addend), timeout=timeout)
        except grpc.RpcError as e:
            raise RlsError(e.code().name, e.details() or "") from None
        return decode_response(raw)


# --------------------------------------------------------------------------
# Protobuf, by hand: just the fields of RateLimitRequest/Response tests use.
# --------------------------------------------------------------------------

def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field_bytes(tag: int, data: bytes) -> bytes:
    return _varint(tag << 3 | 2) + _varint(len(data)) + data


def _field_varint(tag: int, n: int) -> bytes:
    return _varint(tag << 3) + _varint(n)


def encode_request(domain: str, descriptors: list[dict], hits_addend: int = 0) -> bytes:
    msg = _field_bytes(1, domain.encode())
    for d in descriptors:
        entries = b"".join(
            _field_bytes(1, _field_bytes(1, k.encode()) + _field_bytes(2, v.encode()))
            for k, v in d.items())
        msg += _field_bytes(2, entries)
    if hits_addend:
        msg += _field_varint(3, hits_addend)
    return msg


def _parse(data: bytes) -> dict[int, list]:
    """tag -> list of values (int for varints, bytes for length-delimited)."""
    fields: dict[int, list] = {}
    i = 0
    while i < len(data):
        key, i = _read_varint(data, i)
        tag, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _read_varint(data, i)
        elif wire == 2:
            n, i = _read_varint(data, i)
            value, i = data[i:i + n], i + n
        elif wire == 1:
            value, i = data[i:i + 8], i + 8
        elif wire == 5:
            value, i = data[i:i + 4], i + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        fields.setdefault(tag, []).append(value)
    return fields


def _read_varint(data: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def _one(fields: dict, tag: int, default=0):
    values = fields.get(tag)
    return values[-1] if values else default


def decode_response(raw: bytes) -> dict:
    top = _parse(raw)
    statuses = []
    for s in top.get(2, []):
        f = _parse(s)
        limit = None
        if 2 in f:
            lf = _parse(_one(f, 2, b""))
            limit = {"requests_per_unit": _one(lf, 1), "unit": UNITS.get(_one(lf, 2), "?"),
                     "name": _one(lf, 3, b"").decode()}
        reset = None
        if 4 in f:
            df = _parse(_one(f, 4, b""))
            reset = _one(df, 1) + _one(df, 2) / 1e9
        statuses.append({"code": CODES.get(_one(f, 1), "?"), "limit": limit,
                         "limit_remaining": _one(f, 3), "reset_seconds": reset})
    return {"overall_code": CODES.get(_one(top, 1), "?"), "statuses": statuses}
