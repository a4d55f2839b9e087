#!/usr/bin/env bash
# Build the multus container image from Debian packages and PyPI wheels only (no registry):
#   1. a bookworm rootfs with python3 (mmdebstrap), imported into podman as multus-base;
#   2. wheels of multus and its dependencies, built on this machine (pip wheel);
#   3. the executables a node without Python can run (host-bin/: the stdlib-only single-file
#      multus-shim and passthru; PyInstaller bundles of multus and multus-shim for nodes without
#      Python, unless MULTUS_IMAGE_BUNDLES=0);
#   4. podman build of deploy/image/Containerfile (chroot isolation; pip installs --no-index from
#      the wheels in the context, so the build fetches nothing).
# Everything is cached in $MULTUS_IMAGE_CACHE (default /var/cache/multus-image), keyed by a hash
# of the inputs: a second run with nothing changed only prints the image name.
#
#   deploy/image/build.sh            build (or reuse) localhost/multus:<hash>, tagged :latest
#   deploy/image/build.sh --prepare  only fetch what needs the network (the Debian base, the
#                                    dependencies' wheels, PyInstaller): then builds work offline
#   deploy/image/build.sh --archive  also write <cache>/multus-<hash>.tar (docker-archive), e.g.
#                                    for `ctr -n k8s.io images import`
# Prints the image reference on stdout; progress on stderr.
# Env: MULTUS_IMAGE_CACHE, MULTUS_VENV (python with pip, default .venv), MULTUS_IMAGE_TAG.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
CACHE=${MULTUS_IMAGE_CACHE:-/var/cache/multus-image}
PY=${MULTUS_VENV:-$ROOT/.venv}/bin/python
SUITE=bookworm
MIRROR=${MULTUS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE_PACKAGES=python3,python3-venv,ca-certificates
ARCHIVE=0 PREPARE=0
[ "${1:-}" = "--archive" ] && ARCHIVE=1
[ "${1:-}" = "--prepare" ] && PREPARE=1
log() { echo "image: $*" >&2; }

mkdir -p "$CACHE"
STORAGE="$CACHE/storage"
podman_() {
  podman --root "$STORAGE/root" --runroot "$STORAGE/run" --storage-driver vfs \
    --cgroup-manager cgroupfs --events-backend file --tmpdir "$STORAGE/tmp" "$@"
}
mkdir -p "$STORAGE/tmp"
exec 9>"$CACHE/.lock"
flock 9

# --- 1. the Debian base -------------------------------------------------------------------
base_key=$(echo "$SUITE $MIRROR $BASE_PACKAGES v1" | sha256sum | cut -c1-12)
BASE=localhost/multus-base:$SUITE-$base_key
if ! podman_ image exists "$BASE"; then
  tar="$CACHE/base-$base_key.tar"
  if [ ! -s "$tar" ]; then
    log "mmdebstrap $SUITE ($BASE_PACKAGES)"
    command -v mmdebstrap >/dev/null || {
      DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends \
        mmdebstrap >/dev/null; }
    mmdebstrap --quiet --format=tar --variant=minbase --include="$BASE_PACKAGES" \
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
      --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
      --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/log/*' \
      "$SUITE" "$tar.tmp" "deb $MIRROR $SUITE main" "deb $MIRROR $SUITE-updates main" \
      "deb ${MIRROR%/debian}/debian-security $SUITE-security main"
    mv "$tar.tmp" "$tar"
  fi
  log "podman import $tar"
  podman_ import --quiet "$tar" "$BASE" >/dev/null
fi

if [ "$PREPARE" = 1 ]; then
  if [ ! -d "$CACHE/wheels" ] || [ "$ROOT/pyproject.toml" -nt "$CACHE/wheels" ]; then
    log "pip wheel (dependencies)"
    tmpw=$(mktemp -d)
    "$PY" -m pip wheel -q --no-build-isolation --no-deps --wheel-dir "$tmpw" "$ROOT" >"$CACHE/pip-wheel.log" 2>&1 \
      && "$PY" -m pip wheel -q --find-links "$CACHE/wheels" --wheel-dir "$CACHE/wheels" "$tmpw"/multus-*.whl \
        >>"$CACHE/pip-wheel.log" 2>&1 || { cat "$CACHE/pip-wheel.log" >&2; rm -rf "$tmpw"; exit 1; }
    rm -rf "$tmpw" "$CACHE"/wheels/multus-*.whl
    touch "$CACHE/wheels"
  fi
  if [ ! -x "$CACHE/bundle-venv/bin/pyinstaller" ]; then
    /usr/bin/python3 -m venv "$CACHE/bundle-venv"
    "$CACHE/bundle-venv/bin/pip" install -q pyinstaller >&2
  fi
  log "prepared: $CACHE"
  exit 0
fi

# --- the inputs' hash --------------------------------------------------------------------------
# content hashes of the inputs (the same tree gives the same key, committed or not)
tree_hash() { (cd "$ROOT" && find "$@" -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 | sort -z \
                | xargs -0 sha256sum) | sha256sum | cut -c1-12; }
key=$( { echo "$BASE ${MULTUS_IMAGE_BUNDLES:-1}"; tree_hash src plugins pyproject.toml README.md deploy/image; } \
       | sha256sum | cut -c1-12)
IMAGE=localhost/multus:${MULTUS_IMAGE_TAG:-$key}
if podman_ image exists "$IMAGE"; then
  log "cached: $IMAGE"
else
  ctx="$CACHE/context-$key"
  rm -rf "$ctx"
  mkdir -p "$ctx/wheels" "$ctx/host-bin" "$ctx/bundles"
  cp deploy/image/Containerfile "$ctx/"
  # --- 2. wheels (dependencies cached across builds)
  log "pip wheel"
  # multus' own wheel needs no index (the venv has setuptools); dependencies come from the wheel
  # cache when it has them all (offline, e.g. inside the test lab), else from the index
  : >"$CACHE/pip-wheel.log"
  "$PY" -m pip wheel -q --no-build-isolation --no-deps --wheel-dir "$ctx/wheels" "$ROOT" >>"$CACHE/pip-wheel.log" 2>&1 \
    || { cat "$CACHE/pip-wheel.log" >&2; exit 1; }
  own=$(ls "$ctx"/wheels/multus-*.whl)
  "$PY" -m pip wheel -q --no-index --find-links "$CACHE/wheels" --wheel-dir "$CACHE/wheels" "$own" \
      >>"$CACHE/pip-wheel.log" 2>&1 \
    || "$PY" -m pip wheel -q --find-links "$CACHE/wheels" --wheel-dir "$CACHE/wheels" "$own" >>"$CACHE/pip-wheel.log" 2>&1 \
    || { cat "$CACHE/pip-wheel.log" >&2; exit 1; }
  for w in "$CACHE"/wheels/*.whl; do
    case "$(basename "$w")" in multus-*|grpcio_tools-*) ;; *) ln -f "$w" "$ctx/wheels/" 2>/dev/null || cp "$w" "$ctx/wheels/";; esac
  done
  # --- 3. executables for the host
  "$PY" "$ROOT/deploy/image/host_bin.py" "$ctx/host-bin"
  if [ "${MULTUS_IMAGE_BUNDLES:-1}" = 1 ]; then
    # the bundles depend on the sources only: cached apart from the image (a Containerfile
    # change does not rebuild them)
    bkey=$(tree_hash src plugins pyproject.toml deploy/image/bundles.sh)
    bdir="$CACHE/bundles-$bkey"
    if [ ! -d "$bdir" ]; then
      rm -rf "$CACHE"/bundles-*
      bash "$ROOT/deploy/image/bundles.sh" "$bdir.tmp" "$own"
      mv "$bdir.tmp" "$bdir"
    fi
    cp -a "$bdir/multus-shim" "$ctx/bundles/"
    cp -a "$bdir/multus" "$ctx/host-bin/multus"  # thin mode's multus: always the bundle
  fi
  # --- 4. the image
  log "podman build $IMAGE"
  podman_ build --quiet --isolation chroot --build-arg "BASE=$BASE" -t "$IMAGE" \
    -f "$ctx/Containerfile" "$ctx" >/dev/null
  rm -rf "$ctx"
fi
podman_ tag "$IMAGE" localhost/multus:latest
if [ "$ARCHIVE" = 1 ]; then
  out="$CACHE/multus-${IMAGE##*:}.tar"
  [ -s "$out" ] || { podman_ save --quiet --format docker-archive -o "$out.tmp" "$IMAGE" localhost/multus:latest \
                     && mv "$out.tmp" "$out"; }
  log "archive: $out"
fi
log "size: $(podman_ image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%.1f MB", $1/1e6}')"
echo "$IMAGE"
