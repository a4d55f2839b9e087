"""One request, start to end: config, logging, the verb, the lifecycle notification.

The thin ``multus`` executable and the daemon both call :func:`handle`; it holds no state of its
own, so the daemon can run many at once with one :class:`~multus.plugin.manager.Plugins`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from multus.cni.request import CniRequest
from multus.config import logs, netconf
from multus.engine import cache, readiness, runtimeconf
from multus.errors import CNIError
from multus.plugin.manager import Plugins
from multus.plugin.models import RequestContext

log = logging.getLogger("multus")


def context(req: CniRequest, plugins: Plugins | None = None, configure_logging: bool = True) -> RequestContext:
    """The request's context. A long-lived process (the daemon) configures logging once for itself
    and passes ``configure_logging=False``: reconfiguring a shared logger per request would race."""
    conf = netconf.load(req.config)
    if configure_logging:
        logs.configure(conf)
    for key, close in netconf.unknown_keys(conf):
        if close:
            log.warning("configuration key %r is unknown to multus (did you mean %r?)", key, close)
        else:
            log.debug("configuration key %r is not a multus setting (left to plugins)", key)
    if plugins is None:
        plugins = Plugins(enabled=conf.plugins, env=req.env)
    else:
        plugins.enable(conf.plugins)
    return RequestContext(request=req, conf=conf, plugins=plugins)


def handle(req: CniRequest, plugins: Plugins | None = None,
           configure_logging: bool = True) -> dict[str, Any] | None:
    """Run one CNI request in this process, as the ``multus`` executable does.

    Args:
        req: the request (:func:`multus.from_environ` builds it from the CNI environment and
            the configuration's bytes).
        plugins: the plugins to run it with; default: a :class:`~multus.Plugins` with the core
            defaults and the installed backends (entry points).
        configure_logging: set up logging from the configuration's ``logLevel``, ``logFile``
            and ``logToStderr``, as the executable does.

    Returns:
        The result to print (ADD, CHECK's and STATUS' ``None``, VERSION's versions object).

    Raises:
        CNIError: the request failed; print ``err.to_json()`` and exit 1.
    """
    ctx = context(req, plugins, configure_logging)
    start = time.monotonic()
    error: CNIError | None = None
    try:
        return dispatch(ctx)
    except CNIError as e:
        error = e
        raise
    finally:
        ctx.plugins.request_done(ctx, req.command, error, time.monotonic() - start)


def dispatch(ctx: RequestContext) -> dict[str, Any] | None:
    req, conf = ctx.request, ctx.conf
    try:
        ctx.plugins.check_enabled_installed()
    except CNIError as e:
        if req.command != "DEL":
            raise
        # a node whose configuration names a plugin it lacks must still tear its pods down
        log.error("%s: the DEL goes on without them", e.msg)
    if conf.prev_result is not None:
        from multus.cni.result import parse_result

        parse_result(conf.prev_result, conf.cni_version or None)
    if req.command == "ADD":
        from multus.engine import add

        netconf.validate(conf)
        runtimeconf.validate_k8s_args(req)
        readiness.wait(conf)
        with cache.locked(conf.cni_dir, req.container_id):
            ctx.pod = ctx.plugins.source_pod(ctx)
            if ctx.pod is not None and not ctx.pod.exists:
                return add.pod_not_found_result(ctx)
            return add.add(ctx)
    if req.command == "DEL":
        from multus.engine import delete

        with cache.locked(conf.cni_dir, req.container_id):
            delete.delete(ctx)
        return None
    if req.command == "CHECK":
        from multus.engine import check

        netconf.validate(conf)
        runtimeconf.validate_k8s_args(req)
        check.check(ctx)
        return None
    if req.command == "GC":
        from multus.engine import gc

        readiness.wait(conf)
        gc.gc(ctx)
        return None
    if req.command == "STATUS":
        from multus.engine import status

        netconf.validate(conf)
        status.status(ctx)
        return None
    raise CNIError(4, f"unknown CNI_COMMAND: {req.command}")
