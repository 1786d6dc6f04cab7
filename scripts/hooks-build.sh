#!/usr/bin/env bash
# Builds the module with its test hooks (--features test-hooks: RATELIMIT.CRASHTEST
# and RATELIMIT.TESTCLOCK; debug, never released) and prints its path. Built in the
# workspace's target folder, so it shares every dependency with the other debug
# builds, then copied to target/hooks/: the next debug build of the crate would
# replace target/debug/libredis_ratelimit.so.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --lib --features test-hooks >&2
mkdir -p target/hooks
cp target/debug/libredis_ratelimit.so target/hooks/libredis_ratelimit.so
echo "$PWD/target/hooks/libredis_ratelimit.so"
