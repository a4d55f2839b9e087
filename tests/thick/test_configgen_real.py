"""The daemon's config manager against a real autoconfig dir, and a full ADD/DEL through the
shim with the configuration it generated (bridge + host-local primary)."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest
from thickkit import CNI_BIN, Daemon, Node, in_subnet

pytestmark = pytest.mark.root

UPSTREAM_FIELDS = ["binDir", "capabilities", "cniVersion", "logLevel", "logToStderr", "name", "clusterNetwork",
                   "type", "cniDir", "daemonSocketDir"]


def wait_for(predicate: Any, what: str, daemon: Daemon, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}:\n{daemon.logs()}")
        time.sleep(0.05)


def primary(node: Node, name: str = "lab-primary") -> dict[str, Any]:
    br = node.bridge(name=name)
    return {"cniVersion": "1.0.0", "name": name, "plugins": [
        {k: v for k, v in br.items() if k not in ("cniVersion", "name")},
        {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
    ]}


def auto_daemon(node: Node, autoconf: Path, out: Path, name: str = "daemon", wait: bool = True,
                **keys: Any) -> Daemon:
    socket_dir = str(node.tmp / name / "run" / "multus")
    config = {"cniVersion": "1.0.0", "multusConfigFile": "auto", "multusAutoconfigDir": str(autoconf),
              "cniConfigDir": str(out), "cniDir": str(node.cni_dir), "binDir": CNI_BIN,
              "daemonSocketDir": socket_dir, "socketDir": socket_dir, **keys}
    return node.daemon(config, start=False, name=name).start(wait=wait)


def read(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    assert isinstance(data, dict)
    return data


def test_generated_config_fields_regeneration_and_shutdown(node: Node, tmp_path: Path) -> None:
    autoconf, out = tmp_path / "auto", tmp_path / "out"
    autoconf.mkdir()
    out.mkdir()
    (autoconf / "20-lab.conflist").write_text(json.dumps(primary(node)))
    (autoconf / "05-ignored.json").write_text(json.dumps(primary(node, "json")))
    daemon = auto_daemon(node, autoconf, out)
    target = out / "00-multus.conf"
    wait_for(target.exists, "00-multus.conf", daemon)
    conf = read(target)
    assert list(conf) == UPSTREAM_FIELDS
    assert conf["type"] == "multus-shim" and conf["name"] == "multus-cni-network"
    assert conf["clusterNetwork"] == str(autoconf / "20-lab.conflist")
    assert conf["capabilities"] == {"portMappings": True}
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    for stripped in ("cniConfigDir", "multusConfigFile", "multusAutoconfigDir", "socketDir"):
        assert stripped not in conf

    # the same primary rewritten: the capabilities follow
    changed = primary(node)
    changed["plugins"][1]["capabilities"] = {"portMappings": True, "bandwidth": True}
    (autoconf / "20-lab.conflist").write_text(json.dumps(changed))
    wait_for(lambda: read(target).get("capabilities") == {"portMappings": True, "bandwidth": True},
             "regeneration after a rewrite", daemon)

    # a new, lexically earlier primary takes over
    (autoconf / "10-new.conflist").write_text(json.dumps(primary(node, "newer")))
    wait_for(lambda: read(target)["clusterNetwork"] == str(autoconf / "10-new.conflist"),
             "the new primary", daemon)

    # an unreadable primary keeps the previous file, never an empty one
    before = target.read_bytes()
    (autoconf / "10-new.conflist").write_text("{ not json")
    time.sleep(1.0)
    assert target.read_bytes() == before
    assert "keeping" in daemon.logs()

    daemon.stop()
    assert daemon.wait() == 0
    assert not target.exists()


def test_cleanup_config_on_exit_false_keeps_the_config(node: Node, tmp_path: Path) -> None:
    """deploy/daemon-config.yaml's setting: a stopping daemon (a rolling upgrade) leaves 00-multus.conf."""
    autoconf, out = tmp_path / "auto", tmp_path / "out"
    autoconf.mkdir()
    out.mkdir()
    (autoconf / "20-lab.conflist").write_text(json.dumps(primary(node)))
    daemon = auto_daemon(node, autoconf, out, cleanupConfigOnExit=False)
    target = out / "00-multus.conf"
    wait_for(target.exists, "00-multus.conf", daemon)
    written = target.read_bytes()
    daemon.stop()
    assert daemon.wait() == 0
    assert target.read_bytes() == written


def test_add_del_with_the_generated_config(node: Node, tmp_path: Path) -> None:
    autoconf, out = tmp_path / "auto", tmp_path / "out"
    autoconf.mkdir()
    out.mkdir()
    prim = primary(node)
    (autoconf / "10-lab.conflist").write_text(json.dumps(prim))
    daemon = auto_daemon(node, autoconf, out)
    target = out / "00-multus.conf"
    wait_for(target.exists, "00-multus.conf", daemon)
    conf = read(target)
    pod = node.pod()
    res = node.add(conf, pod)
    assert in_subnet(res["ips"][0]["address"], prim["plugins"][0]["ipam"]["subnet"]), res
    assert node.links(pod) == ["eth0", "lo"]
    node.delete(conf, pod)
    node.assert_clean(pod)


def test_readiness_wait_and_removal(node: Node, tmp_path: Path) -> None:
    autoconf, out = tmp_path / "auto", tmp_path / "out"
    autoconf.mkdir()
    out.mkdir()
    (autoconf / "10-lab.conflist").write_text(json.dumps(primary(node)))
    ready = tmp_path / "ready" / "indicator"
    ready.parent.mkdir()

    late = auto_daemon(node, autoconf, out, name="late", wait=False, readinessindicatorfile=str(ready),
                       readinessTimeout=0.5)
    assert late.wait(20) == 1
    assert "did not appear" in late.logs()
    assert not (out / "00-multus.conf").exists()

    ready.write_text("")
    daemon = auto_daemon(node, autoconf, out, readinessindicatorfile=str(ready))
    target = out / "00-multus.conf"
    wait_for(target.exists, "00-multus.conf", daemon)
    assert "readinessindicatorfile" not in read(target)
    ready.unlink()
    wait_for(lambda: not target.exists(), "00-multus.conf removed", daemon)
    assert daemon.wait(20) == 2


def test_multus_config_file_copied_verbatim(node: Node, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    given = tmp_path / "given.conf"
    text = '{"cniVersion": "1.0.0", "name": "mine",   "type": "multus-shim", "x": [1]}\n'
    given.write_text(text)
    socket_dir = str(node.tmp / "daemon" / "run" / "multus")
    daemon = node.daemon({"multusConfigFile": str(given), "cniConfigDir": str(out), "socketDir": socket_dir})
    target = out / "00-multus.conf"
    wait_for(target.exists, "00-multus.conf", daemon)
    assert target.read_text() == text
    given.write_text(text.replace("mine", "yours"))
    wait_for(lambda: "yours" in target.read_text(), "the copy to follow", daemon)
    daemon.stop()
    assert daemon.wait() == 0
    assert not target.exists()
