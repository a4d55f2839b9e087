"""The thin ``multus`` executable with the real reference plugins in real network namespaces.

Every test runs ``python -m multus.cli.thin`` as a runtime would, inside the lab host namespace
(pytest enters it with ``--multus-lab``, on by default in pyproject), with pod namespaces from the
``pod_netns`` fixture. Delegates are Debian's plugins in /usr/lib/cni: bridge + host-local for the
cluster network, macvlan on a veth end of the lab host namespace for secondary networks, tuning,
static. Addresses are in 10.250.0.0/16; host-local data, cniDir and confDir live in tmp_path.
"""

from __future__ import annotations

import base64
import json
import os
import re
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from thinkit import (
    CNI_BIN,
    NETWORKS,
    Node,
    Pod,
    describe,
    error_of,
    sh,
)

from multus.testing.recorder import read_calls

pytestmark = pytest.mark.root

K8S_NETWORKS = NETWORKS


def in_subnet(addresses: list[str], subnet: str) -> bool:
    import ipaddress

    net = ipaddress.ip_network(subnet)
    return any(ipaddress.ip_interface(a).ip in net for a in addresses)


def subnet_of(conf: dict[str, Any]) -> str:
    if "plugins" in conf:
        conf = conf["plugins"][0]
    return str(conf["ipam"]["subnet"])


def gateway_of(conf: dict[str, Any]) -> str:
    return subnet_of(conf).rsplit(".", 1)[0] + ".1"


# ------------------------------------------------------------------------------------ static delegates

def test_static_delegates_add_check_del(node: Node) -> None:
    br = node.bridge("brnet")
    conf = node.multus(delegates=[br])
    pod = node.pod()

    res = node.add(conf, pod)
    assert res["cniVersion"] == "1.0.0"
    eth0 = [i for i in res["interfaces"] if i.get("sandbox") == pod.path]
    assert [i["name"] for i in eth0] == ["eth0"]
    assert len(res["ips"]) == 1 and in_subnet([res["ips"][0]["address"]], subnet_of(br))
    assert "version" not in res["ips"][0]
    assert node.links(pod) == ["lo", "eth0"]
    assert in_subnet(node.addresses(pod, "eth0"), subnet_of(br))
    assert node.default_routes(pod) == [("eth0", gateway_of(br))]
    assert len(node.leases_of(pod)) == 1

    out = node.run("CHECK", conf, pod)
    assert out.returncode == 0 and out.stdout.strip() == "", describe(out)

    node.delete(conf, pod)
    node.assert_clean(pod)
    assert node.cni_dir_files() == []
    # containerd's second DEL: no netns, nothing cached any more
    node.delete(conf, pod, netns="")
    node.assert_clean(pod)


def test_two_static_delegates_get_eth0_and_net1(node: Node) -> None:
    br = node.bridge("brnet")
    mv = node.macvlan("mvnet")
    conf = node.multus(delegates=[br, mv])
    pod = node.pod()
    node.add(conf, pod)
    assert sorted(node.links(pod)) == ["eth0", "lo", "net1"]
    assert in_subnet(node.addresses(pod, "net1"), subnet_of(mv))
    assert node.run("CHECK", conf, pod).returncode == 0
    node.delete(conf, pod)
    node.assert_clean(pod)


def test_conflist_delegate_bridge_host_local_tuning(node: Node) -> None:
    br = node.bridge("brlist")
    del br["cniVersion"], br["name"]
    # an explicit key: tuning 1.1.x substitutes IFNAME on ADD but not on CHECK
    lst = {"cniVersion": "1.0.0", "name": "brlist",
           "plugins": [br, {"type": "tuning", "sysctl": {"net.ipv4.conf.eth0.arp_filter": "1"}}]}
    conf = node.multus(delegates=[lst])
    pod = node.pod()
    node.add(conf, pod)
    assert node.links(pod) == ["lo", "eth0"]
    assert node.sysctl(pod, "net.ipv4.conf.eth0.arp_filter") == "1"
    out = node.run("CHECK", conf, pod)
    assert out.returncode == 0, describe(out)
    node.delete(conf, pod)
    node.assert_clean(pod)
    assert node.cni_dir_files() == []


# ------------------------------------------------------------------------------------ clusterNetwork

@pytest.mark.parametrize("form", ["cni-name", "directory", "conflist-file", "conf-file"])
def test_cluster_network_forms(node: Node, form: str) -> None:
    cluster_dir = node.tmp / "cluster.d"
    br = node.bridge("cluster")
    sysctl_expected = None
    if form == "cni-name":
        node.write_conf("10-cluster.conf", br)
        # a file whose name differs is not picked
        node.write_conf("05-other.conf", {**node.bridge("other"), "type": "does-not-exist"})
        cluster = "cluster"
    elif form == "directory":
        node.write_conf("10-cluster.conf", br, cluster_dir)
        node.write_conf("20-later.conf", {**node.bridge("later"), "type": "does-not-exist"}, cluster_dir)
        cluster = str(cluster_dir)
    elif form == "conflist-file":
        plugin = {k: v for k, v in br.items() if k not in ("cniVersion", "name")}
        node.write_conf("10-cluster.conflist", {"cniVersion": "1.0.0", "name": "clist", "plugins": [plugin]},
                        cluster_dir)
        # libcni's subdirectory chaining: plugins of <dir>/<list name>/ are appended
        node.write_conf("50-tuning.conf", {"type": "tuning", "sysctl": {"net.ipv4.conf.IFNAME.arp_filter": "1"}},
                        cluster_dir / "clist")
        sysctl_expected = "1"
        cluster = str(cluster_dir / "10-cluster.conflist")
    else:
        cluster = str(node.write_conf("10-cluster.conf", br, cluster_dir))
    conf = node.multus(clusterNetwork=cluster)
    pod = node.pod()

    res = node.add(conf, pod)
    assert node.links(pod) == ["lo", "eth0"]
    assert in_subnet(node.addresses(pod, "eth0"), subnet_of(br))
    assert in_subnet([ip["address"] for ip in res["ips"]], subnet_of(br))
    if sysctl_expected is not None:
        assert node.sysctl(pod, "net.ipv4.conf.eth0.arp_filter") == sysctl_expected
    else:  # tuning 1.1.x does not substitute IFNAME on CHECK
        out = node.run("CHECK", conf, pod)
        assert out.returncode == 0, describe(out)
    node.delete(conf, pod)
    node.assert_clean(pod)
    assert node.cni_dir_files() == []


def test_cluster_network_not_found(node: Node) -> None:
    conf = node.multus(clusterNetwork="no-such-network")
    pod = node.pod()
    err = error_of(node.run("ADD", conf, pod))
    assert err["code"] == 7
    assert "no-such-network" in err["msg"]
    node.assert_clean(pod)


@pytest.mark.parametrize(("namespace", "expected"), [("default", ["eth0", "lo", "net1"]),
                                                     ("kube-system", ["eth0", "lo"])])
def test_default_networks(node: Node, namespace: str, expected: list[str]) -> None:
    br = node.bridge("cluster")
    mv = node.macvlan("mv-default")
    cluster = node.write_conf("10-cluster.conf", br, node.tmp / "cluster.d")
    node.write_conf("20-mv.conf", mv)
    conf = node.multus(clusterNetwork=str(cluster), defaultNetworks=["mv-default"])
    pod = node.pod(namespace=namespace)
    node.add(conf, pod)
    assert sorted(node.links(pod)) == expected
    if "net1" in expected:
        assert in_subnet(node.addresses(pod, "net1"), subnet_of(mv))
    node.delete(conf, pod)
    node.assert_clean(pod)


def test_default_networks_then_annotation_networks(node: Node) -> None:
    br = node.bridge("cluster")
    master = node.host_link()
    mv_default = node.macvlan("mv-default", master)
    mv_pod = node.macvlan("mv-pod", master)
    cluster = node.write_conf("10-cluster.conf", br, node.tmp / "cluster.d")
    node.write_conf("20-mv-default.conf", mv_default)
    node.write_conf("21-mv-pod.conf", mv_pod)
    conf = node.multus(clusterNetwork=str(cluster), defaultNetworks=["mv-default"],
                       annotations={K8S_NETWORKS: "mv-pod"})
    pod = node.pod()
    node.add(conf, pod)
    assert sorted(node.links(pod)) == ["eth0", "lo", "net1", "net2"]
    assert in_subnet(node.addresses(pod, "net1"), subnet_of(mv_default))
    assert in_subnet(node.addresses(pod, "net2"), subnet_of(mv_pod))
    node.delete(conf, pod)
    node.assert_clean(pod)


# ------------------------------------------------------------------------------------ pod annotations

def test_same_network_twice(node: Node) -> None:
    br = node.bridge("brnet")
    mv = node.macvlan("mvnet")
    node.write_conf("20-mvnet.conf", mv)
    conf = node.multus(delegates=[br], annotations={K8S_NETWORKS: "mvnet,mvnet"})
    pod = node.pod()
    node.add(conf, pod)
    assert sorted(node.links(pod)) == ["eth0", "lo", "net1", "net2"]
    assert node.addresses(pod, "net1") != node.addresses(pod, "net2")
    assert len(node.leases_of(pod)) == 3
    node.delete(conf, pod)
    node.assert_clean(pod)
    assert node.cni_dir_files() == []


@pytest.mark.parametrize(("annotation", "allowed"), [("mvnet", True), ("team-a/mvnet", True),
                                                     ("default/mvnet", True), ("team-b/mvnet", False)])
def test_namespace_isolation(node: Node, annotation: str, allowed: bool) -> None:
    node.write_conf("20-mvnet.conf", node.macvlan("mvnet"))
    conf = node.multus(delegates=[node.bridge("brnet")], namespaceIsolation=True,
                       annotations={K8S_NETWORKS: annotation})
    pod = node.pod(namespace="team-a")
    if allowed:
        node.add(conf, pod)
        assert "net1" in node.links(pod)
        node.delete(conf, pod)
    else:
        err = error_of(node.run("ADD", conf, pod))
        assert err["code"] == 7 and "namespace isolation" in err["msg"], err
    node.assert_clean(pod)


@pytest.mark.parametrize("annotation", ["mvnet", "default/mvnet", " mvnet ", '[{"name": "mvnet"}]',
                                        '[{"name": "mvnet", "namespace": "default"}]'])
def test_annotation_networks_from_conf_dir(node: Node, annotation: str) -> None:
    br = node.bridge("brnet")
    mv = node.macvlan("mvnet")
    node.write_conf("20-mvnet.conf", mv)
    conf = node.multus(delegates=[br], annotations={K8S_NETWORKS: annotation})
    pod = node.pod()
    node.add(conf, pod)
    assert sorted(node.links(pod)) == ["eth0", "lo", "net1"]
    assert in_subnet(node.addresses(pod, "net1"), subnet_of(mv))
    assert node.run("CHECK", conf, pod).returncode == 0
    node.delete(conf, pod)
    node.assert_clean(pod)
    assert node.cni_dir_files() == []


def test_annotation_conflist_network(node: Node) -> None:
    br = node.bridge("brnet")
    mv = node.macvlan("mvlist")
    plugin = {k: v for k, v in mv.items() if k not in ("cniVersion", "name")}
    node.write_conf("20-mvlist.conflist", {"cniVersion": "1.0.0", "name": "mvlist", "plugins": [
        plugin, {"type": "tuning", "sysctl": {"net.ipv4.conf.IFNAME.arp_filter": "1"}}]})
    conf = node.multus(delegates=[br], annotations={K8S_NETWORKS: "mvlist"})
    pod = node.pod()
    node.add(conf, pod)
    assert node.sysctl(pod, "net.ipv4.conf.net1.arp_filter") == "1"
    assert node.sysctl(pod, "net.ipv4.conf.eth0.arp_filter") == "0"
    node.delete(conf, pod)
    node.assert_clean(pod)


@pytest.mark.parametrize(("annotation", "expected"), [
    ("mva, mvb", ["eth0", "lo", "net1", "net2"]),
    ("mva@custom0, mvb", ["custom0", "eth0", "lo", "net2"]),        # a custom name consumes its index
    ("mva, mvb@custom1", ["custom1", "eth0", "lo", "net1"]),
    ('[{"name": "mva", "interface": "data0"}, {"name": "mvb"}]', ["data0", "eth0", "lo", "net2"]),
    ("mva@my_interface", ["eth0", "lo", "my_interface"]),
])
def test_interface_naming(node: Node, annotation: str, expected: list[str]) -> None:
    br = node.bridge("brnet")
    master = node.host_link()
    node.write_conf("20-mva.conf", node.macvlan("mva", master))
    node.write_conf("21-mvb.conf", node.macvlan("mvb", master))
    conf = node.multus(delegates=[br], annotations={K8S_NETWORKS: annotation})
    pod = node.pod()
    node.add(conf, pod)
    assert sorted(node.links(pod)) == expected
    node.delete(conf, pod)
    node.assert_clean(pod)


def test_interface_name_requested_twice(node: Node) -> None:
    """``mva@eth0`` asks for the cluster network's name: the plan refuses it before anything runs."""
    br = node.bridge("brnet")
    node.write_conf("20-mva.conf", node.macvlan("mva"))
    conf = node.multus(delegates=[br], annotations={K8S_NETWORKS: "mva@eth0"})
    pod = node.pod()
    err = error_of(node.run("ADD", conf, pod))
    assert (err["code"], err["msg"]) == (7, "interface name 'eth0' is requested twice (network 'default/mva')"), err
    node.assert_clean(pod)
    assert node.leases() == [] and node.cni_dir_files() == []


def test_interface_name_already_in_pod(node: Node) -> None:
    """An interface the pod's netns already has (here ``net1``, made before ADD) is not overwritten:
    ADD fails before any delegate runs, and the pod's own link is left alone."""
    br = node.bridge("brnet")
    node.write_conf("20-mva.conf", node.macvlan("mva"))
    conf = node.multus(delegates=[br], annotations={K8S_NETWORKS: "mva"})
    pod = node.pod()
    sh("ip", "-n", pod.netns, "link", "add", "net1", "type", "veth", "peer", "name", "net1peer")
    err = error_of(node.run("ADD", conf, pod))
    msg = ('DelegateAdd: cannot set "macvlan" interface name to "net1": '
           "validateIfName: interface name net1 already exists")
    assert (err["code"], err["msg"]) == (100, msg), err
    assert sorted(node.links(pod)) == ["lo", "net1", "net1peer"]  # no eth0: nothing ran
    assert node.leases() == [] and node.cni_dir_files() == []


@pytest.mark.parametrize("capabilities", [False, True], ids=["cni-args-only", "runtime-config"])
def test_static_ip_and_mac(node: Node, capabilities: bool) -> None:
    """``ips``/``mac`` of the selection reach the delegate as ``IP=``/``MAC=`` CNI_ARGS and, when it
    declares the capabilities, as runtimeConfig ``ips``/``mac``."""
    br = node.bridge("brnet")
    mv = node.macvlan("mvstatic", ipam={"type": "static"})
    if capabilities:
        mv["capabilities"] = {"ips": True, "mac": True}
    node.write_conf("20-mvstatic.conf", mv)
    ip, mac = "10.250.250.10/24", "02:11:22:33:44:55"
    annotation = json.dumps([{"name": "mvstatic", "ips": [ip], "mac": mac}])
    conf = node.multus(delegates=[br], annotations={K8S_NETWORKS: annotation})
    pod = node.pod()
    node.add(conf, pod)
    assert node.addresses(pod, "net1") == [ip]
    link = node.link(pod, "net1")
    assert link is not None and link["address"] == mac
    cached = json.loads((node.cni_dir / "results" / f"mvstatic-{pod.container_id}-net1").read_text())
    assert ["IP", ip] in cached["cniArgs"] and ["MAC", mac] in cached["cniArgs"]
    assert cached["capabilityArgs"]["ips"] == [ip] and cached["capabilityArgs"]["mac"] == mac
    # the master gets none of it
    master = json.loads((node.cni_dir / "results" / f"brnet-{pod.container_id}-eth0").read_text())
    assert not any(k in ("IP", "MAC") for k, _ in master["cniArgs"])
    assert "ips" not in master.get("capabilityArgs", {})
    assert node.run("CHECK", conf, pod).returncode == 0
    node.delete(conf, pod)
    node.assert_clean(pod)


def test_runtime_ip_and_mac_args_reach_delegates(node: Node,
                                                recording_plugin: Callable[[str], tuple[str, str]]) -> None:
    """A runtime's own ``IP=``/``MAC=`` (podman --ip/--mac-address) are passed on in CNI_ARGS."""
    rec_bin, log = recording_plugin("recplug")
    conf = node.multus(delegates=[{"cniVersion": "1.0.0", "name": "recnet", "type": "recplug"}])
    pod = node.pod()
    node.add(conf, pod, args=pod.cni_args + ";IP=10.250.251.7;MAC=02:00:00:00:00:07", path=f"{rec_bin}:{CNI_BIN}")
    pairs = [p.split("=", 1) for p in read_calls(log)[0]["env"]["CNI_ARGS"].split(";")]
    assert ["IP", "10.250.251.7"] in pairs and ["MAC", "02:00:00:00:00:07"] in pairs
    node.delete(conf, pod, path=f"{rec_bin}:{CNI_BIN}")


def test_cni_args_merged_into_args_cni(node: Node, recording_plugin: Callable[[str], tuple[str, str]]) -> None:
    rec_bin, log = recording_plugin("recplug")
    br = node.bridge("brnet")
    node.write_conf("20-rec.conf", {"cniVersion": "1.0.0", "name": "recnet", "type": "recplug",
                                    "args": {"cni": {"keep": "me", "over": "old"}}})
    node.write_conf("30-reclist.conflist", {"cniVersion": "1.0.0", "name": "reclist", "plugins": [
        {"type": "recplug"}, {"type": "recplug", "args": {"cni": {"other": True}}}]})
    annotation = json.dumps([{"name": "recnet", "cni-args": {"over": "new", "extra": 1}},
                             {"name": "reclist", "cni-args": {"foo": "bar"}}])
    conf = node.multus(delegates=[br], annotations={K8S_NETWORKS: annotation})
    pod = node.pod()
    node.add(conf, pod, path=f"{rec_bin}:{CNI_BIN}")
    adds = [c for c in read_calls(log) if c["env"]["CNI_COMMAND"] == "ADD"]
    assert len(adds) == 3
    assert adds[0]["env"]["CNI_IFNAME"] == "net1"
    assert adds[0]["stdin"]["args"]["cni"] == {"keep": "me", "over": "new", "extra": 1}
    assert adds[1]["env"]["CNI_IFNAME"] == "net2"
    assert adds[1]["stdin"]["args"]["cni"] == {"foo": "bar"}
    assert adds[2]["stdin"]["args"]["cni"] == {"other": True, "foo": "bar"}
    # the file in confDir is not modified
    assert json.loads((node.conf_dir / "20-rec.conf").read_text())["args"]["cni"] == {"keep": "me", "over": "old"}
    # DEL sends the same merged configuration
    node.delete(conf, pod, path=f"{rec_bin}:{CNI_BIN}")
    dels = [c for c in read_calls(log) if c["env"]["CNI_COMMAND"] == "DEL"]
    assert {json.dumps(c["stdin"]["args"]["cni"], sort_keys=True) for c in dels} == {
        json.dumps({"keep": "me", "over": "new", "extra": 1}, sort_keys=True),
        json.dumps({"foo": "bar"}, sort_keys=True), json.dumps({"other": True, "foo": "bar"}, sort_keys=True)}
    node.assert_clean(pod)


def test_pod_cni_args_reach_delegates(node: Node, recording_plugin: Callable[[str], tuple[str, str]]) -> None:
    rec_bin, log = recording_plugin("recplug")
    conf = node.multus(delegates=[{"cniVersion": "1.0.0", "name": "recnet", "type": "recplug"}])
    pod = node.pod()
    node.add(conf, pod, path=f"{rec_bin}:{CNI_BIN}")
    args = dict(p.split("=", 1) for p in read_calls(log)[0]["env"]["CNI_ARGS"].split(";"))
    assert args["K8S_POD_NAMESPACE"] == pod.namespace
    assert args["K8S_POD_NAME"] == pod.name
    assert args["K8S_POD_INFRA_CONTAINER_ID"] == pod.container_id
    assert args["K8S_POD_UID"] == pod.uid
    assert args["IgnoreUnknown"] in ("1", "true")
    node.delete(conf, pod, path=f"{rec_bin}:{CNI_BIN}")


# ------------------------------------------------------------------------------------ result versions

@pytest.mark.parametrize(("multus_version", "delegate_version"), [
    ("1.0.0", "0.3.1"), ("1.1.0", "0.3.1"), ("0.4.0", "1.0.0"), ("0.4.0", "0.3.1"), ("0.3.1", "1.0.0"),
    ("1.0.0", "0.4.0"), ("1.1.0", "1.0.0"), ("0.2.0", "1.0.0"), ("0.2.0", "0.3.1"),
])
def test_result_converted_to_multus_version(node: Node, multus_version: str, delegate_version: str) -> None:
    br = node.bridge("brnet", cni_version=delegate_version)
    conf = node.multus(cni_version=multus_version, delegates=[br])
    pod = node.pod()
    res = node.add(conf, pod)
    assert res["cniVersion"] == multus_version
    if multus_version in ("0.1.0", "0.2.0"):
        assert in_subnet([res["ip4"]["ip"]], subnet_of(br))
        assert res["ip4"]["gateway"] == gateway_of(br)
        assert "interfaces" not in res and "ips" not in res
        node.delete(conf, pod)
        node.assert_clean(pod)
        return
    eth0 = [i for i in res["interfaces"] if i.get("sandbox") == pod.path]
    assert [i["name"] for i in eth0] == ["eth0"]
    assert len(res["ips"]) == 1
    ip = res["ips"][0]
    assert in_subnet([ip["address"]], subnet_of(br))
    if multus_version.startswith("0."):
        assert ip["version"] == "4"
    else:
        assert "version" not in ip
    assert res["interfaces"][ip["interface"]]["name"] == "eth0"
    # the cached result keeps the delegate's own version
    cached = json.loads((node.cni_dir / "results" / f"brnet-{pod.container_id}-eth0").read_text())
    assert cached["result"]["cniVersion"] == delegate_version
    if multus_version != "0.3.1":
        out = node.run("CHECK", conf, pod)
        assert out.returncode == 0, describe(out)
    node.delete(conf, pod)
    node.assert_clean(pod)


@pytest.mark.parametrize("gone", ["eth0", "net1"])
def test_check_fails_when_interface_is_gone(node: Node, gone: str) -> None:
    """CHECK covers every attached network, the annotation's too: the CHECKs that pass elsewhere in
    this suite would fail if an interface were missing."""
    node.write_conf("20-mvnet.conf", node.macvlan("mvnet"))
    conf = node.multus(delegates=[node.bridge("brnet")], annotations={K8S_NETWORKS: "mvnet"})
    pod = node.pod()
    node.add(conf, pod)
    out = node.run("CHECK", conf, pod)
    assert out.returncode == 0 and out.stdout.strip() == "", describe(out)
    sh("ip", "-n", pod.netns, "link", "del", gone)
    err = error_of(node.run("CHECK", conf, pod))
    network = "brnet" if gone == "eth0" else "mvnet"
    assert err["msg"].startswith(f"DelegateCheck: error invoking {network} ({gone}): "), err
    assert f"{gone} not found" in err["msg"], err
    node.delete(conf, pod)
    node.assert_clean(pod)


# ------------------------------------------------------------------------------------ the cache

def test_cache_file_is_upstream_format(node: Node) -> None:
    br = node.bridge("brnet")
    mv = node.macvlan("mvnet")
    lst_plugin = {k: v for k, v in node.macvlan("mvlist").items() if k not in ("cniVersion", "name")}
    lst = {"cniVersion": "1.0.0", "name": "mvlist", "plugins": [lst_plugin]}
    node.write_conf("20-mvnet.conf", mv)
    node.write_conf("30-mvlist.conflist", lst)
    conf = node.multus(delegates=[br], annotations={K8S_NETWORKS: "mvnet@data1,mvlist"})
    pod = node.pod()
    node.add(conf, pod)

    path = node.cache_path(pod)
    mode = stat.S_IMODE(os.stat(path).st_mode)
    assert mode == 0o600, oct(mode)
    entries = node.cache(pod)
    assert isinstance(entries, list) and len(entries) == 3
    for e in entries:
        assert {"Conf", "ConfList", "Name", "IsFilterV4Gateway", "IsFilterV6Gateway", "Bytes"} <= set(e)
        assert isinstance(e["Conf"], dict) and isinstance(e["ConfList"], dict)
        assert isinstance(e["IsFilterV4Gateway"], bool) and isinstance(e["IsFilterV6Gateway"], bool)
        assert isinstance(e["Bytes"], str)
        json.loads(base64.b64decode(e["Bytes"], validate=True))
    master, data1, listed = entries
    # master: a conf, no ifname request
    assert "ifnameRequest" not in master
    assert master["Conf"]["type"] == "bridge" and master["Conf"]["name"] == "brnet"
    assert master["Conf"]["ipam"] == {"type": "host-local"}
    assert master["ConfList"] == {}
    assert json.loads(base64.b64decode(master["Bytes"])) == br
    # the annotation's requested name
    assert data1["ifnameRequest"] == "data1"
    assert data1["Conf"]["type"] == "macvlan"
    assert json.loads(base64.b64decode(data1["Bytes"])) == mv
    # a conflist: ConfList carries the plugins
    assert listed.get("ifnameRequest", "net2") == "net2"
    assert listed["ConfList"]["name"] == "mvlist"
    assert [p["type"] for p in listed["ConfList"]["plugins"]] == ["macvlan"]
    assert json.loads(base64.b64decode(listed["Bytes"])) == lst
    # no temporary file left next to it
    assert sorted(node.cni_dir_files()) == sorted([
        pod.container_id, f"results/brnet-{pod.container_id}-eth0",
        f"results/mvnet-{pod.container_id}-data1", f"results/mvlist-{pod.container_id}-net2"])
    node.delete(conf, pod)
    node.assert_clean(pod)
    assert node.cni_dir_files() == []


def test_cni_dir_is_private(node: Node) -> None:
    """The cache holds network configurations: cniDir is created 0700 like upstream's
    ``os.MkdirAll(dataDir, 0700)``, and so is its results directory."""
    conf = node.multus(delegates=[node.bridge("brnet")])
    pod = node.pod()
    node.add(conf, pod)
    for d in (node.cni_dir, node.cni_dir / "results"):
        mode = stat.S_IMODE(os.stat(d).st_mode)
        assert mode == 0o700, f"{d}: {oct(mode)}"
    node.delete(conf, pod)


@pytest.mark.parametrize("master_form", ["conf", "conflist"])
def test_del_from_cache_written_by_upstream(node: Node, master_form: str) -> None:
    """A cache file in exactly the keys Go's json.Marshal of DelegateNetConf writes."""
    if master_form == "conf":
        master = node.bridge("brnet")
        master_entry = {"Conf": {"cniVersion": "1.0.0", "name": "brnet", "type": "bridge",
                                 "ipam": {"type": "host-local"}, "dns": {}},
                        "ConfList": {}, "Name": "brnet"}
    else:
        plugin = {k: v for k, v in node.bridge("brlist").items() if k not in ("cniVersion", "name")}
        master = {"cniVersion": "1.0.0", "name": "brlist", "plugins": [
            plugin, {"type": "tuning", "sysctl": {"net.ipv4.conf.IFNAME.arp_filter": "1"}}]}
        master_entry = {"Conf": {"ipam": {}, "dns": {}},
                        "ConfList": {"cniVersion": "1.0.0", "name": "brlist", "plugins": [
                            {"type": "bridge", "ipam": {"type": "host-local"}, "dns": {}},
                            {"type": "tuning", "ipam": {}, "dns": {}}]},
                        "Name": "brlist"}
    mv = node.macvlan("mvnet")
    mv2 = node.macvlan("mvauto")
    node.write_conf("20-mvnet.conf", mv)
    node.write_conf("21-mvauto.conf", mv2)
    conf = node.multus(delegates=[master], annotations={K8S_NETWORKS: "mvnet@data1,mvauto"})
    pod = node.pod()
    node.add(conf, pod)
    assert sorted(node.links(pod)) == ["data1", "eth0", "lo", "net2"]

    def raw(c: dict[str, Any]) -> str:
        return base64.b64encode(json.dumps(c, separators=(",", ":")).encode()).decode()

    upstream = [
        {**master_entry, "IsFilterV4Gateway": False, "IsFilterV6Gateway": False, "Bytes": raw(master)},
        {"Conf": {"cniVersion": "1.0.0", "name": "mvnet", "type": "macvlan", "ipam": {"type": "host-local"},
                  "dns": {}},
         "ConfList": {}, "Name": "default/mvnet", "ifnameRequest": "data1",
         "IsFilterV4Gateway": False, "IsFilterV6Gateway": False, "Bytes": raw(mv)},
        # no ifnameRequest: upstream derives net<index> from the position
        {"Conf": {"cniVersion": "1.0.0", "name": "mvauto", "type": "macvlan", "ipam": {"type": "host-local"},
                  "dns": {}},
         "ConfList": {}, "Name": "default/mvauto",
         "IsFilterV4Gateway": False, "IsFilterV6Gateway": False, "Bytes": raw(mv2)},
    ]
    node.cache_path(pod).write_text(json.dumps(upstream, separators=(",", ":")))
    node.delete(conf, pod)
    node.assert_clean(pod)
    assert node.cni_dir_files() == []


@pytest.mark.parametrize("damage", ["missing", "corrupt", "not-an-array", "empty", "truncated"])
def test_del_without_usable_cache_rebuilds_from_results(node: Node, damage: str) -> None:
    br = node.bridge("brnet")
    mv = node.macvlan("mvnet")
    node.write_conf("20-mvnet.conf", mv)
    conf = node.multus(delegates=[br], annotations={K8S_NETWORKS: "mvnet"})
    pod = node.pod()
    node.add(conf, pod)
    assert len(node.leases_of(pod)) == 2
    path = node.cache_path(pod)
    if damage == "missing":
        path.unlink()
    elif damage == "corrupt":
        path.write_text("{this is not json")
    elif damage == "not-an-array":
        path.write_text(json.dumps({"Conf": {}}))
    elif damage == "empty":
        path.write_text("")
    else:
        path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    # the runtime's DEL does not carry the pod annotation any more
    node.delete(node.multus(delegates=[br]), pod)
    node.assert_clean(pod)
    assert node.cni_dir_files() == []


# ------------------------------------------------------------------------------------ default-route

def test_default_route_moves_to_net1(node: Node) -> None:
    br = node.bridge("brnet")
    mv = node.macvlan("mvgw", ipam=node.ipam(default_route=False))
    gw = gateway_of(mv)
    node.write_conf("20-mvgw.conf", mv)
    annotation = json.dumps([{"name": "mvgw", "default-route": [gw]}])
    conf = node.multus(delegates=[br], annotations={K8S_NETWORKS: annotation})
    pod = node.pod()
    node.add(conf, pod)
    assert node.default_routes(pod) == [("net1", gw)]
    # the cached results say the same, so CHECK agrees
    out = node.run("CHECK", conf, pod)
    assert out.returncode == 0, describe(out)
    cached = json.loads((node.cni_dir / "results" / f"mvgw-{pod.container_id}-net1").read_text())
    assert {"dst": "0.0.0.0/0", "gw": gw} in cached["result"]["routes"]
    cached0 = json.loads((node.cni_dir / "results" / f"brnet-{pod.container_id}-eth0").read_text())
    assert not any(r.get("dst") == "0.0.0.0/0" for r in cached0["result"].get("routes") or [])
    node.delete(conf, pod)
    node.assert_clean(pod)


def test_empty_default_route_only_strips_net1(node: Node) -> None:
    """``"default-route": []`` removes net1's default route; eth0's stays (upstream #1011 fixed)."""
    br = node.bridge("brnet")
    mv = node.macvlan("mvgw", ipam=node.ipam(default_route=True))
    node.write_conf("20-mvgw.conf", mv)
    annotation = json.dumps([{"name": "mvgw", "default-route": []}])
    conf = node.multus(delegates=[br], annotations={K8S_NETWORKS: annotation})
    pod = node.pod()
    node.add(conf, pod)
    assert node.default_routes(pod) == [("eth0", gateway_of(br))]
    out = node.run("CHECK", conf, pod)
    assert out.returncode == 0, describe(out)
    node.delete(conf, pod)
    node.assert_clean(pod)


def test_default_route_ecmp_refused(node: Node) -> None:
    br = node.bridge("brnet")
    master = node.host_link()
    a = node.macvlan("mva", master, ipam=node.ipam(default_route=False))
    b = node.macvlan("mvb", master, ipam=node.ipam(default_route=False))
    node.write_conf("20-a.conf", a)
    node.write_conf("21-b.conf", b)
    annotation = json.dumps([{"name": "mva", "default-route": [gateway_of(a)]},
                             {"name": "mvb", "default-route": [gateway_of(b)]}])
    conf = node.multus(delegates=[br], annotations={K8S_NETWORKS: annotation})
    pod = node.pod()
    err = error_of(node.run("ADD", conf, pod))
    assert err["code"] == 7 and "ECMP" in err["msg"]
    node.assert_clean(pod)


# ------------------------------------------------------------------------------------ GC and STATUS

def test_gc_removes_stale_pod_keeps_valid_one(node: Node) -> None:
    br = node.bridge("brnet")
    mv = node.macvlan("mvnet")
    node.write_conf("20-mvnet.conf", mv)
    conf = node.multus(cni_version="1.1.0", delegates=[br], annotations={K8S_NETWORKS: "mvnet"})
    keep, stale = node.pod(), node.pod()
    for p in (keep, stale):
        node.add(conf, p)
        assert sorted(node.links(p)) == ["eth0", "lo", "net1"]
    gc_conf = {**node.multus(cni_version="1.1.0", delegates=[br]),
               "cni.dev/valid-attachments": [{"containerID": keep.container_id, "ifname": "eth0"}]}
    out = node.run("GC", gc_conf, None, container_id="", netns="", ifname="", args="")
    assert out.returncode == 0 and out.stdout.strip() == "", describe(out)
    # the stale pod: interfaces, leases, cache and result files gone
    node.assert_clean(stale)
    # the valid one: untouched
    assert sorted(node.links(keep)) == ["eth0", "lo", "net1"]
    assert len(node.leases_of(keep)) == 2
    assert node.cache_path(keep).exists()
    assert node.run("CHECK", conf, keep).returncode == 0
    node.delete(conf, keep)
    node.assert_clean(keep)
    assert node.cni_dir_files() == []


def test_gc_of_pod_whose_netns_is_gone(node: Node) -> None:
    """The usual case: the runtime lost the sandbox; GC releases its leases and caches."""
    br = node.bridge("brnet")
    conf = node.multus(cni_version="1.1.0", delegates=[br])
    keep, stale = node.pod(), node.pod()
    for p in (keep, stale):
        node.add(conf, p)
    sh("ip", "netns", "del", stale.netns)
    # the stale pod's scratch cache is lost too: GC finds it through the result cache
    node.cache_path(stale).unlink()
    out = node.run("GC", {**conf, "cni.dev/valid-attachments": [{"containerID": keep.container_id,
                                                                   "ifname": "eth0"}]},
                   None, container_id="", netns="", ifname="", args="")
    assert out.returncode == 0, describe(out)
    assert node.leases_of(stale) == []
    assert [f for f in node.cni_dir_files() if stale.container_id in f] == []
    assert node.links(keep) == ["lo", "eth0"] and len(node.leases_of(keep)) == 1
    node.delete(conf, keep)
    node.assert_clean(keep)


def test_gc_with_an_empty_valid_list_removes_everything(node: Node) -> None:
    """An explicit empty ``cni.dev/valid-attachments``: the runtime says no pod is valid."""
    br = node.bridge("brnet")
    conf = node.multus(cni_version="1.1.0", delegates=[br])
    pods = [node.pod(), node.pod()]
    for p in pods:
        node.add(conf, p)
    out = node.run("GC", {**conf, "cni.dev/valid-attachments": []}, None, container_id="", netns="",
                   ifname="", args="")
    assert out.returncode == 0 and out.stdout.strip() == "", describe(out)
    for p in pods:
        node.assert_clean(p)
    assert node.cni_dir_files() == []


def _gc(node: Node, conf: dict[str, Any], valid: list[Pod] | None, key: str = "cni.dev/valid-attachments",
        **kw: Any) -> Any:
    gc_conf = dict(conf)
    if valid is not None:
        gc_conf[key] = [{"containerID": p.container_id, "ifname": "eth0"} for p in valid]
    return node.run("GC", gc_conf, None, container_id="", netns="", ifname="", args="", **kw)


@pytest.mark.parametrize("how", ["absent", "null"])
def test_gc_without_valid_attachments_removes_nothing(node: Node, how: str,
                                                      recording_plugin: Callable[[str], tuple[str, str]]) -> None:
    """No list of valid attachments: nothing is known to be stale, so no pod is torn down and no
    network plugin is asked to GC (it would release whatever it is not told is valid)."""
    rec_bin, log = recording_plugin("recplug")
    br = node.bridge("brnet")
    node.write_conf("20-mvnet.conf", node.macvlan("mvnet"))
    node.write_conf("30-recnet.conf", {"cniVersion": "1.1.0", "name": "recnet", "type": "recplug"})
    conf = node.multus(cni_version="1.1.0", delegates=[br], annotations={K8S_NETWORKS: "mvnet,recnet"})
    path = f"{rec_bin}:{CNI_BIN}"
    pods = [node.pod(), node.pod()]
    for p in pods:
        node.add(conf, p, path=path)
    before = {p.container_id: (sorted(node.links(p)), node.leases_of(p)) for p in pods}
    files = node.cni_dir_files()
    gc_conf = node.multus(cni_version="1.1.0", delegates=[br])
    if how == "null":
        gc_conf["cni.dev/valid-attachments"] = None
    out = node.run("GC", gc_conf, None, container_id="", netns="", ifname="", args="", path=path)
    assert out.returncode == 0 and out.stdout.strip() == "", describe(out)
    assert "no attachment is known to be stale, nothing is removed" in out.stderr
    after = {p.container_id: (sorted(node.links(p)), node.leases_of(p)) for p in pods}
    assert after == before
    assert all(links == ["eth0", "lo", "net1"] and len(leases) == 2 for links, leases in after.values())
    assert node.cni_dir_files() == files
    assert [c["env"]["CNI_COMMAND"] for c in read_calls(log)] == ["ADD", "ADD"]

    # the same request with the list: the pod left out is torn down, the networks get their GC
    out = _gc(node, gc_conf, [pods[0]], path=path)
    assert out.returncode == 0, describe(out)
    node.assert_clean(pods[1])
    assert sorted(node.links(pods[0])) == ["eth0", "lo", "net1"] and len(node.leases_of(pods[0])) == 2
    gcs = [c for c in read_calls(log) if c["env"]["CNI_COMMAND"] == "GC"]
    assert [c["stdin"]["cni.dev/valid-attachments"] for c in gcs] == [
        [{"containerID": pods[0].container_id, "ifname": "net2"}]]
    for p in pods:
        node.delete(conf, p, path=path)
    node.assert_clean(pods[0])


def test_gc_reads_the_older_attachments_key(node: Node) -> None:
    """``cni.dev/attachments`` (the name of early CNI 1.1 drafts) is the same list."""
    conf = node.multus(cni_version="1.1.0", delegates=[node.bridge("brnet")])
    keep, stale = node.pod(), node.pod()
    for p in (keep, stale):
        node.add(conf, p)
    out = _gc(node, conf, [keep], key="cni.dev/attachments")
    assert out.returncode == 0, describe(out)
    node.assert_clean(stale)
    assert node.links(keep) == ["lo", "eth0"] and len(node.leases_of(keep)) == 1
    node.delete(conf, keep)
    node.assert_clean(keep)


_OUR_CACHE_KEYS = ("master", "ifname", "runtimeConfig", "cniArgs", "selection")


@pytest.mark.parametrize("cache", ["ours", "upstream", "none"])
def test_gc_finds_the_master_interface_of_a_stale_pod(node: Node, cache: str) -> None:
    """A secondary named ``data1`` of a network whose name sorts first (``amv``) is never taken
    for the cluster network's interface: the scratch cache records the master and its name, a
    cache written by upstream (without those keys) is read through its result caches, and without
    any scratch cache every interface comes from its own result cache."""
    br = node.bridge("brnet")
    master = node.host_link()
    node.write_conf("20-amv.conf", node.macvlan("amv", master))
    node.write_conf("21-mvauto.conf", node.macvlan("mvauto", master))
    conf = node.multus(cni_version="1.1.0", delegates=[br], annotations={K8S_NETWORKS: "amv@data1,mvauto"})
    keep, stale = node.pod(), node.pod()
    for p in (keep, stale):
        node.add(conf, p)
        assert sorted(node.links(p)) == ["data1", "eth0", "lo", "net2"]
    entries = node.cache(stale)
    assert [(e["master"], e["ifname"]) for e in entries] == [(True, "eth0"), (False, "data1"), (False, "net2")]
    if cache == "upstream":
        node.cache_path(stale).write_text(json.dumps([{k: v for k, v in e.items() if k not in _OUR_CACHE_KEYS}
                                                      for e in entries]))
    elif cache == "none":
        node.cache_path(stale).unlink()

    out = _gc(node, node.multus(cni_version="1.1.0", delegates=[br]), [keep])
    assert out.returncode == 0 and out.stdout.strip() == "", describe(out)
    # each delegate of the stale pod got its DEL on its own interface, the cluster network last
    dels = re.findall(r"\] Del: [^:]*:[^:]*:[^:(]+\(([^)]*)\):(\S+)$", out.stderr, re.MULTILINE)
    assert sorted(dels) == [("amv", "data1"), ("brnet", "eth0"), ("mvauto", "net2")], out.stderr
    if cache != "none":
        assert dels[-1] == ("brnet", "eth0"), dels
    node.assert_clean(stale)
    assert sorted(node.links(keep)) == ["data1", "eth0", "lo", "net2"]
    assert len(node.leases_of(keep)) == 3 and node.cache_path(keep).exists()
    node.delete(conf, keep)
    node.assert_clean(keep)
    assert node.cni_dir_files() == []


def _status(node: Node, conf: dict[str, Any], **kw: Any) -> Any:
    return node.run("STATUS", conf, None, container_id="", netns="", ifname="", args="", **kw)


def test_status_ok(node: Node, recording_plugin: Callable[[str], tuple[str, str]]) -> None:
    """A 1.1.0 cluster network whose plugins all answer STATUS: multus is ready, and said so only
    after asking each of them (here the installed ``passthru``, then a recording plugin)."""
    passthru = installed_passthru()
    assert passthru is not None, "multus ships no `passthru` executable"
    rec_bin, log = recording_plugin("recplug")
    (Path(rec_bin) / "passthru").symlink_to(passthru)
    cluster = node.write_conf("10-ready.conflist", {"cniVersion": "1.1.0", "name": "ready",
                                                    "plugins": [{"type": "passthru"}, {"type": "recplug"}]},
                              node.tmp / "cluster.d")
    out = _status(node, node.multus(cni_version="1.1.0", clusterNetwork=str(cluster)), path=rec_bin)
    assert out.returncode == 0 and out.stdout.strip() == "", describe(out)
    calls = read_calls(log)
    assert [(c["env"]["CNI_COMMAND"], c["stdin"]["name"], c["stdin"]["cniVersion"]) for c in calls] == [
        ("STATUS", "ready", "1.1.0")]


@pytest.mark.parametrize(("code", "msg"), [(50, "the cluster network agent is not running"),
                                           (51, "no route to the service network yet")])
def test_status_fails_when_the_cluster_network_reports_failure(node: Node, code: int, msg: str) -> None:
    """The cluster network's plugin says it cannot serve ADDs: STATUS fails with its code and message."""
    node.fake_plugin("notready", f"""cat >/dev/null
[ "$CNI_COMMAND" = STATUS ] && {{ printf '{{"cniVersion":"1.1.0","code":{code},"msg":"{msg}"}}'; exit 1; }}
exit 0
""")
    conf = node.multus(cni_version="1.1.0", delegates=[{"cniVersion": "1.1.0", "name": "cluster",
                                                         "type": "notready"}])
    err = error_of(_status(node, conf))
    assert err["code"] == code and msg in err["msg"], err


def test_status_fails_with_the_real_plugins_own_error(node: Node) -> None:
    """Debian's bridge predates STATUS: given a 1.1.0 cluster network it refuses the call, and
    STATUS reports that refusal, code and message, instead of declaring the node ready."""
    br = node.bridge("brnet", cni_version="1.1.0")
    p = subprocess.run([f"{CNI_BIN}/bridge"], input=json.dumps(br).encode(), capture_output=True, timeout=60,
                       check=False, env={"CNI_COMMAND": "STATUS", "CNI_PATH": CNI_BIN, "PATH": os.environ["PATH"]})
    assert p.returncode == 1, p
    plugin_error = json.loads(p.stdout)
    err = error_of(_status(node, node.multus(cni_version="1.1.0", delegates=[br])))
    assert err["code"] == plugin_error["code"] and plugin_error["msg"] in err["msg"], (err, plugin_error)


@pytest.mark.apiserver
def test_status_of_a_cluster_network_nad_with_an_empty_spec(
        node: Node, kube_client: Any, kube_namespace: str, kube_multus_kubeconfig: Path,
        recording_plugin: Callable[[str], tuple[str, str]]) -> None:
    """``clusterNetwork`` names a NAD without a spec: STATUS resolves it to the file of that name in
    confDir, as ADD does, and hands the plugin that file's configuration."""
    from kubernetes import client

    rec_bin, log = recording_plugin("recplug")
    body = {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": "cbr0"}, "spec": {}}
    client.CustomObjectsApi(kube_client).create_namespaced_custom_object(
        "k8s.cni.cncf.io", "v1", kube_namespace, "network-attachment-definitions", body)
    node.write_conf("10-other.conf", {"cniVersion": "1.1.0", "name": "other", "type": "recplug", "which": "other"})
    node.write_conf("20-cbr0.conf", {"cniVersion": "1.1.0", "name": "cbr0", "type": "recplug", "which": "file"})
    conf = node.multus(cni_version="1.1.0", clusterNetwork="cbr0", multusNamespace=kube_namespace,
                       kubeconfig=str(kube_multus_kubeconfig))
    out = _status(node, conf, path=rec_bin)
    assert out.returncode == 0 and out.stdout.strip() == "", describe(out)
    calls = read_calls(log)
    assert [(c["env"]["CNI_COMMAND"], c["stdin"].get("name"), c["stdin"].get("which")) for c in calls] == [
        ("STATUS", "cbr0", "file")]


def test_status_asks_the_cluster_network(node: Node, recording_plugin: Callable[[str], tuple[str, str]]) -> None:
    rec_bin, log = recording_plugin("recplug")
    conf = node.multus(cni_version="1.1.0", delegates=[{"cniVersion": "1.1.0", "name": "recnet", "type": "recplug"}])
    out = node.run("STATUS", conf, None, container_id="", netns="", ifname="", args="", path=rec_bin)
    assert out.returncode == 0, describe(out)
    calls = read_calls(log)
    assert [c["env"]["CNI_COMMAND"] for c in calls] == ["STATUS"]
    assert calls[0]["stdin"]["name"] == "recnet" and calls[0]["stdin"]["cniVersion"] == "1.1.0"


@pytest.mark.parametrize("command", ["STATUS", "GC"])
def test_status_and_gc_wait_for_readiness(node: Node, command: str) -> None:
    ready = node.tmp / "ready"
    conf = node.multus(cni_version="1.1.0", delegates=[node.bridge("brnet")], readinessindicatorfile=str(ready),
                       readinessTimeout=0.3)
    err = error_of(node.run(command, conf, None, container_id="", netns="", ifname="", args=""))
    assert err["code"] == 11, err
    ready.write_text("")
    out = node.run(command, conf, None, container_id="", netns="", ifname="", args="")
    assert out.returncode == 0, describe(out)


def test_status_reports_missing_plugin(node: Node) -> None:
    conf = node.multus(cni_version="1.1.0", delegates=[{"cniVersion": "1.1.0", "name": "x", "type": "nope-plugin"}])
    err = error_of(node.run("STATUS", conf, None, container_id="", netns="", ifname="", args=""))
    assert err["code"] == 50 and "nope-plugin" in err["msg"]


# ------------------------------------------------------------------------------------ auxiliary chain

def _aux_setup(node: Node) -> tuple[dict[str, Any], str]:
    cluster_dir = node.tmp / "cluster.d"
    br = node.bridge("cluster")
    cluster = node.write_conf("10-cluster.conf", br, cluster_dir)
    node.write_conf("50-tuning.conf", {"type": "tuning", "sysctl": {"net.ipv4.conf.all.arp_filter": "1"}},
                    cluster_dir / "aux-chain")
    return node.multus(clusterNetwork=str(cluster), auxiliaryCNIChainName="aux-chain"), str(cluster)


def installed_passthru() -> str | None:
    """The ``passthru`` executable installed with multus (next to the interpreter's scripts)."""
    import shutil
    import sys

    beside = Path(sys.executable).with_name("passthru")
    if os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("passthru")


def test_auxiliary_chain_with_installed_plugins(node: Node) -> None:
    """The aux chain starts with a ``passthru`` plugin: multus must ship it, and once it is installed
    next to multus in the node's CNI bin dir (as upstream's install_multus does) the chain works."""
    passthru = installed_passthru()
    assert passthru is not None, "multus ships no `passthru` executable for the auxiliary chain"
    node_bin = node.tmp / "node-bin"
    node_bin.mkdir()
    (node_bin / "passthru").symlink_to(passthru)
    conf, _ = _aux_setup(node)
    pod = node.pod()
    path = f"{node_bin}:{CNI_BIN}"
    res = node.add(conf, pod, path=path)
    assert [i["name"] for i in res["interfaces"] if i.get("sandbox")] == ["eth0"]
    assert node.sysctl(pod, "net.ipv4.conf.all.arp_filter") == "1"
    out = node.run("CHECK", conf, pod, path=path)
    assert out.returncode == 0, describe(out)
    node.delete(conf, pod, path=path)
    node.assert_clean(pod)
    assert node.cni_dir_files() == []


def test_auxiliary_chain_runs_last(node: Node) -> None:
    """With a stand-in passthru (ADD: empty result of the conf's cniVersion), the chain's plugins run
    after the cluster network and the result is still the cluster network's."""
    log = node.tmp / "passthru.log"
    node.fake_plugin("passthru", f"""
in=$(cat)
echo "$CNI_COMMAND $CNI_IFNAME" >> {log}
case "$CNI_COMMAND" in
ADD) v=$(printf '%s' "$in" | sed -n 's/.*"cniVersion" *: *"\\([0-9.]*\\)".*/\\1/p'); printf '{{"cniVersion":"%s"}}' "$v";;
VERSION) printf '{{"cniVersion":"1.1.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}}';;
esac
exit 0
""")
    conf, _ = _aux_setup(node)
    pod = node.pod()
    res = node.add(conf, pod)
    assert [i["name"] for i in res["interfaces"] if i.get("sandbox")] == ["eth0"]
    assert node.links(pod) == ["lo", "eth0"]
    assert node.sysctl(pod, "net.ipv4.conf.all.arp_filter") == "1"
    assert log.read_text().split()[0] == "ADD"
    node.delete(conf, pod)
    assert [line.split()[0] for line in log.read_text().splitlines()] == ["ADD", "DEL"]
    node.assert_clean(pod)
    assert node.cni_dir_files() == []


def test_auxiliary_chain_needs_path_cluster_network(node: Node) -> None:
    node.write_conf("10-cluster.conf", node.bridge("cluster"))
    conf = node.multus(clusterNetwork="cluster", auxiliaryCNIChainName="aux-chain")
    pod = node.pod()
    err = error_of(node.run("ADD", conf, pod))
    assert err["code"] == 7 and "auxiliary" in err["msg"]
    node.assert_clean(pod)


# ------------------------------------------------------------------------------------ readiness

def test_readiness_indicator_file(node: Node) -> None:
    ready = node.tmp / "ready" / "flag"
    conf = node.multus(delegates=[node.bridge("brnet")], readinessindicatorfile=str(ready), readinessTimeout=0.5)
    pod = node.pod()
    t0 = time.monotonic()
    err = error_of(node.run("ADD", conf, pod))
    assert time.monotonic() - t0 < 10
    assert err["code"] == 11
    assert str(ready) in err["msg"]
    node.assert_clean(pod)
    assert node.cni_dir_files() == []

    ready.parent.mkdir()
    ready.write_text("")
    node.add(conf, pod)
    assert node.links(pod) == ["lo", "eth0"]
    # DEL only warns when the file is gone again
    ready.unlink()
    node.delete(conf, pod)
    node.assert_clean(pod)


def test_pod_netns_missing(node: Node) -> None:
    conf = node.multus(delegates=[node.bridge("brnet")])
    pod = node.pod()
    missing = Pod(netns=pod.netns + "-gone", container_id=pod.container_id)
    err = error_of(node.run("ADD", conf, pod, netns=missing.path))
    assert err["code"] == 4
    assert not Path(missing.path).exists()
    assert node.leases() == []

