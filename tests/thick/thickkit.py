"""Helpers for thick-mode tests: a real ``multus-daemon`` subprocess and ``multus-shim`` run as a
runtime runs a CNI plugin, with Debian's reference plugins in lab network namespaces.

The test session runs inside the lab's host namespace (``--multus-lab``, on by default), so the
daemon, its delegates, bridges and veth masters live there; pods are ``pod_netns`` namespaces.
Addresses: /27 subnets of 10.250.70.0 - 10.250.77.255, and the /24s 10.250.78.0 and 10.250.79.0
for bursts of pods, only. The socket dir, cniDir, confDir and
host-local dataDir are under the test's ``tmp_path``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from multus.testing import lab as lab_mod
from multus.testing.invoke import CniOutcome, cni_env, invoke
from multus.thick import client

CNI_BIN = os.environ.get("MULTUS_TEST_CNI_DIR", "/usr/lib/cni")
REAL_PLUGINS = ("bridge", "host-local", "macvlan")
PODS_ANNOTATIONS = "io.kubernetes.cri.pod-annotations"
NETWORKS = "k8s.v1.cni.cncf.io/networks"
BIN = Path(sys.executable).parent


def executable(name: str, module: str) -> list[str]:
    """The installed console script next to this interpreter, else ``python -m module``."""
    p = BIN / name
    return [str(p)] if os.access(p, os.X_OK) else [sys.executable, "-m", module]


SHIM = executable("multus-shim", "multus.cli.shim")
SYSTEM_PYTHON = "/usr/bin/python3"
SHIM_SOURCE = Path(client.__file__).resolve().parent.parent / "cli" / "shim.py"
"""The shim as one file (what is copied into /opt/cni/bin)."""
DAEMON = executable("multus-daemon", "multus.cli.daemon")

# /27s of 10.250.70.0 - 10.250.77.255: 64 subnets for the whole session; two /24s for bursts
_subnets = (f"10.250.{third}.{fourth}/27" for third in range(70, 78) for fourth in range(0, 256, 32))
BURST_SUBNETS = ("10.250.78.0/24", "10.250.79.0/24")


def next_subnet() -> str:
    try:
        return next(_subnets)
    except StopIteration:
        raise RuntimeError("out of lab subnets (10.250.70-79.x)") from None


def gateway(subnet: str) -> str:
    base, _ = subnet.split("/")
    a, b, c, d = base.split(".")
    return f"{a}.{b}.{c}.{int(d) + 1}"


def in_subnet(address: str, subnet: str) -> bool:
    import ipaddress

    return ipaddress.ip_interface(address).ip in ipaddress.ip_network(subnet)


def short_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"


def sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=60)


def describe(out: CniOutcome) -> str:
    return out.describe()


def error_of(out: CniOutcome) -> dict[str, Any]:
    """The CNI error object of a failed run (asserting it is one)."""
    return out.cni_error()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    missing = [p for p in REAL_PLUGINS if not os.access(os.path.join(CNI_BIN, p), os.X_OK)]
    if missing:
        return f"CNI plugins {missing} not found in {CNI_BIN} (Debian: containernetworking-plugins)"
    if lab_mod.in_root_netns():
        return "not inside a lab namespace: run pytest with --multus-lab"
    return None


# ------------------------------------------------------------------------------------ the daemon


class Daemon:
    """``multus-daemon -config <dir>/daemon-config.json`` as a subprocess of the test."""

    def __init__(self, directory: Path, config: Mapping[str, Any] | None = None) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir = str(directory / "run" / "multus")
        self.config: dict[str, Any] = {"socketDir": self.socket_dir, "logLevel": "debug", "logToStderr": True,
                                       "shutdownGracePeriod": 0.3}
        self.config.update(config or {})
        self.config_path = directory / "daemon-config.json"
        self.stderr_path = directory / "daemon.stderr"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> str:
        return client.socket_path(str(self.config["socketDir"]))

    def start(self, wait: bool = True, timeout: float = 30) -> Daemon:
        self.config_path.write_text(json.dumps(self.config))
        with open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen([*DAEMON, "-config", str(self.config_path)], stdin=subprocess.DEVNULL,
                                         stdout=err, stderr=err)
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"multus-daemon exited with {self.proc.returncode}:\n{self.logs()}")
            if client.healthy(self.socket_path, client.READY_ENDPOINT, timeout=2) is None:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"multus-daemon not ready after {timeout} s:\n{self.logs()}")
            time.sleep(0.05)

    def logs(self, tail: int | None = 8000) -> str:
        """The daemon's stderr: its last ``tail`` characters (all of it with ``tail=None``)."""
        try:
            text = self.stderr_path.read_text(errors="replace")
            return text if tail is None else text[-tail:]
        except OSError:
            return ""

    def http(self, method: str, path: str, body: bytes = b"", timeout: float = 60) -> client.Reply:
        return client.request(self.socket_path, method, path, body, timeout=timeout)

    def signal(self, signum: int = signal.SIGTERM) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def wait(self, timeout: float = 30) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


# ------------------------------------------------------------------------------------ pods, networks


Pod = lab_mod.PodRef


class Node:
    """One test's node: directories under ``tmp_path``, links in the lab host namespace, the shim."""

    def __init__(self, tmp_path: Path, make_netns: Callable[..., str]) -> None:
        self.tmp = tmp_path
        self.cni_dir = tmp_path / "cni"
        self.conf_dir = tmp_path / "net.d"
        self.ipam_dir = tmp_path / "ipam"
        for d in (self.conf_dir, self.ipam_dir):
            d.mkdir(exist_ok=True)
        self._make_netns = make_netns
        self.host_links: list[str] = []
        self.daemons: list[Daemon] = []
        self.shim_cmd: list[str] = SHIM

    # daemon
    def daemon(self, config: Mapping[str, Any] | None = None, start: bool = True, name: str = "daemon") -> Daemon:
        d = Daemon(self.tmp / name, config)
        self.daemons.append(d)
        return d.start() if start else d

    # host namespace links
    def host_link(self) -> str:
        assert not lab_mod.in_root_netns(), "refusing to create links in the machine's own network namespace"
        name = short_id("tk")
        sh("ip", "link", "add", name, "type", "veth", "peer", "name", name + "p")
        sh("ip", "link", "set", name, "up")
        sh("ip", "link", "set", name + "p", "up")
        self.host_links.append(name)
        return name

    def cleanup(self) -> None:
        for d in self.daemons:
            d.stop()
        if lab_mod.in_root_netns():
            return
        for name in self.host_links:
            sh("ip", "link", "del", name, check=False)

    def standalone_shim(self) -> list[str]:
        """``multus-shim`` copied alone into a bin directory, run by its shebang (the node's
        ``python3 -I -S``, compiled code cached beside it): what a node runs, and the cheapest
        start-up for bursts."""
        target = self.tmp / "opt-cni-bin" / "multus-shim"
        if not target.exists():
            target.parent.mkdir(exist_ok=True)
            target.write_bytes(SHIM_SOURCE.read_bytes())
            target.chmod(0o755)
        return [str(target)]

    # pods
    def pod(self, namespace: str = "default") -> Pod:
        cid = uuid.uuid4().hex
        return Pod(netns=self._make_netns(), container_id=cid, namespace=namespace, name=f"pod-{cid[:5]}")

    # network configurations
    def ipam(self, subnet: str | None = None, default_route: bool = True) -> dict[str, Any]:
        ipam: dict[str, Any] = {"type": "host-local", "subnet": subnet or next_subnet(), "dataDir": str(self.ipam_dir)}
        if default_route:
            ipam["routes"] = [{"dst": "0.0.0.0/0"}]
        return ipam

    def bridge(self, name: str = "brnet", cni_version: str = "1.0.0", subnet: str | None = None) -> dict[str, Any]:
        br = short_id("tkb")
        self.host_links.append(br)
        return {"cniVersion": cni_version, "name": name, "type": "bridge", "bridge": br, "isGateway": True,
                "ipam": self.ipam(subnet)}

    def bridge_ports(self, bridge: str) -> list[str]:
        """The links enslaved to a bridge of the lab host namespace (a pod's veth host ends)."""
        out = sh("ip", "-o", "link", "show", "master", bridge, check=False).stdout
        return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if line.strip()]

    def leases(self) -> list[str]:
        """Every host-local lease file (the reservation files, not its bookkeeping)."""
        return sorted(os.path.join(root, f) for root, _dirs, files in os.walk(self.ipam_dir) for f in files
                      if not f.startswith(("last_reserved_ip", "lock")))

    def cache_files(self) -> list[str]:
        return sorted(os.path.join(root, f) for root, _dirs, files in os.walk(self.cni_dir) for f in files)

    def many(self, verb: str, conf: Mapping[str, Any], pods: list[Pod], timeout: float = 180,
             **kw: Any) -> dict[int, CniOutcome]:
        """The same verb for every pod at once, one thread (and shim process) per pod."""
        import threading

        out: dict[int, CniOutcome] = {}
        start = threading.Barrier(len(pods))

        def one(i: int) -> None:
            start.wait()
            out[i] = self.shim(verb, conf, pods[i], timeout=timeout, **kw)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(pods))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout + 30)
        return out

    def macvlan(self, name: str, cni_version: str = "1.0.0") -> dict[str, Any]:
        return {"cniVersion": cni_version, "name": name, "type": "macvlan", "master": self.host_link(),
                "mode": "bridge", "ipam": self.ipam(default_route=False)}

    def write_conf(self, filename: str, conf: Mapping[str, Any]) -> Path:
        p = self.conf_dir / filename
        p.write_text(json.dumps(conf))
        return p

    def shim_conf(self, daemon: Daemon | None, cni_version: str = "1.0.0",
                  annotations: Mapping[str, str] | None = None, **keys: Any) -> dict[str, Any]:
        conf: dict[str, Any] = {"cniVersion": cni_version, "name": "multus-cni-network", "type": "multus-shim",
                                "cniDir": str(self.cni_dir), "confDir": str(self.conf_dir), "binDir": CNI_BIN}
        if daemon is not None:
            conf["daemonSocketDir"] = str(daemon.config["socketDir"])
        if annotations is not None:
            conf["capabilities"] = {PODS_ANNOTATIONS: True}
            conf["runtimeConfig"] = {PODS_ANNOTATIONS: dict(annotations)}
        conf.update(keys)
        return conf

    # the shim, as a runtime runs it
    def env(self, command: str, pod: Pod | None = None, *, netns: str | None = None, ifname: str = "eth0",
            extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return cni_env(command, container_id=pod.container_id if pod else "",
                       netns=netns if netns is not None else (pod.path if pod else ""),
                       ifname=ifname, args=pod.cni_args if pod else "", path=CNI_BIN, extra=extra)

    def shim(self, command: str, conf: Mapping[str, Any] | bytes, pod: Pod | None = None, timeout: float = 120,
             **kw: Any) -> CniOutcome:
        return invoke(self.shim_cmd, self.env(command, pod, **kw), conf if isinstance(conf, bytes) else dict(conf),
                      timeout)

    def add(self, conf: Mapping[str, Any], pod: Pod, **kw: Any) -> dict[str, Any]:
        out = self.shim("ADD", conf, pod, **kw)
        assert out.returncode == 0, describe(out) + "\n" + self._daemon_logs()
        res = out.json
        assert isinstance(res, dict), describe(out)
        return res

    def delete(self, conf: Mapping[str, Any], pod: Pod, **kw: Any) -> None:
        out = self.shim("DEL", conf, pod, **kw)
        assert out.returncode == 0 and out.stdout.strip() == "", describe(out)

    def _daemon_logs(self) -> str:
        return "\n".join(f"--- {d.dir.name} ---\n{d.logs()}" for d in self.daemons)

    # what is in the pod
    def links(self, pod: Pod) -> list[str]:
        return sorted(lab_mod.link_names(pod.netns))

    def addresses(self, pod: Pod, ifname: str) -> list[str]:
        return [a for a in lab_mod.addresses(pod.netns, ifname) if not a.startswith("fe80")]

    def leases_of(self, pod: Pod) -> list[str]:
        out = []
        for root, _dirs, files in os.walk(self.ipam_dir):
            for f in files:
                p = os.path.join(root, f)
                try:
                    with open(p) as fh:
                        if fh.readline().strip() == pod.container_id:
                            out.append(p)
                except OSError:
                    pass
        return out

    def assert_clean(self, pod: Pod) -> None:
        state = {"links": self.links(pod), "leases": self.leases_of(pod),
                 "cache": (self.cni_dir / pod.container_id).exists()}
        assert state == {"links": ["lo"], "leases": [], "cache": False}, state


def make_node(tmp_path: Path, pod_netns: Callable[..., str]) -> Iterator[Node]:
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    node = Node(tmp_path, pod_netns)
    try:
        yield node
    finally:
        node.cleanup()
