#!/usr/bin/env python3
"""Pack each dist/edgeward_*.wasm as an OCI image layout in the Wasm plugin format.

    python3 deploy/oci.py [--out dist/oci]      # one layout per module: dist/oci/<module>/
    python3 deploy/oci.py --verify dist/oci/edgeward_jwt dist/edgeward_jwt.wasm

Format: the "compat" variant of the Wasm image specification
(github.com/solo-io/wasm, spec-compat.md), which Istio's WasmPlugin and Envoy
Gateway's EnvoyExtensionPolicy (code.type: Image) both pull: an ordinary OCI image
whose single layer (tar+gzip) holds `plugin.wasm`, with the manifest annotation
`module.wasm.image/variant: compat`. Being an ordinary image, any registry and any
OCI tool accepts it (`oras cp --from-oci-layout`, `skopeo copy oci:...`, `crane push`).

No network and no tool beyond Python: the layout is written directly
(`oci-layout`, `index.json`, `blobs/sha256/...`). It is reproducible: fixed tar
metadata and gzip mtime, so the same module always gives the same digests.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import shutil
import sys
import tarfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
VERSION = "0.1.0"
VARIANT_ANNOTATION = "module.wasm.image/variant"
LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"


def _blob(layout: Path, data: bytes, media_type: str) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    path = layout / "blobs" / "sha256" / digest
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}


def _json(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def layer_tar(wasm: bytes) -> tuple[bytes, bytes]:
    """(gzipped layer, uncompressed tar): one file plugin.wasm, fixed metadata."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("plugin.wasm")
        info.size, info.mode, info.mtime = len(wasm), 0o444, 0
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        tar.addfile(info, io.BytesIO(wasm))
    tar_bytes = raw.getvalue()
    gz = io.BytesIO()
    with gzip.GzipFile(fileobj=gz, mode="wb", mtime=0, compresslevel=9) as f:
        f.write(tar_bytes)
    return gz.getvalue(), tar_bytes


def pack(wasm_path: Path, layout: Path, version: str = VERSION) -> dict:
    """Write one layout; returns its manifest."""
    shutil.rmtree(layout, ignore_errors=True)
    layout.mkdir(parents=True)
    wasm = wasm_path.read_bytes()
    module = wasm_path.stem
    gz, tar_bytes = layer_tar(wasm)
    layer = _blob(layout, gz, LAYER_MEDIA_TYPE)
    config = {
        "architecture": "wasm", "os": "wasip1",
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(tar_bytes).hexdigest()}"]},
        "config": {"Labels": {"org.opencontainers.image.title": module}},
    }
    config_desc = _blob(layout, _json(config), CONFIG_MEDIA_TYPE)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": config_desc,
        "layers": [layer],
        "annotations": {
            VARIANT_ANNOTATION: "compat",
            "org.opencontainers.image.title": module,
            "org.opencontainers.image.version": version,
            "org.opencontainers.image.source": "edgeward",
        },
    }
    manifest_desc = _blob(layout, _json(manifest), MANIFEST_MEDIA_TYPE)
    manifest_desc["annotations"] = {"org.opencontainers.image.ref.name": version}
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    (layout / "index.json").write_text(json.dumps(
        {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
         "manifests": [manifest_desc]}, indent=2))
    return manifest


class LayoutError(ValueError):
    pass


def read_plugin(layout: Path, ref: str = VERSION) -> bytes:
    """Read a layout back the way a puller does; verify every digest and size;
    return plugin.wasm."""
    if json.loads((layout / "oci-layout").read_text()).get("imageLayoutVersion") != "1.0.0":
        raise LayoutError("oci-layout: imageLayoutVersion is not 1.0.0")

    def blob(desc: dict) -> bytes:
        algo, _, digest = desc["digest"].partition(":")
        if algo != "sha256":
            raise LayoutError(f"unsupported digest {desc['digest']}")
        data = (layout / "blobs" / "sha256" / digest).read_bytes()
        if hashlib.sha256(data).hexdigest() != digest or len(data) != desc["size"]:
            raise LayoutError(f"blob {desc['digest']}: digest or size mismatch")
        return data

    index = json.loads((layout / "index.json").read_text())
    found = [m for m in index["manifests"]
             if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == ref]
    if len(found) != 1 or found[0]["mediaType"] != MANIFEST_MEDIA_TYPE:
        raise LayoutError(f"index.json: no single image manifest tagged {ref}")
    manifest = json.loads(blob(found[0]))
    if manifest.get("annotations", {}).get(VARIANT_ANNOTATION) != "compat":
        raise LayoutError("manifest lacks module.wasm.image/variant: compat")
    if manifest["config"]["mediaType"] != CONFIG_MEDIA_TYPE or len(manifest["layers"]) != 1:
        raise LayoutError("not a single-layer image")
    config = json.loads(blob(manifest["config"]))
    layer = manifest["layers"][0]
    if layer["mediaType"] != LAYER_MEDIA_TYPE:
        raise LayoutError(f"layer media type {layer['mediaType']}")
    tar_bytes = gzip.decompress(blob(layer))
    if config["rootfs"]["diff_ids"] != [f"sha256:{hashlib.sha256(tar_bytes).hexdigest()}"]:
        raise LayoutError("config diff_ids do not match the layer")
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        members = tar.getmembers()
        if [m.name for m in members] != ["plugin.wasm"] or not members[0].isfile():
            raise LayoutError(f"layer holds {[m.name for m in members]}, want only plugin.wasm")
        data = tar.extractfile(members[0]).read()
    if data[:4] != b"\0asm":
        raise LayoutError("plugin.wasm is not a Wasm module")
    return data


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=REPO_ROOT / "dist" / "oci")
    p.add_argument("--verify", nargs=2, metavar=("LAYOUT", "WASM"), type=Path)
    args = p.parse_args(argv)
    if args.verify:
        layout, wasm = args.verify
        ok = read_plugin(layout) == wasm.read_bytes()
        print(f"{layout}: {'plugin.wasm matches' if ok else 'plugin.wasm DIFFERS from'} {wasm}")
        return 0 if ok else 1
    modules = sorted((REPO_ROOT / "dist").glob("edgeward_*.wasm"))
    if not modules:
        print("no dist/edgeward_*.wasm: run `make wasm`", file=sys.stderr)
        return 1
    for mod in modules:
        layout = args.out / mod.stem
        m = pack(mod, layout)
        print(f"{layout.relative_to(REPO_ROOT) if layout.is_relative_to(REPO_ROOT) else layout}: "
              f"{m['layers'][0]['digest']} ({m['layers'][0]['size']} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
