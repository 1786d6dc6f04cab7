#!/usr/bin/env bash
# Runs a command once per server of scripts/servers.sh, with $REDIS_SERVER set to the
# server's binary, and fails unless it ran, and passed, on every server expected: a
# suite never passes on fewer servers than it claims. It fails when servers.sh fails,
# names a binary that is not there, or names fewer (or more) than the five supported
# (Redis 6.2, 7.0, 8.0, Valkey 8 and 9).
# Usage: scripts/each-server.sh COMMAND [ARG ...]
# ($SERVERS_LIST and $SERVERS_EXPECTED replace servers.sh and the five, for its test.)
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || { echo "usage: scripts/each-server.sh COMMAND [ARG ...]" >&2; exit 2; }
list=${SERVERS_LIST:-scripts/servers.sh}
expected=${SERVERS_EXPECTED:-5}

servers=$("$list")
ran=0
for server in $servers; do
  [ -x "$server" ] || { echo "each-server: $server is not there" >&2; exit 1; }
  REDIS_SERVER=$server "$@"
  ran=$((ran + 1))
done
if [ "$ran" -ne "$expected" ]; then
  echo "each-server: ran on $ran servers, not the $expected expected ($list)" >&2
  exit 1
fi
