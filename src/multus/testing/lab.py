"""A network lab of real namespaces, so that tests never touch the machine's own network.

``Lab`` creates a "host" namespace where plugins run (bridges, veth host ends, iptables rules
live there) and "pod" namespaces for ``CNI_NETNS``. ``enter`` moves the calling process into the
host namespace (``setns(2)``; Python 3.11 has no ``os.setns``), after which every child process
(plugins, containerd, the API server) starts there too and 127.0.0.1 is the lab's own.
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import uuid
from typing import Any

import attrs

CLONE_NEWNET = 0x40000000
NETNS_DIR = "/run/netns"


def run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


def netns_path(name: str) -> str:
    return os.path.join(NETNS_DIR, name)


def add_netns(name: str) -> str:
    run("ip", "netns", "add", name)
    run("ip", "-n", name, "link", "set", "lo", "up")
    return netns_path(name)


def del_netns(name: str) -> None:
    run("ip", "netns", "del", name, check=False)


def setns(path: str) -> None:
    """Move the calling thread (the whole process, if single-threaded) into a network namespace."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns {path}: {os.strerror(err)}")
    finally:
        os.close(fd)


def in_root_netns() -> bool:
    """True when this process shares the machine's own network namespace.

    That is the namespace of PID 1, or of PID 2 (kthreadd, always in the initial namespaces) where
    PID 1 cannot be inspected, as under some VM init processes. When neither can be read the answer
    is True: better to refuse or move into a lab than to touch the machine's network.
    """
    try:
        mine = os.stat("/proc/self/ns/net").st_ino
    except OSError:
        return True
    for pid in (1, 2):
        try:
            return mine == os.stat(f"/proc/{pid}/ns/net").st_ino
        except OSError:
            continue
    return True


def links(netns: str) -> list[dict[str, Any]]:
    out = run("ip", "-n", netns, "-j", "addr", "show").stdout
    return json.loads(out or "[]")  # type: ignore[no-any-return]


def link_names(netns: str) -> list[str]:
    return [str(link["ifname"]) for link in links(netns)]


def addresses(netns: str, ifname: str) -> list[str]:
    for link in links(netns):
        if link["ifname"] == ifname:
            return [f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", [])]
    return []


@attrs.frozen
class PodRef:
    """A test pod as a runtime names it: its netns (under /run/netns), container ID and identity."""

    netns: str
    container_id: str
    namespace: str = "default"
    name: str = ""
    uid: str = ""

    @property
    def path(self) -> str:
        return netns_path(self.netns)

    @property
    def cni_args(self) -> str:
        """``CNI_ARGS`` as containerd sends them (``K8S_POD_UID`` only when known)."""
        args = (f"IgnoreUnknown=1;K8S_POD_NAMESPACE={self.namespace};K8S_POD_NAME={self.name};"
                f"K8S_POD_INFRA_CONTAINER_ID={self.container_id}")
        return f"{args};K8S_POD_UID={self.uid}" if self.uid else args


class Lab:
    """A host namespace plus pod namespaces, all named with a unique prefix."""

    def __init__(self, prefix: str | None = None) -> None:
        self.prefix = prefix or f"mlab-{uuid.uuid4().hex[:6]}"
        self.host = f"{self.prefix}-host"
        self.pods: list[str] = []
        self._original: int | None = None

    def up(self) -> Lab:
        add_netns(self.host)
        return self

    def enter(self) -> None:
        """Make the calling process live in the lab host namespace from now on."""
        if self._original is None:
            self._original = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        setns(netns_path(self.host))

    def leave(self) -> None:
        if self._original is not None:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.setns(self._original, CLONE_NEWNET)
            os.close(self._original)
            self._original = None

    def pod(self, name: str | None = None) -> str:
        """A new pod namespace; returns its name (its path is ``/run/netns/<name>``)."""
        n = f"{self.prefix}-{name or uuid.uuid4().hex[:6]}"
        add_netns(n)
        self.pods.append(n)
        return n

    def remove_pod(self, name: str) -> None:
        del_netns(name)
        if name in self.pods:
            self.pods.remove(name)

    def veth(self, name: str, peer: str) -> None:
        """A veth pair inside the host namespace (a macvlan master, a host-device link)."""
        run("ip", "-n", self.host, "link", "add", name, "type", "veth", "peer", "name", peer)
        run("ip", "-n", self.host, "link", "set", name, "up")
        run("ip", "-n", self.host, "link", "set", peer, "up")

    def down(self) -> None:
        self.leave()
        for p in list(self.pods):
            del_netns(p)
        self.pods.clear()
        del_netns(self.host)
