"""STATUS (§15): is multus ready to ADD? The readiness file, then the cluster network's STATUS.

The cluster network is resolved as ADD resolves it (a NAD with an empty spec is the file of that
name in ``confDir``); its plugins' errors are returned unchanged, so that the runtime sees the
plugin's own code (50 "not available", 51 "limited connectivity").
"""

from __future__ import annotations

from multus.cni.conf import validate_delegate_config
from multus.engine import plan, readiness
from multus.errors import INVALID_CONFIG, CNIError
from multus.plugin.models import Delegate, RequestContext


def cluster_delegate(ctx: RequestContext) -> Delegate:
    conf = ctx.conf
    ifname = ctx.request.ifname or "eth0"
    if conf.cluster_network:
        nc = plan.resolve_cluster_network(ctx)
        validate_delegate_config(nc.config, f"network {nc.name!r}")
        return Delegate(config=nc.config, name=nc.name, ifname=ifname, master=True)
    if not conf.delegates:
        raise CNIError(INVALID_CONFIG, "delegates/clusterNetwork: at least one delegate/clusterNetwork must be specified")
    d = conf.delegates[0]
    validate_delegate_config(d, "network 'delegates[0]'")
    return Delegate(config=d, name=str(d.get("name", "")), ifname=ifname, master=True)


def status(ctx: RequestContext) -> None:
    readiness.wait(ctx.conf)
    d = cluster_delegate(ctx)
    try:
        ctx.plugins.delegate_invoke(ctx, d, "STATUS")
    except CNIError as e:
        raise CNIError(e.code, f"DelegateStatus: network {d.cni_name or d.name}: {e.msg}", e.details) from None
