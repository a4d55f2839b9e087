"""GC (§15): remove what no runtime still uses, for every network, not only the cluster one.

``cni.dev/valid-attachments`` lists the ``{containerID, ifname}`` the runtime still has. A
container with a scratch cache but no valid attachment is torn down like a DEL; then every
network still in use gets a GC with its own valid attachments; finally stale cache files, result
files and lock files are pruned (upstream leaves them forever, #1488).

Without that list (neither ``cni.dev/valid-attachments`` nor its older name
``cni.dev/attachments``, or ``null``) nothing is known to be stale: GC removes nothing and asks
no network plugin to GC (a plugin told "these are valid" releases everything else). Only an
explicit list, even an empty one, says which pods are gone.
"""

from __future__ import annotations

import logging
import os

import attrs

from multus.cni import libcni
from multus.engine import cache, delete
from multus.errors import DELEGATE_FAILED, INVALID_CONFIG, CNIError
from multus.plugin.models import Delegate, RequestContext

log = logging.getLogger("multus")

DEFAULT_IFNAME = "eth0"
"""The cluster network's interface name every Kubernetes runtime uses (kubelet's ``eth0``)."""


def _valid(ctx: RequestContext) -> list[dict[str, str]] | None:
    """The runtime's valid attachments; None when the request carries no list."""
    config = ctx.request.config
    key = next((k for k in (libcni.VALID_ATTACHMENTS_KEY, libcni.ATTACHMENTS_KEY) if config.get(k) is not None),
               None)
    if key is None:
        return None
    raw = config[key]
    if not isinstance(raw, list):
        raise CNIError(INVALID_CONFIG, f"{key}: must be an array")
    out = []
    for i, a in enumerate(raw):
        if not isinstance(a, dict) or not isinstance(a.get("containerID"), str):
            raise CNIError(INVALID_CONFIG, f"{key}[{i}]: must be an object with a string containerID")
        out.append({"containerID": a["containerID"], "ifname": str(a.get("ifname", ""))})
    return out


def gc(ctx: RequestContext) -> None:
    conf = ctx.conf
    valid = _valid(ctx)
    if valid is None:
        log.warning("GC without %s: no attachment is known to be stale, nothing is removed",
                    libcni.VALID_ATTACHMENTS_KEY)
        return
    valid_ids = {a["containerID"] for a in valid}
    errors: list[str] = []

    # 1. pods the runtime no longer has: DEL them from their caches
    stale = [c for c in cache.cached_container_ids(conf.cni_dir) if c not in valid_ids]
    stale += sorted({a.container_id for a in libcni.list_cached_attachments(conf.cni_dir)
                     if a.container_id not in valid_ids} - set(stale))
    for cid in stale:
        sub = attrs.evolve(ctx, request=attrs.evolve(ctx.request, command="DEL", container_id=cid,
                                                     netns=_netns(conf.cni_dir, cid),
                                                     ifname=master_ifname(conf.cni_dir, cid)))
        try:
            with cache.locked(conf.cni_dir, cid):
                delete.delete(sub)
        except CNIError as e:
            errors.append(f"{cid}: {e.msg}")

    # 2. GC each network still in use, with its own valid attachments
    networks: dict[str, tuple[Delegate, list[dict[str, str]]]] = {}
    for a in libcni.list_cached_attachments(conf.cni_dir):
        if a.container_id not in valid_ids:
            continue
        entry = networks.setdefault(a.network_name, (Delegate(config=dict(a.config), name=a.network_name,
                                                                ifname=a.ifname), []))
        entry[1].append({"containerID": a.container_id, "ifname": a.ifname})
    for name, (d, attachments) in sorted(networks.items()):
        try:
            ctx.plugins.delegate_invoke(ctx, d, "GC", attachments)
        except CNIError as e:
            errors.append(f"network {name}: {e.msg}")

    # 3. prune lock files of containers that are gone (taking each lock before removing it)
    lock_dir = os.path.join(conf.cni_dir, cache.LOCK_DIR)
    try:
        names = os.listdir(lock_dir)
    except OSError:
        names = []
    for n in names:
        if n not in valid_ids and cache.CONTAINER_ID_RE.match(n):
            with cache.locked(conf.cni_dir, n):
                if not os.path.exists(cache.path(conf.cni_dir, n)):
                    cache.unlock_cleanup(conf.cni_dir, n)
    if errors:
        raise CNIError(DELEGATE_FAILED, "GC: " + " / ".join(errors))


def _netns(cni_dir: str, cid: str) -> str:
    """The stale pod's network namespace as its ADD recorded it, if it still exists: delegates
    then remove their interfaces too, not only their IPAM leases."""
    for a in libcni.list_cached_attachments(cni_dir, container_id=cid):
        if a.netns and os.path.exists(a.netns):
            return a.netns
    return ""


def master_ifname(cni_dir: str, cid: str) -> str:
    """The cluster network's interface name of a stale pod, from what was recorded, never from
    the look of the names (a secondary may well be called ``data1`` or ``eth1``):

    * our scratch cache records it (the entry flagged ``master`` and its ``ifname``);
    * upstream's records no name for its master, entry 0: the name is then the one in the result
      cache of entry 0's network that no other entry claims, else :data:`DEFAULT_IFNAME`;
    * without a usable scratch cache, ``""``: DEL then tears the pod down from the result caches,
      each of which names its own interface, and treats none of them as the master.
    """
    entries = cache.load_entries(cni_dir, cid)
    if entries is None:
        return ""
    recorded = cache.recorded_master_ifname(entries)
    if recorded or not entries:
        return recorded or DEFAULT_IFNAME
    network = cache.entry_network_name(entries[0])
    claimed = {cache.entry_ifname(e, i) for i, e in enumerate(entries) if i}
    found = sorted({a.ifname for a in libcni.list_cached_attachments(cni_dir, network, cid)} - claimed)
    return found[0] if len(found) == 1 else DEFAULT_IFNAME
