#!/usr/bin/env bash
# Installs code-server (VS Code for the browser) for the end-to-end tests into
# .vscode-test/code-server/, outside the extension's own dependencies.
# Idempotent: does nothing when the pinned version is already there.
#   CODE_SERVER_VERSION   version to install (default 4.100.3 = VS Code 1.100, the last line on Node 20)
#   CODE_SERVER_DIR       install folder (default <repo>/.vscode-test/code-server)
set -euo pipefail

VERSION="${CODE_SERVER_VERSION:-4.100.3}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DIR="${CODE_SERVER_DIR:-$ROOT/.vscode-test/code-server}"
BIN="$DIR/node_modules/.bin/code-server"

log() { echo "[install-code-server] $*"; }

# --- system packages (only the missing ones) -------------------------------------------------
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v rg >/dev/null 2>&1 || missing+=(ripgrep)
dpkg -s libkrb5-dev >/dev/null 2>&1 || missing+=(libkrb5-dev)
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  log "apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- code-server itself ----------------------------------------------------------------------
installed=""
if [ -f "$DIR/node_modules/code-server/package.json" ] && [ -x "$BIN" ]; then
  installed="$(node -p "require('$DIR/node_modules/code-server/package.json').version" 2>/dev/null || true)"
fi
if [ "$installed" = "$VERSION" ]; then
  log "code-server $VERSION already installed in $DIR"
  exit 0
fi

log "installing code-server@$VERSION into $DIR (about a minute)"
mkdir -p "$DIR"
# Its own package.json, so npm does not walk up into the extension's.
if [ ! -f "$DIR/package.json" ]; then
  echo '{ "name": "lora-lens-e2e-code-server", "private": true, "description": "code-server for LoRA Lens end-to-end tests (not shipped)" }' > "$DIR/package.json"
fi

# @vscode/ripgrep downloads rg from GitHub, which is unreachable: seed its cache with Debian's rg.
tmp="$(node -p "require('os').tmpdir()")"
cache="$tmp/vscode-ripgrep-cache-1.15.11"
if [ ! -f "$cache/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" ]; then
  mkdir -p "$cache/x"
  cp "$(command -v rg)" "$cache/x/rg"
  tar czf "$cache/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" -C "$cache/x" rg
fi

# npm_config_yes: node-pty's postinstall runs `npx node-gyp`; unsafe_perm: needed as root.
(
  cd "$DIR"
  npm_config_yes=true npm_config_unsafe_perm=true \
    npm install --no-audit --no-fund --no-save --loglevel=error "code-server@$VERSION"
)
[ -x "$BIN" ] || { log "code-server binary missing after install: $BIN"; exit 1; }
log "installed: code-server $(node -p "require('$DIR/node_modules/code-server/package.json').version")"
