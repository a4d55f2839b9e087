"""The two transports of the Kubernetes backend (multus_k8s.transport) against a REAL
kube-apiserver: the light REST one of the thin plugin and the ``kubernetes`` package's of the
daemon answer the same; client-certificate and token authentication, a CA that does not match,
``tls-server-name``, 403, a credential plugin (``exec``) left to the ``kubernetes`` package, and a
thin ADD that never imports ``kubernetes``."""

# ruff: noqa: F811  (the harness fixtures are imported, then named as test parameters)
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))

import thinkit
from kube_fixtures import (  # noqa: F401  (fixtures, used by name)
    client_cert_kubeconfig,
    kube_apiserver,
    kube_client,
    kube_multus_kubeconfig,
    kube_namespace,
)
from multus_k8s import client as kube
from multus_k8s.transport import KUBERNETES, REST
from test_k8s_backend import STATUS, create_nad, create_pod, read_pod

from multus.errors import INVALID_CONFIG, CNIError
from multus.testing.kube import KubeApiServer

pytestmark = pytest.mark.apiserver

MULTUS_USER = "system:serviceaccount:kube-system:multus"
MULTUS_GROUPS = ("system:serviceaccounts", "system:serviceaccounts:kube-system")
BOTH = pytest.mark.parametrize("implementation", [REST, KUBERNETES])


def client(kubeconfig: Path | str, implementation: str = REST, **kw: Any) -> kube.KubeClient:
    c = kube.KubeClient(str(kubeconfig), {}, implementation=implementation, **kw)
    assert c._api()[0].implementation == implementation
    return c


def edited(base: Path, tmp_path: Path, name: str, edit: Callable[[dict[str, Any]], None]) -> Path:
    cfg = yaml.safe_load(base.read_text())
    edit(cfg)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA that signed nothing of the server's."""
    d = tmp_path_factory.mktemp("other-ca")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(d / "ca.key"),
                    "-out", str(d / "ca.crt"), "-days", "2", "-subj", "/CN=not-the-cluster-ca"],
                   check=True, capture_output=True, timeout=60)
    return d / "ca.crt"


# --- the same answers ----------------------------------------------------------------------------

def test_both_transports_answer_the_same_dicts(kube_client: Any, kube_namespace: str,
                                               kube_multus_kubeconfig: Path) -> None:
    create_pod(kube_client, kube_namespace, annotations={"a": "b"})
    create_nad(kube_client, kube_namespace, "n1", {"cniVersion": "1.0.0", "type": "bridge"})
    rest, full = client(kube_multus_kubeconfig, REST), client(kube_multus_kubeconfig, KUBERNETES)
    try:
        pods = [c.get_pod(kube_namespace, "p1") for c in (rest, full)]
        nads = [c.get_nad(kube_namespace, "n1") for c in (rest, full)]
        assert pods[0] == pods[1] and pods[0] is not None and pods[0]["metadata"]["annotations"] == {"a": "b"}
        assert nads[0] == nads[1] and nads[0] is not None and json.loads(nads[0]["spec"]["config"])["type"] == "bridge"
        for c in (rest, full):
            assert c.get_pod(kube_namespace, "absent") is None and c.get_nad(kube_namespace, "absent") is None
        assert rest.patch_pod_status_annotation(kube_namespace, "p1", STATUS, "[]", uid=pods[0]["metadata"]["uid"])
        assert read_pod(kube_client, kube_namespace).metadata.annotations[STATUS] == "[]"
        # the pod replaced under its name: the UID in the patch keeps the new one untouched
        assert not rest.patch_pod_status_annotation(kube_namespace, "p1", STATUS, "[1]", uid="another-uid")
        assert not rest.patch_pod_status_annotation(kube_namespace, "absent", STATUS, "[]")
        involved = {"kind": "Pod", "apiVersion": "v1", "namespace": kube_namespace, "name": "p1",
                    "uid": pods[0]["metadata"]["uid"]}
        rest.create_event(involved, "Normal", "Tested", "through the REST transport", host="node-a")
        from kubernetes import client as k8s

        got = [e for e in k8s.CoreV1Api(kube_client).list_namespaced_event(kube_namespace).items
               if e.reason == "Tested"]
        assert len(got) == 1 and got[0].message == "through the REST transport"
        assert got[0].source.component == "multus" and got[0].involved_object.uid == pods[0]["metadata"]["uid"]
    finally:
        rest.close()
        full.close()


# --- authentication ------------------------------------------------------------------------------

@pytest.mark.parametrize("embed", [False, True], ids=["files", "data"])
@BOTH
def test_client_certificate_authentication(kube_apiserver: KubeApiServer, kube_multus_kubeconfig: Path,
                                           kube_client: Any, kube_namespace: str, tmp_path: Path,
                                           embed: bool, implementation: str) -> None:
    create_pod(kube_client, kube_namespace)
    path = client_cert_kubeconfig(kube_apiserver, tmp_path / "cert", MULTUS_USER, MULTUS_GROUPS, embed=embed)
    c = client(path, implementation)
    pod = c.get_pod(kube_namespace, "p1")
    assert pod is not None and pod["metadata"]["name"] == "p1"
    if implementation == REST and embed:
        # the key reached ssl through a memory file: no temporary copy was left anywhere
        assert not [f for f in os.listdir("/tmp") if f.startswith("multus-k8s-")]


@BOTH
def test_a_user_without_rights_gets_403_with_the_hint(kube_apiserver: KubeApiServer, kube_namespace: str,
                                                      tmp_path: Path, implementation: str) -> None:
    path = client_cert_kubeconfig(kube_apiserver, tmp_path / "nobody", "nobody")
    c = client(path, implementation)
    with pytest.raises(kube.KubeAPIError) as e:
        c.get_pod(kube_namespace, "p1")
    assert e.value.code == INVALID_CONFIG and e.value.status == 403
    assert e.value.msg.startswith(f"error getting pod {kube_namespace}/p1: pods \"p1\" is forbidden: "
                                  'User "nobody" cannot get resource "pods"')
    assert e.value.msg.endswith("(check the multus ClusterRole)")


# --- TLS -----------------------------------------------------------------------------------------

@BOTH
def test_a_ca_that_does_not_match_fails_at_once_with_code_7(kube_multus_kubeconfig: Path, other_ca: Path,
                                                            tmp_path: Path, implementation: str) -> None:
    def wrong_ca(cfg: dict[str, Any]) -> None:
        for cluster in cfg["clusters"]:
            cluster["cluster"].pop("certificate-authority-data")
            cluster["cluster"]["certificate-authority"] = str(other_ca)

    c = client(edited(kube_multus_kubeconfig, tmp_path, "kc", wrong_ca), implementation, retries=3)
    with pytest.raises(kube.KubeAPIError) as e:
        c.get_pod("default", "p1")
    assert e.value.code == INVALID_CONFIG
    assert "presented a certificate that the kubeconfig" in e.value.msg and "does not trust" in e.value.msg
    assert "certificate verify failed" in e.value.msg.lower() or "CERTIFICATE_VERIFY_FAILED" in e.value.msg
    assert kube.REQUESTS  # counted, and not retried: see the unit test of the loop


def test_tls_server_name_and_insecure_skip_tls_verify(kube_client: Any, kube_namespace: str,
                                                      kube_multus_kubeconfig: Path, other_ca: Path,
                                                      tmp_path: Path) -> None:
    create_pod(kube_client, kube_namespace)

    def server_name(name: str) -> Callable[[dict[str, Any]], None]:
        def edit(cfg: dict[str, Any]) -> None:
            for cluster in cfg["clusters"]:
                cluster["cluster"]["tls-server-name"] = name
        return edit

    # the serving certificate names DNS:kubernetes, not DNS:elsewhere
    good = client(edited(kube_multus_kubeconfig, tmp_path, "good", server_name("kubernetes")))
    assert good.get_pod(kube_namespace, "p1") is not None
    bad = client(edited(kube_multus_kubeconfig, tmp_path, "bad", server_name("elsewhere")))
    with pytest.raises(kube.KubeAPIError) as e:
        bad.get_pod(kube_namespace, "p1")
    assert e.value.code == INVALID_CONFIG and "elsewhere" in e.value.msg

    def insecure(cfg: dict[str, Any]) -> None:
        for cluster in cfg["clusters"]:
            cluster["cluster"].pop("certificate-authority-data")
            cluster["cluster"]["certificate-authority"] = str(other_ca)
            cluster["cluster"]["insecure-skip-tls-verify"] = True

    c = client(edited(kube_multus_kubeconfig, tmp_path, "insecure", insecure))
    assert c.get_pod(kube_namespace, "p1") is not None


# --- credential plugins --------------------------------------------------------------------------

def test_an_exec_credential_plugin_is_left_to_the_kubernetes_package(kube_apiserver: KubeApiServer,
                                                                     kube_multus_kubeconfig: Path,
                                                                     kube_client: Any, kube_namespace: str,
                                                                     tmp_path: Path) -> None:
    create_pod(kube_client, kube_namespace)
    plugin = tmp_path / "credential-plugin"
    cred = {"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential",
            "status": {"token": kube_apiserver.multus_token}}
    plugin.write_text(f"#!/bin/sh\necho '{json.dumps(cred)}'\n")
    plugin.chmod(0o755)

    def with_exec(cfg: dict[str, Any]) -> None:
        for user in cfg["users"]:
            user["user"] = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": str(plugin),
                                     "interactiveMode": "Never"}}

    path = edited(kube_multus_kubeconfig, tmp_path, "kc", with_exec)
    c = kube.KubeClient(str(path), {})  # auto: the thin plugin's choice
    assert c._api()[0].implementation == KUBERNETES
    pod = c.get_pod(kube_namespace, "p1")
    assert pod is not None and pod["metadata"]["name"] == "p1"
    with pytest.raises(CNIError) as e:
        kube.KubeClient(str(path), {}, implementation=REST).get_pod(kube_namespace, "p1")
    assert e.value.code == INVALID_CONFIG and "a user with exec needs the kubernetes package" in e.value.msg


# --- the thin executable -------------------------------------------------------------------------

@pytest.fixture
def node(tmp_path: Path, pod_netns: Callable[..., str]) -> Iterator[thinkit.Node]:
    yield from thinkit.make_node(tmp_path, pod_netns)


@pytest.mark.root
def test_a_thin_add_with_a_kubeconfig_never_imports_kubernetes(node: thinkit.Node, kube_client: Any,
                                                               kube_apiserver: KubeApiServer,
                                                               kube_multus_kubeconfig: Path) -> None:
    ns = kube_apiserver.new_namespace("thin")
    create_nad(kube_client, ns, "brnet", {k: v for k, v in node.bridge("brnet").items() if k != "name"})
    create_nad(kube_client, ns, "extra", {k: v for k, v in node.bridge("extra").items() if k != "name"})
    pod = node.pod(namespace=ns)
    created = create_pod(kube_client, ns, pod.name, {"k8s.v1.cni.cncf.io/networks": "extra"})
    pod = attrs.evolve(pod, uid=created["uid"])
    conf = node.multus(kubeconfig=str(kube_multus_kubeconfig), clusterNetwork="brnet", multusNamespace=ns)
    for command in ("ADD", "DEL"):
        out = thinkit.invoke([sys.executable, "-X", "importtime", "-m", "multus.cli.thin"], node.env(command, pod),
                             conf, 120)
        assert out.returncode == 0, thinkit.describe(out)
        imported = {line.split("|")[-1].strip() for line in out.stderr.splitlines() if line.startswith("import time:")}
        assert command == "DEL" or "multus_k8s.rest" in imported
        assert not {m for m in imported if m == "kubernetes" or m.startswith("kubernetes.")}
        assert "encodings.idna" not in imported  # hosts go to socket and ssl as ASCII bytes
        if command == "ADD":
            assert out.json["ips"] and set(node.links(pod)) == {"lo", "eth0", "net1"}
            written = json.loads(read_pod(kube_client, ns, pod.name).metadata.annotations[STATUS])
            assert [e["name"] for e in written] == [f"{ns}/brnet", f"{ns}/extra"]
    assert node.links(pod) == ["lo"]
