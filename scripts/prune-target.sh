#!/usr/bin/env bash
# Keeps the shared target dir from filling the disk: every clone (CI runs from
# a fresh one) links its own ~250 MB test binaries, so old ones pile up. Keeps
# the newest executable of each name in debug/deps and removes the others,
# plus incremental state untouched for a day. Cheap; run before building.
set -euo pipefail
deps="${CARGO_TARGET_DIR:-$HOME/.cache/chorus/target}/debug/deps"
[ -d "$deps" ] || exit 0
python3 - "$deps" <<'PY'
import collections, os, re, sys
deps = sys.argv[1]
newest = collections.defaultdict(list)
for name in os.listdir(deps):
    path = os.path.join(deps, name)
    m = re.fullmatch(r"(.+)-[0-9a-f]{16}", name)
    if m and os.path.isfile(path) and os.access(path, os.X_OK):
        newest[m.group(1)].append((os.path.getmtime(path), path))
freed = 0
for versions in newest.values():
    versions.sort(reverse=True)
    for _, path in versions[1:]:
        freed += os.path.getsize(path)
        os.remove(path)
print(f"pruned {freed / 2**30:.1f} GiB of old test binaries")
PY
find "$(dirname "$deps")/incremental" -mindepth 1 -maxdepth 1 -mtime +0 -exec rm -rf {} + 2>/dev/null || true
