"""multus_checkpoint: the kubelet's device-manager checkpoint, in both formats kubelets write."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import multus_checkpoint.source as checkpoint
import pytest

from multus.cni.request import CniRequest
from multus.config import netconf
from multus.engine.models import PodInfo, RequestContext
from multus.errors import INVALID_CONFIG, IO_FAILURE, CNIError
from multus.plugin.manager import Plugins

UID = "970a395d-bb3b-11e8-89df-408d5c537d23"
OTHER = "0f3e4a8c-2d11-4b6e-9c1b-6f0a7d2e5b44"

# Written by a kubelet before 1.20: DeviceIDs is a list (upstream multus' own test data).
PRE_120 = """{
  "Data": {
    "PodDeviceEntries": [
      {
        "PodUID": "970a395d-bb3b-11e8-89df-408d5c537d23",
        "ContainerName": "appcntr1",
        "ResourceName": "intel.com/sriov_net_A",
        "DeviceIDs": ["0000:03:02.3", "0000:03:02.0"],
        "AllocResp": "CikKC3NyaW92X25ldF9BEhogMDAwMDowMzowMi4zIDAwMDA6MDM6MDIuMA=="
      },
      {
        "PodUID": "0f3e4a8c-2d11-4b6e-9c1b-6f0a7d2e5b44",
        "ContainerName": "other",
        "ResourceName": "intel.com/sriov_net_A",
        "DeviceIDs": ["0000:03:02.1"],
        "AllocResp": "CikKC3NyaW92X25ldF9BEgwwMDAwOjAzOjAyLjE="
      }
    ],
    "RegisteredDevices": {
      "intel.com/sriov_net_A": ["0000:03:02.1", "0000:03:02.2", "0000:03:02.3", "0000:03:02.0"],
      "intel.com/sriov_net_B": ["0000:03:06.3", "0000:03:06.0", "0000:03:06.1", "0000:03:06.2"]
    }
  },
  "Checksum": 229855270
}"""

# Written by a kubelet since 1.20: DeviceIDs is NUMA node -> list (-1: no topology); compact JSON.
POST_120 = json.dumps({
    "Data": {
        "PodDeviceEntries": [
            {"PodUID": UID, "ContainerName": "app", "ResourceName": "intel.com/intel_sriov_netdevice",
             "DeviceIDs": {"1": ["0000:81:02.1"], "0": ["0000:03:02.3", "0000:03:02.0"]},
             "AllocResp": "CjMKJVBDSURFVklDRV9JTlRFTF9DT01fSU5URUxfU1JJT1ZfTkVUREVWSUNFEgowMDAwOjAzOjAyLjM="},
            {"PodUID": UID, "ContainerName": "sidecar", "ResourceName": "intel.com/intel_sriov_netdevice",
             "DeviceIDs": {"0": ["0000:03:02.5"]}, "AllocResp": ""},
            {"PodUID": UID, "ContainerName": "app", "ResourceName": "nvidia.com/gpu",
             "DeviceIDs": {"-1": ["GPU-8e0f7c2a-6d3b-4a55-b0b8-1f2e3d4c5b6a"]},
             "AllocResp": "GiUKDk5WSURJQV9WSVNJQkxFX0RFVklDRVMSE0dQVS04ZTBmN2MyYQ=="},
            {"PodUID": OTHER, "ContainerName": "app", "ResourceName": "intel.com/intel_sriov_netdevice",
             "DeviceIDs": {"0": ["0000:03:02.7"]}, "AllocResp": ""},
        ],
        "RegisteredDevices": {"intel.com/intel_sriov_netdevice": ["0000:03:02.0", "0000:03:02.3",
                                                                  "0000:03:02.5", "0000:03:02.7",
                                                                  "0000:81:02.1"],
                              "nvidia.com/gpu": ["GPU-8e0f7c2a-6d3b-4a55-b0b8-1f2e3d4c5b6a"]},
    },
    "Checksum": 2466335543,
}, separators=(",", ":"))

# A kubelet with no allocation yet: Go writes nil slices and maps as null.
EMPTY = '{"Data":{"PodDeviceEntries":null,"RegisteredDevices":{}},"Checksum":1380927863}'


def make_ctx(path: Path | str, uid_arg: str = UID, pod_uid: str = "",
             pod: bool = True) -> RequestContext:
    args: tuple[tuple[str, str], ...] = (("K8S_POD_NAMESPACE", "default"), ("K8S_POD_NAME", "sriov-pod"))
    if uid_arg:
        args += (("K8S_POD_UID", uid_arg),)
    req = CniRequest(command="ADD", container_id="c0ffee", netns="/var/run/netns/x", ifname="eth0", args=args)
    conf = netconf.load({"cniVersion": "1.0.0", "name": "multus-cni-network", "type": "multus",
                         "clusterNetwork": "cbr0", "kubeletCheckpoint": str(path)})
    plugins = Plugins(entry_points=False)
    plugins.register(checkpoint, name="checkpoint")
    return RequestContext(request=req, conf=conf, plugins=plugins,
                          pod=PodInfo(namespace="default", name="sriov-pod", uid=pod_uid) if pod else None)


def write(tmp_path: Path, text: str | bytes) -> Path:
    p = tmp_path / "kubelet_internal_checkpoint"
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text)
    return p


def answer(ctx: RequestContext) -> dict[str, list[str]] | None:
    return checkpoint.multus_source_resource_map(ctx=ctx)


def error(ctx: RequestContext) -> CNIError:
    with pytest.raises(CNIError) as e:
        answer(ctx)
    return e.value


# --- the two formats ------------------------------------------------------------------------

def test_pre_120_list_format(tmp_path: Path) -> None:
    ctx = make_ctx(write(tmp_path, PRE_120))
    assert answer(ctx) == {"intel.com/sriov_net_A": ["0000:03:02.3", "0000:03:02.0"]}
    assert answer(make_ctx(tmp_path / "kubelet_internal_checkpoint", uid_arg=OTHER)) == \
        {"intel.com/sriov_net_A": ["0000:03:02.1"]}


def test_post_120_numa_map_format(tmp_path: Path) -> None:
    ctx = make_ctx(write(tmp_path, POST_120))
    assert answer(ctx) == {
        "intel.com/intel_sriov_netdevice": ["0000:03:02.3", "0000:03:02.0", "0000:81:02.1", "0000:03:02.5"],
        "nvidia.com/gpu": ["GPU-8e0f7c2a-6d3b-4a55-b0b8-1f2e3d4c5b6a"],
    }


def test_through_the_hook_and_engine(tmp_path: Path) -> None:
    from multus.engine import devices
    from multus.engine.models import Delegate

    ctx = make_ctx(write(tmp_path, POST_120))
    gpus = ctx.plugins.source_resource_map(ctx)["nvidia.com/gpu"]
    assert gpus == ["GPU-8e0f7c2a-6d3b-4a55-b0b8-1f2e3d4c5b6a"]
    ds = [Delegate(config={"cniVersion": "1.0.0", "name": f"n{i}", "type": "sriov"}, name=f"default/n{i}",
                   ifname=f"net{i}", resource_name="intel.com/intel_sriov_netdevice") for i in range(1, 6)]
    out = devices.assign(ctx, ds)
    assert [d.device_id for d in out] == ["0000:03:02.0", "0000:03:02.3", "0000:03:02.5", "0000:81:02.1", ""]


def test_unknown_pod_and_empty_checkpoint(tmp_path: Path) -> None:
    assert answer(make_ctx(write(tmp_path, PRE_120), uid_arg="11111111-2222-3333-4444-555555555555")) == {}
    assert answer(make_ctx(write(tmp_path, EMPTY))) == {}
    null_ids = json.dumps({"Data": {"PodDeviceEntries": [
        {"PodUID": UID, "ContainerName": "a", "ResourceName": "r", "DeviceIDs": None, "AllocResp": None}],
        "RegisteredDevices": None}, "Checksum": 1})
    assert answer(make_ctx(write(tmp_path, null_ids))) == {"r": []}
    null_node = json.dumps({"Data": {"PodDeviceEntries": [
        {"PodUID": UID, "ResourceName": "r", "DeviceIDs": {"0": None, "1": ["b", "a"]}}]}})
    assert answer(make_ctx(write(tmp_path, null_node))) == {"r": ["b", "a"]}


# --- pod UID --------------------------------------------------------------------------------

def test_uid_from_args_first_then_pod(tmp_path: Path) -> None:
    path = write(tmp_path, PRE_120)
    # a static pod: the API's (mirror) UID differs; the kubelet's (CNI_ARGS) matches the checkpoint
    assert answer(make_ctx(path, uid_arg=UID, pod_uid="mirror-uid")) == \
        {"intel.com/sriov_net_A": ["0000:03:02.3", "0000:03:02.0"]}
    assert answer(make_ctx(path, uid_arg="", pod_uid=OTHER)) == {"intel.com/sriov_net_A": ["0000:03:02.1"]}


def test_no_uid_is_unknown(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert answer(make_ctx(write(tmp_path, PRE_120), uid_arg="", pod=False)) is None
    assert "no pod UID" in caplog.text


def test_no_file_is_unknown(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path / "absent")
    assert answer(ctx) is None
    assert ctx.plugins.source_resource_map(ctx) == {}


def test_default_path() -> None:
    ctx = make_ctx("x")
    ctx.conf = netconf.load({"cniVersion": "1.0.0", "name": "m", "type": "multus"})
    assert checkpoint.checkpoint_path(ctx) == "/var/lib/kubelet/device-plugins/kubelet_internal_checkpoint"


def test_bad_path_setting(tmp_path: Path) -> None:
    ctx = make_ctx("x")
    ctx.conf = netconf.load({"cniVersion": "1.0.0", "name": "m", "type": "multus", "kubeletCheckpoint": 7})
    e = error(ctx)
    assert e.code == INVALID_CONFIG and "kubeletCheckpoint" in e.msg


# --- broken files ---------------------------------------------------------------------------

def test_corrupt(tmp_path: Path) -> None:
    path = write(tmp_path, "BAD BAD DATA")
    e = error(make_ctx(path))
    assert e.code == IO_FAILURE and str(path) in e.msg and "not valid JSON" in e.msg


def test_truncated(tmp_path: Path) -> None:
    for cut in (len(POST_120) // 2, len(POST_120) - 1, 10):
        path = write(tmp_path, POST_120[:cut])
        e = error(make_ctx(path))
        assert e.code == IO_FAILURE and str(path) in e.msg and "truncated" in e.msg


def test_empty_and_binary(tmp_path: Path) -> None:
    path = write(tmp_path, b"")
    e = error(make_ctx(path))
    assert e.code == IO_FAILURE and "empty" in e.msg and str(path) in e.msg
    e = error(make_ctx(write(tmp_path, b"\xff\xfe\x00garbage")))
    assert e.code == IO_FAILURE and "not valid JSON" in e.msg


def test_unreadable(tmp_path: Path) -> None:
    d = tmp_path / "dir"
    d.mkdir()  # a directory where the file should be
    e = error(make_ctx(d))
    assert e.code == IO_FAILURE and "cannot read" in e.msg and str(d) in e.msg


def entry(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"PodUID": UID, "ContainerName": "app", "ResourceName": "intel.com/sriov",
                            "DeviceIDs": ["0000:03:02.0"], "AllocResp": ""}
    base.update(kw)
    return base


@pytest.mark.parametrize(("doc", "field"), [
    ([], "top level: expected object, got array"),
    ({"Checksum": 1}, "Data: expected object, got null"),
    ({"Data": []}, "Data: expected object, got array"),
    ({"Data": {"PodDeviceEntries": {"a": 1}}}, "Data.PodDeviceEntries: expected array, got object"),
    ({"Data": {"PodDeviceEntries": ["x"]}}, "Data.PodDeviceEntries[0]: expected object, got string"),
    ({"Data": {"PodDeviceEntries": [entry(), entry(PodUID=42)]}},
     "Data.PodDeviceEntries[1].PodUID: expected string, got number"),
    ({"Data": {"PodDeviceEntries": [entry(ResourceName=None)]}},
     "Data.PodDeviceEntries[0].ResourceName: expected string, got null"),
    ({"Data": {"PodDeviceEntries": [entry(ContainerName=["a"])]}},
     "Data.PodDeviceEntries[0].ContainerName: expected string, got array"),
    ({"Data": {"PodDeviceEntries": [entry(DeviceIDs="0000:03:02.0")]}},
     "Data.PodDeviceEntries[0].DeviceIDs: expected array or object (NUMA node -> array), got string"),
    ({"Data": {"PodDeviceEntries": [entry(DeviceIDs=["a", 1])]}},
     "Data.PodDeviceEntries[0].DeviceIDs[1]: expected string, got number"),
    ({"Data": {"PodDeviceEntries": [entry(DeviceIDs={"0": "a"})]}},
     "Data.PodDeviceEntries[0].DeviceIDs['0']: expected array, got string"),
    ({"Data": {"PodDeviceEntries": [entry(DeviceIDs={"0": ["a", True]})]}},
     "Data.PodDeviceEntries[0].DeviceIDs['0'][1]: expected string, got boolean"),
])
def test_wrong_types(tmp_path: Path, doc: Any, field: str) -> None:
    path = write(tmp_path, json.dumps(doc))
    e = error(make_ctx(path))
    assert e.code == IO_FAILURE
    assert e.msg == f"kubelet checkpoint {path}: {field}"
