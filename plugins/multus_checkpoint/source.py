"""The kubelet's device-manager checkpoint as a ``multus_source_resource_map`` backend.

Used when the PodResources socket is absent (that backend runs first and says "unknown"). The
kubelet records every device it allocated in ``kubelet_internal_checkpoint``::

    {"Data": {"PodDeviceEntries": [{"PodUID": "...", "ContainerName": "...",
                                    "ResourceName": "intel.com/sriov", "DeviceIDs": ...,
                                    "AllocResp": "<base64>"}],
              "RegisteredDevices": {"intel.com/sriov": ["..."]}},
     "Checksum": 1234}

``DeviceIDs`` is a list before Kubernetes 1.20 and a map NUMA node -> list since (upstream
multus read only the list and broke on newer kubelets, #665 #778); both are read here, and Go's
``null`` for an empty slice or map is an empty one. Entries are matched by pod UID; every
container's IDs of a resource are gathered. ``Checksum`` (a hash of kubelet's Go structures)
is not verified; the structure is, entirely: a file that is not what the kubelet writes is an
error (code 5) naming the file and the field, not a silent empty map.

Decisions:

* The pod UID is ``K8S_POD_UID`` from CNI_ARGS, else the pod object's. CNI_ARGS first because
  for a static pod the API's (mirror pod) UID differs from the kubelet's, which the checkpoint
  holds.
* No UID at all: ``None`` (this source knows nothing) with a warning, where upstream fails the
  request; the selection element's ``deviceID``, or another source, may still provide an ID.
* No checkpoint file: ``None`` (upstream: an error).

Setting ``kubeletCheckpoint`` in the multus configuration overrides the path, default
``/var/lib/kubelet/device-plugins/kubelet_internal_checkpoint``.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from multus import IO_FAILURE, CNIError, hookimpl, path_setting

if TYPE_CHECKING:
    from multus import RequestContext

log = logging.getLogger("multus.checkpoint")

PATH_KEY = "kubeletCheckpoint"
DEFAULT_PATH = "/var/lib/kubelet/device-plugins/kubelet_internal_checkpoint"


@hookimpl
def multus_source_resource_map(ctx: RequestContext) -> dict[str, list[str]] | None:
    path = checkpoint_path(ctx)
    uid = pod_uid(ctx)
    if not uid:
        log.warning("pod %s: no pod UID (CNI_ARGS K8S_POD_UID): the kubelet checkpoint cannot be "
                    "matched, no device IDs from it", ctx.pod_label)
        return None
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        log.debug("no kubelet checkpoint at %s", path)
        return None
    except OSError as e:
        raise CNIError(IO_FAILURE, f"kubelet checkpoint {path}: cannot read: {e.strerror or e}") from None
    return resource_map(data, uid, path)


def checkpoint_path(ctx: RequestContext) -> str:
    return path_setting(ctx.conf, PATH_KEY, DEFAULT_PATH)


def pod_uid(ctx: RequestContext) -> str:
    return ctx.request.arg("K8S_POD_UID") or (ctx.pod.uid if ctx.pod is not None else "")


# --- the file -------------------------------------------------------------------------------

class _Bad(Exception):
    def __init__(self, field: str, msg: str) -> None:
        super().__init__(f"{field}: {msg}")


def _kind(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null",
            int: "number", float: "number"}.get(type(value), type(value).__name__)


def _expect(value: Any, typ: type, field: str) -> Any:
    if not isinstance(value, typ):
        names: dict[type, str] = {dict: "object", list: "array", str: "string"}
        want = names.get(typ, typ.__name__)
        raise _Bad(field, f"expected {want}, got {_kind(value)}")
    return value


def _strings(value: Any, field: str) -> list[str]:
    if value is None:
        return []
    items = _expect(value, list, field)
    for i, v in enumerate(items):
        _expect(v, str, f"{field}[{i}]")
    return list(items)


def _numa_order(key: str) -> tuple[int, int | str]:
    try:
        return (0, int(key))
    except ValueError:
        return (1, key)


def device_ids(value: Any, field: str) -> list[str]:
    """``DeviceIDs`` in either format: a list (< 1.20) or NUMA node -> list (>= 1.20)."""
    if isinstance(value, dict):
        out: list[str] = []
        for node in sorted(value, key=_numa_order):
            out += _strings(value[node], f"{field}[{node!r}]")
        return out
    if value is None or isinstance(value, list):
        return _strings(value, field)
    raise _Bad(field, f"expected array or object (NUMA node -> array), got {_kind(value)}")


def entries(doc: Any) -> list[dict[str, Any]]:
    """The checked ``Data.PodDeviceEntries`` of a decoded checkpoint, ``DeviceIDs`` as one list."""
    _expect(doc, dict, "top level")
    data = _expect(doc.get("Data"), dict, "Data")
    raw = data.get("PodDeviceEntries")
    if raw is None:
        return []
    out = []
    for i, entry in enumerate(_expect(raw, list, "Data.PodDeviceEntries")):
        field = f"Data.PodDeviceEntries[{i}]"
        _expect(entry, dict, field)
        checked: dict[str, Any] = {}
        for key in ("PodUID", "ContainerName", "ResourceName"):
            checked[key] = _expect(entry.get(key, ""), str, f"{field}.{key}")
        checked["DeviceIDs"] = device_ids(entry.get("DeviceIDs"), f"{field}.DeviceIDs")
        out.append(checked)
    return out


def resource_map(data: bytes, uid: str, path: str = DEFAULT_PATH) -> dict[str, list[str]]:
    """Resource name -> device IDs of pod ``uid``, from the checkpoint's bytes."""
    if not data.strip():
        raise CNIError(IO_FAILURE, f"kubelet checkpoint {path}: the file is empty")
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise CNIError(IO_FAILURE, f"kubelet checkpoint {path}: not valid JSON (corrupt or truncated): {e}") \
            from None
    try:
        found = entries(doc)
    except _Bad as e:
        raise CNIError(IO_FAILURE, f"kubelet checkpoint {path}: {e}") from None
    out: dict[str, list[str]] = {}
    for entry in found:
        if entry["PodUID"] == uid:
            out.setdefault(entry["ResourceName"], []).extend(entry["DeviceIDs"])
    return out
