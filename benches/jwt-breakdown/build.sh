#!/usr/bin/env bash
# Builds the edgeward-jwt variants of the cache-hit breakdown: the committed
# tree (`git archive HEAD`) with some of patches/*.patch applied, in a
# scratch copy under tests/.work/breakdown/, so the worktree's sources are
# never edited. The patches are experiments, not fixes: never commit them to
# the sources. They were written against f8794ee; a patch that no longer
# applies after a refactor fails loudly here.
#   bash benches/jwt-breakdown/build.sh [variant...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
REPO=$PWD
OUT=$REPO/tests/.work/breakdown
SRC=$OUT/src
TARGET=$REPO/target/breakdown
PATCHES=$REPO/benches/jwt-breakdown/patches
mkdir -p "$OUT"

build() { # name [patch...]
    local name=$1
    shift
    rm -rf "$SRC"
    mkdir -p "$SRC"
    # -m: fresh mtimes, so cargo never takes a restored file for unchanged.
    git archive HEAD | tar -x -m -C "$SRC"
    for p in "$@"; do
        patch --quiet --forward -p1 -d "$SRC" <"$PATCHES/$p.patch"
    done
    (cd "$SRC" && CARGO_TARGET_DIR=$TARGET cargo build --quiet --release \
        --target wasm32-wasip1 -p edgeward-jwt)
    cp "$TARGET/wasm32-wasip1/release/edgeward_jwt.wasm" "$OUT/$name.wasm"
    echo "built $OUT/$name.wasm ($(git rev-parse --short HEAD)${*:+ + $*})"
}

# name, then the patches it applies. Only the named ones when given
# (`build.sh head three-headers`).
VARIANTS=(
    "head"
    "no-identity-property no-identity-property"
    "no-decision-property no-decision-property"
    "no-properties no-identity-property no-decision-property"
    "no-counters no-counters"
    "no-claim-header-set no-claim-header-set"
    "three-headers three-headers"
    "all-off-map no-identity-property no-decision-property no-counters"
    "map-only map-only"
    "map-call-only map-call-only"
    "fixed-clock fixed-clock"
    "return-at-once return-at-once"
)
for v in "${VARIANTS[@]}"; do
    read -r -a words <<<"$v"
    if [ $# -eq 0 ] || [[ " $* " == *" ${words[0]} "* ]]; then
        build "${words[@]}"
    fi
done
rm -rf "$SRC"
