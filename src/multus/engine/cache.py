"""The scratch cache ``<cniDir>/<containerID>``: the delegates of a pod, in upstream's format.

Upstream writes a JSON array of its ``DelegateNetConf`` objects (``Conf``, ``ConfList``,
``Name``, ``ifnameRequest``, ``macRequest``, ``ipRequest``, ``default-route``,
``IsFilterV4Gateway``, ``IsFilterV6Gateway``, ``deviceID``, ``resourceName`` and ``Bytes``, the
base64 raw config). We write the same, so that upstream's binary can tear down what we set up,
and read what upstream wrote. Our own additions (``master``, ``ifname``, ``runtimeConfig``,
``cniArgs``, ``selection``) are extra keys Go's decoder ignores; they let DEL send exactly what ADD
sent. ``master`` and ``ifname`` record which entry is the cluster network and the interface name
the runtime gave it (upstream writes no ``ifnameRequest`` for it, so a GC, which has no
``CNI_IFNAME``, could not tell it otherwise).

Writes are atomic (temp file, rename), mode 0600, under a per-container ``flock``. No fsync, as
upstream and libcni: it cost an ADD up to 20 ms on a busy disk, and what it would protect is a
power cut, after which the pod's network namespace is gone and a file left empty is rebuilt from
libcni's result caches (:func:`load`).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import logging
import os
import re
from collections.abc import Iterator
from typing import Any

from multus.cni.conf import is_conflist
from multus.errors import IO_FAILURE, CNIError
from multus.plugin.models import Delegate

log = logging.getLogger("multus.cache")

CONTAINER_ID_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$")
LOCK_DIR = ".locks"


def path(cni_dir: str, container_id: str) -> str:
    return os.path.join(cni_dir, container_id)


@contextlib.contextmanager
def locked(cni_dir: str, container_id: str) -> Iterator[None]:
    """Serialize requests for one container (ADD and DEL may race after a runtime restart).

    The lock file may be removed by its holder (:func:`unlock_cleanup`); a waiter that then gets
    the lock on the removed file notices that the path no longer names it and locks again."""
    d = os.path.join(cni_dir, LOCK_DIR)
    path = os.path.join(d, container_id)
    try:
        os.makedirs(cni_dir, mode=0o700, exist_ok=True)
        os.makedirs(d, mode=0o700, exist_ok=True)
    except OSError as e:
        raise CNIError(IO_FAILURE, f"cniDir: cannot create {d}: {e.strerror}") from None
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as e:
            raise CNIError(IO_FAILURE, f"cniDir: cannot lock {path}: {e.strerror}") from None
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        yield
    finally:
        os.close(fd)


def unlock_cleanup(cni_dir: str, container_id: str) -> None:
    """Remove a container's lock file; call it while holding that lock."""
    with contextlib.suppress(OSError):
        os.unlink(os.path.join(cni_dir, LOCK_DIR, container_id))


def _conf_part(config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Go's ``types.NetConf`` and ``types.NetConfList`` views of the raw config."""
    def netconf(c: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in ("cniVersion", "name", "type", "capabilities"):
            if c.get(key):
                out[key] = c[key]
        ipam = c.get("ipam")
        out["ipam"] = {"type": ipam["type"]} if isinstance(ipam, dict) and ipam.get("type") else {}
        out["dns"] = c["dns"] if isinstance(c.get("dns"), dict) else {}
        return out

    if is_conflist(config) and isinstance(config["plugins"], list):
        lst: dict[str, Any] = {k: config[k] for k in ("cniVersion", "name", "disableCheck", "disableGC") if config.get(k)}
        lst["plugins"] = [netconf(p) for p in config["plugins"] if isinstance(p, dict)]
        return {"ipam": {}, "dns": {}}, lst
    return netconf(config), {}


def encode(delegates: list[Delegate]) -> bytes:
    entries = []
    for d in delegates:
        conf, conflist = _conf_part(d.config)
        e: dict[str, Any] = {"Conf": conf, "ConfList": conflist, "Name": d.name}
        sel = d.selection
        if not d.master:
            e["ifnameRequest"] = d.ifname
        if sel is not None:
            if sel.mac:
                e["macRequest"] = sel.mac
            if sel.infiniband_guid:
                e["infinibandGUIDRequest"] = sel.infiniband_guid
            if sel.ips:
                e["ipRequest"] = list(sel.ips)
            if sel.default_route is not None:
                e["default-route"] = list(sel.default_route)
        e["IsFilterV4Gateway"] = d.filter_v4_gateway
        e["IsFilterV6Gateway"] = d.filter_v6_gateway
        if d.device_id:
            e["deviceID"] = d.device_id
        if d.resource_name:
            e["resourceName"] = d.resource_name
        e["Bytes"] = base64.b64encode(json.dumps(d.config).encode()).decode()
        e["master"] = d.master
        e["ifname"] = d.ifname
        e["runtimeConfig"] = dict(d.runtime_config)
        e["cniArgs"] = [list(p) for p in d.cni_args]
        if sel is not None:
            e["selection"] = sel.to_dict()
        entries.append(e)
    return json.dumps(entries).encode()


def decode(data: bytes, ifname: str, cni_version: str) -> list[Delegate]:
    """Delegates from a cache file written by us or by upstream; ValueError or TypeError if corrupt.

    The selection element is kept in the file for operators but not decoded: DEL and CHECK need
    only the config, interface name, CNI_ARGS and runtimeConfig, which are stored as sent."""
    entries = json.loads(data)
    if not isinstance(entries, list):
        raise TypeError("the cache is not a JSON array")
    out: list[Delegate] = []
    for idx, e in enumerate(entries):
        if not isinstance(e, dict):
            raise TypeError(f"entry {idx} is not an object")
        raw = e.get("Bytes")
        if isinstance(raw, str) and raw:
            config = json.loads(base64.b64decode(raw))
        elif isinstance(e.get("ConfList"), dict) and e["ConfList"].get("plugins"):
            config = dict(e["ConfList"])
        elif isinstance(e.get("Conf"), dict):
            config = dict(e["Conf"])
        else:
            raise ValueError(f"entry {idx} has no configuration")
        if not isinstance(config, dict):
            raise TypeError(f"entry {idx}: the configuration is not an object")
        if is_conflist(config) and not config.get("cniVersion"):
            config["cniVersion"] = cni_version  # upstream injects multus' version into conflists
        master = bool(e.get("master", idx == 0))
        name = e.get("ifname") or (ifname if master else (e.get("ifnameRequest") or f"net{idx}"))
        args = tuple((str(p[0]), str(p[1])) for p in e.get("cniArgs", []) if isinstance(p, list) and len(p) == 2)
        rc = e.get("runtimeConfig") if isinstance(e.get("runtimeConfig"), dict) else {}
        out.append(Delegate(config=config, name=str(e.get("Name", "")), ifname=str(name), master=master,
                            resource_name=str(e.get("resourceName", "")),
                            device_id=str(e.get("deviceID", "")),
                            filter_v4_gateway=bool(e.get("IsFilterV4Gateway")),
                            filter_v6_gateway=bool(e.get("IsFilterV6Gateway")),
                            cni_args=args, runtime_config=rc or {}))
    return out


def save(cni_dir: str, container_id: str, delegates: list[Delegate]) -> None:
    """Write atomically: a crash leaves the old file or the new one, never half of one."""
    data = encode(delegates)
    try:
        os.makedirs(cni_dir, mode=0o700, exist_ok=True)
        final = path(cni_dir, container_id)
        tmp = f"{final}.tmp.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(tmp, final)
    except OSError as e:
        with contextlib.suppress(OSError, UnboundLocalError):
            os.unlink(tmp)
        raise CNIError(IO_FAILURE, f"cniDir: cannot write the delegate cache {cni_dir}/{container_id}: "
                       f"{e.strerror}") from None


def entry_ifname(entry: dict[str, Any], index: int) -> str:
    """The interface name an entry records: ours (``ifname``), else upstream's ``ifnameRequest``,
    else upstream's ``net<index>`` rule; ``""`` for upstream's master, which records none."""
    for key in ("ifname", "ifnameRequest"):
        if isinstance(entry.get(key), str) and entry[key]:
            return str(entry[key])
    return "" if index == 0 else f"net{index}"


def entry_network_name(entry: dict[str, Any]) -> str:
    """The CNI network name of an entry (what libcni names its result cache files after)."""
    for key in ("Conf", "ConfList"):
        part = entry.get(key)
        if isinstance(part, dict) and isinstance(part.get("name"), str) and part["name"]:
            return str(part["name"])
    try:
        config = json.loads(base64.b64decode(entry.get("Bytes") or ""))
    except (ValueError, TypeError):
        return ""
    return str(config.get("name") or "") if isinstance(config, dict) else ""


def recorded_master_ifname(entries: list[dict[str, Any]]) -> str:
    """The master's interface name as our cache records it; ``""`` in a cache written by upstream."""
    for e in entries:
        if e.get("master") is True and isinstance(e.get("ifname"), str):
            return str(e["ifname"])
    return ""


def load_entries(cni_dir: str, container_id: str) -> list[dict[str, Any]] | None:
    """The raw entries of a scratch cache; None when it is missing, unreadable or not an array of
    objects."""
    try:
        with open(path(cni_dir, container_id), "rb") as f:
            entries = json.loads(f.read())
    except (OSError, ValueError):
        return None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        return None
    return entries


def load(cni_dir: str, container_id: str, ifname: str, cni_version: str) -> list[Delegate] | None:
    """The cached delegates; None when the file is missing, unreadable or corrupt."""
    p = path(cni_dir, container_id)
    try:
        with open(p, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None
    except OSError as e:
        log.error("cannot read the delegate cache %s: %s", p, e)
        return None
    try:
        return decode(data, ifname, cni_version)
    except (ValueError, TypeError, KeyError) as e:
        log.error("the delegate cache %s is corrupt (%s): rebuilding from the result caches", p, e)
        return None


def remove(cni_dir: str, container_id: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path(cni_dir, container_id))


def cached_container_ids(cni_dir: str) -> list[str]:
    """Container IDs that have a scratch cache file."""
    try:
        names = os.listdir(cni_dir)
    except OSError:
        return []
    return [n for n in names if CONTAINER_ID_RE.match(n) and ".tmp." not in n
            and os.path.isfile(os.path.join(cni_dir, n))]
