#!/usr/bin/env bash
# Makes sure the project's Python virtual environment (.venv) exists and holds the
# packages of the given requirements files, then prints its python.
# Usage: scripts/python.sh [REQUIREMENTS_FILE ...]
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
if [ ! -x "$venv/bin/pip" ]; then
  python3 -m venv "$venv" >&2
fi
for requirements in "$@"; do
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements" >&2
done
echo "$PWD/$venv/bin/python"
