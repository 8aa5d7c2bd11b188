#!/bin/sh
# Make sure Graphviz ('dot', for tea-lsp graph --format svg/png and run reports) and Chromium
# (the browser the report tests drive with Playwright) are installed. Idempotent: does nothing
# when both are present; runs 'apt-get update' only when a package is missing. Debian/Ubuntu
# only; elsewhere it names what to install and exits 0 (the tests then skip with that reason).
set -eu

missing=""
command -v dot >/dev/null 2>&1 || missing="$missing graphviz"
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
    missing="$missing chromium"
fi
[ -z "$missing" ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-graphviz-chromium: please install:$missing (e.g. brew install graphviz chromium)" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "ensure-graphviz-chromium: not root and no sudo; please install:$missing" >&2
        exit 0
    fi
fi
# Another apt process may hold the lock (e.g. unattended upgrades): wait for it.
i=0
while [ "$i" -lt 120 ] && fuser /var/lib/dpkg/lock-frontend >/dev/null 2>&1; do
    sleep 1
    i=$((i + 1))
done
echo "ensure-graphviz-chromium: installing:$missing" >&2
$SUDO apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
