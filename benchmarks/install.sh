#!/usr/bin/env bash
# Install multus into a NON-editable virtualenv for the benchmarks (default /opt/multus-bench).
#
#   benchmarks/install.sh [VENV]          # VENV defaults to $MULTUS_BENCH_VENV or /opt/multus-bench
#   PYTHON=/usr/bin/python3 benchmarks/install.sh
#
# Why non-editable: an editable install puts a meta-path finder (or a .pth scan) in front of
# every import, which adds ~10 ms to each `multus` start; a node installs a wheel, so the
# benchmarks must too. The source tree is copied to a temporary directory first so that the
# build (build/, *.egg-info) never writes into the checkout.
#
# Re-running reinstalls multus (--force-reinstall --no-deps) so the venv follows the source.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
VENV=${1:-${MULTUS_BENCH_VENV:-/opt/multus-bench}}
PY=${PYTHON:-python3}

log() { echo "install.sh: $*" >&2; }

if [ ! -x "$VENV/bin/python" ]; then
  log "creating venv $VENV with $($PY -c 'import sys; print(sys.executable, sys.version.split()[0])')"
  "$PY" -m venv "$VENV"
fi

SRC=$(mktemp -d /tmp/multus-bench-src.XXXXXX)
trap 'rm -rf "$SRC" "$SRC.pip"' EXIT
# copy the checkout without VCS data, venvs, caches and build leftovers
tar -C "$ROOT" \
    --exclude=./.git --exclude=./.venv --exclude=./build --exclude=./dist \
    --exclude='*.egg-info' --exclude=__pycache__ --exclude=.mypy_cache --exclude=.ruff_cache \
    --exclude=.pytest_cache --exclude=./benchmarks/results \
    -cf - . | tar -C "$SRC" -xf -

PIP=("$VENV/bin/pip" install -q --disable-pip-version-check)
pipq() {  # pip install, without the noise of index locations that do not hold a package
  local rc=0
  "${PIP[@]}" "$@" 2>"$SRC.pip" || rc=$?
  grep -v -e 'is ignored: it is neither a file nor a directory' "$SRC.pip" >&2 || true
  return $rc
}
# 1) the dependencies (only when something is missing), 2) multus itself, rebuilt every time
if ! "$VENV/bin/python" -c "import pluggy, attrs, cattrs, pyroute2, kubernetes, grpc, prometheus_client" 2>/dev/null; then
  log "installing dependencies"
  pipq "$SRC"
fi
log "installing multus from a copy of $ROOT (non-editable)"
if ! pipq --force-reinstall --no-deps "$SRC"; then
  # no build isolation: use (a new enough) setuptools inside the venv itself
  log "isolated build failed; retrying with --no-build-isolation"
  pipq "setuptools>=68" wheel
  pipq --force-reinstall --no-deps --no-build-isolation "$SRC"
fi

# must not be editable: no __editable__ finder / .pth pointing into the checkout
SITE=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
if ls "$SITE" | grep -q -i '__editable__.*multus'; then
  log "ERROR: $VENV has an editable multus install ($SITE)"; exit 1
fi
WHERE=$("$VENV/bin/python" -c 'import multus, os; print(os.path.dirname(multus.__file__))')
case "$WHERE" in
  "$ROOT"/*) log "ERROR: multus is imported from the checkout ($WHERE)"; exit 1;;
esac
# byte-compile, as a wheel install on a node would leave it (pip already does; be sure)
"$VENV/bin/python" -m compileall -q "$WHERE" "$SITE"/multus_* >/dev/null || true
[ -x "$VENV/bin/multus" ] || { log "ERROR: $VENV/bin/multus missing"; exit 1; }
log "ok: $VENV/bin/multus (package at $WHERE)"
echo "$VENV/bin/multus"
