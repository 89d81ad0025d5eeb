"""Names a .wasm module exports and imports (reads the binary's export and
import sections; no tools needed)."""
from __future__ import annotations

import sys
from pathlib import Path


def _uleb(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = data[at]
        at += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, at


def _name(data: bytes, at: int) -> tuple[str, int]:
    n, at = _uleb(data, at)
    return data[at:at + n].decode(), at + n


def sections(path: Path) -> dict[int, bytes]:
    data = path.read_bytes()
    if data[:4] != b"\0asm":
        raise ValueError(f"{path} is not a Wasm module")
    at, out = 8, {}
    while at < len(data):
        sid = data[at]
        size, at = _uleb(data, at + 1)
        out.setdefault(sid, data[at:at + size])
        at += size
    return out


def exports(path: Path) -> list[str]:
    body = sections(path).get(7, b"")
    if not body:
        return []
    count, at = _uleb(body, 0)
    names = []
    for _ in range(count):
        name, at = _name(body, at)
        kind = body[at]
        _, at = _uleb(body, at + 1)
        if kind == 0:  # functions only
            names.append(name)
    return names


def imports(path: Path) -> list[str]:
    body = sections(path).get(2, b"")
    if not body:
        return []
    count, at = _uleb(body, 0)
    names = []
    for _ in range(count):
        module, at = _name(body, at)
        name, at = _name(body, at)
        kind = body[at]
        at += 1
        if kind == 0:
            _, at = _uleb(body, at)
        elif kind == 1:  # table: reftype + limits
            at += 1
            flags, at = _uleb(body, at)
            _, at = _uleb(body, at)
            if flags & 1:
                _, at = _uleb(body, at)
        elif kind == 2:  # memory: limits
            flags, at = _uleb(body, at)
            _, at = _uleb(body, at)
            if flags & 1:
                _, at = _uleb(body, at)
        elif kind == 3:  # global: valtype + mutability
            at += 2
        names.append(f"{module}.{name}")
    return names


if __name__ == "__main__":
    for p in sys.argv[1:]:
        print(p)
        print("  exports:", " ".join(exports(Path(p))))
        print("  imports:", " ".join(imports(Path(p))))
