"""The installer's watch loop in auto mode: a primary that appears late, a primary replaced, a
primary that turns unreadable, token rotation, all in one running installer.

The loop decides *when* to regenerate and what to do with failures; *what* is generated is
:mod:`multus.config.generate`'s (tested on its own, and end to end below when it is present).
Here the generator is a small one of the test's own that copies the chosen primary, so that the
file written tells which primary the loop handed over."""

from __future__ import annotations

import importlib.util
import json
import os
import threading
from collections.abc import Iterator

import pytest
from installkit import Host, bridge_conflist, no_partial_files, wait_for

from multus.ctl import install


def first_primary(s: install.Settings) -> tuple[str, bytes, str]:
    names = sorted(n for n in os.listdir(s.multus_autoconfig_dir)
                   if n.endswith((".conf", ".conflist")) and not n.startswith("00-multus"))
    if not names:
        raise install.InstallError(f"no primary CNI config in {s.multus_autoconfig_dir}")
    path = os.path.join(s.multus_autoconfig_dir, names[0])
    try:
        with open(path, "rb") as f:
            primary = json.load(f)
    except (OSError, ValueError) as e:
        raise install.InstallError(f"cannot use the primary {path}: {e}") from None
    name = "00-multus.conflist" if primary.get("cniVersion", "").startswith("1.") else "00-multus.conf"
    return name, json.dumps({"type": "multus", "primary": names[0], "delegates": [primary]}).encode(), path


@pytest.fixture
def running(host: Host) -> Iterator[tuple[install.Installer, threading.Thread]]:
    s = install.validate(install.Settings(
        cni_bin_dir=str(host.bin_dir), cni_conf_dir=str(host.conf_dir), multus_autoconfig_dir=str(host.conf_dir),
        multus_bin_file=str(host.image_bin / "multus"), service_account_dir=str(host.sa_dir), poll_interval=0.2,
        cleanup_config_on_exit=True))
    inst = install.Installer(s, env=host.env(), generate=first_primary)
    t = threading.Thread(target=inst.run)
    t.start()
    try:
        yield inst, t
    finally:
        inst.stop()
        t.join(timeout=20)


def written(host: Host, name: str = "00-multus.conflist") -> dict[str, object] | None:
    p = host.conf_dir / name
    return json.loads(p.read_text()) if p.exists() else None


def test_primary_late_replaced_unreadable_then_fixed(host: Host, running: tuple[install.Installer, threading.Thread],
                                                     ) -> None:
    inst, thread = running
    wait_for(host.kubeconfig.exists, what="the kubeconfig")
    assert not (host.conf_dir / "00-multus.conflist").exists()
    assert any("no primary" in e for e in inst.reported)

    host.write_json("20-late.conflist", bridge_conflist("late"))            # appears late
    wait_for(lambda: (written(host) or {}).get("primary") == "20-late.conflist", what="the late primary")

    host.write_json("10-first.conflist", bridge_conflist("first"))          # a new one sorts first
    wait_for(lambda: (written(host) or {}).get("primary") == "10-first.conflist", what="the new first primary")

    host.write_json("10-first.conflist", bridge_conflist("first-v2"))       # replaced in place
    wait_for(lambda: "first-v2" in (host.conf_dir / "00-multus.conflist").read_text(), what="the changed primary")
    good = (host.conf_dir / "00-multus.conflist").read_bytes()

    (host.conf_dir / "10-first.conflist").write_text('{"cniVersion": ')      # unreadable
    wait_for(lambda: any("cannot use the primary" in e for e in inst.reported), what="the error")
    assert (host.conf_dir / "00-multus.conflist").read_bytes() == good, "the previous config must stay"

    host.write_json("10-first.conflist", bridge_conflist("first-v3", version="0.4.0"))  # fixed, < 1.0.0
    wait_for(lambda: (written(host, "00-multus.conf") or {}).get("primary") == "10-first.conflist",
             what="the .conf for cniVersion < 1.0.0")
    assert not (host.conf_dir / "00-multus.conflist").exists(), "the .conflist it wrote before is removed"

    host.rotate_service_account("token-9", "ca-9")
    wait_for(lambda: host.kubeconfig_token_and_ca()[0] == "token-9", what="the rotated token")
    assert no_partial_files(host.conf_dir, ["00-multus"])

    inst.stop()
    thread.join(timeout=20)
    assert not thread.is_alive()
    assert not (host.conf_dir / "00-multus.conf").exists() and not host.kubeconfig.exists()
    assert (host.conf_dir / "10-first.conflist").exists() and (host.conf_dir / "20-late.conflist").exists()


@pytest.mark.skipif(importlib.util.find_spec("multus.config.generate") is None,
                    reason="multus.config.generate (config generation) is not in this tree")
def test_auto_mode_end_to_end_with_the_real_generator(host: Host) -> None:
    host.write_json("10-cbr0.conflist", bridge_conflist("cbr0", portMappings=True))
    r = host.run("--once", "--multus-conf-file=auto", "--cni-version=1.0.0")
    assert r.returncode == 0, r.stderr
    conf = json.loads((host.conf_dir / "00-multus.conflist").read_text())
    plugin = conf["plugins"][0]
    assert plugin["type"] == "multus" and plugin["confDir"] == "/host/etc/cni/multus/net.d"
    assert "cniConf" not in plugin
    assert plugin["capabilities"] == {"portMappings": True}
    assert plugin["kubeconfig"] == "/etc/cni/net.d/multus.d/multus.kubeconfig"
    assert plugin["delegates"][0]["name"] == "cbr0"
