"""multus.engine.devices: the allocator, deviceID injection, device-info file names and files."""

from __future__ import annotations

import copy
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from multus.cni.request import CniRequest
from multus.config import netconf
from multus.engine import devices
from multus.engine.models import Delegate, PodInfo, RequestContext
from multus.engine.selection import NetworkSelection
from multus.errors import INVALID_CONFIG, CNIError
from multus.plugin.hookspec import hookimpl
from multus.plugin.manager import Plugins

CID = "3f1c0d7a9b2e"


class MapSource:
    """A resource-map backend that counts how often it is asked."""

    def __init__(self, resources: dict[str, list[str]] | None) -> None:
        self.resources = resources
        self.calls = 0

    @hookimpl
    def multus_source_resource_map(self, ctx: RequestContext) -> dict[str, list[str]] | None:
        self.calls += 1
        return copy.deepcopy(self.resources)


def make_ctx(source: MapSource | None = None, conf: dict[str, Any] | None = None) -> RequestContext:
    plugins = Plugins(entry_points=False)
    if source is not None:
        plugins.register(source, name="test-map")
    req = CniRequest(command="ADD", container_id=CID, netns="/var/run/netns/x", ifname="eth0",
                     args=(("K8S_POD_NAMESPACE", "default"), ("K8S_POD_NAME", "sriov-pod"),
                           ("K8S_POD_UID", "970a395d-bb3b-11e8-89df-408d5c537d23")))
    base = {"cniVersion": "1.0.0", "name": "multus-cni-network", "type": "multus",
            "clusterNetwork": "cbr0"}
    return RequestContext(request=req, conf=netconf.load({**base, **(conf or {})}), plugins=plugins,
                          pod=PodInfo(namespace="default", name="sriov-pod",
                                      uid="970a395d-bb3b-11e8-89df-408d5c537d23"))


def conf(name: str = "sriov-net") -> dict[str, Any]:
    return {"cniVersion": "1.0.0", "name": name, "type": "sriov", "vlan": 100,
            "ipam": {"type": "host-local", "subnet": "10.56.217.0/24"}}


def conflist(name: str = "sriov-list") -> dict[str, Any]:
    return {"cniVersion": "1.0.0", "name": name,
            "plugins": [{"type": "sriov", "vlan": 10}, {"type": "tuning", "sysctl": {"a": "1"}}]}


def nad(name: str, resource: str = "", ifname: str = "net1", config: dict[str, Any] | None = None,
        selection: NetworkSelection | None = None, master: bool = False) -> Delegate:
    return Delegate(config=config if config is not None else conf(name), name=f"default/{name}",
                    ifname=ifname, resource_name=resource, selection=selection, master=master)


# --- DeviceAllocator ------------------------------------------------------------------------

def test_allocator_sorts_and_hands_out_each_id_once() -> None:
    src = {"intel.com/sriov": ["0000:03:02.3", "0000:03:02.0", "0000:03:02.1"], "nvidia.com/gpu": ["GPU-b"]}
    alloc = devices.DeviceAllocator(src)
    assert alloc.resources == {"intel.com/sriov": ["0000:03:02.0", "0000:03:02.1", "0000:03:02.3"],
                               "nvidia.com/gpu": ["GPU-b"]}
    assert src["intel.com/sriov"] == ["0000:03:02.3", "0000:03:02.0", "0000:03:02.1"]  # input untouched
    assert alloc.remaining("intel.com/sriov") == 3
    assert [alloc.next("intel.com/sriov") for _ in range(4)] == ["0000:03:02.0", "0000:03:02.1",
                                                               "0000:03:02.3", None]
    assert alloc.remaining("intel.com/sriov") == 0
    assert alloc.next("nvidia.com/gpu") == "GPU-b"
    assert alloc.next("nvidia.com/gpu") is None
    assert alloc.next("example.com/unknown") is None
    assert alloc.remaining("example.com/unknown") == 0


def test_allocator_empty_resource() -> None:
    alloc = devices.DeviceAllocator({"intel.com/sriov": []})
    assert alloc.next("intel.com/sriov") is None


# --- assign ---------------------------------------------------------------------------------

def test_assign_distinct_ids_in_sorted_order_and_map_built_once() -> None:
    src = MapSource({"intel.com/sriov": ["0000:03:02.1", "0000:03:02.0"]})
    ctx = make_ctx(src)
    a, b = nad("a", "intel.com/sriov"), nad("b", "intel.com/sriov", ifname="net2")
    out = devices.assign(ctx, [a, b])
    assert [d.device_id for d in out] == ["0000:03:02.0", "0000:03:02.1"]
    assert out[0].config["deviceID"] == out[0].config["pciBusID"] == "0000:03:02.0"
    assert out[1].config["deviceID"] == out[1].config["pciBusID"] == "0000:03:02.1"
    assert src.calls == 1
    # the inputs are unchanged
    assert a.device_id == "" and "deviceID" not in a.config and a.config == conf("a")


def test_assign_shares_the_allocator_across_calls_of_one_request() -> None:
    src = MapSource({"intel.com/sriov": ["0000:03:02.0", "0000:03:02.1"]})
    ctx = make_ctx(src)
    first = devices.assign(ctx, [nad("a", "intel.com/sriov")])
    second = devices.assign(ctx, [nad("b", "intel.com/sriov")])
    assert (first[0].device_id, second[0].device_id) == ("0000:03:02.0", "0000:03:02.1")
    assert src.calls == 1
    # a new request asks again
    ctx2 = make_ctx(src)
    assert devices.assign(ctx2, [nad("a", "intel.com/sriov")])[0].device_id == "0000:03:02.0"
    assert src.calls == 2


def test_assign_does_not_ask_without_resource_names() -> None:
    src = MapSource({"intel.com/sriov": ["0000:03:02.0"]})
    ctx = make_ctx(src)
    plain = [nad("a"), nad("b", ifname="net2")]
    assert devices.assign(ctx, plain) == plain
    assert src.calls == 0


def test_assign_fewer_ids_than_networks() -> None:
    src = MapSource({"intel.com/sriov": ["0000:03:02.0"]})
    ctx = make_ctx(src)
    out = devices.assign(ctx, [nad("a", "intel.com/sriov"), nad("b", "intel.com/sriov", ifname="net2"),
                               nad("c", "intel.com/sriov", ifname="net3",
                                   selection=NetworkSelection(name="c", namespace="default",
                                                              device_id="0000:05:00.7"))])
    assert out[0].device_id == "0000:03:02.0"
    assert out[1].device_id == "" and "deviceID" not in out[1].config and out[1].resource_name
    # exhausted: the selection element's deviceID is used
    assert out[2].device_id == "0000:05:00.7" and out[2].config["pciBusID"] == "0000:05:00.7"


def test_assign_selection_device_id_when_no_backend_knows_the_resource() -> None:
    ctx = make_ctx(MapSource(None))  # the hook answers None: no backend knows
    sel = NetworkSelection(name="a", namespace="default", device_id="0000:af:00.1")
    out = devices.assign(ctx, [nad("a", "intel.com/sriov", selection=sel)])
    assert out[0].device_id == "0000:af:00.1"
    assert out[0].config["deviceID"] == "0000:af:00.1"


def test_assign_selection_device_id_without_resource_name() -> None:
    src = MapSource({"intel.com/sriov": ["0000:03:02.0"]})
    ctx = make_ctx(src)
    sel = NetworkSelection(name="a", namespace="default", device_id="0000:af:00.1")
    out = devices.assign(ctx, [nad("a", selection=sel)])
    assert out[0].device_id == "0000:af:00.1"
    assert src.calls == 0


def test_assign_device_plugin_id_wins_over_selection() -> None:
    ctx = make_ctx(MapSource({"intel.com/sriov": ["0000:03:02.0"]}))
    sel = NetworkSelection(name="a", namespace="default", device_id="0000:af:00.1")
    assert devices.assign(ctx, [nad("a", "intel.com/sriov", selection=sel)])[0].device_id == "0000:03:02.0"


def test_assign_keeps_a_device_id_already_set() -> None:
    src = MapSource({"intel.com/sriov": ["0000:03:02.0"]})
    ctx = make_ctx(src)
    d = Delegate(config=conf("a"), name="default/a", ifname="net1", resource_name="intel.com/sriov",
                 device_id="0000:09:00.0")
    out = devices.assign(ctx, [d, nad("b", "intel.com/sriov")])
    assert out[0].device_id == "0000:09:00.0" and out[0].config["deviceID"] == "0000:09:00.0"
    assert out[1].device_id == "0000:03:02.0"


def test_assign_conflist_every_plugin() -> None:
    ctx = make_ctx(MapSource({"intel.com/sriov": ["0000:03:02.0"]}))
    cl = conflist()
    out = devices.assign(ctx, [nad("l", "intel.com/sriov", config=cl)])
    plugins = out[0].config["plugins"]
    assert all(p["deviceID"] == p["pciBusID"] == "0000:03:02.0" for p in plugins)
    assert "deviceID" not in out[0].config
    assert plugins[1]["sysctl"] == {"a": "1"}
    assert cl == conflist()  # input (and its nested plugin dicts) untouched


def test_assign_backend_error_propagates() -> None:
    class Failing:
        @hookimpl
        def multus_source_resource_map(self, ctx: RequestContext) -> dict[str, list[str]] | None:
            raise CNIError(11, "kubelet busy")

    ctx = make_ctx()
    ctx.plugins.register(Failing(), name="failing")
    with pytest.raises(CNIError) as e:
        devices.assign(ctx, [nad("a", "intel.com/sriov")])
    assert e.value.code == 11


def test_inject_device_id_conf_and_errors() -> None:
    c = conf()
    out = devices.inject_device_id(c, "0000:03:02.0")
    assert out == {**conf(), "deviceID": "0000:03:02.0", "pciBusID": "0000:03:02.0"}
    assert c == conf()
    out["ipam"]["subnet"] = "changed"
    assert c["ipam"]["subnet"] == "10.56.217.0/24"  # deep copy
    with pytest.raises(CNIError) as e:
        devices.inject_device_id({"name": "x", "plugins": ["sriov"]}, "1", "default/x")
    assert e.value.code == INVALID_CONFIG and "plugins[0]" in e.value.msg and "default/x" in e.value.msg
    with pytest.raises(CNIError):
        devices.inject_device_id({"name": "x", "plugins": {"type": "sriov"}}, "1")


# --- file names -----------------------------------------------------------------------------

def test_device_info_file_names() -> None:
    assert devices.device_info_file("default/sriov-net", CID, "net1") == \
        f"/var/run/k8s.cni.cncf.io/devinfo/cni/default-sriov-net-{CID}_net1"
    assert devices.device_info_file("cbr0", CID, "eth0", "/tmp/d") == f"/tmp/d/cbr0-{CID}_eth0"
    assert devices.device_info_file("a/b/c", "id", "x", "/base/dir") == "/base/dir/a-b-c-id_x"
    assert devices.dp_device_info_file("intel.com/sriov_net_A", "0000:03:02.0") == \
        "/var/run/k8s.cni.cncf.io/devinfo/dp/intel.com-sriov_net_A-0000:03:02.0-device.json"
    assert devices.dp_device_info_file("vendor.io/vdpa", "vdpa/0", "/dp") == \
        "/dp/vendor.io-vdpa-vdpa-0-device.json"


def test_dirs_defaults_and_overrides() -> None:
    assert devices.dirs(make_ctx().conf) == (devices.DEFAULT_CNI_DIR, devices.DEFAULT_DP_DIR)
    ctx = make_ctx(conf={"deviceInfoDir": "/x/cni", "devicePluginInfoDir": "/x/dp"})
    assert devices.dirs(ctx.conf) == ("/x/cni", "/x/dp")
    with pytest.raises(CNIError) as e:
        devices.dirs(make_ctx(conf={"deviceInfoDir": 3}).conf)
    assert e.value.code == INVALID_CONFIG and "deviceInfoDir" in e.value.msg


def test_capability_args_and_info_path(tmp_path: Path) -> None:
    ctx = make_ctx(conf={"deviceInfoDir": str(tmp_path)})
    d = Delegate(config=conf(), name="default/sriov-net", ifname="net1", device_id="0000:03:02.0")
    path = str(tmp_path / f"default-sriov-net-{CID}_net1")
    assert devices.capability_args(ctx, d) == {"deviceID": "0000:03:02.0", "CNIDeviceInfoFile": path}
    assert devices.info_path(ctx, d) == path
    master = Delegate(config=conf(), name="cbr0", ifname="eth0", device_id="0000:03:02.0", master=True)
    assert devices.capability_args(ctx, master) == {} and devices.info_path(ctx, master) == ""
    none = Delegate(config=conf(), name="x", ifname="net2")
    assert devices.capability_args(ctx, none) == {} and devices.info_path(ctx, none) == ""
    given = Delegate(config=conf(), name="x", ifname="net2", device_id="1",
                     runtime_config={"CNIDeviceInfoFile": "/elsewhere/f"})
    assert devices.info_path(ctx, given) == "/elsewhere/f"


# --- device-info files ----------------------------------------------------------------------

DEVINFO = {"type": "pci", "version": "1.1.0",
           "pci": {"pci-address": "0000:03:02.0", "pf-pci-address": "0000:03:00.0",
                   "rdma-device": "mlx5_3"}}


@pytest.fixture
def info_ctx(tmp_path: Path) -> RequestContext:
    (tmp_path / "dp").mkdir()
    return make_ctx(conf={"deviceInfoDir": str(tmp_path / "cni"),
                          "devicePluginInfoDir": str(tmp_path / "dp")})


def sriov(device_id: str = "0000:03:02.0") -> Delegate:
    return Delegate(config=conf(), name="default/sriov-net", ifname="net1",
                    resource_name="intel.com/sriov_net_A", device_id=device_id)


def test_prepare_copies_dp_file_load_remove(info_ctx: RequestContext, tmp_path: Path) -> None:
    dp = tmp_path / "dp" / "intel.com-sriov_net_A-0000:03:02.0-device.json"
    dp.write_text(json.dumps(DEVINFO))
    d = sriov()
    devices.prepare(info_ctx, d)
    cni = tmp_path / "cni" / f"default-sriov-net-{CID}_net1"
    assert json.loads(cni.read_text()) == DEVINFO
    assert stat.S_IMODE(os.stat(cni).st_mode) == 0o444
    assert devices.load(info_ctx, d) == DEVINFO
    devices.remove(info_ctx, d)
    assert not cni.exists()
    devices.remove(info_ctx, d)  # missing is fine
    assert devices.load(info_ctx, d) is None


def test_prepare_never_overwrites(info_ctx: RequestContext, tmp_path: Path) -> None:
    (tmp_path / "dp" / "intel.com-sriov_net_A-0000:03:02.0-device.json").write_text(json.dumps(DEVINFO))
    cni = tmp_path / "cni" / f"default-sriov-net-{CID}_net1"
    cni.parent.mkdir()
    cni.write_text('{"type": "pci", "version": "1.1.0", "pci": {"pci-address": "0000:03:02.0"}}')
    devices.prepare(info_ctx, sriov())  # logged, not raised
    assert json.loads(cni.read_text())["pci"] == {"pci-address": "0000:03:02.0"}


def test_prepare_without_dp_file_or_resource(info_ctx: RequestContext, tmp_path: Path) -> None:
    devices.prepare(info_ctx, sriov())  # no DP file: nothing, no error
    assert not (tmp_path / "cni").exists()
    no_resource = Delegate(config=conf(), name="default/x", ifname="net1", device_id="0000:03:02.0")
    (tmp_path / "dp" / "-0000:03:02.0-device.json").write_text(json.dumps(DEVINFO))
    devices.prepare(info_ctx, no_resource)
    assert not (tmp_path / "cni").exists()


def test_prepare_bad_dp_file_is_ignored(info_ctx: RequestContext, tmp_path: Path,
                                        caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "dp" / "intel.com-sriov_net_A-0000:03:02.0-device.json").write_text('{"type": "pci", ')
    devices.prepare(info_ctx, sriov())
    assert not (tmp_path / "cni").exists()
    assert "not copied" in caplog.text
    (tmp_path / "dp" / "intel.com-sriov_net_A-0000:03:02.0-device.json").write_text('["pci"]')
    devices.prepare(info_ctx, sriov())
    assert not (tmp_path / "cni" / f"default-sriov-net-{CID}_net1").exists()


def test_load_file_written_by_the_plugin(info_ctx: RequestContext, tmp_path: Path) -> None:
    # no DP file: the delegate itself may write the CNI file; with unknown keys kept
    cni = tmp_path / "cni" / f"default-sriov-net-{CID}_net1"
    cni.parent.mkdir()
    cni.write_text(json.dumps({**DEVINFO, "x-vendor": 1}))
    assert devices.load(info_ctx, sriov()) == {**DEVINFO, "x-vendor": 1}


def test_load_malformed_returns_none(info_ctx: RequestContext, tmp_path: Path) -> None:
    cni = tmp_path / "cni" / f"default-sriov-net-{CID}_net1"
    cni.parent.mkdir()
    cni.write_text("{not json")
    assert devices.load(info_ctx, sriov()) is None
    cni.write_text("[1, 2]")
    assert devices.load(info_ctx, sriov()) is None


def test_no_device_id_no_file(info_ctx: RequestContext, tmp_path: Path) -> None:
    d = Delegate(config=conf(), name="default/x", ifname="net1", resource_name="intel.com/sriov_net_A")
    devices.prepare(info_ctx, d)
    assert devices.load(info_ctx, d) is None
    devices.remove(info_ctx, d)
    assert not (tmp_path / "cni").exists()


def test_remove_error_is_logged(info_ctx: RequestContext, tmp_path: Path,
                                caplog: pytest.LogCaptureFixture) -> None:
    cni = tmp_path / "cni" / f"default-sriov-net-{CID}_net1"
    cni.mkdir(parents=True)  # a directory: unlink fails
    devices.remove(info_ctx, sriov())
    assert "not removed" in caplog.text
