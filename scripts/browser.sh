#!/usr/bin/env bash
# Debian's Chromium and axe-core, for the web UI's browser tests (Playwright drives Chromium; it cannot
# download its own; axe-core checks each page's accessibility).
#
#   scripts/browser.sh install   apt-get install chromium (skipped when /usr/bin/chromium exists; needs root),
#                                then npm install axe-core into ~/.cache/facesearch/axe (outside the repository;
#                                the tests look there, or at $FACESEARCH_AXE). Needs npm (apt-get install npm).
set -euo pipefail

AXE_VERSION="4"  # the 4.x line (4.14 when this was written): its rules and impact levels are what the tests hold pages to
AXE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/facesearch/axe"

install_axe() {
    if [ -f "$AXE_DIR/node_modules/axe-core/axe.min.js" ]; then
        echo "browser.sh: axe-core already in $AXE_DIR" >&2
        return
    fi
    if ! command -v npm >/dev/null; then
        if [ "$(id -u)" -eq 0 ]; then
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null
        else
            echo "browser.sh: axe-core needs npm (apt-get install npm)" >&2
            exit 1
        fi
    fi
    mkdir -p "$AXE_DIR"
    npm install --prefix "$AXE_DIR" --no-audit --no-fund --silent "axe-core@$AXE_VERSION"
    echo "browser.sh: installed axe-core in $AXE_DIR" >&2
}

case "${1:-}" in
install)
    if [ -x /usr/bin/chromium ]; then
        echo "browser.sh: chromium already installed: $(/usr/bin/chromium --version 2>/dev/null || true)" >&2
        install_axe
        exit 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "browser.sh: install needs root (apt-get)" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
    echo "browser.sh: installed $(/usr/bin/chromium --version 2>/dev/null || true)" >&2
    install_axe
    ;;
*)
    echo "usage: scripts/browser.sh install" >&2
    exit 2
    ;;
esac
