#!/usr/bin/env bash
# Builds chorus-surreal (crates/surreal-server): a SurrealDB server for several
# Chorus instances sharing one database, and for the tests that run them.
# Its own workspace and target dir, so its SurrealDB features never change the
# main build's. Incremental: seconds when nothing changed (first build ≈ 15 min).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CHORUS_SURREAL_TARGET_DIR:-$HOME/.cache/chorus/target-surreal}
unset RUSTFLAGS
cargo build --release --locked --manifest-path crates/surreal-server/Cargo.toml
echo "$CARGO_TARGET_DIR/release/chorus-surreal"
