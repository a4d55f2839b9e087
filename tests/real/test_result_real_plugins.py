"""Results printed by real plugins (Debian's bridge and ptp with host-local), parsed and converted.

Each plugin runs the way a runtime runs it, inside a network namespace of our own standing in for
the host (so its bridge, veth ends and sysctls never reach the machine's own namespace), with the
container side in a second namespace. Addresses come from 10.250.0.0/16 and host-local keeps its
leases in a temporary directory. Every ADD is undone by a DEL, then both namespaces are deleted.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from multus.cni.result import (
    VERSIONS_020,
    VERSIONS_100,
    Result,
    Result020,
    ips_of,
    parse_result,
    sandbox_interfaces,
)
from multus.cni.version import SUPPORTED_VERSIONS

CNI_PATH = Path("/usr/lib/cni")
PLUGINS = ("bridge", "ptp")
VERSIONS = ("0.2.0", "0.3.1", "0.4.0", "1.0.0")
IFNAME = "eth0"


def _missing() -> str:
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    for plugin in (*PLUGINS, "host-local"):
        if not (CNI_PATH / plugin).is_file():
            return f"{CNI_PATH / plugin} is missing (Debian package containernetworking-plugins)"
    for tool in ("ip", "nsenter"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return ""


pytestmark = [pytest.mark.root, pytest.mark.skipif(bool(_missing()), reason=_missing() or "-")]


def _supported(plugin: str) -> list[str]:
    proc = subprocess.run([str(CNI_PATH / plugin)], input=b"", capture_output=True, check=True,
                          env={"CNI_COMMAND": "VERSION"}, timeout=30)
    versions: list[str] = json.loads(proc.stdout)["supportedVersions"]
    return versions


def _conf(plugin: str, version: str, data_dir: Path) -> dict[str, Any]:
    """A netconf for ``plugin``; the bridge one carries DNS settings, the ptp one none."""
    if plugin == "bridge":
        return {
            "cniVersion": version, "name": "mres-bridge", "type": "bridge", "bridge": "mresbr0",
            "isGateway": True, "ipMasq": False,
            "ipam": {"type": "host-local", "dataDir": str(data_dir),
                     "ranges": [[{"subnet": "10.250.1.0/24", "gateway": "10.250.1.1"}]],
                     "routes": [{"dst": "10.250.0.0/16"}]},
            "dns": {"nameservers": ["10.250.1.53"], "domain": "mres.test", "search": ["mres.test"],
                    "options": ["ndots:2"]},
        }
    return {
        "cniVersion": version, "name": "mres-ptp", "type": "ptp", "ipMasq": False,
        "ipam": {"type": "host-local", "dataDir": str(data_dir),
                 "ranges": [[{"subnet": "10.250.2.0/24"}]],
                 "routes": [{"dst": "10.250.0.0/16"}]},
    }


class Lab:
    """A host namespace and a pod namespace; remembers every ADD so that it can undo it."""

    def __init__(self, prefix: str, data_dir: Path) -> None:
        self.host = f"{prefix}-host"
        self.pod = f"{prefix}-pod"
        self.data_dir = data_dir
        self._added: list[tuple[str, dict[str, Any], str]] = []
        self._namespaces: list[str] = []
        for name in (self.host, self.pod):
            subprocess.run(["ip", "netns", "add", name], check=True, timeout=30)
            self._namespaces.append(name)

    @property
    def pod_path(self) -> str:
        return f"/run/netns/{self.pod}"

    def _exec(self, plugin: str, command: str, conf: dict[str, Any],
              container_id: str) -> subprocess.CompletedProcess[bytes]:
        env = {"CNI_COMMAND": command, "CNI_CONTAINERID": container_id, "CNI_NETNS": self.pod_path,
               "CNI_IFNAME": IFNAME, "CNI_PATH": str(CNI_PATH), "PATH": os.environ.get("PATH", "")}
        return subprocess.run(["nsenter", f"--net=/run/netns/{self.host}", str(CNI_PATH / plugin)],
                              input=json.dumps(conf).encode(), capture_output=True, env=env,
                              check=False, timeout=60)

    def add(self, plugin: str, version: str) -> dict[str, Any]:
        """ADD ``plugin`` at ``version``; its result as printed."""
        conf = _conf(plugin, version, self.data_dir)
        container_id = f"mres-{uuid.uuid4().hex[:12]}"
        self._added.append((plugin, conf, container_id))
        proc = self._exec(plugin, "ADD", conf, container_id)
        assert proc.returncode == 0, f"{plugin} ADD failed: {proc.stdout!r} {proc.stderr!r}"
        printed: dict[str, Any] = json.loads(proc.stdout)
        return printed

    def pod_addresses(self) -> list[str]:
        out = subprocess.run(["ip", "-n", self.pod, "-j", "addr", "show", "dev", IFNAME],
                             capture_output=True, check=True, timeout=30).stdout
        return [f"{a['local']}/{a['prefixlen']}" for link in json.loads(out)
                for a in link["addr_info"] if a["family"] == "inet"]

    def pod_mac(self) -> str:
        out = subprocess.run(["ip", "-n", self.pod, "-j", "link", "show", "dev", IFNAME],
                             capture_output=True, check=True, timeout=30).stdout
        mac: str = json.loads(out)[0]["address"]
        return mac

    def close(self) -> list[str]:
        """DEL every attachment (newest first), then delete the namespaces; safe to repeat.

        Returns what failed, so that a failing DEL is reported once everything is cleaned up.
        """
        failures: list[str] = []
        while self._added:
            plugin, conf, container_id = self._added.pop()
            proc = self._exec(plugin, "DEL", conf, container_id)
            if proc.returncode != 0:
                failures.append(f"{plugin} DEL {container_id}: {proc.stdout!r} {proc.stderr!r}")
        while self._namespaces:
            name = self._namespaces.pop()
            if subprocess.run(["ip", "netns", "del", name], check=False, timeout=30).returncode:
                failures.append(f"ip netns del {name} failed")
        return failures


@pytest.fixture
def make_lab(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., Lab]]:
    """Labs named ``mres-<pid>-<tag>``; all are torn down at the end, even after a failure."""
    labs: list[Lab] = []

    def make(tag: str | None = None) -> Lab:
        tag = tag or uuid.uuid4().hex[:6]
        data_dir = tmp_path / f"ipam-{len(labs)}"
        data_dir.mkdir()
        lab = Lab(f"mres-{os.getpid()}-{tag}", data_dir)
        labs.append(lab)
        return lab

    def teardown() -> None:
        failures = [failure for lab in reversed(labs) for failure in lab.close()]
        assert not failures, failures

    request.addfinalizer(teardown)
    yield make


def _cases() -> list[tuple[str, str]]:
    if _missing():
        return [(plugin, version) for plugin in PLUGINS for version in VERSIONS]
    return [(plugin, version) for plugin in PLUGINS for version in VERSIONS
            if version in _supported(plugin)]


def _without_empty_dns(version: str, printed: dict[str, Any]) -> dict[str, Any]:
    """Debian's plugins use libcni 1.1, which still prints ``"dns": {}`` in 1.x results."""
    out = dict(printed)
    if version in VERSIONS_100 and out.get("dns") == {}:
        del out["dns"]
    return out


def _normalized(printed: dict[str, Any]) -> dict[str, Any]:
    """Blank out what differs from one run to the next: MACs and the host veth's name."""
    out = copy.deepcopy(printed)
    for intf in out.get("interfaces", []):
        if "mac" in intf:
            intf["mac"] = "<mac>"
        if intf["name"].startswith("veth"):
            intf["name"] = "<veth>"
    return out


@pytest.mark.parametrize(("plugin", "version"), _cases())
def test_real_result_parses_and_prints_back(make_lab: Callable[..., Lab], plugin: str,
                                            version: str) -> None:
    lab = make_lab()
    printed = lab.add(plugin, version)
    assert printed["cniVersion"] == version
    result = parse_result(printed, version)
    assert result.cni_version == version
    assert result.to_dict() == _without_empty_dns(version, printed)
    # The addresses the result names are the ones configured in the pod.
    assert ips_of(result) == lab.pod_addresses()
    assert all(ip.startswith(("10.250.1.", "10.250.2.")) for ip in ips_of(result))
    if isinstance(result, Result020):
        assert sandbox_interfaces(result) == []
        return
    [(index, intf)] = sandbox_interfaces(result)
    assert (intf.name, intf.sandbox, intf.mac) == (IFNAME, lab.pod_path, lab.pod_mac())
    assert ips_of(result, index) == ips_of(result)


@pytest.mark.parametrize(("plugin", "version"), _cases())
def test_real_result_round_trips(make_lab: Callable[..., Lab], plugin: str, version: str) -> None:
    lab = make_lab()
    result = parse_result(lab.add(plugin, version), version)
    for there in SUPPORTED_VERSIONS:
        away = result.convert(there)
        back = away.convert(version)
        assert parse_result(away.to_dict()) == away
        assert back.convert(there) == away
        assert ips_of(back) == ips_of(away) == ips_of(result)   # one IPv4 address: never lost
        assert back.dns == result.dns
        if there not in VERSIONS_020 or version in VERSIONS_020:
            # Plugins print well-formed results: only what 0.2.0 lacks can be lost.
            assert back == result, (version, there)
        else:
            assert isinstance(back, type(result)) and not isinstance(back, Result020)
            assert not isinstance(result, Result020)
            assert back.interfaces == ()
            assert [r.dst for r in back.routes] == [r.dst for r in result.routes]


def _native_results(make_lab: Callable[..., Lab], plugin: str) -> dict[str, Result]:
    """The plugin's own output at each version, one after another in same-named namespaces.

    Same names and a fresh host-local store each time make the runs differ only in MACs and
    the host veth's name, which :func:`_normalized` blanks out.
    """
    tag = uuid.uuid4().hex[:6]
    out: dict[str, Result] = {}
    for version in [v for v in SUPPORTED_VERSIONS if v in _supported(plugin)]:
        lab = make_lab(tag)
        out[version] = parse_result(_normalized(lab.add(plugin, version)))
        assert lab.close() == []
    return out


@pytest.mark.parametrize("plugin", PLUGINS)
def test_our_conversions_print_what_the_plugin_prints(make_lab: Callable[..., Lab],
                                                      plugin: str) -> None:
    """Converting the plugin's result of one version gives its own result of another version.

    The plugin builds a 1.0.0 result and has libcni convert it for older configs, so every
    version it prints is libcni's conversion of the same data: ours must agree, both ways.
    """
    native = _native_results(make_lab, plugin)
    assert set(native) >= {"0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"}
    newest = native["1.0.0"]
    for version, printed in native.items():
        assert newest.convert(version) == printed, version
        if version not in VERSIONS_020:
            assert printed.convert("1.0.0") == newest, version
