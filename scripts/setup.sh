#!/usr/bin/env bash
# Creates .venv (if missing) and installs facesearch with its development extras into it.
#
# dlib is built from source (once: pip's wheel cache serves later installs). Built against
# OpenBLAS its face network runs about 6x faster than the prebuilt dlib-bin wheel's, so when
# OpenBLAS's headers are missing and this runs as root on Debian, they are installed first.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if ! dpkg -s libopenblas-dev >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing OpenBLAS and CMake (Debian packages) so that dlib builds against a BLAS" >&2
        apt-get install -y -qq libopenblas-dev liblapack-dev cmake >/dev/null \
            || { apt-get update -qq && apt-get install -y -qq libopenblas-dev liblapack-dev cmake >/dev/null; }
    else
        echo "note: libopenblas-dev is not installed; dlib will build without a BLAS (slower embeddings)" >&2
    fi
fi
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
if .venv/bin/python -m pip show --quiet dlib-bin 2>/dev/null; then
    .venv/bin/python -m pip uninstall --quiet --yes dlib-bin  # the same module as dlib, built without a BLAS
fi
if ! .venv/bin/python -c "import dlib" 2>/dev/null; then
    echo "building dlib from source (15-40 minutes the first time on 2 cores; cached afterwards)" >&2
fi
.venv/bin/python -m pip install --quiet -e '.[dev]'
