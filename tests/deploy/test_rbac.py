"""deploy/rbac.yaml grants exactly what the Kubernetes backend asks for.

The requests are read from plugins/multus_k8s (every ``_request(api, "<METHOD>", "<path>")`` and
any typed client call), turned into RBAC (group, resource, verb) triples and compared with the
ClusterRole both ways. Then, against the real kube-apiserver as the multus service account, each
of those calls is made through the backend's own client and succeeds, and neighbouring rights
the role must not grant are refused (403)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BACKEND = REPO / "plugins" / "multus_k8s"
RBAC = REPO / "deploy" / "rbac.yaml"

_HTTP_VERBS = {"POST": "create", "PATCH": "patch", "PUT": "update", "DELETE": "delete"}
_REQUEST_RE = re.compile(r'_request\(\s*\w+\s*,\s*"(?P<method>[A-Z]+)"\s*,\s*f?"(?P<path>[^"]+)"'
                         r'(?P<rest>[^)]*)\)')
_TYPED_RE = re.compile(r"\.(?P<op>read|list|watch|create|patch|replace|delete)_(?:namespaced_)?"
                       r"(?P<kind>[a-z_]+?)(?P<sub>_status)?\(")
_TYPED_VERBS = {"read": "get", "list": "list", "watch": "watch", "create": "create", "patch": "patch",
                "replace": "update", "delete": "delete"}
_TYPED_KINDS = {"pod": ("", "pods"), "event": ("", "events"), "network_attachment_definition":
                ("k8s.cni.cncf.io", "network-attachment-definitions")}

Triple = tuple[str, str, str]


def _constants() -> dict[str, str]:
    from multus_k8s import client

    return {k: v for k, v in vars(client).items() if k.isupper() and isinstance(v, str)}


def _path_triple(method: str, path: str, rest: str) -> Triple:
    consts = _constants()
    path = re.sub(r"\{(\w+)\}", lambda m: consts.get(m.group(1), "{" + m.group(1) + "}"), path)
    parts = [p for p in path.split("?")[0].strip("/").split("/") if p]
    if parts[0] == "api":
        group, rest_parts = "", parts[2:]
    else:
        group, rest_parts = parts[1], parts[3:]
    if rest_parts[:1] == ["namespaces"] and len(rest_parts) >= 3:
        rest_parts = rest_parts[2:]
    resource = rest_parts[0]
    named = len(rest_parts) >= 2
    if len(rest_parts) >= 3:
        resource = f"{resource}/{rest_parts[2]}"
    if method == "GET":
        verb = "watch" if "watch" in path or "watch" in rest else ("get" if named else "list")
    else:
        verb = _HTTP_VERBS[method]
    return group, resource, verb


_INFORMER_RE = re.compile(r"\bInformer\(\s*\w+\s*,\s*[^,]+,\s*(?P<const>[A-Z_]+)\s*,")


def _informer_paths() -> dict[str, str]:
    from multus_k8s import informer

    return {k: v for k, v in vars(informer).items() if k.endswith("_PATH") and isinstance(v, str)}


def used_by_code() -> set[Triple]:
    out: set[Triple] = set()
    for f in sorted(BACKEND.glob("*.py")):
        text = f.read_text()
        for m in _INFORMER_RE.finditer(text):  # an informer lists, then watches, its path
            path = _informer_paths()[m.group("const")]
            group, resource, _ = _path_triple("GET", path, "")
            out |= {(group, resource, "list"), (group, resource, "watch")}
        for m in _REQUEST_RE.finditer(text):
            if m.group("path").startswith("/"):
                out.add(_path_triple(m.group("method"), m.group("path"), m.group("rest")))
        for m in _TYPED_RE.finditer(text):
            kind = _TYPED_KINDS.get(m.group("kind"))
            if kind is not None:
                res = kind[1] + ("/status" if m.group("sub") else "")
                out.add((kind[0], res, _TYPED_VERBS[m.group("op")]))
    return out


def granted_by_role() -> set[Triple]:
    docs = [d for d in yaml.safe_load_all(RBAC.read_text()) if d]
    role = next(d for d in docs if d["kind"] == "ClusterRole" and d["metadata"]["name"] == "multus")
    out: set[Triple] = set()
    for rule in role["rules"]:
        for g in rule["apiGroups"]:
            for r in rule["resources"]:
                for v in rule["verbs"]:
                    assert "*" not in (g, r, v), f"wildcard in the multus ClusterRole: {rule}"
                    out.add((g, r, v))
    return out


def test_scanner_reads_the_backend() -> None:
    used = used_by_code()
    # the scan must see the calls the backend's module documents, or it proves nothing
    assert ("", "pods", "get") in used and ("", "pods/status", "patch") in used
    assert _path_triple("GET", "/api/v1/namespaces/{x}/pods", "") == ("", "pods", "list")
    assert _path_triple("GET", "/apis/g/v1/namespaces/{x}/things", "watch=True") == ("g", "things", "watch")


def test_role_is_exactly_what_the_code_calls() -> None:
    used, granted = used_by_code(), granted_by_role()
    assert used - granted == set(), f"the code calls what the role does not grant: {sorted(used - granted)}"
    assert granted - used == set(), f"the role grants what the code never calls: {sorted(granted - used)}"


@pytest.mark.apiserver
def test_the_service_account_can_make_those_calls_and_no_more(kube_client: Any, kube_namespace: str,
                                                              kube_multus_kubeconfig: Path) -> None:
    import json

    from kubernetes import client as k8s
    from kubernetes.client.exceptions import ApiException
    from multus_k8s.client import KubeClient

    ns = kube_namespace
    k8s.CoreV1Api(kube_client).create_namespaced_pod(ns, {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p1"},
        "spec": {"nodeName": "node-a", "containers": [{"name": "c", "image": "pause"}]}})
    k8s.CustomObjectsApi(kube_client).create_namespaced_custom_object(
        "k8s.cni.cncf.io", "v1", ns, "network-attachment-definitions",
        {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition", "metadata": {"name": "n1"},
         "spec": {"config": json.dumps({"cniVersion": "0.3.1", "type": "macvlan"})}})

    multus = KubeClient(str(kube_multus_kubeconfig), {}, timeout=10, retries=0)
    try:
        pod = multus.get_pod(ns, "p1")
        assert pod is not None and pod["metadata"]["name"] == "p1"
        nad = multus.get_nad(ns, "n1")
        assert nad is not None and nad["metadata"]["name"] == "n1"
        assert multus.patch_pod_status_annotation(ns, "p1", "k8s.v1.cni.cncf.io/network-status", "[]")
        multus.create_event({"kind": "Pod", "namespace": ns, "name": "p1", "apiVersion": "v1"},
                            "Normal", "AddedInterface", "rbac test")
    finally:
        multus.close()
    events = k8s.CoreV1Api(kube_client).list_namespaced_event(ns).items
    assert any(e.message == "rbac test" for e in events)

    with _client(kube_multus_kubeconfig) as api:
        core = k8s.CoreV1Api(api)
        custom = k8s.CustomObjectsApi(api)
        # what the daemon's informers list (and then watch): this node's pods, every NAD
        pods = core.list_pod_for_all_namespaces(field_selector="spec.nodeName=node-a").items
        assert [p.metadata.name for p in pods if p.metadata.namespace == ns] == ["p1"]
        nads = custom.list_cluster_custom_object("k8s.cni.cncf.io", "v1", "network-attachment-definitions")
        assert any(n["metadata"]["name"] == "n1" for n in nads["items"])
        refused = {
            "create pods": lambda: core.create_namespaced_pod(
                ns, {"metadata": {"name": "p2"}, "spec": {"containers": [{"name": "c", "image": "x"}]}}),
            "delete pods": lambda: core.delete_namespaced_pod("p1", ns),
            "update pods": lambda: core.patch_namespaced_pod("p1", ns, {"metadata": {"labels": {"a": "b"}}}),
            "create NADs": lambda: custom.create_namespaced_custom_object(
                "k8s.cni.cncf.io", "v1", ns, "network-attachment-definitions",
                {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
                 "metadata": {"name": "n2"}, "spec": {"config": "{}"}}),
            "delete NADs": lambda: custom.delete_namespaced_custom_object("k8s.cni.cncf.io", "v1", ns,
                                                                         "network-attachment-definitions", "n1"),
            "read secrets": lambda: core.list_namespaced_secret(ns),
        }
        for what, call in refused.items():
            with pytest.raises(ApiException) as exc:
                call()
            assert exc.value.status == 403, f"{what}: {exc.value.status}"


def _client(kubeconfig: Path) -> Any:
    from kubernetes import client, config

    cfg = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
    cfg.proxy = None
    return client.ApiClient(configuration=cfg)
