"""``chrootDir``: the daemon runs delegates chrooted. The test builds the root: the bridge and
host-local plugins (with their loader and libc) under a bin dir that exists only inside it, and
``/proc``, ``/sys``, ``/run/netns`` and the host-local data dir bind-mounted in a mount namespace
private to the daemon."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
import thickkit
from thickkit import CNI_BIN, Node, in_subnet

pytestmark = pytest.mark.root

MOUNTS = """set -e
root="$1"; shift
while [ "$1" != "--" ]; do
  mkdir -p "$root$1"; mount --rbind "$1" "$root$1"; shift
done
shift
exec "$@"
"""


def copy_with_libraries(binary: str, root: Path, bin_dir: str) -> None:
    target = root / bin_dir.lstrip("/")
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(binary, target / os.path.basename(binary))
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=False).stdout
    for lib in re.findall(r"(/\S+)", out):
        dest = root / lib.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.realpath(lib), dest)


def test_delegates_run_chrooted(node: Node, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1) (util-linux)")
    root = tmp_path / "hostroot"
    bin_dir = f"/opt/chroot-only-{uuid.uuid4().hex[:6]}/bin"
    assert not os.path.exists(bin_dir)
    for plugin in ("bridge", "host-local"):
        copy_with_libraries(os.path.join(CNI_BIN, plugin), root, bin_dir)

    pod = node.pod()  # its netns exists before the daemon's private mount namespace is made
    binds = ["/proc", "/sys", "/run/netns", str(node.ipam_dir)]
    daemon_cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c", MOUNTS, "sh", str(root), *binds,
                  "--", *thickkit.DAEMON]
    # the daemon wrapper passes its own arguments (-config <path>) after the mount list
    monkeypatch.setattr(thickkit, "DAEMON", daemon_cmd)
    daemon = node.daemon({"chrootDir": str(root)})

    br = node.bridge()
    conf = node.shim_conf(daemon, delegates=[br], binDir=bin_dir)
    res = node.add(conf, pod, extra={"CNI_PATH": bin_dir})
    assert in_subnet(res["ips"][0]["address"], br["ipam"]["subnet"]), res
    assert node.links(pod) == ["eth0", "lo"]
    assert len(node.leases_of(pod)) == 1
    node.delete(conf, pod, extra={"CNI_PATH": bin_dir})
    node.assert_clean(pod)


def test_without_chroot_the_same_bin_dir_is_not_found(node: Node) -> None:
    bin_dir = f"/opt/chroot-only-{uuid.uuid4().hex[:6]}/bin"
    daemon = node.daemon()
    conf = node.shim_conf(daemon, delegates=[node.bridge()], binDir=bin_dir)
    out = node.shim("ADD", conf, node.pod(), extra={"CNI_PATH": bin_dir})
    assert out.returncode != 0
    assert "failed to find plugin" in out.cni_error()["msg"]
