"""``multusctl gc`` and ``multusctl status`` on a scratch node tree."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from installkit import CTL


def ctl(*args: str) -> tuple[int, dict[str, Any], str]:
    r = subprocess.run([*CTL, *args, "-o", "json"], capture_output=True, text=True, timeout=60, check=False)
    return r.returncode, (json.loads(r.stdout) if r.stdout.strip() else {}), r.stderr


def cache_container(cni_dir: Path, devinfo: Path, cid: str, netns: str) -> list[Path]:
    """What an ADD leaves: the scratch cache, one result per delegate, a device-info file, a lock."""
    (cni_dir / "results").mkdir(parents=True, exist_ok=True)
    (cni_dir / ".locks").mkdir(exist_ok=True)
    scratch = cni_dir / cid
    scratch.write_text(json.dumps([{"cniVersion": "0.3.1", "name": "cbr0", "type": "bridge"}]))
    files = [scratch]
    for net, ifname in (("cbr0", "eth0"), ("mv", "net1")):
        p = cni_dir / "results" / f"{net}-{cid}-{ifname}"
        p.write_text(json.dumps({"kind": "cniCacheV1", "containerId": cid, "ifName": ifname, "networkName": net,
                                 "netns": netns, "config": base64.b64encode(b'{"type":"bridge"}').decode(),
                                 "result": {"cniVersion": "0.3.1"}}))
        files.append(p)
    info = devinfo / f"app-sriov-{cid}_net1"
    info.write_text("{}")
    lock = cni_dir / ".locks" / cid
    lock.write_text("")
    return [*files, info, lock]


def test_gc_dry_run_then_prune_only_gone_containers(tmp_path: Path) -> None:
    cni_dir, devinfo = tmp_path / "multus", tmp_path / "devinfo"
    cni_dir.mkdir()
    devinfo.mkdir()
    alive_ns = tmp_path / "netns-alive"
    alive_ns.write_text("")  # stands for a mounted netns
    alive = cache_container(cni_dir, devinfo, "alive1", str(alive_ns))
    gone = cache_container(cni_dir, devinfo, "gone1", str(tmp_path / "netns-gone"))
    kept = cache_container(cni_dir, devinfo, "kept1", str(tmp_path / "netns-also-gone"))
    args = ["gc", "--cni-dir", str(cni_dir), "--devinfo-dir", str(devinfo), "--keep", "kept1"]

    code, out, err = ctl(*args, "--dry-run")
    assert code == 0, err
    assert out["dryRun"] is True
    assert [c["containerID"] for c in out["containers"]] == ["gone1"]
    assert sorted(out["containers"][0]["files"]) == sorted(str(p) for p in gone)
    assert all(p.exists() for p in gone), "a dry run removes nothing"

    code, out, err = ctl(*args)
    assert code == 0, err
    assert sorted(out["containers"][0]["files"]) == sorted(str(p) for p in gone if ".locks" not in str(p))
    assert not any(p.exists() for p in gone)
    assert all(p.exists() for p in alive + kept)

    code, out, _ = ctl(*args)
    assert code == 0 and out["containers"] == []


def test_gc_missing_cache_dir_is_an_error(tmp_path: Path) -> None:
    code, out, _ = ctl("gc", "--cni-dir", str(tmp_path / "nope"))
    assert code == 1 and "nope" in out["error"]


def _thin_conf(conf_dir: Path, log_file: Path, cni_dir: Path) -> None:
    (conf_dir / "00-multus.conf").write_text(json.dumps({
        "cniVersion": "0.3.1", "name": "multus-cni-network", "type": "multus", "logFile": str(log_file),
        "cniDir": str(cni_dir), "delegates": [{"cniVersion": "0.3.1", "name": "cbr0", "type": "bridge"}]}))


def test_status_thin_node(tmp_path: Path) -> None:
    conf_dir, cni_dir = tmp_path / "net.d", tmp_path / "multus"
    conf_dir.mkdir()
    cni_dir.mkdir()
    log = tmp_path / "multus.log"
    log.write_text("".join(f"2026-12-02T10:00:0{i}Z [error] failure {i}\n2026-12-02T10:00:0{i}Z [verbose] ok\n"
                           for i in range(4)))
    _thin_conf(conf_dir, log, cni_dir)
    (conf_dir / "10-cbr0.conflist").write_text("{}")
    cache_container(cni_dir, tmp_path, "c1", "/nonexistent")
    code, out, err = ctl("status", "--cni-conf-dir", str(conf_dir), "--daemon-config", str(tmp_path / "none"),
                         "--errors", "2")
    assert code == 0, err
    assert out["config"].endswith("00-multus.conf") and out["mode"] == "thin"
    assert out["primary"].startswith("cbr0")
    assert out["cache"] == {"dir": str(cni_dir), "pods": 1, "results": 2}
    assert [line.split()[-1] for line in out["lastErrors"]] == ["2", "3"]
    assert "daemon" not in out

    os.rename(conf_dir / "00-multus.conf", conf_dir / "99-multus.conf")
    code, out, _ = ctl("status", "--cni-conf-dir", str(conf_dir), "--daemon-config", str(tmp_path / "none"))
    assert code == 4 and "not multus" in out["problem"]


class _Daemon(BaseHTTPRequestHandler):
    ready = False

    def do_GET(self) -> None:
        ok = self.path == "/healthz" or (self.path == "/readyz" and _Daemon.ready)
        self.send_response(200 if ok else 500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


class _UnixServer(HTTPServer):
    address_family = socket.AF_UNIX

    def server_bind(self) -> None:
        self.socket.bind(self.server_address)

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, _ = self.socket.accept()
        return conn, ("local", 0)


@pytest.fixture
def fake_daemon(tmp_path: Path) -> Iterator[Path]:
    sock_dir = tmp_path / "run-multus"
    sock_dir.mkdir()
    srv = _UnixServer(str(sock_dir / "multus.sock"), _Daemon)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield sock_dir
    finally:
        srv.shutdown()
        srv.server_close()


def test_status_thick_node_follows_the_daemons_readiness(tmp_path: Path, fake_daemon: Path) -> None:
    conf_dir = tmp_path / "net.d"
    conf_dir.mkdir()
    (conf_dir / "00-multus.conf").write_text(json.dumps({
        "cniVersion": "0.3.1", "name": "multus-cni-network", "type": "multus-shim",
        "clusterNetwork": "/host/etc/cni/net.d/10-cbr0.conflist", "daemonSocketDir": str(fake_daemon)}))
    args = ["status", "--cni-conf-dir", str(conf_dir), "--daemon-config", str(tmp_path / "none"),
            "--cni-dir", str(tmp_path / "multus")]
    _Daemon.ready = False
    code, out, _ = ctl(*args)
    assert code == 4
    assert out["mode"] == "thick" and out["primary"] == "/host/etc/cni/net.d/10-cbr0.conflist"
    assert out["daemon"]["healthz"] == "ok" and "500" in out["daemon"]["readyz"]
    _Daemon.ready = True
    code, out, _ = ctl(*args)
    assert code == 0 and out["daemon"]["readyz"] == "ok" and out["ready"]
    code, out, _ = ctl(*args[:-2], "--socket-dir", str(tmp_path / "elsewhere"))
    assert code == 4 and out["daemon"]["healthz"] != "ok"


def test_text_output_and_help_everywhere() -> None:
    for cmd in ([], ["install"], ["copy-binaries"], ["explain"], ["gc"], ["status"], ["completion"]):
        r = subprocess.run([*CTL, *cmd, "--help"], capture_output=True, text=True, check=False, timeout=60)
        assert r.returncode == 0 and "Usage: multusctl" in r.stdout, cmd
    r = subprocess.run([*CTL, "completion", "bash"], capture_output=True, text=True, check=False, timeout=60)
    assert r.returncode == 0 and "_MULTUSCTL_COMPLETE" in r.stdout and "complete " in r.stdout
    env = dict(os.environ, _MULTUSCTL_COMPLETE="bash_complete", COMP_WORDS="multusctl st", COMP_CWORD="1")
    r = subprocess.run(CTL, capture_output=True, text=True, check=False, env=env, timeout=60)
    assert "status" in r.stdout and "install" not in r.stdout
