#!/usr/bin/env bash
# Installs what `make build`, `make test` and `make run` need and is missing.
# As root it installs with apt-get; otherwise it prints the exact command and fails.
# Usage: scripts/deps.sh build|test|run|bench|dist
set -euo pipefail
cd "$(dirname "$0")/.."

want=${1:-test}
missing=()

have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# bindgen (run by the redis-module crate at build time) needs libclang. The module is
# built with zig and cargo-zigbuild, installed into a venv, and objdump reads the glibc
# symbol versions it needs.
have_pkg libclang-dev || missing+=(libclang-dev)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
command -v objdump >/dev/null || missing+=(binutils)
if [ "$want" != build ] && [ "$want" != dist ]; then
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v redis-cli >/dev/null || missing+=(redis-tools)
fi
if [ "$want" = bench ]; then
  command -v wrk >/dev/null || missing+=(wrk)
  command -v curl >/dev/null || missing+=(curl)
  command -v valgrind >/dev/null || missing+=(valgrind)
  python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
fi
if [ "$want" = test ]; then
  # The suite also runs on Redis 6.2 and Valkey 9 (PyPI, into a venv), Valkey 8.0
  # (bookworm-backports) and Redis 8.0 (built from sid's source package): both extra
  # suites come from the machine's own Debian entry.
  scripts/apt-suites.sh
  have_pkg valkey-tools || missing+=("valkey-tools/$(. /etc/os-release && echo "$VERSION_CODENAME")-backports")
  have_pkg dpkg-dev || missing+=(dpkg-dev)
  command -v make >/dev/null || missing+=(make)
  command -v gcc >/dev/null || missing+=(gcc)
  # examples/clients runs the JavaScript clients with Node and npm.
  command -v npm >/dev/null || missing+=(npm)
  command -v python3 >/dev/null || missing+=(python3)
  python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
  # The demo's page test drives a real headless browser; make sanitize uses valgrind.
  command -v chromium >/dev/null || missing+=(chromium)
  command -v valgrind >/dev/null || missing+=(valgrind)
fi

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "Installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "Missing: ${missing[*]}. Install them with:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

if ! command -v cargo >/dev/null; then
  echo "Rust is missing: install it from https://rustup.rs, then run make again." >&2
  exit 1
fi
if [ "$want" = test ]; then
  for component in rustfmt clippy; do
    if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
      echo "Adding the Rust component $component"
      rustup component add "$component"
    fi
  done
fi
