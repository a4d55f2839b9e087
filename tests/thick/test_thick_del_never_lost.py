"""A DEL is never lost: daemon restarts, a killed daemon, no daemon and no engine, bursts of 200
pods, and SIGTERM in the middle of a burst — with the real bridge and host-local plugins, and
leases, veths and cache files counted afterwards."""

from __future__ import annotations

import json
import signal
import threading
import time
from typing import Any

import pytest
from thickkit import BURST_SUBNETS, Daemon, Node, Pod, describe, error_of

from multus.testing.invoke import CniOutcome, invoke

pytestmark = pytest.mark.root

QUICK = {"MULTUS_SHIM_READY_TIMEOUT": "1"}
BURST = 200


def added_pod(node: Node, daemon_config: dict[str, Any] | None = None,
              **keys: Any) -> tuple[Daemon, dict[str, Any], dict[str, Any], Pod]:
    """A daemon, a bridge network, the shim configuration, and a pod ADDed through them."""
    daemon = node.daemon(daemon_config)
    br = node.bridge()
    conf = node.shim_conf(daemon, delegates=[br], **keys)
    pod = node.pod()
    node.add(conf, pod)
    return daemon, br, conf, pod


def test_daemon_restarted_between_add_and_del(node: Node) -> None:
    daemon, br, conf, pod = added_pod(node)
    daemon.stop()
    # the DEL starts while no daemon listens and is served by the next one
    restart = threading.Timer(1.0, daemon.start)
    restart.start()
    t0 = time.monotonic()
    out = node.shim("DEL", conf, pod, extra={"MULTUS_SHIM_READY_TIMEOUT": "30"})
    restart.join()
    assert out.returncode == 0 and out.stdout == "", describe(out)
    assert time.monotonic() - t0 > 0.9
    assert "deleting with" not in out.stderr  # the daemon did it, not the thin fallback
    assert "DEL finished CNI request" in daemon.logs()
    node.assert_clean(pod)
    assert node.bridge_ports(br["bridge"]) == []


def test_killed_daemon_del_runs_the_thin_del_from_the_cache(node: Node) -> None:
    daemon, br, conf, pod = added_pod(node)
    assert len(node.leases_of(pod)) == 1 and len(node.bridge_ports(br["bridge"])) == 1
    daemon.signal(signal.SIGKILL)
    daemon.wait()
    out = node.shim("DEL", conf, pod, extra=QUICK)
    assert out.returncode == 0 and out.stdout == "", describe(out)
    assert "the multus daemon is not reachable" in out.stderr and "-m multus.cli.thin" in out.stderr
    node.assert_clean(pod)
    assert node.bridge_ports(br["bridge"]) == []


def test_killed_daemon_thin_del_uses_the_daemon_configuration(node: Node) -> None:
    # the daemon's cniDir is not the shim's: the thin DEL must look where the daemon wrote
    daemon_cni = node.tmp / "daemon-cni"
    daemon, _br, conf, pod = added_pod(node, {"cniDir": str(daemon_cni)},
                                       daemonConfigFile=str(node.tmp / "daemon" / "daemon-config.json"))
    assert (daemon_cni / pod.container_id).exists()
    daemon.signal(signal.SIGKILL)
    daemon.wait()
    out = node.shim("DEL", conf, pod, extra=QUICK)
    assert out.returncode == 0, describe(out)
    assert not (daemon_cni / pod.container_id).exists()
    assert node.leases_of(pod) == [] and node.links(pod) == ["lo"]


def test_killed_daemon_without_its_configuration_or_cni_dir_is_try_again_later(node: Node) -> None:
    # no cniDir in the shim's configuration and no daemon configuration to read it from: the thin
    # DEL could only look in the default cache, find nothing there and report success
    daemon, _br, conf, pod = added_pod(node)
    daemon.signal(signal.SIGKILL)
    daemon.wait()
    bare = {k: v for k, v in conf.items() if k != "cniDir"}
    bare["daemonConfigFile"] = str(node.tmp / "no-such-daemon-config.json")
    out = node.shim("DEL", bare, pod, extra=QUICK)
    err = error_of(out)
    assert err["code"] == 11, describe(out)
    assert "daemonConfigFile" in err["msg"] and "file not found" in err["msg"]
    # nothing was torn down: the runtime's retry with the daemon back deletes it all
    assert node.links(pod) == ["eth0", "lo"] and len(node.leases_of(pod)) == 1
    assert (node.cni_dir / pod.container_id).exists()
    daemon.start()
    out = node.shim("DEL", conf, pod, extra={"MULTUS_SHIM_READY_TIMEOUT": "30"})
    assert out.returncode == 0 and out.stdout == "", describe(out)
    node.assert_clean(pod)


def test_no_daemon_and_no_engine_is_try_again_later(node: Node) -> None:
    daemon, _br, conf, pod = added_pod(node)
    daemon.stop()
    # the shim file alone, run by the node's python3 -I -S: it cannot import multus
    standalone = node.standalone_shim()
    env = {k: v for k, v in node.env("DEL", pod, extra=QUICK).items() if not k.startswith(("PYTHON", "VIRTUAL"))}
    out = invoke(standalone, env, conf)
    assert error_of(out)["code"] == 11, describe(out)
    # nothing was torn down, nothing was forgotten: the pod is still whole
    assert node.links(pod) == ["eth0", "lo"] and len(node.leases_of(pod)) == 1
    assert (node.cni_dir / pod.container_id).exists()
    # the runtime's retry, once the daemon is back
    daemon.start()
    out = invoke(standalone, env, conf)
    assert out.returncode == 0 and out.stdout == "", describe(out)
    node.assert_clean(pod)


def _burst_network(node: Node, subnet: str) -> dict[str, object]:
    return node.bridge(subnet=subnet)


def test_200_simultaneous_adds_then_dels_leak_nothing(node: Node) -> None:
    daemon = node.daemon({"logLevel": "error"})
    node.shim_cmd = node.standalone_shim()
    br = _burst_network(node, BURST_SUBNETS[0])
    conf = node.shim_conf(daemon, delegates=[br])
    pods = [node.pod() for _ in range(BURST)]
    adds = node.many("ADD", conf, pods)

    bad = {i: describe(o) for i, o in adds.items() if o.returncode != 0}
    assert len(adds) == BURST and not bad, list(bad.items())[:3]
    addresses = {json.loads(o.stdout)["ips"][0]["address"] for o in adds.values()}
    assert len(addresses) == BURST
    assert len(node.leases()) == BURST and len(node.bridge_ports(str(br["bridge"]))) == BURST

    dels = node.many("DEL", conf, pods)

    bad = {i: describe(o) for i, o in dels.items() if o.returncode != 0 or o.stdout.strip()}
    assert len(dels) == BURST and not bad, list(bad.items())[:3]
    assert node.leases() == []
    assert node.bridge_ports(str(br["bridge"])) == []
    assert node.cache_files() == []
    assert all(node.links(p) == ["lo"] for p in pods)


def finished(daemon: Daemon, verb: str) -> int:
    return daemon.stderr_path.read_text(errors="replace").count(f"{verb} finished CNI request")


def test_sigterm_during_a_burst_loses_no_request(node: Node) -> None:
    daemon = node.daemon({"logLevel": "verbose", "shutdownGracePeriod": 0.2})
    node.shim_cmd = node.standalone_shim()
    br = _burst_network(node, BURST_SUBNETS[1])
    conf = node.shim_conf(daemon, delegates=[br])
    pods = [node.pod() for _ in range(BURST)]
    extra = {"MULTUS_SHIM_READY_TIMEOUT": "90"}
    for verb in ("ADD", "DEL"):
        outcome: dict[int, CniOutcome] = {}

        def run(v: str = verb, into: dict[int, CniOutcome] = outcome) -> None:
            into.update(node.many(v, conf, pods, extra=extra))

        burst = threading.Thread(target=run)
        served = finished(daemon, verb)
        burst.start()
        deadline = time.monotonic() + 60
        while finished(daemon, verb) < served + 20:
            assert time.monotonic() < deadline, daemon.logs()
            time.sleep(0.02)
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(120) == 0, daemon.logs()
        daemon.start()  # the next daemon serves the shims that were still waiting
        burst.join(240)
        bad = {i: describe(o) for i, o in outcome.items() if o.returncode != 0}
        assert len(outcome) == BURST and not bad, list(bad.items())[:3]
        log = daemon.stderr_path.read_text(errors="replace")
        assert log.count("shutting down (SIGTERM)") == (1 if verb == "ADD" else 2)
        assert finished(daemon, verb) == served + BURST  # each request ran once, none twice
        if verb == "ADD":
            # no half-added pod: every pod has its interface, its address and its one lease
            for pod, o in zip(pods, (outcome[i] for i in range(BURST)), strict=True):
                address = json.loads(o.stdout)["ips"][0]["address"]
                assert node.addresses(pod, "eth0") == [address]
            assert len(node.leases()) == BURST and len(node.bridge_ports(str(br["bridge"]))) == BURST
    assert node.leases() == [] and node.bridge_ports(str(br["bridge"])) == [] and node.cache_files() == []
