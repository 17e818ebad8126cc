#!/usr/bin/env bash
# Sets up facesearch and runs the main job on sample photos: add users with roles, set the
# gallery's rules (retention, allowed purposes), enroll two people, search a probe photo (1:N),
# nominate the best candidate and have two verifiers confirm it, export the case, compare two
# photos (1:1), check the audit trail and write the transparency report. Uses a fresh demo gallery in
# .fs-demo/ (ignored by git) unless FACESEARCH_HOME is set, its templates sealed under a master key in
# .fs-demo/master.key unless FACESEARCH_MASTER_KEY or FACESEARCH_MASTER_KEY_FILE is set.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export FACESEARCH_HOME=${FACESEARCH_HOME:-$PWD/.fs-demo/home}
# The demo's own master key, so it never creates one in your config folder (unless you give one)
if [ -z "${FACESEARCH_MASTER_KEY:-}" ]; then
    export FACESEARCH_MASTER_KEY_FILE=${FACESEARCH_MASTER_KEY_FILE:-$PWD/.fs-demo/master.key}
fi
photos=$PWD/.fs-demo/photos
rm -rf "$FACESEARCH_HOME"
.venv/bin/python scripts/sample_photos.py "$photos"
fs() { echo "+ facesearch $*" >&2; .venv/bin/facesearch "$@"; }
fs init                                     # whoever runs init administers the gallery
fs users add demo-enroller --role enroller  # each task is done by a user whose role allows it
fs users add demo-operator --role operator
fs users add demo-auditor --role auditor
fs users add demo-verifier-1 --role verifier
fs users add demo-verifier-2 --role verifier
fs retention set --days 365                 # no enrollment before the gallery has a retention period
fs purposes add "quickstart demonstration"  # searches must serve a purpose the gallery allows
fs --actor demo-enroller enroll "$photos/astronaut.jpg" --subject "Eileen Collins" \
    --source "scikit-image sample photo (NASA)" --basis consent
fs --actor demo-enroller enroll "$photos/hopper.jpg" --subject "Grace Hopper" \
    --source "matplotlib sample photo (US Navy)" --basis public-task
fs --actor demo-operator identify "$photos/probe.jpg" --purpose "quickstart demonstration" --case DEMO-1
search=$(.venv/bin/facesearch --actor demo-auditor audit show --action search.identify --json \
    | .venv/bin/python -c 'import json, sys; print(json.load(sys.stdin)[-1]["seq"])')
fs --actor demo-operator nominate "$search" "Eileen Collins"   # a candidate put forward, not yet actionable
fs --actor demo-verifier-1 queue
fs --actor demo-verifier-1 confirm 1 --note "same face shape and hairline"
fs --actor demo-verifier-2 confirm 1       # decided blind: the second verifier never saw the first's decision
fs --actor demo-operator export DEMO-1 --out "$PWD/.fs-demo/DEMO-1.json"
fs --actor demo-operator verify "$photos/probe.jpg" "$photos/astronaut.jpg" \
    --purpose "quickstart demonstration" --case DEMO-1
fs --actor demo-auditor audit verify
today=$(date -u +%F)
fs --actor demo-auditor report --from "$today" --to "$today" --out "$PWD/.fs-demo/transparency"
key_env="FACESEARCH_MASTER_KEY_FILE=${FACESEARCH_MASTER_KEY_FILE:-}"
[ -n "${FACESEARCH_MASTER_KEY:-}" ] && key_env="FACESEARCH_MASTER_KEY=..."
cat <<EOT

The same gallery through the service (the REST API under /api/ and the web UI): issue a token for
a user, serve the gallery, and sign in at http://127.0.0.1:8000/ with the token:
  export FACESEARCH_HOME=$FACESEARCH_HOME $key_env
  .venv/bin/facesearch tokens issue demo-operator
  .venv/bin/facesearch serve
EOT
