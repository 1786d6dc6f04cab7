#!/usr/bin/env bash
# Instructions per call of each form of the limiter, counted by callgrind over
# everything Redis does for the command (processCommand: lookup, ACL, the command,
# a script's own calls, propagation, the reply), on one key whose calls are allowed
# (but one row's): the module's RATELIMIT.CHECK, the function library's FCALL (each
# algorithm, FIXED as the clients send it and denied, MCHECK), the script's EVALSHA,
# beside INCR, SET .. PXAT and the fixed window written in Lua. Counts, not seconds:
# the same on a busy machine. Part of `make bench`.
# Usage: scripts/callgrind-forms.sh [SERVER] [CALLS]
set -euo pipefail
cd "$(dirname "$0")/.."
server=${1:-redis-server}
calls=${2:-5000}
module=${RATELIMIT_MODULE:-$PWD/target/release/libredis_ratelimit.so}
command -v valgrind >/dev/null || { echo "valgrind is missing: apt-get install valgrind" >&2; exit 1; }
. scripts/server-lib.sh
lua_fixed='local c = redis.call("INCR", KEYS[1]) if c == 1 then redis.call("EXPIRE", KEYS[1], ARGV[2]) end if c > tonumber(ARGV[1]) then return 0 end return 1'
big=1000000000000

# Instructions per call of one command line (@LIB@, @FIXED@: the scripts' digests),
# counted from after a first call (loading the scripts and the first call's setup are
# not counted) to the last.
count() {
  local work port total
  work=$(mktemp -d)
  start_server "$server" "$module" valgrind --tool=callgrind --callgrind-out-file="$work/out.%p" \
    --toggle-collect='processCommand'
  port=$server_port
  redis-cli -p "$port" FUNCTION LOAD "$(cat lua/ratelimit.lua)" >/dev/null 2>&1 || true
  local lib fixed
  lib=$(redis-cli -p "$port" SCRIPT LOAD "$(tail -n +2 lua/ratelimit.lua)")
  fixed=$(redis-cli -p "$port" SCRIPT LOAD "$lua_fixed")
  local args=("$@")
  args=("${args[@]//@LIB@/$lib}")
  args=("${args[@]//@FIXED@/$fixed}")
  redis-cli -p "$port" "${args[@]}" >/dev/null
  callgrind_control -z "$server_pid" >/dev/null 2>&1
  redis-cli -p "$port" -r "$calls" "${args[@]}" >/dev/null
  callgrind_control -d "$server_pid" >/dev/null 2>&1
  total=$(grep -hE '^(summary|totals):' "$work"/out.*.1 | head -n1 | awk '{print $2}')
  stop_server
  rm -rf "$work"
  echo $((total / calls))
}

echo "## Instructions per call, by form (callgrind, $calls allowed calls on one key; $("$server" --version | cut -d' ' -f1-3))"
echo
echo "| command | instructions/call | x INCR |"
echo "|---|---:|---:|"
incr=$(count INCR k)
row() { local label=$1; shift; local n; n=$(count "$@"); echo "| $label | $n | $(python3 -c "print(f'{$n / $incr:.1f}')") |"; }
echo "| INCR | $incr | 1.0 |"
row "SET k v PXAT t" SET k v PXAT 4000000000000
row "Lua fixed window (EVALSHA)" EVALSHA @FIXED@ 1 k "$big" 60
row "RATELIMIT.CHECK FIXED (module)" RATELIMIT.CHECK k "$big" 3600
row "RATELIMIT.CHECK GCRA (module)" RATELIMIT.CHECK k "$big" 3600 ALGORITHM GCRA
if redis-cli --version >/dev/null && "$server" --version | grep -qE 'v=([7-9]|[1-9][0-9])\.'; then
  row "ratelimit_check FIXED (FCALL)" FCALL ratelimit_check 1 k "$big" 3600
  row "ratelimit_check FIXED as the clients send it (FCALL)" FCALL ratelimit_check 1 k "$big" 3600000 MS ALGORITHM FIXED COST 1
  row "ratelimit_check FIXED, denied (FCALL)" FCALL ratelimit_check 1 k 1 3600
  row "ratelimit_check SLIDING (FCALL)" FCALL ratelimit_check 1 k "$big" 3600 ALGORITHM SLIDING
  row "ratelimit_check GCRA (FCALL)" FCALL ratelimit_check 1 k "$big" 3600 ALGORITHM GCRA
  row "ratelimit_check LOG, a full log of 4,096 (FCALL)" FCALL ratelimit_check 1 k 4096 3600 ALGORITHM LOG
  row "ratelimit_mcheck, 2 limits (FCALL)" FCALL ratelimit_mcheck 2 k k2 "$big" 3600 "$big" 7200
fi
row "check FIXED (EVALSHA)" EVALSHA @LIB@ 1 k check "$big" 3600
echo
