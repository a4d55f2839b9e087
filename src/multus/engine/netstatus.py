"""The ``k8s.v1.cni.cncf.io/network-status`` entries of an ADD (§11), independent of Kubernetes.

Each attachment's result is converted to CNI 1.0.0 (:mod:`multus.cni.result`) and turned into
entries as the network-attachment-definition client's ``CreateNetworkStatuses`` does (v1.7):

* exactly one interface in the result: one entry; ``interface``/``mac``/``mtu`` only when that
  interface has a ``sandbox``; ``ips`` are all the result's addresses;
* otherwise one entry per interface with a ``sandbox``; each address goes to the entry of its
  ``interface`` index, an address without index to the **last** entry; for the master delegate
  ``default`` marks the interface whose address carries a gateway (the first such), else the
  first sandbox interface;
* ``ips`` without prefix, ``dns`` always present (``{}`` when empty), ``gateway`` the gateways of
  the default routes (``0.0.0.0/*``, ``::/*``), ``device-info`` the CNI device-info file.

Deliberate differences from upstream:

* A result without any interface (every 0.1.0/0.2.0 result, and 0.3+ results that list only
  addresses) still yields one entry, named after the delegate's interface (upstream writes no
  entry at all, so such networks were invisible in the status).
* A default route without ``gw`` adds nothing to ``gateway`` (upstream writes the string
  ``"<nil>"``), except in a 0.1.0/0.2.0 result, where it means the address's own gateway.

:func:`serialize` prints the entries exactly as upstream: ``[`` + each entry indented with four
spaces as Go's ``json.MarshalIndent`` does + ``,`` between them + ``]``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from multus.cni import result as cni_result
from multus.errors import DECODE_FAILURE, CNIError

if TYPE_CHECKING:
    from multus.plugin.models import Attachment

__all__ = ["entries_for", "network_status", "serialize"]

_DEVICE_INFO_ORDER: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("type", ()),
    ("version", ()),
    ("pci", ("pci-address", "vhost-net", "rdma-device", "pf-pci-address", "representor-device")),
    ("vdpa", ("parent-device", "driver", "path", "pci-address", "pf-pci-address", "representor-device")),
    ("vhost-user", ("mode", "path")),
    ("memif", ("role", "path", "mode")),
)


def network_status(attachments: Iterable[Attachment]) -> list[dict[str, Any]]:
    """Every entry of every attachment, in attachment order."""
    out: list[dict[str, Any]] = []
    for att in attachments:
        out.extend(entries_for(att.parsed_result, att.delegate.name, att.delegate.ifname, att.delegate.master,
                               att.device_info))
    return out


def entries_for(raw: Mapping[str, Any] | cni_result.Result, name: str, ifname: str, master: bool,
                device_info: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The entries of one delegate's result (parsed, or raw in the delegate's own cniVersion)."""
    parsed = raw if isinstance(raw, cni_result.Result020 | cni_result.Result040 | cni_result.Result100) \
        else cni_result.parse_result(raw)
    legacy_gateways: dict[int, str] = {}
    if isinstance(parsed, cni_result.Result020):
        for fam, ipc in ((4, parsed.ip4), (6, parsed.ip6)):
            if ipc is not None and ipc.gateway:
                legacy_gateways[fam] = ipc.gateway
    res = parsed.convert("1.0.0")
    if not isinstance(res, cni_result.Result100):
        raise CNIError(DECODE_FAILURE, f"network {name!r}: its result cannot be read as CNI 1.0.0 "
                       f"(got {type(res).__name__})")
    dns = res.dns.to_dict()
    gateways = _default_gateways(res.routes, legacy_gateways)
    dev = _device_info(device_info)

    if len(res.interfaces) == 1:
        iface = res.interfaces[0]
        entry = _entry(name, iface.name if iface.sandbox else "", [_ip(a.address) for a in res.ips],
                       iface.mac if iface.sandbox else "", iface.mtu if iface.sandbox else 0,
                       master, dns, dev, gateways)
        return [entry]

    if not res.interfaces:
        return [_entry(name, ifname, [_ip(a.address) for a in res.ips], "", 0, master, dns, dev, gateways)]

    gw_index = -1
    if master:
        gw_index = next((a.interface for a in res.ips if a.gateway and a.interface is not None), -1)
    statuses: list[dict[str, Any]] = []
    ips_of: list[list[str]] = []
    index_map: dict[int, int] = {}
    did_default = False
    found_first = False
    for i, iface in enumerate(res.interfaces):
        if not iface.sandbox:
            continue
        is_default = False
        if master and i == gw_index and not did_default:
            is_default = did_default = True
        if master and gw_index == -1 and not found_first:
            is_default = found_first = True
        index_map[i] = len(statuses)
        statuses.append({"interface": iface.name, "mac": iface.mac, "mtu": iface.mtu, "default": is_default})
        ips_of.append([])
    for a in res.ips:
        if a.interface is not None:
            if a.interface in index_map:
                ips_of[index_map[a.interface]].append(_ip(a.address))
        elif ips_of:
            ips_of[-1].append(_ip(a.address))
    return [_entry(name, s["interface"], ips, s["mac"], s["mtu"], s["default"], dns, dev, gateways)
            for s, ips in zip(statuses, ips_of, strict=True)]


def serialize(entries: Sequence[Mapping[str, Any]]) -> str:
    """The annotation value, byte for byte as upstream's ``SetNetworkStatus`` writes it."""
    return "[" + ",".join(_go_json(e) for e in entries) + "]"


# --- helpers ---------------------------------------------------------------------------------

def _entry(name: str, interface: str, ips: list[str], mac: str, mtu: int, default: bool,
           dns: dict[str, Any], dev: dict[str, Any] | None, gateways: list[str]) -> dict[str, Any]:
    """One NetworkStatus, keys in the Go struct's order, ``omitempty`` fields left out."""
    out: dict[str, Any] = {"name": name}
    if interface:
        out["interface"] = interface
    if ips:
        out["ips"] = ips
    if mac:
        out["mac"] = mac
    if mtu:
        out["mtu"] = mtu
    if default:
        out["default"] = True
    out["dns"] = dict(dns)
    if dev:
        out["device-info"] = dev
    if gateways:
        out["gateway"] = list(gateways)
    return out


def _ip(address: str) -> str:
    """``10.1.1.2/24`` -> ``10.1.1.2`` (addresses are already in Go's text form)."""
    return address.split("/", 1)[0]


def _default_gateways(routes: Iterable[cni_result.Route], legacy: Mapping[int, str]) -> list[str]:
    out: list[str] = []
    for r in routes:
        ip = cni_result.canonical_ip(r.dst.split("/", 1)[0]) if r.dst else None
        if r.dst and ip not in ("0.0.0.0", "::"):
            continue
        if r.gw:
            out.append(r.gw)
        elif legacy:
            fam = 6 if ip == "::" else 4
            if fam in legacy:
                out.append(legacy[fam])
    return out


def _device_info(info: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The device-info object with the known keys in Go's struct order (unknown keys kept after
    them, empty values dropped as ``omitempty`` would)."""
    if not info:
        return None
    out: dict[str, Any] = {}
    for key, sub in _DEVICE_INFO_ORDER:
        value = info.get(key)
        if value in (None, "", {}):
            continue
        if sub and isinstance(value, Mapping):
            value = {k: value[k] for k in sub if value.get(k) not in (None, "")} | \
                    {k: v for k, v in value.items() if k not in sub}
        out[key] = value
    for key, value in info.items():
        if key not in out and not any(key == k for k, _ in _DEVICE_INFO_ORDER):
            out[key] = value
    return out


_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _go_json(value: Any) -> str:
    """Go's ``json.MarshalIndent(v, "", "    ")``: HTML characters and U+2028/9 escaped."""
    text = json.dumps(value, indent=4, ensure_ascii=False, separators=(",", ": "))
    for ch, esc in _GO_ESCAPES.items():
        text = text.replace(ch, esc)
    return text
