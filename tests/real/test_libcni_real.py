"""libcni port against the real reference plugins (bridge + host-local + tuning) in network namespaces.

Everything runs in namespaces of our own (``mlc-<pid>-host`` stands for the node, ``mlc-<pid>-pod``
for the pod): the plugins are reached through wrapper scripts that enter the host namespace, so
the bridge, its addresses and sysctls never touch the machine's own network.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from multus.cni.libcni import (
    Network,
    RuntimeConf,
    add_network,
    check_network,
    del_network,
    get_cached_result,
)
from multus.errors import CNIError

pytestmark = pytest.mark.root

PLUGIN_DIR = Path(os.environ.get("MULTUS_TEST_CNI_DIR", "/usr/lib/cni"))
TYPES = ("bridge", "host-local", "tuning")
SUBNET = "10.250.77.0/24"
TIMEOUT = 30.0


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    missing = [t for t in TYPES if not os.access(PLUGIN_DIR / t, os.X_OK)]
    if missing:
        return f"CNI plugins {missing} not found in {PLUGIN_DIR} (Debian: containernetworking-plugins)"
    for tool in ("ip", "nsenter"):
        if shutil.which(tool) is None:
            return f"{tool!r} not found"
    return None


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=30)


@attrs.frozen
class NetnsLab:
    host: str
    pod: str
    bin_dir: Path
    tmp: Path

    @property
    def pod_path(self) -> str:
        return f"/run/netns/{self.pod}"

    def addrs(self, ns: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = json.loads(_run("ip", "-n", ns, "-j", "addr", "show").stdout or "[]")
        return out

    def link(self, ns: str, name: str) -> dict[str, Any] | None:
        for link in self.addrs(ns):
            if link.get("ifname") == name:
                return link
        return None


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[NetnsLab]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    prefix = f"mlc-{os.getpid()}"
    host, pod = f"{prefix}-host", f"{prefix}-pod"
    created: list[str] = []
    try:
        for ns in (host, pod):
            _run("ip", "netns", "add", ns)
            created.append(ns)
            _run("ip", "-n", ns, "link", "set", "lo", "up")
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        for t in TYPES:
            wrapper = bin_dir / t
            wrapper.write_text(f'#!/bin/sh\nexec nsenter --net=/run/netns/{host} {PLUGIN_DIR / t} "$@"\n')
            wrapper.chmod(0o755)
        yield NetnsLab(host=host, pod=pod, bin_dir=bin_dir, tmp=tmp_path)
    finally:
        for ns in reversed(created):
            subprocess.run(["ip", "netns", "delete", ns], check=False, capture_output=True, timeout=30)


def _conflist(lab: NetnsLab) -> Network:
    return Network.from_config({
        "cniVersion": "1.0.0",
        "name": "mlc-net",
        "plugins": [
            {"type": "bridge", "bridge": "mlcbr0", "isGateway": True, "ipMasq": False,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": SUBNET}]],
                      "dataDir": str(lab.tmp / "ipam")}},
            {"type": "tuning", "mtu": 1400, "dataDir": str(lab.tmp / "tuning")},
        ],
    })


def test_conflist_add_check_del(lab: NetnsLab) -> None:
    net = _conflist(lab)
    rt = RuntimeConf(container_id="mlctest0001", netns=lab.pod_path, ifname="net1",
                     args=(("IgnoreUnknown", "true"), ("K8S_POD_NAME", "mlc")),
                     cache_dir=str(lab.tmp / "cache"))
    dirs = [str(lab.bin_dir)]
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")}

    result = add_network(net, rt, dirs, env, TIMEOUT)

    assert result["cniVersion"] == "1.0.0"
    (ip,) = [i for i in result["ips"] if i["address"].startswith("10.250.77.")]
    link = lab.link(lab.pod, "net1")
    assert link is not None, "net1 missing from the pod namespace after ADD"
    assert link["mtu"] == 1400
    assert ip["address"] in [f"{a['local']}/{a['prefixlen']}" for a in link["addr_info"]]
    bridge = lab.link(lab.host, "mlcbr0")
    assert bridge is not None and any(a["local"] == "10.250.77.1" for a in bridge["addr_info"])
    assert lab.link(lab.pod, "net1") is not None
    assert get_cached_result("mlc-net", rt) == result

    check_network(net, rt, dirs, env, TIMEOUT)

    del_network(net, rt, dirs, env, TIMEOUT)
    assert lab.link(lab.pod, "net1") is None
    assert get_cached_result("mlc-net", rt) is None
    assert not any(f for f in os.listdir(lab.tmp / "ipam" / "mlc-net") if f.startswith("10.250.77."))

    del_network(net, rt, dirs, env, TIMEOUT)  # a second DEL succeeds


def test_check_detects_a_removed_interface(lab: NetnsLab) -> None:
    net = _conflist(lab)
    rt = RuntimeConf(container_id="mlctest0002", netns=lab.pod_path, ifname="net1",
                     cache_dir=str(lab.tmp / "cache"))
    dirs = [str(lab.bin_dir)]
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")}
    add_network(net, rt, dirs, env, TIMEOUT)
    _run("ip", "-n", lab.pod, "link", "del", "net1")
    with pytest.raises(CNIError) as ei:
        check_network(net, rt, dirs, env, TIMEOUT)
    assert "net1" in ei.value.msg, ei.value
    del_network(net, rt, dirs, env, TIMEOUT)
    assert get_cached_result("mlc-net", rt) is None
