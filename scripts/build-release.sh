#!/usr/bin/env bash
# Builds the release binary (site embedded) unless nothing changed since the last
# successful build. cargo-leptos always rewrites the site files, which makes the
# server crate (it embeds them) recompile and relink: minutes for no change.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${CARGO_TARGET_DIR:-$HOME/.cache/chorus/target}
BIN=$TARGET/release/chorus
STAMP=$TARGET/release/.chorus-source-hash

# What goes into the binary: manifests, Rust sources, styles, static files.
INPUTS=(Cargo.toml Cargo.lock package.json package-lock.json app frontend server crates style public)

source_hash() {
  # Content of every tracked or new (not ignored) input file, plus the toolchain.
  { git ls-files -z -co --exclude-standard -- "${INPUTS[@]}" | sort -z | xargs -0 sha256sum; rustc -V; } |
    sha256sum | cut -d' ' -f1
}

hash=""
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then hash=$(source_hash); fi
if [ -n "$hash" ] && [ -x "$BIN" ] && [ -d target/site/pkg ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$hash" ]; then
  echo "chorus is up to date ($BIN)"
  exit 0
fi
# --precompress builds (and brotli/gzips) the frontend before the server, so the
# server binary embeds the finished site.
cargo leptos build --release --precompress
[ -n "$hash" ] && echo "$hash" > "$STAMP"
exit 0
