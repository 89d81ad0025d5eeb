#!/usr/bin/env bash
# Builds the ES256 micro-benchmark natively and for wasm32-wasip1 (release
# profile: opt-level 3, LTO), runs both (the Wasm one under node's V8, as in
# Envoy) and prints their tables.
#
#   benches/p256/run.sh [ITERATIONS]
# Needs: cargo, rustup target wasm32-wasip1, node >= 20.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

ITERATIONS="${1:-2000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
rustup target list --installed | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1

cargo build --quiet --release
cargo build --quiet --release --target wasm32-wasip1

"$CARGO_TARGET_DIR/release/edgeward-p256-bench" "$ITERATIONS"
echo
node --no-warnings --experimental-wasi-unstable-preview1 ../micro/run-wasi.mjs \
    "$CARGO_TARGET_DIR/wasm32-wasip1/release/edgeward-p256-bench.wasm" "$ITERATIONS"
