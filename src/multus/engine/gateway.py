"""``default-route`` (§9): move the pod's default route to the network that asks for it.

After a delegate's ADD, default routes are removed from (or added to) its interface inside the
pod's namespace, and the libcni result cache is edited to match, so that CHECK and the
network-status annotation see what is really there. pyroute2 is imported only here, and only when
a pod uses ``default-route``.
"""

from __future__ import annotations

import errno
import json
from typing import Any

from multus.cni import libcni
from multus.engine import plan
from multus.errors import INVALID_CONFIG, IO_FAILURE, CNIError
from multus.plugin.models import Delegate, RequestContext

_DEFAULT_DST = {4: ("0.0.0.0/0",), 6: ("::/0", "::0/0")}


def needed(d: Delegate) -> bool:
    return d.filter_v4_gateway or d.filter_v6_gateway or bool(d.default_route)


def apply(ctx: RequestContext, d: Delegate, result: dict[str, Any]) -> dict[str, Any]:
    """Fix the routes of ``d``'s interface; returns the result as it now is."""
    if not needed(d) or not (result.get("interfaces") or result.get("ips") or result.get("ip4") or result.get("ip6")):
        return result
    families = set()
    if d.filter_v4_gateway:
        families.add(4)
    if d.filter_v6_gateway:
        families.add(6)
    gws = plan.gateways(d)
    if gws:
        families |= {4, 6}
    try:
        _set_routes(ctx.request.netns, d.ifname, families, gws)
    except CNIError:
        raise
    except Exception as e:  # noqa: BLE001 - netlink errors of any kind become one CNI error
        raise CNIError(IO_FAILURE, f"error setting default gateway on {d.ifname} of network {d.name!r}: {e}") from None
    return _edit_result(ctx, d, result, families, gws)


def _set_routes(netns: str, ifname: str, families: set[int], gws: list[Any]) -> None:
    from pyroute2 import NetNS  # type: ignore[import-untyped]

    ns = NetNS(netns, flags=0)  # flags=0: never create a missing namespace
    try:
        idx = ns.link_lookup(ifname=ifname)
        if not idx:
            raise CNIError(INVALID_CONFIG, f"default-route: interface {ifname} not found in {netns}")
        for fam in families:
            af = 2 if fam == 4 else 10
            for r in ns.get_routes(family=af, oif=idx[0]):
                if r.get("dst_len") == 0 and r.get_attr("RTA_TABLE") in (254, None):
                    ns.route("del", family=af, dst="default", oif=idx[0], gateway=r.get_attr("RTA_GATEWAY"))
        for gw in gws:
            try:
                ns.route("add", dst="default", gateway=str(gw), oif=idx[0],
                         family=2 if gw.version == 4 else 10)
            except Exception as e:  # pyroute2's NetlinkError carries the errno in .code
                if getattr(e, "code", None) != errno.EEXIST:
                    raise
    finally:
        ns.close()


def _edit_result(ctx: RequestContext, d: Delegate, result: dict[str, Any], families: set[int],
                 gws: list[Any]) -> dict[str, Any]:
    def edit(res: dict[str, Any]) -> dict[str, Any]:
        res = json.loads(json.dumps(res))
        legacy = "ip4" in res or "ip6" in res or res.get("cniVersion", "") in ("0.1.0", "0.2.0")
        if legacy:
            for fam, key in ((4, "ip4"), (6, "ip6")):
                block = res.get(key)
                if isinstance(block, dict):
                    routes = block.get("routes") or []
                    if fam in families:
                        routes = [r for r in routes if r.get("dst") not in _DEFAULT_DST[fam]]
                    for gw in gws:
                        if gw.version == fam:
                            routes.append({"dst": "0.0.0.0/0" if fam == 4 else "::/0", "gw": str(gw)})
                    block["routes"] = routes
            return res
        routes = [r for r in res.get("routes") or []
                  if not any(r.get("dst") in _DEFAULT_DST[f] for f in families)]
        for gw in gws:
            routes.append({"dst": "0.0.0.0/0" if gw.version == 4 else "::0/0", "gw": str(gw)})
        res["routes"] = routes
        return res

    libcni.edit_cached_result(ctx.conf.cni_dir, d.cni_name, ctx.request.container_id, d.ifname, edit)
    return edit(result)
