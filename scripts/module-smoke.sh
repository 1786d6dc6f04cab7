#!/usr/bin/env bash
# Loads a module file into a server binary and checks that it answers: MODULE LIST
# names it with the expected version, and RATELIMIT.CHECK counts and denies. Optionally
# also loads a Lua library file with FUNCTION LOAD (servers with functions) and calls it.
# The server listens on a free loopback port and is stopped on exit.
# Usage: scripts/module-smoke.sh SERVER MODULE MODULE_VERSION [LUA_FILE]
set -euo pipefail
server=${1:?usage: scripts/module-smoke.sh SERVER MODULE MODULE_VERSION [LUA_FILE]}
module=$2
expected=$3
lua=${4:+$(realpath "$4")}

. "$(dirname "$0")/server-lib.sh"
trap stop_server EXIT
start_server "$server" "$module"
cli() { redis-cli -h 127.0.0.1 -p "$server_port" "$@"; }

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
