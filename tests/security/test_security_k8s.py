"""Namespace isolation with the real kube-apiserver and NetworkAttachmentDefinitions, and no
service-account token in any log line, over the thin plugin on the real CNI plugins."""

# ruff: noqa: F811  (the harness fixtures are imported, then named as test parameters)
from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
import thinkit
from thinkit import Node

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))

from kube_fixtures import (  # noqa: F401  (fixtures, used by name)
    kube_apiserver,
    kube_client,
    kube_multus_kubeconfig,
)

from multus.testing.kube import KubeApiServer

pytestmark = [pytest.mark.apiserver, pytest.mark.root,
              pytest.mark.skipif(thinkit.skip_reason() is not None, reason=thinkit.skip_reason() or "")]

NETWORKS = "k8s.v1.cni.cncf.io/networks"
DEFAULT_NETWORK = "v1.multus-cni.io/default-network"
GROUP, VERSION, PLURAL = "k8s.cni.cncf.io", "v1", "network-attachment-definitions"


def _nad(api: Any, ns: str, name: str, config: dict[str, Any]) -> None:
    from kubernetes import client

    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": name}, "spec": {"config": json.dumps(config)}}
    client.CustomObjectsApi(api).create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, body)


def _api_pod(api: Any, pod: thinkit.Pod, annotations: dict[str, str]) -> thinkit.Pod:
    from kubernetes import client

    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": pod.name, "annotations": annotations},
            "spec": {"containers": [{"name": "c", "image": "pause"}]}}
    created = client.CoreV1Api(api).create_namespaced_pod(pod.namespace, body)
    return attrs.evolve(pod, uid=created.metadata.uid)


@pytest.fixture
def namespaces(kube_apiserver: KubeApiServer) -> dict[str, str]:
    return {k: kube_apiserver.new_namespace(prefix=f"iso-{k}") for k in ("own", "other", "shared", "admin")}


@pytest.fixture
def isolated(node: Node, kube_client: Any, kube_multus_kubeconfig: Path,
             namespaces: dict[str, str]) -> Callable[..., tuple[dict[str, Any], thinkit.Pod]]:
    """A multus conf with isolation on, the NAD ``mvnet`` in every test namespace, and a pod in ``own``."""
    master = node.host_link()
    for ns in namespaces.values():
        _nad(kube_client, ns, "mvnet", {k: v for k, v in node.macvlan("mvnet", master).items() if k != "name"})
        _nad(kube_client, ns, "brnet", {k: v for k, v in node.bridge("brnet").items() if k != "name"})

    def make(annotations: dict[str, str], **keys: Any) -> tuple[dict[str, Any], thinkit.Pod]:
        conf = node.multus(kubeconfig=str(kube_multus_kubeconfig), namespaceIsolation=True,
                           globalNamespaces=namespaces["shared"], multusNamespace=namespaces["admin"], **keys)
        conf.setdefault("clusterNetwork", "brnet")
        pod = _api_pod(kube_client, node.pod(namespace=namespaces["own"]), annotations)
        return conf, pod

    return make


@pytest.mark.parametrize(("form", "allowed"), [
    ("{other}/mvnet", False), ("{own}/mvnet", True), ("{shared}/mvnet", True), ("mvnet", True),
    ("{other}/mvnet@net7", False),
    ('[{{"name": "mvnet", "namespace": "{other}"}}]', False),
    ('[{{"name": "mvnet", "namespace": "{shared}"}}]', True),
    ('[{{"name": "mvnet"}}]', True),
])
def test_isolation_networks_annotation(node: Node, isolated: Callable[..., Any], namespaces: dict[str, str],
                                       form: str, allowed: bool) -> None:
    conf, pod = isolated({NETWORKS: form.format(**namespaces)})
    out = node.run("ADD", conf, pod)
    if allowed:
        assert out.returncode == 0, thinkit.describe(out)
        assert len([n for n in node.links(pod) if n not in ("lo", "eth0")]) == 1
        node.delete(conf, pod)
    else:
        err = thinkit.error_of(out)
        assert err["code"] == 7 and "namespace isolation" in err["msg"], err
        assert node.links(pod) == ["lo"]
    node.assert_clean(pod)


@pytest.mark.parametrize(("form", "allowed"), [("{other}/brnet", False), ("{own}/brnet", True),
                                               ("{shared}/brnet", True)])
def test_isolation_default_network_annotation(node: Node, isolated: Callable[..., Any],
                                              namespaces: dict[str, str], form: str, allowed: bool) -> None:
    conf, pod = isolated({DEFAULT_NETWORK: form.format(**namespaces)})
    out = node.run("ADD", conf, pod)
    if allowed:
        assert out.returncode == 0, thinkit.describe(out)
        node.delete(conf, pod)
    else:
        err = thinkit.error_of(out)
        assert err["code"] == 7 and "namespace isolation" in err["msg"], err
    node.assert_clean(pod)


def test_isolation_leaves_admin_networks_alone(node: Node, isolated: Callable[..., Any]) -> None:
    """``clusterNetwork`` and ``defaultNetworks`` are the administrator's (resolved in multusNamespace,
    another namespace than the pod's): isolation, a limit on what a pod may ask for, does not apply."""
    conf, pod = isolated({}, defaultNetworks=["mvnet"])
    node.add(conf, pod)
    assert sorted(node.links(pod)) == ["eth0", "lo", "net1"]
    node.delete(conf, pod)
    node.assert_clean(pod)


@pytest.mark.parametrize("level", ["debug", "verbose", "error"])
def test_no_token_in_logs(node: Node, isolated: Callable[..., Any], kube_apiserver: KubeApiServer,
                          namespaces: dict[str, str], tmp_path: Path, level: str) -> None:
    log_file = tmp_path / "multus.log"
    conf, pod = isolated({NETWORKS: f"{namespaces['other']}/mvnet, mvnet, missing"}, logLevel=level,
                         logFile=str(log_file), logToStderr=True)
    outs = [node.run("ADD", conf, pod), node.run("DEL", conf, pod)]
    seen = log_file.read_text() + "".join(o.stdout + o.stderr for o in outs)
    assert "namespace isolation" in seen, seen
    for secret in (kube_apiserver.multus_token, kube_apiserver.token):
        assert secret and secret not in seen, f"a token leaked at logLevel {level}"
        assert secret[-16:] not in seen
    node.assert_clean(pod)
