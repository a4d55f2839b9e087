"""Faults: bad input, broken delegates, a full or read-only disk, a killed multus, concurrency.

Same setting as tests/engine (real plugins, lab namespaces, everything under tmp_path). The rule
checked throughout: a failed ADD reports one CNI error and leaves nothing behind (no interface in
the pod, no host-local lease, no cache file), and a DEL after any interruption cleans up.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from diskfill import fill, mounted_tmpfs
from thinkit import (
    CNI_BIN,
    MULTUS,
    NETWORKS,
    Node,
    Pod,
    describe,
    error_of,
)

from multus.testing.invoke import invoke
from multus.testing.recorder import read_calls

pytestmark = pytest.mark.root

JSON = "parsePodNetworkAnnotation: failed to parse pod Network Attachment Selection Annotation JSON format: "
OBJ = "parsePodNetworkAnnotation: parsePodNetworkObjectName: "
MISMATCH = (OBJ + "Failed to parse: one or more items did not match comma-delimited format (must consist of "
            "lower case alphanumeric characters). Must start and end with an alphanumeric character), "
            "mismatch @ '{}'")
IFNAME = (OBJ + "Failed to parse interface name: must be less than 15 chars and not contain '/' or spaces. "
          "interface name '{}'")


# ------------------------------------------------------------------------------------ configuration

WRONG_TYPED: list[tuple[str, Any]] = [
    ("logToStderr", "false"),
    ("logToStderr", 0),
    ("delegates", {}),
    ("delegates", "bridge"),
    ("delegates", [1]),
    ("delegates", [None]),
    ("defaultNetworks", [1]),
    ("defaultNetworks", "net"),
    ("confDir", None),
    ("cniDir", None),
    ("binDir", ["/usr/lib/cni"]),
    ("logOptions", {"maxAge": "x"}),
    ("logOptions", {"maxSize": 1.5}),
    ("logOptions", {"maxBackups": True}),
    ("logOptions", []),
    ("capabilities", {"x": 1}),
    ("capabilities", ["portMappings"]),
    ("clusterNetwork", 7),
    ("multusNamespace", None),
    ("systemNamespaces", [None]),
    ("namespaceIsolation", "false"),
    ("globalNamespaces", ["default"]),
    ("readinessindicatorfile", False),
    ("readinessTimeout", "1"),
    ("readinessTimeout", 0),
    ("readinessTimeout", -1),
    ("delegateTimeout", "10"),
    ("delegateTimeout", 0),
    ("delegateTimeout", -5),
    ("delegateTimeout", None),
    ("logLevel", 3),
    ("logFile", {}),
    ("runtimeConfig", "x"),
    ("retryDeleteOnError", "yes"),
    ("auxiliaryCNIChainName", 1),
    ("kubeconfig", []),
    ("plugins", "x"),
]


@pytest.mark.parametrize(("key", "value"), WRONG_TYPED, ids=[f"{k}={json.dumps(v)}" for k, v in WRONG_TYPED])
def test_wrong_typed_key(node: Node, key: str, value: Any) -> None:
    conf = node.multus(delegates=[node.bridge("brnet")])
    conf[key] = value
    pod = node.pod()
    err = error_of(node.run("ADD", conf, pod))
    assert err["code"] == 7, err
    assert key in err["msg"], err
    node.assert_clean(pod)
    assert node.cni_dir_files() == []


MALFORMED_DELEGATES: list[tuple[str, Any, str]] = [
    ("no-type-no-plugins", {"cniVersion": "1.0.0", "name": "x"}, "'type' or 'plugin'"),
    ("plugins-without-type", {"cniVersion": "1.0.0", "name": "x", "plugins": [{"ipam": {}}]}, "type"),
    ("plugins-empty", {"cniVersion": "1.0.0", "name": "x", "plugins": []}, "plugins"),
    ("plugins-not-list", {"cniVersion": "1.0.0", "name": "x", "plugins": {"type": "bridge"}}, "plugins"),
    ("type-number", {"cniVersion": "1.0.0", "name": "x", "type": 5}, "type"),
    ("type-path", {"cniVersion": "1.0.0", "name": "x", "type": "../../bin/sh"}, "type"),
    ("type-dotdot", {"cniVersion": "1.0.0", "name": "x", "type": ".."}, "type"),
]


@pytest.mark.parametrize(("label", "delegate", "needle"), MALFORMED_DELEGATES,
                         ids=[m[0] for m in MALFORMED_DELEGATES])
def test_malformed_delegate(node: Node, label: str, delegate: dict[str, Any], needle: str) -> None:
    conf = node.multus(delegates=[node.bridge("brnet"), delegate])
    pod = node.pod()
    err = error_of(node.run("ADD", conf, pod))
    assert err["code"] == 7, err
    assert needle in err["msg"], err
    node.assert_clean(pod)
    assert node.cni_dir_files() == []


@pytest.mark.parametrize("content", ["{broken", "[]", '"x"', '{"cniVersion": "1.0.0", "name": "mvnet"}'],
                         ids=["bad-json", "array", "string", "no-type"])
def test_malformed_network_file(node: Node, content: str) -> None:
    (node.conf_dir / "20-mvnet.conf").write_text(content)
    conf = node.multus(delegates=[node.bridge("brnet")], annotations={NETWORKS: "mvnet"})
    pod = node.pod()
    err = error_of(node.run("ADD", conf, pod))
    assert err["code"] == 7, err
    assert "mvnet" in err["msg"] or "20-mvnet.conf" in err["msg"], err
    node.assert_clean(pod)


# ------------------------------------------------------------------------------------ annotations

INVALID_ANNOTATIONS: list[tuple[str, str, str]] = [
    ("short-uppercase", "MacVlan", MISMATCH.format("MacVlan")),
    ("short-underscore", "mac_vlan", MISMATCH.format("mac_vlan")),
    ("short-namespace", "Bad_NS/net", MISMATCH.format("Bad_NS")),
    ("short-trailing-dash", "net-", MISMATCH.format("net-")),
    ("two-slashes", "a/b/c", OBJ + "Invalid network object (failed at '/')"),
    ("two-ats", "net@a@b", OBJ + "Invalid network object (failed at '@')"),
    ("ifname-too-long", "net@abcdefghijklmnop", IFNAME.format("abcdefghijklmnop")),
    ("ifname-space", "net@a b", IFNAME.format("a b")),
    ("bad-json", '[{"name": "net",}]', JSON + "invalid character '}' looking for beginning of object key string"),
    ("truncated-json", '[{"name": "net"', JSON),
    ("json-object", '{"name": "net"}',
     JSON + "json: cannot unmarshal object into Go value of type []*types.NetworkSelectionElement"),
    ("json-string", '"net"',
     JSON + "json: cannot unmarshal string into Go value of type []*types.NetworkSelectionElement"),
    ("bad-mac", '[{"name": "net", "mac": "zz:zz"}]',
     "parsePodNetworkAnnotation: failed to mac: address zz:zz: invalid MAC address"),
    ("bad-ip", '[{"name": "net", "ips": ["10.250.1.300"]}]', 'failed to parse IP address "10.250.1.300"'),
    ("bad-cidr", '[{"name": "net", "ips": ["10.250.1.3/33"]}]',
     'failed to parse CIDR "10.250.1.3/33": invalid CIDR address: 10.250.1.3/33'),
    ("ips-not-list", '[{"name": "net", "ips": "10.250.1.3"}]',
     JSON + "json: cannot unmarshal string into Go struct field NetworkSelectionElement.ips of type []string"),
    ("json-ifname-too-long", '[{"name": "net", "interface": "abcdefghijklmnop"}]', '"interface"'),
]


@pytest.mark.parametrize(("label", "annotation", "expected"), INVALID_ANNOTATIONS,
                         ids=[a[0] for a in INVALID_ANNOTATIONS])
def test_invalid_annotation(node: Node, label: str, annotation: str, expected: str) -> None:
    node.write_conf("20-net.conf", node.macvlan("net"))
    conf = node.multus(delegates=[node.bridge("brnet")], annotations={NETWORKS: annotation})
    pod = node.pod()
    err = error_of(node.run("ADD", conf, pod))
    assert err["code"] == 7, err
    assert expected in err["msg"], err
    node.assert_clean(pod)
    assert node.cni_dir_files() == []


TRAVERSALS = [
    "../evil",
    "../outside/evil",
    "default/../evil",
    "..",
    '[{"name": "../evil"}]',
    '[{"name": "../outside/evil"}]',
    '[{"name": "evil", "namespace": ".."}]',
    '[{"name": "evil", "namespace": "../outside"}]',
    '[{"name": ".."}]',
    '[{"name": "outside/evil"}]',
    '[{"name": "%2e%2e/evil"}]',
]


@pytest.mark.parametrize("annotation", TRAVERSALS)
def test_network_name_never_reads_outside_conf_dir(node: Node, annotation: str,
                                                   recording_plugin: Callable[[str], tuple[str, str]]) -> None:
    """Files named after the traversal exist outside confDir (and name themselves so): never used."""
    rec_bin, log = recording_plugin("evilplug")
    evil = {"cniVersion": "1.0.0", "type": "evilplug"}
    outside = node.tmp / "outside"
    outside.mkdir()
    for directory in (node.tmp, outside):
        for fname in ("evil", "evil.conf", "evil.json", "evil.conflist", "...conf"):
            (directory / fname).write_text(json.dumps({**evil, "name": "evil"}))
        for name in ("../evil", "../outside/evil", "..", "outside/evil", "%2e%2e/evil"):
            (directory / f"{abs(hash(name))}.conf").write_text(json.dumps({**evil, "name": name}))
    # confDir itself holds only a harmless network
    node.write_conf("20-net.conf", node.macvlan("net"))
    conf = node.multus(delegates=[node.bridge("brnet")], annotations={NETWORKS: annotation})
    pod = node.pod()
    err = error_of(node.run("ADD", conf, pod, path=f"{rec_bin}:{CNI_BIN}"))
    assert err["code"] == 7, err
    assert read_calls(log) == []
    node.assert_clean(pod)


def test_annotation_network_missing(node: Node) -> None:
    node.write_conf("20-net.conf", node.macvlan("net"))
    conf = node.multus(delegates=[node.bridge("brnet")], annotations={NETWORKS: "net,absent"})
    pod = node.pod()
    err = error_of(node.run("ADD", conf, pod))
    assert err["code"] == 7
    assert "absent" in err["msg"]
    node.assert_clean(pod)


def test_pod_annotations_wrong_type(node: Node) -> None:
    conf = node.multus(delegates=[node.bridge("brnet")])
    conf["runtimeConfig"] = {"io.kubernetes.cri.pod-annotations": {NETWORKS: ["net"]}}
    pod = node.pod()
    err = error_of(node.run("ADD", conf, pod))
    assert err["code"] == 7 and "pod-annotations" in err["msg"]
    node.assert_clean(pod)


# ------------------------------------------------------------------------------------ broken delegates

def test_missing_delegate_binary(node: Node) -> None:
    conf = node.multus(delegates=[node.bridge("brnet"), {"cniVersion": "1.0.0", "name": "gone",
                                                          "type": "no-such-plugin"}])
    pod = node.pod()
    err = error_of(node.run("ADD", conf, pod))
    assert err["code"] == 50, err
    assert "no-such-plugin" in err["msg"]
    node.assert_clean(pod)
    assert node.cni_dir_files() == []


def test_missing_master_binary(node: Node) -> None:
    conf = node.multus(delegates=[{"cniVersion": "1.0.0", "name": "gone", "type": "no-such-plugin"}])
    pod = node.pod()
    err = error_of(node.run("ADD", conf, pod))
    assert err["code"] == 50 and "no-such-plugin" in err["msg"], err
    node.assert_clean(pod)
    assert node.cni_dir_files() == []


def _second(node: Node, name: str, script: str) -> dict[str, Any]:
    node.fake_plugin(name, script)
    return {"cniVersion": "1.0.0", "name": f"{name}-net", "type": name}


def test_delegate_crash_rolls_back_first(node: Node) -> None:
    crash = _second(node, "crasher", 'cat >/dev/null\n[ "$CNI_COMMAND" = ADD ] && kill -SEGV $$\nexit 0\n')
    conf = node.multus(delegates=[node.bridge("brnet"), crash])
    pod = node.pod()
    err = error_of(node.run("ADD", conf, pod))
    assert err["code"] == 100, err
    assert "SIGSEGV" in err["msg"] or "segmentation" in err["msg"].lower(), err
    node.assert_clean(pod)
    assert node.cni_dir_files() == []


def test_delegate_error_rolls_back_and_keeps_its_code(node: Node) -> None:
    failing = _second(node, "refuser", 'cat >/dev/null\nif [ "$CNI_COMMAND" = ADD ]; then\n'
                                       '  echo \'{"cniVersion":"1.0.0","code":11,"msg":"try later please"}\'\n'
                                       '  exit 1\nfi\nexit 0\n')
    conf = node.multus(delegates=[node.bridge("brnet"), failing])
    pod = node.pod()
    err = error_of(node.run("ADD", conf, pod))
    assert err["code"] == 11 and "try later please" in err["msg"], err
    node.assert_clean(pod)


def _gone(pid: int, wait: float = 5.0) -> bool:
    """The process has exited (a zombie counts as gone)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except OSError:
            return True
        time.sleep(0.05)
    return False


def _kill_pidfile(path: Path) -> None:
    try:
        os.kill(int(path.read_text().strip()), signal.SIGKILL)
    except (OSError, ValueError):
        pass


def test_delegate_hangs(node: Node) -> None:
    pidfile = node.tmp / "hanger.pid"
    hang = _second(node, "hanger", f'cat >/dev/null\n[ "$CNI_COMMAND" = ADD ] && echo $$ > {pidfile} && '
                                   'exec sleep 60\nexit 0\n')
    conf = node.multus(delegates=[node.bridge("brnet"), hang], delegateTimeout=1)
    pod = node.pod()
    t0 = time.monotonic()
    out = node.run("ADD", conf, pod, timeout=30)
    elapsed = time.monotonic() - t0
    err = error_of(out)
    assert err["code"] == 102, err
    assert elapsed < 8, elapsed
    node.assert_clean(pod)
    assert node.cni_dir_files() == []
    # the hanging plugin was killed
    pid = int(pidfile.read_text().strip())
    try:
        assert _gone(pid), f"the hanging delegate {pid} is still running"
    finally:
        _kill_pidfile(pidfile)


def test_delegate_hangs_with_background_child_holding_stdout(node: Node) -> None:
    """The plugin forks a child that keeps stdout open in a new session: multus still answers."""
    child = node.tmp / "child.pid"
    hang = _second(node, "forker", f'cat >/dev/null\nif [ "$CNI_COMMAND" = ADD ]; then\n'
                                   f'  setsid sh -c \'echo $$ > {child}; exec sleep 30\' &\n  sleep 60\nfi\nexit 0\n')
    conf = node.multus(delegates=[node.bridge("brnet"), hang], delegateTimeout=1)
    pod = node.pod()
    try:
        t0 = time.monotonic()
        err = error_of(node.run("ADD", conf, pod, timeout=60))
        assert err["code"] == 102, err
        assert time.monotonic() - t0 < 15
        node.assert_clean(pod)
    finally:
        _kill_pidfile(child)


@pytest.mark.parametrize(("label", "script", "code"), [
    ("garbage-exit-0", 'cat >/dev/null\n[ "$CNI_COMMAND" = ADD ] && echo "hello, I am not JSON"\nexit 0\n', 6),
    ("json-array-exit-0", 'cat >/dev/null\n[ "$CNI_COMMAND" = ADD ] && echo "[1,2]"\nexit 0\n', 6),
    ("garbage-exit-1", 'cat >/dev/null\n[ "$CNI_COMMAND" = ADD ] && { echo "oops"; exit 1; }\nexit 0\n', 100),
    ("stderr-only-exit-1", 'cat >/dev/null\n[ "$CNI_COMMAND" = ADD ] && { echo "bad" >&2; exit 1; }\nexit 0\n',
     100),
    ("empty-exit-0", 'cat >/dev/null\nexit 0\n', 6),
    ("binary-exit-0", 'cat >/dev/null\n[ "$CNI_COMMAND" = ADD ] && printf "\\377\\376\\000"\nexit 0\n', 6),
])
def test_delegate_prints_garbage(node: Node, label: str, script: str, code: int) -> None:
    bad = _second(node, "garbler", script)
    conf = node.multus(delegates=[node.bridge("brnet"), bad])
    pod = node.pod()
    err = error_of(node.run("ADD", conf, pod))
    assert err["code"] == code, err
    node.assert_clean(pod)
    assert node.cni_dir_files() == []


def test_delegate_garbage_as_master_result(node: Node) -> None:
    """A master that answers with something that is no CNI result cannot be returned to the runtime."""
    bad = _second(node, "liar", 'cat >/dev/null\n[ "$CNI_COMMAND" = ADD ] && '
                                'echo \'{"cniVersion":"1.0.0","ips":"not-a-list"}\'\nexit 0\n')
    conf = node.multus(delegates=[bad])
    pod = node.pod()
    err = error_of(node.run("ADD", conf, pod))
    assert err["code"] == 6, err
    assert err["msg"].endswith("(ADD): failed to unmarshal raw result: ips must be an array"), err
    node.assert_clean(pod)
    assert node.cni_dir_files() == []


def test_del_continues_when_one_delegate_fails(node: Node) -> None:
    flaky = _second(node, "flaky", 'cat >/dev/null\nif [ "$CNI_COMMAND" = DEL ]; then\n'
                                   '  echo \'{"code":999,"msg":"cannot delete"}\'; exit 1\nfi\n'
                                   'echo \'{"cniVersion":"1.0.0"}\'\nexit 0\n')
    br = node.bridge("brnet")
    conf = node.multus(delegates=[br, flaky])
    pod = node.pod()
    node.add(conf, pod)
    err = error_of(node.run("DEL", conf, pod))
    assert "cannot delete" in err["msg"]
    # the bridge delegate was still torn down
    assert node.links(pod) == ["lo"]
    assert node.leases_of(pod) == []


def test_delegate_that_does_not_read_stdin(node: Node) -> None:
    """A plugin exiting without reading a large config (EPIPE on our side) is just an answer."""
    lazy = _second(node, "lazy", 'if [ "$CNI_COMMAND" = ADD ]; then echo \'{"cniVersion":"1.0.0"}\'; fi\nexit 0\n')
    lazy["padding"] = "x" * 300_000
    conf = node.multus(delegates=[node.bridge("brnet"), lazy])
    pod = node.pod()
    node.add(conf, pod)
    node.delete(conf, pod)
    node.assert_clean(pod)


def test_repeated_add_does_not_destroy_the_first(node: Node) -> None:
    """A runtime retrying ADD of an attached container gets an error; what is attached stays."""
    mv = node.macvlan("mvnet")
    node.write_conf("20-mvnet.conf", mv)
    conf = node.multus(delegates=[node.bridge("brnet")], annotations={NETWORKS: "mvnet"})
    pod = node.pod()
    node.add(conf, pod)
    before = (sorted(node.links(pod)), node.leases_of(pod), node.cache_path(pod).read_bytes())
    err = error_of(node.run("ADD", conf, pod))
    assert "eth0" in err["msg"]
    assert (sorted(node.links(pod)), node.leases_of(pod), node.cache_path(pod).read_bytes()) == before
    node.delete(conf, pod)
    node.assert_clean(pod)


def test_del_after_pod_netns_is_gone(node: Node) -> None:
    mv = node.macvlan("mvnet")
    node.write_conf("20-mvnet.conf", mv)
    conf = node.multus(delegates=[node.bridge("brnet")], annotations={NETWORKS: "mvnet"})
    pod = node.pod()
    node.add(conf, pod)
    subprocess.run(["ip", "netns", "del", pod.netns], check=True)
    node.delete(conf, pod)                 # CNI_NETNS still names the vanished namespace
    node.delete(conf, pod, netns="")
    assert node.leases_of(pod) == []
    assert node.cni_dir_files() == []


# ------------------------------------------------------------------------------------ the disk

def test_full_disk_before_anything(node: Node) -> None:
    with mounted_tmpfs(node.cni_dir) as d:
        fill(d)
        conf = node.multus(delegates=[node.bridge("brnet")])
        pod = node.pod()
        err = error_of(node.run("ADD", conf, pod))
        assert err["code"] == 5, err
        node.assert_clean(pod)
        assert [f for f in node.cni_dir_files() if not f.startswith("filler-")] == []


def test_full_disk_after_first_delegate(node: Node) -> None:
    """Room for the scratch cache but not for the first result cache: the delegate that already
    ran is rolled back."""
    with mounted_tmpfs(node.cni_dir) as d:
        fill(d, leave_pages=1)
        br = node.bridge("brnet")
        conf = node.multus(delegates=[br])
        pod = node.pod()
        err = error_of(node.run("ADD", conf, pod))
        assert err["code"] == 5, err
        # the bridge plugin did run (it made its bridge in the host namespace)
        assert subprocess.run(["ip", "link", "show", br["bridge"]], capture_output=True, check=False).returncode == 0
        node.assert_clean(pod)
        assert [f for f in node.cni_dir_files() if not f.startswith("filler-")] == []


def test_read_only_cni_dir(node: Node) -> None:
    with mounted_tmpfs(node.cni_dir) as d:
        subprocess.run(["mount", "-o", "remount,ro", str(d)], check=True)
        conf = node.multus(delegates=[node.bridge("brnet")])
        pod = node.pod()
        err = error_of(node.run("ADD", conf, pod))
        assert err["code"] == 5, err
        node.assert_clean(pod)
        assert node.cni_dir_files() == []


def test_read_only_cni_dir_after_add_then_del(node: Node) -> None:
    """The disk turns read-only after ADD: DEL cannot take the container's lock, so it touches
    nothing and says so (code 5, naming cniDir and the cause); once the disk is writable again a
    DEL finishes the job."""
    with mounted_tmpfs(node.cni_dir, size="1m") as d:
        conf = node.multus(delegates=[node.bridge("brnet")])
        pod = node.pod()
        node.add(conf, pod)
        subprocess.run(["mount", "-o", "remount,ro", str(d)], check=True)
        err = error_of(node.run("DEL", conf, pod))
        assert err["code"] == 5, err
        assert err["msg"] == f"cniDir: cannot lock {d}/.locks/{pod.container_id}: Read-only file system", err
        assert node.links(pod) == ["lo", "eth0"] and len(node.leases_of(pod)) == 1  # nothing claimed done
        subprocess.run(["mount", "-o", "remount,rw", str(d)], check=True)
        node.delete(conf, pod)
        node.assert_clean(pod)
        assert node.cni_dir_files() == []


# ------------------------------------------------------------------------------------ a killed multus

def test_kill_9_during_add_then_del(node: Node) -> None:
    pidfile = node.tmp / "slow.pid"
    slow = _second(node, "slowpoke", f'cat >/dev/null\nif [ "$CNI_COMMAND" = ADD ]; then\n'
                                     f'  echo $$ > {pidfile}\n  exec sleep 60\nfi\nexit 0\n')
    br = node.bridge("brnet")
    conf = node.multus(delegates=[br, slow])
    pod = node.pod()
    env = node.env("ADD", pod)
    proc = subprocess.Popen(MULTUS, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, start_new_session=True)
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(conf).encode())
    proc.stdin.close()
    try:
        deadline = time.monotonic() + 30
        while not pidfile.exists() or not pidfile.read_text().strip():
            assert time.monotonic() < deadline, "the second delegate never started"
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else b""
            time.sleep(0.05)
        # the first delegate is done: eth0 exists
        assert "eth0" in node.links(pod)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()
        _kill_pidfile(pidfile)
    assert "eth0" in node.links(pod)
    assert len(node.leases_of(pod)) == 1

    node.delete(conf, pod)
    node.assert_clean(pod)
    assert node.cni_dir_files() == []
    # and the next ADD of a new container works on the same node
    pod2 = node.pod()
    node.add(node.multus(delegates=[br]), pod2)
    node.delete(node.multus(delegates=[br]), pod2)
    node.assert_clean(pod2)


def test_kill_9_during_add_then_retried_add(node: Node) -> None:
    """After a killed ADD the runtime may retry ADD before DEL: the leftover eth0 is reported, and
    DEL still cleans up everything."""
    pidfile = node.tmp / "slow.pid"
    slow = _second(node, "slowpoke", f'cat >/dev/null\nif [ "$CNI_COMMAND" = ADD ]; then\n'
                                     f'  echo $$ > {pidfile}\n  exec sleep 60\nfi\nexit 0\n')
    conf = node.multus(delegates=[node.bridge("brnet"), slow])
    pod = node.pod()
    proc = subprocess.Popen(MULTUS, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=node.env("ADD", pod), start_new_session=True)
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(conf).encode())
    proc.stdin.close()
    deadline = time.monotonic() + 30
    while not pidfile.exists() or not pidfile.read_text().strip():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    _kill_pidfile(pidfile)
    err = error_of(node.run("ADD", conf, pod))
    assert err["code"] == 100, err
    assert err["msg"] == ('DelegateAdd: cannot set "bridge" interface name to "eth0": validateIfName: '
                          "interface name eth0 already exists"), err
    assert "eth0" in node.links(pod) and len(node.leases_of(pod)) == 1  # the first ADD's, untouched
    node.delete(conf, pod)
    node.assert_clean(pod)
    assert node.cni_dir_files() == []


# ------------------------------------------------------------------------------------ concurrency

def test_concurrent_add_del_16_pods_8_workers(node: Node) -> None:
    br = node.bridge("brnet")
    mv = node.macvlan("mvnet")
    node.write_conf("20-mvnet.conf", mv)
    conf = node.multus(delegates=[br], annotations={NETWORKS: "mvnet"})
    pods = [node.pod() for _ in range(16)]

    def run(command: str, pod: Pod) -> Any:
        return invoke(MULTUS, node.env(command, pod), conf, 120)

    with ThreadPoolExecutor(max_workers=8) as ex:
        adds = list(ex.map(lambda p: run("ADD", p), pods))
    for pod, out in zip(pods, adds):
        assert out.returncode == 0, describe(out)
        res = out.json
        assert res["cniVersion"] == "1.0.0"
        assert sorted(node.links(pod)) == ["eth0", "lo", "net1"]
        cache = json.loads(node.cache_path(pod).read_bytes())
        assert isinstance(cache, list) and len(cache) == 2
    eth0_ips = [node.addresses(p, "eth0")[0] for p in pods]
    net1_ips = [node.addresses(p, "net1")[0] for p in pods]
    assert len(set(eth0_ips)) == 16 and len(set(net1_ips)) == 16
    assert len(node.leases()) == 32
    for f in node.cni_dir_files():
        if f.startswith("results/") or "/" not in f:
            json.loads((node.cni_dir / f).read_bytes())

    with ThreadPoolExecutor(max_workers=8) as ex:
        dels = list(ex.map(lambda p: run("DEL", p), pods))
    for out in dels:
        assert out.returncode == 0, describe(out)
    for pod in pods:
        node.assert_clean(pod)
    assert node.leases() == []
    assert node.cni_dir_files() == []


def test_concurrent_add_and_del_of_the_same_container(node: Node) -> None:
    """ADD and DEL of one container racing (a runtime restart): the end state is consistent:
    either everything is there and a final DEL removes it, or nothing is."""
    br = node.bridge("brnet")
    conf = node.multus(delegates=[br])
    pod = node.pod()
    with ThreadPoolExecutor(max_workers=2) as ex:
        fa = ex.submit(invoke, MULTUS, node.env("ADD", pod), conf, 120)
        time.sleep(0.05)
        fd = ex.submit(invoke, MULTUS, node.env("DEL", pod), conf, 120)
        fa.result(), fd.result()
    links = node.links(pod)
    if "eth0" in links:
        assert node.cache_path(pod).exists()
    node.delete(conf, pod)
    node.assert_clean(pod)
    assert node.cni_dir_files() == []


def test_requests_for_one_container_are_serialized(node: Node) -> None:
    """ADD and DEL of one container never overlap, whatever their arrival order (the per-container
    lock must stay one lock while requests queue on it)."""
    log = node.tmp / "calls.log"
    slow_add, slow_del = node.tmp / "slow-add", node.tmp / "slow-del"
    slow = _second(node, "tortoise", f"""cat >/dev/null
echo "start $CNI_COMMAND $$ $(date +%s.%N)" >> {log}
[ "$CNI_COMMAND" = ADD ] && [ -e {slow_add} ] && sleep 2
[ "$CNI_COMMAND" = DEL ] && [ -e {slow_del} ] && sleep 2
echo "end $CNI_COMMAND $$ $(date +%s.%N)" >> {log}
[ "$CNI_COMMAND" = ADD ] && echo '{{"cniVersion":"1.0.0"}}'
exit 0
""")
    br = node.bridge("brnet")
    conf = node.multus(delegates=[br, slow])
    pod = node.pod()
    node.add(conf, pod)
    log.write_text("")
    slow_add.write_text("")
    slow_del.write_text("")

    def call(command: str) -> Any:
        return invoke(MULTUS, node.env(command, pod), conf, 60)

    with ThreadPoolExecutor(max_workers=3) as ex:
        del1 = ex.submit(call, "DEL")
        time.sleep(0.5)                      # DEL 1 holds the lock, sleeping in the slow delegate
        add2 = ex.submit(call, "ADD")        # queues behind DEL 1
        del1.result()
        time.sleep(0.3)                      # ADD 2 now runs (slow delegate)
        del3 = ex.submit(call, "DEL")        # must queue behind ADD 2
        outcomes = [del1.result(), add2.result(), del3.result()]
    for out in outcomes:
        assert out.returncode == 0, describe(out)

    spans: dict[str, list[Any]] = {}
    for line in log.read_text().splitlines():
        what, command, pid, t = line.split()
        spans.setdefault(pid, [command, 0.0, 0.0])[1 if what == "start" else 2] = float(t)
    intervals = sorted(spans.values(), key=lambda x: x[1])
    assert [c for c, _, _ in intervals] == ["DEL", "ADD", "DEL"], intervals
    for (c1, s1, e1), (c2, s2, e2) in itertools.pairwise(intervals):
        assert e1 <= s2, f"{c1} [{s1:.2f}, {e1:.2f}] overlaps {c2} [{s2:.2f}, {e2:.2f}]"
    node.assert_clean(pod)
    assert node.cni_dir_files() == []

