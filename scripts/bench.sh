#!/usr/bin/env bash
# Prints the release build's numbers: cold start to the first 200 on `/`, idle RSS,
# binary size, wasm size (raw and brotli). Run after `make build` (make bench does).
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${CARGO_TARGET_DIR:-$HOME/.cache/chorus/target}
BIN=${BIN:-$TARGET/release/chorus}
RUNS=${RUNS:-5}
[ -x "$BIN" ] || { echo "no release binary at $BIN: run make build" >&2; exit 1; }

work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')

# Copy the binary alone to an empty directory: it must serve the full app from there.
cp "$BIN" "$work/chorus"
cd "$work"

starts=()
for i in $(seq "$RUNS"); do
  rm -rf data
  t0=$(date +%s%N)
  ./chorus serve --addr "127.0.0.1:$port" --data-dir data >/dev/null 2>&1 &
  pid=$!
  # `/` answers a signed-out visitor with a redirect to the sign-in page: follow it.
  until [ "$(curl -sL -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/")" = 200 ]; do sleep 0.002; done
  t1=$(date +%s%N)
  starts+=($(( (t1 - t0) / 1000000 )))
  if [ "$i" = "$RUNS" ]; then
    # What a browser downloads, straight from the copied binary.
    wasm_raw=$(curl -s "http://127.0.0.1:$port/pkg/chorus.wasm" | wc -c)
    wasm_br=$(curl -s -H 'accept-encoding: br' "http://127.0.0.1:$port/pkg/chorus.wasm" | wc -c)
    css_raw=$(curl -s "http://127.0.0.1:$port/pkg/chorus.css" | wc -c)
    js_raw=$(curl -s "http://127.0.0.1:$port/pkg/chorus.js" | wc -c)
    sleep 2
    rss=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
    anon=$(awk '/RssAnon/{print $2}' /proc/$pid/status)
  fi
  kill $pid; wait $pid 2>/dev/null || true
done

sorted=$(printf '%s\n' "${starts[@]}" | sort -n)
median=$(echo "$sorted" | sed -n "$(( (RUNS + 1) / 2 ))p")
printf 'cold start to first 200 (ms): median %s, all: %s\n' "$median" "${starts[*]}"
printf 'idle RSS after start and one page: %s KiB (%.1f MiB), of which anonymous %s KiB\n' "$rss" "$(echo "$rss/1024" | bc -l)" "$anon"
printf 'release binary: %s bytes (%.1f MiB)\n' "$(stat -c %s "$BIN")" "$(echo "$(stat -c %s "$BIN")/1048576" | bc -l)"
printf 'wasm served by the copied binary: %s bytes raw, %s bytes brotli\n' "$wasm_raw" "$wasm_br"
printf 'css: %s bytes raw; js: %s bytes raw\n' "$css_raw" "$js_raw"

# The gateway under load: time to first token added at fixed request rates, CPU
# per forwarded chunk, and concurrent streams vs RSS (crates/bench).
cd - >/dev/null
cargo build --release -q -p chorus-bench
# The conversation tree on the embedded database: open, fork, sibling switch.
"$TARGET/release/chorus-bench-tree"
# Job streams, in-process and on Redis: reconnect, fan-out, throughput, memory.
"$TARGET/release/chorus-bench-streams"
"$TARGET/release/chorus-bench" --chorus "$BIN" ${BENCH_ARGS:-}
