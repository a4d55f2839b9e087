"""The runtime harness itself: real containerd (CRI) and podman attach pods with a plain bridge + host-local.

Run inside a lab network namespace, e.g.:
    ip netns add rt-test && ip -n rt-test link set lo up
    ip netns exec rt-test python -m pytest tests/harness/test_runtime_harness.py -q
"""

from __future__ import annotations

import ipaddress
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from runtimes import Containerd, CriError, Podman, bridge_conflist, link_names

pytestmark = pytest.mark.runtime


def _leases(data_dir: Path, network: str) -> list[str]:
    """host-local lease files (named by address) of `network`."""
    d = data_dir / network
    if not d.is_dir():
        return []
    out = []
    for f in d.iterdir():
        try:
            ipaddress.ip_address(f.name)
        except ValueError:
            continue
        out.append(f.name)
    return out


def _veths(links: set[str]) -> set[str]:
    return {name for name in links if name.startswith("veth")}


def _in(subnet: str, address: str) -> bool:
    return ipaddress.ip_address(address.split("/")[0]) in ipaddress.ip_network(subnet)


RECORDER = """#!{python}
# A chained CNI plugin that records what the runtime sends it, and passes prevResult through.
import json, os, sys
conf = json.loads(sys.stdin.read() or "{{}}")
cmd = os.environ.get("CNI_COMMAND", "")
if cmd == "VERSION":
    print(json.dumps({{"cniVersion": "1.0.0", "supportedVersions": ["0.3.1", "0.4.0", "1.0.0"]}}))
    sys.exit(0)
env = {{k: v for k, v in os.environ.items() if k.startswith("CNI_")}}
with open({log!r}, "a") as f:
    f.write(json.dumps({{"env": env, "conf": conf}}) + "\\n")
if cmd == "ADD":
    print(json.dumps(conf.get("prevResult") or {{"cniVersion": conf.get("cniVersion", "1.0.0")}}))
"""


def _recorder(bin_dir: Path, log: Path) -> Path:
    path = bin_dir.parent / "recorder-plugin"
    path.write_text(RECORDER.format(python=sys.executable, log=str(log)))
    path.chmod(0o755)
    log.unlink(missing_ok=True)
    return path


def _calls(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def _with_recorder(conf: dict[str, Any]) -> dict[str, Any]:
    conf["plugins"].append(
        {
            "type": "recorder",
            "capabilities": {"io.kubernetes.cri.pod-annotations": True, "portMappings": True},
        }
    )
    return conf


def test_containerd_version(containerd: Containerd) -> None:
    v = containerd.cri().version()
    assert v.runtime_name == "containerd"
    assert v.runtime_api_version == "v1"


def test_containerd_pod_gets_ip_and_release_cleans_up(containerd: Containerd) -> None:
    subnet, net = "10.250.31.0/24", "rt-harness-ctd"
    ipam = containerd.lab_dir / "ipam"
    containerd.set_network(bridge_conflist(net, subnet, ipam, bridge="br-rth-ctd"))
    assert net in containerd.loaded_network_names()
    cri = containerd.cri()
    veths_before = _veths(link_names())

    uid = str(uuid.uuid4())
    t0 = time.perf_counter()
    sid = cri.run_pod("harness-pod", "harness", uid, {"example.com/note": "hello"})
    run_s = time.perf_counter() - t0
    try:
        st = cri.status(sid)
        assert st.state == "SANDBOX_READY"
        assert (st.name, st.namespace, st.uid) == ("harness-pod", "harness", uid)
        assert st.annotations["example.com/note"] == "hello"
        assert st.ip and _in(subnet, st.ip), st
        assert st.additional_ips == []
        assert st.netns and os.path.exists(st.netns), st.netns
        assert st.cni_result and "eth0" in st.cni_result["Interfaces"]
        assert _leases(ipam, net) == [st.ip]
        assert len(_veths(link_names()) - veths_before) == 1
        assert sid in {p.id for p in cri.list_pods()}
    finally:
        t1 = time.perf_counter()
        cri.stop_pod(sid)
        stop_s = time.perf_counter() - t1
        t2 = time.perf_counter()
        cri.remove_pod(sid)
        remove_s = time.perf_counter() - t2
    print(
        f"\nRunPodSandbox {run_s * 1000:.0f} ms, StopPodSandbox {stop_s * 1000:.0f} ms, "
        f"RemovePodSandbox {remove_s * 1000:.0f} ms"
    )

    assert _veths(link_names()) == veths_before
    assert _leases(ipam, net) == []
    assert not (st.netns and os.path.exists(st.netns))
    assert sid not in {p.id for p in cri.list_pods()}
    with pytest.raises(CriError):
        cri.status(sid)


def test_containerd_pod_context_manager(containerd: Containerd) -> None:
    subnet, net = "10.250.33.0/24", "rt-harness-ctx"
    ipam = containerd.lab_dir / "ipam"
    containerd.set_network(bridge_conflist(net, subnet, ipam, bridge="br-rth-ctx"))
    with containerd.cri().pod("ctx-pod", "harness") as st:
        assert _in(subnet, st.ip)
        assert _leases(ipam, net) == [st.ip]
    assert _leases(ipam, net) == []
    assert st.id not in {p.id for p in containerd.cri().list_pods()}


def test_podman_run_gets_eth0_address(podman: Podman) -> None:
    subnet, net = "10.250.32.0/24", "rt-harness-pm"
    ipam = podman.lab_dir / "ipam"
    podman.set_network(bridge_conflist(net, subnet, ipam, bridge="br-rth-pm"))
    veths_before = _veths(link_names())
    t0 = time.perf_counter()
    rc, out = podman.run(net, ["ip", "-o", "-4", "addr", "show", "dev", "eth0"])
    run_s = time.perf_counter() - t0
    print(f"\npodman run --rm {run_s * 1000:.0f} ms")
    assert rc == 0, podman.last_stderr
    assert "eth0" in out and "inet 10.250.32." in out, out
    assert _veths(link_names()) == veths_before
    assert _leases(ipam, net) == []


def test_podman_start_exec_rm(podman: Podman) -> None:
    subnet, net = "10.250.34.0/24", "rt-harness-pm2"
    ipam = podman.lab_dir / "ipam"
    podman.set_network(bridge_conflist(net, subnet, ipam, bridge="br-rth-pm2"))
    veths_before = _veths(link_names())
    podman.start("harness-c1", net, ip="10.250.34.50", mac="02:00:00:00:34:50")
    try:
        netns = podman.netns_path("harness-c1")
        assert os.path.exists(netns)
        rc, out = podman.exec("harness-c1", ["ip", "-o", "addr", "show", "dev", "eth0"])
        assert rc == 0, podman.last_stderr
        assert "inet 10.250.34.50/24" in out, out
        rc, out = podman.exec("harness-c1", ["ip", "-o", "link", "show", "dev", "eth0"])
        assert "02:00:00:00:34:50" in out, out
        assert _leases(ipam, net) == ["10.250.34.50"]
        assert len(_veths(link_names()) - veths_before) == 1
    finally:
        podman.rm("harness-c1")
    assert _veths(link_names()) == veths_before
    assert _leases(ipam, net) == []
    assert not os.path.exists(netns)
    assert "harness-c1" not in podman.names()


def test_containerd_calls_plugins_like_kubelet_pods_need(containerd: Containerd) -> None:
    """What a meta-plugin under containerd gets: pod identity in CNI_ARGS, annotations via capability, two DELs."""
    log = containerd.lab_dir / "recorder.log"
    containerd.add_plugin(_recorder(containerd.cni_bin_dir, log), "recorder")
    net = "rt-harness-rec"
    containerd.set_network(
        _with_recorder(
            bridge_conflist(net, "10.250.35.0/24", containerd.lab_dir / "ipam", bridge="br-rth-rec")
        )
    )
    uid = str(uuid.uuid4())
    with containerd.cri().pod("rec-pod", "harness", uid, {"k8s.v1.cni.cncf.io/networks": "a,b"}) as st:
        (add,) = _calls(log)
    dels = _calls(log)[1:]

    assert add["env"]["CNI_COMMAND"] == "ADD"
    assert add["env"]["CNI_NETNS"] == st.netns
    assert add["env"]["CNI_IFNAME"] == "eth0"
    args = dict(kv.split("=", 1) for kv in add["env"]["CNI_ARGS"].split(";"))
    assert args["K8S_POD_NAME"] == "rec-pod"
    assert args["K8S_POD_NAMESPACE"] == "harness"
    assert args["K8S_POD_UID"] == uid
    assert args["K8S_POD_INFRA_CONTAINER_ID"] == st.id == add["env"]["CNI_CONTAINERID"]
    annotations = add["conf"]["runtimeConfig"]["io.kubernetes.cri.pod-annotations"]
    assert annotations["k8s.v1.cni.cncf.io/networks"] == "a,b"
    assert add["conf"]["prevResult"]["ips"][0]["address"].startswith(st.ip + "/")

    assert [d["env"]["CNI_COMMAND"] for d in dels] == ["DEL", "DEL"]
    assert dels[0]["env"]["CNI_NETNS"] == st.netns and "prevResult" in dels[0]["conf"]
    assert dels[1]["env"].get("CNI_NETNS", "") == "" and "prevResult" not in dels[1]["conf"]


def test_podman_calls_plugins(podman: Podman) -> None:
    """podman: ADD with IP=/MAC= in CNI_ARGS, then one DEL with the netns and prevResult."""
    log = podman.lab_dir / "recorder.log"
    podman.add_plugin(_recorder(podman.cni_bin_dir, log), "recorder")
    net = "rt-harness-prec"
    podman.set_network(
        _with_recorder(bridge_conflist(net, "10.250.36.0/24", podman.lab_dir / "ipam", bridge="br-rth-prec"))
    )
    rc, out = podman.run(net, "ip -o -4 addr show dev eth0", ip="10.250.36.9", mac="02:00:00:00:36:09")
    assert rc == 0, podman.last_stderr
    assert "inet 10.250.36.9/24" in out
    calls = [c for c in _calls(log) if c["env"]["CNI_COMMAND"] != "VERSION"]
    assert [c["env"]["CNI_COMMAND"] for c in calls] == ["ADD", "DEL"]
    args = dict(kv.split("=", 1) for kv in calls[0]["env"]["CNI_ARGS"].split(";"))
    assert args["IP"] == "10.250.36.9" and args["MAC"] == "02:00:00:00:36:09"
    assert calls[1]["env"]["CNI_NETNS"] == calls[0]["env"]["CNI_NETNS"] != ""
    assert "prevResult" in calls[1]["conf"]
