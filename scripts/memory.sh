#!/usr/bin/env bash
# Bytes per key for each algorithm against keys made by INCR + EXPIRE, measured as the
# used_memory delta over N keys (two calls per key), on a redis-server of its own.
# Usage: scripts/memory.sh [N]   (default 100000; needs the release build)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
module=$PWD/target/release/libredis_ratelimit.so
[ -f "$module" ] || { echo "build the module first: make build" >&2; exit 1; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
dir=$(mktemp -d)
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
  --loadmodule "$module" --daemonize yes --logfile "$dir/log" --pidfile "$dir/pid"
trap 'redis-cli -p $port shutdown nosave >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done

cli() { redis-cli -p "$port" "$@"; }
used() { cli info memory | awk -F: '/^used_memory:/ {print $2+0}'; }

# Runs the Lua body once per key (k is the key) and prints the bytes per key.
per_key() {
  cli flushall >/dev/null
  local before after
  before=$(used)
  cli eval "for i = 1, $n do local k = 'rl:bench:' .. string.format('%09d', i) $1 end return 0" 0 >/dev/null
  after=$(used)
  echo $(( (after - before) / n ))
}

check() { echo "redis.call('RATELIMIT.CHECK', k, 10, 60, 'ALGORITHM', '$1') redis.call('RATELIMIT.CHECK', k, 10, 60, 'ALGORITHM', '$1')"; }

base=$(per_key "redis.call('INCR', k) redis.call('EXPIRE', k, 60) redis.call('INCR', k)")
printf '%-28s %8s %8s\n' "keys ($n, two calls each)" "bytes" "ratio"
printf '%-28s %8d %8s\n' "INCR + EXPIRE" "$base" "1.00x"
for alg in FIXED SLIDING GCRA LOG; do
  b=$(per_key "$(check $alg)")
  printf '%-28s %8d %7.2fx\n' "RATELIMIT.CHECK $alg" "$b" "$(awk "BEGIN {print $b / $base}")"
done
# LOG grows with the entries it keeps: 40 more entries per key, per entry.
two=$(per_key "$(check LOG)")
many=$(per_key "redis.call('RATELIMIT.CHECK', k, 100, 60, 'ALGORITHM', 'LOG', 'COST', 42)")
printf '%-28s %8d\n' "LOG, per extra entry" "$(( (many - two) / 40 ))"
