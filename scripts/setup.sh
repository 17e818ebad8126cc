#!/usr/bin/env bash
# Creates .venv (if missing) and installs facesearch with its development extras into it, at the
# versions pinned in constraints.txt (the ones the tests last passed with; scripts/constraints.py).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# dlib-bin and a source-built dlib install the same module: keep only the wheel (see pyproject.toml)
if .venv/bin/python -m pip show --quiet dlib 2>/dev/null; then
    .venv/bin/python -m pip uninstall --quiet --yes dlib
fi
.venv/bin/python -m pip install --quiet -c constraints.txt -e '.[dev]'
