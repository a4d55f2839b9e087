"""Which delegates an ADD runs, in which order, under which interface names (§5, §6, §9).

This is the core's implementation of ``multus_source_delegates``. Order: the cluster network
(``delegates[0]``, ``clusterNetwork``, or the pod's ``v1.multus-cni.io/default-network``), the
remaining static delegates or ``defaultNetworks``, the networks of the pod's
``k8s.v1.cni.cncf.io/networks`` annotation, then the auxiliary chain. Names are resolved through
the ``multus_source_network`` hook, so the same plan works with NADs, files or any plugin.
"""

from __future__ import annotations

import copy
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import attrs

from multus import gocompat as go
from multus.cni.conf import is_conflist, validate_delegate_config
from multus.engine import runtimeconf
from multus.engine.annotations import DEFAULT_NETWORK_ANNOTATION, NETWORKS_ANNOTATION
from multus.errors import INVALID_CONFIG, CNIError
from multus.plugin import models
from multus.plugin.models import Delegate, NetworkConfig, NetworkRef, RequestContext

if TYPE_CHECKING:
    import ipaddress

    from multus.engine.selection import NetworkSelection

__all__ = [
    "build",
    "finish",
    "gateway_flags",
    "gateways",
    "inject_cni_args",
    "plan",
    "pod_namespace",
    "resolve_cluster_network",
    "validate_delegate_config",  # its home is multus.cni.conf
]


def pod_namespace(ctx: RequestContext) -> str:
    if ctx.pod is not None and ctx.pod.namespace:
        return ctx.pod.namespace
    return ctx.request.arg("K8S_POD_NAMESPACE")


def _resolve(ctx: RequestContext, ref: NetworkRef, what: str) -> NetworkConfig:
    nc = ctx.plugins.source_network(ctx, ref)
    if nc is not None and not nc.config:
        # known (a NAD with an empty spec) but configured by the file of that name in confDir
        found = ctx.plugins.source_network(ctx, attrs.evolve(ref, conf_dir_only=True))
        if found is None or not found.config:
            raise CNIError(INVALID_CONFIG, f"{what}: network {nc.name or ref.name} has no configuration of its "
                           f"own and no file named {ref.name!r} in {ctx.conf.conf_dir}")
        nc = attrs.evolve(found, name=nc.name or found.name, resource_name=nc.resource_name or found.resource_name)
    if nc is None:
        where = f" in namespace {ref.namespace}" if ref.namespace else ""
        raise CNIError(INVALID_CONFIG, f"{what}: cannot find network: {ref.name}{where}")
    return nc


def resolve_cluster_network(ctx: RequestContext) -> NetworkConfig:
    """``clusterNetwork`` as ADD resolves it (STATUS and GC resolve it the same way)."""
    conf = ctx.conf
    return _resolve(ctx, NetworkRef(conf.cluster_network, conf.multus_namespace, models.CLUSTER),
                    f"GetDefaultNetworks: failed to get clusterNetwork {conf.cluster_network} "
                    f"in namespace {conf.multus_namespace}")


def _check_isolation(ctx: RequestContext, sel: NetworkSelection, what: str) -> None:
    conf = ctx.conf
    ns = pod_namespace(ctx)
    if conf.namespace_isolation and sel.namespace != ns and sel.namespace not in conf.global_namespaces:
        raise CNIError(INVALID_CONFIG, f"{what}: namespace isolation enabled, annotation violates permission, "
                       f"pod is in namespace {ns} but refers to target namespace {sel.namespace}")


def inject_cni_args(config: dict[str, Any], cni_args: dict[str, Any]) -> dict[str, Any]:
    """Merge a selection's ``cni-args`` into ``args.cni`` of a conf or of every plugin of a list."""
    config = copy.deepcopy(config)

    def merge(c: dict[str, Any]) -> None:
        args = c.setdefault("args", {})
        if not isinstance(args, dict):
            raise CNIError(INVALID_CONFIG, f"network {config.get('name')!r}: 'args' must be an object")
        cni = args.setdefault("cni", {})
        if not isinstance(cni, dict):
            raise CNIError(INVALID_CONFIG, f"network {config.get('name')!r}: 'args.cni' must be an object")
        cni.update(cni_args)

    if is_conflist(config) and isinstance(config["plugins"], list):
        for p in config["plugins"]:
            if isinstance(p, dict):
                merge(p)
    else:
        merge(config)
    return config


def plan(ctx: RequestContext) -> list[Delegate]:
    conf = ctx.conf
    pod = ctx.pod
    annotations = pod.annotations if pod is not None else {}
    ns = pod_namespace(ctx)
    picked: list[tuple[NetworkConfig, NetworkSelection | None]] = []

    # 1. the cluster network and the networks every pod gets
    if conf.cluster_network:
        picked.append((resolve_cluster_network(ctx), None))
        if ns not in conf.system_namespaces:
            for name in conf.default_networks:
                picked.append((_resolve(ctx, NetworkRef(name, conf.multus_namespace, models.DEFAULT),
                                        "GetDefaultNetworks"), None))
    else:
        for i, d in enumerate(conf.delegates):
            validate_delegate_config(d, f"network 'delegates[{i}]'")
            picked.append((NetworkConfig(config=d, name=str(d.get("name", "")), origin="delegates"), None))
        if not picked:
            raise CNIError(INVALID_CONFIG, "delegates/clusterNetwork: at least one delegate/clusterNetwork "
                           "must be specified")

    # 2. the pod's replacement for the cluster network
    if annotations.get(DEFAULT_NETWORK_ANNOTATION):
        from multus.engine.selection import parse_default_network_annotation

        sel = parse_default_network_annotation(annotations[DEFAULT_NETWORK_ANNOTATION], conf.multus_namespace)
        if sel is not None:
            _check_isolation(ctx, sel, "tryLoadK8sPodDefaultNetwork")
            nc = _resolve(ctx, NetworkRef(sel.name, sel.namespace, models.DEFAULT_NETWORK, sel),
                          "tryLoadK8sPodDefaultNetwork")
            picked[0] = (nc, sel)

    # 3. the networks the pod asks for
    if annotations.get(NETWORKS_ANNOTATION):
        from multus.engine.selection import parse_networks_annotation

        for sel in parse_networks_annotation(annotations[NETWORKS_ANNOTATION], ns):
            _check_isolation(ctx, sel, "GetNetworkDelegates")
            picked.append((_resolve(ctx, NetworkRef(sel.name, sel.namespace, models.ANNOTATION, sel),
                                    "GetNetworkDelegates"), sel))

    # 4. the auxiliary chain
    if conf.auxiliary_cni_chain_name:
        if "/" not in conf.cluster_network:
            raise CNIError(INVALID_CONFIG, "auxiliaryCNIChainName: auxiliary chain used but ClusterNetwork must "
                           f"be a path, and it is not a path: {conf.cluster_network}")
        aux = ctx.plugins.source_network(ctx, NetworkRef(conf.auxiliary_cni_chain_name, "", models.AUXILIARY))
        if aux is not None:
            picked.append((aux, None))
            return build(ctx, picked, on_primary={len(picked) - 1})

    return build(ctx, picked)


def build(ctx: RequestContext, picked: list[tuple[NetworkConfig, NetworkSelection | None]],
          on_primary: Collection[int] = ()) -> list[Delegate]:
    """Delegates with interface names, cni-args, device IDs, CNI_ARGS and gateway flags.

    ``on_primary`` are the indexes of delegates that act on the cluster network's interface
    instead of creating their own: the auxiliary chain (a ``passthru`` head, then plugins such as
    ``tuning`` whose ``IFNAME`` must be the pod's primary interface to mean anything)."""
    req = ctx.request
    out: list[Delegate] = []
    seen: set[str] = set()
    for idx, (nc, sel) in enumerate(picked):
        validate_delegate_config(nc.config, f"network {nc.name!r}")
        master = idx == 0
        config = nc.config
        if sel is not None and sel.cni_args:
            config = inject_cni_args(config, sel.cni_args)
        if idx in on_primary:
            out.append(Delegate(config=config, name=nc.name or str(config.get("name", "")), ifname=req.ifname))
            continue
        if master:
            ifname = req.ifname
        elif sel is not None and sel.interface:
            ifname = sel.interface
        else:
            ifname = f"net{idx}"
        if ifname in seen:
            raise CNIError(INVALID_CONFIG, f"interface name {ifname!r} is requested twice "
                           f"(network {nc.name or nc.config.get('name')!r})")
        seen.add(ifname)
        out.append(Delegate(config=config, name=nc.name or str(config.get("name", "")), ifname=ifname,
                            master=master, selection=sel, resource_name=nc.resource_name))
    out = _assign_devices(ctx, out)
    out = gateway_flags(out)
    return [finish(ctx, d) for d in out]


def _assign_devices(ctx: RequestContext, delegates: list[Delegate]) -> list[Delegate]:
    if not any(d.resource_name or (d.selection is not None and d.selection.device_id) for d in delegates):
        return delegates
    from multus.engine import devices

    return devices.assign(ctx, delegates)


def finish(ctx: RequestContext, d: Delegate) -> Delegate:
    """CNI_ARGS and capability arguments, once the device ID is known."""
    sel = d.selection
    info_file = ""
    if d.device_id and not d.master:
        from multus.engine import devices

        info_file = devices.device_info_file(d.name, ctx.request.container_id, d.ifname,
                                             devices.dirs(ctx.conf)[0])
    args = runtimeconf.delegate_args(ctx.request, mac=sel.mac if sel else "", ips=sel.ips if sel else ())
    rc = runtimeconf.capability_args(ctx.conf.runtime_config, d.master, sel, d.device_id, info_file)
    return attrs.evolve(d, cni_args=args, runtime_config=rc)


def gateways(d: Delegate) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The ``default-route`` gateways ``d``'s selection asks for (Go's ``net.ParseIP``)."""
    out = []
    for gw in d.default_route or ():
        ip = go.parse_ip(gw)
        if ip is None:
            raise CNIError(INVALID_CONFIG, f"default-route: invalid gateway {gw!r} for network {d.name!r}")
        out.append(ip)
    return out


def gateway_flags(delegates: list[Delegate]) -> list[Delegate]:
    """Which interfaces lose their default routes (§9), with upstream #1011 fixed: an empty
    ``default-route`` list only strips the default routes of its own interface."""
    v4 = v6 = 0
    for d in delegates:
        for gw in gateways(d):
            if gw.version == 4:
                v4 += 1
            else:
                v6 += 1
    if v4 > 1 or v6 > 1:
        raise CNIError(INVALID_CONFIG, "default-route: multus does not support ECMP for default-route")
    if not any(d.default_route is not None for d in delegates):
        return delegates
    out = []
    for d in delegates:
        gws = gateways(d)
        own4 = any(g.version == 4 for g in gws)
        own6 = any(g.version == 6 for g in gws)
        strip_all = d.default_route is not None and not gws
        out.append(attrs.evolve(d, filter_v4_gateway=(v4 == 1 and not own4) or strip_all,
                                filter_v6_gateway=(v6 == 1 and not own6) or strip_all))
    return out
