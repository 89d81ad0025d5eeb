#!/usr/bin/env bash
# Runs edgeward-core's tests (unit tests and shared/tests/*.rs) compiled to
# wasm32-wasip1, the filters' own target, under node's WASI: the same verdicts
# in V8, the engine Envoy embeds, as natively. The runner is set in
# .cargo/config.toml (tests/wasi-test-runner.mjs). libtest runs the tests one
# after another there (no threads in wasip1), and a failing test aborts the
# binary (panics abort on wasip1), which fails the run. --nocapture: the abort
# comes before libtest would print a failed test's captured output, so the
# panic message (with its file and line) is printed as it happens instead.
#
# Needs: rustup, cargo, node (>= 18).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

TARGET=wasm32-wasip1

command -v node >/dev/null || { echo "error: node is required to run wasm tests" >&2; exit 1; }

if ! rustup target list --installed | grep -qx "$TARGET"; then
    rustup target add "$TARGET"
fi
echo "node $(node --version)"

cargo test -p edgeward-core --target "$TARGET" --tests -- --nocapture
