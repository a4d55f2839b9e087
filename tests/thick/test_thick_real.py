"""multus-shim -> multus-daemon -> Debian's reference plugins, in lab network namespaces.

Every test starts ``multus-daemon -config <tmp>/daemon-config.json`` as a subprocess (socketDir
in tmp) and runs ``multus-shim`` as a runtime would (CNI env + stdin). Cluster network: bridge +
host-local; second networks: macvlan on a veth of the lab host namespace.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from thickkit import CNI_BIN, NETWORKS, Node, Pod, describe, error_of, gateway, in_subnet

from multus.testing.recorder import read_calls
from multus.thick import client

pytestmark = pytest.mark.root


def ips(result: dict[str, Any]) -> list[str]:
    return [ip["address"] for ip in result.get("ips", [])]


# ------------------------------------------------------------------------------------ ADD / CHECK / DEL


def test_add_check_del_bridge(node: Node) -> None:
    daemon = node.daemon()
    br = node.bridge()
    conf = node.shim_conf(daemon, delegates=[br])
    pod = node.pod()

    res = node.add(conf, pod)
    assert res["cniVersion"] == "1.0.0"
    assert [i["name"] for i in res["interfaces"] if i.get("sandbox") == pod.path] == ["eth0"]
    assert len(res["ips"]) == 1 and in_subnet(res["ips"][0]["address"], br["ipam"]["subnet"])
    assert "version" not in res["ips"][0]
    assert res["ips"][0]["gateway"] == gateway(br["ipam"]["subnet"])
    assert node.links(pod) == ["eth0", "lo"]
    assert node.addresses(pod, "eth0") == [res["ips"][0]["address"]]
    assert len(node.leases_of(pod)) == 1
    assert (node.cni_dir / pod.container_id).exists()  # the daemon wrote the scratch cache

    out = node.shim("CHECK", conf, pod)
    assert out.returncode == 0 and out.stdout.strip() == "", describe(out)

    node.delete(conf, pod)
    node.assert_clean(pod)
    # containerd's second DEL: no netns, nothing cached any more
    node.delete(conf, pod, netns="")
    node.assert_clean(pod)


@pytest.mark.parametrize("version", ["0.3.1", "0.4.0", "1.0.0", "1.1.0"])
def test_result_in_the_shim_conf_version(node: Node, version: str) -> None:
    daemon = node.daemon()
    br = node.bridge()
    conf = node.shim_conf(daemon, cni_version=version, delegates=[br])
    pod = node.pod()
    res = node.add(conf, pod)
    assert res["cniVersion"] == version
    ip = res["ips"][0]
    assert in_subnet(ip["address"], br["ipam"]["subnet"])
    if version.startswith("0."):
        assert ip["version"] == "4"
        assert res["dns"] == {}
    else:
        assert "version" not in ip
    if version != "0.3.1":
        out = node.shim("CHECK", conf, pod)
        assert out.returncode == 0, describe(out)
    node.delete(conf, pod)
    node.assert_clean(pod)


def test_macvlan_second_network_from_pod_annotations(node: Node) -> None:
    daemon = node.daemon()
    br = node.bridge()
    mv = node.macvlan("mv-net")
    node.write_conf("20-mv.conf", mv)
    conf = node.shim_conf(daemon, delegates=[br], annotations={NETWORKS: "mv-net"})
    pod = node.pod()
    res = node.add(conf, pod)
    assert node.links(pod) == ["eth0", "lo", "net1"]
    assert any(in_subnet(a, mv["ipam"]["subnet"]) for a in node.addresses(pod, "net1"))
    # the result is the cluster network's
    assert all(in_subnet(a, br["ipam"]["subnet"]) for a in ips(res))
    out = node.shim("CHECK", conf, pod)
    assert out.returncode == 0, describe(out)
    node.delete(conf, pod)
    node.assert_clean(pod)


def test_static_delegates_bridge_and_macvlan(node: Node) -> None:
    daemon = node.daemon()
    br, mv = node.bridge(), node.macvlan("mv-static")
    conf = node.shim_conf(daemon, cni_version="0.3.1", delegates=[br, mv])
    pod = node.pod()
    res = node.add(conf, pod)
    assert res["cniVersion"] == "0.3.1"
    assert node.links(pod) == ["eth0", "lo", "net1"]
    assert any(in_subnet(a, mv["ipam"]["subnet"]) for a in node.addresses(pod, "net1"))
    node.delete(conf, pod)
    node.assert_clean(pod)


# ------------------------------------------------------------------------------------ many at once


def test_eight_concurrent_shims(node: Node) -> None:
    daemon = node.daemon()
    br = node.bridge()
    conf = node.shim_conf(daemon, delegates=[br])
    pods = [node.pod() for _ in range(8)]
    results: dict[int, Any] = {}

    def run(i: int, verb: str) -> None:
        results[i] = node.shim(verb, conf, pods[i])

    for verb in ("ADD", "DEL"):
        results.clear()
        threads = [threading.Thread(target=run, args=(i, verb)) for i in range(8)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        elapsed = time.monotonic() - t0
        assert sorted(results) == list(range(8))
        bad = {i: describe(o) for i, o in results.items() if o.returncode != 0}
        assert not bad, f"{verb}: {bad}\n{daemon.logs()}"
        if verb == "ADD":
            addresses = [results[i].json["ips"][0]["address"] for i in range(8)]
            assert len(set(addresses)) == 8, addresses
            for i, pod in enumerate(pods):
                assert node.addresses(pod, "eth0") == [addresses[i]]
        assert elapsed < 60
    for pod in pods:
        node.assert_clean(pod)


# ------------------------------------------------------------------------------------ daemon config


def test_daemon_config_overrides_the_shim_conf(node: Node) -> None:
    br = node.bridge()
    daemon_cni_dir = node.tmp / "daemon-cni"
    # the daemon's keys win: its cniDir, its delegates and its cniVersion replace the shim's
    daemon = node.daemon({"cniDir": str(daemon_cni_dir), "delegates": [br], "cniVersion": "0.4.0"})
    broken = {"cniVersion": "1.0.0", "name": "broken", "type": "does-not-exist"}
    conf = node.shim_conf(daemon, delegates=[broken])
    pod = node.pod()
    res = node.add(conf, pod)
    # the runtime still gets the shim conf's version
    assert res["cniVersion"] == "1.0.0" and "version" not in res["ips"][0]
    assert in_subnet(res["ips"][0]["address"], br["ipam"]["subnet"])
    assert (daemon_cni_dir / pod.container_id).exists()
    assert not (node.cni_dir / pod.container_id).exists()
    node.delete(conf, pod)
    assert not (daemon_cni_dir / pod.container_id).exists()
    assert node.links(pod) == ["lo"] and node.leases_of(pod) == []


# ------------------------------------------------------------------------------------ /delegate


def test_delegate_endpoint_hotplugs_one_network(node: Node) -> None:
    daemon = node.daemon({"cniDir": str(node.cni_dir), "binDir": CNI_BIN})
    br, mv = node.bridge(), node.macvlan("mv-hot")
    conf = node.shim_conf(daemon, delegates=[br])
    pod = node.pod()
    node.add(conf, pod)

    env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": pod.container_id, "CNI_NETNS": pod.path,
           "CNI_IFNAME": "net5", "CNI_ARGS": f"K8S_POD_NAMESPACE={pod.namespace};K8S_POD_NAME={pod.name};K8S_POD_UID=u1"}
    mac = "02:00:00:aa:bb:05"
    body = client.encode_request(env, json.dumps(mv).encode(),
                                 interfaceAttributes={"mac": mac, "ips": [], "cni-args": {"hot": "plug"}})
    reply = daemon.http("POST", client.DELEGATE_ENDPOINT, body)
    assert reply.status == 200, reply.body
    res = reply.json()["Result"]
    assert res["cniVersion"] == "1.0.0"
    assert node.links(pod) == ["eth0", "lo", "net5"]
    net5 = next(i for i in res["interfaces"] if i["name"] == "net5")
    assert net5["mac"] == mac

    reply = daemon.http("POST", client.DELEGATE_ENDPOINT, client.encode_request({**env, "CNI_COMMAND": "DEL"},
                                                                                json.dumps(mv).encode()))
    assert reply.status == 200 and reply.body == b"", reply.body
    assert node.links(pod) == ["eth0", "lo"]
    node.delete(conf, pod)
    node.assert_clean(pod)


# ------------------------------------------------------------------------------------ shutdown


def test_sigterm_lets_the_request_in_flight_finish(node: Node) -> None:
    slow_bin = node.tmp / "slow-bin"
    slow_bin.mkdir()
    plugin = slow_bin / "slowbridge"
    plugin.write_text(f'#!/bin/sh\n[ "$CNI_COMMAND" = ADD ] && sleep 1.5\nexec {CNI_BIN}/bridge\n')
    plugin.chmod(plugin.stat().st_mode | stat.S_IXUSR)
    daemon = node.daemon({"shutdownGracePeriod": 0.2})
    br = {**node.bridge(), "type": "slowbridge"}
    conf = node.shim_conf(daemon, delegates=[br], binDir=str(slow_bin))
    pod = node.pod()
    outcome: list[Any] = []
    t = threading.Thread(target=lambda: outcome.append(node.shim("ADD", conf, pod)))
    t.start()
    deadline = time.monotonic() + 20
    while "ADD starting CNI request" not in daemon.logs():
        assert time.monotonic() < deadline, daemon.logs()
        time.sleep(0.05)
    daemon.signal(signal.SIGTERM)
    time.sleep(0.05)
    assert daemon.http("GET", client.READY_ENDPOINT).status == 500
    t.join(60)
    assert outcome and outcome[0].returncode == 0, (describe(outcome[0]) if outcome else "no outcome") + daemon.logs()
    assert node.links(pod) == ["eth0", "lo"]
    assert daemon.wait(20) == 0, daemon.logs()
    assert not os.path.exists(daemon.socket_path)
    # the daemon is gone: the shim's DEL falls back to the thin plugin's, from the cache
    out = node.shim("DEL", conf, pod, extra={"MULTUS_SHIM_READY_TIMEOUT": "0.5"})
    assert out.returncode == 0 and "CmdDel (shim): the multus daemon is not reachable" in out.stderr, describe(out)
    node.assert_clean(pod)
    # a new daemon: a second DEL finds nothing left and succeeds
    daemon.start()
    node.delete(conf, pod)
    node.assert_clean(pod)


def test_pod_fields_are_required_for_add_but_not_for_del(node: Node) -> None:
    daemon = node.daemon()
    conf = node.shim_conf(daemon, delegates=[node.bridge()])
    pod = node.pod()
    bare = Pod(netns=pod.netns, container_id=pod.container_id)
    out = node.shim("ADD", conf, bare)
    err = json.loads(out.stdout)
    assert out.returncode == 1 and err["code"] == 999, describe(out)
    assert "could not extract the kubernetes runtime args: missing K8S_POD_NAME" in err["msg"]
    node.add(conf, pod)
    # a DEL without the pod's name still tears everything down
    out = node.shim("DEL", conf, bare)
    assert out.returncode == 0, describe(out)
    node.assert_clean(pod)


def test_gc_and_status_go_through_the_daemon(node: Node, recording_plugin: Any) -> None:
    """GC through shim and daemon: the pod the runtime still lists keeps its interfaces and leases,
    the stale one is torn down. STATUS asks the cluster network's plugin, and fails with its error."""
    daemon = node.daemon()
    br, mv = node.bridge(), node.macvlan("mv-gc")
    node.write_conf("20-mv.conf", mv)
    conf = node.shim_conf(daemon, cni_version="1.1.0", delegates=[br], annotations={NETWORKS: "mv-gc"})
    keep, stale = node.pod(), node.pod()
    for p in (keep, stale):
        node.add(conf, p)
        assert node.links(p) == ["eth0", "lo", "net1"] and len(node.leases_of(p)) == 2

    gc_conf = {**node.shim_conf(daemon, cni_version="1.1.0", delegates=[br]),
               "cni.dev/valid-attachments": [{"containerID": keep.container_id, "ifname": "eth0"},
                                             {"containerID": keep.container_id, "ifname": "net1"}]}
    out = node.shim("GC", gc_conf)
    assert out.returncode == 0 and out.stdout.strip() == "", describe(out)
    assert "GC finished CNI request" in daemon.logs()
    node.assert_clean(stale)
    assert [f for f in os.listdir(node.cni_dir / "results") if stale.container_id in f] == []
    assert node.links(keep) == ["eth0", "lo", "net1"] and len(node.leases_of(keep)) == 2
    assert (node.cni_dir / keep.container_id).exists()

    rec_bin, log = recording_plugin("recplug")
    (Path(rec_bin) / "notready").write_text(
        '#!/bin/sh\ncat >/dev/null\nprintf \'{"cniVersion":"1.1.0","code":50,"msg":"agent down"}\'\nexit 1\n')
    (Path(rec_bin) / "notready").chmod(0o755)
    for plugin in ("recplug", "notready"):
        status_conf = node.shim_conf(daemon, cni_version="1.1.0", binDir=rec_bin,
                                     delegates=[{"cniVersion": "1.1.0", "name": "cluster", "type": plugin}])
        out = node.shim("STATUS", status_conf)
        if plugin == "recplug":
            assert out.returncode == 0 and out.stdout.strip() == "", describe(out)
            assert [(c["env"]["CNI_COMMAND"], c["stdin"]["name"]) for c in read_calls(log)] == [("STATUS", "cluster")]
        else:
            err = error_of(out)
            assert err["code"] == 50 and "agent down" in err["msg"], err
    assert "STATUS finished CNI request" in daemon.logs()

    node.delete(conf, keep)
    node.assert_clean(keep)
