"""Helpers for the device-ID end-to-end tests (tests/e2e/test_devices_*.py).

* a kubelet PodResources server: the ``v1.PodResourcesLister`` service generated from the
  kubelet's own ``api.proto``, served by grpcio on a short unix socket path under /tmp;
* ``devrec``: a recording CNI plugin that, besides its environment and stdin, records which
  device-info files existed (with their mode and content) at the moment it ran, and can write
  its own device-info file (as SR-IOV CNI does);
* Kubernetes objects (pods, NetworkAttachmentDefinitions) on the real kube-apiserver;
* :class:`Node`: one test's directories, bridge and multus configuration, and running the thin
  ``multus`` executable as a runtime does.

All addresses are in 10.250.60.0 - 10.250.69.255.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from concurrent import futures
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from multus.testing import lab as lab_mod
from multus.testing.invoke import CniOutcome, cni_env, invoke

MULTUS = [sys.executable, "-m", "multus.cli.thin"]
CNI_BIN = os.environ.get("MULTUS_TEST_CNI_DIR", "/usr/lib/cni")
NETWORKS = "k8s.v1.cni.cncf.io/networks"
NETWORK_STATUS = "k8s.v1.cni.cncf.io/network-status"
RESOURCE_NAME = "k8s.v1.cni.cncf.io/resourceName"
GROUP, VERSION, PLURAL = "k8s.cni.cncf.io", "v1", "network-attachment-definitions"
DEVREC = "devrec"


# --- the kubelet's PodResources API ---------------------------------------------------------

def pod_resources(name: str, namespace: str, containers: Mapping[str, Mapping[str, list[str]]]) -> Any:
    """One ``PodResources`` message: container name -> resource name -> device IDs."""
    from multus_podresources.api import api_pb2

    return api_pb2.PodResources(name=name, namespace=namespace, containers=[
        api_pb2.ContainerResources(name=cname, devices=[
            api_pb2.ContainerDevices(resource_name=res, device_ids=list(ids),
                                     topology=api_pb2.TopologyInfo(nodes=[api_pb2.NUMANode(ID=0)]))
            for res, ids in devs.items()])
        for cname, devs in containers.items()])


def _servicer_class() -> type:
    from multus_podresources.api import api_pb2, api_pb2_grpc

    class Kubelet(api_pb2_grpc.PodResourcesListerServicer):  # type: ignore[misc]
        """Answers ``List`` as the kubelet does, with the pods it was given; counts the calls."""

        def __init__(self, pods: list[Any]) -> None:
            self.pods = pods
            self.calls = 0

        def List(self, request: Any, context: Any) -> Any:
            self.calls += 1
            return api_pb2.ListPodResourcesResponse(pod_resources=self.pods)

    return Kubelet


@contextmanager
def short_tmpdir(prefix: str) -> Iterator[Path]:
    """A directory directly under /tmp: unix socket paths are limited to 107 bytes."""
    d = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@contextmanager
def podresources_server(pods: list[Any]) -> Iterator[tuple[Any, Path]]:
    """A real gRPC ``v1.PodResourcesLister`` on a unix socket: yields (servicer, socket path)."""
    import grpc
    from multus_podresources.api import api_pb2_grpc

    with short_tmpdir("podres-") as d:
        path = d / "kubelet.sock"
        assert len(str(path).encode()) <= 107
        servicer = _servicer_class()(pods)
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        api_pb2_grpc.add_PodResourcesListerServicer_to_server(servicer, server)
        assert server.add_insecure_port(f"unix:{path}") != 0
        server.start()
        try:
            yield servicer, path
        finally:
            server.stop(grace=None)


# --- the kubelet's device-manager checkpoint (post-1.20 format) -----------------------------

def checkpoint(entries: list[tuple[str, str, str, Mapping[str, list[str]]]],
               registered: Mapping[str, list[str]] | None = None) -> str:
    """``kubelet_internal_checkpoint`` text; entries are (pod UID, container, resource, NUMA map)."""
    import base64

    return json.dumps({
        "Data": {
            "PodDeviceEntries": [
                {"PodUID": uid, "ContainerName": cname, "ResourceName": res, "DeviceIDs": dict(numa),
                 "AllocResp": base64.b64encode(b"\x12\x00").decode()}
                for uid, cname, res, numa in entries],
            "RegisteredDevices": dict(registered or {}),
        },
        "Checksum": 2960195437,
    })


# --- the recording plugin ---------------------------------------------------------------------

DEVREC_SCRIPT = r'''#!{python}
"""A CNI plugin that records its call and the device-info files that existed when it ran."""
import json, os, stat, sys, time
LOG = {log!r}
raw = sys.stdin.read()
conf = json.loads(raw) if raw.strip() else {{}}
env = {{k: v for k, v in os.environ.items() if k.startswith("CNI_")}}
cmd = env.get("CNI_COMMAND")
rec = {{"env": env, "stdin": conf, "t": time.time()}}
info_dir = conf.get("infoDir")
if info_dir:
    files = {{}}
    if os.path.isdir(info_dir):
        for n in sorted(os.listdir(info_dir)):
            p = os.path.join(info_dir, n)
            with open(p) as f:
                files[n] = {{"mode": stat.S_IMODE(os.stat(p).st_mode), "content": f.read()}}
    rec["infoDir"] = files
rc = conf.get("runtimeConfig") or {{}}
info_file = rc.get("CNIDeviceInfoFile")
if info_file:
    rec["infoFileExisted"] = os.path.exists(info_file)
with open(LOG, "a") as f:
    f.write(json.dumps(rec) + "\n")
if cmd == "VERSION":
    print(json.dumps({{"cniVersion": "1.1.0",
                      "supportedVersions": ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]}}))
elif cmd == "ADD" and conf.get("fail"):
    print(json.dumps({{"cniVersion": conf.get("cniVersion", "1.0.0"), "code": 11, "msg": conf["fail"]}}))
    sys.exit(1)
elif cmd == "ADD":
    own = conf.get("writeDeviceInfo")
    if own and info_file and not os.path.exists(info_file):
        os.makedirs(os.path.dirname(info_file), exist_ok=True)
        with open(info_file, "w") as f:
            json.dump(own, f)
    prev = conf.get("prevResult")
    if prev:
        out = dict(prev, cniVersion=conf.get("cniVersion", "1.0.0"))
    else:
        out = {{"cniVersion": conf.get("cniVersion", "1.0.0"),
               "interfaces": [{{"name": env.get("CNI_IFNAME"), "mac": conf.get("mac", "02:00:0a:fa:3d:01"),
                               "sandbox": env.get("CNI_NETNS")}}]}}
        if conf.get("ip"):
            out["ips"] = [{{"address": conf["ip"], "interface": 0}}]
    print(json.dumps(out))
'''


def write_devrec(directory: Path, log: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / DEVREC
    path.write_text(DEVREC_SCRIPT.format(python=sys.executable, log=str(log)))
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def read_calls(log: Path) -> list[dict[str, Any]]:
    try:
        return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        return []


def calls_of(log: Path, tag: str, command: str = "ADD") -> list[dict[str, Any]]:
    return [c for c in read_calls(log)
            if c["stdin"].get("tag") == tag and c["env"].get("CNI_COMMAND") == command]


def the_call(log: Path, tag: str, command: str = "ADD") -> dict[str, Any]:
    found = calls_of(log, tag, command)
    assert len(found) == 1, f"{command} calls of {tag!r}: {found}"
    return found[0]


# --- Kubernetes objects -----------------------------------------------------------------------

def create_pod(api: Any, ns: str, name: str, annotations: Mapping[str, str]) -> str:
    """Create a pod (never scheduled: only the apiserver runs) and return its UID."""
    from kubernetes import client

    body = {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "annotations": dict(annotations)},
            "spec": {"nodeName": "node-a", "containers": [{"name": "app", "image": "pause"}]}}
    return str(client.CoreV1Api(api).create_namespaced_pod(ns, body).metadata.uid)


def create_nad(api: Any, ns: str, name: str, config: Mapping[str, Any], resource: str = "") -> None:
    from kubernetes import client

    annotations = {RESOURCE_NAME: resource} if resource else {}
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": name, "annotations": annotations}, "spec": {"config": json.dumps(config)}}
    client.CustomObjectsApi(api).create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, body)


def network_status(api: Any, ns: str, name: str) -> list[dict[str, Any]] | None:
    """The pod's ``k8s.v1.cni.cncf.io/network-status``, read back through the API."""
    from kubernetes import client

    pod = client.CoreV1Api(api).read_namespaced_pod(name, ns)
    value = (pod.metadata.annotations or {}).get(NETWORK_STATUS)
    return None if value is None else json.loads(value)


# --- one node ---------------------------------------------------------------------------------

def sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=60)


def describe(out: CniOutcome) -> str:
    return f"rc={out.returncode}\nstdout={out.stdout}\nstderr={out.stderr[-6000:]}"


def pci_info(address: str, pf: str = "") -> dict[str, Any]:
    """A device plugin's device-info (Network Plumbing WG device-info spec 1.1.0)."""
    pci: dict[str, Any] = {"pci-address": address}
    if pf:
        pci["pf-pci-address"] = pf
    return {"type": "pci", "version": "1.1.0", "pci": pci}


class Node:
    """One scenario's node: cniDir, device-info dirs, a bridge cluster network, the devrec plugin."""

    def __init__(self, tmp: Path, subnet_octet: int) -> None:
        assert 60 <= subnet_octet <= 69
        assert not lab_mod.in_root_netns(), "refusing to touch the machine's own network namespace"
        self.tmp = tmp
        self.cni_dir = tmp / "cni"
        self.conf_dir = tmp / "net.d"
        self.ipam_dir = tmp / "ipam"
        self.rec_bin = tmp / "rec-bin"
        self.info_dir = tmp / "devinfo" / "cni"
        self.dp_dir = tmp / "devinfo" / "dp"
        self.log = tmp / "calls.jsonl"
        for d in (self.conf_dir, self.ipam_dir, self.dp_dir):
            d.mkdir(parents=True, exist_ok=True)
        write_devrec(self.rec_bin, self.log)
        self.bridge = f"mbr{uuid.uuid4().hex[:8]}"
        self.links: list[str] = [self.bridge]
        self.cluster_file = self.conf_dir / "10-cluster.conf"
        self.cluster_file.write_text(json.dumps({
            "cniVersion": "1.0.0", "name": "cbr-dev", "type": "bridge", "bridge": self.bridge,
            "isGateway": True,
            "ipam": {"type": "host-local", "subnet": f"10.250.{subnet_octet}.0/24", "dataDir": str(self.ipam_dir),
                     "routes": [{"dst": "0.0.0.0/0", "gw": f"10.250.{subnet_octet}.1"}]}}))
        self.gateway = f"10.250.{subnet_octet}.1"

    # device plugins
    def dp_file(self, resource: str, device_id: str, info: Mapping[str, Any]) -> Path:
        """Write what a device plugin leaves for one device: ``<resource>-<id>-device.json``, '/' -> '-'."""
        name = f"{resource.replace('/', '-')}-{device_id.replace('/', '-')}-device.json"
        path = self.dp_dir / name
        path.write_text(json.dumps(info))
        return path

    def cni_file(self, ns: str, nad: str, container_id: str, ifname: str) -> Path:
        """Where multus keeps a delegate's device-info: ``<ns>-<nad>-<containerID>_<ifname>``."""
        return self.info_dir / f"{ns}/{nad}-{container_id}_{ifname}".replace("/", "-")

    def devrec(self, tag: str, ip: str = "", caps: bool = True, **extra: Any) -> dict[str, Any]:
        conf: dict[str, Any] = {"type": DEVREC, "tag": tag, "infoDir": str(self.info_dir)}
        if ip:
            conf["ip"] = ip
        if caps:
            conf["capabilities"] = {"deviceID": True, "CNIDeviceInfoFile": True}
        conf.update(extra)
        return conf

    def multus(self, kubeconfig: Path | str, socket: Path | str, checkpoint_file: Path | str,
               **extra: Any) -> dict[str, Any]:
        conf: dict[str, Any] = {
            "cniVersion": "1.0.0", "name": "multus-cni-network", "type": "multus",
            "kubeconfig": str(kubeconfig), "clusterNetwork": str(self.cluster_file),
            "cniDir": str(self.cni_dir), "confDir": str(self.conf_dir), "binDir": str(self.rec_bin),
            "podResourcesSocket": str(socket), "podResourcesTimeout": 5,
            "kubeletCheckpoint": str(checkpoint_file),
            "deviceInfoDir": str(self.info_dir), "devicePluginInfoDir": str(self.dp_dir),
            "logLevel": "debug", "logToStderr": True,
        }
        conf.update(extra)
        return conf

    def run(self, command: str, conf: Mapping[str, Any], container_id: str, netns: str, ns: str, pod: str,
            uid: str) -> CniOutcome:
        args = (f"IgnoreUnknown=1;K8S_POD_NAMESPACE={ns};K8S_POD_NAME={pod};"
                f"K8S_POD_INFRA_CONTAINER_ID={container_id};K8S_POD_UID={uid}")
        env = cni_env(command, container_id=container_id, netns=netns, ifname="eth0", args=args, path=CNI_BIN)
        return invoke(MULTUS, env, dict(conf), timeout=120)

    def host_veth(self, name: str) -> str:
        """``ip link add <name> type veth peer name <name>p`` in the lab host namespace."""
        assert not lab_mod.in_root_netns()
        sh("ip", "link", "add", name, "type", "veth", "peer", "name", name + "p")
        self.links.append(name)
        return name

    def cleanup(self) -> None:
        if lab_mod.in_root_netns():
            return
        for name in self.links:
            sh("ip", "link", "del", name, check=False)


def host_links() -> list[str]:
    """Link names of the namespace this process is in (the lab host namespace)."""
    out = sh("ip", "-j", "link", "show").stdout
    return [str(link["ifname"]) for link in json.loads(out or "[]")]


def netns_link(netns: str, ifname: str) -> dict[str, Any] | None:
    out = sh("ip", "-n", netns, "-j", "-d", "addr", "show").stdout
    for link in json.loads(out or "[]"):
        if link["ifname"] == ifname:
            return link  # type: ignore[no-any-return]
    return None


def pci_device_for_host_device() -> str | None:
    """A PCI function of this machine bound to a kernel (non-DPDK) driver, or None.

    host-device validates a ``pciBusID`` by reading ``/sys/bus/pci/devices/<id>/driver`` (it
    fails for an ID that is not a PCI address, and treats vfio-pci/uio drivers as DPDK mode,
    where it moves nothing). Only the driver link is read: the link moved is named by ``device``.
    """
    base = "/sys/bus/pci/devices"
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return None
    for name in names:
        drv = os.path.join(base, name, "driver")
        if not os.path.islink(drv):
            continue
        driver = os.path.basename(os.path.realpath(drv))
        if driver and driver not in ("vfio-pci", "uio_pci_generic", "igb_uio"):
            return name
    return None


def wait_for(predicate: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
