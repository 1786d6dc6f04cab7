#!/usr/bin/env bash
# make bench: the module (speed, memory, replication) against its baselines, the demo
# under HTTP load, a Flask app limited by the package against Flask-Limiter (and
# Flask-Limiter on the package's limits storage), a DRF view's throttles, and
# instructions per call by form. $RATELIMIT_MODULE is the module measured (make bench:
# the release's); arguments go to scripts/bench.py (--help).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${RATELIMIT_MODULE:?set RATELIMIT_MODULE to the module to measure}"
version=$(python3 scripts/versions.py)

wheel=$(ls dist/redis_ratelimit-"$version"-py3-none-*.whl)
python=$(scripts/python.sh scripts/bench-requirements.txt)
# The package's helper starts the servers (redis_ratelimit.testing).
"$python" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps "$wheel"
"$python" scripts/bench.py "$@"

python=$(VENV=target/venvs/bench-flask scripts/python.sh flask 'flask-limiter[redis]' 'redis>=5')
"$python" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps "$wheel"
"$python" scripts/bench_flask.py --module "$RATELIMIT_MODULE"

python=$(VENV=target/venvs/bench-django scripts/python.sh django djangorestframework 'redis>=5')
"$python" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps "$wheel"
"$python" scripts/bench_django.py --module "$RATELIMIT_MODULE"

scripts/callgrind-forms.sh
