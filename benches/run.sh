#!/usr/bin/env bash
# All benchmarks: core micro-benchmarks (native and in node's V8) and the load
# benchmark through a real Envoy. Figures are ratios within one run: this
# machine is shared and noisy.
#   make bench            (builds dist/*.wasm and the venv first)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v wrk >/dev/null || ! command -v taskset >/dev/null; then
    apt-get update -qq && apt-get install -y -qq wrk util-linux >/dev/null
fi

echo "== micro: RSA verification (benches/micro) =="
bash benches/micro/run.sh "${MICRO_ITERATIONS:-2000}"

echo "== micro: ES256 verification (benches/p256) =="
bash benches/p256/run.sh "${MICRO_ITERATIONS:-2000}"

echo "== micro: jsonwebtoken vs edgeward's jose layer (benches/jsonwebtoken-eval) =="
bash benches/jsonwebtoken-eval/run.sh "${MICRO_ITERATIONS:-1000}"

echo "== load: through Envoy (benches/load.py) =="
.venv/bin/python benches/load.py --seconds "${LOAD_SECONDS:-5}" --rounds "${LOAD_ROUNDS:-3}"
