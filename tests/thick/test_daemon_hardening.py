"""The daemon against clients that misbehave, clients it must not serve, and bursts: peer
credentials, slow/truncated/oversized/malformed requests, the request queue, plugins that cannot
be loaded. Each case also checks that a well-behaved client is served meanwhile."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from thickkit import CNI_BIN, DAEMON, Daemon, Node, describe, free_port

from multus.thick import client

pytestmark = pytest.mark.root

NOBODY = 65534


def raw(daemon: Daemon, data: bytes, shut: bool = False, timeout: float = 10) -> bytes:
    """Send bytes, optionally close our sending side, read the answer until the daemon closes."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(daemon.socket_path)
        s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out
    finally:
        s.close()


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def healthy_quickly(daemon: Daemon) -> None:
    t0 = time.monotonic()
    assert client.healthy(daemon.socket_path, timeout=5) is None
    assert time.monotonic() - t0 < 2


# ------------------------------------------------------------------------------------ peer credentials


def test_socket_is_private_and_peers_are_checked(node: Node, tmp_path_factory: pytest.TempPathFactory) -> None:
    top = Path(tempfile.mkdtemp(prefix="multus-peer-"))  # outside pytest's 0700 tree
    try:
        _peer_check(node, top)
    finally:
        shutil.rmtree(top, ignore_errors=True)


def _peer_check(node: Node, top: Path) -> None:
    daemon = node.daemon({"allowedUIDs": [0], "socketDir": str(top / "multus")})
    assert stat.S_IMODE(os.stat(daemon.socket_path.rsplit("/", 1)[0]).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(daemon.socket_path).st_mode) == 0o600
    # open the file modes up so that only SO_PEERCRED stands between nobody and the daemon
    for d in (top, top / "multus"):
        os.chmod(d, 0o755)
    os.chmod(daemon.socket_path, 0o666)
    code = ("import socket, sys\ns = socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\n"
            "s.sendall(b'GET /healthz HTTP/1.1\\r\\nHost: dummy\\r\\n\\r\\n')\nprint(s.recv(200).decode())\n")
    p = subprocess.run(["/usr/bin/python3", "-I", "-c", code, daemon.socket_path], user=NOBODY, capture_output=True,
                       text=True, timeout=30, check=False)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("HTTP/1.1 403"), p.stdout
    assert f"forbidden: uid {NOBODY} is not allowed" in p.stdout
    assert "refused a connection of uid 65534" in daemon.logs()
    healthy_quickly(daemon)  # root is served


def test_allowed_uids_is_configurable(node: Node) -> None:
    daemon = node.daemon({"allowedUIDs": [NOBODY]}, start=False)
    daemon.start(wait=False)  # root's readiness polls are refused too
    deadline = time.monotonic() + 30
    while not os.path.exists(daemon.socket_path):
        assert time.monotonic() < deadline and daemon.proc is not None and daemon.proc.poll() is None, daemon.logs()
        time.sleep(0.05)
    answer = raw(daemon, b"GET /healthz HTTP/1.1\r\nHost: dummy\r\n\r\n")
    assert status_of(answer) == 403 and b"uid 0 is not allowed" in answer
    # a refused peer never reaches the engine
    body = client.encode_request({"CNI_COMMAND": "DEL", "CNI_CONTAINERID": "c1"}, b"{}")
    reply = daemon.http("POST", client.CNI_ENDPOINT, body)
    assert reply.status == 403
    assert "starting CNI request" not in daemon.logs()


# ------------------------------------------------------------------------------------ bad clients


def test_slow_client_does_not_stall_others_and_times_out(node: Node) -> None:
    daemon = node.daemon({"requestTimeout": 1.5, "connectionLimit": 1})
    slow = [socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) for _ in range(5)]
    try:
        for i, s in enumerate(slow):
            s.connect(daemon.socket_path)
            s.sendall(b"POST /cni HTTP/1.1\r\nHost: dummy\r\n" if i % 2 else b"GE")  # and then nothing
        for _ in range(3):
            healthy_quickly(daemon)
        t0 = time.monotonic()
        s = slow[1]
        s.settimeout(10)
        answer = s.recv(4096)
        assert status_of(answer) == 408 and b"request not received within 1.5 s" in answer
        assert 0.5 < time.monotonic() - t0 < 5
    finally:
        for s in slow:
            s.close()
    healthy_quickly(daemon)


def test_truncated_oversized_and_malformed_requests(node: Node) -> None:
    daemon = node.daemon()
    # a body shorter than its Content-Length, then the client closes its side
    answer = raw(daemon, b"POST /cni HTTP/1.1\r\nHost: dummy\r\nContent-Length: 100\r\n\r\n{\"env\":", shut=True)
    assert status_of(answer) == 400 and b"malformed request" in answer
    # a head that ends nowhere
    assert raw(daemon, b"POST /cni HTTP/1.1\r\nHost: du", shut=True) .startswith(b"HTTP/1.1 400")
    # a body over the limit is refused from its Content-Length, before it is read
    answer = raw(daemon, b"POST /cni HTTP/1.1\r\nHost: dummy\r\nContent-Length: 104857600\r\n\r\n")
    assert status_of(answer) == 413 and b"request body too large" in answer
    # ... and a chunked one while it streams in
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(daemon.socket_path)
    s.sendall(b"POST /cni HTTP/1.1\r\nHost: dummy\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n%s\r\n" % (1 << 20, b"x" * (1 << 20))
    with pytest.raises(OSError):  # the daemon answers and closes while we still send
        for _ in range(8):
            s.sendall(chunk)
        s.sendall(b"0\r\n\r\n")
        time.sleep(0.2)
        s.sendall(chunk)
    s.close()
    # headers over 16 KiB
    answer = raw(daemon, b"GET /healthz HTTP/1.1\r\nHost: dummy\r\nX-Big: " + b"a" * (70 * 1024) + b"\r\n\r\n")
    assert 400 <= status_of(answer) < 500
    # garbage, binary, and HTTP/0.9-style lines
    for junk in (b"\x00\x01\x02\xff\r\n\r\n", b"HELLO\r\n\r\n", b"GET /healthz\r\n\r\n",
                 b"POST /cni HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
                 b"POST /cni HTTP/1.1\r\nHost: dummy\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n12345"):
        answer = raw(daemon, junk, shut=True)
        assert answer.startswith(b"HTTP/1.1 400"), (junk, answer)
    # a request body that is not JSON reaches the service and gets upstream's answer
    answer = raw(daemon, b"POST /cni HTTP/1.1\r\nHost: dummy\r\nContent-Length: 5\r\n\r\n{nope")
    assert status_of(answer) == 400 and b"invalid request body" in answer
    # connect and leave: nothing to answer
    socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).connect(daemon.socket_path)
    healthy_quickly(daemon)
    assert daemon.proc is not None and daemon.proc.poll() is None
    assert "Traceback" not in daemon.logs()


# ------------------------------------------------------------------------------------ the queue


def slow_bridge(node: Node, seconds: float) -> tuple[str, dict[str, Any]]:
    bin_dir = node.tmp / "slow-bin"
    bin_dir.mkdir(exist_ok=True)
    plugin = bin_dir / "slowbridge"
    plugin.write_text(f'#!/bin/sh\n[ "$CNI_COMMAND" = ADD ] && sleep {seconds}\nexec {CNI_BIN}/bridge\n')
    plugin.chmod(0o755)
    return str(bin_dir), {**node.bridge(), "type": "slowbridge"}


def test_requests_beyond_the_limit_wait_in_the_queue(node: Node) -> None:
    port = free_port()
    daemon = node.daemon({"connectionLimit": 2, "metricsPort": port})
    bin_dir, br = slow_bridge(node, 0.6)
    conf = node.shim_conf(daemon, delegates=[br], binDir=bin_dir)
    pods = [node.pod() for _ in range(6)]
    outcomes: dict[int, Any] = {}
    depth: list[float] = []

    def sample() -> None:
        import urllib.request

        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        while len(outcomes) < len(pods):
            with opener.open(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
                for line in resp.read().decode().splitlines():
                    if line.startswith("multus_server_queue_depth "):
                        depth.append(float(line.split()[1]))
            time.sleep(0.1)

    threads = [threading.Thread(target=lambda i=i: outcomes.__setitem__(i, node.shim("ADD", conf, pods[i])))
               for i in range(len(pods))]
    sampler = threading.Thread(target=sample)
    for t in threads:
        t.start()
    sampler.start()
    for t in threads:
        t.join(120)
    sampler.join(30)
    bad = {i: describe(o) for i, o in outcomes.items() if o.returncode != 0}
    assert not bad and len(outcomes) == len(pods), bad
    assert max(depth) >= 2, depth  # requests waited in the daemon instead of being refused
    # never more than two delegates at once: the starts and ends of ADDs interleave by two
    running = peak = 0
    for line in daemon.logs(tail=None).splitlines():
        if "ADD starting CNI request" in line:
            running += 1
            peak = max(peak, running)
        elif "ADD finished CNI request" in line:
            running -= 1
    assert peak == 2, peak
    for pod in pods:
        node.delete(conf, pod)
        node.assert_clean(pod)


# ------------------------------------------------------------------------------------ plugins


def test_daemon_refuses_a_plugin_that_does_not_import(node: Node) -> None:
    site = node.tmp / "site"
    dist = site / "broken_multus_plugin-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-multus-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[multus.source]\nbroken = broken_multus_plugin\n")
    (site / "broken_multus_plugin.py").write_text("raise ImportError('this plugin is broken')\n")
    daemon = node.daemon(start=False)
    daemon.config_path.write_text(json.dumps({**daemon.config, "plugins": ["broken"]}))
    env = {**os.environ, "PYTHONPATH": str(site)}
    p = subprocess.run([*DAEMON, "-config", str(daemon.config_path)], env=env, capture_output=True, text=True,
                       timeout=60, check=False)
    assert p.returncode == 1, p.stderr
    assert "refusing to start: multus plugin 'broken' (broken_multus_plugin) of distribution " \
           "'broken-multus-plugin' failed to import: ImportError: this plugin is broken" in p.stderr
    assert not os.path.exists(daemon.socket_path)
    # MULTUS_PLUGINS enables plugins too
    p = subprocess.run([*DAEMON, "-config", str(daemon.config_path)], capture_output=True, text=True, timeout=60,
                       check=False, env={**os.environ, "MULTUS_PLUGINS": "not-installed-either"})
    assert p.returncode == 1 and "'not-installed-either'" in p.stderr, p.stderr
