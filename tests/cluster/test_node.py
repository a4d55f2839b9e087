"""The cluster itself: a node registered by a real kubelet, plain pods on the primary bridge network."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
from pathlib import Path

from cluster import BUSYBOX_IMAGE, NODE_IP, NODE_NAME, POD_CIDR, PRIMARY_BRIDGE, Cluster
from runtimes import link_names


def _tree_digest(root: str) -> str:
    """A digest of the names and contents below `root` ("absent" when it does not exist)."""
    if not os.path.lexists(root):
        return "absent"
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in sorted(os.walk(root)):
        dirnames.sort()
        for f in sorted(filenames):
            p = Path(dirpath, f)
            h.update(str(p).encode())
            if p.is_file() and not p.is_symlink():
                h.update(p.read_bytes())
    return h.hexdigest()


MACHINE_PATHS = ("/etc/cni/net.d", "/opt/cni", "/var/lib/kubelet", "/var/lib/cni", "/var/log/pods", "/run/multus")


def test_node_registers_ready_with_the_same_build_as_the_apiserver(cluster: Cluster) -> None:
    node = cluster.core().read_node(NODE_NAME)
    version = json.loads(cluster.control.get("/version"))
    assert node.status.node_info.kubelet_version == version["gitVersion"]
    assert node.status.node_info.container_runtime_version.startswith("containerd://")
    assert {a.type: a.address for a in node.status.addresses}["InternalIP"] == NODE_IP
    assert cluster.node_conditions()["Ready"] == "True"
    # the kubelet sees the images imported into its containerd (and nothing pulled)
    images = {n for img in node.status.images for n in img.names}
    assert BUSYBOX_IMAGE in images


def test_plain_pod_runs_on_the_primary_network_and_leaves_nothing(cluster: Cluster, cluster_namespace: str) -> None:
    before = {p: _tree_digest(p) for p in MACHINE_PATHS}
    ns = cluster_namespace
    cluster.create_pod(ns, "plain")
    pod = cluster.wait_pod_phase(ns, "plain")
    ip = pod.status.pod_ip
    assert ipaddress.ip_address(ip) in ipaddress.ip_network(POD_CIDR)
    addrs = cluster.pod_addresses(ns, "plain")
    assert f"{ip}/24" in addrs["eth0"]
    assert set(addrs) == {"lo", "eth0"}
    leases = cluster.node.host_path("/var/lib/cni/networks/cluster")
    assert (leases / ip).is_file()
    # the pod's host-side veth hangs on the primary bridge in the lab namespace
    assert PRIMARY_BRIDGE in link_names()
    veths_before_delete = {n for n in link_names() if n.startswith("veth")}
    assert veths_before_delete

    cluster.delete_pod(ns, "plain")
    # containerd marks the sandbox stopped before it tears its network down: the DEL may still be
    # on its way, so wait for it (a DEL that never comes, or leaves these behind, fails here)
    from cluster import _wait

    _wait(f"host-local lease {ip} released", lambda: not (leases / ip).exists(), 30)
    _wait("the pod's veth removed",
          lambda: not {n for n in link_names() if n.startswith("veth")} & veths_before_delete, 30)
    # the node's files stayed in its scratch dirs: the machine's own paths are as they were
    assert {p: _tree_digest(p) for p in MACHINE_PATHS} == before


def test_daemonset_controller_places_a_host_network_pod(cluster: Cluster, cluster_namespace: str) -> None:
    from kubernetes import client

    ns = cluster_namespace
    apps = client.AppsV1Api(cluster.core().api_client)
    apps.create_namespaced_daemon_set(ns, {
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "hostnet"},
        "spec": {
            "selector": {"matchLabels": {"app": "hostnet"}},
            "template": {"metadata": {"labels": {"app": "hostnet"}}, "spec": {
                "hostNetwork": True, "terminationGracePeriodSeconds": 0,
                "tolerations": [{"operator": "Exists"}],
                "containers": [{"name": "main", "image": BUSYBOX_IMAGE, "imagePullPolicy": "Never",
                                "command": ["/bin/sleep", "2147483647"]}]}},
        },
    })
    from cluster import _wait

    pods = _wait("daemon pod", lambda: cluster.core().list_namespaced_pod(ns, label_selector="app=hostnet").items,
                 60, interval=0.5)
    pod = cluster.wait_pod_phase(ns, pods[0].metadata.name)
    assert pod.spec.node_name == NODE_NAME
    assert pod.status.pod_ip == NODE_IP  # hostNetwork: the node's address
    # the service account token was mounted (controller-manager's token controller + admission)
    assert any(v.secret is not None and v.secret.secret_name.startswith("default-token-")
               for v in pod.spec.volumes)
    apps.delete_namespaced_daemon_set("hostnet", ns, propagation_policy="Foreground")
