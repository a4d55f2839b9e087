"""Helpers shared by the runtime and e2e tests of multus under real containerd / podman.

Everything runs in the lab host network namespace the test session lives in (the pytest plugin moves
the session there): bridges, veth host ends and macvlan masters are created here, pods get netns of
their own that we inspect with ``nsenter --net=PATH``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

NETWORKS = "k8s.v1.cni.cncf.io/networks"
NETWORK_STATUS = "k8s.v1.cni.cncf.io/network-status"
POD_ANNOTATIONS_CAP = "io.kubernetes.cri.pod-annotations"


def sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


# --- what a netns holds ------------------------------------------------------------------------------


def netns_links(netns: str) -> dict[str, dict[str, Any]]:
    """{ifname: {"mac", "kind", "addrs": ["a.b.c.d/nn", ...] (global scope)}} of the netns file `netns`."""
    out = sh("nsenter", f"--net={netns}", "ip", "-d", "-j", "addr", "show").stdout
    links: dict[str, dict[str, Any]] = {}
    for link in json.loads(out or "[]"):
        addrs = [
            f"{a['local']}/{a['prefixlen']}"
            for a in link.get("addr_info") or []
            if a.get("scope") == "global" and a.get("family") in ("inet", "inet6")
        ]
        kind = ((link.get("linkinfo") or {}).get("info_kind")) or ""
        links[link["ifname"]] = {"mac": link.get("address", ""), "kind": kind, "addrs": addrs}
    return links


def veths() -> set[str]:
    """Names of the veth interfaces of the current (lab host) network namespace."""
    out = sh("ip", "-j", "link", "show", "type", "veth").stdout
    return {link["ifname"] for link in json.loads(out or "[]")}


def links_here() -> set[str]:
    out = sh("ip", "-j", "link", "show").stdout
    return {link["ifname"] for link in json.loads(out or "[]")}


def leases(data_dir: Path | str) -> list[str]:
    """host-local lease files (named by address) anywhere below `data_dir`."""
    found = []
    base = Path(data_dir)
    if not base.is_dir():
        return []
    for f in base.rglob("*"):
        if not f.is_file():
            continue
        try:
            ipaddress.ip_address(f.name)
        except ValueError:
            continue
        found.append(str(f.relative_to(base)))
    return sorted(found)


def cache_files(cni_dir: Path | str) -> list[str]:
    """Files multus left in its cniDir: the scratch cache and libcni result caches (lock files excepted)."""
    base = Path(cni_dir)
    if not base.is_dir():
        return []
    return sorted(
        str(f.relative_to(base)) for f in base.rglob("*") if f.is_file() and ".locks" not in f.relative_to(base).parts
    )


def in_subnet(address: str, subnet: str) -> bool:
    return ipaddress.ip_interface(address).ip in ipaddress.ip_network(subnet)


# --- networks ------------------------------------------------------------------------------------------


def bridge_net(name: str, bridge: str, subnet: str, ipam_dir: Path | str, *, gateway: bool = True,
               cni_version: str = "1.0.0", conflist: bool = True) -> dict[str, Any]:
    plugin = {
        "type": "bridge",
        "bridge": bridge,
        "isGateway": gateway,
        "ipMasq": False,
        "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]], "dataDir": str(ipam_dir)},
    }
    if conflist:
        return {"cniVersion": cni_version, "name": name, "plugins": [plugin]}
    return {"cniVersion": cni_version, "name": name, **plugin}


def macvlan_net(name: str, master: str, subnet: str | None, ipam_dir: Path | str | None,
                cni_version: str = "1.0.0") -> dict[str, Any]:
    conf: dict[str, Any] = {"cniVersion": cni_version, "name": name, "type": "macvlan", "master": master,
                            "mode": "bridge"}
    if subnet is not None:
        conf["ipam"] = {"type": "host-local", "ranges": [[{"subnet": subnet}]], "dataDir": str(ipam_dir)}
    return conf


def write_net(directory: Path, filename: str, conf: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / filename
    path.write_text(json.dumps(conf, indent=2) + "\n")
    return path


@contextlib.contextmanager
def veth_master(name: str) -> Iterator[str]:
    """A veth pair `name` / `name`p, both up, in the lab host netns: a macvlan master of our own."""
    if len(name) > 13:
        raise ValueError(f"master name {name!r} too long")
    sh("ip", "link", "del", name, check=False)
    sh("ip", "link", "add", name, "type", "veth", "peer", "name", name + "p")
    sh("ip", "link", "set", name, "up")
    sh("ip", "link", "set", name + "p", "up")
    try:
        yield name
    finally:
        sh("ip", "link", "del", name, check=False)


def delete_link(name: str) -> None:
    sh("ip", "link", "del", name, check=False)


def multus_log_tail(path: Path | str, lines: int = 60) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no multus log)"


def netns_gone(path: str | None) -> bool:
    return not path or not os.path.exists(path)
