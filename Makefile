# The project's commands. `make test` is what CI runs.
SHELL := /bin/bash
.DEFAULT_GOAL := build

# The module as released (`make build`, for glibc 2.17): the file in the archive and
# the wheel, and the one `make run`, every test suite and `make bench` load.
MODULE := $(CURDIR)/target/release/libredis_ratelimit.so
REDIS_PORT ?= 6379
DEMO_PORT ?= 3000

.PHONY: build test run bench dist dist-test python layer-test fuzz fuzz-smoke sanitize crash-guard script-oracle deps-build deps-test deps-run deps-bench deps-dist lint unit integration examples demo-test demo clean

deps-build deps-test deps-run deps-bench deps-dist: deps-%:
	@scripts/deps.sh $*

## build: the module, target/release/libredis_ratelimit.so, as released: built with
## cargo-zigbuild against glibc 2.17, so it loads on every x86-64 Linux Redis runs on
#
# The module and the demo are built by separate cargo invocations: the demo links the
# module's crate without its `module` feature (no Redis allocator), and one invocation
# for both would unify the features.
build: deps-build
	@scripts/build-module.sh >/dev/null

## demo: the demo web app, target/release/ratelimit-demo
demo: deps-build
	cargo build --release -p ratelimit-demo

## test: formatting, lints, unit and property tests, the release's artifacts, integration
## tests on real servers, the same command tests under valgrind, the examples, the demo
## and a fuzz smoke run
test: deps-test lint unit build dist integration crash-guard script-oracle sanitize examples python layer-test demo-test dist-test fuzz-smoke

## dist: the release in dist/: the module for x86-64 Linux with glibc 2.17 or later
## (an archive with the Lua library), the manylinux2014 wheel, the sdist, the crates
dist: deps-dist build
	@scripts/dist.sh

# The artifacts as users take them: the archive's module on every server, the wheel in
# empty environments on Python 3.11 and 3.9, the sdist built from source.
dist-test: dist
	@scripts/dist-test.sh

lint:
	python3 scripts/check-docs.py
	python3 scripts/versions.py
	python3 scripts/function-length.py
	python3 -m unittest discover -s scripts/tests
	cargo fmt --all -- --check
	cargo fmt --manifest-path fuzz/Cargo.toml -- --check
	cargo clippy --workspace --all-targets -- -D warnings

unit:
	cargo test --lib
	cargo test -p redis-test-harness

# The same suite against each supported server (scripts/servers.sh), once as loaded
# by default and once with FIXED and GCRA state in the compact form.
integration: build
	@scripts/integration.sh $(MODULE)

# The script library against the module, call for call, on a debug build whose clock
# the test sets (Redis 7.0, 6.2 and Valkey 9).
script-oracle: deps-test
	@scripts/script-oracle.sh

# The panic guard, against a debug build with a command that panics on purpose, and
# the algorithms over time on a clock the tests set (the same build's test clock).
crash-guard:
	@module=$$(scripts/hooks-build.sh) && RATELIMIT_MODULE=$$module \
	  cargo test --test integration -- --ignored crash:: clock::

## fuzz: every fuzz target for FUZZ_SECONDS (default 60) each (nightly, cargo-fuzz)
FUZZ_SECONDS ?= 60
fuzz:
	@scripts/fuzz.sh $(FUZZ_SECONDS)

# A short run of each fuzz target, part of `make test`.
fuzz-smoke:
	@scripts/fuzz.sh 5

## sanitize: command paths, crash guard and stress test under valgrind memcheck
sanitize: deps-test
	@scripts/sanitize.sh

# The client programs and the Flask, FastAPI and LLM gateway examples, on the wheel.
examples: dist
	@scripts/examples.sh $(MODULE)

# The Python package: ruff and mypy --strict, then its wheel in an empty venv, tested
# on every server (a cluster and a sentinel of each with the module) and Python 3.9.
python: deps-test dist
	@scripts/python-package.sh

# The axum layer crate's tests and doc examples, against Debian's server; with the
# package's test environment (made by make python), a Python call on a layer's key.
layer-test: build
	RATELIMIT_MODULE=$(MODULE) RATELIMIT_PYTHON=$(wildcard $(CURDIR)/target/venvs/package/bin/python) \
	  cargo test -p axum-redis-ratelimit

# The demo app's unit tests, API tests and headless-Chromium page test, against
# Debian's server with the module.
demo-test: build
	RATELIMIT_MODULE=$(MODULE) cargo test -p ratelimit-demo

## run: redis-server on 127.0.0.1:$(REDIS_PORT) with the module loaded, and the demo
## app on http://127.0.0.1:$(DEMO_PORT)/ (Ctrl-C stops both)
run: deps-run build demo
	@scripts/run.sh "$(MODULE)" "$(REDIS_PORT)" "$(CURDIR)/target/release/ratelimit-demo" "$(DEMO_PORT)"

## bench: speed, memory and replication against INCR, Lua and MULTI baselines on one
## server, the script library beside the module and beside the scripts users run today
## (without the module), the demo under HTTP load, a Flask app
## limited by the Python package (module and script library) against Flask-Limiter,
## and instructions per call by form (callgrind); prints Markdown tables
## (BENCH_ARGS=--help)
bench: deps-bench dist demo
	@RATELIMIT_MODULE=$(MODULE) scripts/bench.sh $(BENCH_ARGS)

clean:
	cargo clean
