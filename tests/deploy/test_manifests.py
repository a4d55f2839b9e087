"""Every manifest in deploy/ is accepted by the real kube-apiserver (server-side dry run of
each object; the CRD itself is created by the harness from deploy/crd.yaml), and the DaemonSets
run what this project ships with the host mounts and resources a node needs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
MANIFESTS = sorted(DEPLOY.glob("*.yaml"))


def docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def daemonset(name: str) -> dict[str, Any]:
    (ds,) = [d for d in docs(DEPLOY / name) if d["kind"] == "DaemonSet"]
    return ds


def _mebibytes(q: str) -> float:
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}
    for u, f in units.items():
        if q.endswith(u):
            return float(q[: -len(u)]) * f
    return float(q) / 2**20


@pytest.mark.apiserver
@pytest.mark.parametrize("path", MANIFESTS, ids=[p.name for p in MANIFESTS])
def test_manifest_is_valid_for_the_apiserver(path: Path, kube_client: Any) -> None:
    from kubernetes import utils

    objs = docs(path)
    assert objs, f"{path.name} holds no object"
    for obj in objs:
        if obj["kind"] == "CustomResourceDefinition":
            # the harness created it from this very file: the server must serve it as written
            from kubernetes import client

            crd = client.ApiextensionsV1Api(kube_client).read_custom_resource_definition(obj["metadata"]["name"])
            assert crd.spec.group == obj["spec"]["group"]
            assert [v.name for v in crd.spec.versions] == [v["name"] for v in obj["spec"]["versions"]]
            continue
        # server-side dry run: admission and validation run, nothing is stored. An object that
        # another test created already answers 409, which the server checks after validating.
        try:
            utils.create_from_dict(kube_client, obj, dry_run="All")
        except utils.FailToCreateError as e:
            assert all(getattr(x, "status", None) == 409 for x in e.api_exceptions), e


def test_thick_daemonset_has_upstreams_host_mounts_and_room_for_delegates() -> None:
    spec = daemonset("daemonset-thick.yaml")["spec"]["template"]["spec"]
    assert spec["hostNetwork"] and spec["hostPID"]
    volumes = {v["name"]: v.get("hostPath", {}).get("path", "").rstrip("/") for v in spec["volumes"]}
    for host_path in ("/etc/cni/net.d", "/opt/cni/bin", "/run", "/var/lib/kubelet", "/run/k8s.cni.cncf.io",
                      "/run/netns", "", "/etc/cni/multus/net.d"):
        assert host_path in volumes.values(), f"no hostPath {host_path or '/'}"
    (main,) = spec["containers"]
    assert main["command"][0] == "multus-daemon"
    assert {"name": "MULTUS_NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}} in main["env"]
    limits, requests = main["resources"]["limits"], main["resources"]["requests"]
    # daemon RSS 30-60 MiB (benchmarks/results) plus concurrent delegates: far above upstream's 50Mi
    assert _mebibytes(requests["memory"]) >= 96
    assert _mebibytes(limits["memory"]) >= 4 * _mebibytes(requests["memory"]) - 1
    assert "cpu" not in limits
    (init,) = spec["initContainers"]
    assert init["command"][:3] == ["multusctl", "copy-binaries", "--type=thick"]
    cfg = json.loads(docs(DEPLOY / "daemon-config.yaml")[0]["data"]["daemon-config.json"])
    mounts = {m["mountPath"] for m in main["volumeMounts"]}
    assert cfg["socketDir"].rstrip("/").startswith("/host/run") and "/host/run" in mounts
    assert cfg["cniConfigDir"] in mounts and cfg["binDir"] in mounts
    assert "/etc/cni/net.d/multus.d" in mounts  # where -config points


def test_thin_daemonset_runs_multusctl_install_with_flags_it_accepts() -> None:
    from multus.ctl.main import cli

    spec = daemonset("daemonset-thin.yaml")["spec"]["template"]["spec"]
    (main,) = spec["containers"]
    (init,) = spec["initContainers"]
    assert main["command"][:2] == ["multusctl", "install"]
    assert init["command"][:3] == ["multusctl", "copy-binaries", "--type=thin"]
    for container in (main, init):
        # the command line parses (a bad flag in a manifest would crash-loop every node)
        ctx = cli.make_context("multusctl", list(container["command"][1:]), resilient_parsing=False)
        sub = cli.get_command(ctx, container["command"][1])
        assert sub is not None
        sub.make_context(container["command"][1], list(container["command"][2:]), parent=ctx)
    mounts = {m["mountPath"] for m in main["volumeMounts"]}
    assert {"/host/etc/cni/net.d", "/host/opt/cni/bin"} <= mounts
    assert "memory" in main["resources"]["limits"]


def test_every_daemonset_uses_the_service_account_of_the_role() -> None:
    rbac = docs(DEPLOY / "rbac.yaml")
    (binding,) = [d for d in rbac if d["kind"] == "ClusterRoleBinding"]
    (subject,) = binding["subjects"]
    for name in ("daemonset-thin.yaml", "daemonset-thick.yaml"):
        ds = daemonset(name)
        assert ds["metadata"]["namespace"] == subject["namespace"]
        assert ds["spec"]["template"]["spec"]["serviceAccountName"] == subject["name"]
