"""The daemon's HTTP API as upstream's clients see it: endpoints, status codes, error formats,
metrics, readiness during shutdown, configuration errors, the connection limit.

The raw requests are built by hand with ``http.client`` over ``AF_UNIX``, the way upstream's Go
shim (``api.DoCNI``) sends them: ``{"env": ..., "config": <base64>}``, host ``dummy``.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import socket
import stat
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from thickkit import DAEMON, Daemon, Node, free_port

from multus.thick import client

pytestmark = pytest.mark.root


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 60) -> None:
        super().__init__("dummy", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def go_post(daemon: Daemon, path: str, body: Any) -> tuple[int, dict[str, str], bytes]:
    """POST like Go's http.Client: JSON body, Content-Length, host dummy."""
    conn = UnixHTTPConnection(daemon.socket_path)
    try:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        conn.request("POST", path, body=data, headers={"Content-Type": "application/json",
                                                       "User-Agent": "Go-http-client/1.1"})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def upstream_env(command: str, container_id: str = "c1", netns: str = "/run/netns/none",
                 args: str = "K8S_POD_NAMESPACE=default;K8S_POD_NAME=p1") -> dict[str, str]:
    # what upstream's shim sends: its process env, here trimmed to the CNI variables (no CNI_PATH)
    return {"CNI_COMMAND": command, "CNI_CONTAINERID": container_id, "CNI_NETNS": netns,
            "CNI_IFNAME": "eth0", "CNI_ARGS": args}


def b64(conf: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(conf).encode()).decode()


# ------------------------------------------------------------------------------------ endpoints


def test_socket_dir_and_endpoints(node: Node) -> None:
    stale = node.tmp / "daemon" / "run" / "multus"
    stale.mkdir(parents=True)
    (stale / "leftover").write_text("x")
    daemon = node.daemon()
    d = os.stat(daemon.config["socketDir"])
    assert stat.S_IMODE(d.st_mode) == 0o700
    assert stat.S_ISSOCK(os.stat(daemon.socket_path).st_mode)
    assert stat.S_IMODE(os.stat(daemon.socket_path).st_mode) == 0o600
    assert (stale / "leftover").exists()  # other files in socketDir are never touched

    for method in ("GET", "POST"):
        for path in (client.HEALTH_ENDPOINT, client.READY_ENDPOINT):
            r = daemon.http(method, path)
            assert r.status == 200 and r.body == b"", (method, path, r.status)
            assert r.headers.get("connection") == "close"
    r = daemon.http("PUT", client.HEALTH_ENDPOINT)
    assert (r.status, r.body) == (405, b"Method not allowed\n")
    for path in (client.CNI_ENDPOINT, client.DELEGATE_ENDPOINT):
        assert daemon.http("GET", path).status == 405
    assert daemon.http("GET", "/nope").status == 404
    assert daemon.http("POST", "/cni/extra").status == 404
    assert daemon.http("DELETE", "/").status == 404


def test_sigterm_makes_readyz_fail_then_the_daemon_exits(node: Node) -> None:
    daemon = node.daemon({"shutdownGracePeriod": 1.5})
    daemon.signal(signal.SIGTERM)
    deadline = time.monotonic() + 1.0
    while daemon.http("GET", client.READY_ENDPOINT).status != 500:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert daemon.http("GET", client.HEALTH_ENDPOINT).status == 200  # still serving in the grace period
    t0 = time.monotonic()
    assert daemon.wait(20) == 0, daemon.logs()
    assert time.monotonic() - t0 < 5
    assert not os.path.exists(daemon.socket_path)


def test_second_signal_stops_at_once(node: Node) -> None:
    daemon = node.daemon({"shutdownGracePeriod": 30})
    daemon.signal(signal.SIGINT)
    time.sleep(0.3)
    assert daemon.http("GET", client.READY_ENDPOINT).status == 500
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(10) == 0, daemon.logs()


# ------------------------------------------------------------------------------------ metrics


def test_metrics_count_requests(node: Node) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    port = free_port()
    daemon = node.daemon({"metricsPort": port})
    for _ in range(3):
        daemon.http("GET", client.HEALTH_ENDPOINT)
    daemon.http("POST", client.HEALTH_ENDPOINT)
    daemon.http("GET", "/nope")
    daemon.http("GET", client.CNI_ENDPOINT)
    daemon.http("POST", client.CNI_ENDPOINT, b"{}")  # no CNI_COMMAND: 400

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    counts: dict[tuple[str, str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "multus_server_request_total":
                counts[(s.labels["handler"], s.labels["code"], s.labels["method"])] = s.value
    assert counts[("/healthz", "200", "get")] == 3
    assert counts[("/healthz", "200", "post")] == 1
    assert counts[("NotFound", "404", "get")] == 1
    assert counts[("/cni", "405", "get")] == 1
    assert counts[("/cni", "400", "post")] == 1
    assert ("/readyz", "200", "get") in counts  # the fixture's readiness polls
    assert "multus_server_request_created" not in text


# ------------------------------------------------------------------------------------ upstream format


def test_upstream_format_requests_get_upstream_format_answers(node: Node) -> None:
    daemon = node.daemon()
    br = node.bridge()
    pod = node.pod()
    conf = node.shim_conf(None, cni_version="0.3.1", delegates=[br])
    env = upstream_env("ADD", pod.container_id, pod.path,
                       f"IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME={pod.name};K8S_POD_UID=u-1")

    status, headers, body = go_post(daemon, "/cni", {"env": env, "config": b64(conf)})
    assert status == 200, body
    assert headers["content-type"] == "application/json"
    answer = json.loads(body)
    result = answer["Result"]  # upstream's api.Response: a cni100.Result
    assert result["cniVersion"] == "1.0.0"
    assert "version" not in result["ips"][0]
    assert any(i.get("sandbox") == pod.path and i["name"] == "eth0" for i in result["interfaces"])
    assert answer[client.REQUESTED_RESULT_KEY]["cniVersion"] == "0.3.1"
    assert not any(k.lower() == "result" and k != "Result" for k in answer)  # Go matches keys case-insensitively

    status, headers, body = go_post(daemon, "/cni", {"env": {**env, "CNI_COMMAND": "CHECK"}, "config": b64(conf)})
    assert status == 400 and json.loads(body)["code"] == 1  # a 0.3.1 config cannot CHECK: a CNI error
    status, _, body = go_post(daemon, "/cni", {"env": {**env, "CNI_COMMAND": "DEL"}, "config": b64(conf)})
    assert (status, body) == (200, b"")
    assert node.links(pod) == ["lo"]


def test_upstream_format_errors(node: Node) -> None:
    daemon = node.daemon()
    conf = node.shim_conf(None, clusterNetwork="no-such-network")
    env = upstream_env("ADD")

    # a CNI error: JSON {"code","msg","details"}, which upstream's shim re-raises unchanged
    status, headers, body = go_post(daemon, "/cni", {"env": env, "config": b64(conf)})
    err = json.loads(body)
    assert status == 400 and headers["content-type"] == "application/json"
    assert set(err) == {"code", "msg", "details"} and err["code"] == 7 and "no-such-network" in err["msg"]

    # request errors: plain text, upstream's words
    cases = [
        ({"config": b64(conf)}, "could not extract the CNI command args: unexpected or missing CNI_COMMAND"),
        ({"env": {k: v for k, v in env.items() if k != "CNI_NETNS"}, "config": b64(conf)},
         "could not extract the CNI command args: missing CNI_NETNS"),
        ({"env": {**env, "CNI_ARGS": "K8S_POD_NAMESPACE=default"}, "config": b64(conf)},
         "could not extract the kubernetes runtime args: missing K8S_POD_NAME"),
    ]
    for req, text in cases:
        status, headers, body = go_post(daemon, "/cni", req)
        assert status == 400 and headers["content-type"].startswith("text/plain"), body
        assert body.decode() == text + "\n"
    status, _, body = go_post(daemon, "/cni", b"not json")
    assert status == 400 and body.startswith(b"invalid request body")
    status, _, body = go_post(daemon, "/cni", {"env": env, "config": "***"})
    assert status == 400 and b"base64" in body

    # bad stdin: the CNI error of the thin plugin (decode failure, code 6)
    status, _, body = go_post(daemon, "/cni", {"env": env, "config": base64.b64encode(b"{nope").decode()})
    assert status == 400 and json.loads(body)["code"] == 6


# ------------------------------------------------------------------------------------ configuration


def run_daemon(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DAEMON, *args], capture_output=True, text=True, timeout=60, check=False)


def test_version_flag() -> None:
    p = run_daemon("-version")
    assert p.returncode == 4 and p.stdout.startswith("multus-daemon: version:")


@pytest.mark.parametrize(("content", "message"), [
    (None, "failed to read the daemon configuration"),
    ("{nope", "failed to unmarshall the daemon configuration"),
    ('{"connectionLimit": 0}', "connectionLimit: must be greater than 0"),
    ('{"metricsPort": "9091"}', "metricsPort: expected an integer"),
    ('{"logToStderr": "yes"}', "logToStderr: expected a bool"),
    ('{"cniDir": ""}', "cniDir must not be empty"),
    ('{"allowedUIDs": [0, "root"]}', "allowedUIDs: expected an array of non-negative integers"),
    ('{"requestTimeout": 0}', "requestTimeout: must be a positive number"),
    ('{"plugins": ["no-such-multus-plugin"]}',
     "refusing to start: plugins: enabled multus plugin(s) ['no-such-multus-plugin'] are not installed"),
])
def test_bad_daemon_config_exits_1(node: Node, content: str | None, message: str) -> None:
    path = node.tmp / "daemon-config.json"
    if content is not None:
        path.write_text(content)
    p = run_daemon("-config", str(path))
    assert p.returncode == 1 and message in p.stderr, (p.returncode, p.stderr)


def test_socket_dir_keeps_other_files_and_is_private(node: Node) -> None:
    """upstream wipes socketDir at start; a mistaken directory would be lost. Ours only replaces
    its own stale socket and makes the directory 0700."""
    daemon = node.daemon(start=False)
    sock_dir = Path(daemon.socket_dir)
    sock_dir.mkdir(parents=True, mode=0o755)
    (sock_dir / "keep.txt").write_text("mine")
    daemon.start()
    try:
        assert (sock_dir / "keep.txt").read_text() == "mine"
        assert stat.S_IMODE(sock_dir.stat().st_mode) == 0o700
        assert stat.S_IMODE(os.stat(daemon.socket_path).st_mode) == 0o600
    finally:
        daemon.stop()
    daemon.start()  # the stale socket of the previous run is replaced
    daemon.stop()
    assert (sock_dir / "keep.txt").exists()


def test_socket_path_that_is_not_a_socket_is_refused(node: Node) -> None:
    daemon = node.daemon(start=False)
    Path(daemon.socket_dir).mkdir(parents=True)
    Path(daemon.socket_path).write_text("not a socket")
    path = node.tmp / "daemon-config.json"
    path.write_text(json.dumps({"socketDir": daemon.socket_dir}))
    p = run_daemon("-config", str(path))
    assert p.returncode == 3 and "is not a socket" in p.stderr, p.stderr
    assert Path(daemon.socket_path).read_text() == "not a socket"


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_time_requests_and_delegates(node: Node) -> None:
    port = free_port()
    daemon = node.daemon({"metricsPort": port})
    br = node.bridge()
    conf = node.shim_conf(daemon, delegates=[br])
    pod = node.pod()
    node.add(conf, pod)
    node.delete(conf, pod)
    bad = node.shim("ADD", node.shim_conf(daemon, delegates=[{"cniVersion": "1.0.0", "name": "x", "type": "nope"}]),
                    node.pod())
    assert bad.returncode == 1
    m = scrape(port)
    assert m[("multus_server_request_duration_seconds_count", (("command", "ADD"), ("result", "ok")))] == 1
    assert m[("multus_server_request_duration_seconds_count", (("command", "DEL"), ("result", "ok")))] == 1
    assert m[("multus_server_request_duration_seconds_count", (("command", "ADD"), ("result", "error")))] == 1
    assert m[("multus_delegate_duration_seconds_count", (("command", "ADD"), ("type", "bridge")))] == 1
    assert m[("multus_delegate_duration_seconds_count", (("command", "DEL"), ("type", "bridge")))] == 1
    # the bridge's own time is part of the ADD's
    add_sum = m[("multus_server_request_duration_seconds_sum", (("command", "ADD"), ("result", "ok")))]
    assert 0 < m[("multus_delegate_duration_seconds_sum", (("command", "ADD"), ("type", "bridge")))] < add_sum
    assert m[("multus_server_queue_wait_seconds_count", ())] == 3
    assert m[("multus_server_queue_depth", ())] == 0 and m[("multus_server_requests_in_flight", ())] == 0
    assert m[("multus_server_open_connections", ())] == 0
    assert m[("multus_server_request_total", (("code", "200"), ("handler", "/cni"), ("method", "post")))] == 2
    # the default registry: the process series, and whatever a plugin in the daemon registers there
    assert m[("process_resident_memory_bytes", ())] > 10 * 1024 * 1024


def test_no_connection_is_dropped_while_the_daemon_stops(node: Node) -> None:
    """Clients connecting while the daemon shuts down get an answer or cannot connect (the name is
    gone, or refused): a connection the daemon accepted is never closed unanswered. (The race is
    narrow: several stops, 16 clients each.)"""
    import threading

    daemon = node.daemon({"shutdownGracePeriod": 0}, start=False)
    outcomes: list[str] = []
    for _ in range(4):
        daemon.start()
        stop = threading.Event()
        served = outcomes.count("http 200")

        def hammer(stop: threading.Event = stop) -> None:
            while not stop.is_set():
                try:
                    reply = client.request(daemon.socket_path, "GET", client.HEALTH_ENDPOINT, timeout=10)
                    outcomes.append(f"http {reply.status}")
                except client.TransportError as e:
                    outcomes.append("no daemon" if e.retryable_connect else f"dropped: {e}")
                    if e.retryable_connect:
                        time.sleep(0.001)

        threads = [threading.Thread(target=hammer) for _ in range(16)]
        for t in threads:
            t.start()
        try:
            deadline = time.monotonic() + 20
            while outcomes.count("http 200") < served + 200:
                assert time.monotonic() < deadline, outcomes[-5:]
                time.sleep(0.01)
            daemon.signal(signal.SIGTERM)
            assert daemon.wait(20) == 0, daemon.logs()
            time.sleep(0.1)
        finally:
            stop.set()
            for t in threads:
                t.join(30)
    dropped = [o for o in outcomes if o.startswith("dropped")]
    assert dropped == [], dropped[:5]
    assert "no daemon" in outcomes  # the clients did run into the shutdowns
