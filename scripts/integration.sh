#!/usr/bin/env bash
# The integration suite (tests/integration) against each server of scripts/servers.sh
# (through scripts/each-server.sh, which fails unless it ran on all of them), once with
# the module loaded by default and once with FIXED and GCRA state in the compact form.
# Usage: scripts/integration.sh MODULE
set -euo pipefail
cd "$(dirname "$0")/.."
module=${1:?usage: scripts/integration.sh MODULE}
if [ -z "${REDIS_SERVER:-}" ]; then
  exec scripts/each-server.sh "$0" "$module"
fi
for load in "" "COMPACT-STATE yes"; do
  echo "== integration tests on $("$REDIS_SERVER" --version | cut -d' ' -f1-3)${load:+ (module loaded with $load)}"
  RATELIMIT_MODULE=$module RATELIMIT_LOAD_ARGS="$load" cargo test --test integration
done
