#!/usr/bin/env bash
# Builds the RSA micro-benchmark natively and for wasm32-wasip1, runs both
# (the Wasm one under node's V8) and prints their tables, for the filter's
# release profile (opt-level 3) and for opt-level "s".
#
#   benches/micro/run.sh [ITERATIONS]
# Needs: cargo, rustup target wasm32-wasip1, node >= 20.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

ITERATIONS="${1:-2000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
rustup target list --installed | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1

# Build output (warnings included) goes to a log, shown only on failure.
log="$CARGO_TARGET_DIR/micro-bench-build.log"
mkdir -p "$CARGO_TARGET_DIR"
for profile in release release-s; do
    for target in "" wasm32-wasip1; do
        if ! cargo build --quiet --profile "$profile" ${target:+--target "$target"} 2>"$log"; then
            cat "$log" >&2
            exit 1
        fi
    done
done

for profile in release release-s; do
    echo "# profile $profile"
    echo
    "$CARGO_TARGET_DIR/$profile/edgeward-micro-bench" "$ITERATIONS"
    echo
    node --no-warnings --experimental-wasi-unstable-preview1 run-wasi.mjs \
        "$CARGO_TARGET_DIR/wasm32-wasip1/$profile/edgeward-micro-bench.wasm" "$ITERATIONS"
    echo
done
