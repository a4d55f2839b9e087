"""multus-shim -> multus-daemon with informers, against the REAL kube-apiserver and real plugins.

The API requests of each ADD and DEL are counted by the API server itself
(``apiserver_request_total``): an ADD of a pod the daemon's informer knows reads nothing (no pod
GET, no NAD GET); its network-status PATCH and AddedInterface event are written in the
background; a DEL reads nothing; a pod the informer does not have costs one pod GET."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "thick"))

import thickkit
from thickkit import Node

from multus.testing.kube import KubeApiServer, RequestCounts

pytestmark = [pytest.mark.apiserver, pytest.mark.root]

NODE = "node-a"
STATUS = "k8s.v1.cni.cncf.io/network-status"
READ_VERBS = ("GET", "LIST")
MULTUS_RESOURCES = ("pods", "network-attachment-definitions", "events")


@pytest.fixture
def node(tmp_path: Path, pod_netns: Callable[..., str]) -> Iterator[Node]:
    yield from thickkit.make_node(tmp_path, pod_netns)


# What deploy/rbac.yaml lets the daemon's kubeconfig do. A request outside it that SUCCEEDED came
# from another client of the shared API server (the metrics do not name the client): it is not
# counted. A refused one (403) may be the daemon's and is counted.
MULTUS_ALLOWED = {"GET pods", "LIST pods", "WATCH pods", "PATCH pods/status",
                  "GET network-attachment-definitions", "LIST network-attachment-definitions",
                  "WATCH network-attachment-definitions", "POST events"}


def requests_of(delta: RequestCounts) -> dict[str, float]:
    """``"VERB resource[/sub]" -> n`` for the resources multus uses."""
    out: dict[str, float] = {}
    for labels, value in delta:
        if value and labels.get("resource") in MULTUS_RESOURCES:
            sub = labels.get("subresource", "")
            key = f"{labels['verb']} {labels['resource']}{'/' + sub if sub else ''}"
            if key not in MULTUS_ALLOWED and labels.get("code", "").startswith("2"):
                continue
            out[key] = out.get(key, 0.0) + value
    return out


def reads(counts: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in counts.items() if k.split()[0] in READ_VERBS}


def settle(srv: KubeApiServer, before: RequestCounts, until: Callable[[dict[str, float]], bool],
           timeout: float = 20) -> dict[str, float]:
    """The requests since ``before`` once ``until`` holds (the writes are asynchronous), read again
    after a short pause so that nothing still on its way is missed."""
    deadline = time.monotonic() + timeout
    while True:
        counts = requests_of(srv.metrics() - before)
        if until(counts):
            time.sleep(0.3)
            return requests_of(srv.metrics() - before)
        if time.monotonic() > deadline:
            raise AssertionError(f"the expected requests did not come within {timeout} s: {counts}")
        time.sleep(0.1)


def api_pod(api: Any, pod: thickkit.Pod, node_name: str = NODE) -> thickkit.Pod:
    from kubernetes import client

    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": pod.name},
            "spec": {"nodeName": node_name, "containers": [{"name": "c", "image": "pause"}]}}
    uid = client.CoreV1Api(api).create_namespaced_pod(pod.namespace, body).metadata.uid
    return attrs.evolve(pod, uid=uid)


def cluster_nad(api: Any, config: dict[str, Any]) -> str:
    from kubernetes import client

    name = thickkit.short_id("clu")
    body = {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": name}, "spec": {"config": json.dumps(config)}}
    client.CustomObjectsApi(api).create_namespaced_custom_object("k8s.cni.cncf.io", "v1", "kube-system",
                                                                 "network-attachment-definitions", body)
    return name


def test_add_of_a_known_pod_reads_nothing_and_writes_in_the_background(
        node: Node, kube_apiserver: KubeApiServer, kube_client: Any, kube_namespace: str,
        kube_multus_kubeconfig: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kubernetes import client

    srv, ns = kube_apiserver, kube_namespace
    nad = cluster_nad(kube_client, node.bridge())
    known = api_pod(kube_client, node.pod(ns))
    elsewhere = api_pod(kube_client, node.pod(ns), node_name="node-b")  # not in this node's cache
    monkeypatch.setenv("MULTUS_NODE_NAME", NODE)
    daemon = node.daemon({"kubeconfig": str(kube_multus_kubeconfig), "clusterNetwork": nad,
                          "multusNamespace": "kube-system", "cniDir": str(node.cni_dir)})
    assert "informers synced" in daemon.logs()
    conf = node.shim_conf(daemon)

    before = srv.metrics()
    res = node.add(conf, known)
    assert res["ips"], res
    add = settle(srv, before, lambda c: c.get("PATCH pods/status") == 1 and c.get("POST events") == 1)
    assert reads(add) == {}, add  # no pod GET, no NAD GET
    assert add == {"PATCH pods/status": 1, "POST events": 1}

    pod = client.CoreV1Api(kube_client).read_namespaced_pod(known.name, ns)
    status = json.loads(pod.metadata.annotations[STATUS])
    assert [s["interface"] for s in status] == ["eth0"] and status[0]["name"] == f"kube-system/{nad}"
    assert status[0]["ips"] == [res["ips"][0]["address"].split("/")[0]]

    before = srv.metrics()
    node.delete(conf, known)
    node.assert_clean(known)
    time.sleep(0.3)
    assert requests_of(srv.metrics() - before) == {}  # DEL: nothing at all

    # a pod the informer does not have (another node's, or created a moment ago): one live GET
    before = srv.metrics()
    node.add(conf, elsewhere)
    miss = settle(srv, before, lambda c: c.get("PATCH pods/status") == 1 and c.get("POST events") == 1)
    assert reads(miss) == {"GET pods": 1}, miss
    node.delete(conf, elsewhere)
    node.assert_clean(elsewhere)


def test_the_daemon_serves_a_cached_pod_while_the_apiserver_is_unreachable(
        node: Node, kube_apiserver: KubeApiServer, kube_client: Any, kube_namespace: str,
        kube_multus_kubeconfig: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The daemon's kubeconfig points at a port that refuses connections once the informers
    synced (a stand-in for an API server that went away): ADD and DEL of a cached pod work, the
    status write is retried in the background and given up when the daemon stops."""
    import socket
    import threading

    from kubernetes import client

    ns = kube_namespace
    nad = cluster_nad(kube_client, node.bridge())
    pod = api_pod(kube_client, node.pod(ns))

    # a TCP relay to the API server that the test can cut
    target = kube_apiserver.url.removeprefix("https://")
    host, port = target.rsplit(":", 1)
    listener = socket.create_server(("127.0.0.1", 0))
    relay_port = listener.getsockname()[1]
    cut = threading.Event()
    conns: list[socket.socket] = []

    def pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def accept() -> None:
        while True:
            try:
                c, _ = listener.accept()
            except OSError:
                return
            if cut.is_set():
                c.close()
                continue
            u = socket.create_connection((host, int(port)))
            conns.extend((c, u))
            threading.Thread(target=pipe, args=(c, u), daemon=True).start()
            threading.Thread(target=pipe, args=(u, c), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    kubeconfig = tmp_path / "relay.kubeconfig"
    kubeconfig.write_text(kube_multus_kubeconfig.read_text().replace(kube_apiserver.url,
                                                                     f"https://127.0.0.1:{relay_port}"))
    monkeypatch.setenv("MULTUS_NODE_NAME", NODE)
    daemon = node.daemon({"kubeconfig": str(kubeconfig), "clusterNetwork": nad, "multusNamespace": "kube-system",
                          "cniDir": str(node.cni_dir), "kubeAPITimeout": 2, "kubeWriteFlushTimeout": 1})
    try:
        conf = node.shim_conf(daemon)
        cut.set()
        for c in conns:
            c.close()
        res = node.add(conf, pod)  # pod and NAD from the cache; the status write cannot reach the server
        assert res["ips"], res
        assert node.links(pod) == ["eth0", "lo"]
        node.delete(conf, pod)
        node.assert_clean(pod)
        daemon.stop()
        assert daemon.proc is not None and daemon.proc.returncode == 0, daemon.logs()
        logs = daemon.logs()
        assert "failed (attempt 1), retrying" in logs  # the background writes were retried, not dropped at once
        annotations = client.CoreV1Api(kube_client).read_namespaced_pod(pod.name, ns).metadata.annotations
        assert STATUS not in (annotations or {})  # never written: the server was unreachable
    finally:
        listener.close()
