"""The daemon's informers against a REAL kube-apiserver: list + watch, trimming, a watch that ends
or breaks, 410 Gone, an API server restart, and the cache lookups of the request path."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from multus_k8s import client as kube
from multus_k8s.informer import Informer, Informers
from multus_k8s.transport import KUBERNETES

from multus.testing.kube import KubeApiServer

pytestmark = pytest.mark.apiserver

REPO = Path(__file__).resolve().parents[2]
GROUP, VERSION, PLURAL = "k8s.cni.cncf.io", "v1", "network-attachment-definitions"
NETWORKS = "k8s.v1.cni.cncf.io/networks"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
NODE = "node-a"


# --- helpers ---------------------------------------------------------------------------------------

def wait_until(cond: Callable[[], Any], timeout: float = 15, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or cond}")
        time.sleep(0.05)


def create_pod(api: Any, ns: str, name: str, node: str = NODE, annotations: dict[str, str] | None = None) -> str:
    from kubernetes import client

    body = {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "annotations": {LAST_APPLIED: "{" + "x" * 2000 + "}", **(annotations or {})}},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "pause", "command": ["sleep", "1"],
                                                       "env": [{"name": "A", "value": "b"}]}]}}
    return str(client.CoreV1Api(api).create_namespaced_pod(ns, body).metadata.uid)


def delete_pod(api: Any, ns: str, name: str) -> None:
    from kubernetes import client

    client.CoreV1Api(api).delete_namespaced_pod(name, ns, grace_period_seconds=0)


def annotate_pod(api: Any, ns: str, name: str, key: str, value: str) -> None:
    from kubernetes import client

    client.CoreV1Api(api).patch_namespaced_pod(name, ns, {"metadata": {"annotations": {key: value}}})


def create_nad(api: Any, ns: str, name: str, config: dict[str, Any] | None = None) -> None:
    from kubernetes import client

    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": name}, "spec": {"config": json.dumps(config or {"cniVersion": "1.0.0",
                                                                                "type": "bridge"})}}
    client.CustomObjectsApi(api).create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, body)


def delete_nad(api: Any, ns: str, name: str) -> None:
    from kubernetes import client

    client.CustomObjectsApi(api).delete_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)


@pytest.fixture
def multus_client(kube_multus_kubeconfig: Path) -> Iterator[kube.KubeClient]:
    c = kube.KubeClient(str(kube_multus_kubeconfig), {}, timeout=10, retries=2, implementation=KUBERNETES)
    yield c
    c.close()


@pytest.fixture
def informers(multus_client: kube.KubeClient) -> Iterator[Informers]:
    made: list[Informers] = []

    def make(**options: Any) -> Informers:
        inf = Informers(multus_client, NODE, **options)
        made.append(inf)
        inf.start()
        assert inf.wait_synced(20), "informers did not sync"
        return inf

    yield make  # type: ignore[misc]
    for inf in made:
        inf.stop()


# --- list, watch, trimming ------------------------------------------------------------------------

def test_lists_then_follows_this_nodes_pods_and_every_nad(kube_client: Any, kube_namespace: str,
                                                          informers: Any) -> None:
    ns = kube_namespace
    uid = create_pod(kube_client, ns, "here", annotations={NETWORKS: "a"})
    create_pod(kube_client, ns, "elsewhere", node="node-b")
    create_nad(kube_client, ns, "net1")
    inf: Informers = informers()

    pod = inf.pods.get(ns, "here")
    assert pod is not None and inf.pods.get(ns, "elsewhere") is None  # spec.nodeName=node-a only
    # only what the engine reads: no managedFields, containers, status, last-applied copy
    assert pod == {"metadata": {"namespace": ns, "name": "here", "uid": uid,
                                "resourceVersion": pod["metadata"]["resourceVersion"],
                                "annotations": {NETWORKS: "a"}},
                   "spec": {"nodeName": NODE}}
    nad = inf.nads.get(ns, "net1")
    assert nad is not None and set(nad) == {"metadata", "spec"} and set(nad["spec"]) == {"config"}
    assert "managedFields" not in nad["metadata"] and nad["metadata"]["name"] == "net1"

    # the watch: created, changed, deleted
    uid2 = create_pod(kube_client, ns, "later")
    wait_until(lambda: (inf.pods.get(ns, "later") or {}).get("metadata", {}).get("uid") == uid2, what="ADDED")
    annotate_pod(kube_client, ns, "here", NETWORKS, "a,b")
    wait_until(lambda: inf.pods.get(ns, "here")["metadata"]["annotations"][NETWORKS] == "a,b", what="MODIFIED")
    delete_pod(kube_client, ns, "later")
    wait_until(lambda: inf.pods.get(ns, "later") is None, what="DELETED")
    create_nad(kube_client, ns, "net2")
    wait_until(lambda: inf.nads.get(ns, "net2") is not None, what="NAD ADDED")
    assert inf.pods.lists == 1 and inf.nads.lists == 1


def test_lookups_hit_the_cache_and_miss_on_another_uid(kube_client: Any, kube_namespace: str,
                                                       informers: Any) -> None:
    ns = kube_namespace
    uid = create_pod(kube_client, ns, "p")
    inf: Informers = informers()
    assert inf.pod(ns, "p", uid)["metadata"]["uid"] == uid
    assert inf.pod(ns, "p") is not None  # no UID asked: any
    assert inf.pod(ns, "p", "00000000-0000-0000-0000-000000000000") is None  # a replaced pod: read the API
    assert inf.pod(ns, "nope") is None and inf.nad(ns, "nope") is None
    assert inf.hits == {"pods": 2, PLURAL: 0} and inf.misses == {"pods": 2, PLURAL: 1}


def test_pages_of_a_list(kube_client: Any, kube_namespace: str, multus_client: kube.KubeClient) -> None:
    ns = kube_namespace
    for i in range(7):
        create_nad(kube_client, ns, f"n{i}")
    before = dict(kube.REQUESTS)
    inf = Informer(multus_client, PLURAL, f"/apis/{GROUP}/{VERSION}/namespaces/{ns}/{PLURAL}",
                   lambda o: dict(o), page_size=3)
    inf.start()
    try:
        assert inf.wait_synced(20)
        assert len(inf) == 7
        assert kube.REQUESTS.get(("list", PLURAL), 0) - before.get(("list", PLURAL), 0) == 3  # 3 + 3 + 1
    finally:
        inf.stop()


# --- a watch that ends or breaks ------------------------------------------------------------------

def test_a_watch_that_times_out_resumes_without_a_relist(kube_client: Any, kube_namespace: str,
                                                         informers: Any) -> None:
    ns = kube_namespace
    inf: Informers = informers(watch_timeout=(1, 1))
    wait_until(lambda: inf.pods.watches >= 3, timeout=20, what="three watches")
    create_pod(kube_client, ns, "after-timeouts")
    wait_until(lambda: inf.pods.get(ns, "after-timeouts") is not None, what="the pod")
    assert inf.pods.lists == 1 and inf.pods.errors == 0


def _break_watch(informer: Informer) -> None:
    """Shut the watch's TCP connection down under it (as a proxy or a dying server would)."""
    resp = wait_until(lambda: getattr(informer._watch, "_resp", None), what="an open watch")
    sock = resp.connection.sock
    sock.shutdown(socket.SHUT_RDWR)


def test_a_broken_watch_reconnects_and_resumes_from_its_resource_version(kube_client: Any, kube_namespace: str,
                                                                         informers: Any) -> None:
    ns = kube_namespace
    create_pod(kube_client, ns, "p0")
    inf: Informers = informers()
    watches = inf.pods.watches
    _break_watch(inf.pods)
    wait_until(lambda: inf.pods.watches > watches, what="a new watch")
    create_pod(kube_client, ns, "p1")
    annotate_pod(kube_client, ns, "p0", NETWORKS, "x")
    wait_until(lambda: inf.pods.get(ns, "p1") is not None, what="p1 after the reconnect")
    wait_until(lambda: inf.pods.get(ns, "p0")["metadata"].get("annotations", {}).get(NETWORKS) == "x",
               what="p0's change")
    assert inf.pods.lists == 1  # resumed, not re-listed


def test_410_gone_relists_and_forgets_what_was_deleted_meanwhile(kube_client: Any, kube_namespace: str,
                                                                 informers: Any) -> None:
    ns = kube_namespace
    create_nad(kube_client, ns, "stays")
    create_nad(kube_client, ns, "goes")
    inf: Informers = informers()
    nads = inf.nads
    nads.stop()  # a daemon that missed a while of events
    delete_nad(kube_client, ns, "goes")
    create_nad(kube_client, ns, "new")
    assert nads.get(ns, "goes") is not None  # stopped: still the old state
    old = "1"  # older than the server's watch window: "too old resource version", 410 Gone
    nads.resource_version = old
    nads.start()
    wait_until(lambda: nads.lists == 2, what="a re-list")
    assert nads.get(ns, "goes") is None
    assert nads.get(ns, "new") is not None and nads.get(ns, "stays") is not None
    assert int(nads.resource_version) > int(old)
    create_nad(kube_client, ns, "watched")  # and it watches again
    wait_until(lambda: nads.get(ns, "watched") is not None, what="a NAD after the re-list")


def test_metrics_of_the_informers(kube_client: Any, kube_namespace: str, informers: Any) -> None:
    from multus_k8s import metrics
    from multus_k8s.writer import Writer
    from prometheus_client import CollectorRegistry, generate_latest

    create_pod(kube_client, kube_namespace, "m")
    inf: Informers = informers()
    inf.pod(kube_namespace, "m")
    collector = metrics.Collector()
    collector.informers.append(inf)
    collector.writers.append(Writer())
    registry = CollectorRegistry()
    registry.register(collector)
    text = generate_latest(registry).decode()
    assert f'multus_informer_cache_objects{{resource="pods"}} {float(len(inf.pods))}' in text
    assert 'multus_informer_synced{resource="network-attachment-definitions"} 1.0' in text
    assert 'multus_informer_lookups_total{resource="pods",result="hit"} 1.0' in text
    assert 'multus_k8s_api_requests_total{resource="pods",verb="watch"}' in text
    assert 'multus_k8s_writes_pending 0.0' in text
    last = [line for line in text.splitlines()
            if line.startswith('multus_informer_last_sync_timestamp_seconds{resource="pods"}')]
    assert len(last) == 1 and abs(float(last[0].split()[-1]) - time.time()) < 60


# --- an API server restart ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def own_apiserver(kube_apiserver: KubeApiServer) -> Iterator[KubeApiServer]:
    """An API server of this module's own, since it is restarted."""
    srv = KubeApiServer()
    try:
        srv.start()
        srv.install_crd(REPO / "deploy" / "crd.yaml")
        srv.apply_manifest(REPO / "deploy" / "rbac.yaml")
        yield srv
    finally:
        srv.cleanup()


def restart_apiserver(srv: KubeApiServer, while_down: Callable[[], None]) -> None:
    """Kill kube-apiserver (a crash; etcd keeps running, with the data), run ``while_down``, start
    it again with the same command line (port, certificates, tokens)."""
    pid_file = srv.run_dir / "kube-apiserver.pid"
    pid = int(pid_file.read_text())
    cmdline = [a.decode() for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
    os.kill(pid, signal.SIGKILL)

    def gone() -> bool:
        try:
            return "zombie" in Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:
            return True

    wait_until(gone, timeout=30, what="kube-apiserver to stop")
    while_down()
    with open(srv.run_dir / "kube-apiserver.log", "ab") as log:
        proc = subprocess.Popen(cmdline, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    pid_file.write_text(str(proc.pid))

    def ready() -> bool:
        try:
            return srv.get_raw("/readyz", timeout=2).strip() == "ok"
        except OSError:
            return False

    wait_until(ready, timeout=60, what="kube-apiserver to be ready again")


def test_an_apiserver_restart(own_apiserver: KubeApiServer) -> None:
    srv = own_apiserver
    ns = srv.new_namespace("restart")
    with srv.api_client() as api:
        uid = create_pod(api, ns, "before")
    c = kube.KubeClient(str(srv.multus_kubeconfig), {}, timeout=2, retries=1, implementation=KUBERNETES)
    inf = Informers(c, NODE)
    inf.start()
    try:
        assert inf.wait_synced(20)
        with srv.api_client() as api:
            annotate_pod(api, ns, "before", NETWORKS, "x")  # etcd moves past the NAD list's version
        wait_until(lambda: inf.pods.get(ns, "before")["metadata"].get("annotations", {}).get(NETWORKS) == "x")

        def while_down() -> None:
            time.sleep(1.5)  # a few failed reconnects
            assert inf.pod(ns, "before", uid) is not None  # requests keep being served from the cache

        restart_apiserver(srv, while_down)
        with srv.api_client() as api:
            create_pod(api, ns, "after")
            annotate_pod(api, ns, "before", NETWORKS, "y")
        wait_until(lambda: inf.pods.get(ns, "after") is not None, timeout=60, what="a pod made after the restart")
        wait_until(lambda: inf.pods.get(ns, "before")["metadata"].get("annotations", {}).get(NETWORKS) == "y",
                   what="a change made after the restart")
        assert inf.pods.errors >= 1 and inf.nads.errors >= 1  # both noticed the server going away
        # the restarted server's NAD watch cache starts after the version the informer had: 410, re-list
        wait_until(lambda: inf.nads.lists == 2, what="the NAD informer's re-list")
        with srv.api_client() as api:
            create_nad(api, ns, "after")
        wait_until(lambda: inf.nads.get(ns, "after") is not None, what="a NAD made after the restart")
    finally:
        inf.stop()
        c.close()
