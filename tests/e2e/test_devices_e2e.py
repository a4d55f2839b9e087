"""Device IDs end to end (§4 step 2, §8, §11, §12): the thin ``multus`` executable, run as a
runtime runs it, against the REAL kube-apiserver (NADs annotated with
``k8s.v1.cni.cncf.io/resourceName``, the Pod object, network-status written back) and the REAL
kubelet PodResources gRPC API (a grpcio server built from the kubelet's ``api.proto``) or the
kubelet's device-manager checkpoint.

Delegates are the ``devrec`` recording plugin (tests/e2e/devices_helpers.py) for the resource
networks, a real ``bridge`` + ``host-local`` for the cluster network, and a real ``host-device``
that receives the allocated device. Everything runs in the lab host network namespace the test
session lives in; addresses are in 10.250.60-69.x.
"""

from __future__ import annotations

import json
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from devices_helpers import (
    NETWORKS,
    Node,
    checkpoint,
    create_nad,
    create_pod,
    describe,
    host_links,
    netns_link,
    network_status,
    pci_device_for_host_device,
    pci_info,
    pod_resources,
    podresources_server,
    read_calls,
    short_tmpdir,
    the_call,
)

from multus.testing import lab as lab_mod
from multus.testing.kube import KubeApiServer

pytestmark = [pytest.mark.apiserver, pytest.mark.root]

DEV = "example.com/dev"
OTHER = "example.com/other"
VF = "example.com/vf"
UNKNOWN = "example.com/unknown"
POD = "dev-pod"

# the kubelet's order, deliberately not sorted
DEV_IDS = ["0000:03:00.3", "0000:03:00.1"]
OTHER_IDS = ["0000:82:00.6", "0000:82:00.2"]
VF_IDS = ["0000:05:00.1"]
ELEMENT_ID = "0000:09:00.0"


@attrs.define
class Added:
    """One pod ADDed through multus: what went in and what came out."""

    node: Node
    api: Any
    ns: str
    uid: str
    container_id: str
    netns: str
    conf: dict[str, Any]
    outcome: Any
    servicer: Any = None

    @property
    def netns_path(self) -> str:
        return lab_mod.netns_path(self.netns)

    def run(self, command: str) -> Any:
        return self.node.run(command, self.conf, self.container_id, self.netns_path, self.ns, POD, self.uid)

    def cni_file(self, nad: str, ifname: str) -> Path:
        return self.node.cni_file(self.ns, nad, self.container_id, ifname)

    def call(self, tag: str, command: str = "ADD") -> dict[str, Any]:
        return the_call(self.node.log, tag, command)

    def status(self) -> list[dict[str, Any]] | None:
        return network_status(self.api, self.ns, POD)

    def entry(self, name: str) -> dict[str, Any]:
        st = self.status() or []
        found = [e for e in st if e.get("name") == name]
        assert len(found) == 1, f"network-status entries named {name!r}: {st}"
        return found[0]


def caps_args(call: dict[str, Any]) -> dict[str, Any]:
    return dict(call["stdin"].get("runtimeConfig") or {})


# --- scenario 1: PodResources gRPC -----------------------------------------------------------

def grpc_nads(node: Node) -> list[tuple[str, dict[str, Any], str]]:
    """(NAD name, spec.config, resourceName) of the first scenario, in annotation order."""
    return [
        ("dev-a", {"cniVersion": "1.0.0", **node.devrec("dev-a", "10.250.61.11/24")}, DEV),
        ("dev-b", {"cniVersion": "1.0.0", **node.devrec("dev-b", "10.250.61.12/24", caps=False)}, DEV),
        ("other-a", {"cniVersion": "1.0.0", **node.devrec("other-a", "10.250.61.13/24")}, OTHER),
        ("vf-list", {"cniVersion": "1.0.0", "name": "vf-list-cni", "plugins": [
            node.devrec("list-1", "10.250.61.14/24"),
            node.devrec("list-2", caps=False)]}, VF),
        ("dev-c", {"cniVersion": "1.0.0", **node.devrec("dev-c", "10.250.61.15/24")}, DEV),
        ("elem-net", {"cniVersion": "1.0.0", **node.devrec("elem", "10.250.61.16/24",
                                                          writeDeviceInfo=pci_info(ELEMENT_ID))}, UNKNOWN),
    ]


GRPC_ANNOTATION = json.dumps([
    {"name": "dev-a"},                                  # net1: example.com/dev, first sorted ID
    {"name": "dev-b"},                                  # net2: example.com/dev, second sorted ID
    {"name": "other-a"},                                # net3: example.com/other
    {"name": "vf-list"},                                # net4: a conflist of example.com/vf
    {"name": "dev-c"},                                  # net5: example.com/dev, no ID left
    {"name": "elem-net", "deviceID": ELEMENT_ID},       # net6: a resource no backend knows
])


def setup_grpc_pod(kube: KubeApiServer, kubeconfig: Path, node: Node, netns: str, sock: Path,
                   servicer: Any, annotation: str = GRPC_ANNOTATION) -> Added:
    ns = kube.new_namespace("devices-e2e")
    api = kube.api_client()
    for name, config, resource in grpc_nads(node):
        create_nad(api, ns, name, config, resource)
    uid = create_pod(api, ns, POD, {NETWORKS: annotation})
    servicer.pods = [
        pod_resources("kube-proxy-x", "kube-system", {"kube-proxy": {}}),
        pod_resources(POD, ns, {"app": {DEV: DEV_IDS, OTHER: OTHER_IDS}, "sidecar": {VF: VF_IDS}}),
        # the same name elsewhere, and another pod here: never this pod's devices
        pod_resources(POD, "elsewhere", {"app": {DEV: ["0000:03:00.0"]}}),
        pod_resources("neighbour", ns, {"app": {DEV: ["0000:03:00.0"], UNKNOWN: ["0000:09:00.9"]}}),
    ]
    for dev_id in [*DEV_IDS, "0000:03:00.0"]:
        node.dp_file(DEV, dev_id, pci_info(dev_id, pf="0000:03:00.0"))
    node.dp_file(OTHER, "0000:82:00.2", pci_info("0000:82:00.2"))
    node.dp_file(VF, "0000:05:00.1", {**pci_info("0000:05:00.1"), "extra": {"kept": True}})
    # a checkpoint that disagrees: the socket, when it is there, is authoritative
    cp = node.tmp / "kubelet_internal_checkpoint"
    cp.write_text(checkpoint([(uid, "app", DEV, {"0": ["0000:03:00.7"]})]))
    conf = node.multus(kubeconfig, sock, cp)
    added = Added(node=node, api=api, ns=ns, uid=uid, container_id=uuid.uuid4().hex, netns=netns, conf=conf,
                  outcome=None, servicer=servicer)
    added.outcome = added.run("ADD")
    return added


@pytest.fixture(scope="module")
def grpc_added(kube_apiserver: KubeApiServer, kube_multus_kubeconfig: Path, cni_lab: lab_mod.Lab,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Added]:
    node = Node(tmp_path_factory.mktemp("dev-grpc"), 60)
    netns = cni_lab.pod()
    try:
        with podresources_server([]) as (servicer, sock):
            added = setup_grpc_pod(kube_apiserver, kube_multus_kubeconfig, node, netns, sock, servicer)
            try:
                yield added
            finally:
                added.run("DEL")
                added.api.close()
    finally:
        cni_lab.remove_pod(netns)
        node.cleanup()


def test_add_succeeds_with_the_bridge_as_eth0(grpc_added: Added) -> None:
    out = grpc_added.outcome
    assert out.returncode == 0, describe(out)
    res = out.json
    eth0 = [i for i in res["interfaces"] if i.get("sandbox") == grpc_added.netns_path]
    assert [i["name"] for i in eth0] == ["eth0"], res
    assert res["ips"][0]["address"].startswith("10.250.60."), res
    assert sorted(lab_mod.link_names(grpc_added.netns)) == ["eth0", "lo"]


def test_pod_uid_and_identity_reach_every_delegate(grpc_added: Added) -> None:
    for tag in ("dev-a", "dev-b", "other-a", "list-1", "list-2", "dev-c", "elem"):
        env = grpc_added.call(tag)["env"]
        assert f"K8S_POD_UID={grpc_added.uid}" in env["CNI_ARGS"].split(";"), (tag, env)
        assert f"K8S_POD_NAME={POD}" in env["CNI_ARGS"].split(";"), (tag, env)


def test_device_ids_are_sorted_and_handed_out_in_order(grpc_added: Added) -> None:
    """Two NADs of one resource get distinct IDs, sorted, in annotation order; the other
    resource's ID comes from its own list. ``deviceID`` and ``pciBusID`` in the config."""
    want = {"dev-a": "0000:03:00.1", "dev-b": "0000:03:00.3", "other-a": "0000:82:00.2"}
    for tag, dev_id in want.items():
        stdin = grpc_added.call(tag)["stdin"]
        assert (stdin.get("deviceID"), stdin.get("pciBusID")) == (dev_id, dev_id), (tag, stdin)
    assert grpc_added.call("dev-a")["env"]["CNI_IFNAME"] == "net1"
    assert grpc_added.call("dev-b")["env"]["CNI_IFNAME"] == "net2"


def test_capability_args_only_for_plugins_that_declare_them(grpc_added: Added) -> None:
    a = grpc_added.call("dev-a")
    assert caps_args(a) == {"deviceID": "0000:03:00.1",
                            "CNIDeviceInfoFile": str(grpc_added.cni_file("dev-a", "net1"))}
    # dev-b declares no capabilities: libcni passes it no runtimeConfig at all
    assert "runtimeConfig" not in grpc_added.call("dev-b")["stdin"]
    assert caps_args(grpc_added.call("other-a")) == {
        "deviceID": "0000:82:00.2", "CNIDeviceInfoFile": str(grpc_added.cni_file("other-a", "net3"))}


def test_conflist_every_plugin_gets_the_device(grpc_added: Added) -> None:
    first, second = grpc_added.call("list-1"), grpc_added.call("list-2")
    for call in (first, second):
        assert (call["stdin"].get("deviceID"), call["stdin"].get("pciBusID")) == ("0000:05:00.1", "0000:05:00.1")
        assert call["stdin"]["name"] == "vf-list-cni"
        assert call["env"]["CNI_IFNAME"] == "net4"
    # the device-info file is named after the NAD (the delegate's name), not the CNI name
    assert caps_args(first) == {"deviceID": "0000:05:00.1",
                                "CNIDeviceInfoFile": str(grpc_added.cni_file("vf-list", "net4"))}
    assert "runtimeConfig" not in second["stdin"]
    assert second["stdin"]["prevResult"]["interfaces"][0]["name"] == "net4"


def test_fewer_ids_than_networks_leaves_the_last_without_device(grpc_added: Added) -> None:
    """Upstream: a resource whose IDs are used up gives the next network no deviceID at all."""
    call = grpc_added.call("dev-c")
    assert call["env"]["CNI_IFNAME"] == "net5"
    assert "deviceID" not in call["stdin"] and "pciBusID" not in call["stdin"], call["stdin"]
    rc = caps_args(call)
    assert "deviceID" not in rc and "CNIDeviceInfoFile" not in rc, rc
    assert not grpc_added.cni_file("dev-c", "net5").exists()
    # never the neighbour's or the checkpoint's device
    sent = json.dumps(call["stdin"]) + call["env"]["CNI_ARGS"]
    assert "0000:03:00.0" not in sent and "0000:03:00.7" not in sent


def test_selection_device_id_when_no_backend_knows_the_resource(grpc_added: Added) -> None:
    call = grpc_added.call("elem")
    assert call["env"]["CNI_IFNAME"] == "net6"
    path = grpc_added.cni_file("elem-net", "net6")
    assert caps_args(call) == {"deviceID": ELEMENT_ID, "CNIDeviceInfoFile": str(path)}
    # the neighbour pod's ID of that resource is not this pod's
    assert "0000:09:00.9" not in json.dumps(call["stdin"])
    # no device-plugin file for it: the plugin wrote its own, which becomes the device-info
    assert call["infoFileExisted"] is False
    assert json.loads(path.read_text()) == pci_info(ELEMENT_ID)


def test_device_plugin_files_copied_0444_before_the_delegate_ran(grpc_added: Added) -> None:
    node = grpc_added.node
    expected = {
        "dev-a": ("net1", DEV, "0000:03:00.1"),
        "dev-b": ("net2", DEV, "0000:03:00.3"),
        "other-a": ("net3", OTHER, "0000:82:00.2"),
        "vf-list": ("net4", VF, "0000:05:00.1"),
    }
    tags = {"dev-a": "dev-a", "dev-b": "dev-b", "other-a": "other-a", "vf-list": "list-1"}
    for nad, (ifname, resource, dev_id) in expected.items():
        path = grpc_added.cni_file(nad, ifname)
        dp = node.dp_dir / f"{resource.replace('/', '-')}-{dev_id}-device.json"
        assert dp.exists(), dp
        assert path.exists(), f"{path} missing; present: {sorted(os.listdir(node.info_dir))}"
        assert stat.S_IMODE(path.stat().st_mode) == 0o444, oct(path.stat().st_mode)
        assert json.loads(path.read_text()) == json.loads(dp.read_text())
        # what the delegate saw when it ran: the file was already there, 0444, same content
        seen = grpc_added.call(tags[nad])["infoDir"]
        assert path.name in seen, (nad, sorted(seen))
        assert seen[path.name]["mode"] == 0o444
        assert json.loads(seen[path.name]["content"]) == json.loads(dp.read_text())
    assert grpc_added.call("dev-a")["infoFileExisted"] is True
    # exactly these files (and the element network's, written by its plugin), nothing else
    want = {grpc_added.cni_file(n, i).name for n, (i, _, _) in expected.items()}
    want.add(grpc_added.cni_file("elem-net", "net6").name)
    assert set(os.listdir(node.info_dir)) == want
    # the device plugin's own files are untouched
    assert len(os.listdir(node.dp_dir)) == 5


def test_network_status_carries_device_info(grpc_added: Added) -> None:
    ns, node = grpc_added.ns, grpc_added.node
    st = grpc_added.status()
    assert st is not None, "no network-status annotation on the pod"
    assert [e["name"] for e in st] == ["cbr-dev", f"{ns}/dev-a", f"{ns}/dev-b", f"{ns}/other-a",
                                       f"{ns}/vf-list", f"{ns}/dev-c", f"{ns}/elem-net"], st
    eth0 = st[0]
    assert eth0["interface"] == "eth0" and eth0.get("default") is True and "device-info" not in eth0
    assert eth0["gateway"] == [node.gateway]
    want = {
        "dev-a": ("net1", "10.250.61.11", pci_info("0000:03:00.1", pf="0000:03:00.0")),
        "dev-b": ("net2", "10.250.61.12", pci_info("0000:03:00.3", pf="0000:03:00.0")),
        "other-a": ("net3", "10.250.61.13", pci_info("0000:82:00.2")),
        "vf-list": ("net4", "10.250.61.14", {**pci_info("0000:05:00.1"), "extra": {"kept": True}}),
        "elem-net": ("net6", "10.250.61.16", pci_info(ELEMENT_ID)),
    }
    for nad, (ifname, ip, info) in want.items():
        e = grpc_added.entry(f"{ns}/{nad}")
        assert (e.get("interface"), e.get("ips"), e.get("device-info")) == (ifname, [ip], info), e
    dev_c = grpc_added.entry(f"{ns}/dev-c")
    assert dev_c["interface"] == "net5" and "device-info" not in dev_c


def test_resource_map_asked_once_per_request(grpc_added: Added) -> None:
    assert grpc_added.servicer.calls == 1


# --- DEL ---------------------------------------------------------------------------------------

def test_del_removes_the_device_info_files(kube_apiserver: KubeApiServer, kube_multus_kubeconfig: Path,
                                           pod_netns: Any, tmp_path: Path) -> None:
    node = Node(tmp_path, 63)
    try:
        with podresources_server([]) as (servicer, sock):
            added = setup_grpc_pod(kube_apiserver, kube_multus_kubeconfig, node, pod_netns(), sock, servicer)
            try:
                assert added.outcome.returncode == 0, describe(added.outcome)
                files = {added.cni_file(n, i) for n, i in (("dev-a", "net1"), ("dev-b", "net2"),
                                                          ("other-a", "net3"), ("vf-list", "net4"),
                                                          ("elem-net", "net6"))}
                assert all(f.exists() for f in files), sorted(os.listdir(node.info_dir))
                before = servicer.calls
                out = added.run("DEL")
                assert out.returncode == 0 and out.stdout.strip() == "", describe(out)
                assert sorted(os.listdir(node.info_dir)) == []
                # every delegate was deleted, last first, with the same capability args as ADD
                dels = [c["stdin"].get("tag") for c in read_calls(node.log) if c["env"]["CNI_COMMAND"] == "DEL"]
                assert dels == ["elem", "dev-c", "list-2", "list-1", "other-a", "dev-b", "dev-a"], dels
                assert caps_args(added.call("dev-a", "DEL")) == caps_args(added.call("dev-a"))
                assert servicer.calls == before  # DEL needs no resource map
                # the device plugin's files stay; eth0 is gone, the cache too
                assert len(os.listdir(node.dp_dir)) == 5
                assert lab_mod.link_names(added.netns) == ["lo"]
                assert not (node.cni_dir / added.container_id).exists()
                # a second DEL (containerd does it) finds nothing and still succeeds
                again = added.run("DEL")
                assert again.returncode == 0, describe(again)
            finally:
                added.api.close()
    finally:
        node.cleanup()


def test_del_without_the_scratch_cache_still_removes_the_device_info_files(
        kube_apiserver: KubeApiServer, kube_multus_kubeconfig: Path, pod_netns: Any, tmp_path: Path) -> None:
    """The scratch cache ``<cniDir>/<containerID>`` lost (a node reboot wiping a tmpfs, a corrupt
    file): DEL rebuilds the delegates from libcni's result caches and tears them down. Their
    device-info files must go too: upstream rebuilds the delegates from the pod with their
    device IDs and removes them; libcni's caches hold each one's ``CNIDeviceInfoFile``."""
    node = Node(tmp_path, 68)
    try:
        with podresources_server([]) as (servicer, sock):
            added = setup_grpc_pod(kube_apiserver, kube_multus_kubeconfig, node, pod_netns(), sock, servicer)
            try:
                assert added.outcome.returncode == 0, describe(added.outcome)
                assert len(os.listdir(node.info_dir)) == 5
                (node.cni_dir / added.container_id).unlink()
                out = added.run("DEL")
                assert out.returncode == 0, describe(out)
                # the delegates themselves were torn down ...
                dels = [c["stdin"].get("tag") for c in read_calls(node.log) if c["env"]["CNI_COMMAND"] == "DEL"]
                assert set(dels) >= {"dev-a", "dev-b", "other-a", "list-1", "elem"}, dels
                assert lab_mod.link_names(added.netns) == ["lo"]
                # ... and so must their device-info files be
                assert sorted(os.listdir(node.info_dir)) == []
            finally:
                added.api.close()
    finally:
        node.cleanup()


def test_add_failure_rolls_back_the_device_info_files(kube_apiserver: KubeApiServer,
                                                      kube_multus_kubeconfig: Path, pod_netns: Any,
                                                      tmp_path: Path) -> None:
    """A delegate failing after its device-info was copied: every delegate started is deleted,
    the failing one included, and no device-info file is left behind."""
    node = Node(tmp_path, 69)
    ns = kube_apiserver.new_namespace("devices-rb")
    api = kube_apiserver.api_client()
    try:
        create_nad(api, ns, "dev-a", {"cniVersion": "1.0.0", **node.devrec("dev-a", "10.250.69.101/24")}, DEV)
        create_nad(api, ns, "broken", {"cniVersion": "1.0.0", **node.devrec("broken", fail="no VF left")}, DEV)
        uid = create_pod(api, ns, POD, {NETWORKS: "dev-a,broken"})
        for dev_id in DEV_IDS:
            node.dp_file(DEV, dev_id, pci_info(dev_id))
        with podresources_server([]) as (servicer, sock):
            servicer.pods = [pod_resources(POD, ns, {"app": {DEV: DEV_IDS}})]
            added = Added(node=node, api=api, ns=ns, uid=uid, container_id=uuid.uuid4().hex, netns=pod_netns(),
                          conf=node.multus(kube_multus_kubeconfig, sock, node.tmp / "no-checkpoint"), outcome=None)
            added.outcome = added.run("ADD")
        assert added.outcome.returncode == 1, describe(added.outcome)
        assert "no VF left" in added.outcome.json["msg"]
        broken = added.call("broken")
        assert broken["infoFileExisted"] is True  # copied before it ran
        assert caps_args(broken)["deviceID"] == "0000:03:00.3"
        dels = [c["stdin"].get("tag") for c in read_calls(node.log) if c["env"]["CNI_COMMAND"] == "DEL"]
        assert dels == ["broken", "dev-a"], dels
        assert sorted(os.listdir(node.info_dir)) == []
        assert lab_mod.link_names(added.netns) == ["lo"]
        assert network_status(api, ns, POD) is None
    finally:
        api.close()
        node.cleanup()


# --- scenario 2: the kubelet checkpoint --------------------------------------------------------

def test_checkpoint_gives_the_ids_when_there_is_no_socket(kube_apiserver: KubeApiServer,
                                                           kube_multus_kubeconfig: Path, pod_netns: Any,
                                                           tmp_path: Path) -> None:
    node = Node(tmp_path, 64)
    ns = kube_apiserver.new_namespace("devices-cp")
    api = kube_apiserver.api_client()
    try:
        create_nad(api, ns, "dev-a", {"cniVersion": "1.0.0", **node.devrec("dev-a", "10.250.67.11/24")}, DEV)
        create_nad(api, ns, "dev-b", {"cniVersion": "1.0.0", **node.devrec("dev-b", "10.250.67.12/24")}, DEV)
        create_nad(api, ns, "dev-c", {"cniVersion": "1.0.0", **node.devrec("dev-c", "10.250.67.13/24")}, DEV)
        create_nad(api, ns, "elem-net", {"cniVersion": "1.0.0", **node.devrec("elem", "10.250.67.14/24")},
                   UNKNOWN)
        uid = create_pod(api, ns, POD, {NETWORKS: json.dumps(
            [{"name": "dev-a"}, {"name": "dev-b"}, {"name": "dev-c"},
             {"name": "elem-net", "deviceID": ELEMENT_ID}])})
        cp = node.tmp / "kubelet_internal_checkpoint"
        # post-1.20 format: DeviceIDs is NUMA node -> IDs; the other pod's entry is not ours
        cp.write_text(checkpoint(
            [(uid, "app", DEV, {"1": ["0000:03:00.3"], "0": ["0000:03:00.1"]}),
             ("5d6ad6f0-0000-4000-8000-000000000001", "app", DEV, {"0": ["0000:03:00.0"]}),
             ("5d6ad6f0-0000-4000-8000-000000000001", "app", UNKNOWN, {"0": ["0000:09:00.9"]})],
            registered={DEV: ["0000:03:00.0", "0000:03:00.1", "0000:03:00.3"]}))
        for dev_id in ("0000:03:00.0", "0000:03:00.1", "0000:03:00.3"):
            node.dp_file(DEV, dev_id, pci_info(dev_id))
        with short_tmpdir("nosock-") as d:
            sock = d / "kubelet.sock"  # never created
            added = Added(node=node, api=api, ns=ns, uid=uid, container_id=uuid.uuid4().hex, netns=pod_netns(),
                          conf=node.multus(kube_multus_kubeconfig, sock, cp), outcome=None)
            added.outcome = added.run("ADD")
            assert added.outcome.returncode == 0, describe(added.outcome)

            for tag, ifname, dev_id in (("dev-a", "net1", "0000:03:00.1"), ("dev-b", "net2", "0000:03:00.3")):
                call = added.call(tag)
                assert (call["stdin"].get("deviceID"), call["stdin"].get("pciBusID")) == (dev_id, dev_id)
                assert caps_args(call) == {"deviceID": dev_id, "CNIDeviceInfoFile": str(added.cni_file(tag, ifname))}
                assert call["infoFileExisted"] is True
                assert stat.S_IMODE(added.cni_file(tag, ifname).stat().st_mode) == 0o444
                assert added.entry(f"{ns}/{tag}")["device-info"] == pci_info(dev_id)
            c = added.call("dev-c")
            assert "deviceID" not in c["stdin"] and "deviceID" not in caps_args(c)
            e = added.call("elem")
            assert caps_args(e) == {"deviceID": ELEMENT_ID,
                                    "CNIDeviceInfoFile": str(added.cni_file("elem-net", "net4"))}

            out = added.run("DEL")
            assert out.returncode == 0, describe(out)
            assert sorted(os.listdir(node.info_dir)) == []
    finally:
        api.close()
        node.cleanup()


# --- scenario 3: a real plugin receives the device ---------------------------------------------

def test_host_device_moves_the_allocated_device(kube_apiserver: KubeApiServer, kube_multus_kubeconfig: Path,
                                                pod_netns: Any, tmp_path: Path) -> None:
    """host-device gets the device the kubelet allocated and moves it into the pod as net1.

    What the device ID is: multus always writes the ID into the delegate as ``pciBusID`` (and
    as the ``deviceID`` capability), and host-device then validates it as a PCI address: it
    reads ``/sys/bus/pci/devices/<id>/driver`` and fails for anything else ("lstat
    /sys/bus/pci/devices/dev0: no such file or directory"), so a veth's name cannot be the
    device ID. A veth has no PCI function either, so host-device cannot find it through
    ``pciBusID`` (``/sys/bus/pci/devices/<id>/net/``). The device plugin here therefore
    allocates a real PCI function of this machine bound to a kernel driver (host-device only
    reads its driver link, to rule out DPDK mode), and the NAD names the veth to move with
    ``device``, which host-device looks up first. The allocated ID still travels the whole
    path (PodResources -> deviceID/pciBusID + runtimeConfig -> device-info -> network-status).
    """
    pci = pci_device_for_host_device()
    if pci is None:
        pytest.skip("no PCI function bound to a kernel driver on this machine for host-device to validate")
    node = Node(tmp_path, 65)
    link = node.host_veth(f"dev0{uuid.uuid4().hex[:4]}")
    ns = kube_apiserver.new_namespace("devices-hd")
    api = kube_apiserver.api_client()
    try:
        create_nad(api, ns, "hostdev", {"cniVersion": "1.0.0", "type": "host-device", "device": link,
                                        "capabilities": {"deviceID": True},
                                        "ipam": {"type": "static", "addresses": [{"address": "10.250.66.5/24"}]}},
                   "example.com/hostdev")
        uid = create_pod(api, ns, POD, {NETWORKS: "hostdev"})
        node.dp_file("example.com/hostdev", pci, pci_info(pci))
        netns = pod_netns()
        with podresources_server([]) as (servicer, sock):
            servicer.pods = [pod_resources(POD, ns, {"app": {"example.com/hostdev": [pci]}})]
            added = Added(node=node, api=api, ns=ns, uid=uid, container_id=uuid.uuid4().hex, netns=netns,
                          conf=node.multus(kube_multus_kubeconfig, sock, node.tmp / "no-checkpoint"),
                          outcome=None)
            added.outcome = added.run("ADD")
            assert added.outcome.returncode == 0, describe(added.outcome)
            assert servicer.calls == 1

        moved = netns_link(netns, "net1")
        assert moved is not None, lab_mod.link_names(netns)
        assert "10.250.66.5/24" in [f"{a['local']}/{a['prefixlen']}" for a in moved.get("addr_info", [])]
        assert moved.get("ifalias") == link, moved  # host-device records the host name as the alias
        assert link not in host_links() and f"{link}p" in host_links()

        info_file = added.cni_file("hostdev", "net1")
        assert json.loads(info_file.read_text()) == pci_info(pci)
        entry = added.entry(f"{ns}/hostdev")
        assert (entry["interface"], entry["ips"], entry["device-info"]) == ("net1", ["10.250.66.5"], pci_info(pci))

        out = added.run("DEL")
        assert out.returncode == 0, describe(out)
        assert netns_link(netns, "net1") is None
        assert link in host_links(), "host-device did not give the device back under its own name"
        assert not info_file.exists()
    finally:
        api.close()
        node.cleanup()
