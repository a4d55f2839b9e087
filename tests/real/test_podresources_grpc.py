"""multus_podresources against a real gRPC server serving the kubelet's PodResources API.

No kubelet can run here, so the server is built from the same ``api.proto`` the kubelet serves
(``v1.PodResourcesLister``), with grpcio, on a unix socket, and answers as a kubelet does.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import multus_checkpoint.source as checkpoint
import multus_podresources.source as podresources
import pytest
from multus_podresources.api import api_pb2, api_pb2_grpc

from multus.cni.request import CniRequest
from multus.config import netconf
from multus.engine import devices
from multus.engine.models import Delegate, PodInfo, RequestContext
from multus.errors import INVALID_CONFIG, IO_FAILURE, TRY_AGAIN_LATER, CNIError
from multus.plugin.manager import Plugins

SRIOV = "intel.com/intel_sriov_netdevice"
GPU = "nvidia.com/gpu"


def pod(name: str, namespace: str, containers: dict[str, dict[str, list[str]]]) -> Any:
    return api_pb2.PodResources(name=name, namespace=namespace, containers=[
        api_pb2.ContainerResources(name=cname, devices=[
            api_pb2.ContainerDevices(resource_name=res, device_ids=ids,
                                     topology=api_pb2.TopologyInfo(nodes=[api_pb2.NUMANode(ID=0)]))
            for res, ids in devs.items()], cpu_ids=[2, 3])
        for cname, devs in containers.items()])


NODE_PODS = [
    pod("coredns-5d78c9869d-x2x7q", "kube-system", {"coredns": {}}),
    pod("sriov-pod", "default", {
        "app": {SRIOV: ["0000:03:02.3", "0000:03:02.0"], GPU: ["GPU-8e0f7c2a"]},
        "sidecar": {SRIOV: ["0000:03:02.1"]},
    }),
    pod("sriov-pod", "other-ns", {"app": {SRIOV: ["0000:81:02.0"]}}),
]


class Kubelet(api_pb2_grpc.PodResourcesListerServicer):
    """What the kubelet's PodResources server answers; ``delay``/``abort`` simulate trouble."""

    def __init__(self, pods: list[Any]) -> None:
        self.pods = pods
        self.delay = 0.0
        self.abort: tuple[grpc.StatusCode, str] | None = None
        self.calls = 0

    def List(self, request: Any, context: Any) -> Any:
        self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        if self.abort is not None:
            context.abort(*self.abort)
        return api_pb2.ListPodResourcesResponse(pod_resources=self.pods)


@pytest.fixture
def sockdir() -> Iterator[Path]:
    # unix socket paths are limited to 107 bytes: pytest's tmp_path can be longer
    d = Path(tempfile.mkdtemp(prefix="podres-", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def kubelet(sockdir: Path) -> Iterator[tuple[Kubelet, Path]]:
    path = sockdir / "kubelet.sock"
    servicer = Kubelet(list(NODE_PODS))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    api_pb2_grpc.add_PodResourcesListerServicer_to_server(servicer, server)
    assert server.add_insecure_port(f"unix:{path}") != 0
    server.start()
    yield servicer, path
    server.stop(grace=None)


def make_ctx(socket_path: Path | str, timeout: float | None = 5.0, name: str = "sriov-pod",
             namespace: str = "default", pod_obj: bool = False, extra: dict[str, Any] | None = None,
             plugins: Plugins | None = None) -> RequestContext:
    args = [("K8S_POD_UID", "970a395d-bb3b-11e8-89df-408d5c537d23")]
    if name:
        args.append(("K8S_POD_NAME", name))
    if namespace:
        args.append(("K8S_POD_NAMESPACE", namespace))
    req = CniRequest(command="ADD", container_id="c0ffee", netns="/var/run/netns/x", ifname="eth0",
                     args=tuple(args))
    raw: dict[str, Any] = {"cniVersion": "1.0.0", "name": "multus-cni-network", "type": "multus",
                           "clusterNetwork": "cbr0", "podResourcesSocket": str(socket_path)}
    if timeout is not None:
        raw["podResourcesTimeout"] = timeout
    raw.update(extra or {})
    if plugins is None:
        plugins = Plugins(entry_points=False)
        plugins.register(podresources, name="podresources")
    return RequestContext(request=req, conf=netconf.load(raw), plugins=plugins,
                          pod=PodInfo(namespace=namespace, name=name, source="api") if pod_obj else None)


def answer(ctx: RequestContext) -> dict[str, list[str]] | None:
    return podresources.multus_source_resource_map(ctx=ctx)


def error(ctx: RequestContext) -> CNIError:
    with pytest.raises(CNIError) as e:
        answer(ctx)
    return e.value


# --- answers --------------------------------------------------------------------------------

def test_list_matches_name_and_namespace(kubelet: tuple[Kubelet, Path]) -> None:
    servicer, path = kubelet
    assert answer(make_ctx(path)) == {SRIOV: ["0000:03:02.3", "0000:03:02.0", "0000:03:02.1"],
                                      GPU: ["GPU-8e0f7c2a"]}
    assert answer(make_ctx(path, namespace="other-ns", pod_obj=True)) == {SRIOV: ["0000:81:02.0"]}
    assert answer(make_ctx(path, name="coredns-5d78c9869d-x2x7q", namespace="kube-system")) == {}
    assert servicer.calls == 3


def test_pod_not_listed_is_an_empty_answer(kubelet: tuple[Kubelet, Path]) -> None:
    _, path = kubelet
    ctx = make_ctx(path, name="gone")
    assert answer(ctx) == {}


def test_engine_assigns_sorted_ids(kubelet: tuple[Kubelet, Path]) -> None:
    _, path = kubelet
    ctx = make_ctx(path)
    ds = [Delegate(config={"cniVersion": "1.0.0", "name": f"n{i}", "type": "sriov"}, name=f"default/n{i}",
                   ifname=f"net{i}", resource_name=SRIOV) for i in range(1, 5)]
    out = devices.assign(ctx, ds)
    assert [d.device_id for d in out] == ["0000:03:02.0", "0000:03:02.1", "0000:03:02.3", ""]
    assert out[0].config["pciBusID"] == "0000:03:02.0"


def test_large_answer_within_16_mib(kubelet: tuple[Kubelet, Path]) -> None:
    servicer, path = kubelet
    ids = [f"0000:{i // 65536:02x}:{(i // 256) % 256:02x}.{i % 256:x}-{'x' * 40}" for i in range(120_000)]
    servicer.pods = [pod("big", "default", {"app": {SRIOV: ids}})]  # ~7 MiB, above grpc's 4 MiB default
    got = answer(make_ctx(path, name="big", timeout=30))
    assert got is not None and len(got[SRIOV]) == len(ids)


def test_answer_above_16_mib_is_an_error(kubelet: tuple[Kubelet, Path]) -> None:
    servicer, path = kubelet
    ids = [f"{i:08d}-{'y' * 100}" for i in range(170_000)]  # ~18 MiB
    servicer.pods = [pod("huge", "default", {"app": {SRIOV: ids}})]
    e = error(make_ctx(path, name="huge", timeout=30))
    assert e.code == IO_FAILURE and "RESOURCE_EXHAUSTED" in e.msg and str(path) in e.msg


# --- not asked ------------------------------------------------------------------------------

def test_socket_absent_is_unknown(sockdir: Path) -> None:
    ctx = make_ctx(sockdir / "missing.sock")
    assert answer(ctx) is None
    assert ctx.plugins.source_resource_map(ctx) == {}


def test_pod_identity_unknown(kubelet: tuple[Kubelet, Path]) -> None:
    servicer, path = kubelet
    assert answer(make_ctx(path, name="", namespace="")) is None
    assert answer(make_ctx(path, namespace="")) is None
    assert servicer.calls == 0


# --- failures -------------------------------------------------------------------------------

def test_socket_that_accepts_and_never_answers(sockdir: Path) -> None:
    path = sockdir / "hung.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            accepted.append(conn)  # read nothing, answer nothing

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        start = time.monotonic()
        e = error(make_ctx(path, timeout=0.5))
        elapsed = time.monotonic() - start
    finally:
        stop.set()
        t.join()
        for c in accepted:
            c.close()
        listener.close()
    assert accepted, "the client never connected"
    assert e.code == TRY_AGAIN_LATER
    assert str(path) in e.msg and "0.5s" in e.msg and "podResourcesTimeout" in e.msg
    assert 0.4 < elapsed < 3.0


def test_server_that_never_answers_the_call(kubelet: tuple[Kubelet, Path]) -> None:
    servicer, path = kubelet
    servicer.delay = 3.0
    start = time.monotonic()
    e = error(make_ctx(path, timeout=0.5))
    assert time.monotonic() - start < 2.5
    assert e.code == TRY_AGAIN_LATER and "DEADLINE_EXCEEDED" in e.msg and "0.5s" in e.msg
    assert str(path) in e.msg


def test_stale_socket_fails_fast(sockdir: Path) -> None:
    path = sockdir / "stale.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.close()  # the file stays, nobody listens: a kubelet that died
    start = time.monotonic()
    e = error(make_ctx(path, timeout=5))
    assert time.monotonic() - start < 4
    assert e.code == TRY_AGAIN_LATER and "cannot connect" in e.msg and str(path) in e.msg


def test_server_error_is_io_failure(kubelet: tuple[Kubelet, Path]) -> None:
    servicer, path = kubelet
    servicer.abort = (grpc.StatusCode.PERMISSION_DENIED, "not allowed")
    e = error(make_ctx(path))
    assert e.code == IO_FAILURE and "PERMISSION_DENIED: not allowed" in e.msg
    servicer.abort = (grpc.StatusCode.UNAVAILABLE, "shutting down")
    assert error(make_ctx(path)).code == TRY_AGAIN_LATER
    servicer.abort = (grpc.StatusCode.RESOURCE_EXHAUSTED, "rejected by rate limit")
    assert error(make_ctx(path)).code == TRY_AGAIN_LATER


def test_not_a_socket(sockdir: Path) -> None:
    path = sockdir / "plain-file"
    path.write_text("")
    e = error(make_ctx(path))
    assert e.code == IO_FAILURE and "not a unix socket" in e.msg


@pytest.mark.parametrize("value", [0, -1, "10", True, None])
def test_bad_timeout_setting(kubelet: tuple[Kubelet, Path], value: Any) -> None:
    _, path = kubelet
    ctx = make_ctx(path, timeout=None, extra={"podResourcesTimeout": value})
    e = error(ctx)
    assert e.code == INVALID_CONFIG and "podResourcesTimeout" in e.msg


def test_default_settings() -> None:
    ctx = make_ctx("x", timeout=None)
    ctx.conf = netconf.load({"cniVersion": "1.0.0", "name": "m", "type": "multus"})
    assert podresources.socket_path(ctx) == "/var/lib/kubelet/pod-resources/kubelet.sock"
    assert podresources.timeout(ctx) == 10.0


# --- entry points ---------------------------------------------------------------------------

CHECKPOINT = ('{"Data":{"PodDeviceEntries":[{"PodUID":"970a395d-bb3b-11e8-89df-408d5c537d23",'
              '"ContainerName":"app","ResourceName":"intel.com/intel_sriov_netdevice",'
              '"DeviceIDs":{"0":["0000:03:02.6"]},"AllocResp":""}],"RegisteredDevices":{}},"Checksum":1}')


def test_entry_points_checkpoint_without_socket_grpc_with_it(sockdir: Path) -> None:
    cp = sockdir / "kubelet_internal_checkpoint"
    cp.write_text(CHECKPOINT)
    path = sockdir / "kubelet.sock"

    plugins = Plugins(env={})
    ctx = make_ctx(path, plugins=plugins, extra={"kubeletCheckpoint": str(cp)})
    assert plugins.source_resource_map(ctx) == {SRIOV: ["0000:03:02.6"]}
    names = {plugins.pm.get_name(p) for p in plugins.pm.get_plugins()}
    assert {"multus.source:podresources", "multus.source:checkpoint"} <= names
    assert plugins.pm.get_plugin("multus.source:podresources") is podresources
    assert plugins.pm.get_plugin("multus.source:checkpoint") is checkpoint

    servicer = Kubelet(list(NODE_PODS))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    api_pb2_grpc.add_PodResourcesListerServicer_to_server(servicer, server)
    server.add_insecure_port(f"unix:{path}")
    server.start()
    try:
        ctx = make_ctx(path, plugins=plugins, extra={"kubeletCheckpoint": str(cp)})
        assert plugins.source_resource_map(ctx) == {SRIOV: ["0000:03:02.3", "0000:03:02.0", "0000:03:02.1"],
                                                   GPU: ["GPU-8e0f7c2a"]}
        assert servicer.calls == 1
        # the kubelet is authoritative when its socket is there: a pod it does not list has no devices
        ctx = make_ctx(path, name="gone", plugins=plugins, extra={"kubeletCheckpoint": str(cp)})
        assert plugins.source_resource_map(ctx) == {}
    finally:
        server.stop(grace=None)


def test_plugin_modules_do_not_import_grpc() -> None:
    import subprocess
    import sys

    code = ("import sys, multus_podresources.source, multus_checkpoint.source, multus.engine.devices; "
            "print('grpc' in sys.modules, 'google.protobuf' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
