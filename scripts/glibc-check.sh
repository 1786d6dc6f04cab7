#!/usr/bin/env bash
# Fails unless the shared library needs no glibc symbol version newer than the one
# given, read from its dynamic symbol table (the versions the loader checks).
# Usage: scripts/glibc-check.sh LIBRARY 2.17
set -euo pipefail
library=${1:?usage: scripts/glibc-check.sh LIBRARY MAX_GLIBC}
max=${2:?usage: scripts/glibc-check.sh LIBRARY MAX_GLIBC}
versions=$(objdump -T "$library" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -Vu)
[ -n "$versions" ] || { echo "$library: no glibc symbol versions found" >&2; exit 1; }
newest=$(echo "$versions" | tail -1)
if [ "$(printf '%s\n%s\n' "$newest" "$max" | sort -V | tail -1)" != "$max" ]; then
  echo "$library needs GLIBC_$newest, newer than $max:" >&2
  objdump -T "$library" | grep "GLIBC_$newest" >&2
  exit 1
fi
echo "$(basename "$library"): newest glibc symbol GLIBC_$newest (at most $max)"
