#!/usr/bin/env bash
# Runs edgeward-core's integration tests (shared/tests/*.rs) compiled to
# wasm32-unknown-unknown, under node, with wasm-bindgen's test runner: the
# verification code is checked in a Wasm engine, not only natively.
#
# Needs: rustup, cargo, node (>= 18). Installs the rustup target and
# wasm-bindgen-cli (same version as wasm-bindgen in Cargo.lock; ~3 min the
# first time) when missing. The runner is set in .cargo/config.toml.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

TARGET=wasm32-unknown-unknown
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
export PATH="$CARGO_BIN:$PATH"

command -v node >/dev/null || { echo "error: node is required to run wasm tests" >&2; exit 1; }

if ! rustup target list --installed | grep -qx "$TARGET"; then
    rustup target add "$TARGET"
fi

# Make sure Cargo.lock exists and is up to date with the manifests.
cargo metadata --format-version 1 >/dev/null

# The CLI must match the wasm-bindgen crate exactly (the runner checks the
# schema version embedded in the test binary).
versions=$(awk '
    /^\[\[package\]\]/ { name = "" }
    /^name = / { name = $3 }
    /^version = / && name == "\"wasm-bindgen\"" { gsub(/"/, "", $3); print $3 }
' Cargo.lock | sort -u)
if [ -z "$versions" ]; then
    echo "error: no wasm-bindgen in Cargo.lock (is wasm-bindgen-test a wasm32 dev-dependency of shared/?)" >&2
    exit 1
fi
if [ "$(printf '%s\n' "$versions" | wc -l)" -ne 1 ]; then
    echo "error: several wasm-bindgen versions in Cargo.lock: $(echo $versions)" >&2
    exit 1
fi
WB_VERSION=$versions

installed=$(wasm-bindgen-test-runner --version 2>/dev/null | awk '{print $2}' || true)
if [ "$installed" != "$WB_VERSION" ]; then
    echo "installing wasm-bindgen-cli $WB_VERSION (found: ${installed:-none})"
    # --locked fails for this crate here; a plain install works.
    cargo install wasm-bindgen-cli --version "$WB_VERSION"
fi
echo "wasm-bindgen-test-runner $WB_VERSION, node $(node --version)"

cargo test -p edgeward-core --target "$TARGET" --tests
