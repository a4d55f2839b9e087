"""``multusctl explain``: the engine's own ADD plan for a pod, offline from manifests and live
from the real kube-apiserver; rejected annotations explained; nothing executed or written."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from installkit import CTL

NETWORKS = "k8s.v1.cni.cncf.io/networks"
MACVLAN = {"cniVersion": "0.3.1", "type": "macvlan", "master": "eth0", "ipam": {"type": "static"}}
HOSTDEV = {"cniVersion": "0.3.1", "type": "host-device"}


def pod(ns: str, annotations: dict[str, str], name: str = "web") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "uid": "u-1", "annotations": annotations},
            "spec": {"containers": [{"name": "c", "image": "pause"}]}}


def nad(ns: str, name: str, config: dict[str, Any], resource: str = "") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns}
    if resource:
        meta["annotations"] = {"k8s.v1.cni.cncf.io/resourceName": resource}
    return {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition", "metadata": meta,
            "spec": {"config": json.dumps(config)}}


def multus_conf(tmp: Path, **extra: Any) -> Path:
    p = tmp / "00-multus.conf"
    p.write_text(json.dumps({"cniVersion": "0.3.1", "name": "multus-cni-network", "type": "multus",
                             "kubeconfig": "/nonexistent/kubeconfig", "confDir": str(tmp / "confd"),
                             "delegates": [{"cniVersion": "0.3.1", "name": "cbr0", "type": "bridge"}], **extra}))
    return p


def explain(*args: str) -> tuple[int, dict[str, Any], str]:
    r = subprocess.run([*CTL, "explain", "-o", "json", *args], capture_output=True, text=True, timeout=60,
                       check=False)
    return r.returncode, (json.loads(r.stdout) if r.stdout.strip() else {}), r.stderr


def write(tmp: Path, name: str, *docs: dict[str, Any]) -> str:
    p = tmp / name
    p.write_text(yaml.safe_dump_all(docs))
    return str(p)


def test_offline_plan_order_names_runtime_config_and_device_ids(tmp_path: Path) -> None:
    ann = {NETWORKS: json.dumps([{"name": "mv", "interface": "data0", "ips": ["10.1.1.5/24"],
                                  "mac": "02:00:00:00:00:05"}, {"name": "sriov"}, {"name": "mv"}])}
    rmap = tmp_path / "rmap.json"
    rmap.write_text(json.dumps({"intel.com/sriov": ["0000:03:00.1"]}))
    code, out, err = explain("-f", write(tmp_path, "pod.yaml", pod("app", ann)), "-c", str(multus_conf(tmp_path)),
                             "-n", write(tmp_path, "nads.yaml", nad("app", "mv", MACVLAN),
                                         nad("app", "sriov", HOSTDEV, "intel.com/sriov")),
                             "--resource-map", str(rmap))
    assert code == 0, err
    nets = out["networks"]
    assert [(n["interface"], n["network"], n["type"]) for n in nets] == [
        ("eth0", "cbr0", "bridge"), ("data0", "app/mv", "macvlan"), ("net2", "app/sriov", "host-device"),
        ("net3", "app/mv", "macvlan")]
    assert nets[0]["clusterNetwork"] and not nets[1]["clusterNetwork"]
    assert nets[1]["runtimeConfig"] == {"ips": ["10.1.1.5/24"], "mac": "02:00:00:00:00:05"}
    assert ("IP", "10.1.1.5/24") in nets[1]["cniArgs"].items()
    assert nets[1]["config"]["name"] == "mv"  # the NAD's name injected, as ADD does
    assert nets[2]["deviceID"] == "0000:03:00.1" and nets[2]["config"]["deviceID"] == "0000:03:00.1"
    assert nets[2]["runtimeConfig"]["deviceID"] == "0000:03:00.1"
    assert nets[3]["runtimeConfig"] == {}
    assert out["sideEffects"] == []
    assert out["annotations"] == ann


def test_offline_rejections_say_why(tmp_path: Path) -> None:
    conf = str(multus_conf(tmp_path))
    nads = write(tmp_path, "nads.yaml", nad("app", "mv", MACVLAN), nad("other", "mv", MACVLAN))

    code, out, _ = explain("-f", write(tmp_path, "p1.yaml", pod("app", {NETWORKS: "mv,missing"})), "-c", conf,
                           "-n", nads)
    assert code == 3 and out["rejected"] and out["code"] == 7
    assert "cannot find a network-attachment-definition (missing)" in out["reason"]
    assert any("NoNetworkFound" in w for w in out["sideEffects"]), "the event is reported, not sent"

    code, out, _ = explain("-f", write(tmp_path, "p2.yaml", pod("app", {NETWORKS: '[{"name": "mv",'})),
                           "-c", conf, "-n", nads)
    assert code == 3 and "parsePodNetworkAnnotation" in out["reason"]

    iso = str(multus_conf(tmp_path, namespaceIsolation=True))
    code, out, _ = explain("-f", write(tmp_path, "p3.yaml", pod("app", {NETWORKS: "other/mv"})), "-c", iso,
                           "-n", nads)
    assert code == 3 and "namespace isolation" in out["reason"]

    code, out, _ = explain("-f", write(tmp_path, "p4.yaml", pod("app", {NETWORKS: "mv@eth0"})), "-c", conf,
                           "-n", nads)
    assert code == 3 and "eth0" in out["reason"] and "twice" in out["reason"]


def test_bad_inputs_exit_1_with_the_file_named(tmp_path: Path) -> None:
    code, out, _ = explain("-f", str(tmp_path / "nope.yaml"), "-c", str(multus_conf(tmp_path)))
    assert code == 1 and "nope.yaml" in out["error"]
    (tmp_path / "bad.conf").write_text("{not json")
    code, out, _ = explain("-f", write(tmp_path, "p.yaml", pod("app", {})), "-c", str(tmp_path / "bad.conf"))
    assert code == 1 and "bad.conf" in out["error"]
    r = subprocess.run([*CTL, "explain"], capture_output=True, text=True, check=False, timeout=60)
    assert r.returncode == 1 and "--pod" in r.stderr


def test_node_conflist_is_found_in_the_conf_dir(tmp_path: Path) -> None:
    (tmp_path / "00-multus.conflist").write_text(json.dumps({
        "cniVersion": "1.0.0", "name": "multus-cni-network",
        "plugins": [{"type": "multus", "confDir": str(tmp_path), "kubeconfig": "/x",
                     "delegates": [{"cniVersion": "1.0.0", "name": "cbr0", "type": "bridge"}]}]}))
    code, out, err = explain("-f", write(tmp_path, "p.yaml", pod("app", {})), "--cni-conf-dir", str(tmp_path))
    assert code == 0, err
    assert out["config"].endswith("00-multus.conflist")
    assert [n["network"] for n in out["networks"]] == ["cbr0"]


@pytest.mark.apiserver
def test_live_pod_from_the_apiserver_without_side_effects(kube_apiserver: Any, kube_client: Any,
                                                          kube_namespace: str, tmp_path: Path) -> None:
    from kubernetes import client

    ns = kube_namespace
    body = pod(ns, {NETWORKS: "mv@data0,missing"})
    del body["metadata"]["uid"]
    body["spec"]["nodeName"] = "node-a"
    client.CoreV1Api(kube_client).create_namespaced_pod(ns, body)
    client.CustomObjectsApi(kube_client).create_namespaced_custom_object(
        "k8s.cni.cncf.io", "v1", ns, "network-attachment-definitions", nad(ns, "mv", MACVLAN))
    conf = multus_conf(tmp_path, kubeconfig=str(kube_apiserver.kubeconfig))

    before = kube_apiserver.metrics()
    code, out, err = explain("--pod", f"{ns}/web", "-c", str(conf))
    assert code == 3, err
    assert "cannot find a network-attachment-definition (missing)" in out["reason"]
    delta = kube_apiserver.metrics() - before
    assert delta.total(verb="POST") == 0 and delta.total(verb="PATCH") == 0, "explain wrote to the API"
    assert not [e for e in client.CoreV1Api(kube_client).list_namespaced_event(ns).items
                if e.reason == "NoNetworkFound"]

    client.CoreV1Api(kube_client).patch_namespaced_pod("web", ns, {"metadata": {"annotations": {
        NETWORKS: "mv@data0"}}})
    code, out, err = explain("--pod", f"{ns}/web", "-c", str(conf))
    assert code == 0, err
    assert [(n["interface"], n["network"]) for n in out["networks"]] == [("eth0", "cbr0"), ("data0", f"{ns}/mv")]
    assert out["source"].startswith("live: kubeconfig")
