# The project's commands. `make test` is what CI runs.
SHELL := /bin/bash
.DEFAULT_GOAL := build

MODULE := $(CURDIR)/target/release/libredis_ratelimit.so
REDIS_PORT ?= 6379
DEMO_PORT ?= 3000

.PHONY: build test run bench wheel python layer-test fuzz fuzz-smoke sanitize crash-guard script-oracle deps-build deps-test deps-run deps-bench lint unit integration examples demo-test demo clean

deps-build deps-test deps-run deps-bench: deps-%:
	@scripts/deps.sh $*

## build: the module, target/release/libredis_ratelimit.so
#
# The module and the demo are built by separate cargo invocations: the demo links the
# module's crate without its `module` feature (no Redis allocator), and one invocation
# for both would unify the features.
build: deps-build
	cargo build --release

## demo: the demo web app, target/release/ratelimit-demo
demo: deps-build
	cargo build --release -p ratelimit-demo

## test: formatting, lints, unit and property tests, integration tests on real servers,
## the same command tests under valgrind, the examples, the demo and a fuzz smoke run
test: deps-test lint build unit integration crash-guard script-oracle sanitize examples python layer-test demo-test fuzz-smoke

lint:
	python3 scripts/check-docs.py
	cargo fmt --all -- --check
	cargo fmt --manifest-path fuzz/Cargo.toml -- --check
	cargo clippy --workspace --all-targets -- -D warnings

unit:
	cargo test --lib
	cargo test -p redis-test-harness

# The same suite against each supported server: Redis 7.0 (Debian), 6.2 and Valkey 9,
# once as loaded by default and once with FIXED and GCRA state in the compact form.
integration: build
	@set -e; for server in $$(scripts/servers.sh); do \
	  for load in "" "COMPACT-STATE yes"; do \
	    echo "== integration tests on $$($$server --version | cut -d' ' -f1-3) $${load:+(module loaded with $$load)}"; \
	    REDIS_SERVER=$$server RATELIMIT_MODULE=$(MODULE) RATELIMIT_LOAD_ARGS="$$load" \
	      cargo test --test integration; \
	  done; \
	done

# The script library against the module, call for call, on a debug build whose clock
# the test sets (Redis 7.0, 6.2 and Valkey 9).
script-oracle: deps-test
	@scripts/script-oracle.sh

# The panic guard, against a debug build with a command that panics on purpose.
crash-guard:
	cargo build --features test-hooks --target-dir target/sanitize
	RATELIMIT_MODULE=$(CURDIR)/target/sanitize/debug/libredis_ratelimit.so \
	  cargo test --test integration -- --ignored crash::

## fuzz: every fuzz target for FUZZ_SECONDS (default 60) each (nightly, cargo-fuzz)
FUZZ_SECONDS ?= 60
fuzz:
	@scripts/fuzz.sh $(FUZZ_SECONDS)

# A short run of each fuzz target, part of `make test`.
fuzz-smoke:
	@scripts/fuzz.sh 10

## sanitize: command paths, crash guard and stress test under valgrind memcheck
sanitize: deps-test
	@scripts/sanitize.sh

# The client programs (redis-py 5 and 8, ioredis, node-redis, redis-rs, each with its
# library's defaults); the Flask example under redis-py 5 and 8, the FastAPI example
# and the LLM gateway, on the package's wheel; all on Debian's server. The Python
# environments live under target/venvs.
examples: build wheel
	@set -e; wheel=$$(ls $(CURDIR)/target/wheels/redis_ratelimit-*.whl); \
	  py5=$$(VENV=target/venvs/redis-py-5 scripts/python.sh examples/flask/requirements.txt 'redis>=5,<6'); \
	  py8=$$(VENV=target/venvs/redis-py-8 scripts/python.sh examples/flask/requirements.txt examples/fastapi/requirements.txt examples/llm-gateway/requirements.txt 'redis>=8,<9'); \
	  for py in $$py5 $$py8; do $$py -m pip install -q --disable-pip-version-check --force-reinstall --no-deps "$$wheel"; done; \
	  (cd examples/clients/node && npm install --no-audit --no-fund --no-package-lock --silent); \
	  cargo build -q --example client; \
	  cd examples; \
	  for py in $$py5 $$py8; do \
	    echo "== Flask example with redis-py $$($$py -c 'import redis; print(redis.__version__)')"; \
	    RATELIMIT_MODULE=$(MODULE) $$py -m pytest -q -p no:cacheprovider flask; \
	  done; \
	  echo "== FastAPI example"; \
	  RATELIMIT_MODULE=$(MODULE) $$py8 -m pytest -q -p no:cacheprovider fastapi; \
	  echo "== LLM gateway example"; \
	  RATELIMIT_MODULE=$(MODULE) $$py8 -m pytest -q -p no:cacheprovider llm-gateway; \
	  echo "== client programs"; \
	  RATELIMIT_MODULE=$(MODULE) CLIENT_PYTHONS="$$py5 $$py8" CLIENT_RUST=$(CURDIR)/target/debug/examples/client \
	    $$py8 -m pytest -q -p no:cacheprovider clients

## wheel: the Python package with the module inside, target/wheels/redis_ratelimit-*.whl
wheel: deps-run
	@scripts/python-package.sh build

# The Python package: its wheel built and checked (auditwheel), ruff and mypy --strict,
# then installed into an empty venv and tested against Redis 7.0, 8.0 and Valkey 9
# and a 3-node cluster of each.
python: deps-test build wheel
	@scripts/python-package.sh test

# The axum layer crate's tests and doc examples, against Debian's server.
layer-test: build
	RATELIMIT_MODULE=$(MODULE) cargo test -p axum-redis-ratelimit

# The demo app's unit tests, API tests and headless-Chromium page test, against
# Debian's server with the module.
demo-test: build
	RATELIMIT_MODULE=$(MODULE) cargo test -p ratelimit-demo

## run: redis-server on 127.0.0.1:$(REDIS_PORT) with the module loaded, and the demo
## app on http://127.0.0.1:$(DEMO_PORT)/ (Ctrl-C stops both)
run: deps-run build demo
	@scripts/run.sh "$(MODULE)" "$(REDIS_PORT)" "$(CURDIR)/target/release/ratelimit-demo" "$(DEMO_PORT)"

## bench: speed, memory and replication against INCR, Lua and MULTI baselines on one
## server, the script library beside the module, the demo under HTTP load, a Flask app
## limited by the Python package (module and script library) against Flask-Limiter,
## and instructions per call by form (callgrind); prints Markdown tables
## (BENCH_ARGS=--help)
bench: deps-bench build demo wheel
	@python=$$(scripts/python.sh scripts/bench-requirements.txt) && \
	  $$python scripts/bench.py $(BENCH_ARGS)
	@python=$$(VENV=target/venvs/bench-flask scripts/python.sh flask 'flask-limiter[redis]' 'redis>=5') && \
	  $$python -m pip install -q --disable-pip-version-check --force-reinstall --no-deps target/wheels/redis_ratelimit-*.whl && \
	  $$python scripts/bench_flask.py --module $(MODULE)
	@scripts/callgrind-forms.sh

clean:
	cargo clean
