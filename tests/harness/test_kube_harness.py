"""The kube-apiserver harness against the real server."""

from __future__ import annotations

import json
import socket
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from multus.testing.kube import KubeApiServer, RequestCounts, parse_request_counts

pytestmark = pytest.mark.apiserver

GROUP, VERSION, PLURAL = "k8s.cni.cncf.io", "v1", "network-attachment-definitions"
NETWORK_STATUS = "k8s.v1.cni.cncf.io/network-status"


def _nad(name: str) -> dict[str, Any]:
    cfg = {"cniVersion": "0.3.1", "name": name, "type": "macvlan", "master": "eth0"}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "NetworkAttachmentDefinition",
        "metadata": {"name": name},
        "spec": {"config": json.dumps(cfg)},
    }


def _pod(name: str) -> Any:
    from kubernetes import client

    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, annotations={"k8s.v1.cni.cncf.io/networks": "macvlan-a"}),
        spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="pause")]),
    )


def test_server_reachable_on_this_namespace_loopback(kube_apiserver: KubeApiServer) -> None:
    assert kube_apiserver.url.startswith("https://127.0.0.1:")
    assert kube_apiserver.kubeconfig.is_file()
    assert kube_apiserver.ca.is_file()
    assert kube_apiserver.get_raw("/readyz") == "ok"


def test_crd_installed_and_nad_roundtrip(
    kube_apiserver: KubeApiServer, kube_client: Any, kube_namespace: str
) -> None:
    from kubernetes import client

    crd = client.ApiextensionsV1Api(kube_client).read_custom_resource_definition(f"{PLURAL}.{GROUP}")
    assert crd.spec.scope == "Namespaced"
    assert crd.spec.names.kind == "NetworkAttachmentDefinition"
    assert crd.spec.names.singular == "network-attachment-definition"
    assert set(crd.spec.names.short_names) == {"net-attach-def", "nad"}
    assert any(c.type == "Established" and c.status == "True" for c in crd.status.conditions)
    # installing again is harmless
    assert kube_apiserver.install_crd(Path(__file__).resolve().parents[2] / "deploy" / "crd.yaml")

    co = client.CustomObjectsApi(kube_client)
    co.create_namespaced_custom_object(GROUP, VERSION, kube_namespace, PLURAL, _nad("macvlan-a"))
    got = co.get_namespaced_custom_object(GROUP, VERSION, kube_namespace, PLURAL, "macvlan-a")
    assert json.loads(got["spec"]["config"])["type"] == "macvlan"
    listed = co.list_namespaced_custom_object(GROUP, VERSION, kube_namespace, PLURAL)
    assert [i["metadata"]["name"] for i in listed["items"]] == ["macvlan-a"]


def test_pod_status_annotation_patch(kube_client: Any, kube_namespace: str) -> None:
    from kubernetes import client

    core = client.CoreV1Api(kube_client)
    core.create_namespaced_pod(kube_namespace, _pod("p1"))
    status = json.dumps([{"name": "default/macvlan-a", "interface": "net1", "ips": ["10.1.1.2"]}])
    core.patch_namespaced_pod_status(
        "p1", kube_namespace, {"metadata": {"annotations": {NETWORK_STATUS: status}}}
    )
    pod = core.read_namespaced_pod("p1", kube_namespace)
    assert json.loads(pod.metadata.annotations[NETWORK_STATUS])[0]["interface"] == "net1"
    assert pod.metadata.annotations["k8s.v1.cni.cncf.io/networks"] == "macvlan-a"


def test_events_created(kube_client: Any, kube_namespace: str) -> None:
    from kubernetes import client

    core = client.CoreV1Api(kube_client)
    pod = core.create_namespaced_pod(kube_namespace, _pod("p2"))
    ref = client.V1ObjectReference(
        kind="Pod", namespace=kube_namespace, name="p2", uid=pod.metadata.uid, api_version="v1"
    )
    ev = client.CoreV1Event(
        metadata=client.V1ObjectMeta(name=f"p2.{uuid.uuid4().hex[:8]}"),
        involved_object=ref,
        reason="AddedInterface",
        message="Add net1 [10.1.1.2/24] from default/macvlan-a",
        type="Normal",
        source=client.V1EventSource(component="multus"),
    )
    core.create_namespaced_event(kube_namespace, ev)
    # events.k8s.io/v1: explicit name (generateName with a dot is rejected)
    ev2 = client.EventsV1Event(
        metadata=client.V1ObjectMeta(name=f"p2-{uuid.uuid4().hex[:8]}"),
        event_time=datetime.now(UTC),
        reporting_controller="k8s.cni.cncf.io/multus",
        reporting_instance="multus-node1",
        action="Added",
        reason="AddedInterface",
        regarding=ref,
        note="Add net1",
        type="Normal",
    )
    client.EventsV1Api(kube_client).create_namespaced_event(kube_namespace, ev2)
    reasons = [e.reason for e in core.list_namespaced_event(kube_namespace).items]
    assert reasons.count("AddedInterface") == 2


def test_metrics_count_requests(kube_apiserver: KubeApiServer, kube_client: Any, kube_namespace: str) -> None:
    from kubernetes import client

    core = client.CoreV1Api(kube_client)
    core.create_namespaced_pod(kube_namespace, _pod("p3"))
    before = kube_apiserver.metrics()
    for _ in range(3):
        core.read_namespaced_pod("p3", kube_namespace)
    core.list_namespaced_pod(kube_namespace)
    deadline = time.monotonic() + 5
    while True:
        delta = kube_apiserver.metrics() - before
        gets = delta.total(verb="GET", resource="pods", subresource="")
        if gets >= 3 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert gets == 3
    assert delta.total(verb="list", resource="pods") >= 1
    assert delta.by("verb", resource="pods").get(("GET",)) == 3


def test_multus_rbac_user(
    kube_apiserver: KubeApiServer, kube_multus_kubeconfig: Path, kube_client: Any, kube_namespace: str
) -> None:
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    client.CoreV1Api(kube_client).create_namespaced_pod(kube_namespace, _pod("p4"))
    client.CustomObjectsApi(kube_client).create_namespaced_custom_object(
        GROUP, VERSION, kube_namespace, PLURAL, _nad("macvlan-a")
    )
    with kube_apiserver.api_client(kube_multus_kubeconfig) as mc:
        core = client.CoreV1Api(mc)
        client.CustomObjectsApi(mc).get_namespaced_custom_object(
            GROUP, VERSION, kube_namespace, PLURAL, "macvlan-a"
        )
        core.patch_namespaced_pod_status(
            "p4", kube_namespace, {"metadata": {"annotations": {NETWORK_STATUS: "[]"}}}
        )
        with pytest.raises(ApiException) as exc:
            core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="forbidden-ns")))
        assert exc.value.status == 403


def test_parse_request_counts() -> None:
    text = (
        "# HELP apiserver_request_total [STABLE] Counter of apiserver requests\n"
        "# TYPE apiserver_request_total counter\n"
        'apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",'
        'scope="resource",subresource="",verb="GET",version="v1"} 4\n'
        'apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",'
        'scope="resource",subresource="status",verb="PATCH",version="v1"} 2\n'
        'apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="",'
        'scope="",subresource="/metrics",verb="GET",version=""} 7\n'
    )
    counts = parse_request_counts(text)
    assert counts.total(verb="get") == 11
    assert counts.total(resource="pods") == 6
    assert counts.total(resource="pods", subresource="status") == 2
    assert (counts - RequestCounts()).total() == 13


def test_second_server_start_stop_keeps_kubeconfig(tmp_path: Path, kube_apiserver: KubeApiServer) -> None:
    """A server stopped on purpose leaves its kubeconfig behind; clients get connection refused."""
    srv = KubeApiServer(tmp_path / "kube")
    try:
        srv.start()
        assert srv.url != kube_apiserver.url
        assert srv.get_raw("/readyz") == "ok"
        port = int(srv.url.rsplit(":", 1)[1])
        srv.stop()
        assert srv.kubeconfig.is_file() and srv.ca.is_file()
        assert not srv.run_dir.exists()
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        assert kube_apiserver.get_raw("/readyz") == "ok"
    finally:
        srv.cleanup()
    assert not srv.state_dir.exists()
