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
. scripts/server-lib.sh
start_server redis-server "$module" valgrind --tool=callgrind --callgrind-out-file="$work/out" \
  --toggle-collect='RedisModuleCommandDispatcher'
redis-cli -p "$server_port" -r "$calls" RATELIMIT.CHECK hot 1000000000000 3600 >/dev/null
stop_server
total=$(grep -E '^(summary|totals):' "$work/out" | head -n1 | awk '{print $2}')
echo "instructions per RATELIMIT.CHECK: $((total / calls)) ($calls calls, $total in the dispatcher)"
