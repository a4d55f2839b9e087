"""``multusctl gc``: prune what multus keeps on disk for containers that no longer exist.

A container is gone when it is not named with ``--keep`` and no network namespace recorded for
it (in the libcni results of its delegates) exists any more. For each gone container, under
its per-container lock (so a concurrent ADD or DEL is never cut short): the scratch cache
``<cniDir>/<id>``, the results ``<cniDir>/results/*-<id>-*``, its device-info files and its lock
file. No delegate runs: IPAM leases are the runtime's CNI GC's business (``CNI_COMMAND=GC``).
"""

from __future__ import annotations

import glob
import os

import attrs

from multus.ctl.main import EXIT_FAILED, EXIT_OK
from multus.ctl.output import Output

DEFAULT_DEVINFO_DIR = "/var/run/k8s.cni.cncf.io/devinfo/cni"


@attrs.frozen
class Stale:
    container_id: str
    netns: tuple[str, ...]
    files: tuple[str, ...]


def find_stale(cni_dir: str, keep: set[str], devinfo_dir: str = DEFAULT_DEVINFO_DIR) -> list[Stale]:
    from multus.cni import libcni
    from multus.engine import cache

    attachments = libcni.list_cached_attachments(cni_dir)
    ids = set(cache.cached_container_ids(cni_dir)) | {a.container_id for a in attachments if a.container_id}
    out = []
    for cid in sorted(ids - keep):
        mine = [a for a in attachments if a.container_id == cid]
        netns = tuple(sorted({a.netns for a in mine if a.netns}))
        if any(os.path.exists(n) for n in netns):
            continue  # still running
        files = [cache.path(cni_dir, cid)] if os.path.isfile(cache.path(cni_dir, cid)) else []
        files += [a.path for a in mine]
        files += sorted(glob.glob(os.path.join(glob.escape(devinfo_dir), f"*-{glob.escape(cid)}_*")))
        lock = os.path.join(cni_dir, cache.LOCK_DIR, cid)
        if os.path.exists(lock):
            files.append(lock)
        out.append(Stale(cid, netns, tuple(files)))
    return out


def prune(cni_dir: str, stale: Stale) -> list[str]:
    """Remove a gone container's files while holding its lock; the files removed."""
    from multus.engine import cache

    removed = []
    with cache.locked(cni_dir, stale.container_id):
        for f in stale.files:
            if f.endswith(os.path.join(cache.LOCK_DIR, stale.container_id)):
                continue
            try:
                os.unlink(f)
            except FileNotFoundError:
                continue
            removed.append(f)
        cache.unlock_cleanup(cni_dir, stale.container_id)
    return removed


def command(cni_dir: str, devinfo_dir: str, keep_ids: tuple[str, ...], dry_run: bool, fmt: str) -> int:
    out = Output(fmt)
    if not os.path.isdir(cni_dir):
        if fmt == "json":
            out.json({"error": f"--cni-dir: {cni_dir} is not a directory"})
        else:
            import click

            click.echo(f"multusctl: --cni-dir: {cni_dir} is not a directory", err=True)
        return EXIT_FAILED
    stale = find_stale(cni_dir, set(keep_ids), devinfo_dir)
    report = []
    for s in stale:
        removed = list(s.files) if dry_run else prune(cni_dir, s)
        report.append({"containerID": s.container_id, "netns": list(s.netns), "files": removed})
    if fmt == "json":
        out.json({"dryRun": dry_run, "containers": report})
        return EXIT_OK
    verb = "would remove" if dry_run else "removed"
    if not report:
        out.line("nothing to prune")
    for r in report:
        out.line(f"{r['containerID']}: {verb} {len(r['files'])} file(s)")
        for f in r["files"]:
            out.line(f"  {f}")
    return EXIT_OK
