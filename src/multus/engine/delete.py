"""DEL (§10): tear down everything ADD set up, from the cache, without the Kubernetes API.

Every delegate is attempted, last first, even when one fails; errors are aggregated. When the
scratch cache is missing or corrupt, the delegates are rebuilt from libcni's result caches
(``<cniDir>/results`` holds each network's config), fixing upstream's leak where DEL returned
success without tearing anything down. A missing or empty ``CNI_NETNS`` is fine (containerd's
second DEL): delegates get the empty netns and release their IPAM leases.
"""

from __future__ import annotations

import logging
import re

from multus.cni import libcni
from multus.engine import cache, readiness
from multus.errors import CNIError
from multus.plugin.models import Delegate, RequestContext

log = logging.getLogger("multus")
_NET_RE = re.compile(r"^net(\d+)$")


def from_results(ctx: RequestContext) -> list[Delegate]:
    """Delegates rebuilt from libcni result caches of this container (master first)."""
    req = ctx.request
    found = libcni.list_cached_attachments(ctx.conf.cni_dir, container_id=req.container_id)
    out = []
    for a in found:
        out.append(Delegate(config=dict(a.config), name=a.network_name, ifname=a.ifname,
                            master=a.ifname == req.ifname, cni_args=a.cni_args,
                            device_id=str(a.capability_args.get("deviceID") or ""),
                            runtime_config=dict(a.capability_args)))

    def order(d: Delegate) -> tuple[int, int, str]:
        m = _NET_RE.match(d.ifname)
        return (0 if d.master else 1, int(m.group(1)) if m else 1 << 30, d.ifname)

    return sorted(out, key=order)


def delete(ctx: RequestContext) -> None:
    req, conf = ctx.request, ctx.conf
    readiness.warn_if_missing(conf)
    delegates = cache.load(conf.cni_dir, req.container_id, req.ifname, conf.cni_version)
    if delegates is None:
        delegates = from_results(ctx)
        if delegates:
            log.warning("no usable delegate cache for %s: tearing down %d network(s) found in the result "
                        "caches", req.container_id, len(delegates))
    errors: list[CNIError] = []
    for d in reversed(delegates):
        err: CNIError | None = None
        try:
            ctx.plugins.delegate_invoke(ctx, d, "DEL")
        except CNIError as e:
            err = e
        except Exception as e:
            log.exception("DEL of %s failed", d.name)
            err = CNIError(999, f"{type(e).__name__}: {e}")
        if err is not None:
            errors.append(CNIError(err.code, f"error deleting network {d.name!r} ({d.ifname}): {err.msg}", err.details))
        if d.device_id and not d.master:
            from multus.engine import devices

            devices.remove(ctx, d)
        log.info("Del: %s:%s:%s(%s):%s", ctx.pod_label, req.arg("K8S_POD_UID"), d.name, d.cni_name, d.ifname)
        ctx.plugins.delegate_deleted(ctx, d, err)
    keep = conf.retry_delete_on_error and errors and not all("no such file or directory" in e.msg for e in errors)
    if not keep:
        cache.remove(conf.cni_dir, req.container_id)
        cache.unlock_cleanup(conf.cni_dir, req.container_id)
    if errors:
        raise CNIError(errors[0].code, "errors: " + " / ".join(e.msg for e in errors))
