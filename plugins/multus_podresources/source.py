"""The kubelet's PodResources API as a ``multus_source_resource_map`` backend.

The kubelet serves ``v1.PodResourcesLister`` on a unix socket; ``List`` returns every pod of the
node with, per container, the devices each device plugin allocated. The pod is matched by name
and namespace, as upstream does, and every container's ``devices[].resourceName -> deviceIds``
is gathered into one map. The socket is asked only if it exists; otherwise this backend says
"unknown" and the next one (the kubelet checkpoint) answers.

Settings, from the multus configuration:

``podResourcesSocket``
    the socket, default ``/var/lib/kubelet/pod-resources/kubelet.sock``.
``podResourcesTimeout``
    seconds, default 10, applied separately to connecting and to the ``List`` call (upstream's
    10 s dial + 10 s call).

Errors: a kubelet that cannot be reached, does not answer in time or says UNAVAILABLE gives
code 11 (try again later); anything else the socket or the API does wrong gives code 5.

``grpc`` and the generated stubs are imported inside :func:`list_pod_resources` only: this
module is imported on every ADD that resolves a resource, most of which find no socket.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from typing import TYPE_CHECKING, Any

from multus import IO_FAILURE, TRY_AGAIN_LATER, CNIError, hookimpl, path_setting, seconds_setting

if TYPE_CHECKING:
    from multus import RequestContext

log = logging.getLogger("multus.podresources")

SOCKET_KEY = "podResourcesSocket"
TIMEOUT_KEY = "podResourcesTimeout"
DEFAULT_SOCKET = "/var/lib/kubelet/pod-resources/kubelet.sock"
DEFAULT_TIMEOUT = 10.0
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
"""Largest message accepted, 16 MiB as upstream (grpc's default, 4 MiB, is too small for big nodes)."""

_RETRIABLE = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED", "ABORTED"})


@hookimpl(tryfirst=True)
def multus_source_resource_map(ctx: RequestContext) -> dict[str, list[str]] | None:
    path = socket_path(ctx)
    name, namespace = pod_identity(ctx)
    if not name or not namespace:
        log.debug("pod name or namespace unknown: PodResources not asked")
        return None
    try:
        st = os.stat(path)
    except FileNotFoundError:
        log.debug("no kubelet PodResources socket at %s", path)
        return None
    except OSError as e:
        raise CNIError(IO_FAILURE, f"kubelet PodResources socket {path}: {e.strerror or e}") from None
    if not stat.S_ISSOCK(st.st_mode):
        raise CNIError(IO_FAILURE, f"kubelet PodResources socket {path}: exists but is not a unix socket "
                       f"(setting {SOCKET_KEY})")
    response = list_pod_resources(path, timeout(ctx))
    found, out = resource_map(response, name, namespace)
    if not found:
        log.debug("kubelet PodResources at %s lists no pod %s/%s", path, namespace, name)
    return out


# --- settings and identity ------------------------------------------------------------------

def socket_path(ctx: RequestContext) -> str:
    return path_setting(ctx.conf, SOCKET_KEY, DEFAULT_SOCKET)


def timeout(ctx: RequestContext) -> float:
    return seconds_setting(ctx.conf, TIMEOUT_KEY, DEFAULT_TIMEOUT)


def pod_identity(ctx: RequestContext) -> tuple[str, str]:
    """``(name, namespace)``: the pod's, else ``K8S_POD_NAME`` / ``K8S_POD_NAMESPACE``."""
    pod = ctx.pod
    name = (pod.name if pod is not None else "") or ctx.request.arg("K8S_POD_NAME")
    namespace = (pod.namespace if pod is not None else "") or ctx.request.arg("K8S_POD_NAMESPACE")
    return name, namespace


# --- the API --------------------------------------------------------------------------------

def resource_map(response: Any, name: str, namespace: str) -> tuple[bool, dict[str, list[str]]]:
    """``(pod found, resource -> device IDs)`` from a ``ListPodResourcesResponse``.

    IDs are in the kubelet's order, every container's appended; the engine sorts them.
    """
    found = False
    out: dict[str, list[str]] = {}
    for pod in response.pod_resources:
        if pod.name != name or pod.namespace != namespace:
            continue
        found = True
        for container in pod.containers:
            for dev in container.devices:
                out.setdefault(dev.resource_name, []).extend(dev.device_ids)
    return found, out


def list_pod_resources(path: str, seconds: float) -> Any:
    """Call ``v1.PodResourcesLister/List`` on the unix socket ``path``.

    Connecting and calling are each bounded by ``seconds``. A socket nobody listens on fails at
    once (code 11) instead of waiting the whole timeout.
    """
    import grpc  # type: ignore[import-untyped,unused-ignore]

    from multus_podresources.api import api_pb2, api_pb2_grpc

    target = f"unix:{path}"
    options = [("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
               ("grpc.max_send_message_length", MAX_MESSAGE_BYTES)]
    channel = grpc.insecure_channel(target, options=options)
    try:
        _connect(grpc, channel, path, seconds)
        stub = api_pb2_grpc.PodResourcesListerStub(channel)  # type: ignore[no-untyped-call,unused-ignore]
        try:
            return stub.List(api_pb2.ListPodResourcesRequest(), timeout=seconds)
        except grpc.RpcError as e:
            raise _call_error(e, path, seconds) from None
    finally:
        channel.close()


def _connect(grpc: Any, channel: Any, path: str, seconds: float) -> None:
    """Wait until the channel is READY, fails, or ``seconds`` pass."""
    conn = grpc.ChannelConnectivity
    final = (conn.READY, conn.TRANSIENT_FAILURE, conn.SHUTDOWN)
    states: list[Any] = []
    done = threading.Event()

    def changed(state: Any) -> None:
        if state in final:
            states.append(state)
            done.set()

    channel.subscribe(changed, try_to_connect=True)
    try:
        if not done.wait(seconds):
            raise CNIError(TRY_AGAIN_LATER,
                           f"kubelet PodResources API at {path}: no gRPC connection within {seconds:g}s "
                           f"({TIMEOUT_KEY}): the socket does not answer")
    finally:
        channel.unsubscribe(changed)
    if states[0] != conn.READY:
        raise CNIError(TRY_AGAIN_LATER, f"kubelet PodResources API at {path}: cannot connect "
                       "(connection refused or failed): is the kubelet listening on it?")


def _call_error(e: Any, path: str, seconds: float) -> CNIError:
    code = e.code() if callable(getattr(e, "code", None)) else None
    details = e.details() if callable(getattr(e, "details", None)) else str(e)
    code_name = getattr(code, "name", "UNKNOWN")
    what = f"kubelet PodResources List at {path} failed: {code_name}: {details}"
    if code_name == "DEADLINE_EXCEEDED":
        return CNIError(TRY_AGAIN_LATER, f"{what} (no answer within {seconds:g}s, {TIMEOUT_KEY})")
    if code_name in _RETRIABLE:
        return CNIError(TRY_AGAIN_LATER, what)
    if code_name == "RESOURCE_EXHAUSTED" and "larger than max" not in str(details):
        return CNIError(TRY_AGAIN_LATER, what)  # the kubelet's rate limit
    return CNIError(IO_FAILURE, what)
