"""STATUS (§15): is multus ready to ADD? The readiness file, then the cluster network's STATUS."""

from __future__ import annotations

from multus.engine import models, readiness
from multus.engine.models import Delegate, NetworkRef, RequestContext
from multus.errors import INVALID_CONFIG, CNIError


def cluster_delegate(ctx: RequestContext) -> Delegate:
    conf = ctx.conf
    if conf.cluster_network:
        nc = ctx.plugins.source_network(ctx, NetworkRef(conf.cluster_network, conf.multus_namespace, models.CLUSTER))
        if nc is None:
            raise CNIError(INVALID_CONFIG, f"clusterNetwork: cannot find network: {conf.cluster_network}")
        return Delegate(config=nc.config, name=nc.name, ifname=ctx.request.ifname or "eth0", master=True)
    if not conf.delegates:
        raise CNIError(INVALID_CONFIG, "delegates/clusterNetwork: at least one delegate/clusterNetwork must be specified")
    d = conf.delegates[0]
    return Delegate(config=d, name=str(d.get("name", "")), ifname=ctx.request.ifname or "eth0", master=True)


def status(ctx: RequestContext) -> None:
    readiness.wait(ctx.conf)
    d = cluster_delegate(ctx)
    try:
        ctx.plugins.delegate_invoke(ctx, d, "STATUS")
    except CNIError as e:
        raise CNIError(e.code, f"DelegateStatus: network {d.cni_name or d.name}: {e.msg}", e.details) from None
