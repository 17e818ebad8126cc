#!/usr/bin/env bash
# A private PostgreSQL server with pgvector, for tests and for trying facesearch on PostgreSQL.
#
#   scripts/postgres.sh install            apt packages (PostgreSQL 15, its server headers, a compiler)
#                                          and pgvector built from Debian's source package; each step is
#                                          skipped when already done. Needs root.
#   scripts/postgres.sh start DIR [URLFILE] initdb DIR (first time only) and start a server on a free
#                                          127.0.0.1 port, its socket in DIR; prints the
#                                          postgresql+psycopg:// URL of database "facesearch" (and writes
#                                          it to URLFILE when given). Starting a running DIR prints its URL.
#   scripts/postgres.sh stop DIR           stops that server (nothing to do when it is not running).
#
# Debian 12 has PostgreSQL 15 but no pgvector package: its source package comes from the next
# release (trixie) through a deb-src line of its own, on the same mirror as the machine's sources.
# When run as root, the server runs as the "postgres" user (initdb refuses root).
set -euo pipefail

PG_MAJOR=${PG_MAJOR:-15}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/$PG_MAJOR/bin}
DB_NAME=${PG_DB_NAME:-facesearch}

log() { echo "postgres.sh: $*" >&2; }

as_owner() {
    # Runs a command as the user who owns the cluster: postgres when we are root, else ourselves.
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

debian_mirror() {
    # The first deb.debian.org-style URI of the machine's Debian sources (deb822 or one-line form).
    local uri=""
    if compgen -G "/etc/apt/sources.list.d/*.sources" >/dev/null; then
        uri=$(grep -h -E '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' \
            | grep -v -- '-security' | grep -i debian | head -n1 || true)
    fi
    if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
        uri=$(grep -E '^deb ' /etc/apt/sources.list | awk '{print $2}' | grep -v -- '-security' | head -n1 || true)
    fi
    echo "${uri:-http://deb.debian.org/debian}"
}

have_pgvector() {
    [ -f "$("$PG_BIN/pg_config" --sharedir 2>/dev/null || echo /nonexistent)/extension/vector.control" ] \
        || [ -f "/usr/share/postgresql/$PG_MAJOR/extension/vector.control" ]
}

cmd_install() {
    if [ "$(id -u)" -ne 0 ]; then
        log "install needs root (apt-get, make install)"
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    local need=()
    [ -x "$PG_BIN/postgres" ] || need+=("postgresql-$PG_MAJOR")
    dpkg -s "postgresql-server-dev-$PG_MAJOR" >/dev/null 2>&1 || need+=("postgresql-server-dev-$PG_MAJOR")
    dpkg -s build-essential >/dev/null 2>&1 || need+=(build-essential)
    dpkg -s dpkg-dev >/dev/null 2>&1 || need+=(dpkg-dev)
    if [ "${#need[@]}" -gt 0 ]; then
        log "apt-get install ${need[*]}"
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    fi
    # Debian's own cluster (15/main, port 5432), which the package may create and start, is not used:
    # every server this script starts is a private one.
    if have_pgvector; then
        log "pgvector already installed"
        return
    fi
    local src_list=/etc/apt/sources.list.d/facesearch-trixie-src.list
    if [ ! -f "$src_list" ]; then
        echo "deb-src $(debian_mirror) trixie main" >"$src_list"
        apt-get update -qq
    fi
    local build
    build=$(mktemp -d)
    chmod 0755 "$build"  # apt-get source downloads as the _apt user
    (
        cd "$build"
        # Only the source is fetched (no build-dependency resolution against trixie).
        apt-get source -qq pgvector >/dev/null
        cd "$(find . -maxdepth 1 -type d -name 'pgvector-*' | head -n1)"
        make -s PG_CONFIG="$PG_BIN/pg_config" OPTFLAGS="" >/dev/null
        make -s PG_CONFIG="$PG_BIN/pg_config" install >/dev/null
    )
    rm -rf "$build"
    have_pgvector || { log "pgvector did not install"; exit 1; }
    log "pgvector installed"
}

free_port() {
    python3 "$(dirname "$0")/free_port.py"
}

url_of() {
    local dir=$1 port
    port=$(head -n 4 "$dir/postmaster.pid" | tail -n 1)
    echo "postgresql+psycopg://postgres@127.0.0.1:$port/$DB_NAME"
}

cmd_start() {
    local dir=${1:?usage: postgres.sh start DIR [URLFILE]} urlfile=${2:-}
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres: "$dir"
    fi
    if [ ! -f "$dir/PG_VERSION" ]; then
        # A throwaway cluster for tests: trust authentication (it listens on 127.0.0.1 only and its
        # socket is inside DIR, mode 0700) and no fsync (a crash may lose it; nothing there is kept).
        as_owner "$PG_BIN/initdb" -D "$dir" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$dir/../$(basename "$dir").initdb.log" 2>&1 \
            || { cat "$dir/../$(basename "$dir").initdb.log" >&2; exit 1; }
    fi
    if ! as_owner "$PG_BIN/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
        local port tries=0
        until
            port=$(free_port)
            as_owner "$PG_BIN/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
                -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
                start >/dev/null
        do
            tries=$((tries + 1))
            [ "$tries" -lt 3 ] || { tail -n 20 "$dir/server.log" >&2; exit 1; }
        done
        local psql=(env PGOPTIONS="-c client_min_messages=warning" "$PG_BIN/psql" -h "$dir" -p "$port" -U postgres -v ON_ERROR_STOP=1 -qAt)
        if [ "$(as_owner "${psql[@]}" -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")" != 1 ]; then
            as_owner "${psql[@]}" -d postgres -c "CREATE DATABASE $DB_NAME"
        fi
        if have_pgvector; then
            as_owner "${psql[@]}" -d "$DB_NAME" -c "CREATE EXTENSION IF NOT EXISTS vector"
        else
            log "pgvector is not installed: the vector extension is missing (run: scripts/postgres.sh install)"
        fi
    fi
    local url
    url=$(url_of "$dir")
    if [ -n "$urlfile" ]; then
        echo "$url" >"$urlfile"
    fi
    echo "$url"
}

cmd_stop() {
    local dir=${1:?usage: postgres.sh stop DIR}
    if [ -f "$dir/PG_VERSION" ] && as_owner "$PG_BIN/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
        as_owner "$PG_BIN/pg_ctl" -D "$dir" -m fast -w stop >/dev/null
    fi
}

case "${1:-}" in
    install) cmd_install ;;
    start) shift; cmd_start "$@" ;;
    stop) shift; cmd_stop "$@" ;;
    *) echo "usage: $0 install | start DIR [URLFILE] | stop DIR" >&2; exit 2 ;;
esac
