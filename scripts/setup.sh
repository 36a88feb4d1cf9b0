#!/usr/bin/env bash
# Create .venv (Python 3.11) and install Accord. `scripts/setup.sh test` also installs test tools.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PY="$candidate"; break
    fi
  done
fi
if [ -z "$PY" ]; then echo "Accord needs Python 3.11 (set PYTHON=/path/to/python3.11)" >&2; exit 1; fi
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $PY"
  "$PY" -m venv .venv
fi
EXTRAS=""
if [ "${1:-}" = "test" ]; then EXTRAS="[test]"; fi
STAMP=".venv/.installed${EXTRAS}"
if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
  echo "==> installing accord${EXTRAS} into .venv"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".${EXTRAS}"
  touch "$STAMP"
fi
