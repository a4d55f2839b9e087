"""containerd's CRI calls OUR multus from its CNI conf dir, as on a node without an API server.

The multus config declares the ``io.kubernetes.cri.pod-annotations`` capability, so containerd
hands it the pod annotations in ``runtimeConfig``; the networks named there are files in
multus' ``confDir``:

* ``rtc-cluster``  bridge ``rtc-br0`` + host-local 10.250.40.0/24 (clusterNetwork -> eth0)
* ``macvlan-conf`` macvlan on a veth end of the lab host + host-local 10.250.41.0/24
* ``other``        bridge ``rtc-br1`` + host-local 10.250.42.0/24

RunPodSandbox -> CNI ADD (multus -> bridge, macvlan, bridge); StopPodSandbox -> DEL with the netns
and prevResult; RemovePodSandbox -> a second DEL without netns. After that nothing may be left:
no veth host end, no host-local lease, no file in multus' cniDir, no pod netns.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from multus_rt import (
    NETWORKS,
    POD_ANNOTATIONS_CAP,
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
    write_net,
)
from runtimes import Containerd, CriError

pytestmark = pytest.mark.runtime

CLUSTER, MACVLAN, OTHER = "10.250.40.0/24", "10.250.41.0/24", "10.250.42.0/24"
MASTER = "rtc-m0"


@dataclass
class Setup:
    rt: Containerd
    tmp: Path
    conf_dir: Path
    cni_dir: Path
    ipam: Path
    log: Path
    multus_conf: dict[str, Any]

    def cri(self) -> Any:
        return self.rt.cri()

    def log_tail(self) -> str:
        return multus_log_tail(self.log)


@pytest.fixture
def multus_net(containerd: Containerd, tmp_path: Path) -> Any:
    """containerd's only network is multus; its confDir holds the three networks above."""
    conf_dir, cni_dir, ipam = tmp_path / "multus.d", tmp_path / "cni", tmp_path / "ipam"
    log = tmp_path / "multus.log"
    with veth_master(MASTER):
        write_net(conf_dir, "10-cluster.conflist", bridge_net("rtc-cluster", "rtc-br0", CLUSTER, ipam))
        write_net(conf_dir, "20-macvlan.conf", macvlan_net("macvlan-conf", MASTER, MACVLAN, ipam))
        write_net(conf_dir, "30-other.conflist", bridge_net("other", "rtc-br1", OTHER, ipam))
        # a network whose delegate fails at ADD (its master does not exist): for the rollback test
        write_net(conf_dir, "40-broken.conf", macvlan_net("broken-mv", "rtc-nomaster", MACVLAN, ipam))
        conf = {
            "cniVersion": "1.0.0",
            "name": "multus-cni-network",
            "type": "multus",
            "capabilities": {POD_ANNOTATIONS_CAP: True},
            "confDir": str(conf_dir),
            "cniDir": str(cni_dir),
            "binDir": str(containerd.cni_bin_dir),
            "clusterNetwork": "rtc-cluster",
            "logFile": str(log),
            "logLevel": "verbose",
            "logToStderr": False,
        }
        containerd.set_network(conf, "00-multus.conf")
        yield Setup(containerd, tmp_path, conf_dir, cni_dir, ipam, log, conf)


def _assert_attached(st: Any, links: dict[str, dict[str, Any]], log: str) -> dict[str, str]:
    """eth0, net1, custom exist with addresses of their networks; returns {ifname: address}."""
    for ifname in ("eth0", "net1", "custom"):
        assert ifname in links, f"{ifname} missing in the pod netns: {sorted(links)}\n{log}"
    eth0, net1, custom = (links[n]["addrs"] for n in ("eth0", "net1", "custom"))
    assert len(eth0) == 1 and in_subnet(eth0[0], CLUSTER), links
    assert len(net1) == 1 and in_subnet(net1[0], MACVLAN), links
    assert len(custom) == 1 and in_subnet(custom[0], OTHER), links
    assert links["eth0"]["kind"] == "veth" and links["net1"]["kind"] == "macvlan", links
    assert links["custom"]["kind"] == "veth", links
    # the CRI's pod IP is eth0's (the cluster network), never net1's or custom's
    assert st.ip == eth0[0].split("/")[0], (st.ip, links)
    assert st.additional_ips == [], st.additional_ips
    return {"eth0": eth0[0], "net1": net1[0], "custom": custom[0]}


def _assert_clean(s: Setup, veths_before: set[str], netns: str | None = None) -> None:
    assert veths() == veths_before, f"veths left behind: {veths() - veths_before}\n{s.log_tail()}"
    assert leases(s.ipam) == [], f"host-local leases left behind: {leases(s.ipam)}"
    assert cache_files(s.cni_dir) == [], f"cache files left in cniDir: {cache_files(s.cni_dir)}"
    if netns is not None:
        assert netns_gone(netns), f"pod netns {netns} still exists"


def test_pod_gets_cluster_macvlan_and_custom_networks(multus_net: Setup) -> None:
    s = multus_net
    cri = s.cri()
    before = veths()
    netns_before = set(os.listdir(s.rt.pod_netns_dir())) if s.rt.pod_netns_dir().is_dir() else set()
    uid = str(uuid.uuid4())
    t0 = time.perf_counter()
    sid = cri.run_pod("multus-pod", "rt-multus", uid, {NETWORKS: "macvlan-conf,other@custom"})
    run_s = time.perf_counter() - t0
    try:
        st = cri.status(sid)
        assert st.state == "SANDBOX_READY"
        assert st.netns and os.path.exists(st.netns), st
        links = netns_links(st.netns)
        addrs = _assert_attached(st, links, s.log_tail())
        # two veth host ends (eth0's and custom's) appeared in the lab host netns; macvlan has none
        assert len(veths() - before) == 2, veths() - before
        assert sorted(leases(s.ipam)) == sorted(
            f"{net}/{addrs[i].split('/')[0]}" for net, i in
            (("rtc-cluster", "eth0"), ("macvlan-conf", "net1"), ("other", "custom"))
        )
        # multus' scratch cache for this sandbox exists while the pod runs
        assert (s.cni_dir / sid).is_file(), cache_files(s.cni_dir)
    finally:
        t1 = time.perf_counter()
        cri.stop_pod(sid)
        stop_s = time.perf_counter() - t1
        # after StopPodSandbox (first DEL, with netns + prevResult) everything is already released
        stopped_leases, stopped_cache = leases(s.ipam), cache_files(s.cni_dir)
        t2 = time.perf_counter()
        cri.remove_pod(sid)
        remove_s = time.perf_counter() - t2
    print(f"\nRunPodSandbox {run_s * 1000:.0f} ms, StopPodSandbox {stop_s * 1000:.0f} ms, "
          f"RemovePodSandbox {remove_s * 1000:.0f} ms")
    assert stopped_leases == [] and stopped_cache == [], (stopped_leases, stopped_cache)
    _assert_clean(s, before, st.netns)
    assert sid not in {p.id for p in cri.list_pods()}
    netns_after = set(os.listdir(s.rt.pod_netns_dir())) if s.rt.pod_netns_dir().is_dir() else set()
    assert netns_after <= netns_before


def test_json_selection_with_interface_and_mac(multus_net: Setup) -> None:
    """The JSON form of the annotation: interface name and MAC requests reach the delegates."""
    s = multus_net
    before = veths()
    ann = '[{"name": "macvlan-conf", "interface": "mv0", "mac": "02:fa:40:00:00:07"}, {"name": "other"}]'
    with s.cri().pod("multus-json", "rt-multus", None, {NETWORKS: ann}) as st:
        links = netns_links(st.netns)
        assert {"eth0", "mv0", "net2"} <= set(links), f"{sorted(links)}\n{s.log_tail()}"
        assert links["mv0"]["mac"] == "02:fa:40:00:00:07", links["mv0"]
        assert in_subnet(links["mv0"]["addrs"][0], MACVLAN) and in_subnet(links["net2"]["addrs"][0], OTHER)
        assert st.ip == links["eth0"]["addrs"][0].split("/")[0]
    _assert_clean(s, before, st.netns)


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        pytest.param("macvlan-conf,nope-net", "no network available in the name nope-net", id="unknown-network"),
        pytest.param('[{"name": "macvlan-conf"', "failed to parse pod Network Attachment Selection Annotation",
                     id="malformed-json"),
        pytest.param("other@a:b", "interface name contains / or : or whitespace", id="invalid-ifname"),
        pytest.param("other@custom,macvlan-conf@custom", "is requested twice", id="duplicate-ifname"),
        # resolves fine, then fails at ADD after eth0 and net1 were attached: all of them rolled back
        pytest.param("macvlan-conf,broken-mv", 'error adding container to network "broken-mv"',
                     id="delegate-fails-after-others"),
    ],
)
def test_bad_annotation_fails_run_pod_and_leaves_nothing(multus_net: Setup, annotation: str,
                                                         expected: str) -> None:
    s = multus_net
    cri = s.cri()
    before = veths()
    netns_dir = s.rt.pod_netns_dir()
    netns_before = set(os.listdir(netns_dir)) if netns_dir.is_dir() else set()
    pods_before = {p.id for p in cri.list_pods()}
    with pytest.raises(CriError) as e:
        sid = cri.run_pod("multus-bad", "rt-multus", None, {NETWORKS: annotation})
        cri.stop_pod(sid)  # only reached when the ADD wrongly succeeded
        cri.remove_pod(sid)
    # multus' own message reaches the kubelet through containerd's error
    assert expected in e.value.details, e.value.details
    assert 'plugin type="multus"' in e.value.details, e.value.details
    assert {p.id for p in cri.list_pods()} <= pods_before
    _assert_clean(s, before)
    netns_after = set(os.listdir(netns_dir)) if netns_dir.is_dir() else set()
    assert netns_after <= netns_before, netns_after - netns_before


def test_concurrent_pods(multus_net: Setup) -> None:
    s = multus_net
    cri = s.cri()
    before = veths()
    n = 4
    results: dict[int, Any] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(n)

    def one(i: int) -> None:
        try:
            barrier.wait(30)
            ann = {NETWORKS: "macvlan-conf,other@custom"}
            sid = cri.run_pod(f"multus-par-{i}", "rt-multus", None, ann)
            try:
                st = cri.status(sid)
                links = netns_links(st.netns)
                results[i] = (st, _assert_attached(st, links, ""))
            finally:
                cri.stop_pod(sid)
                cri.remove_pod(sid)
        except BaseException as e:  # noqa: BLE001  (collected and re-raised in the test thread)
            errors.append(e)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    print(f"\n{n} concurrent pods (run + stop + remove): {time.perf_counter() - t0:.1f} s")
    assert not errors, f"{errors}\n{s.log_tail()}"
    assert len(results) == n
    for ifname in ("eth0", "net1", "custom"):
        addrs = [r[1][ifname] for r in results.values()]
        assert len(set(addrs)) == n, f"{ifname} addresses not unique: {addrs}"
    for st, _ in results.values():
        assert netns_gone(st.netns)
    _assert_clean(s, before)


def test_default_network_annotation_replaces_the_cluster_network(multus_net: Setup) -> None:
    """``v1.multus-cni.io/default-network`` (from the runtime's annotations) makes ``other`` eth0."""
    s = multus_net
    before = veths()
    ann = {"v1.multus-cni.io/default-network": "other", NETWORKS: "macvlan-conf"}
    with s.cri().pod("multus-defnet", "rt-multus", None, ann) as st:
        links = netns_links(st.netns)
        assert set(links) == {"lo", "eth0", "net1"}, f"{links}\n{s.log_tail()}"
        assert in_subnet(links["eth0"]["addrs"][0], OTHER) and in_subnet(links["net1"]["addrs"][0], MACVLAN)
        assert st.ip == links["eth0"]["addrs"][0].split("/")[0]
        assert [lease.split("/")[0] for lease in leases(s.ipam)] == sorted(["other", "macvlan-conf"])
    _assert_clean(s, before, st.netns)


def _nat_rules() -> str:
    return subprocess.run(["iptables", "-t", "nat", "-S"], capture_output=True, text=True, check=True).stdout


@pytest.mark.skipif(shutil.which("iptables") is None, reason="portmap needs iptables")
def test_port_mappings_reach_the_cluster_networks_portmap(containerd: Containerd, tmp_path: Path) -> None:
    """multus declares ``portMappings``: containerd's port mappings go to the cluster network's
    portmap plugin (it declares the capability too), the DNAT rules disappear with the pod."""
    conf_dir, cni_dir, ipam = tmp_path / "multus.d", tmp_path / "cni", tmp_path / "ipam"
    cluster = bridge_net("rtc-pm-cluster", "rtc-br2", "10.250.43.0/24", ipam)
    cluster["plugins"].append({"type": "portmap", "capabilities": {"portMappings": True}})
    write_net(conf_dir, "10-cluster.conflist", cluster)
    write_net(conf_dir, "30-other.conflist", bridge_net("other", "rtc-br3", "10.250.44.0/24", ipam))
    log = tmp_path / "multus.log"
    conf = {
        "cniVersion": "1.0.0", "name": "multus-cni-network", "type": "multus",
        "capabilities": {POD_ANNOTATIONS_CAP: True, "portMappings": True},
        "confDir": str(conf_dir), "cniDir": str(cni_dir), "binDir": str(containerd.cni_bin_dir),
        "clusterNetwork": "rtc-pm-cluster", "logFile": str(log), "logLevel": "verbose", "logToStderr": False,
    }
    containerd.set_network(conf, "00-multus.conf")
    before = veths()
    cri = containerd.cri()
    with cri.pod("multus-ports", "rt-multus", None, {NETWORKS: "other"},
                 port_mappings=[(8080, 18080, "tcp")]) as st:
        links = netns_links(st.netns)
        assert {"eth0", "net1"} <= set(links), f"{links}\n{multus_log_tail(log)}"
        rules = _nat_rules()
        assert "--dport 18080" in rules and f"{st.ip}:8080" in rules, rules
        # only the cluster network declares portMappings: net1's address is never a DNAT target
        net1_ip = links["net1"]["addrs"][0].split("/")[0]
        assert f"{net1_ip}:8080" not in rules
    rules = _nat_rules()
    assert "--dport 18080" not in rules and f"{st.ip}:8080" not in rules, rules
    assert veths() == before and leases(ipam) == [] and cache_files(cni_dir) == []


@pytest.mark.parametrize("damage", ["deleted", "corrupt", "truncated"])
def test_stop_tears_down_when_the_scratch_cache_is_lost(multus_net: Setup, damage: str) -> None:
    """The scratch cache ``<cniDir>/<sandbox id>`` is gone or damaged by the time containerd stops the
    pod (a wiped /var/lib/cni, a crash mid-write): DEL rebuilds the delegates from libcni's result
    caches and still releases every interface and lease."""
    s = multus_net
    cri = s.cri()
    before = veths()
    sid = cri.run_pod("multus-lost", "rt-multus", None, {NETWORKS: "macvlan-conf,other@custom"})
    try:
        st = cri.status(sid)
        _assert_attached(st, netns_links(st.netns), s.log_tail())
        scratch = s.cni_dir / sid
        assert scratch.is_file()
        if damage == "deleted":
            scratch.unlink()
        elif damage == "corrupt":
            scratch.write_text("{not json")
        else:
            scratch.write_bytes(scratch.read_bytes()[: scratch.stat().st_size // 2])
    finally:
        cri.stop_pod(sid)
        cri.remove_pod(sid)
    _assert_clean(s, before, st.netns)


def test_delegates_of_older_cni_versions(containerd: Containerd, tmp_path: Path) -> None:
    """Delegates speaking 0.3.1 and 0.4.0 under a 1.0.0 multus: containerd gets a 1.0.0 result with eth0's IP."""
    conf_dir, cni_dir, ipam = tmp_path / "multus.d", tmp_path / "cni", tmp_path / "ipam"
    write_net(conf_dir, "10-cluster.conflist",
              bridge_net("rtc-old-cluster", "rtc-br4", "10.250.57.0/24", ipam, cni_version="0.3.1"))
    write_net(conf_dir, "20-other.conf",
              bridge_net("rtc-old-other", "rtc-br5", "10.250.58.0/24", ipam, cni_version="0.4.0", conflist=False))
    log = tmp_path / "multus.log"
    conf = {
        "cniVersion": "1.0.0", "name": "multus-cni-network", "type": "multus",
        "capabilities": {POD_ANNOTATIONS_CAP: True},
        "confDir": str(conf_dir), "cniDir": str(cni_dir), "binDir": str(containerd.cni_bin_dir),
        "clusterNetwork": "rtc-old-cluster", "logFile": str(log), "logLevel": "verbose", "logToStderr": False,
    }
    containerd.set_network(conf, "00-multus.conf")
    before = veths()
    with containerd.cri().pod("multus-old", "rt-multus", None, {NETWORKS: "rtc-old-other"}) as st:
        links = netns_links(st.netns)
        assert {"eth0", "net1"} <= set(links), f"{links}\n{multus_log_tail(log)}"
        assert in_subnet(links["eth0"]["addrs"][0], "10.250.57.0/24")
        assert in_subnet(links["net1"]["addrs"][0], "10.250.58.0/24")
        assert st.ip == links["eth0"]["addrs"][0].split("/")[0]
    assert veths() == before and leases(ipam) == [] and cache_files(cni_dir) == []
