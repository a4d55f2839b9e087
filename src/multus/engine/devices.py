"""Device IDs for networks backed by a device-plugin resource, and device-info files (§12).

A NetworkAttachmentDefinition annotated with ``k8s.v1.cni.cncf.io/resourceName`` names a
device-plugin resource (an SR-IOV pool, for example). The kubelet allocated some of that
resource's devices to the pod; each network of that resource gets one of them:

* the resource map (resource name -> device IDs) is asked of the ``multus_source_resource_map``
  hook at most once per request, and only when some delegate names a resource. The allocator
  built from it is kept in ``ctx.cache``, so that every delegate of the request, however many
  times :func:`assign` is called, takes a different ID (upstream gives the network of the
  ``v1.multus-cni.io/default-network`` annotation a fresh map, so it may get the same ID as a
  secondary network);
* IDs are sorted and handed out in order; when a resource has fewer IDs than networks, the
  remaining networks get none (they may still get the ``deviceID`` of their selection element);
* the ID goes into the delegate configuration as ``deviceID`` and ``pciBusID`` (top level of a
  conf, every plugin of a conflist), and into the capability args as ``deviceID`` with
  ``CNIDeviceInfoFile`` (see :func:`device_info_file` and :func:`capability_args`).

Device-info files (the Network Plumbing WG's device-info specification): a device plugin may
leave ``<dp dir>/<resource>-<deviceID>-device.json``; before ADD it is copied to the delegate's
CNI file (:func:`prepare`), after ADD the CNI file, written by that copy or by the delegate
itself, becomes the ``device-info`` of the network-status entry (:func:`load`), and DEL
removes it (:func:`remove`). Failures there are logged and never fail a request, as upstream.

This module imports nothing heavy; the backends that read the kubelet live in ``plugins/``.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from multus.cni.conf import is_conflist
from multus.errors import INVALID_CONFIG, CNIError

if TYPE_CHECKING:
    from multus.config.netconf import MultusConf
    from multus.plugin.models import Delegate, RequestContext

log = logging.getLogger("multus.devices")

DEFAULT_CNI_DIR = "/var/run/k8s.cni.cncf.io/devinfo/cni"
"""Where multus (and the delegates) keep one device-info file per attachment."""
DEFAULT_DP_DIR = "/var/run/k8s.cni.cncf.io/devinfo/dp"
"""Where device plugins leave one device-info file per device."""
CNI_DIR_KEY = "deviceInfoDir"
DP_DIR_KEY = "devicePluginInfoDir"
FILE_MODE = 0o444
_CACHE_KEY = "multus.engine.devices.allocator"


class DeviceAllocator:
    """Hands out each resource's device IDs, sorted, one at a time.

    Not an attrs class: it is the one stateful object here, and lives for one request only.
    """

    __slots__ = ("_ids", "_next")

    def __init__(self, resources: Mapping[str, Iterable[str]]) -> None:
        self._ids: dict[str, list[str]] = {name: sorted(ids) for name, ids in resources.items()}
        self._next: dict[str, int] = dict.fromkeys(self._ids, 0)

    def next(self, resource: str) -> str | None:
        """The next unused ID of ``resource``; ``None`` when it has none left (or is unknown)."""
        ids = self._ids.get(resource)
        if not ids:
            return None
        i = self._next[resource]
        if i >= len(ids):
            return None
        self._next[resource] = i + 1
        return ids[i]

    def remaining(self, resource: str) -> int:
        return len(self._ids.get(resource, ())) - self._next.get(resource, 0)

    @property
    def resources(self) -> dict[str, list[str]]:
        """A copy of the map, IDs sorted."""
        return {k: list(v) for k, v in self._ids.items()}

    def __repr__(self) -> str:
        return f"DeviceAllocator({self._ids!r}, next={self._next!r})"


def allocator(ctx: RequestContext) -> DeviceAllocator:
    """The request's allocator, asking the resource-map hook the first time."""
    alloc = ctx.cache.get(_CACHE_KEY)
    if not isinstance(alloc, DeviceAllocator):
        resources = ctx.plugins.source_resource_map(ctx)
        alloc = DeviceAllocator(resources)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("resource map for pod %s: %s", ctx.pod_label, json.dumps(alloc.resources, sort_keys=True))
        ctx.cache[_CACHE_KEY] = alloc
    return alloc


def assign(ctx: RequestContext, delegates: list[Delegate]) -> list[Delegate]:
    """Give every delegate that names a resource its device ID, in order.

    The device-plugin ID wins; without one the selection element's ``deviceID`` is used. A
    delegate that already carries a ``device_id`` keeps it (a source decided). The returned
    delegates are new objects with new configurations: the input is not modified.
    """
    out: list[Delegate] = []
    for d in delegates:
        device_id = d.device_id
        if not device_id and d.resource_name:
            device_id = allocator(ctx).next(d.resource_name) or ""
            if not device_id:
                log.debug("pod %s: no device ID left for resource %r of network %s",
                          ctx.pod_label, d.resource_name, d.name)
        if not device_id and d.selection is not None and d.selection.device_id:
            device_id = d.selection.device_id
        if not device_id:
            out.append(d)
            continue
        out.append(attrs.evolve(d, device_id=device_id,
                                config=inject_device_id(d.config, device_id, d.name)))
    return out


def inject_device_id(config: Mapping[str, Any], device_id: str, name: str = "") -> dict[str, Any]:
    """A copy of ``config`` with ``deviceID`` and ``pciBusID`` set, in every plugin of a conflist."""
    out = copy.deepcopy(dict(config))
    if is_conflist(out):
        plugins = out["plugins"]
        if not isinstance(plugins, list):
            raise CNIError(INVALID_CONFIG, f"network {name or out.get('name')!r}: plugins: expected a "
                           f"JSON array, got {type(plugins).__name__}")
        for i, plugin in enumerate(plugins):
            if not isinstance(plugin, dict):
                raise CNIError(INVALID_CONFIG, f"network {name or out.get('name')!r}: plugins[{i}]: "
                               f"expected a JSON object, got {type(plugin).__name__}")
            plugin["deviceID"] = device_id
            plugin["pciBusID"] = device_id
    else:
        out["deviceID"] = device_id
        out["pciBusID"] = device_id
    return out


# --- device-info files ---------------------------------------------------------------------

def dirs(conf: MultusConf) -> tuple[str, str]:
    """``(cni_dir, dp_dir)``: ``deviceInfoDir`` and ``devicePluginInfoDir`` of the multus config."""
    from multus.config.netconf import path_setting

    return path_setting(conf, CNI_DIR_KEY, DEFAULT_CNI_DIR), path_setting(conf, DP_DIR_KEY, DEFAULT_DP_DIR)


def device_info_file(name: str, container_id: str, ifname: str, base_dir: str = DEFAULT_CNI_DIR) -> str:
    """``<base_dir>/<name>-<containerID>_<ifname>``, every ``/`` of the file name turned into ``-``
    (``default/sriov-net`` -> ``default-sriov-net-<id>_net1``), as the NAD client library does."""
    return os.path.join(base_dir, f"{name}-{container_id}_{ifname}".replace("/", "-"))


def dp_device_info_file(resource_name: str, device_id: str, dp_dir: str = DEFAULT_DP_DIR) -> str:
    """The file a device plugin writes for one device: ``<resource>-<deviceID>-device.json``."""
    resource, device = resource_name.replace("/", "-"), device_id.replace("/", "-")
    return os.path.join(dp_dir, f"{resource}-{device}-device.json")


def info_path(ctx: RequestContext, delegate: Delegate) -> str:
    """The delegate's CNI device-info file, or ``""`` when it has none.

    The capability argument ``CNIDeviceInfoFile`` when the delegate carries one; otherwise
    derived as upstream does: only a non-master delegate with a device ID has one.
    """
    given = delegate.runtime_config.get("CNIDeviceInfoFile")
    if isinstance(given, str) and given:
        return given
    if not delegate.device_id or delegate.master:
        return ""
    return device_info_file(delegate.name, ctx.request.container_id, delegate.ifname, dirs(ctx.conf)[0])


def capability_args(ctx: RequestContext, delegate: Delegate) -> dict[str, str]:
    """``{"deviceID", "CNIDeviceInfoFile"}`` for a non-master delegate with a device ID, else ``{}``."""
    if not delegate.device_id or delegate.master:
        return {}
    return {"deviceID": delegate.device_id,
            "CNIDeviceInfoFile": device_info_file(delegate.name, ctx.request.container_id,
                                                  delegate.ifname, dirs(ctx.conf)[0])}


def prepare(ctx: RequestContext, delegate: Delegate) -> None:
    """Before ADD: copy the device plugin's file for this device to the delegate's CNI file.

    Only for a delegate with a resource name and a device ID. The file is created 0444 and never
    overwritten. Every failure is logged and ignored: most device plugins write no such file.
    """
    if not delegate.resource_name or not delegate.device_id:
        return
    try:
        dst = info_path(ctx, delegate)
        if not dst:
            return
        src = dp_device_info_file(delegate.resource_name, delegate.device_id, dirs(ctx.conf)[1])
        with open(src, "rb") as f:
            info = json.loads(f.read())
        if not isinstance(info, dict):
            raise TypeError(f"{src}: expected a JSON object, got {type(info).__name__}")
        _write_new(dst, json.dumps(info, separators=(",", ":")).encode())
    except FileNotFoundError as e:
        log.debug("device-info for %s (%s %s): %s not found", delegate.name, delegate.resource_name,
                  delegate.device_id, e.filename)
    except (OSError, ValueError, TypeError, CNIError) as e:
        log.warning("device-info for %s (%s %s) not copied: %s", delegate.name, delegate.resource_name,
                    delegate.device_id, e)


def _write_new(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(path) or ".", mode=0o755, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    except FileExistsError:
        raise OSError(f"device information file already exists: {path}") from None
    try:
        os.fchmod(fd, FILE_MODE)  # whatever the umask
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except BaseException:
        os.close(fd)
        os.unlink(path)
        raise
    os.close(fd)


def load(ctx: RequestContext, delegate: Delegate) -> dict[str, Any] | None:
    """After ADD: the delegate's device-info (a JSON object), or ``None``.

    ``None`` when the delegate has no device-info file, the file does not exist, or it is not a
    JSON object (logged). The object is returned as written, unknown keys included.
    """
    try:
        path = info_path(ctx, delegate)
        if not path:
            return None
        with open(path, "rb") as f:
            info = json.loads(f.read())
    except FileNotFoundError:
        return None
    except (OSError, ValueError, CNIError) as e:
        log.warning("device-info of %s not loaded: %s", delegate.name, e)
        return None
    if not isinstance(info, dict):
        log.warning("device-info of %s not loaded: %s: expected a JSON object, got %s",
                    delegate.name, path, type(info).__name__)
        return None
    return info


def remove(ctx: RequestContext, delegate: Delegate) -> None:
    """DEL: remove the delegate's device-info file; a missing file is fine, other errors logged."""
    try:
        path = info_path(ctx, delegate)
        if path:
            os.unlink(path)
    except FileNotFoundError:
        pass
    except (OSError, CNIError) as e:
        log.warning("device-info of %s not removed: %s", delegate.name, e)
