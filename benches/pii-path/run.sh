#!/usr/bin/env bash
# Builds the PII log-phase bench natively and for wasm32-wasip1 and runs
# both (Wasm under node's V8). PROFILE=1 also writes a V8 CPU profile
# (benches/pii-path/*.cpuprofile; open it in Chrome DevTools).
#   benches/pii-path/run.sh [ITERATIONS] [CASE-SUBSTRING]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
ITERATIONS="${1:-5000}"
ONLY="${2:-}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --quiet --release
cargo build --quiet --release --target wasm32-wasip1
echo "# native"; "$CARGO_TARGET_DIR/release/edgeward-pii-path-bench" "$ITERATIONS" "$ONLY"
echo "# V8"
prof=(); [ -n "${PROFILE:-}" ] && prof=(--cpu-prof --cpu-prof-dir=.)
node --no-warnings --experimental-wasi-unstable-preview1 "${prof[@]}" ../micro/run-wasi.mjs \
    "$CARGO_TARGET_DIR/wasm32-wasip1/release/edgeward-pii-path-bench.wasm" "$ITERATIONS" "$ONLY"
