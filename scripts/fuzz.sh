#!/usr/bin/env bash
# Runs every fuzz target for a bounded time with cargo-fuzz (libFuzzer + AddressSanitizer,
# nightly toolchain), installing cargo-fuzz when missing.
# Usage: scripts/fuzz.sh SECONDS_PER_TARGET [TARGET ...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "Installing the nightly toolchain (cargo-fuzz needs it)"
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "Installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  # Every target in fuzz/fuzz_targets: a listing that fails, or finds fewer, is an
  # error, never a run of nothing.
  listed=$(cargo +nightly fuzz list)
  mapfile -t targets <<<"$listed"
  files=$(find fuzz/fuzz_targets -name '*.rs' | wc -l)
  if [ -z "$listed" ] || [ "${#targets[@]}" -ne "$files" ]; then
    echo "cargo fuzz list named ${#targets[@]} targets, fuzz/fuzz_targets has $files" >&2
    exit 1
  fi
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for target in "${targets[@]}"; do
  echo "== fuzz $target for ${seconds}s"
  mkdir -p "fuzz/corpus/$target"
  status=0
  # Hand-made seeds (fuzz/seeds/TARGET, committed) reach forms that random bytes
  # rarely do; new finds go to the first directory, the uncommitted corpus.
  seeds=()
  if [ -d "fuzz/seeds/$target" ]; then seeds=("fuzz/seeds/$target"); fi
  cargo +nightly fuzz run "$target" "fuzz/corpus/$target" "${seeds[@]}" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1 || status=$?
  grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units)' "$log" || true
  if [ "$status" -ne 0 ]; then
    tail -40 "$log" >&2
    echo "fuzz target $target failed; reproduce with:" >&2
    echo "  cargo +nightly fuzz run $target fuzz/artifacts/$target/<file>" >&2
    exit "$status"
  fi
done
