"""``multus-shim`` on its own: what it imports, what it answers locally, how it fails when the
daemon is down, how it reports errors, and how it talks to an upstream daemon (one that answers
only ``{"Result": <1.0.0>}``, played here by a small server of the test)."""

from __future__ import annotations

import base64
import json
import marshal
import os
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from thickkit import SHIM, SHIM_SOURCE, SYSTEM_PYTHON, Node, describe, error_of

from multus.cni import result as cni_result
from multus.testing.invoke import cni_env, invoke
from multus.thick import client

HEAVY = ("attrs", "cattrs", "pluggy", "multus.engine", "multus.cni.request", "multus.config", "multus.plugin",
         "kubernetes", "pyroute2", "prometheus_client")

RESULT_100 = {
    "cniVersion": "1.0.0",
    "interfaces": [{"name": "br0", "mac": "aa:bb:cc:dd:ee:01"},
                   {"name": "eth0", "mac": "aa:bb:cc:dd:ee:02", "mtu": 1400, "sandbox": "/run/netns/x"}],
    "ips": [{"interface": 1, "address": "10.250.77.5/27", "gateway": "10.250.77.1"},
            {"interface": 1, "address": "fd00:250:77::5/64", "gateway": "fd00:250:77::1"}],
    "routes": [{"dst": "0.0.0.0/0", "gw": "10.250.77.1"}, {"dst": "::/0"}],
    "dns": {"nameservers": ["10.250.77.53"]},
}


def shim_conf(socket_dir: str, version: str = "1.0.0", **keys: Any) -> dict[str, Any]:
    conf = {"cniVersion": version, "name": "multus-cni-network", "type": "multus-shim",
            "daemonSocketDir": socket_dir}
    conf.update(keys)
    return conf


def run_shim(command: str, conf: Any, extra: dict[str, str] | None = None, **kw: Any) -> Any:
    env = cni_env(command, container_id=kw.pop("container_id", "cid1"), netns=kw.pop("netns", "/run/netns/x"),
                  ifname="eth0", args="K8S_POD_NAMESPACE=default;K8S_POD_NAME=p1", extra=extra)
    return invoke(SHIM, env, conf, timeout=60)


# ------------------------------------------------------------------------------------ a fake upstream daemon


class FakeDaemon:
    """A unix-socket HTTP server answering ``/cni`` with a canned reply; records the requests."""

    def __init__(self, socket_dir: Path, status: int = 200, body: bytes = b"",
                 content_type: str = "application/json", ready_status: int = 200) -> None:
        self.socket_dir = socket_dir
        self.requests: list[dict[str, Any]] = []
        self.gets: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                fake.gets.append(self.path)
                self._reply(ready_status if self.path == "/readyz" else 200, b"")

            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/cni":
                    fake.requests.append(json.loads(data))
                    self._reply(status, body)
                else:
                    self._reply(200, b"")

            def _reply(self, code: int, payload: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(payload)

            def address_string(self) -> str:
                return "unix"

            def log_message(self, *args: Any) -> None:
                pass

        socket_dir.mkdir(parents=True, exist_ok=True)
        self.server = socketserver.ThreadingUnixStreamServer(client.socket_path(str(socket_dir)), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_daemon(tmp_path: Path) -> Iterator[Callable[..., FakeDaemon]]:
    made: list[FakeDaemon] = []

    def make(**kw: Any) -> FakeDaemon:
        d = FakeDaemon(tmp_path / f"fake{len(made)}", **kw)
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()


@pytest.mark.parametrize("version", ["0.2.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"])
def test_result_of_an_upstream_daemon_is_converted(fake_daemon: Callable[..., FakeDaemon], version: str) -> None:
    fake = fake_daemon(body=json.dumps({"Result": RESULT_100}).encode())
    conf = shim_conf(str(fake.socket_dir), version)
    out = run_shim("ADD", conf, extra={"MARKER": "whole-env"})
    assert out.returncode == 0, describe(out)
    # the same conversion as the engine's libcni-faithful one
    assert out.json == cni_result.convert_result(RESULT_100, version)
    # what went over the wire: the shim's whole environment and its stdin, base64
    [req] = fake.requests
    assert req["env"]["MARKER"] == "whole-env" and req["env"]["CNI_COMMAND"] == "ADD"
    assert json.loads(base64.b64decode(req["config"])) == conf


def test_result_as_requested_is_used_when_in_the_conf_version(fake_daemon: Callable[..., FakeDaemon]) -> None:
    requested = cni_result.convert_result(RESULT_100, "0.3.1") | {"marker": 1}
    fake = fake_daemon(body=json.dumps({"Result": RESULT_100, "ResultAsRequested": requested}).encode())
    out = run_shim("ADD", shim_conf(str(fake.socket_dir), "0.3.1"))
    assert out.json == requested
    # another version: the daemon's 1.0.0 Result, converted
    out = run_shim("ADD", shim_conf(str(fake.socket_dir), "0.4.0"))
    assert out.json == cni_result.convert_result(RESULT_100, "0.4.0")


def test_cni_errors_pass_unchanged(fake_daemon: Callable[..., FakeDaemon]) -> None:
    err = {"code": 42, "msg": "delegate said no", "details": "because"}
    fake = fake_daemon(status=400, body=json.dumps(err).encode())
    for verb in ("ADD", "CHECK"):
        out = run_shim(verb, shim_conf(str(fake.socket_dir), "1.0.0"))
        assert error_of(out) == {"cniVersion": "1.0.0", **err}


def test_plain_text_errors_are_wrapped_like_upstream(fake_daemon: Callable[..., FakeDaemon]) -> None:
    fake = fake_daemon(status=400, body=b"boom\n", content_type="text/plain; charset=utf-8")
    conf = shim_conf(str(fake.socket_dir), "0.3.1")
    out = run_shim("ADD", conf)
    err = error_of(out)
    assert err["code"] == 999 and err["cniVersion"] == "0.3.1"
    assert err["msg"].startswith("CmdAdd (shim): CNI request failed with status 400: 'boom\n': StdinData: {")
    # a DEL the daemon could not do fails too: the runtime calls it again
    out = run_shim("DEL", conf)
    err = error_of(out)
    assert err["code"] == 999 and err["msg"].startswith("CmdDel (shim): CNI request failed with status 400: 'boom")
    assert "CmdDel (shim): CNI request failed" in out.stderr


def test_del_posts_once_without_a_health_check(fake_daemon: Callable[..., FakeDaemon]) -> None:
    fake = fake_daemon()
    out = run_shim("DEL", shim_conf(str(fake.socket_dir)), netns="")
    assert out.returncode == 0 and out.stdout == "", describe(out)
    assert [r["env"]["CNI_COMMAND"] for r in fake.requests] == ["DEL"]
    assert fake.gets == []


def test_add_posts_at_once_without_a_readiness_check(fake_daemon: Callable[..., FakeDaemon]) -> None:
    # a daemon that listens answers the POST itself: no /readyz round trip before it
    fake = fake_daemon(body=json.dumps({"Result": RESULT_100}).encode(), ready_status=500)
    out = run_shim("ADD", shim_conf(str(fake.socket_dir)))
    assert out.returncode == 0 and out.json["ips"][0]["address"] == "10.250.77.5/27", describe(out)
    assert fake.gets == [] and [r["env"]["CNI_COMMAND"] for r in fake.requests] == ["ADD"]


def _late_daemon(sock_dir: Path, delay: float, made: list[FakeDaemon], **kw: Any) -> threading.Timer:
    timer = threading.Timer(delay, lambda: made.append(FakeDaemon(sock_dir, **kw)))
    timer.start()
    return timer


def test_readiness_is_awaited_when_the_daemon_is_not_there(tmp_path: Path) -> None:
    made: list[FakeDaemon] = []
    try:
        # upstream's v4.3.0 daemon serves /healthz only: /readyz 404 falls back to it
        timer = _late_daemon(tmp_path / "late", 0.5, made, body=json.dumps({"Result": RESULT_100}).encode(),
                             ready_status=404)
        t0 = time.monotonic()
        out = run_shim("ADD", shim_conf(str(tmp_path / "late")), extra={"MULTUS_SHIM_READY_TIMEOUT": "20"})
        timer.join()
        assert out.returncode == 0 and out.json["ips"][0]["address"] == "10.250.77.5/27", describe(out)
        assert 0.4 < time.monotonic() - t0 < 10
        assert made[0].gets == ["/readyz", "/healthz"] and len(made[0].requests) == 1
        # a daemon that comes up not ready (500) is waited for, not posted to
        timer = _late_daemon(tmp_path / "busy", 0.2, made, ready_status=500)
        out = run_shim("ADD", shim_conf(str(tmp_path / "busy")), extra={"MULTUS_SHIM_READY_TIMEOUT": "1.5"})
        timer.join()
        assert "timed out after 1.5 s: /readyz answered 500" in error_of(out)["msg"], describe(out)
        assert made[1].requests == [] and "/healthz" not in made[1].gets
    finally:
        for f in made:
            f.close()


def test_connection_errors_are_retried_until_the_daemon_listens(tmp_path: Path) -> None:
    sock_dir = tmp_path / "late"
    fakes: list[FakeDaemon] = []
    timer = threading.Timer(0.8, lambda: fakes.append(FakeDaemon(sock_dir)))
    timer.start()
    try:
        t0 = time.monotonic()
        out = run_shim("DEL", shim_conf(str(sock_dir)), extra={"MULTUS_SHIM_READY_TIMEOUT": "20"})
        assert out.returncode == 0 and out.stdout == "", describe(out)
        assert 0.7 < time.monotonic() - t0 < 10
        assert [r["env"]["CNI_COMMAND"] for r in fakes[0].requests] == ["DEL"]
    finally:
        timer.join()
        for f in fakes:
            f.close()


# ------------------------------------------------------------------------------------ no daemon


def test_daemon_down_add_fails_clearly_del_succeeds(tmp_path: Path) -> None:
    sock_dir = tmp_path / "nobody-home"
    conf = shim_conf(str(sock_dir))
    t0 = time.monotonic()
    out = run_shim("ADD", conf, extra={"MULTUS_SHIM_READY_TIMEOUT": "0.5"})
    elapsed = time.monotonic() - t0
    err = error_of(out)
    assert err["code"] == 999
    assert err["msg"].startswith("CmdAdd (shim): failed waiting for the multus daemon to be ready: timed out after 0.5 s")
    assert f'Get "http://dummy/readyz": dial unix {sock_dir}/multus.sock: connect: no such file or directory' \
        in err["msg"]
    assert 0.4 < elapsed < 10
    assert "CmdAdd (shim)" in out.stderr  # logged too
    # the conf key works as well
    out = run_shim("CHECK", shim_conf(str(sock_dir), daemonReadyTimeout=0.2))
    assert error_of(out)["msg"].startswith("CmdCheck (shim): failed waiting")

    # DEL: the thin multus (importable here) deletes from the cache; nothing is cached
    cni_dir = tmp_path / "cni"
    t0 = time.monotonic()
    out = run_shim("DEL", shim_conf(str(sock_dir), cniDir=str(cni_dir)), extra={"MULTUS_SHIM_READY_TIMEOUT": "0.5"})
    assert out.returncode == 0 and out.stdout == "", describe(out)
    assert 0.3 < time.monotonic() - t0 < 30  # it retried the connection before giving up
    assert "CmdDel (shim): the multus daemon is not reachable" in out.stderr
    assert "-m multus.cli.thin" in out.stderr


def test_socket_without_server_is_connection_refused(tmp_path: Path) -> None:
    import socket

    sock_dir = tmp_path / "dead"
    sock_dir.mkdir()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(client.socket_path(str(sock_dir)))
    s.close()  # bound, never listening: what a crashed daemon leaves
    out = run_shim("ADD", shim_conf(str(sock_dir)), extra={"MULTUS_SHIM_READY_TIMEOUT": "0"})
    assert "connect: connection refused" in error_of(out)["msg"]


# ------------------------------------------------------------------------------------ local answers


def test_version_and_about_are_local(tmp_path: Path) -> None:
    out = run_shim("VERSION", b"")
    assert out.returncode == 0 and out.json["supportedVersions"][-1] == "1.1.0"
    p = subprocess.run([*SHIM, "-version"], capture_output=True, text=True, timeout=30, check=False)
    assert p.returncode == 0 and p.stdout.startswith("multus-shim: version:")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CNI_")}
    p = subprocess.run(SHIM, env=env, capture_output=True, text=True, timeout=30, check=False, input="")
    assert p.returncode == 0 and "CNI protocol versions supported" in p.stderr


@pytest.mark.parametrize(("command", "conf", "extra", "code", "text"), [
    ("ADD", b"{nope", {}, 6, "error unmarshalling network config"),
    ("ADD", b"", {}, 6, "the network configuration is empty"),
    ("ADD", {"cniVersion": "9.9.9", "name": "n"}, {}, 1, "incompatible CNI versions"),
    ("ADD", {"cniVersion": "1.0.0"}, {}, 7, "network name"),
    ("CHECK", {"cniVersion": "0.3.1", "name": "n"}, {}, 1, "does not allow CHECK"),
    ("ADD", {"cniVersion": "1.0.0", "name": "n"}, {"CNI_NETNS": ""}, 4, "[CNI_NETNS] missing"),
    ("ADD", {"cniVersion": "1.0.0", "name": "n"}, {"CNI_IFNAME": "a/b"}, 4, "CNI_IFNAME"),
    ("BOGUS", {"cniVersion": "1.0.0", "name": "n"}, {}, 4, "unknown CNI_COMMAND"),
])
def test_request_checks_are_local(tmp_path: Path, command: str, conf: Any, extra: dict[str, str], code: int,
                                  text: str) -> None:
    out = run_shim(command, conf, extra={"MULTUS_SHIM_READY_TIMEOUT": "0", **extra})
    err = error_of(out)
    assert err["code"] == code and text in err["msg"], err


# ------------------------------------------------------------------------------------ with the real daemon


@pytest.mark.root
def test_shim_imports_only_the_standard_library(node: Node) -> None:
    daemon = node.daemon()
    conf = node.shim_conf(daemon, delegates=[node.bridge()])
    pod = node.pod()
    dump = node.tmp / "modules.json"
    code = ("import json, sys\nfrom multus.cli import shim\nrc = shim.run()\n"
            f"open({str(dump)!r}, 'w').write(json.dumps(sorted(sys.modules)))\nsys.exit(rc)\n")
    out = invoke([sys.executable, "-c", code], node.env("ADD", pod), conf)
    assert out.returncode == 0 and out.json["cniVersion"] == "1.0.0", describe(out)
    modules = json.loads(dump.read_text())
    assert "multus.cli.shim" in modules
    heavy = [m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)]
    assert heavy == [], heavy
    node.delete(conf, pod)
    node.assert_clean(pod)


@pytest.mark.root
def test_bad_config_errors_come_back_through_the_shim(node: Node) -> None:
    daemon = node.daemon()
    pod = node.pod()
    cases = [
        (node.shim_conf(daemon, delegates=[node.bridge()], namespaceIsolation="yes"), 7, "namespaceIsolation"),
        (node.shim_conf(daemon, clusterNetwork="no-such-network"), 7, "no-such-network"),
        (node.shim_conf(daemon), 7, "at least one delegate/clusterNetwork"),
        (node.shim_conf(daemon, delegates=[{"cniVersion": "1.0.0", "name": "x", "type": "no-such-plugin"}]),
         50, "no-such-plugin"),
    ]
    for conf, code, text in cases:
        out = node.shim("ADD", conf, pod)
        err = error_of(out)
        assert err["code"] == code and text in err["msg"], (err, daemon.logs())
        assert err["cniVersion"] == "1.0.0"
        assert node.links(pod) == ["lo"]
    assert daemon.logs().count("ERRORED") >= len(cases)  # they came from the daemon


# ------------------------------------------------------------------------------------ the stdlib-only codec


def test_client_json_codec_matches_json() -> None:
    docs = [{"a": [1, 2.5, "x\u00e9\n", None, True, False], "b": {"c": {}}}, [], "s", 0, -1.5e300]
    for doc in docs:
        assert client.dumps(doc) == json.dumps(doc)
        assert client.loads(json.dumps(doc)) == doc
        assert client.loads(json.dumps(doc).encode()) == doc
    for bad in ("{nope", "[1] x", "", "{\"a\": NaN}", "[Infinity]", "{\"a\": 1"):
        with pytest.raises(ValueError):
            client.loads(bad)


def test_client_json_errors_in_a_fresh_interpreter() -> None:
    # the C scanner reports errors through json.decoder, which the shim never imports itself
    code = ("import sys\nfrom multus.thick import client\nassert 'json' not in sys.modules\n"
            "try:\n    client.loads('{nope')\nexcept ValueError as e:\n    print(type(e).__name__)\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False)
    assert (p.returncode, p.stdout.strip()) == (0, "JSONDecodeError"), p.stderr


# ------------------------------------------------------------------------------------ one file, the node's python3

SHIM_ONLY_IMPORTS = {"__future__", "binascii", "_json", "_socket"}
"""Everything the shim imports beyond what the interpreter itself loads at start-up."""


@pytest.fixture
def standalone_shim(tmp_path: Path) -> list[str]:
    """``multus-shim`` copied alone into an empty bin directory, run by its own shebang."""
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        pytest.skip(f"{SYSTEM_PYTHON} not found")
    bin_dir = tmp_path / "opt-cni-bin"
    bin_dir.mkdir()
    target = bin_dir / "multus-shim"
    target.write_bytes(SHIM_SOURCE.read_bytes())
    target.chmod(0o755)
    shebang = target.read_text().splitlines()[0]
    assert shebang.startswith(f"#!{SYSTEM_PYTHON} -ISc")
    assert len(shebang) < 128  # the kernel reads no more of it before Linux 5.1
    return [str(target)]


def run_standalone(shim: list[str], command: str, conf: Any, extra: dict[str, str] | None = None) -> Any:
    env = cni_env(command, container_id="cid1", netns="/run/netns/x", ifname="eth0",
                  args="K8S_POD_NAMESPACE=default;K8S_POD_NAME=p1", extra=extra)
    # the node's environment: nothing that would let the node's python find the package
    env = {k: v for k, v in env.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    return invoke(shim, env, conf, timeout=60)


def test_standalone_file_runs_with_the_node_python(standalone_shim: list[str],
                                                   fake_daemon: Callable[..., FakeDaemon]) -> None:
    out = run_standalone(standalone_shim, "VERSION", b"")
    assert out.returncode == 0 and out.json["supportedVersions"][-1] == "1.1.0", describe(out)
    fake = fake_daemon(body=json.dumps({"Result": RESULT_100}).encode())
    for version in ("0.3.1", "1.0.0"):
        out = run_standalone(standalone_shim, "ADD", shim_conf(str(fake.socket_dir), version))
        assert out.returncode == 0, describe(out)
        assert out.json == cni_result.convert_result(RESULT_100, version)
    out = run_standalone(standalone_shim, "DEL", shim_conf(str(fake.socket_dir)))
    assert out.returncode == 0 and out.stdout == "", describe(out)
    assert [r["env"]["CNI_COMMAND"] for r in fake.requests] == ["ADD", "ADD", "DEL"]


def test_standalone_file_caches_its_compiled_code(standalone_shim: list[str], tmp_path: Path) -> None:
    shim = Path(standalone_shim[0])
    cache_dir = shim.parent / "__pycache__"
    assert not cache_dir.exists()
    out = run_standalone(standalone_shim, "VERSION", b"")
    assert out.returncode == 0 and out.json["cniVersion"] == "1.1.0", describe(out)
    [cache] = cache_dir.iterdir()
    assert cache.name.startswith("multus-shim.cpython-") and cache.name.endswith(".bin")
    key, _, _ = cache.read_bytes().partition(b"\n")
    # the cached code is what runs: a cache with the same key but other code is obeyed
    other = compile('import sys; sys.stdout.write("from the cache " + sys.argv[0])', str(shim), "exec")
    cache.write_bytes(key + b"\n" + marshal.dumps(other))
    p = subprocess.run(standalone_shim, capture_output=True, text=True, timeout=30, check=False)
    assert p.stdout == f"from the cache {shim}", p
    # an edited file has another key: compiled again, the cache replaced
    shim.write_bytes(shim.read_bytes() + b"\n# edited\n")
    out = run_standalone(standalone_shim, "VERSION", b"")
    assert out.returncode == 0 and out.json["cniVersion"] == "1.1.0", describe(out)
    assert cache.read_bytes().partition(b"\n")[0] != key and list(cache_dir.iterdir()) == [cache]
    # a cache of another user is not obeyed; nor is one that is not marshal data
    key = cache.read_bytes().partition(b"\n")[0]
    cache.write_bytes(key + b"\n" + marshal.dumps(other))
    os.chown(cache, 12345, -1)
    out = run_standalone(standalone_shim, "VERSION", b"")
    assert out.returncode == 0 and out.json["cniVersion"] == "1.1.0", describe(out)
    assert cache.stat().st_uid == os.geteuid()  # replaced by this user's
    cache.write_bytes(key + b"\nnot marshal data")
    out = run_standalone(standalone_shim, "VERSION", b"")
    assert out.returncode == 0 and out.json["cniVersion"] == "1.1.0", describe(out)
    # where no cache can be written, the file is only compiled every time
    cache.unlink()
    cache_dir.rmdir()
    cache_dir.write_text("")
    out = run_standalone(standalone_shim, "VERSION", b"")
    assert out.returncode == 0 and out.json["cniVersion"] == "1.1.0", describe(out)
    assert cache_dir.read_text() == "" and sorted(f.name for f in shim.parent.iterdir()) == ["__pycache__", shim.name]
    # run by python itself (no shebang), the file is a plain script
    p = subprocess.run([SYSTEM_PYTHON, "-I", "-S", str(shim), "--version"], capture_output=True, text=True,
                       timeout=30, check=False)
    assert p.returncode == 0 and p.stdout.startswith("multus-shim: version:"), p


def test_standalone_del_without_daemon_or_multus_is_try_again_later(standalone_shim: list[str],
                                                                   tmp_path: Path) -> None:
    # the node's python3 -I -S cannot import multus: nothing can delete, so the runtime must retry
    conf = shim_conf(str(tmp_path / "gone"), "0.4.0", cniDir=str(tmp_path / "cni"))
    out = run_standalone(standalone_shim, "DEL", conf, extra={"MULTUS_SHIM_READY_TIMEOUT": "0.3"})
    err = error_of(out)
    assert err["code"] == 11 and err["cniVersion"] == "0.4.0", err
    assert err["msg"].startswith("CmdDel (shim): the multus daemon is not reachable")
    assert "connect: no such file or directory" in err["msg"]
    # thinMultus names a thin plugin to use instead: it gets the shim's env and stdin
    thin = tmp_path / "thin-multus"
    record = tmp_path / "thin.record"
    thin.write_text(f"#!/bin/sh\n{{ echo \"$CNI_COMMAND $CNI_CONTAINERID\"; cat; }} > {record}\n")
    thin.chmod(0o755)
    out = run_standalone(standalone_shim, "DEL", {**conf, "thinMultus": str(thin)},
                         extra={"MULTUS_SHIM_READY_TIMEOUT": "0.3"})
    assert out.returncode == 0 and out.stdout == "", describe(out)
    first, rest = record.read_text().split("\n", 1)
    assert first == "DEL cid1" and json.loads(rest)["thinMultus"] == str(thin)


def test_shim_imports_only_what_it_needs(standalone_shim: list[str], fake_daemon: Callable[..., FakeDaemon]) -> None:
    def imported(cmd: list[str], stdin: bytes, env: dict[str, str]) -> set[str]:
        p = subprocess.run(cmd, input=stdin, env=env, capture_output=True, timeout=60, check=False)
        assert p.returncode == 0, p
        return {line.split("|")[-1].strip() for line in p.stderr.decode().splitlines()
                if line.startswith("import time:") and "imported package" not in line} - {"package"}

    fake = fake_daemon(body=json.dumps({"Result": RESULT_100}).encode())
    base = imported([SYSTEM_PYTHON, "-I", "-S", "-X", "importtime", "-c", "pass"], b"", {})
    env = cni_env("ADD", container_id="cid1", netns="/run/netns/x", ifname="eth0",
                  args="K8S_POD_NAMESPACE=default;K8S_POD_NAME=p1")
    conf = json.dumps(shim_conf(str(fake.socket_dir), "0.3.1")).encode()
    shim = imported([SYSTEM_PYTHON, "-I", "-S", "-X", "importtime", *standalone_shim], conf, env)
    assert shim - base == SHIM_ONLY_IMPORTS


def test_shim_runs_on_python_3_8() -> None:
    vermin = Path(sys.executable).parent / "vermin"
    if not os.access(vermin, os.X_OK):
        pytest.skip("vermin is not installed (pip install '.[test]')")
    p = subprocess.run([str(vermin), "--no-tips", "--violations", "-t=3.8-", str(SHIM_SOURCE)],
                       capture_output=True, text=True, timeout=120, check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    p = subprocess.run([str(vermin), "--no-tips", str(SHIM_SOURCE)], capture_output=True, text=True, timeout=120,
                       check=False)
    line = next(x for x in p.stdout.splitlines() if x.startswith("Minimum required versions:"))
    minimum = tuple(int(n) for n in line.split(":")[1].strip().split(".")[:2])
    assert minimum <= (3, 8), line


def test_a_full_listen_backlog_is_retried(tmp_path: Path) -> None:
    """EAGAIN on connect (the daemon's backlog is full during a burst) is not a lost DEL."""
    import socket

    sock_dir = tmp_path / "busy"
    sock_dir.mkdir()
    path = client.socket_path(str(sock_dir))
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(0)
    hogs = []
    while True:  # fill the backlog until the kernel says EAGAIN
        h = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        h.setblocking(False)
        try:
            h.connect(path)
        except BlockingIOError:
            h.close()
            break
        hogs.append(h)
    assert hogs
    received: list[str] = []

    def serve_later() -> None:
        time.sleep(1.0)
        for h in hogs:
            h.close()
        server.settimeout(10)
        while not received:
            conn, _ = server.accept()
            conn.settimeout(2)
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                if data:
                    head, _, body = data.partition(b"\r\n\r\n")
                    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                      if line.lower().startswith(b"content-length")))
                    while len(body) < length:
                        body += conn.recv(65536)
                    received.append(json.loads(body)["env"]["CNI_COMMAND"])
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            finally:
                conn.close()

    t = threading.Thread(target=serve_later)
    t.start()
    try:
        t0 = time.monotonic()
        out = run_shim("DEL", shim_conf(str(sock_dir)), extra={"MULTUS_SHIM_READY_TIMEOUT": "20"})
        elapsed = time.monotonic() - t0
    finally:
        t.join(30)
        server.close()
    assert out.returncode == 0 and out.stdout == "", describe(out)
    assert received == ["DEL"] and elapsed > 0.9
