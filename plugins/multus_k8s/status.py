"""Lifecycle hooks of the Kubernetes backend: the AddedInterface events and network-status.

``multus_lifecycle_delegate_added``
    One ``Normal`` event ``AddedInterface`` per delegate whose result has interfaces or
    addresses, with upstream's message ``Add <ifname> [<ip/prefix> ...] from <network name>``
    (Go's ``%v`` of a string slice: the addresses space-separated in brackets; without
    `` from ...`` when the delegate has no name). Best effort: a failure is logged, the ADD
    goes on (upstream's event recorder is asynchronous and never fails an ADD either).
``multus_lifecycle_pod_added``
    The ``k8s.v1.cni.cncf.io/network-status`` annotation (:mod:`multus.engine.netstatus`)
    written with ONE JSON merge patch of ``pods/<name>/status`` (no read-modify-write, so no
    conflict to retry; 409 is retried anyway). The patch carries the pod's UID, so a pod
    replaced under the same name is not touched. Skipped without a Kubernetes API, without a
    Pod object, and for pods whose namespace is in ``systemNamespaces`` (upstream compared the
    pod *name* with that list, so it wrote the annotation for kube-system pods too). A pod
    deleted or replaced meanwhile is tolerated; any other failure fails the ADD
    (``error setting the networks status: ...``), which rolls the delegates back.

In the daemon both are queued for its background writer (:mod:`multus_k8s.writer`) instead:
the ADD answers without waiting for them, and a failure to write is retried, then logged.
"""

from __future__ import annotations

import logging

from multus import (
    NETWORK_STATUS_ANNOTATION,
    Attachment,
    CNIError,
    RequestContext,
    hookimpl,
)
from multus_k8s import client as kube
from multus_k8s.source import emit_event, from_api

log = logging.getLogger("multus.k8s")


def added_interface_message(attachment: Attachment) -> str | None:
    """upstream's AddedInterface message, or ``None`` when the result is empty (no event)."""
    from multus import Result100

    try:
        res = attachment.parsed_result.convert("1.0.0")
    except CNIError as e:
        log.warning("AddedInterface: cannot read the result of %s: %s", attachment.delegate.name, e.msg)
        return None
    if not isinstance(res, Result100):
        log.warning("AddedInterface: the result of %s is not CNI 1.0.0 after conversion", attachment.delegate.name)
        return None
    if not res.interfaces and not res.ips:
        return None
    ips = " ".join(ip.address for ip in res.ips)
    msg = f"Add {attachment.delegate.ifname} [{ips}]"
    if attachment.delegate.name:
        msg += f" from {attachment.delegate.name}"
    return msg


@hookimpl
def multus_lifecycle_delegate_added(ctx: RequestContext, attachment: Attachment) -> None:
    if not from_api(ctx.pod) or kube.client_for(ctx) is None:
        return
    msg = added_interface_message(attachment)
    if msg is not None:
        emit_event(ctx, "Normal", "AddedInterface", msg)


@hookimpl
def multus_lifecycle_pod_added(ctx: RequestContext, attachments: list[Attachment]) -> None:
    pod = ctx.pod
    if pod is None or not from_api(pod):
        return
    client = kube.client_for(ctx)
    if client is None:
        return
    if pod.namespace in ctx.conf.system_namespaces:
        log.debug("pod %s/%s is in a system namespace: no network-status", pod.namespace, pod.name)
        return
    try:
        from multus import network_status, serialize_network_status  # ADD only: not on every DEL

        entries = network_status(attachments)
    except CNIError as e:
        raise CNIError(e.code, f"error setting network status: {e.msg}", e.details) from None
    if not entries:
        return
    value = serialize_network_status(entries)

    def write(budget: float | None = None) -> None:
        try:
            written = client.patch_pod_status_annotation(pod.namespace, pod.name, NETWORK_STATUS_ANNOTATION,
                                                         value, uid=pod.uid, budget=budget)
        except CNIError as e:
            raise CNIError(e.code, f"error setting the networks status: {e.msg}", e.details) from None
        if not written:
            log.info("network-status of pod %s/%s not written: the pod was deleted meanwhile",
                     pod.namespace, pod.name)

    queue = kube.background_writer(ctx.plugins.state)
    if queue is None:
        write()
    else:
        from multus_k8s import writer

        queue.submit(writer.Write((pod.namespace, pod.name), ctx.request.container_id, writer.STATUS,
                                  f"the network-status of pod {pod.namespace}/{pod.name}", write))
