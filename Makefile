# The project's commands. `make test` is what CI runs.
SHELL := /bin/bash
.DEFAULT_GOAL := build

MODULE := $(CURDIR)/target/release/libredis_ratelimit.so
REDIS_PORT ?= 6379

.PHONY: build test run deps-build deps-test deps-run lint unit integration examples clean

deps-build deps-test deps-run: deps-%:
	@scripts/deps.sh $*

## build: the module, target/release/libredis_ratelimit.so
build: deps-build
	cargo build --release

## test: formatting, lints, unit and property tests, integration tests on real servers
test: deps-test lint build unit integration examples

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings

unit:
	cargo test --lib

# The same suite against each supported server: Redis 7.0 (Debian), 6.2 and Valkey 9.
integration: build
	@set -e; for server in $$(scripts/servers.sh); do \
	  echo "== integration tests on $$($$server --version | cut -d' ' -f1-3)"; \
	  REDIS_SERVER=$$server RATELIMIT_MODULE=$(MODULE) cargo test --test integration; \
	done

# The Flask example's own test (Flask, redis-py and pytest in .venv), on Debian's server.
examples: build
	@python=$$(scripts/python.sh examples/flask/requirements.txt) && \
	  cd examples/flask && RATELIMIT_MODULE=$(MODULE) $$python -m pytest -q -p no:cacheprovider

## run: redis-server on 127.0.0.1:$(REDIS_PORT) with the module loaded (Ctrl-C stops it)
run: deps-run build
	@scripts/run.sh "$(MODULE)" "$(REDIS_PORT)"

clean:
	cargo clean
