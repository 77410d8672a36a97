#!/usr/bin/env bash
# Runs every test: unit and integration tests of every crate, then the browser
# tests (Playwright driving Debian's Chromium) against a debug build of the app.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/chorus/target}
# cargo-leptos builds debug with this flag; using it here too lets `cargo test`
# and `cargo leptos build` share compiled dependencies.
export RUSTFLAGS="--cfg erase_components"

scripts/setup.sh test
scripts/prune-target.sh

step() { printf '\n\033[1;32m==> %s\033[0m\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "the SurrealDB server for the multi-instance tests"
CHORUS_SURREAL_BIN=$(scripts/build-surreal.sh | tail -1)
export CHORUS_SURREAL_BIN

step "the small local model the tests talk to"
CHORUS_TEST_MODEL=$(scripts/fetch-model.sh "$HOME/.cache/chorus" | tail -1)
export CHORUS_TEST_MODEL

step "the code sandbox's root filesystem (built once, a few minutes)"
CHORUS_SANDBOX_ROOTFS=$(scripts/build-rootfs.sh | tail -1)
export CHORUS_SANDBOX_ROOTFS

step "unit and integration tests"
cargo test --workspace --exclude frontend --no-fail-fast

step "building the app (debug) for the browser tests"
cargo leptos build
cargo build -p chorus-testkit --bin chorus-mock-openai

step "browser tests"
CHORUS_BIN="$CARGO_TARGET_DIR/debug/chorus" \
MOCK_BIN="$CARGO_TARGET_DIR/debug/chorus-mock-openai" \
  node end2end/run.mjs
