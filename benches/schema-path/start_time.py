"""Envoy start-up time (process start to ready, one worker, pinned like
benches/load.py) with the schema filter loaded from each module given,
alternating, 3 times each; prints the medians. Hold the bench lock:

  flock /tmp/edgeward-bench.lock .venv/bin/python benches/schema-path/start_time.py \\
      dist/edgeward_schema.wasm other/edgeward_schema.wasm
"""
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import load  # noqa: E402
from harness.envoy import gateway_config  # noqa: E402


def main(paths: list[Path]) -> None:
    took: dict[Path, list[float]] = {p: [] for p in paths}
    for _ in range(3):
        for path in paths:
            def make(path=path):
                return gateway_config(load.free_port(), load.free_port(), load.free_port(),
                                      load.schema_filters(path), routes=load.direct_response_routes(),
                                      hcm_extra={"access_log": []})
            start = time.monotonic()
            env = load.start_envoy(make, load.ENVOY_CPU, "schema-start")
            took[path].append(time.monotonic() - start)
            env.stop()
    for path, t in took.items():
        print(f"{path}  {path.stat().st_size} bytes  start {statistics.median(t):.1f} s "
              f"[{min(t):.1f}-{max(t):.1f}]")


if __name__ == "__main__":
    main([Path(a) for a in sys.argv[1:]] or [load.SCHEMA_WASM])
