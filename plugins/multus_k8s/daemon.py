"""The Kubernetes backend inside ``multus-daemon``: informers, the background writer, metrics.

``multus_lifecycle_daemon_started``
    When the daemon configuration (``kubeconfig``) or the daemon's environment
    (``KUBERNETES_SERVICE_HOST``/``KUBERNETES_SERVICE_PORT`` and the service-account files, as
    upstream's daemon) gives an API server: the shared client of that server, with its pod
    informer (``spec.nodeName=$MULTUS_NODE_NAME``) and NAD informer (:mod:`multus_k8s.informer`)
    attached, so that requests find pods and NADs without reading the API; the writer
    (:mod:`multus_k8s.writer`) for network-status and events; the metrics
    (:mod:`multus_k8s.metrics`). It waits up to ``informerSyncTimeout`` seconds (default 20, as
    upstream) for each cache's first list; a cache not synced by then is not used until it is.
``multus_lifecycle_request_done``
    After a DEL: the container's network-status writes still queued are dropped
    (:meth:`~multus_k8s.writer.Writer.cancel`).
``multus_lifecycle_daemon_stopping``
    Flushes the writer (at most ``kubeWriteFlushTimeout`` seconds, default 10), then stops the
    informers.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from multus import hookimpl, load_netconf, seconds_setting
from multus_k8s import client as kube

if TYPE_CHECKING:
    from multus import CNIError, DaemonContext, RequestContext

log = logging.getLogger("multus.k8s")

INFORMERS_KEY = "multus_k8s.informers"


@hookimpl
def multus_lifecycle_daemon_started(daemon: DaemonContext) -> None:
    # imported here: the thin plugin loads this module for its request hook only
    from multus_k8s import metrics
    from multus_k8s import writer as writes
    from multus_k8s.informer import NODE_ENV, SYNC_TIMEOUT, Informers
    from multus_k8s.transport import KUBERNETES

    plugins, env = daemon.plugins, daemon.env
    plugins.state[kube.IMPLEMENTATION_KEY] = KUBERNETES  # its informers watch through the kubernetes package
    conf = load_netconf(dict(daemon.config))
    writer = writes.Writer(flush_timeout=seconds_setting(conf, "kubeWriteFlushTimeout", writes.FLUSH_TIMEOUT))
    writer.start()
    plugins.state[writes.STATE_KEY] = writer
    if not kube.configured(conf, env):
        log.info("no Kubernetes API configured (no kubeconfig, no in-cluster environment): no informers")
        metrics.register(None, writer)
        return
    sync_timeout = seconds_setting(conf, "informerSyncTimeout", SYNC_TIMEOUT)
    client = kube.shared_client(plugins.state, conf, env)
    node = env.get(NODE_ENV, "")
    if not node:
        log.warning("%s is not set: the pod informer caches the pods of every node", NODE_ENV)
    informers = Informers(client, node)
    client.informers = informers
    plugins.state[INFORMERS_KEY] = informers
    metrics.register(informers, writer)
    informers.start()
    if informers.wait_synced(sync_timeout):
        log.info("informers synced: %d pods%s, %d network-attachment-definitions", len(informers.pods),
                 f" on node {node}" if node else "", len(informers.nads))


@hookimpl
def multus_lifecycle_request_done(ctx: RequestContext, command: str, error: CNIError | None,
                                  seconds: float) -> None:
    if command != "DEL":
        return
    writer = kube.background_writer(ctx.plugins.state)
    if writer is not None:
        pod = (ctx.request.arg("K8S_POD_NAMESPACE"), ctx.request.arg("K8S_POD_NAME"))
        writer.cancel(pod, ctx.request.container_id)


@hookimpl
def multus_lifecycle_daemon_stopping(daemon: DaemonContext) -> None:
    from multus_k8s import metrics
    from multus_k8s import writer as writes
    from multus_k8s.informer import Informers

    plugins = daemon.plugins
    writer = plugins.state.pop(writes.STATE_KEY, None)
    informers = plugins.state.pop(INFORMERS_KEY, None)
    if isinstance(writer, writes.Writer):
        writer.close()
    if isinstance(informers, Informers):
        informers.stop()
        informers.client.informers = None
    metrics.unregister(informers if isinstance(informers, Informers) else None,
                       writer if isinstance(writer, writes.Writer) else None)

