#!/usr/bin/env bash
# A private Milvus server (standalone, from the PyPI wheel "milvus"), for tests and for trying the
# milvus index backend on one machine. A Milvus cluster is deployed by its own tools (Helm, the
# operator); facesearch's client code is the same for both (docs/scale-out.md, Milvus).
#
#   scripts/milvus.sh install               a virtual environment of its own holding the server wheel
#                                           ($FACESEARCH_MILVUS_VENV, default ~/.cache/facesearch/milvus-venv),
#                                           not a facesearch dependency; skipped when already there.
#   scripts/milvus.sh isolated CMD [ARG...] runs CMD in a private network namespace with only the loopback
#                                           interface, up (needs root, or unprivileged user namespaces).
#   scripts/milvus.sh start DIR [URLFILE]   starts a server whose files (data, write-ahead log, logs) are in
#                                           DIR, its gRPC port a free one; prints its http://127.0.0.1:PORT
#                                           address (and writes it to URLFILE when given). Starting a
#                                           running DIR prints its address.
#   scripts/milvus.sh stop DIR              stops that server (nothing to do when it is not running).
#   scripts/milvus.sh settings [KEY=VALUE...] checks milvus.yaml settings (default: $FACESEARCH_MILVUS_CONFIG)
#                                           against the installed server's; exit 1 naming each it would ignore.
#
# $FACESEARCH_MILVUS_CONFIG: settings of milvus.yaml for 'start', "KEY=VALUE ..." (for example
# "dataCoord.gc.interval=10 dataCoord.gc.dropTolerance=10": docs/scale-out.md, Milvus: erasure). A KEY
# that its milvus.yaml lacks is refused (scripts/milvus_settings.py): the server would ignore it.
#
# The server binds its ports on every interface (etcd, its coordinators, the proxy), and cannot be told
# otherwise. So 'start' refuses to run outside a network namespace whose only interface is lo: run it,
# and whatever talks to it, under 'isolated' (CI runs the whole test suite that way, see .ci/run).
set -euo pipefail

MILVUS_VERSION=2.3.5  # the release whose wheel starts here (2.3.x: the same client API as a 2.3 cluster)
VENV=${FACESEARCH_MILVUS_VENV:-$HOME/.cache/facesearch/milvus-venv}
START_TIMEOUT_S=${FACESEARCH_MILVUS_START_TIMEOUT_S:-180}

log() { echo "milvus.sh: $*" >&2; }

installed() {
    [ -x "$VENV/bin/milvus-server" ] \
        && [ "$("$VENV/bin/python" -c 'import milvus; print(milvus.__version__)' 2>/dev/null)" = "$MILVUS_VERSION" ]
}

cmd_install() {
    if ! command -v ip >/dev/null 2>&1 || ! command -v unshare >/dev/null 2>&1; then
        if [ "$(id -u)" -ne 0 ]; then
            log "'ip' (iproute2) and 'unshare' (util-linux) are needed: install them as root"
            exit 1
        fi
        log "apt-get install iproute2 util-linux"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends iproute2 util-linux >/dev/null
    fi
    if installed; then
        log "milvus $MILVUS_VERSION already installed in $VENV"
        return
    fi
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    # setuptools < 81: the wrapper imports pkg_resources
    "$VENV/bin/pip" install -q --disable-pip-version-check "milvus==$MILVUS_VERSION" "setuptools<81"
    installed || { log "milvus did not install in $VENV"; exit 1; }
    log "milvus $MILVUS_VERSION installed in $VENV"
}

only_loopback() {
    # /proc/net/dev lists the interfaces of this process's network namespace (/sys/class/net may not).
    [ "$(awk -F: 'NR > 2 { gsub(/ /, "", $1); print $1 }' /proc/net/dev | grep -vx lo | wc -l)" -eq 0 ]
}

cmd_isolated() {
    [ "$#" -gt 0 ] || { echo "usage: $0 isolated CMD [ARG...]" >&2; exit 2; }
    if only_loopback; then
        ip link set lo up 2>/dev/null || true
        exec "$@"
    fi
    local as_root=()
    [ "$(id -u)" -eq 0 ] || as_root=(--map-root-user)
    exec unshare "${as_root[@]}" --net -- sh -c 'ip link set lo up && exec "$@"' sh "$@"
}

free_port() {
    python3 "$(dirname "$0")/free_port.py"
}

running() {
    local dir=$1
    [ -f "$dir/milvus.pid" ] && kill -0 "$(cat "$dir/milvus.pid")" 2>/dev/null
}

cmd_settings() {
    installed || { log "milvus is not installed (run: scripts/milvus.sh install)"; exit 1; }
    # The server drops a setting whose key its milvus.yaml lacks, silently: refuse it here instead.
    if [ "$#" -eq 0 ]; then
        # KEY=VALUE settings, split on spaces as cmd_start passes them to the server
        set -- ${FACESEARCH_MILVUS_CONFIG:-}
    fi
    "$VENV/bin/python" "$(dirname "$0")/milvus_settings.py" "$@" || exit 1
}

cmd_start() {
    local dir=${1:?usage: milvus.sh start DIR [URLFILE]} urlfile=${2:-}
    cmd_settings
    if ! only_loopback; then
        log "this network namespace has interfaces besides lo, and Milvus binds every interface:" \
            "run under 'scripts/milvus.sh isolated ...'"
        exit 1
    fi
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if ! running "$dir"; then
        ip link set lo up 2>/dev/null || true
        local port
        port=$(free_port)
        echo "$port" >"$dir/milvus.port"
        # setsid: the server and its wrapper form a process group of their own, which 'stop' ends.
        local extra=() setting
        for setting in ${FACESEARCH_MILVUS_CONFIG:-}; do
            extra+=(--extra-config "$setting")
        done
        setsid "$VENV/bin/milvus-server" --data "$dir" --proxy-port "$port" "${extra[@]}" \
            >"$dir/server.out" 2>&1 </dev/null &
        echo $! >"$dir/milvus.pid"
        local waited=0
        # The wrapper prints its banner once the server's health check answers OK.
        until grep -q "Welcome to use Milvus" "$dir/server.out" 2>/dev/null; do
            if ! running "$dir" || [ "$waited" -ge "$START_TIMEOUT_S" ]; then
                log "the server did not start in ${waited}s:"
                tail -n 20 "$dir/server.out" "$dir/logs/milvus-stderr.log" >&2 2>/dev/null || true
                cmd_stop "$dir"
                exit 1
            fi
            sleep 1
            waited=$((waited + 1))
        done
    fi
    local url
    url="http://127.0.0.1:$(cat "$dir/milvus.port")"
    if [ -n "$urlfile" ]; then
        echo "$url" >"$urlfile"
    fi
    echo "$url"
}

cmd_stop() {
    local dir=${1:?usage: milvus.sh stop DIR} pid waited=0
    running "$dir" || { rm -f "$dir/milvus.pid"; return 0; }
    pid=$(cat "$dir/milvus.pid")
    kill -TERM -- "-$pid" 2>/dev/null || true
    while kill -0 -- "-$pid" 2>/dev/null && [ "$waited" -lt 30 ]; do
        sleep 1
        waited=$((waited + 1))
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$dir/milvus.pid"
}

case "${1:-}" in
    install) cmd_install ;;
    isolated) shift; cmd_isolated "$@" ;;
    start) shift; cmd_start "$@" ;;
    stop) shift; cmd_stop "$@" ;;
    settings) shift; cmd_settings "$@" ;;
    *) echo "usage: $0 install | isolated CMD [ARG...] | start DIR [URLFILE] | stop DIR | settings [KEY=VALUE...]" >&2; exit 2 ;;
esac
