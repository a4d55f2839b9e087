from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from multus.config import generate as g

BRIDGE = {"cniVersion": "0.4.0", "name": "lab", "plugins": [
    {"type": "bridge", "bridge": "br0", "ipam": {"type": "host-local", "subnet": "10.9.0.0/24"}},
    {"type": "portmap", "capabilities": {"portMappings": True}},
    {"type": "bandwidth", "capabilities": {"bandwidth": True, "ignored": False}},
]}


def _write(d: Path, name: str, obj: object) -> Path:
    p = d / name
    p.write_text(json.dumps(obj))
    return p


def test_primary_is_lexically_first_conf_or_conflist(tmp_path: Path) -> None:
    _write(tmp_path, "00-multus.conf", {})
    _write(tmp_path, "05-a.json", BRIDGE)
    _write(tmp_path, "20-b.conf", BRIDGE)
    _write(tmp_path, "10-a.conflist", BRIDGE)
    assert g.find_primary(str(tmp_path)) == str(tmp_path / "10-a.conflist")
    assert g.find_primary(str(tmp_path), "20-b.conf") == str(tmp_path / "20-b.conf")
    with pytest.raises(g.GenerateError, match="multusMasterCNI"):
        g.find_primary(str(tmp_path), "nope.conf")


def test_no_primary_names_the_dir(tmp_path: Path) -> None:
    _write(tmp_path, "00-multus.conf", {})
    with pytest.raises(g.GenerateError, match=str(tmp_path)):
        g.find_primary(str(tmp_path))


def test_thick_fields_in_upstream_order(tmp_path: Path) -> None:
    daemon = {"cniVersion": "0.3.1", "logLevel": "verbose", "socketDir": "/run/multus/",
              "cniConfigDir": "/x", "multusConfigFile": "auto", "multusAutoconfigDir": "/y",
              "readinessindicatorfile": "/r", "chrootDir": "/hostroot", "cniDir": "/var/lib/cni/multus",
              "binDir": "/opt/cni/bin", "daemonSocketDir": "/run/multus/", "namespaceIsolation": True}
    out = g.thick_config(daemon, "/etc/cni/net.d/10-a.conflist", BRIDGE)
    assert list(out) == ["binDir", "capabilities", "cniVersion", "logLevel", "name", "clusterNetwork",
                         "namespaceIsolation", "type", "cniDir", "daemonSocketDir"]
    assert out["capabilities"] == {"portMappings": True, "bandwidth": True}
    assert out["type"] == "multus-shim" and out["name"] == "multus-cni-network"
    assert out["clusterNetwork"] == "/etc/cni/net.d/10-a.conflist"


def test_thick_version_check_and_force() -> None:
    old = dict(BRIDGE, cniVersion="0.3.1")
    with pytest.raises(g.GenerateError, match="delegate cni version is 0.3.1 while top level cni version is 1.0.0"):
        g.thick_config({"cniVersion": "1.0.0"}, "/p", old)
    out = g.thick_config({"cniVersion": "1.0.0", "forceCNIVersion": True}, "/p", old)
    assert out["cniVersion"] == "1.0.0"
    with pytest.raises(g.GenerateError, match="cniVersion"):
        g.thick_config({}, "/p", BRIDGE)


def test_override_network_name_leaks_last() -> None:
    out = g.thick_config({"cniVersion": "0.4.0", "overrideNetworkName": True}, "/p", BRIDGE)
    assert out["name"] == "lab"
    assert list(out)[-1] == "overrideNetworkName"


def test_thin_conf_below_1_0(tmp_path: Path) -> None:
    conf = {"cniVersion": "0.3.1", "type": "bridge", "name": "b", "zeta": 1, "alpha": 2}
    name, obj = g.thin_config(conf, g.ThinOptions(kubeconfig="/k", log_level="DEBUG", log_to_stderr=False))
    assert name == "00-multus.conf"
    assert obj["type"] == "multus" and obj["kubeconfig"] == "/k" and obj["logLevel"] == "debug"
    assert obj["confDir"] == "/etc/cni/multus/net.d" and "cniConf" not in obj
    assert obj["logToStderr"] is False
    assert list(obj["delegates"][0]) == sorted(conf)


def test_thin_conflist_at_1_0() -> None:
    conf = dict(BRIDGE, cniVersion="1.0.0")
    name, obj = g.thin_config(conf, g.ThinOptions())
    assert name == "00-multus.conflist"
    assert obj["cniVersion"] == "1.0.0" and len(obj["plugins"]) == 1
    plugin = obj["plugins"][0]
    assert plugin["type"] == "multus" and plugin["capabilities"] == {"portMappings": True, "bandwidth": True}
    assert plugin["delegates"][0]["name"] == "lab"


def test_thin_version_mismatch_and_bad_level() -> None:
    with pytest.raises(g.GenerateError, match="--cni-version"):
        g.thin_config(BRIDGE, g.ThinOptions(cni_version="1.0.0"))
    _, obj = g.thin_config(BRIDGE, g.ThinOptions(cni_version="1.0.0", force_cni_version=True))
    assert obj["plugins"][0]["delegates"][0]["cniVersion"] == "1.0.0"
    with pytest.raises(g.GenerateError, match="logLevel"):
        g.thin_config(BRIDGE, g.ThinOptions(log_level="loud"))


def test_load_primary_rejects_bad_files(tmp_path: Path) -> None:
    (tmp_path / "a.conflist").write_text("{\"plugins\": []}")
    (tmp_path / "b.conf").write_text("")
    with pytest.raises(g.GenerateError, match="plugins"):
        g.load_primary(str(tmp_path / "a.conflist"))
    with pytest.raises(g.GenerateError, match="failed to unmarshall"):
        g.load_primary(str(tmp_path / "b.conf"))
    with pytest.raises(g.GenerateError, match="failed to read"):
        g.load_primary(str(tmp_path / "c.conf"))


def test_write_atomic_mode_and_no_empty(tmp_path: Path) -> None:
    target = tmp_path / "00-multus.conf"
    g.write_atomic(str(target), g.render({"a": 1}))
    assert json.loads(target.read_text()) == {"a": 1}
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    with pytest.raises(g.GenerateError):
        g.write_atomic(str(target), b"  ")
    assert json.loads(target.read_text()) == {"a": 1}
    assert os.listdir(tmp_path) == ["00-multus.conf"]


def test_generate_thin_takes_the_installer_options(tmp_path: Path) -> None:
    _write(tmp_path, "10-cbr0.conflist", dict(BRIDGE, cniVersion="1.0.0", name="cbr0"))
    _write(tmp_path, "20-other.conf", {"cniVersion": "0.3.1", "name": "o", "type": "bridge"})
    result = g.generate_thin(str(tmp_path), "", g.ThinOptions(
        cni_version="1.0.0", kubeconfig="/k", conf_dir="/host/etc/cni/multus/net.d", additional_bin_dir="/b"))
    assert (result.name, result.primary) == ("00-multus.conflist", str(tmp_path / "10-cbr0.conflist"))
    plugin = json.loads(result.data)["plugins"][0]
    assert plugin["binDir"] == "/b" and plugin["kubeconfig"] == "/k"
    assert plugin["delegates"][0]["name"] == "cbr0"
    other = g.generate_thin(str(tmp_path), "20-other.conf", g.ThinOptions())
    assert other.name == "00-multus.conf" and json.loads(other.data)["delegates"][0]["name"] == "o"
