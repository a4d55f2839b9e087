"""End to end: a real kube-apiserver, real containerd (CRI), our multus with the Kubernetes backend.

What a node does for a pod, minus the kubelet: the Pod object exists in the API server with the
annotation ``k8s.v1.cni.cncf.io/networks: a,b@custom``; the NetworkAttachmentDefinitions ``a``
(bridge) and ``b`` (macvlan on a veth end of the lab host) exist in its namespace; the cluster
network is a NAD in kube-system (or a file). containerd's RunPodSandbox, with the Pod's
name/namespace/UID as sandbox metadata, calls multus, which reads the Pod and the NADs as the
multus service account (deploy/rbac.yaml), attaches eth0, net1 and custom, records
``AddedInterface`` events and writes the ``k8s.v1.cni.cncf.io/network-status`` annotation.
Stop/RemovePodSandbox must tear everything down -- also when the API server can no longer be
reached, or the objects are gone, since DEL never needs the API.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime"))

from multus_rt import (
    NETWORK_STATUS,
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
)
from runtimes import Containerd, CriError

from multus.testing.kube import KubeApiServer

pytestmark = [pytest.mark.apiserver, pytest.mark.runtime]

GROUP, VERSION, PLURAL = "k8s.cni.cncf.io", "v1", "network-attachment-definitions"
CLUSTER, NET_A, NET_B = "10.250.54.0/24", "10.250.55.0/24", "10.250.56.0/24"
MASTER = "e2e-m0"


def _require_k8s_backend() -> None:
    """The Kubernetes backend must be there and implement the hooks this test relies on."""
    from multus_k8s import source, status

    for mod, hook in ((source, "multus_source_pod"), (source, "multus_source_network"),
                      (status, "multus_lifecycle_pod_added")):
        assert callable(getattr(mod, hook, None)), f"{mod.__name__}.{hook} is missing"


# --- API objects ---------------------------------------------------------------------------------


def create_nad(api: Any, ns: str, name: str, config: dict[str, Any]) -> None:
    from kubernetes import client

    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": name}, "spec": {"config": json.dumps(config)}}
    client.CustomObjectsApi(api).create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, body)


def delete_nad(api: Any, ns: str, name: str) -> None:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    try:
        client.CustomObjectsApi(api).delete_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)
    except ApiException as e:
        if e.status != 404:
            raise


def create_pod(api: Any, ns: str, name: str, annotations: dict[str, str]) -> str:
    from kubernetes import client

    body = {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "annotations": annotations},
            "spec": {"nodeName": "e2e-node", "containers": [{"name": "c", "image": "pause"}]}}
    return str(client.CoreV1Api(api).create_namespaced_pod(ns, body).metadata.uid)


def read_pod(api: Any, ns: str, name: str) -> Any:
    from kubernetes import client

    return client.CoreV1Api(api).read_namespaced_pod(name, ns)


def pod_events(api: Any, ns: str, name: str, reason: str, want: int, timeout: float = 10) -> list[Any]:
    from kubernetes import client

    deadline = time.monotonic() + timeout
    while True:
        got = [e for e in client.CoreV1Api(api).list_namespaced_event(
            ns, field_selector=f"involvedObject.name={name}").items if e.reason == reason]
        if len(got) >= want or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


# --- the node ------------------------------------------------------------------------------------


class Node:
    """containerd whose only network is multus with a kubeconfig; the pods' IPAM and cache here."""

    def __init__(self, rt: Containerd, tmp: Path, kubeconfig: Path, cluster_network: str) -> None:
        self.rt, self.tmp = rt, tmp
        self.cni_dir, self.ipam, self.log = tmp / "cni", tmp / "ipam", tmp / "multus.log"
        self.conf_dir = tmp / "multus.d"
        self.conf_dir.mkdir(exist_ok=True)
        self.kubeconfig = kubeconfig
        self.conf = {
            "cniVersion": "1.0.0",
            "name": "multus-cni-network",
            "type": "multus",
            "kubeconfig": str(kubeconfig),
            "clusterNetwork": cluster_network,
            "confDir": str(self.conf_dir),
            "cniDir": str(self.cni_dir),
            "binDir": str(rt.cni_bin_dir),
            "capabilities": {POD_ANNOTATIONS_CAP: True},
            "kubeAPITimeout": 10,
            "logFile": str(self.log),
            "logLevel": "verbose",
            "logToStderr": False,
        }
        rt.set_network(self.conf, "00-multus.conf")

    def log_tail(self) -> str:
        return multus_log_tail(self.log)

    def assert_clean(self, veths_before: set[str], netns: str | None) -> None:
        assert veths() == veths_before, f"veths left behind: {veths() - veths_before}\n{self.log_tail()}"
        assert leases(self.ipam) == [], f"host-local leases left behind: {leases(self.ipam)}"
        assert cache_files(self.cni_dir) == [], f"cache files left: {cache_files(self.cni_dir)}"
        assert netns_gone(netns), f"pod netns {netns} still exists"


@pytest.fixture
def master() -> Iterator[str]:
    with veth_master(MASTER) as m:
        yield m


@pytest.fixture
def nads(kube_client: Any, kube_namespace: str, master: str, tmp_path: Path) -> dict[str, Any]:
    """NADs a (bridge) and b (macvlan) in the test namespace; their IPAM under tmp_path/ipam."""
    ipam = tmp_path / "ipam"
    a = bridge_net("", "e2e-br-a", NET_A, ipam)
    del a["name"]  # multus injects the NAD's name, as upstream
    b = macvlan_net("b", master, NET_B, ipam)
    create_nad(kube_client, kube_namespace, "a", a)
    create_nad(kube_client, kube_namespace, "b", b)
    return {"a": a, "b": b}


@pytest.fixture
def cluster_nad(kube_client: Any, tmp_path: Path) -> Iterator[str]:
    """The cluster network as a NAD in kube-system (multusNamespace), unique to the test."""
    name = f"e2e-cluster-{uuid.uuid4().hex[:8]}"
    create_nad(kube_client, "kube-system", name, bridge_net(name, "e2e-br0", CLUSTER, tmp_path / "ipam"))
    try:
        yield name
    finally:
        delete_nad(kube_client, "kube-system", name)


def _expect_attached(links: dict[str, dict[str, Any]], log: str) -> None:
    for ifname in ("eth0", "net1", "custom"):
        assert ifname in links, f"{ifname} missing in the pod netns: {sorted(links)}\n{log}"
    assert len(links["eth0"]["addrs"]) == 1 and in_subnet(links["eth0"]["addrs"][0], CLUSTER), links
    assert len(links["net1"]["addrs"]) == 1 and in_subnet(links["net1"]["addrs"][0], NET_A), links
    assert len(links["custom"]["addrs"]) == 1 and in_subnet(links["custom"]["addrs"][0], NET_B), links
    assert links["net1"]["kind"] == "veth" and links["custom"]["kind"] == "macvlan", links


def _api_requests(srv: KubeApiServer) -> dict[tuple[str, ...], float]:
    """Requests on the resources multus uses (pods, NADs, events), by verb and resource."""
    m = srv.metrics()
    out: dict[tuple[str, ...], float] = {}
    for resource in ("pods", PLURAL, "events"):
        for key, value in m.by("verb", "resource", "subresource", resource=resource).items():
            out[key] = value
    return out


def test_pod_attached_with_network_status_and_events(
    containerd: Containerd, kube_apiserver: KubeApiServer, kube_client: Any, kube_namespace: str,
    kube_multus_kubeconfig: Path, nads: dict[str, Any], cluster_nad: str, tmp_path: Path,
) -> None:
    _require_k8s_backend()
    ns = kube_namespace
    node = Node(containerd, tmp_path, kube_multus_kubeconfig, cluster_nad)
    uid = create_pod(kube_client, ns, "e2e-pod", {NETWORKS: "a,b@custom"})
    cri = containerd.cri()
    before = veths()
    t0 = time.perf_counter()
    sid = cri.run_pod("e2e-pod", ns, uid)
    run_s = time.perf_counter() - t0
    try:
        st = cri.status(sid)
        assert (st.name, st.namespace, st.uid) == ("e2e-pod", ns, uid)
        links = netns_links(st.netns)
        _expect_attached(links, node.log_tail())
        assert st.ip == links["eth0"]["addrs"][0].split("/")[0]

        # network-status, read back through the API, describes exactly what is in the netns
        pod = read_pod(kube_client, ns, "e2e-pod")
        raw = (pod.metadata.annotations or {}).get(NETWORK_STATUS)
        assert raw, f"no network-status annotation: {pod.metadata.annotations}\n{node.log_tail()}"
        status = json.loads(raw)
        assert len(status) == 3, status
        by_if = {e.get("interface"): e for e in status}
        assert set(by_if) == {"eth0", "net1", "custom"}, status
        for ifname, entry in by_if.items():
            assert entry["mac"] == links[ifname]["mac"], (ifname, entry, links[ifname])
            assert entry["ips"] == [a.split("/")[0] for a in links[ifname]["addrs"]], (entry, links[ifname])
            assert entry.get("default", False) is (ifname == "eth0"), entry
        assert by_if["net1"]["name"] == f"{ns}/a" and by_if["custom"]["name"] == f"{ns}/b", status
        assert by_if["eth0"]["name"].endswith(cluster_nad), status
        assert [e["interface"] for e in status] == ["eth0", "net1", "custom"], status

        # one AddedInterface event per interface, about this very pod
        evs = pod_events(kube_client, ns, "e2e-pod", "AddedInterface", 3)
        assert len(evs) == 3, [(e.reason, e.message) for e in evs]
        for e in evs:
            assert e.type == "Normal" and e.involved_object.uid == uid, e
        msgs = sorted(e.message for e in evs)
        want = sorted([
            f"Add eth0 [{links['eth0']['addrs'][0]}] from {by_if['eth0']['name']}",
            f"Add net1 [{links['net1']['addrs'][0]}] from {ns}/a",
            f"Add custom [{links['custom']['addrs'][0]}] from {ns}/b",
        ])
        assert msgs == want, msgs
        time.sleep(0.5)  # let the API server count the requests above before the snapshot
        api_before = _api_requests(kube_apiserver)
    finally:
        t1 = time.perf_counter()
        cri.stop_pod(sid)
        cri.remove_pod(sid)
        del_s = time.perf_counter() - t1
    print(f"\nRunPodSandbox {run_s * 1000:.0f} ms; Stop+RemovePodSandbox {del_s * 1000:.0f} ms")
    node.assert_clean(before, st.netns)
    time.sleep(0.5)
    api_after = _api_requests(kube_apiserver)
    delta = {k: v - api_before.get(k, 0) for k, v in api_after.items() if v - api_before.get(k, 0)}
    assert delta == {}, f"DEL used the Kubernetes API: {delta}"


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return int(port)


class SilentServer:
    """Accepts TCP connections on 127.0.0.1 and never answers: a hung API server."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                c, _ = self.sock.accept()
                self.conns.append(c)
            except OSError:
                continue

    def close(self) -> None:
        self._stop = True
        self.thread.join(2)
        for c in self.conns:
            c.close()
        self.sock.close()


def _point_kubeconfig_at(path: Path, server: str) -> None:
    cfg = yaml.safe_load(path.read_text())
    for cluster in cfg["clusters"]:
        cluster["cluster"]["server"] = server
    path.write_text(yaml.safe_dump(cfg))


@pytest.mark.parametrize("how", ["closed-port", "hung-server", "kubeconfig-deleted", "objects-deleted"])
def test_del_without_the_api(
    containerd: Containerd, kube_client: Any, kube_namespace: str, kube_multus_kubeconfig: Path,
    nads: dict[str, Any], tmp_path: Path, how: str,
) -> None:
    """After ADD the API becomes unreachable for multus (or the objects go away): Stop/Remove still
    tear everything down, without waiting for the API."""
    _require_k8s_backend()
    ns = kube_namespace
    # the cluster network here is a file (clusterNetwork as a path), the NADs come from the API
    cluster_file = tmp_path / "cluster" / "10-e2e-cluster.conflist"
    cluster_file.parent.mkdir()
    cluster_file.write_text(json.dumps(bridge_net("e2e-cluster-file", "e2e-br1", CLUSTER, tmp_path / "ipam")))
    kubeconfig = tmp_path / "multus.kubeconfig"
    kubeconfig.write_bytes(kube_multus_kubeconfig.read_bytes())
    kubeconfig.chmod(0o600)
    node = Node(containerd, tmp_path, kubeconfig, str(cluster_file))
    uid = create_pod(kube_client, ns, "e2e-gone", {NETWORKS: "a,b@custom"})
    cri = containerd.cri()
    before = veths()
    sid = cri.run_pod("e2e-gone", ns, uid)
    silent: SilentServer | None = None
    try:
        st = cri.status(sid)
        links = netns_links(st.netns)
        _expect_attached(links, node.log_tail())
        status = json.loads(read_pod(kube_client, ns, "e2e-gone").metadata.annotations[NETWORK_STATUS])
        assert [e["name"] for e in status] == ["e2e-cluster-file", f"{ns}/a", f"{ns}/b"], status

        if how == "closed-port":
            _point_kubeconfig_at(kubeconfig, f"https://127.0.0.1:{_free_port()}")
        elif how == "hung-server":
            silent = SilentServer()
            _point_kubeconfig_at(kubeconfig, f"https://127.0.0.1:{silent.port}")
        elif how == "kubeconfig-deleted":
            kubeconfig.unlink()
        else:
            from kubernetes import client

            delete_nad(kube_client, ns, "a")
            delete_nad(kube_client, ns, "b")
            client.CoreV1Api(kube_client).delete_namespaced_pod("e2e-gone", ns, grace_period_seconds=0)
    finally:
        t0 = time.perf_counter()
        try:
            cri.stop_pod(sid, timeout=60)
            stop_s = time.perf_counter() - t0
            cri.remove_pod(sid, timeout=60)
            remove_s = time.perf_counter() - t0 - stop_s
        finally:
            if silent is not None:
                silent.close()
    print(f"\n[{how}] StopPodSandbox {stop_s * 1000:.0f} ms, RemovePodSandbox {remove_s * 1000:.0f} ms")
    node.assert_clean(before, st.netns)
    assert sid not in {p.id for p in cri.list_pods()}
    assert os.path.exists(cluster_file)


# --- ADD failures that come from the API: the sandbox fails, multus' message reaches the CRI, nothing stays


@pytest.mark.parametrize("how", ["hung-server", "uid-mismatch", "missing-nad"])
def test_add_failure_from_the_api_leaves_nothing(
    containerd: Containerd, kube_client: Any, kube_namespace: str, kube_multus_kubeconfig: Path,
    nads: dict[str, Any], tmp_path: Path, how: str,
) -> None:
    _require_k8s_backend()
    ns = kube_namespace
    cluster_file = tmp_path / "10-e2e-cluster.conflist"
    cluster_file.write_text(json.dumps(bridge_net("e2e-cluster-file", "e2e-br1", CLUSTER, tmp_path / "ipam")))
    kubeconfig = tmp_path / "multus.kubeconfig"
    kubeconfig.write_bytes(kube_multus_kubeconfig.read_bytes())
    node = Node(containerd, tmp_path, kubeconfig, str(cluster_file))
    networks = "a,b@custom,nad-that-is-not-there" if how == "missing-nad" else "a,b@custom"
    uid = create_pod(kube_client, ns, "e2e-fail", {NETWORKS: networks})
    silent: SilentServer | None = None
    if how == "hung-server":
        silent = SilentServer()
        _point_kubeconfig_at(kubeconfig, f"https://127.0.0.1:{silent.port}")
        node.conf["kubeAPITimeout"] = 2
        containerd.set_network(node.conf, "00-multus.conf")
        expected = ["is unreachable after", "try again later"]
    elif how == "uid-mismatch":
        expected = [f'but got "{uid}" from Kube API']
        uid = str(uuid.uuid4())  # the sandbox claims another pod with the same name
        expected.append(f'expected pod UID "{uid}"')
    else:
        expected = [("cannot find a network-attachment-definition (nad-that-is-not-there) "
                    f"in namespace ({ns})")]
    cri = containerd.cri()
    before = veths()
    pods_before = {p.id for p in cri.list_pods()}
    netns_dir = containerd.pod_netns_dir()
    netns_before = set(os.listdir(netns_dir)) if netns_dir.is_dir() else set()
    t0 = time.perf_counter()
    try:
        with pytest.raises(CriError) as e:
            sid = cri.run_pod("e2e-fail", ns, uid, timeout=60)
            cri.stop_pod(sid)  # only when the ADD wrongly succeeded
            cri.remove_pod(sid)
    finally:
        took = time.perf_counter() - t0
        if silent is not None:
            silent.close()
    print(f"\n[{how}] RunPodSandbox failed after {took * 1000:.0f} ms")
    details = e.value.details
    assert 'plugin type="multus"' in details, details
    for text in expected:
        assert text in details, f"{text!r} not in the CRI error: {details}\n{node.log_tail()}"
    assert {p.id for p in cri.list_pods()} <= pods_before
    assert veths() == before, f"veths left behind: {veths() - before}"
    assert leases(node.ipam) == [] and cache_files(node.cni_dir) == [], (leases(node.ipam),
                                                                         cache_files(node.cni_dir))
    netns_after = set(os.listdir(netns_dir)) if netns_dir.is_dir() else set()
    assert netns_after <= netns_before
    if how == "missing-nad":
        evs = pod_events(kube_client, ns, "e2e-fail", "NoNetworkFound", 1)
        assert evs and evs[0].type == "Warning" and "nad-that-is-not-there" in evs[0].message, evs
        # the pod gets no network-status: nothing was attached
        assert NETWORK_STATUS not in (read_pod(kube_client, ns, "e2e-fail").metadata.annotations or {})


def test_concurrent_pods_get_their_own_network_status(
    containerd: Containerd, kube_client: Any, kube_namespace: str, kube_multus_kubeconfig: Path,
    nads: dict[str, Any], cluster_nad: str, tmp_path: Path,
) -> None:
    _require_k8s_backend()
    ns = kube_namespace
    node = Node(containerd, tmp_path, kube_multus_kubeconfig, cluster_nad)
    n = 4
    uids = {i: create_pod(kube_client, ns, f"e2e-par-{i}", {NETWORKS: "a,b@custom"}) for i in range(n)}
    cri = containerd.cri()
    before = veths()
    seen: dict[int, tuple[Any, dict[str, dict[str, Any]]]] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(n)
    sids: dict[int, str] = {}

    def up(i: int) -> None:
        try:
            barrier.wait(30)
            sids[i] = cri.run_pod(f"e2e-par-{i}", ns, uids[i])
            st = cri.status(sids[i])
            seen[i] = (st, netns_links(st.netns))
        except BaseException as e:  # noqa: BLE001  (re-raised in the test thread)
            errors.append(e)

    threads = [threading.Thread(target=up, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    try:
        assert not errors, f"{errors}\n{node.log_tail()}"
        for i, (_st, links) in seen.items():
            _expect_attached(links, node.log_tail())
            status = json.loads(read_pod(kube_client, ns, f"e2e-par-{i}").metadata.annotations[NETWORK_STATUS])
            got = {e["interface"]: (e["ips"], e["mac"]) for e in status}
            want = {k: ([a.split("/")[0] for a in links[k]["addrs"]], links[k]["mac"])
                    for k in ("eth0", "net1", "custom")}
            assert got == want, (i, got, want)
        for ifname in ("eth0", "net1", "custom"):
            addrs = [links[ifname]["addrs"][0] for _, links in seen.values()]
            assert len(set(addrs)) == n, addrs
    finally:
        for sid in sids.values():
            cri.stop_pod(sid)
            cri.remove_pod(sid)
    for st, _ in seen.values():
        assert netns_gone(st.netns)
    assert veths() == before and leases(node.ipam) == [] and cache_files(node.cni_dir) == []


def test_pod_missing_from_the_api(
    containerd: Containerd, kube_client: Any, kube_namespace: str, kube_multus_kubeconfig: Path,
    nads: dict[str, Any], cluster_nad: str, tmp_path: Path,
) -> None:
    """A sandbox for a pod the API server does not know (deleted before the kubelet got to it): no
    delegate runs (upstream v4.3's placeholder result); Stop/Remove still succeed, nothing stays."""
    _require_k8s_backend()
    node = Node(containerd, tmp_path, kube_multus_kubeconfig, cluster_nad)
    cri = containerd.cri()
    before = veths()
    sid = cri.run_pod("e2e-never-created", kube_namespace, str(uuid.uuid4()), {NETWORKS: "a"})
    try:
        st = cri.status(sid)
        links = netns_links(st.netns)
        assert set(links) == {"lo"}, f"{links}\n{node.log_tail()}"
        assert veths() == before
    finally:
        cri.stop_pod(sid)
        cri.remove_pod(sid)
    node.assert_clean(before, st.netns)
