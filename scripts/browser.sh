#!/usr/bin/env bash
# Debian's Chromium, for the web UI's browser tests (Playwright drives it; it cannot download its own).
#
#   scripts/browser.sh install   apt-get install chromium (skipped when /usr/bin/chromium exists). Needs root.
set -euo pipefail

case "${1:-}" in
install)
    if [ -x /usr/bin/chromium ]; then
        echo "browser.sh: chromium already installed: $(/usr/bin/chromium --version 2>/dev/null || true)" >&2
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
    ;;
*)
    echo "usage: scripts/browser.sh install" >&2
    exit 2
    ;;
esac
