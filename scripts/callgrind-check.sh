#!/usr/bin/env bash
# Instructions per RATELIMIT.CHECK, counted by callgrind inside the module command
# dispatcher only (so the figure is the command itself, not networking or parsing of
# the request): N allowed calls on one key, the hot path (one key open, one in-place
# write, one replicated SET). Used to compare builds before and after a change.
# Usage: scripts/callgrind-check.sh [MODULE] [CALLS]
set -euo pipefail
cd "$(dirname "$0")/.."
module=${1:-$PWD/target/release/libredis_ratelimit.so}
calls=${2:-20000}
command -v valgrind >/dev/null || { echo "valgrind is missing: apt-get install valgrind" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
valgrind --tool=callgrind --callgrind-out-file="$work/out" \
  --toggle-collect='RedisModuleCommandDispatcher' \
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" \
  --loadmodule "$module" >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
  redis-cli -p "$port" ping >/dev/null 2>&1 && break
  sleep 0.1
done
redis-cli -p "$port" -r "$calls" RATELIMIT.CHECK hot 1000000000000 3600 >/dev/null
redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
wait "$pid" || true
total=$(grep -E '^(summary|totals):' "$work/out" | head -n1 | awk '{print $2}')
echo "instructions per RATELIMIT.CHECK: $((total / calls)) ($calls calls, $total in the dispatcher)"
