#!/usr/bin/env bash
# Starts redis-server on 127.0.0.1 with the module loaded, and the demo app in front of
# it, in the foreground. Ctrl-C (or the end of either) stops both.
# Usage: scripts/run.sh MODULE_PATH REDIS_PORT DEMO_BINARY DEMO_PORT
set -euo pipefail
module=$1
port=$2
demo=$3
demo_port=$4

for p in "$port" "$demo_port"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    echo "Port $p is already in use. Stop what uses it, or choose other ports:" >&2
    echo "  make run REDIS_PORT=6380 DEMO_PORT=3001" >&2
    exit 1
  fi
done

. "$(dirname "$0")/server-lib.sh"
demo_pid=
stop() {
  [ -n "$demo_pid" ] && kill "$demo_pid" 2>/dev/null || true
  stop_server
  wait 2>/dev/null || true
}
trap stop EXIT INT TERM
# The server's warnings stay in the terminal.
server_args=(--loglevel warning)
SERVER_PORT=$port SERVER_LOG=/dev/stderr start_server redis-server "$module"
redis_pid=$server_pid

cat <<TXT

redis-server with the ratelimit module: 127.0.0.1:$port
The demo app:                           http://127.0.0.1:$demo_port/  (API docs at /docs)

Try, in another terminal:

  redis-cli -p $port RATELIMIT.CHECK user:1 10 60
  curl -i http://127.0.0.1:$demo_port/api/data
  curl -i -H 'X-API-Key: demo-pro-key' http://127.0.0.1:$demo_port/api/data

Ctrl-C stops both.

TXT
"$demo" --redis-url "redis://127.0.0.1:$port" --listen "127.0.0.1:$demo_port" &
demo_pid=$!
# Whichever ends first ends the session.
wait -n "$redis_pid" "$demo_pid" || true
