"""The core's own hook implementations, registered by module path with ``trylast`` so that any
plugin can override them."""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

from multus.plugin.hookspec import hookimpl
from multus.plugin.models import Attachment, Delegate, RequestContext

if TYPE_CHECKING:
    from multus.cni import libcni

log = logging.getLogger("multus")


@hookimpl(trylast=True)
def multus_source_delegates(ctx: RequestContext) -> list[Delegate]:
    from multus.engine import plan

    return plan.plan(ctx)


@hookimpl(trylast=True)
def multus_delegate_invoke(ctx: RequestContext, delegate: Delegate, command: str,
                           attachments: list[dict[str, str]]) -> dict[str, Any]:
    """Exec the delegate's plugins as libcni does."""
    from multus.cni import libcni

    req, conf = ctx.request, ctx.conf
    net = libcni.Network.from_config(delegate.config)
    bin_dirs = list(dict.fromkeys([*conf.bin_dirs, *req.path]))  # the search path, each directory once
    rt = libcni.RuntimeConf(container_id=req.container_id, netns=req.netns, ifname=delegate.ifname,
                            args=delegate.cni_args, capability_args=delegate.runtime_config,
                            cache_dir=conf.cni_dir)
    if log.isEnabledFor(logging.DEBUG):
        log.debug("%s %s (%s, ifname %s): plugin %s from %s, config %s", command, delegate.name, delegate.cni_name,
                  delegate.ifname, delegate.plugin_type, bin_dirs, json.dumps(delegate.config, sort_keys=True))
    start = time.monotonic()
    try:
        return _invoke(net, rt, command, attachments, bin_dirs, ctx)
    finally:
        log.debug("%s %s (plugin %s) took %.3f s", command, delegate.name, delegate.plugin_type,
                  time.monotonic() - start)


def _invoke(net: libcni.Network, rt: libcni.RuntimeConf, command: str, attachments: list[dict[str, str]], bin_dirs: list[str],
            ctx: RequestContext) -> dict[str, Any]:
    from multus.cni import libcni

    req, conf = ctx.request, ctx.conf
    timeout = conf.delegate_timeout
    if command == "ADD":
        return libcni.add_network(net, rt, bin_dirs, req.env, timeout)
    if command == "DEL":
        libcni.del_network(net, rt, bin_dirs, req.env, timeout)
    elif command == "CHECK":
        libcni.check_network(net, rt, bin_dirs, req.env, timeout)
    elif command == "GC":
        libcni.gc_network(net, attachments, bin_dirs, req.env, conf.cni_dir, timeout)
    elif command == "STATUS":
        libcni.status_network(net, bin_dirs, req.env, timeout)
    return {}


@hookimpl(trylast=True)
def multus_result_merge(ctx: RequestContext, attachments: list[Attachment]) -> dict[str, Any]:
    """The cluster network's result, converted to the Multus config's cniVersion (upstream's thin
    plugin returns it in the delegate's version, which breaks runtimes expecting their own)."""
    to = ctx.conf.cni_version
    master = next((a for a in attachments if a.delegate.master), attachments[0] if attachments else None)
    if master is not None and master.result and (not to or master.result.get("cniVersion") == to):
        return master.result  # already in the right version: no need to load the result types

    from multus.cni import result as cni_result

    if master is None or not master.result:
        return cni_result.empty_result(to or "1.0.0")
    return cni_result.convert_result(master.parsed_result, to)
