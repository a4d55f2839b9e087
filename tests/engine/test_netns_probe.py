"""The namespace prober behind validateIfName, in real network namespaces: right answers from
many threads at once, and neither the callers nor the prober are left in a pod's namespace."""

from __future__ import annotations

import os
import signal
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


def test_prober_survives_an_unexpected_error() -> None:
    netns.existing_links("/proc/self/ns/net", ["lo"])  # the prober runs
    with pytest.raises(CNIError) as e:
        netns.existing_links("/proc/self/ns/net", ["lo\0x"])  # if_nametoindex raises ValueError
    assert e.value.code == 4 and "ValueError" in e.value.msg
    assert netns.existing_links("/proc/self/ns/net", ["lo"]) == ["lo"]
    assert _own_netns() == os.readlink("/proc/self/ns/net")


def test_a_forked_child_starts_its_own_prober() -> None:
    netns.existing_links("/proc/self/ns/net", ["lo"])  # the parent's prober runs
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        ok = False
        signal.alarm(10)  # a child waiting for the parent's thread would hang: it dies instead
        try:
            ok = netns.existing_links("/proc/self/ns/net", ["lo", "no-such-link"]) == ["lo"]
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
