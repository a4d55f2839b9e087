#!/usr/bin/env bash
# Self-contained multus and multus-shim for nodes without Python: PyInstaller --onedir bundles
# (the executable plus _internal/ with libpython, the modules and the .dist-info multus reads
# its backends from), built with Debian's python3 so that they need only glibc >= 2.36.
#   deploy/image/bundles.sh OUT_DIR [MULTUS_WHEEL]
#       -> OUT_DIR/multus/multus, OUT_DIR/multus-shim/multus-shim
# Env: MULTUS_IMAGE_CACHE (the build venv and PyInstaller's work dirs are cached there).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=$1
WHEEL=${2:-$ROOT}
CACHE=${MULTUS_IMAGE_CACHE:-/var/cache/multus-image}
VENV=$CACHE/bundle-venv
log() { echo "bundles: $*" >&2; }
quiet_pip() { "$VENV/bin/pip" "$@" 2>&1 | grep -v -e '^WARNING' -e 'ignored' -e '^ *$' >&2 || true; }

if [ ! -x "$VENV/bin/pyinstaller" ]; then
  log "build venv $VENV (Debian python3, pyinstaller)"
  /usr/bin/python3 -m venv "$VENV"
  quiet_pip install -q pyinstaller
fi
# the project as the image has it; dependencies from build.sh's wheel cache (offline), else the index
"$VENV/bin/pip" install -q --force-reinstall --no-deps "$WHEEL" >&2
"$VENV/bin/pip" install -q --no-index --find-links "$CACHE/wheels" "$WHEEL" >&2 2>/dev/null \
  || "$VENV/bin/pip" install -q --find-links "$CACHE/wheels" "$WHEEL" >&2

work=$CACHE/pyinstaller
mkdir -p "$work" "$OUT"
cat >"$work/multus_entry.py" <<'PY'
from multus.cli.thin import cni_main
cni_main()
PY
cat >"$work/shim_entry.py" <<'PY'
from multus.cli.shim import main
main()
PY
build() {  # name entry [extra pyinstaller args]
  local name=$1 entry=$2; shift 2
  log "pyinstaller $name"
  "$VENV/bin/pyinstaller" --log-level WARN --noconfirm --onedir --name "$name" \
    --distpath "$work/dist" --workpath "$work/build-$name" --specpath "$work" "$@" "$work/$entry" 2>&1 \
    | grep -v "Hidden import 'multus.testing" >&2 || true
  rm -rf "${OUT:?}/$name"
  cp -a "$work/dist/$name" "$OUT/$name"
}
build multus multus_entry.py --copy-metadata multus \
  --collect-submodules multus --collect-submodules multus_k8s --collect-submodules multus_local \
  --collect-submodules multus_podresources --collect-submodules multus_checkpoint \
  --exclude-module multus.testing --exclude-module pytest --exclude-module grpc_tools \
  --exclude-module tkinter
build multus-shim shim_entry.py --exclude-module tkinter
log "$(du -sh "$OUT/multus" "$OUT/multus-shim" | tr '\n' ' ')"
