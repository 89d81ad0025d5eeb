#!/usr/bin/env python3
"""A/B pairs of schema filter modules through Envoy, with benches/load.py's
paired method (two pinned Envoys side by side, CPU per request), on the
valid order of `edgeward schema vs body floor` (1 KB, or `--size 65536`).

Each pair is SUBJECT:BASELINE, where either side is a path to an
edgeward_schema.wasm or `floor` (benches/body-floor, built from this tree).
Used to find where the filter's cost lies: build a throwaway variant with
one piece removed, then pair the real module against it.

  .venv/bin/python benches/schema_ab.py dist/edgeward_schema.wasm:/tmp/no-record.wasm \\
      [more pairs...] --rounds 5 --seconds 4

`PATH#any` is that schema module with the route's schema left out, so it
checks only that the body is one well-formed JSON document (no duplicate
keys, bounded depth) on its fast path. A path may also be a module built
from benches/body-floor with a feature (`--features scan` or `syntax`): it
ignores the schema configuration and does only the least work any JSON
validator must do.

Options after the pairs: --size BYTES (the order's size, default 1024),
then load.py's (--rounds, --seconds, --connections, --seed, --json).
Probes are not sent: a variant may accept what the real filter refuses.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load  # noqa: E402


def side(spec: str):
    if spec == "floor":
        return load.body_floor_filters, "body floor"
    path_text, _, variant = spec.partition("#")
    if variant not in ("", "any"):
        raise SystemExit(f"{spec}: the only variant is `#any`")
    path = Path(path_text)
    if not path.exists():
        raise SystemExit(f"{spec}: no such module (give a .wasm path or `floor`)")
    if variant == "any":
        return (lambda: load.schema_filters(path, schema=None)), f"{path.name}#any"
    return (lambda: load.schema_filters(path)), path.name


def main(argv: list[str]) -> int:
    split = next((i for i, a in enumerate(argv) if a.startswith("-")), len(argv))
    pairs, rest = argv[:split], argv[split:]
    if any(":" not in p for p in pairs):
        raise SystemExit("each pair is SUBJECT:BASELINE")
    if not pairs:
        print(__doc__, file=sys.stderr)
        return 2
    size = 1024
    if "--size" in rest:
        at = rest.index("--size")
        try:
            size = int(rest[at + 1])
        except (IndexError, ValueError):
            raise SystemExit("--size takes a number of bytes")
        del rest[at:at + 2]
    request = load.json_post(size)
    label = f"{size // 1024} KB" if size % 1024 == 0 else f"{size} bytes"
    cases = []
    for pair in pairs:
        subject, baseline = pair.split(":", 1)
        subject_filters, _ = side(subject)
        baseline_filters, baseline_name = side(baseline)
        cases.append(load.Case(f"{subject} vs {baseline}, POST {label} JSON", subject_filters, request,
                               baseline_filters=baseline_filters, baseline_name=baseline_name))
    return load.main(rest, cases=cases, script="benches/schema_ab.py")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
