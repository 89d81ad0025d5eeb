#!/usr/bin/env python3
"""Start, inspect and stop edgeward's docker-compose harness.

    composectl.py up        build the images, render the configs, start, wait, print what to try
    composectl.py down      remove every container, network and image `up` made; stop the
                         private dockerd if `up` started it
    composectl.py status    what runs, and on which 127.0.0.1 ports
    composectl.py engine    which Docker engine and compose CLI `up` would use (starts nothing)

The tests (tests/compose/) drive the same `Stack` with their own project name and image
tag, so they never touch a stack `make compose-up` started.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import engine as engine_mod  # noqa: E402
import images  # noqa: E402
import render  # noqa: E402
from engine import WORK, Engine, EngineUnavailable  # noqa: E402,F401

COMPOSE_FILE = HERE / "docker-compose.yml"
SERVICES = ("redis", "rls", "idp", "echo", "gw1", "gw2", "edge", "prometheus")
GATEWAYS = ("gw1", "gw2")
ISSUER = "https://idp.edgeward.compose"
AUDIENCE = "edgeward-api"


def _runs(cmd: list[str], env: dict) -> bool:
    try:
        return subprocess.run([*cmd, "version"], env=env, capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def compose_command(env: dict) -> list[str]:
    """The compose CLI to run: `EDGEWARD_COMPOSE` when set (`docker compose` or
    `docker-compose`, checked with `version`), else `docker compose` (v2) when the
    plugin is there, else `docker-compose` (v1, or v2's standalone binary). The compose
    file (format 2.4) and every flag used here mean the same to both."""
    chosen = env.get("EDGEWARD_COMPOSE", "").split()
    if chosen:
        if chosen not in (["docker", "compose"], ["docker-compose"]):
            raise EngineUnavailable(f"EDGEWARD_COMPOSE={' '.join(chosen)!r}: "
                                    "give 'docker compose' or 'docker-compose'")
        if not _runs(chosen, env):
            raise EngineUnavailable(f"EDGEWARD_COMPOSE={' '.join(chosen)!r} does not run "
                                    f"(`{' '.join(chosen)} version` failed)")
        return chosen
    if shutil.which("docker") and _runs(["docker", "compose"], env):
        return ["docker", "compose"]
    if shutil.which("docker-compose") and _runs(["docker-compose"], env):
        return ["docker-compose"]
    raise EngineUnavailable("neither `docker compose` nor `docker-compose` is installed "
                            "(apt-get install docker-compose)")


def wait_for(pred, timeout: float, what: str, interval: float = 0.1):
    """Poll `pred` until it returns a truthy value; raise naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = pred()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - kept for the timeout message
            last_error = e
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}"
                       + (f" (last error: {last_error!r})" if last_error else ""))


# --------------------------------------------------------------------------
# Tokens (ES256 with the demo key; the IdP stub serves its public half)
# --------------------------------------------------------------------------

def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(tenant: str, ttl: int = 3600, sub: str = "alice", private_pem: bytes | None = None,
         kid: str = render.DEMO_KID) -> str:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, utils
    key = serialization.load_pem_private_key(private_pem or render.DEMO_KEY.read_bytes(), password=None)
    now = int(time.time())
    header = {"alg": "ES256", "typ": "JWT", "kid": kid}
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": now, "exp": now + ttl, "tenant_id": tenant}
    signing_input = (_b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())).encode()
    r, s = utils.decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    return signing_input.decode() + "." + _b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def new_es256_key(kid: str | None = None) -> tuple[bytes, dict]:
    """A fresh signing key (PEM) and its public JWK, e.g. for a key rotation."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    nums = key.public_key().public_numbers()
    jwk = {"kty": "EC", "crv": "P-256", "x": _b64(nums.x.to_bytes(32, "big")),
           "y": _b64(nums.y.to_bytes(32, "big")), "kid": kid or f"rotated-{os.urandom(4).hex()}",
           "alg": "ES256", "use": "sig"}
    return pem, jwk


# --------------------------------------------------------------------------
# HTTP to 127.0.0.1
# --------------------------------------------------------------------------

class Response:
    def __init__(self, status: int, headers: dict, body: bytes):
        self.status, self.headers, self.body = status, headers, body

    def __repr__(self):
        return f"<{self.status} {self.headers.get('x-edgeward-gateway', '')} {self.body[:80]!r}>"


def request(port: int, path: str, token: str | None = None, method: str = "GET",
            headers: dict | None = None, timeout: float = 5.0) -> Response:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        h = dict(headers or {})
        if token:
            h["authorization"] = f"Bearer {token}"
        conn.request(method, path, headers=h)
        r = conn.getresponse()
        return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        conn.close()


# --------------------------------------------------------------------------
# The stack
# --------------------------------------------------------------------------

class Stack:
    """One compose project: its run directory (mounted configs), its containers."""

    def __init__(self, engine: Engine, project: str, tag: str, log=print):
        self.engine = engine
        self.project = project
        self.tag = tag
        self.log = log
        self.run_dir = WORK / "run" / project
        self._compose = compose_command(engine.env)
        self._ports: dict[tuple[str, int], int] = {}

    # -- files -------------------------------------------------------------
    def render(self, filters: list[dict] | None = None) -> None:
        """Write every mounted config from filters.yaml (or the given list). Files are
        replaced in place, never the directories: running containers keep seeing them."""
        out = render.outputs(filters)
        g = render.GENERATED
        for gw in GATEWAYS:
            self._write(f"{gw}/bootstrap.yaml", out[g / "gateway-bootstrap.yaml"])
            self._write(f"{gw}/lds.yaml", out[g / "gateway-lds.yaml"])
        self._write("edge/edge.yaml", out[g / "edge.yaml"])
        self._write("echo/echo.yaml", out[g / "echo.yaml"])
        self._write("idp/idp.yaml", out[g / "idp.yaml"])
        self._write("idp/jwks.json", out[g / "jwks.json"])
        self._write("rls/limits.yaml", (HERE / "limits.yaml").read_text())
        self._write("prometheus/prometheus.yml", (HERE / "prometheus.yml").read_text())

    def _write(self, rel: str, text: str) -> Path:
        path = self.run_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written beside, then renamed: a watching Envoy never reads half a file.
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        tmp.chmod(0o644)
        os.replace(tmp, path)
        path.parent.chmod(0o755)
        return path

    def update_gateway(self, gw: str, filters: list[dict]) -> None:
        """Rolling config update of one gateway: a new listener (its filter chain and
        plugin configs) by atomic rename into the watched directory."""
        self._write(f"{gw}/lds.yaml", render._dump(render.gateway_lds(filters)))

    def set_jwks(self, jwks: dict) -> None:
        self._write("idp/jwks.json", json.dumps(jwks, indent=2) + "\n")

    # -- compose / docker --------------------------------------------------
    @property
    def env(self) -> dict:
        env = self.engine.env
        env.update(EDGEWARD_RUN=str(self.run_dir), EDGEWARD_IMAGE_TAG=self.tag)
        return env

    def compose(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        cmd = [*self._compose, "-p", self.project, "-f", str(COMPOSE_FILE), *args]
        r = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        return r

    def docker(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        r = subprocess.run(["docker", *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        return r

    def container(self, service: str) -> str:
        # Compose names containers <project>_<service>_1 (v1) or <project>-<service>-1 (v2);
        # ask by label instead of guessing.
        r = self.docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={self.project}",
                        "--filter", f"label=com.docker.compose.service={service}")
        ids = r.stdout.split()
        if len(ids) != 1:
            raise RuntimeError(f"expected one container for {service}, found {ids}")
        return ids[0]

    @property
    def network(self) -> str:
        return f"{self.project}_edgeward"

    def port(self, service: str, container_port: int) -> int:
        key = (service, container_port)
        if key not in self._ports:
            r = self.docker("port", self.container(service), f"{container_port}/tcp")
            # "127.0.0.1:49153" (one line per binding)
            self._ports[key] = int(r.stdout.split()[0].rsplit(":", 1)[1])
        return self._ports[key]

    def forget_ports(self, service: str) -> None:
        # A restarted container gets new random host ports.
        self._ports = {k: v for k, v in self._ports.items() if k[0] != service}

    def ports(self) -> dict[str, int]:
        return {
            "edge": self.port("edge", 10000),
            "gw1": self.port("gw1", 10000), "gw2": self.port("gw2", 10000),
            "gw1_admin": self.port("gw1", 9901), "gw2_admin": self.port("gw2", 9901),
            "prometheus": self.port("prometheus", 9090),
        }

    def kill(self, service: str) -> None:
        self.docker("kill", self.container(service))
        self.forget_ports(service)

    def stop(self, service: str) -> None:
        self.docker("stop", "-t", "2", self.container(service))
        self.forget_ports(service)

    def start(self, service: str) -> None:
        self.docker("start", self.container(service))
        self.forget_ports(service)

    def restart(self, service: str) -> None:
        self.docker("restart", "-t", "2", self.container(service))
        self.forget_ports(service)

    def disconnect(self, service: str) -> None:
        self.docker("network", "disconnect", self.network, self.container(service))

    def connect(self, service: str) -> None:
        self.docker("network", "connect", "--alias", service, self.network, self.container(service))

    def logs(self, service: str) -> str:
        r = self.docker("logs", self.container(service), check=False)
        return r.stdout + r.stderr

    def running(self, service: str) -> bool:
        r = self.docker("inspect", "-f", "{{.State.Running}}", self.container(service), check=False)
        return r.stdout.strip() == "true"

    # -- lifecycle ---------------------------------------------------------
    def up(self, build: bool = True, timeout: float = 120) -> None:
        if build:
            images.build(self.engine, self.tag, log=self.log)
        self.render()
        self.log(f"starting compose project {self.project}")
        self.compose("up", "-d", "--no-build")
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 120) -> None:
        t0 = time.monotonic()
        steps = []

        def done(step: str) -> None:
            steps.append(f"{step} {time.monotonic() - t0:.1f} s")
        for gw in GATEWAYS:
            self.wait_gateway(gw, timeout)
            done(gw)
        wait_for(lambda: self.edge_healthy_gateways() == 2, timeout,
                 "the edge to see both gateways healthy")
        wait_for(lambda: self.served_by_edge(6) == set(GATEWAYS), timeout,
                 "the edge to send requests to both gateways")
        done("edge")
        # The whole path: token verified with keys from the IdP, limit decided by the RLS
        # with Redis (the fail-closed route answers 200 only then).
        n = iter(range(10**6))
        wait_for(lambda: request(self.port("edge", 10000), "/api/ready",
                                 mint(f"ready-{next(n)}")).status == 200,
                 timeout, "a request through edge, gateway, IdP keys, RLS and Redis", interval=0.25)
        done("idp+rls+redis")
        wait_for(lambda: request(self.port("prometheus", 9090), "/-/ready").status == 200, timeout,
                 "Prometheus")
        done("prometheus")
        if time.monotonic() - t0 > 2:
            self.log("ready after: " + ", ".join(steps))

    def edge_healthy_gateways(self) -> int:
        """How many gateways the edge's health checks see as healthy."""
        body = request(self.port("edge", 9901), "/clusters").body.decode()
        return sum(1 for line in body.splitlines()
                   if line.startswith("gateways::") and line.endswith("::health_flags::healthy"))

    def served_by_edge(self, n: int) -> set[str]:
        port = self.port("edge", 10000)
        return {request(port, "/health").headers.get("x-edgeward-gateway", "") for _ in range(n)}

    def wait_gateway(self, gw: str, timeout: float = 60) -> None:
        wait_for(lambda: request(self.port(gw, 9901), "/ready").status == 200, timeout, f"{gw} admin /ready")
        wait_for(lambda: request(self.port(gw, 10000), "/health").status == 200, timeout, f"{gw} listener")

    def down(self, remove_images: bool = True) -> None:
        """Remove the project's containers and network (and this tag's images)."""
        self.compose("down", "--volumes", "--remove-orphans", "-t", "2", check=False)
        # Anything compose no longer knows about (a crashed run), by label.
        r = self.docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={self.project}",
                        check=False)
        if r.stdout.split():
            self.docker("rm", "-f", *r.stdout.split(), check=False)
        self.docker("network", "rm", self.network, check=False)
        if remove_images:
            images.remove(self.engine, self.tag)
        shutil.rmtree(self.run_dir, ignore_errors=True)


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------

PROJECT = "edgeward"


def _print_try(stack: Stack) -> None:
    p = stack.ports()
    token = mint("acme")
    print(f"""
edgeward compose harness is up ({stack.engine.describe()}).
  edge (both gateways)   http://127.0.0.1:{p['edge']}
  gw1 / gw2              http://127.0.0.1:{p['gw1']}  http://127.0.0.1:{p['gw2']}
  gw1 / gw2 admin        http://127.0.0.1:{p['gw1_admin']}  http://127.0.0.1:{p['gw2_admin']}
  prometheus             http://127.0.0.1:{p['prometheus']}
{'  export DOCKER_HOST=' + stack.engine.docker_host if stack.engine.owned_pid else ''}
Try:
  curl -i http://127.0.0.1:{p['edge']}/health                          # 200, no token needed
  curl -i http://127.0.0.1:{p['edge']}/api/orders                      # 401 missing_token
  TOKEN={token}
  curl -i -H "authorization: Bearer $TOKEN" http://127.0.0.1:{p['edge']}/api/orders
      # 200; x-echo-tenant: acme (from the token); the 6th within an hour: 429 (limit 5, both gateways)
  curl -s 'http://127.0.0.1:{p['prometheus']}/api/v1/query?query=edgeward_jwt_allowed'
  docker kill {stack.container('gw1')[:12]}   # edge keeps answering through gw2
Stop and remove everything: make compose-down
""")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("command", choices=("up", "down", "status", "engine"))
    args = p.parse_args(argv)
    if args.command == "engine":
        eng = Engine.find()
        if eng is None:
            print("no Docker engine answers (tried: " + ", ".join(
                h or "the docker CLI's default" for h in engine_mod.candidate_hosts(dict(os.environ)))
                + "): `make compose-up` would start a private dockerd")
            return 1
        try:
            flavour = " ".join(compose_command(eng.env))
        except EngineUnavailable as e:
            flavour = f"none ({e})"
        print(f"engine: {eng.describe()}\ncompose: {flavour}")
        return 0
    if args.command == "up":
        eng = Engine.ensure()
        stack = Stack(eng, PROJECT, "dev")
        try:
            stack.up()
        except Exception:
            print(stack.compose("logs", "--no-color", "--tail", "30", check=False).stdout, file=sys.stderr)
            raise
        _print_try(stack)
        return 0
    eng = Engine.find()
    if eng is None:
        print("no Docker engine answers: nothing runs")
        engine_mod.stop_private()
        return 0
    stack = Stack(eng, PROJECT, "dev")
    if args.command == "status":
        print(stack.compose("ps", check=False).stdout)
        return 0
    stack.down(remove_images=True)
    # Every image this harness tags (also a test run's that was interrupted).
    r = stack.docker("images", "-q", "--filter", f"reference={images.REPOSITORY}/*", check=False)
    if r.stdout.split():
        stack.docker("rmi", "-f", *sorted(set(r.stdout.split())), check=False)
    # Dangling layers: only on the private dockerd, which holds nothing but ours; on an
    # existing engine `prune` would also take other people's (rmi above already removed
    # the untagged parents of our images).
    if eng.owned_pid:
        stack.docker("image", "prune", "-f", check=False)
    eng.stop_if_owned()
    print("compose harness removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
