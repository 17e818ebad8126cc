#!/usr/bin/env bash
# Sets up facesearch and runs the main job on sample photos: make a gallery (you become its admin),
# add users with roles, give each a one-time activation code that they exchange for their own token,
# set the gallery's rules (retention, allowed purposes), enroll two people, search a probe photo
# (1:N), nominate the best candidate and have two verifiers confirm it, export the case, compare two
# photos (1:1), check the audit trail and write the transparency report. Every command runs as one
# user, with that user's own token from their own credentials file: here all the users are you, so
# their files sit side by side in .fs-demo/credentials/; in real use each person keeps theirs in
# their own config folder. Uses a fresh demo gallery in .fs-demo/ (ignored by git) unless
# FACESEARCH_HOME is set, its templates sealed under a master key in .fs-demo/master.key unless
# FACESEARCH_MASTER_KEY or FACESEARCH_MASTER_KEY_FILE is set.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export FACESEARCH_HOME=${FACESEARCH_HOME:-$PWD/.fs-demo/home}
# The demo's own master key, so it never creates one in your config folder (unless you give one)
if [ -z "${FACESEARCH_MASTER_KEY:-}" ]; then
    export FACESEARCH_MASTER_KEY_FILE=${FACESEARCH_MASTER_KEY_FILE:-$PWD/.fs-demo/master.key}
fi
photos=$PWD/.fs-demo/photos
creds=$PWD/.fs-demo/credentials
rm -rf "$FACESEARCH_HOME" "$creds"
unset FACESEARCH_TOKEN
.venv/bin/python scripts/sample_photos.py "$photos"
# run_as USER COMMAND...: run facesearch as USER, with USER's own token (their credentials file, mode 0600)
run_as() { local user=$1; shift; echo "+ [$user] facesearch $*" >&2; FACESEARCH_CREDENTIALS="$creds/$user.toml" .venv/bin/facesearch "$@"; }
run_as demo-admin --actor demo-admin init    # you make the gallery and become its admin; your token goes into your file
run_as demo-admin users add demo-enroller --role enroller   # each task is done by a user whose role allows it
run_as demo-admin users add demo-operator --role operator
run_as demo-admin users add demo-auditor --role auditor
run_as demo-admin users add demo-verifier-1 --role verifier
run_as demo-admin users add demo-verifier-2 --role verifier
for user in demo-enroller demo-operator demo-auditor demo-verifier-1 demo-verifier-2; do
    code=$(run_as demo-admin users invite "$user" | tail -n 1)   # the admin sees a one-time code, never a token
    run_as "$user" activate "$code"    # the user exchanges it for their own token, which only they see
done
run_as demo-admin retention set --days 365    # no enrollment before the gallery has a retention period
run_as demo-admin purposes add "quickstart demonstration"   # searches must serve a purpose the gallery allows
run_as demo-enroller enroll "$photos/astronaut.jpg" --subject "Eileen Collins" \
    --source "scikit-image sample photo (NASA)" --basis consent
run_as demo-enroller enroll "$photos/hopper.jpg" --subject "Grace Hopper" \
    --source "matplotlib sample photo (US Navy)" --basis public-task
run_as demo-operator identify "$photos/probe.jpg" --purpose "quickstart demonstration" --case DEMO-1
search=$(run_as demo-auditor audit show --action search.identify --json \
    | .venv/bin/python -c 'import json, sys; print(json.load(sys.stdin)[-1]["seq"])')
run_as demo-operator nominate "$search" "Eileen Collins"   # a candidate put forward, not yet actionable
run_as demo-verifier-1 queue
run_as demo-verifier-1 confirm 1 --note "same face shape and hairline"
run_as demo-verifier-2 confirm 1    # decided blind, with verifier 2's own token: verifier 1 cannot act for them
run_as demo-operator export DEMO-1 --out "$PWD/.fs-demo/DEMO-1.json"
run_as demo-operator verify "$photos/probe.jpg" "$photos/astronaut.jpg" \
    --purpose "quickstart demonstration" --case DEMO-1
run_as demo-auditor audit verify
today=$(date -u +%F)
run_as demo-auditor report --from "$today" --to "$today" --out "$PWD/.fs-demo/transparency"
key_env="FACESEARCH_MASTER_KEY_FILE=${FACESEARCH_MASTER_KEY_FILE:-}"
[ -n "${FACESEARCH_MASTER_KEY:-}" ] && key_env="FACESEARCH_MASTER_KEY=..."
cat <<EOT

The same gallery through the service (the REST API under /api/ and the web UI): serve it, then sign
in at http://127.0.0.1:8000/login with a user's own token (demo-operator's is the "token" line of
$creds/demo-operator.toml), or have the admin invite a user and activate their account at
http://127.0.0.1:8000/activate with the code:
  export FACESEARCH_HOME=$FACESEARCH_HOME $key_env
  .venv/bin/facesearch serve
  FACESEARCH_CREDENTIALS=$creds/demo-admin.toml .venv/bin/facesearch users invite demo-auditor
EOT
