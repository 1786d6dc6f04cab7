#!/usr/bin/env bash
# The artifacts in dist/ (make dist), used as a user would (part of make test):
#   - the archive's module loads and answers on every server of scripts/servers.sh
#     (Redis 6.2, 7.0, 8.0, Valkey 8 and 9), and its Lua library loads where the
#     server has functions;
#   - the wheel installs into an empty virtual environment on Python 3.11 and 3.9
#     (where the machine has one), and the module it names loads into redis-server;
#   - the sdist builds a wheel from source with cargo, and that wheel's module answers.
# The sdist's build shares target/ with the test builds, so it compiles the module
# crate alone.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

version=$(python3 scripts/versions.py)
module_version=$(echo "$version" | awk -F. '{ print $1 * 10000 + $2 * 100 + $3 }')
archive=dist/redis-ratelimit-$version-$(uname -m)-linux-gnu.tar.gz
wheel=$(ls dist/redis_ratelimit-"$version"-py3-none-*.whl)
sdist=dist/redis_ratelimit-$version.tar.gz
for file in "$archive" "$wheel" "$sdist"; do
  [ -f "$file" ] || { echo "$file is missing: run make dist" >&2; exit 1; }
done
(cd dist && sha256sum --quiet -c SHA256SUMS)
work=target/dist-test
rm -rf "$work"
mkdir -p "$work"

echo "== the archive's module on every server"
tar -xzf "$archive" -C "$work"
unpacked=$work/redis-ratelimit-$version-$(uname -m)-linux-gnu
smoke_archive() {
  lua=
  # FUNCTION LOAD: Redis 7.0 and later, Valkey.
  "$REDIS_SERVER" --version | grep -q 'v=6\.' || lua=$unpacked/ratelimit.lua
  scripts/module-smoke.sh "$REDIS_SERVER" "$unpacked/libredis_ratelimit.so" "$module_version" $lua
}
export -f smoke_archive
export unpacked module_version
scripts/each-server.sh bash -c smoke_archive

echo "== the wheel in empty virtual environments"
pythons=(python3)
oldest=$(scripts/oldest-python.sh)
if [ -n "$oldest" ]; then
  pythons+=("$oldest")
else
  echo "(no Python 3.9 on this machine: the wheel is installed on $(python3 --version) only)"
fi
for python in "${pythons[@]}"; do
  venv=$work/venv-$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "$wheel"
  path=$("$venv/bin/python" -m redis_ratelimit module-path)
  echo "Python $("$venv/bin/python" -c 'import platform; print(platform.python_version())'): module-path $path"
  scripts/module-smoke.sh "$(command -v redis-server)" "$path" "$module_version"
done

echo "== the sdist, built from source with cargo"
# As pip builds it for a user, but in cargo's dev profile and in the workspace's
# target folder (SETUPTOOLS_RUST_CARGO_PROFILE, CARGO_TARGET_DIR): it then shares the
# test builds' dependencies instead of compiling them all again with optimisation.
tools=$(VENV=target/venvs/dist scripts/python.sh)
SETUPTOOLS_RUST_CARGO_PROFILE=dev CARGO_TARGET_DIR=$root/target "$tools" -m pip wheel -q --no-deps \
  --disable-pip-version-check -w "$work/from-source" "$sdist"
built=$(ls "$work"/from-source/redis_ratelimit-"$version"-*.whl)
echo "built $(basename "$built")"
python3 -m venv "$work/venv-source"
"$work/venv-source/bin/python" -m pip install -q --disable-pip-version-check "$built"
lua=$("$work/venv-source/bin/python" -m redis_ratelimit functions path)
[ -f "$lua" ] || { echo "the wheel built from the sdist lacks the Lua library ($lua)" >&2; exit 1; }
scripts/module-smoke.sh "$(command -v redis-server)" \
  "$("$work/venv-source/bin/python" -m redis_ratelimit module-path)" "$module_version" "$lua"
