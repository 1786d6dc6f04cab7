#!/usr/bin/env bash
# Makes sure a Python virtual environment exists and holds the given packages, then
# prints its python. The environment is $VENV (default .venv); each argument is a
# requirements file (*.txt), or a requirement such as 'redis>=5,<6' or a wheel's path.
# Usage: [VENV=dir] scripts/python.sh [REQUIREMENTS_FILE | REQUIREMENT ...]
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${VENV:-.venv}
if [ ! -x "$venv/bin/pip" ]; then
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv" >&2
fi
requirements=()
for r in "$@"; do
  case $r in
    *.txt) requirements+=(-r "$r") ;;
    *) requirements+=("$r") ;;
  esac
done
if [ ${#requirements[@]} -gt 0 ]; then
  "$venv/bin/pip" install -q --disable-pip-version-check "${requirements[@]}" >&2
fi
echo "$(cd "$venv" && pwd)/bin/python"
