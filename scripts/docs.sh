#!/usr/bin/env bash
# Builds the documentation site (mkdocs.yml, docs/) with every warning an error: a broken link or
# anchor, or a page left out of the navigation, fails the build. Quick (seconds) and independent of
# the models, so scripts/test.sh (and CI through it) runs it before the test suite.
# Extra arguments go to mkdocs build (for example: scripts/docs.sh --site-dir /tmp/site).
set -euo pipefail
cd "$(dirname "$0")/.."
export NO_MKDOCS_2_WARNING=1   # mkdocs-material's end-of-life banner: news, not a problem with these pages
.venv/bin/mkdocs build --strict --quiet "$@"
