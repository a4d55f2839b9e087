"""podman (CNI backend) runs containers on a network whose conflist is multus with static delegates.

The network ``pmm-multus`` is a conflist of one plugin, multus, whose ``delegates`` are

* ``pmm-cluster``  bridge ``pmm-br0`` + host-local 10.250.45.0/24 (the first delegate -> eth0)
* ``pmm-macvlan``  macvlan on a veth end of the lab host (+ host-local 10.250.46.0/24) -> net1

podman calls multus as any CNI plugin (ADD on run, DEL on rm) with ``--ip``/``--mac-address`` as
``IP=``/``MAC=`` in CNI_ARGS, which multus forwards to its delegates. After ``podman rm`` nothing
may be left: veth host ends, host-local leases, multus' cache files, the container's netns.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from multus_rt import (
    bridge_net,
    cache_files,
    in_subnet,
    leases,
    macvlan_net,
    multus_log_tail,
    netns_gone,
    netns_links,
    veth_master,
    veths,
)
from runtimes import Podman

from multus.testing.recorder import read_calls, write_recording_plugin

pytestmark = pytest.mark.runtime

CLUSTER, MACVLAN = "10.250.45.0/24", "10.250.46.0/24"
MASTER = "pmm-m0"

TRACE = """#!/bin/sh
# multus as podman calls it: log the verb and CNI_ARGS, then run the real multus
printf '%s\\t%s\\t%s\\t%s\\n' "$CNI_COMMAND" "$CNI_IFNAME" "$CNI_NETNS" "$CNI_ARGS" >> {log}
exec {multus} "$@"
"""


def _multus_exe(podman: Podman) -> str:
    link = podman.cni_bin_dir / "multus"
    assert link.exists(), f"the podman fixture put no multus into {podman.cni_bin_dir}"
    return str(link.resolve())


class Net:
    def __init__(self, podman: Podman, tmp: Path, name: str, delegates: list[dict[str, Any]],
                 plugin_type: str = "multus") -> None:
        self.podman, self.tmp, self.name = podman, tmp, name
        self.cni_dir, self.ipam, self.log = tmp / "cni", tmp / "ipam", tmp / "multus.log"
        self.conf = {
            "cniVersion": "1.0.0",
            "name": name,
            "plugins": [{
                "type": plugin_type,
                "cniDir": str(self.cni_dir),
                "binDir": str(podman.cni_bin_dir),
                "delegates": delegates,
                "logFile": str(self.log),
                "logLevel": "verbose",
                "logToStderr": False,
            }],
        }
        podman.set_network(self.conf)

    def log_tail(self) -> str:
        return multus_log_tail(self.log) + "\npodman stderr: " + self.podman.last_stderr

    def assert_clean(self, veths_before: set[str], netns: str | None = None) -> None:
        assert veths() == veths_before, f"veths left behind: {veths() - veths_before}\n{self.log_tail()}"
        assert leases(self.ipam) == [], f"host-local leases left behind: {leases(self.ipam)}"
        assert cache_files(self.cni_dir) == [], f"cache files left: {cache_files(self.cni_dir)}"
        if netns is not None:
            assert netns_gone(netns), f"container netns {netns} still exists"


@pytest.fixture
def master() -> Iterator[str]:
    with veth_master(MASTER) as m:
        yield m


def _cname(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _container_addrs(podman: Podman, name: str) -> dict[str, list[str]]:
    """{ifname: [a.b.c.d/nn]} as the container itself sees them (busybox `ip -o addr`)."""
    rc, out = podman.exec(name, ["ip", "-o", "-4", "addr", "show"])
    assert rc == 0, podman.last_stderr
    found: dict[str, list[str]] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[2] == "inet":
            found.setdefault(parts[1], []).append(parts[3])
    return found


def _container_links(podman: Podman, name: str) -> dict[str, str]:
    """{ifname: mac} as the container sees them."""
    rc, out = podman.exec(name, ["ip", "-o", "link", "show"])
    assert rc == 0, podman.last_stderr
    macs = {}
    for line in out.splitlines():
        parts = line.split()
        ifname = parts[1].rstrip(":").split("@")[0]
        if "link/ether" in parts:
            macs[ifname] = parts[parts.index("link/ether") + 1]
        else:
            macs[ifname] = ""
    return macs


def test_container_gets_eth0_and_net1(podman: Podman, tmp_path: Path, master: str) -> None:
    trace = tmp_path / "trace.log"
    wrapper = tmp_path / "multus-trace"
    wrapper.write_text(TRACE.format(log=trace, multus=_multus_exe(podman)))
    wrapper.chmod(0o755)
    podman.add_plugin(wrapper, "pmm-multus-trace")
    ipam = tmp_path / "ipam"
    net = Net(podman, tmp_path, "pmm-multus", [
        bridge_net("pmm-cluster", "pmm-br0", CLUSTER, ipam),
        macvlan_net("pmm-macvlan", master, MACVLAN, ipam),
    ], plugin_type="pmm-multus-trace")
    before = veths()
    name = _cname("pmm")
    podman.start(name, net.name)
    try:
        netns = podman.netns_path(name)
        addrs = _container_addrs(podman, name)
        assert set(addrs) >= {"eth0", "net1"}, f"{addrs}\n{net.log_tail()}"
        assert len(addrs["eth0"]) == 1 and in_subnet(addrs["eth0"][0], CLUSTER), addrs
        assert len(addrs["net1"]) == 1 and in_subnet(addrs["net1"][0], MACVLAN), addrs
        # the same seen from outside, with the interface kinds
        links = netns_links(netns)
        assert links["eth0"]["kind"] == "veth" and links["net1"]["kind"] == "macvlan", links
        # podman reports the cluster network's (eth0's) address, not net1's
        info = podman.inspect(name)["NetworkSettings"]["Networks"][net.name]
        assert info["IPAddress"] == addrs["eth0"][0].split("/")[0], info
        assert len(veths() - before) == 1
        assert sorted(leases(ipam)) == sorted(
            [f"pmm-cluster/{addrs['eth0'][0].split('/')[0]}", f"pmm-macvlan/{addrs['net1'][0].split('/')[0]}"]
        )
        assert cache_files(net.cni_dir), "multus keeps a cache while the container runs"
    finally:
        podman.rm(name)
    net.assert_clean(before, netns)
    calls = [line.split("\t") for line in trace.read_text().splitlines()]
    verbs = [c[0] for c in calls]
    assert "ADD" in verbs and "DEL" in verbs, verbs
    assert verbs.index("ADD") < verbs.index("DEL"), verbs
    add = calls[verbs.index("ADD")]
    dele = calls[verbs.index("DEL")]
    assert add[1] == "eth0" and add[2] == netns and dele[2] == netns, calls
    print(f"\npodman called multus with: {verbs}")


def test_ip_and_mac_requests_are_honoured_on_eth0(podman: Podman, tmp_path: Path, master: str) -> None:
    """``podman run --ip --mac-address`` -> CNI_ARGS IP=/MAC= -> bridge + host-local of the cluster network.

    multus forwards the runtime's CNI_ARGS to every delegate (as upstream does), so the macvlan
    delegate has no IPAM here (host-local would be asked for eth0's address outside its range).
    """
    ipam = tmp_path / "ipam"
    net = Net(podman, tmp_path, "pmm-multus-ip", [
        bridge_net("pmm-cluster-ip", "pmm-br1", "10.250.47.0/24", ipam),
        macvlan_net("pmm-macvlan-ip", master, None, None),
    ])
    before = veths()
    name = _cname("pmm-ip")
    ip, mac = "10.250.47.77", "02:00:0a:fa:2f:4d"
    podman.start(name, net.name, ip=ip, mac=mac)
    try:
        netns = podman.netns_path(name)
        addrs = _container_addrs(podman, name)
        macs = _container_links(podman, name)
        assert addrs.get("eth0") == [f"{ip}/24"], f"{addrs}\n{net.log_tail()}"
        assert macs.get("eth0") == mac, macs
        assert "net1" in macs and "net1" not in addrs, (macs, addrs)
        assert leases(ipam) == [f"pmm-cluster-ip/{ip}"]
    finally:
        podman.rm(name)
    net.assert_clean(before, netns)


def test_ip_mac_and_pod_args_forwarded_to_delegates(podman: Podman, tmp_path: Path) -> None:
    """What multus forwards, seen by a recording delegate: podman's CNI_ARGS, the netns, the ifname."""
    rec_log = tmp_path / "rec.jsonl"
    write_recording_plugin(str(tmp_path), "pmm-rec", str(rec_log))
    podman.add_plugin(tmp_path / "pmm-rec", "pmm-rec")
    ipam = tmp_path / "ipam"
    net = Net(podman, tmp_path, "pmm-multus-rec", [
        bridge_net("pmm-cluster-rec", "pmm-br2", "10.250.48.0/24", ipam),
        {"cniVersion": "1.0.0", "name": "pmm-recorded", "type": "pmm-rec", "ip": "10.250.49.5/24"},
    ])
    before = veths()
    name = _cname("pmm-rec")
    ip, mac = "10.250.48.9", "02:00:0a:fa:30:09"
    podman.start(name, net.name, ip=ip, mac=mac)
    try:
        netns = podman.netns_path(name)
        addrs = _container_addrs(podman, name)
        assert addrs.get("eth0") == [f"{ip}/24"], f"{addrs}\n{net.log_tail()}"
    finally:
        podman.rm(name)
    net.assert_clean(before, netns)
    calls = [c for c in read_calls(str(rec_log)) if c["env"].get("CNI_COMMAND") != "VERSION"]
    assert [c["env"]["CNI_COMMAND"] for c in calls] == ["ADD", "DEL"], calls
    for c in calls:
        env = c["env"]
        assert env["CNI_IFNAME"] == "net1" and env["CNI_NETNS"] == netns, env
        assert env["CNI_CONTAINERID"], env
        args = [kv.split("=", 1) for kv in env["CNI_ARGS"].split(";")]
        d = dict(args)
        assert d["IP"] == ip and d["MAC"] == mac, env["CNI_ARGS"]
        assert d["K8S_POD_NAME"] == name, env["CNI_ARGS"]
        assert d["IgnoreUnknown"] in ("1", "true"), env["CNI_ARGS"]
        assert c["stdin"]["name"] == "pmm-recorded" and c["stdin"]["type"] == "pmm-rec", c["stdin"]
        assert c["stdin"]["ip"] == "10.250.49.5/24"
    # DEL gets the delegate's own ADD result as prevResult (libcni's cached result)
    prev = calls[1]["stdin"].get("prevResult")
    assert prev and prev["ips"][0]["address"] == "10.250.49.5/24", calls[1]["stdin"]
    assert calls[0]["env"]["CNI_CONTAINERID"] == calls[1]["env"]["CNI_CONTAINERID"]


def test_podman_run_rm_twice_same_name(podman: Podman, tmp_path: Path, master: str) -> None:
    """`podman run --rm` twice with the same container name: the second ADD is not confused by the first."""
    ipam = tmp_path / "ipam"
    net = Net(podman, tmp_path, "pmm-multus-rm", [
        bridge_net("pmm-cluster-rm", "pmm-br3", "10.250.50.0/24", ipam),
        macvlan_net("pmm-macvlan-rm", master, "10.250.51.0/24", ipam),
    ])
    before = veths()
    for _ in range(2):
        rc, out = podman.run(net.name, "ip -o -4 addr show", extra_args=["--name", "pmm-rm-same"])
        assert rc == 0, net.log_tail()
        assert "eth0" in out and "inet 10.250.50." in out, out
        assert "net1" in out and "inet 10.250.51." in out, out
        net.assert_clean(before)
