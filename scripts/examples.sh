#!/usr/bin/env bash
# The examples, each with its libraries' defaults, on Debian's server with the module:
# the client programs (redis-py 5 and 8, ioredis, node-redis, redis-rs), the Flask
# example under redis-py 5 and 8, the FastAPI example and the LLM gateway, all on the
# package's wheel from dist/. The Python environments live under target/venvs.
# Usage: scripts/examples.sh MODULE
set -euo pipefail
cd "$(dirname "$0")/.."
module=${1:?usage: scripts/examples.sh MODULE}
version=$(python3 scripts/versions.py)
wheel=$(ls "$PWD"/dist/redis_ratelimit-"$version"-py3-none-*.whl) \
  || { echo "no wheel in dist/: run make dist" >&2; exit 1; }

py5=$(VENV=target/venvs/redis-py-5 scripts/python.sh examples/flask/requirements.txt 'redis>=5,<6')
py8=$(VENV=target/venvs/redis-py-8 scripts/python.sh examples/flask/requirements.txt \
  examples/fastapi/requirements.txt examples/llm-gateway/requirements.txt 'redis>=8,<9')
for py in "$py5" "$py8"; do
  "$py" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps "$wheel"
done
(cd examples/clients/node && npm install --no-audit --no-fund --no-package-lock --silent)
cargo build -q --example client

cd examples
export RATELIMIT_MODULE=$module
pytest() { "$1" -m pytest -q -p no:cacheprovider "${@:2}"; }
for py in "$py5" "$py8"; do
  echo "== Flask example with redis-py $("$py" -c 'import redis; print(redis.__version__)')"
  pytest "$py" flask
done
echo "== FastAPI example"
pytest "$py8" fastapi
echo "== LLM gateway example"
pytest "$py8" llm-gateway
echo "== client programs"
CLIENT_PYTHONS="$py5 $py8" CLIENT_RUST=$PWD/../target/debug/examples/client pytest "$py8" clients
