"""The hook specification: every extension point of multus, in one module.

Hooks come in four families, each discoverable through an entry-point group of the same name:

=================  ========================  ============================================
family             entry-point group         what its hooks decide
=================  ========================  ============================================
source             ``multus.source``         where the pod and its networks come from
delegate           ``multus.delegate``       how one network is invoked
result             ``multus.result``         what goes back to the runtime
lifecycle          ``multus.lifecycle``      who is told when networks come and go
=================  ========================  ============================================

Lookup hooks are ``firstresult``: an implementation answers, or returns ``None`` to say "not
mine, ask the next one", or raises :class:`multus.CNIError` to reject the request. The
core's own implementations (:mod:`multus.engine.defaults`) are registered with ``trylast`` so
that any plugin can override them. Plugins must call hooks only through
:class:`multus.Plugins` (``ctx.plugins``), never ``pm.hook`` directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from multus.errors import CNIError
    from multus.plugin.models import (
        Attachment,
        DaemonContext,
        Delegate,
        NetworkConfig,
        NetworkRef,
        PodInfo,
        RequestContext,
    )

PROJECT = "multus"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
"""The marker of hook implementations: ``@multus.hookimpl`` on a function or method named
after a hook (``multus_source_network`` …), optionally ``@multus.hookimpl(tryfirst=True)``,
``trylast=True`` or ``wrapper=True`` (pluggy's options)."""

FAMILIES = ("source", "delegate", "result", "lifecycle")
"""The hook families; a backend's entry points are in the groups ``multus.<family>``."""


# --- source ----------------------------------------------------------------------------------

@hookspec(firstresult=True)
def multus_source_pod(ctx: RequestContext) -> PodInfo | None:
    """Find the pod the request is for (its identity comes from ``CNI_ARGS``).

    Called once per ADD (and per DEL that has no cache) before networks are resolved. The
    Kubernetes backend reads the Pod object; the local backend falls back to the annotations the
    runtime passed in ``runtimeConfig["io.kubernetes.cri.pod-annotations"]``.

    :return: a :class:`~multus.plugin.models.PodInfo`; ``PodInfo(exists=False)`` when the API
        says the pod is gone; ``None`` when this source knows nothing.

    Semantics: first result. Since 0.1.
    """


@hookspec(firstresult=True)
def multus_source_network(ctx: RequestContext, ref: NetworkRef) -> NetworkConfig | None:
    """Resolve one network reference into a delegate configuration.

    ``ref.purpose`` says why (``cluster``, ``default``, ``annotation``, ``default-network``,
    ``auxiliary``): a backend may fall back differently per purpose, e.g. the Kubernetes backend
    returns ``None`` for a missing NetworkAttachmentDefinition named by ``clusterNetwork`` so that
    a file in ``confDir`` is tried next, but raises for one named by the pod annotation.

    An answer whose ``config`` is empty means "known here, but configured by the file of that name
    in ``confDir``" (a NetworkAttachmentDefinition with an empty spec): the engine asks again with
    ``ref.conf_dir_only`` set and keeps this answer's ``name`` and ``resource_name``.

    :return: the :class:`~multus.plugin.models.NetworkConfig`, or ``None`` for "unknown here".

    Semantics: first result; raise :class:`~multus.CNIError` to reject. Since 0.1.
    """


@hookspec(firstresult=True)
def multus_source_delegates(ctx: RequestContext) -> list[Delegate] | None:
    """Decide the whole, ordered list of delegates for an ADD.

    The core's implementation follows upstream Multus: the cluster network (``delegates[0]``,
    ``clusterNetwork`` or the pod's ``v1.multus-cni.io/default-network``), then the remaining
    static delegates or ``defaultNetworks``, then the networks of the pod annotation, then the
    auxiliary chain. It resolves names through :func:`multus_source_network`. Override it to
    build a meta-plugin with another policy.

    Semantics: first result. Since 0.1.
    """


@hookspec(firstresult=True)
def multus_source_resource_map(ctx: RequestContext) -> dict[str, list[str]] | None:
    """Device IDs the kubelet allocated to the pod, by resource name.

    Asked at most once per request, when the first network carrying the
    ``k8s.v1.cni.cncf.io/resourceName`` annotation is resolved. The PodResources backend answers
    when the kubelet socket exists; the checkpoint backend answers otherwise.

    Semantics: first result. Since 0.1.
    """


# --- delegate --------------------------------------------------------------------------------

@hookspec(firstresult=True)
def multus_delegate_invoke(ctx: RequestContext, delegate: Delegate, command: str,
                           attachments: list[dict[str, str]]) -> dict[str, Any] | None:
    """Run ``command`` (ADD, DEL, CHECK, STATUS or GC) for one delegate.

    The core's implementation execs the delegate's plugin binaries as libcni does (conflists as
    chains, results cached in ``<cniDir>/results``). A plugin may run a network in-process or
    elsewhere; wrapper implementations (``@hookimpl(wrapper=True)``) can time, retry or trace.
    ``attachments`` is only used by GC: the ``{"containerID", "ifname"}`` pairs still valid.

    :return: the delegate's result for ADD (raw dict in its own cniVersion); ``{}`` for other
        commands; ``None`` means "not mine".

    Semantics: first result. Since 0.1.
    """


# --- result ----------------------------------------------------------------------------------

@hookspec(firstresult=True)
def multus_result_merge(ctx: RequestContext, attachments: list[Attachment]) -> dict[str, Any] | None:
    """Turn the delegates' results into the one result returned to the runtime.

    The core's implementation returns the cluster network's result converted to the Multus
    config's ``cniVersion``.

    Semantics: first result. Since 0.1.
    """


# --- lifecycle -------------------------------------------------------------------------------

@hookspec
def multus_lifecycle_delegate_added(ctx: RequestContext, attachment: Attachment) -> None:
    """One delegate was added. Raising fails the ADD, which then rolls every delegate back.

    Semantics: all implementations are called. Since 0.1.
    """


@hookspec
def multus_lifecycle_pod_added(ctx: RequestContext, attachments: list[Attachment]) -> None:
    """Every delegate of an ADD succeeded; the result is about to go back to the runtime.

    The Kubernetes backend writes the ``k8s.v1.cni.cncf.io/network-status`` annotation here.
    Raising fails the ADD, which then rolls every delegate back.

    Semantics: all implementations are called. Since 0.1.
    """


@hookspec
def multus_lifecycle_delegate_deleted(ctx: RequestContext, delegate: Delegate, error: CNIError | None) -> None:
    """One delegate was deleted (``error`` is set when its DEL failed). Must not raise.

    Semantics: all implementations are called. Since 0.1.
    """


@hookspec
def multus_lifecycle_request_done(ctx: RequestContext, command: str, error: CNIError | None,
                                  seconds: float) -> None:
    """A request finished, successfully or not: for metrics and logs. Must not raise.

    Semantics: all implementations are called; exceptions are logged and ignored. Since 0.1.
    """


@hookspec
def multus_lifecycle_daemon_started(daemon: DaemonContext) -> None:
    """The daemon is starting: every plugin family is loaded, the socket is not listened on yet.

    Only ``multus-daemon`` calls it, once, never the thin plugin. ``daemon.config`` is the daemon
    configuration file's object (also laid over every request's configuration), ``daemon.env``
    the daemon's environment. Long-lived work (watches, caches, background writers) starts here
    and is kept in ``daemon.plugins.state``, where request hooks find it. The Kubernetes backend starts its
    pod and NetworkAttachmentDefinition informers and waits (bounded) for their first list.
    Raising :class:`~multus.CNIError` makes the daemon refuse to start (exit 1).

    Semantics: all implementations are called. Since 0.2.
    """


@hookspec
def multus_lifecycle_daemon_stopping(daemon: DaemonContext) -> None:
    """The daemon stopped serving; stop what was started and flush what is pending.

    Called after the shutdown grace period, once every request in flight has finished. The
    Kubernetes backend writes its queued network-status and events, then stops its informers.
    Must not raise.

    Semantics: all implementations are called; exceptions are logged and ignored. Since 0.2.
    """
