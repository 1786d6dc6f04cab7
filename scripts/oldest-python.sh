#!/usr/bin/env bash
# Prints the oldest Python the package supports (3.9) where the machine has one: a
# python3.9 on the PATH, else pyenv's build. Prints nothing when there is none.
set -euo pipefail
if python3.9 -c '' 2>/dev/null; then
  command -v python3.9
  exit 0
fi
for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.9*/bin/python; do
  if [ -x "$candidate" ]; then
    echo "$candidate"
    exit 0
  fi
done
