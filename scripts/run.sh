#!/usr/bin/env bash
# Starts redis-server on 127.0.0.1 with the module loaded, in the foreground.
# Usage: scripts/run.sh MODULE_PATH PORT
set -euo pipefail
module=$1
port=$2

if redis-cli -p "$port" ping >/dev/null 2>&1; then
  echo "Port $port is already taken by a running Redis. Stop it, or choose another port:" >&2
  echo "  make run REDIS_PORT=6380" >&2
  exit 1
fi

cat <<TXT
Starting redis-server on 127.0.0.1:$port with the ratelimit module. Try, in another terminal:

  redis-cli -p $port RATELIMIT.CHECK user:1 10 60
  redis-cli -p $port RATELIMIT.PEEK user:1 10 60

Ctrl-C stops the server.
TXT
exec redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
  --loadmodule "$module"
