"""ADD (§7): attach every planned network, or none.

The cache is written before the first delegate runs, so that a DEL after a crash finds every
delegate. Any failure, including one after all delegates succeeded (a status write, a gateway
change), rolls back every delegate already added, the failing one included, in reverse order.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from multus.engine import cache, netns
from multus.errors import DELEGATE_FAILED, CNIError
from multus.gocompat import quote as go_quote
from multus.plugin.models import Attachment, Delegate, RequestContext

log = logging.getLogger("multus")


def pod_not_found_result(ctx: RequestContext) -> dict[str, Any]:
    """upstream v4.3: a pod already gone gets a placeholder result and no delegate runs."""
    req = ctx.request
    res = {"cniVersion": "1.0.0", "interfaces": [{"name": req.ifname, "sandbox": req.netns}],
           "ips": [{"address": "0.0.0.0/0", "gateway": "0.0.0.0"}]}
    from multus.cni import result as cni_result

    to = ctx.conf.cni_version or "1.0.0"
    try:
        return cni_result.convert_result(res, to)
    except CNIError:
        return res


def add(ctx: RequestContext) -> dict[str, Any]:
    req, conf = ctx.request, ctx.conf
    delegates = ctx.plugins.source_delegates(ctx)
    existing = netns.existing_links(req.netns, [d.ifname for d in delegates])
    if existing:
        d = next(d for d in delegates if d.ifname in existing)
        raise CNIError(DELEGATE_FAILED, f"DelegateAdd: cannot set {go_quote(d.plugin_type)} interface name to "
                       f"{go_quote(d.ifname)}: validateIfName: interface name {d.ifname} already exists")
    cache.save(conf.cni_dir, req.container_id, delegates)
    attachments: list[Attachment] = []
    started: list[Delegate] = []
    current: Delegate | None = None
    try:
        for d in delegates:
            current = d
            started.append(d)
            if d.device_id and not d.master:
                from multus.engine import devices

                devices.prepare(ctx, d)
            res = ctx.plugins.delegate_invoke(ctx, d, "ADD")
            if d.filter_v4_gateway or d.filter_v6_gateway or d.default_route:
                from multus.engine import gateway

                res = gateway.apply(ctx, d, res)
            info = None
            if d.device_id and not d.master:
                from multus.engine import devices

                info = devices.load(ctx, d)
            att = Attachment(delegate=d, result=res, device_info=info)
            attachments.append(att)
            if log.isEnabledFor(logging.INFO):
                log.info("Add: %s:%s:%s(%s):%s %s", ctx.pod_label, req.arg("K8S_POD_UID"), d.name, d.cni_name,
                         d.ifname, json.dumps(res, separators=(",", ":")))
            ctx.plugins.delegate_added(ctx, att)
        current = None
        ctx.plugins.pod_added(ctx, attachments)
        return ctx.plugins.result_merge(ctx, attachments)
    except BaseException as e:
        rollback(ctx, started)
        cache.remove(conf.cni_dir, req.container_id)
        if isinstance(e, CNIError):
            raise _wrap(ctx, current, e) from None
        if isinstance(e, Exception):
            log.exception("ADD failed")
            raise _wrap(ctx, current, CNIError(DELEGATE_FAILED, f"{type(e).__name__}: {e}")) from None
        raise


def _wrap(ctx: RequestContext, d: Delegate | None, e: CNIError) -> CNIError:
    where = f"{ctx.pod_label}/{ctx.request.arg('K8S_POD_UID')}"
    if d is None:
        return CNIError(e.code, f"[{where}]: error adding the pod's networks: {e.msg}", e.details)
    return CNIError(e.code, f"[{where}:{d.cni_name or d.name}]: error adding container to network "
                    f"\"{d.cni_name or d.name}\": {e.msg}", e.details)


def rollback(ctx: RequestContext, started: list[Delegate]) -> None:
    """DEL what ADD started, last first; errors are logged, not raised (the ADD error wins)."""
    for d in reversed(started):
        try:
            ctx.plugins.delegate_invoke(ctx, d, "DEL")
        except Exception as e:  # noqa: BLE001 - rollback is best effort; the ADD error is reported
            log.error("rollback: DEL of network %s (%s) failed: %s", d.name, d.ifname, e)
        if d.device_id and not d.master:
            from multus.engine import devices

            devices.remove(ctx, d)
