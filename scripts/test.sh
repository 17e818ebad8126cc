#!/usr/bin/env bash
# Sets up the environment if needed, then runs the linters, the layer rules (import-linter's
# contracts in pyproject.toml), the type checker, the documentation site's strict build and the whole
# test suite. Extra arguments go to pytest (for example: scripts/test.sh -m "not model").
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/ruff check src tests bench scripts
.venv/bin/lint-imports --no-cache
.venv/bin/mypy
scripts/docs.sh --site-dir "$(mktemp -d)"   # seconds; a broken link or anchor in docs/ fails CI here
# With FACESEARCH_REQUIRE_MILVUS=1 (CI) the tests run in a private network namespace with only the
# loopback interface (scripts/milvus.sh isolated): the Milvus server they start binds every interface.
isolate=()
if [ "${FACESEARCH_REQUIRE_MILVUS:-}" = 1 ]; then
    isolate=(scripts/milvus.sh isolated)
fi
set +e
"${isolate[@]}" .venv/bin/python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests (exit 5): nothing was checked" >&2
fi
exit "$status"
