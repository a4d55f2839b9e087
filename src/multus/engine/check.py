"""CHECK (§15): every cached delegate, with the result its ADD cached as prevResult.

Upstream only checks the static ``delegates`` of the config; we check what was really attached.
Delegates whose cniVersion predates CHECK (< 0.4.0) are skipped, as the spec requires.
"""

from __future__ import annotations

import logging

from multus.cni import version
from multus.engine import cache
from multus.errors import UNKNOWN_CONTAINER, CNIError
from multus.plugin.models import RequestContext

log = logging.getLogger("multus")


def check(ctx: RequestContext) -> None:
    req, conf = ctx.request, ctx.conf
    delegates = cache.load(conf.cni_dir, req.container_id, req.ifname, conf.cni_version)
    if delegates is None:
        from multus.engine.delete import from_results

        delegates = from_results(ctx)
    if not delegates:
        raise CNIError(UNKNOWN_CONTAINER, f"CNI_CONTAINERID: no networks are known for container {req.container_id}")
    for d in delegates:
        v = d.config.get("cniVersion", "")
        if not isinstance(v, str) or not version.at_least(v or "0.1.0", "0.4.0"):
            log.info("Check: skipping %s (cniVersion %s has no CHECK)", d.name, v)
            continue
        try:
            ctx.plugins.delegate_invoke(ctx, d, "CHECK")
        except CNIError as e:
            raise CNIError(e.code, f"DelegateCheck: error invoking {d.cni_name or d.name} ({d.ifname}): {e.msg}",
                           e.details) from None
