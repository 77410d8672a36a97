#!/usr/bin/env bash
# Builds the code interpreter's root filesystem (Debian bookworm + nine language
# toolchains) once, and prints its path. Idempotent: a finished rootfs of the
# current version is reused at once.
#
#   scripts/build-rootfs.sh [DIR]     default: $CHORUS_SANDBOX_ROOTFS or
#                                     ~/.cache/chorus/rootfs/v$VERSION
#
# Bump VERSION when the package list changes: the server refuses a rootfs whose
# /etc/chorus-rootfs-version differs from what it expects.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=1
SUITE=bookworm
# Python's data stack from PyPI wheels in a venv: a third of the size of Debian's
# python3-pandas/matplotlib (see shared NOTES).
PY_PACKAGES="numpy==2.2.6 pandas==2.2.3 matplotlib==3.9.4"
# --no-install-recommends by construction: debootstrap --include resolves Depends only.
PACKAGES=(
  ca-certificates bash coreutils
  python3 python3-venv
  nodejs node-typescript
  gcc g++ libc6-dev gfortran
  golang-go
  default-jdk-headless
  php-cli
  rustc
)

ROOTFS=${1:-${CHORUS_SANDBOX_ROOTFS:-$HOME/.cache/chorus/rootfs/v$VERSION}}
log() { printf '\033[1;34m[rootfs]\033[0m %s\n' "$*" >&2; }

if [ -f "$ROOTFS/etc/chorus-rootfs-version" ] && [ "$(cat "$ROOTFS/etc/chorus-rootfs-version")" = "$VERSION" ]; then
  echo "$ROOTFS"
  exit 0
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
if ! command -v debootstrap >/dev/null; then
  log "apt-get install debootstrap"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi

# The mirror this machine's apt already uses (the only one reachable offline).
MIRROR=$(grep -hoE '^URIs: *\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)
if [ -z "$MIRROR" ]; then
  MIRROR=$(grep -hoE '^deb +\S+' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | head -n1 || true)
fi
MIRROR=${MIRROR:-http://deb.debian.org/debian}

start=$(date +%s)
WORK="$ROOTFS.partial"
$SUDO rm -rf "$WORK"
mkdir -p "$(dirname "$ROOTFS")"
log "debootstrap $SUITE from $MIRROR into $WORK (a few minutes, once)"
$SUDO debootstrap --variant=minbase --include="$(IFS=,; echo "${PACKAGES[*]}")" \
  "$SUITE" "$WORK" "$MIRROR" >"$WORK.log" 2>&1 || { tail -n 30 "$WORK.log" >&2; exit 1; }

log "python venv with $PY_PACKAGES"
# pip inside the chroot needs DNS and this machine's CA bundle (the registry may sit
# behind a proxy with its own CA); env -i keeps the host's *_CA_BUNDLE variables,
# which name the chroot's own bundle, from overriding it.
$SUDO cp /etc/resolv.conf "$WORK/etc/resolv.conf"
$SUDO cp /etc/ssl/certs/ca-certificates.crt "$WORK/tmp/host-ca.crt"
$SUDO chroot "$WORK" /usr/bin/python3 -m venv /opt/python
$SUDO chroot "$WORK" env -i PATH=/usr/bin:/bin HOME=/root PIP_CERT=/tmp/host-ca.crt PIP_DISABLE_PIP_VERSION_CHECK=1 \
  /opt/python/bin/pip install -q --no-cache-dir --only-binary=:all: $PY_PACKAGES
$SUDO rm -f "$WORK/tmp/host-ca.crt" "$WORK/etc/resolv.conf"
$SUDO touch "$WORK/etc/resolv.conf"

# Mount points must exist in the rootfs: it is mounted read-only in every container.
$SUDO mkdir -p "$WORK/mnt/data" "$WORK/sandbox"
# Trim what no program here needs.
$SUDO rm -rf "$WORK/var/cache/apt/archives"/*.deb "$WORK/var/lib/apt/lists"/* \
  "$WORK/usr/share/doc" "$WORK/usr/share/man" "$WORK/usr/share/info"
echo "$VERSION" | $SUDO tee "$WORK/etc/chorus-rootfs-version" >/dev/null
rm -f "$WORK.log"

$SUDO rm -rf "$ROOTFS"
$SUDO mv "$WORK" "$ROOTFS"
log "rootfs v$VERSION ready in $(( $(date +%s) - start )) s, $(du -sh "$ROOTFS" | cut -f1)"
echo "$ROOTFS"
