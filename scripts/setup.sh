#!/usr/bin/env bash
# Prepare a fresh Debian 12 machine (root) for the demo and the tests: Debian's CNI plugins,
# iproute2, containerd/podman, etcd, and kube-apiserver, kubelet, kube-scheduler and
# kube-controller-manager built from Debian's source package
# (cached in /opt/kube-test, built only when missing), and a virtualenv with multus installed.
#   scripts/setup.sh [--no-kube]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${MULTUS_VENV:-$ROOT/.venv}

need_root() { [ "$(id -u)" = 0 ] || { echo "setup.sh: run as root (network namespaces, apt)" >&2; exit 1; }; }
need_root

apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "setup: apt-get install ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null
  apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

apt_install containernetworking-plugins iproute2 iptables busybox-static procps psmisc \
  containerd runc podman conmon uidmap python3-venv mmdebstrap binutils

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q --upgrade pip >/dev/null 2>&1 || true
"$VENV/bin/pip" install -q -e "$ROOT[test]" 2>&1 | grep -v -e '^WARNING' -e 'ignored' >&2 || true
"$VENV/bin/python" -c "import multus, pluggy, cattrs, pyroute2, kubernetes, grpc" \
  || { echo "setup: the virtualenv is incomplete" >&2; exit 1; }

if [ "${1:-}" != "--no-kube" ]; then
  # kube-apiserver, and kubelet, kube-scheduler, kube-controller-manager for the one-node cluster tests
  bash "$ROOT/tests/harness/kube-apiserver.sh" build-node
  # what the container image's build fetches (Debian base, wheels, PyInstaller), here where
  # Debian and PyPI are reachable; tests/deploy/test_image.py then builds the image offline
  MULTUS_VENV="$VENV" bash "$ROOT/deploy/image/build.sh" --prepare
fi
echo "setup: ready (venv $VENV)" >&2
