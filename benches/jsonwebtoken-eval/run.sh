#!/usr/bin/env bash
# Builds the jsonwebtoken evaluation natively and for wasm32-wasip1 (release
# profile: opt-level 3, LTO), runs it with each jsonwebtoken provider
# (rust_crypto, then edgeward's verifiers), natively and under node's V8,
# and prints the tables.
#
#   benches/jsonwebtoken-eval/run.sh [ITERATIONS]
# Needs: cargo, rustup target wasm32-wasip1, node >= 20.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

ITERATIONS="${1:-1000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
rustup target list --installed | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1

cargo build --quiet --release
cargo build --quiet --release --target wasm32-wasip1

for mode in rust_crypto edgeward; do
    "$CARGO_TARGET_DIR/release/edgeward-jsonwebtoken-eval" "$mode" "$ITERATIONS"
    echo
    node --no-warnings --experimental-wasi-unstable-preview1 ../micro/run-wasi.mjs \
        "$CARGO_TARGET_DIR/wasm32-wasip1/release/edgeward-jsonwebtoken-eval.wasm" "$mode" "$ITERATIONS"
    echo
done
