"""The namespace prober behind validateIfName, in real network namespaces: right answers from
many threads at once, and neither the callers nor the prober are left in a pod's namespace."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Callable

import pytest

from multus.engine import netns
from multus.errors import CNIError

pytestmark = pytest.mark.root


def _own_netns() -> str:
    return os.readlink("/proc/thread-self/ns/net")


def test_probes_from_many_threads(pod_netns: Callable[..., str]) -> None:
    a, b = pod_netns(), pod_netns()
    subprocess.run(["ip", "-n", a, "link", "add", "aa1", "type", "veth", "peer", "name", "aa2"], check=True)
    subprocess.run(["ip", "-n", b, "link", "add", "bb1", "type", "veth", "peer", "name", "bb2"], check=True)
    names = ["lo", "aa1", "bb2", "net1"]
    home = _own_netns()
    answers: list[tuple[str, list[str], str]] = []

    def probe(ns: str) -> None:
        for _ in range(25):
            answers.append((ns, netns.existing_links(f"/run/netns/{ns}", names), _own_netns()))

    threads = [threading.Thread(target=probe, args=(ns,)) for ns in (a, b) * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answers) == 200
    for ns, found, where in answers:
        assert found == (["lo", "aa1"] if ns == a else ["lo", "bb2"]), ns
        assert where == home
    # the prober is back home too: a link of the host namespace is seen only when asked about it
    assert netns.existing_links("/proc/self/ns/net", ["lo", "aa1"]) == ["lo"]
    assert _own_netns() == home


def test_not_a_network_namespace() -> None:
    with pytest.raises(CNIError) as e:
        netns.existing_links("/proc/self/ns/user", ["lo"])
    assert e.value.code == 4 and "cannot enter net namespace /proc/self/ns/user" in e.value.msg
    # the prober survives a failed probe
    assert netns.existing_links("/proc/self/ns/net", ["lo"]) == ["lo"]


def test_missing_namespace() -> None:
    with pytest.raises(CNIError) as e:
        netns.existing_links("/run/netns/no-such-netns-here", ["lo"])
    assert e.value.code == 4 and "no net namespace /run/netns/no-such-netns-here found" in e.value.msg
