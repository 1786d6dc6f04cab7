#!/usr/bin/env bash
# The integration suite (tests/integration) against each server of scripts/servers.sh,
# once with the module loaded by default and once with FIXED and GCRA state in the
# compact form. Fails unless it ran on every server servers.sh names.
# Usage: scripts/integration.sh MODULE
set -euo pipefail
cd "$(dirname "$0")/.."
module=${1:?usage: scripts/integration.sh MODULE}

servers=$(scripts/servers.sh)
expected=$(echo "$servers" | wc -l)
ran=0
for server in $servers; do
  for load in "" "COMPACT-STATE yes"; do
    echo "== integration tests on $("$server" --version | cut -d' ' -f1-3)${load:+ (module loaded with $load)}"
    REDIS_SERVER=$server RATELIMIT_MODULE=$module RATELIMIT_LOAD_ARGS="$load" \
      cargo test --test integration
  done
  ran=$((ran + 1))
done
[ "$ran" -eq "$expected" ] && [ "$ran" -ge 5 ] \
  || { echo "integration tests ran on $ran servers, not the $expected of scripts/servers.sh" >&2; exit 1; }
