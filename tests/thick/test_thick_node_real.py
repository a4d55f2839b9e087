"""Thick mode as a node runs it: containerd's CRI calls ``multus-shim``, which asks a running
``multus-daemon`` that watches the REAL kube-apiserver; the delegates are the real plugins.

* a pod with three networks (the cluster network and two NADs of its annotation):
  RunPodSandbox, StopPodSandbox (DEL with the netns), RemovePodSandbox (a second DEL without it);
* the primary configuration replaced while the daemon runs: it regenerates ``00-multus.conf``
  in containerd's configuration directory and the next sandbox gets the new primary, while the
  older sandbox is still torn down with the delegates it was set up with;
* the API server stopped (a private one, so that the session's server stays up): ADD of a pod
  the informer has cached still works, DEL works, nothing is left behind.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
from thickkit import CNI_BIN, NETWORKS, Daemon, Node, in_subnet, next_subnet, sh, short_id

pytestmark = [pytest.mark.root, pytest.mark.apiserver]

NODE = "thick-node"
STATUS = "k8s.v1.cni.cncf.io/network-status"
REPO = Path(__file__).resolve().parents[2]


def wait_for(predicate: Callable[[], Any], what: str, daemon: Daemon, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}:\n{daemon.logs()}")
        time.sleep(0.05)


def create_nad(api: Any, namespace: str, config: dict[str, Any]) -> str:
    from kubernetes import client

    name = short_id("nad")
    body = {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": name}, "spec": {"config": json.dumps({**config, "name": name})}}
    client.CustomObjectsApi(api).create_namespaced_custom_object("k8s.cni.cncf.io", "v1", namespace,
                                                                 "network-attachment-definitions", body)
    return name


def create_pod(api: Any, namespace: str, annotations: dict[str, str] | None = None) -> tuple[str, str]:
    """A pod object bound to this node: ``(name, uid)``."""
    from kubernetes import client

    name = short_id("tpod-")
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "annotations": annotations or {}},
            "spec": {"nodeName": NODE, "containers": [{"name": "c", "image": "pause"}]}}
    uid = client.CoreV1Api(api).create_namespaced_pod(namespace, body).metadata.uid
    return name, str(uid)


def network_status(api: Any, namespace: str, name: str) -> list[dict[str, Any]]:
    from kubernetes import client

    annotations = client.CoreV1Api(api).read_namespaced_pod(name, namespace).metadata.annotations or {}
    return json.loads(annotations[STATUS]) if STATUS in annotations else []


def kube_daemon(node: Node, kubeconfig: Path, monkeypatch: pytest.MonkeyPatch, **keys: Any) -> Daemon:
    monkeypatch.setenv("MULTUS_NODE_NAME", NODE)
    daemon = node.daemon({"kubeconfig": str(kubeconfig), "multusNamespace": "kube-system",
                          "cniDir": str(node.cni_dir), "binDir": CNI_BIN, **keys})
    assert "informers synced" in daemon.logs()
    return daemon


def requests_of(daemon: Daemon, verb: str, sandbox: str) -> int:
    return len(re.findall(rf"{verb} starting CNI request ContainerID:\"?{sandbox}", daemon.logs(tail=None)))


def addresses(netns_file: str) -> dict[str, list[str]]:
    """``{ifname: [global addresses]}`` of a sandbox's network namespace (a file of containerd's)."""
    out = sh("nsenter", f"--net={netns_file}", "ip", "-j", "addr", "show").stdout
    return {link["ifname"]: [f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info") or []
                             if a.get("scope") == "global"] for link in json.loads(out or "[]")}


def veths() -> set[str]:
    """The veths of the lab host namespace (the pods' host ends)."""
    out = sh("ip", "-o", "link", "show", "type", "veth").stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if line.strip()}


@pytest.fixture
def cri_node(node: Node, containerd: Any) -> Any:
    """containerd with no network but ours; its configuration directory is emptied again after."""
    containerd.clear_networks()
    assert os.access(containerd.cni_bin_dir / "multus-shim", os.X_OK), "multus-shim is not in containerd's bin dir"
    yield containerd
    containerd.clear_networks()


@pytest.mark.runtime
def test_pod_with_three_networks_through_containerd(
        node: Node, cri_node: Any, kube_client: Any, kube_namespace: str, kube_multus_kubeconfig: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    rt, ns = cri_node, kube_namespace
    cluster_subnet, mv_subnet, other_subnet = next_subnet(), next_subnet(), next_subnet()
    cluster = create_nad(kube_client, "kube-system", node.bridge(subnet=cluster_subnet))
    mv = node.macvlan("mv")
    mv["ipam"]["subnet"] = mv_subnet
    mv_nad = create_nad(kube_client, ns, mv)
    other = create_nad(kube_client, ns, node.bridge(subnet=other_subnet))
    name, uid = create_pod(kube_client, ns, {NETWORKS: f"{mv_nad},{other}@custom"})
    daemon = kube_daemon(node, kube_multus_kubeconfig, monkeypatch, clusterNetwork=cluster)
    conf = node.shim_conf(daemon)
    rt.set_network(conf, "00-multus.conf")
    before = veths()

    cri = rt.cri()
    sid = cri.run_pod(name, ns, uid)
    try:
        st = cri.status(sid)
        assert st.state == "SANDBOX_READY" and st.netns, st
        links = addresses(st.netns)
        assert set(links) == {"lo", "eth0", "net1", "custom"}, f"{links}\n{daemon.logs()}"
        assert in_subnet(links["eth0"][0], cluster_subnet) and in_subnet(links["net1"][0], mv_subnet)
        assert in_subnet(links["custom"][0], other_subnet), links
        assert st.ip == links["eth0"][0].split("/")[0]  # the CRI's pod IP is the cluster network's
        assert len(veths() - before) == 2  # eth0's and custom's host ends (macvlan has none)
        assert len(node.leases()) == 3 and node.cache_files(), (node.leases(), node.cache_files())
        # the network-status annotation, written by the daemon in the background
        status = wait_for(lambda: network_status(kube_client, ns, name), "the network-status annotation", daemon)
        assert [s.get("interface") for s in status] == ["eth0", "net1", "custom"], status
        assert status[0]["name"] == f"kube-system/{cluster}" and status[0].get("default") is True
        assert status[1]["name"] == f"{ns}/{mv_nad}" and status[2]["name"] == f"{ns}/{other}"
    finally:
        cri.stop_pod(sid)
        # StopPodSandbox: the first DEL (netns, prevResult) already released everything
        stopped = (node.leases(), node.cache_files(), veths() - before)
        cri.remove_pod(sid)
    assert stopped == ([], [], set()), stopped
    # RemovePodSandbox: a second DEL, without netns, reached the daemon and succeeded
    assert requests_of(daemon, "DEL", sid) == 2, daemon.logs()
    assert requests_of(daemon, "ADD", sid) == 1
    assert (node.leases(), node.cache_files(), veths() - before) == ([], [], set())
    assert sid not in {p.id for p in cri.list_pods()}


@pytest.mark.runtime
def test_primary_replaced_while_running_next_sandbox_uses_it(
        node: Node, cri_node: Any, kube_client: Any, kube_namespace: str, kube_multus_kubeconfig: Path,
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    rt, ns = cri_node, kube_namespace
    autoconf = tmp_path / "autoconf"
    autoconf.mkdir()
    first_subnet, second_subnet = next_subnet(), next_subnet()
    (autoconf / "20-first.conf").write_text(json.dumps(node.bridge("first", subnet=first_subnet)))
    target = rt.cni_conf_dir / "00-multus.conf"
    socket_dir = str(node.tmp / "daemon" / "run" / "multus")
    daemon = kube_daemon(node, kube_multus_kubeconfig, monkeypatch, multusConfigFile="auto",
                         multusAutoconfigDir=str(autoconf), cniConfigDir=str(rt.cni_conf_dir),
                         daemonSocketDir=socket_dir, socketDir=socket_dir, cniVersion="1.0.0")
    generated = wait_for(lambda: target.exists() and json.loads(target.read_text()), "00-multus.conf", daemon)
    assert generated["type"] == "multus-shim" and generated["clusterNetwork"] == str(autoconf / "20-first.conf")
    rt.wait_network_loaded(generated)
    before = veths()
    cri = rt.cri()

    pods = [create_pod(kube_client, ns) for _ in range(2)]
    first = cri.run_pod(pods[0][0], ns, pods[0][1])
    second = None
    try:
        st1 = cri.status(first)
        assert in_subnet(addresses(st1.netns)["eth0"][0], first_subnet), daemon.logs()
        # a new primary, lexically first: the daemon regenerates 00-multus.conf, containerd reloads it
        (autoconf / "10-second.conf").write_text(json.dumps(node.bridge("second", subnet=second_subnet)))
        regenerated = wait_for(
            lambda: (c := json.loads(target.read_text()))["clusterNetwork"] == str(autoconf / "10-second.conf")
            and c, "regeneration for the new primary", daemon)
        rt.wait_network_loaded(regenerated)
        second = cri.run_pod(pods[1][0], ns, pods[1][1])
        st2 = cri.status(second)
        eth0 = addresses(st2.netns)["eth0"]
        assert len(eth0) == 1 and in_subnet(eth0[0], second_subnet), (eth0, daemon.logs())
        assert len(node.leases()) == 2
    finally:
        for sid in (first, second):
            if sid is not None:
                cri.stop_pod(sid)
                cri.remove_pod(sid)
    # the first sandbox was torn down with its own delegates (the old primary) from the cache
    assert (node.leases(), node.cache_files(), veths() - before) == ([], [], set()), daemon.logs()
    daemon.stop()
    assert daemon.proc is not None and daemon.proc.returncode == 0, daemon.logs()
    assert not target.exists()  # removed on shutdown


def test_apiserver_stopped_cached_pod_add_and_del_work(
        node: Node, kube_apiserver: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A private API server, stopped after the informers synced: ADD of a cached pod succeeds
    from the cache (its network-status write is retried, then given up when the daemon stops),
    and DEL (a pod added before the stop, and that one) works and leaves nothing."""
    from multus.testing.kube import KubeApiServer

    srv = KubeApiServer(tmp_path / "kube")
    api = None
    try:
        srv.start()
        srv.install_crd(REPO / "deploy" / "crd.yaml")
        api = srv.api_client()
        cluster = create_nad(api, "kube-system", node.bridge())
        pods = []
        for _ in range(2):
            name, uid = create_pod(api, "default")
            pods.append(attrs.evolve(node.pod(), name=name, uid=uid))
        daemon = kube_daemon(node, srv.kubeconfig, monkeypatch, clusterNetwork=cluster, kubeAPITimeout=2,
                             kubeWriteFlushTimeout=1)
        conf = node.shim_conf(daemon)
        node.add(conf, pods[0])
        wait_for(lambda: network_status(api, "default", pods[0].name), "the first pod's network-status", daemon)

        srv.stop(grace=0)
        t0 = time.monotonic()
        res = node.add(conf, pods[1])  # pod and NAD from the informers' caches
        add_s = time.monotonic() - t0
        assert res["ips"] and node.links(pods[1]) == ["eth0", "lo"], res
        assert add_s < 10, add_s  # not held up by the unreachable server
        for pod in pods:
            node.delete(conf, pod)
            node.assert_clean(pod)
        assert node.leases() == [] and node.cache_files() == []
        daemon.stop()
        assert daemon.proc is not None and daemon.proc.returncode == 0, daemon.logs()
        assert "retrying" in daemon.logs()  # the status write of the second pod, in the background
    finally:
        if api is not None:
            api.close()
        srv.cleanup()
