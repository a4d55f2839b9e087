"""Helpers for running the thin ``multus`` executable against real CNI plugins in lab namespaces.

Used by ``tests/engine`` and ``tests/faults``. Everything a test creates lives in its
``tmp_path`` (cniDir, confDir, host-local dataDir, fake plugins) or in network namespaces of the
lab: the test session itself runs inside the lab's "host" namespace, so bridges and veth masters
made here never touch the machine's own network. :meth:`Node.host_link` refuses to run in the
machine's root namespace.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import itertools
import json
import os
import stat
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from multus.testing import lab as lab_mod
from multus.testing.invoke import CniOutcome, cni_env, invoke

MULTUS = [sys.executable, "-m", "multus.cli.thin"]
CNI_BIN = os.environ.get("MULTUS_TEST_CNI_DIR", "/usr/lib/cni")
PODS_ANNOTATIONS = "io.kubernetes.cri.pod-annotations"
NETWORKS = "k8s.v1.cni.cncf.io/networks"
REAL_PLUGINS = ("bridge", "host-local", "macvlan", "static", "tuning")

# One /24 per network, all inside 10.250.0.0/16 (the lab's range): 10.250.1.0 to 10.250.249.0, in
# turn. A test removes its bridges, veths and pods when it ends, so a subnet is only ever in use
# by one test; after the last one the sequence starts again (a session runs more networks than
# there are /24s). 10.250.250-254 stay free for the fixed addresses some tests use.
_SUBNETS = 249
_third_octet = itertools.count(0)


def next_subnet() -> str:
    return f"10.250.{next(_third_octet) % _SUBNETS + 1}.0/24"


def short_id(prefix: str, length: int = 6) -> str:
    """A unique, interface-name-sized identifier (at most 15 characters)."""
    out = f"{prefix}{uuid.uuid4().hex[:length]}"
    assert len(out) <= 15
    return out


def skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    missing = [p for p in REAL_PLUGINS if not os.access(os.path.join(CNI_BIN, p), os.X_OK)]
    if missing:
        return f"CNI plugins {missing} not found in {CNI_BIN} (Debian: containernetworking-plugins)"
    return None


def sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=60)


def describe(out: CniOutcome) -> str:
    return out.describe()


def error_of(out: CniOutcome) -> dict[str, Any]:
    """The CNI error object of a failed run (asserting it is one)."""
    return out.cni_error()


Pod = lab_mod.PodRef


class Node:
    """One test's node: directories under ``tmp_path``, links in the lab host namespace."""

    def __init__(self, tmp_path: Path, make_netns: Callable[..., str]) -> None:
        self.tmp = tmp_path
        self.cni_dir = tmp_path / "cni"
        self.conf_dir = tmp_path / "net.d"
        self.ipam_dir = tmp_path / "ipam"
        self.fake_bin = tmp_path / "fake-bin"
        for d in (self.conf_dir, self.ipam_dir, self.fake_bin):
            d.mkdir(exist_ok=True)
        self._make_netns = make_netns
        self.host_links: list[str] = []
        self.pods: list[Pod] = []

    # --- the lab host namespace ------------------------------------------------------------

    def host_link(self, kind: str = "veth") -> str:
        """A veth pair in the lab host namespace (never the root one); returns the end to use."""
        assert not lab_mod.in_root_netns(), "refusing to create links in the machine's own network namespace"
        name = short_id("m0")
        sh("ip", "link", "add", name, "type", "veth", "peer", "name", name + "p")
        sh("ip", "link", "set", name, "up")
        sh("ip", "link", "set", name + "p", "up")
        self.host_links.append(name)
        return name

    def bridge_name(self) -> str:
        name = short_id("mbr")
        self.host_links.append(name)
        return name

    def cleanup(self) -> None:
        if lab_mod.in_root_netns():
            return
        for name in self.host_links:
            sh("ip", "link", "del", name, check=False)

    # --- pods ------------------------------------------------------------------------------

    def pod(self, namespace: str = "default") -> Pod:
        netns = self._make_netns()
        cid = uuid.uuid4().hex
        p = Pod(netns=netns, container_id=cid, namespace=namespace, name=f"pod-{cid[:5]}", uid=str(uuid.uuid4()))
        self.pods.append(p)
        return p

    # --- network configurations ------------------------------------------------------------

    def ipam(self, subnet: str | None = None, default_route: bool = True, **extra: Any) -> dict[str, Any]:
        subnet = subnet or next_subnet()
        ipam: dict[str, Any] = {"type": "host-local", "subnet": subnet, "dataDir": str(self.ipam_dir)}
        if default_route:
            ipam["routes"] = [{"dst": "0.0.0.0/0"}]
        ipam.update(extra)
        return ipam

    def bridge(self, name: str = "brnet", cni_version: str = "1.0.0", **extra: Any) -> dict[str, Any]:
        conf: dict[str, Any] = {"cniVersion": cni_version, "name": name, "type": "bridge",
                                "bridge": self.bridge_name(), "isGateway": True, "ipam": self.ipam()}
        conf.update(extra)
        return conf

    def macvlan(self, name: str, master: str | None = None, cni_version: str = "1.0.0",
                ipam: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
        conf: dict[str, Any] = {"cniVersion": cni_version, "name": name, "type": "macvlan",
                                "master": master or self.host_link(), "mode": "bridge",
                                "ipam": ipam if ipam is not None else self.ipam(default_route=False)}
        conf.update(extra)
        return conf

    def write_conf(self, filename: str, conf: Mapping[str, Any], directory: Path | None = None) -> Path:
        d = directory or self.conf_dir
        d.mkdir(parents=True, exist_ok=True)
        p = d / filename
        p.write_text(json.dumps(conf))
        return p

    def multus(self, cni_version: str = "1.0.0", annotations: Mapping[str, str] | None = None,
               **keys: Any) -> dict[str, Any]:
        conf: dict[str, Any] = {"cniVersion": cni_version, "name": "multus-cni-network", "type": "multus",
                                "cniDir": str(self.cni_dir), "confDir": str(self.conf_dir), "binDir": CNI_BIN,
                                "logLevel": "debug", "logToStderr": True}
        if annotations is not None:
            conf["runtimeConfig"] = {PODS_ANNOTATIONS: dict(annotations)}
        conf.update(keys)
        return conf

    def fake_plugin(self, name: str, script: str) -> str:
        """A shell plugin in ``fake_bin``; ``script`` is the body (``$CNI_COMMAND`` is set)."""
        p = self.fake_bin / name
        p.write_text("#!/bin/sh\n" + script)
        p.chmod(p.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return str(p)

    # --- running multus --------------------------------------------------------------------

    def env(self, command: str, pod: Pod | None = None, *, netns: str | None = None, ifname: str = "eth0",
            args: str | None = None, path: str | None = None, container_id: str | None = None) -> dict[str, str]:
        return cni_env(command,
                       container_id=container_id if container_id is not None else (pod.container_id if pod else ""),
                       netns=netns if netns is not None else (pod.path if pod else ""),
                       ifname=ifname,
                       args=args if args is not None else (pod.cni_args if pod else ""),
                       path=path if path is not None else f"{self.fake_bin}:{CNI_BIN}")

    def run(self, command: str, conf: Mapping[str, Any] | bytes, pod: Pod | None = None,
            timeout: float = 120, **kw: Any) -> CniOutcome:
        return invoke(MULTUS, self.env(command, pod, **kw), conf if isinstance(conf, bytes) else dict(conf),
                      timeout)

    def add(self, conf: Mapping[str, Any], pod: Pod, **kw: Any) -> dict[str, Any]:
        out = self.run("ADD", conf, pod, **kw)
        assert out.returncode == 0, describe(out)
        res = out.json
        assert isinstance(res, dict), describe(out)
        return res

    def delete(self, conf: Mapping[str, Any], pod: Pod, **kw: Any) -> None:
        out = self.run("DEL", conf, pod, **kw)
        assert out.returncode == 0, describe(out)
        assert out.stdout.strip() == "", describe(out)

    # --- what is there ---------------------------------------------------------------------

    def links(self, pod: Pod) -> list[str]:
        return lab_mod.link_names(pod.netns)

    def link(self, pod: Pod, ifname: str) -> dict[str, Any] | None:
        for link in lab_mod.links(pod.netns):
            if link["ifname"] == ifname:
                return link
        return None

    def addresses(self, pod: Pod, ifname: str) -> list[str]:
        return [a for a in lab_mod.addresses(pod.netns, ifname) if not a.startswith("fe80")]

    def routes(self, pod: Pod) -> list[dict[str, Any]]:
        out = sh("ip", "-n", pod.netns, "-j", "route", "show").stdout
        return json.loads(out or "[]")  # type: ignore[no-any-return]

    def default_routes(self, pod: Pod) -> list[tuple[str, str]]:
        return [(r.get("dev", ""), r.get("gateway", "")) for r in self.routes(pod) if r.get("dst") == "default"]

    def sysctl(self, pod: Pod, key: str) -> str:
        path = "/proc/sys/" + key.replace(".", "/")
        return sh("nsenter", f"--net={pod.path}", "cat", path).stdout.strip()

    def leases(self) -> list[str]:
        """host-local reservations (files named after an IP) under the dataDir."""
        out = []
        for root, _dirs, files in os.walk(self.ipam_dir):
            for f in files:
                with contextlib.suppress(ValueError):
                    ipaddress.ip_address(f)
                    out.append(os.path.join(root, f))
        return sorted(out)

    def leases_of(self, pod: Pod) -> list[str]:
        """host-local stores the container ID in the first line of each reservation."""
        out = []
        for p in self.leases():
            with open(p) as f:
                if f.readline().strip() == pod.container_id:
                    out.append(p)
        return out

    def cni_dir_files(self) -> list[str]:
        """Files left in cniDir, except the per-container lock files."""
        out = []
        if not self.cni_dir.exists():
            return out
        for root, _dirs, files in os.walk(self.cni_dir):
            if Path(root).name == ".locks":
                continue
            out += [os.path.relpath(os.path.join(root, f), self.cni_dir) for f in files]
        return sorted(out)

    def cache_path(self, pod: Pod) -> Path:
        return self.cni_dir / pod.container_id

    def cache(self, pod: Pod) -> list[dict[str, Any]]:
        data = json.loads(self.cache_path(pod).read_bytes())
        assert isinstance(data, list)
        return data

    def assert_clean(self, pod: Pod) -> None:
        """Nothing of ``pod`` left: only lo in its netns, no lease, nothing in cniDir."""
        state = {"links": self.links(pod), "leases": self.leases_of(pod),
                 "cniDir": [f for f in self.cni_dir_files() if pod.container_id in f]}
        assert state == {"links": ["lo"], "leases": [], "cniDir": []}, state


def b64json(data: Any) -> str:
    return base64.b64encode(json.dumps(data).encode()).decode()


def make_node(tmp_path: Path, pod_netns: Callable[..., str]) -> Iterator[Node]:
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    if lab_mod.in_root_netns():
        pytest.skip("not inside a lab namespace: run pytest with --multus-lab")
    node = Node(tmp_path, pod_netns)
    try:
        yield node
    finally:
        node.cleanup()
