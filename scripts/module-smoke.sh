#!/usr/bin/env bash
# Loads a module file into a server binary and checks that it answers: MODULE LIST
# names it with the expected version, and RATELIMIT.CHECK counts and denies. Optionally
# also loads a Lua library file with FUNCTION LOAD (servers with functions) and calls it.
# The server listens on a free loopback port and is stopped on exit.
# Usage: scripts/module-smoke.sh SERVER MODULE MODULE_VERSION [LUA_FILE]
set -euo pipefail
server=${1:?usage: scripts/module-smoke.sh SERVER MODULE MODULE_VERSION [LUA_FILE]}
module=$(realpath "$2")
expected=$3
lua=${4:+$(realpath "$4")}

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
dir=$(mktemp -d)
"$server" --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
  --loadmodule "$module" >"$dir/log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
cli() { redis-cli -h 127.0.0.1 -p "$port" "$@"; }
for _ in $(seq 100); do
  cli PING 2>/dev/null | grep -q PONG && break
  kill -0 "$pid" 2>/dev/null || { echo "$server did not start:" >&2; cat "$dir/log" >&2; exit 1; }
  sleep 0.1
done
cli PING | grep -q PONG || { echo "$server did not answer in 10 s" >&2; exit 1; }

fail() { echo "$(basename "$server") with $(basename "$module"): $*" >&2; exit 1; }
# MODULE LIST: name, <name>, ver, <version>, ... per module (Redis 8 lists its own too).
version=$(cli MODULE LIST | awk 'prev == "name" { name = $0 } prev == "ver" && name == "ratelimit" { print } { prev = $0 }')
[ "$version" = "$expected" ] || fail "MODULE LIST version '$version', expected $expected"
[ "$(cli RATELIMIT.CHECK smoke 2 60 | head -3 | tr '\n' ' ')" = "1 2 1 " ] || fail "first CHECK"
[ "$(cli RATELIMIT.CHECK smoke 2 60 | head -3 | tr '\n' ' ')" = "1 2 0 " ] || fail "second CHECK"
[ "$(cli RATELIMIT.CHECK smoke 2 60 | head -1)" = 0 ] || fail "third CHECK was not denied"
if [ -n "$lua" ]; then
  cli -x FUNCTION LOAD <"$lua" | grep -qx ratelimit || fail "FUNCTION LOAD of $lua"
  [ "$(cli FCALL ratelimit_check 1 smoke 2 60 | head -1)" = 0 ] || fail "FCALL did not continue the module's count"
fi
echo "$("$server" --version | cut -d' ' -f1-3): $(basename "$module") loads, MODULE LIST version $version, CHECK answers${lua:+, the Lua library too}"
