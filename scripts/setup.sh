#!/usr/bin/env bash
# Installs every tool Chorus needs to build, run and test, idempotently.
# Each step checks first and returns at once when its tool is already there,
# so the second run costs a few seconds.
#
#   scripts/setup.sh            build + run tools (Rust target, cargo-leptos,
#                               wasm-bindgen, npm packages)
#   scripts/setup.sh test       ... plus what the test suite needs (Chromium,
#                               Playwright driver)
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_LEPTOS_VERSION=0.3.11
# Must equal the wasm-bindgen version in Cargo.lock (cargo-leptos does not check).
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/[^0-9.]/,""); print; exit}' Cargo.lock 2>/dev/null || true)
WASM_BINDGEN_VERSION=${WASM_BINDGEN_VERSION:-0.2.130}

log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*" >&2; }

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# `cargo install --locked` of these two versions fails on rustc 1.95 because one
# locked dependency is too new (see shared NOTES); we install from the unpacked
# source with that one dependency pinned back.
install_from_source() {
  local krate=$1 version=$2 pin_pkg=$3 pin_version=$4 bin=$5
  local src
  src=$(ls -d "$HOME"/.cargo/registry/src/*/"$krate-$version" 2>/dev/null | head -n1 || true)
  if [ -z "$src" ]; then
    # Unpacks the source into the registry, then stops on the rust-version check.
    cargo install "$krate" --version "$version" --locked >/dev/null 2>&1 || true
    src=$(ls -d "$HOME"/.cargo/registry/src/*/"$krate-$version" | head -n1)
  fi
  local work="$HOME/.cache/chorus/tools/$krate-$version"
  rm -rf "$work"; mkdir -p "$(dirname "$work")"; cp -r "$src" "$work"
  (cd "$work" && cargo update -q -p "$pin_pkg" --precise "$pin_version" \
     && CARGO_TARGET_DIR="$HOME/.cache/chorus/tools-target" cargo install -q --path . --locked --force)
  command -v "$bin" >/dev/null
}

ensure_rust() {
  rustup target list --installed | grep -q wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
}

ensure_cargo_leptos() {
  if cargo leptos --version 2>/dev/null | grep -q "$CARGO_LEPTOS_VERSION"; then return 0; fi
  log "installing cargo-leptos $CARGO_LEPTOS_VERSION from source (one time, ~15 min)"
  install_from_source cargo-leptos "$CARGO_LEPTOS_VERSION" cargo-util-schemas 0.14.1 cargo-leptos
}

ensure_wasm_bindgen() {
  if wasm-bindgen --version 2>/dev/null | grep -q " $WASM_BINDGEN_VERSION\$"; then return 0; fi
  log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION from source (one time, ~5 min)"
  install_from_source wasm-bindgen-cli "$WASM_BINDGEN_VERSION" webpki-roots 1.0.10 wasm-bindgen
}

ensure_npm() {
  # Tailwind and binaryen's wasm-opt come from the root package.json; never Debian's
  # binaryen (wasm-opt 108 produces wasm that fails to hydrate).
  if [ ! -x node_modules/.bin/tailwindcss ] || [ ! -x node_modules/.bin/wasm-opt ] || [ package-lock.json -nt node_modules/.stamp ]; then
    log "npm install (tailwind, binaryen)"
    npm install --no-audit --no-fund --silent && touch node_modules/.stamp
  fi
}

# The official `openai` Python SDK (to test /v1 with a real client) and the
# official MCP SDK (a small MCP server for the tool tests). Pinned in
# end2end/requirements.txt; the venv lives outside the checkout.
ensure_python_sdk() {
  local venv="$HOME/.cache/chorus/pyenv" req=end2end/requirements.txt
  # The stamp holds the requirements' hash, not a time: a fresh clone's files
  # are all new, and the venv outlives it.
  local want; want=$(sha256sum "$req" | cut -d' ' -f1)
  if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.stamp" 2>/dev/null)" = "$want" ]; then return 0; fi
  python3 -m venv --help >/dev/null 2>&1 || apt_install python3-venv
  log "python venv with the openai and mcp SDKs ($venv)"
  rm -rf "$venv"
  python3 -m venv "$venv" || { apt_install python3-venv; python3 -m venv "$venv"; }
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
  echo "$want" > "$venv/.stamp"
}

ensure_test_tools() {
  apt_install chromium redis-server brotli python3
  ensure_python_sdk
  if [ ! -d end2end/node_modules/playwright-core ] || [ end2end/package-lock.json -nt end2end/node_modules/.stamp ]; then
    log "npm install in end2end (playwright-core)"
    (cd end2end && npm install --no-audit --no-fund --silent && touch node_modules/.stamp)
  fi
}

# cmake and libclang build llama.cpp (the local model); python3 fetches the model;
# libseccomp-dev gives the code sandbox its seccomp filter; debootstrap builds its rootfs.
apt_install build-essential pkg-config ca-certificates cmake libclang-dev python3 python3-venv \
  libseccomp-dev debootstrap
ensure_rust
ensure_cargo_leptos
ensure_wasm_bindgen
[ -f package.json ] && ensure_npm
if [ "${1:-}" = test ]; then ensure_test_tools; fi
log "tools ready"
