"""Engine pieces without processes: CNI_ARGS composition, capability args, gateway flags, the
scratch cache format, cni-args injection."""

from __future__ import annotations

import base64
import json

import pytest

from multus.cni.request import CniRequest
from multus.engine import cache, plan, runtimeconf
from multus.engine.models import Delegate
from multus.engine.selection import NetworkSelection
from multus.errors import INVALID_CONFIG, INVALID_ENV, CNIError


def req(args: tuple[tuple[str, str], ...] = ()) -> CniRequest:
    return CniRequest(command="ADD", container_id="c1", netns="/run/netns/x", ifname="eth0", args=args,
                      config={"name": "m"})


def test_cni_args_fill_empty_then_append_duplicates() -> None:
    """As upstream: the five base keys carry the runtime's values; the runtime's pairs follow,
    filling a key whose value is still empty and otherwise appended (duplicates included)."""
    r = req((("IgnoreUnknown", "1"), ("K8S_POD_NAMESPACE", "ns"), ("K8S_POD_NAME", "p"), ("K8S_POD_UID", ""),
             ("FOO", "a=b")))
    assert runtimeconf.delegate_args(r) == (
        ("IgnoreUnknown", "true"), ("K8S_POD_NAMESPACE", "ns"), ("K8S_POD_NAME", "p"),
        ("K8S_POD_INFRA_CONTAINER_ID", ""), ("K8S_POD_UID", ""), ("IgnoreUnknown", "1"),
        ("K8S_POD_NAMESPACE", "ns"), ("K8S_POD_NAME", "p"), ("K8S_POD_UID", ""), ("FOO", "a=b"))


def test_cni_args_legacy_mac_and_ip() -> None:
    out = runtimeconf.delegate_args(req(), mac="02:00:00:00:00:01", ips=("10.250.3.4/24", "fd00::4/64"))
    assert out[-3:] == (("IgnoreUnknown", "true"), ("MAC", "02:00:00:00:00:01"), ("IP", "10.250.3.4/24,fd00::4/64"))


@pytest.mark.parametrize(("args", "ok"), [
    ((("K8S_POD_NAME", "p"),), True),
    ((("FOO", "1"),), False),
    ((("FOO", "1"), ("IgnoreUnknown", "true")), True),
    ((("IP", "10.0.0.1"),), True),
    ((("IP", "nope"),), False),
])
def test_k8s_args_validation(args: tuple[tuple[str, str], ...], ok: bool) -> None:
    if ok:
        runtimeconf.validate_k8s_args(req(args))
    else:
        with pytest.raises(CNIError) as e:
            runtimeconf.validate_k8s_args(req(args))
        assert e.value.code == INVALID_ENV and "CNI_ARGS" in e.value.msg


def test_capability_args_master_gets_runtime_config_only() -> None:
    sel = NetworkSelection(name="n", namespace="d", ips=("10.250.1.5/24",), mac="02:00:00:00:00:02",
                           port_mappings=({"hostPort": 80, "containerPort": 8080},))
    rc = {"portMappings": [{"hostPort": 1, "containerPort": 2}], "io.kubernetes.cri.pod-annotations": {"a": "b"}}
    assert runtimeconf.capability_args(rc, True, sel) == rc
    out = runtimeconf.capability_args(rc, False, sel, device_id="0000:03:00.1", device_info_file="/d/f")
    assert out["ips"] == ["10.250.1.5/24"] and out["mac"] == "02:00:00:00:00:02"
    assert out["portMappings"] == [{"hostPort": 80, "containerPort": 8080}]
    assert out["deviceID"] == "0000:03:00.1" and out["CNIDeviceInfoFile"] == "/d/f"
    assert out["io.kubernetes.cri.pod-annotations"] == {"a": "b"}  # kept (upstream drops it)


def d(name: str, route: tuple[str, ...] | None, master: bool = False) -> Delegate:
    sel = None if route is None else NetworkSelection(name=name, namespace="d", default_route=route)
    return Delegate(config={"type": "bridge", "name": name}, name=name, ifname=name, master=master, selection=sel)


def flags(ds: list[Delegate]) -> list[tuple[bool, bool]]:
    return [(x.filter_v4_gateway, x.filter_v6_gateway) for x in plan.gateway_flags(ds)]


def test_gateway_flags_move_default_route() -> None:
    assert flags([d("eth0", None, True), d("net1", ("10.250.1.1",))]) == [(True, False), (False, False)]


def test_gateway_flags_empty_list_strips_only_its_own_interface() -> None:
    # upstream #1011: there, "default-route": [] strips the default routes of every interface
    assert flags([d("eth0", None, True), d("net1", ())]) == [(False, False), (True, True)]


def test_gateway_flags_no_request_no_change() -> None:
    assert flags([d("eth0", None, True), d("net1", None)]) == [(False, False), (False, False)]


def test_gateway_ecmp_and_bad_gateway() -> None:
    with pytest.raises(CNIError, match="ECMP"):
        plan.gateway_flags([d("a", ("10.0.0.1",)), d("b", ("10.0.0.2",))])
    with pytest.raises(CNIError) as e:
        plan.gateway_flags([d("a", ("not-an-ip",))])
    assert e.value.code == INVALID_CONFIG


def test_inject_cni_args_conf_and_conflist() -> None:
    conf = {"type": "bridge", "args": {"cni": {"a": 1, "b": 1}}}
    assert plan.inject_cni_args(conf, {"b": 2})["args"]["cni"] == {"a": 1, "b": 2}
    assert conf["args"]["cni"] == {"a": 1, "b": 1}  # the input is never changed
    lst = {"name": "l", "plugins": [{"type": "bridge"}, {"type": "tuning", "args": {"x": 1}}]}
    out = plan.inject_cni_args(lst, {"k": "v"})
    assert [p["args"] for p in out["plugins"]] == [{"cni": {"k": "v"}}, {"x": 1, "cni": {"k": "v"}}]


def test_cache_round_trip(tmp_path: object) -> None:
    sel = NetworkSelection(name="mv", namespace="default", interface="foo", mac="02:00:00:00:00:03",
                           ips=("10.250.2.3/24",), default_route=("10.250.2.1",))
    ds = [Delegate(config={"cniVersion": "1.0.0", "name": "cluster", "plugins": [{"type": "bridge"}]}, name="cluster",
                   ifname="eth0", master=True, cni_args=(("K8S_POD_NAME", "p"),)),
          Delegate(config={"cniVersion": "1.0.0", "name": "mv", "type": "macvlan", "x-unknown": {"kept": True}},
                   name="default/mv", ifname="foo", selection=sel, device_id="0000:03:00.1",
                   resource_name="intel/sriov", runtime_config={"mac": "02:00:00:00:00:03"}, filter_v4_gateway=False)]
    data = cache.encode(ds)
    entries = json.loads(data)
    assert entries[0]["ConfList"]["plugins"][0]["type"] == "bridge" and "ifnameRequest" not in entries[0]
    assert entries[1]["ifnameRequest"] == "foo" and entries[1]["macRequest"] == "02:00:00:00:00:03"
    assert entries[1]["default-route"] == ["10.250.2.1"] and entries[1]["deviceID"] == "0000:03:00.1"
    assert json.loads(base64.b64decode(entries[1]["Bytes"]))["x-unknown"] == {"kept": True}
    back = cache.decode(data, "eth0", "1.0.0")
    assert [(x.name, x.ifname, x.master) for x in back] == [("cluster", "eth0", True), ("default/mv", "foo", False)]
    assert back[1].config == ds[1].config and back[1].runtime_config == {"mac": "02:00:00:00:00:03"}
    assert back[0].cni_args == (("K8S_POD_NAME", "p"),)


def test_cache_reads_upstream_go_format() -> None:
    """A file as upstream's Go binary writes it: only its own keys; conflist without cniVersion."""
    bridge = {"cniVersion": "0.3.1", "name": "cbr0", "type": "bridge"}
    lst = {"name": "sriov", "plugins": [{"type": "sriov"}, {"type": "tuning"}]}
    upstream = [
        {"Conf": {"cniVersion": "0.3.1", "name": "cbr0", "type": "bridge", "ipam": {}, "dns": {}},
         "ConfList": {"plugins": None}, "Name": "cbr0", "IsFilterV4Gateway": False, "IsFilterV6Gateway": False,
         "Bytes": base64.b64encode(json.dumps(bridge).encode()).decode()},
        {"Conf": {"ipam": {}, "dns": {}}, "ConfList": {"name": "sriov", "plugins": [{"type": "sriov"}]},
         "Name": "default/sriov", "IsFilterV4Gateway": True, "IsFilterV6Gateway": True,
         "Bytes": base64.b64encode(json.dumps(lst).encode()).decode()},
        {"Conf": {"cniVersion": "0.3.1", "name": "mv", "type": "macvlan", "ipam": {}, "dns": {}}, "ConfList": {},
         "Name": "default/mv", "ifnameRequest": "custom", "IsFilterV4Gateway": True, "IsFilterV6Gateway": True,
         "Bytes": base64.b64encode(json.dumps({"cniVersion": "0.3.1", "name": "mv", "type": "macvlan"}).encode()).decode()},
    ]
    out = cache.decode(json.dumps(upstream).encode(), "eth0", "0.4.0")
    assert [(x.ifname, x.master) for x in out] == [("eth0", True), ("net1", False), ("custom", False)]
    assert out[1].config["cniVersion"] == "0.4.0"  # injected as upstream does on DEL
    assert out[1].filter_v4_gateway and out[0].config == bridge


@pytest.mark.parametrize("data", [b"", b"{", b"{}", b"[1]", b'[{"Name": "x"}]'])
def test_cache_corrupt(data: bytes) -> None:
    with pytest.raises((ValueError, TypeError, KeyError)):
        cache.decode(data, "eth0", "1.0.0")


def test_cache_file_mode_and_atomic_replace(tmp_path: object) -> None:
    import os
    import stat

    cni_dir = str(tmp_path)
    ds = [Delegate(config={"type": "bridge", "name": "b"}, name="b", ifname="eth0", master=True)]
    cache.save(cni_dir, "cid", ds)
    st = os.stat(os.path.join(cni_dir, "cid"))
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert [n for n in os.listdir(cni_dir) if ".tmp." in n] == []
    assert cache.load(cni_dir, "cid", "eth0", "1.0.0") is not None
    with open(os.path.join(cni_dir, "cid"), "w") as f:
        f.write("{corrupt")
    assert cache.load(cni_dir, "cid", "eth0", "1.0.0") is None
    assert cache.load(cni_dir, "missing", "eth0", "1.0.0") is None
