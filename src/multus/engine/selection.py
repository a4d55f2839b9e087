"""The pod network-selection annotations, parsed as upstream Multus parses them.

``k8s.v1.cni.cncf.io/networks`` (and ``v1.multus-cni.io/default-network``) hold either

* the **short form**: comma-separated ``[<namespace>/]<name>[@<ifname>]`` items, or
* the **JSON form** (chosen when the value contains any of ``[``, ``{``, ``"``): an array of network
  selection elements (``name``, ``namespace``, ``interface``, ``ips``, ``mac``, ``infiniband-guid``,
  ``portMappings``, ``bandwidth``, ``default-route``, ``cni-args``, ``deviceID``, the legacy
  ``interfaceRequest`` and ``ipam-claim-reference``).

Upstream decodes the JSON form with Go's ``encoding/json``, which :mod:`multus.gocompat` reproduces:
the syntax errors and type errors carry Go's texts (``invalid character ...``, ``json: cannot unmarshal
string into Go struct field NetworkSelectionElement.ips of type []string``), keys match
case-insensitively when there is no exact match, unknown keys are ignored, ``null`` leaves a string
field empty and an optional object/list absent, and a repeated key takes its last value. Then every
element is validated as upstream does (MAC / InfiniBand GUID as Go's ``net.ParseMAC``, each ``ips``
item as Go's ``net.ParseIP`` / ``net.ParseCIDR``, ``interfaceRequest`` copied into an empty
``interface``). Every failure is a :class:`~multus.errors.CNIError` with code 7 (``INVALID_CONFIG``) and
upstream's message.

Deliberate hardening beyond upstream (names end up in API paths, cache keys and file names):

* in the JSON form, ``name`` must be a DNS-1123 subdomain (what Kubernetes allows for object names,
  dotted names included), and a non-empty ``namespace`` (explicit or the default namespace) a
  DNS-1123 label; the short form keeps upstream's stricter label rule for both. An empty name (``"a,,b"``, ``[{}]``) is refused too. Hence no
  name or namespace ever contains ``/`` or ``..``.
* a requested ``interface`` must satisfy the CNI interface-name rule
  (:func:`multus.cni.names.interface_name_problem`): at most 15 bytes, not ``.`` or ``..``, no
  ``/``, ``:`` or whitespace.
* a ``null`` element of the JSON array is refused (upstream dereferences it and crashes).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, NoReturn

from multus import gocompat as go
from multus.cni import names
from multus.engine.annotations import DEFAULT_NETWORK_ANNOTATION, NETWORKS_ANNOTATION
from multus.errors import INVALID_CONFIG, CNIError
from multus.plugin.models import NetworkSelection

__all__ = [
    "DEFAULT_NETWORK_ANNOTATION",
    "NETWORKS_ANNOTATION",
    "NetworkSelection",
    "parse_default_network_annotation",
    "parse_networks_annotation",
    "selection_from_dict",
]

_JSON_PREFIX = "parsePodNetworkAnnotation: failed to parse pod Network Attachment Selection Annotation JSON format: "
_OBJECT_NAME_PREFIX = "parsePodNetworkAnnotation: parsePodNetworkObjectName: "
_DEFAULT_PREFIX = "tryLoadK8sPodDefaultNetwork: "
_IPAM_CLAIM_CONFLICT = (
    "cannot provide a static IP and a reference of an IPAM claim in the same network selection element"
)

_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_SUBDOMAIN_RULE = ("must consist of lower case alphanumeric characters, '-' or '.', and must start and end "
                   "with an alphanumeric character (DNS-1123 subdomain)")
_LABEL_RULE = ("must consist of lower case alphanumeric characters or '-', and must start and end with "
               "an alphanumeric character (DNS-1123 label)")

def selection_from_dict(data: Mapping[str, Any], default_namespace: str = "") -> NetworkSelection:
    """One JSON-form element (e.g. :meth:`NetworkSelection.to_dict`'s output), validated like the
    annotation."""
    try:
        text = json.dumps([dict(data)], allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise CNIError(INVALID_CONFIG, f"{_JSON_PREFIX}{exc}") from None
    return parse_networks_annotation(text, default_namespace)[0]


def parse_networks_annotation(value: str, default_namespace: str) -> list[NetworkSelection]:
    """Parse ``k8s.v1.cni.cncf.io/networks``; a missing namespace becomes ``default_namespace``.

    An empty (or whitespace-only) value selects no network.
    """
    if go.trim_space(value) == "":
        return []
    if any(c in value for c in '[{"'):
        elements = _decode_json_form(value)
    else:
        elements = [_parse_object_name(item) for item in value.split(",")]
    return [_finish(i, fields, default_namespace) for i, fields in enumerate(elements)]


def parse_default_network_annotation(value: str, default_namespace: str) -> NetworkSelection | None:
    """Parse ``v1.multus-cni.io/default-network`` (one element); ``None`` for an empty value.

    ``default_namespace`` is multus' ``multusNamespace`` (not the pod's), as upstream.
    """
    if go.trim_space(value) == "":
        return None
    try:
        networks = parse_networks_annotation(value, default_namespace)
    except CNIError as exc:
        raise CNIError(INVALID_CONFIG, f"{_DEFAULT_PREFIX}failed to parse CRD object: {exc.msg}") from None
    if len(networks) > 1:
        raise CNIError(INVALID_CONFIG, f"{_DEFAULT_PREFIX}more than one default network is specified: {value}")
    if not networks:
        raise CNIError(INVALID_CONFIG, f"{_DEFAULT_PREFIX}no default network is specified: {value}")
    return networks[0]


# --------------------------------------------------------------------------------------------------
# Short form


def _parse_object_name(item: str) -> dict[str, Any]:
    """``[<ns>/]<name>[@<ifname>]`` as upstream's parsePodNetworkObjectName."""
    item = go.trim_space(item)
    namespace = ""
    slash = item.split("/")
    if len(slash) == 2:
        namespace = go.trim_space(slash[0])
        rest = slash[1]
    elif len(slash) == 1:
        rest = slash[0]
    else:
        _fail(f"{_OBJECT_NAME_PREFIX}Invalid network object (failed at '/')")
    at = rest.split("@")
    name = go.trim_space(at[0])
    ifname = ""
    if len(at) == 2:
        ifname = go.trim_space(at[1])
    elif len(at) != 1:
        _fail(f"{_OBJECT_NAME_PREFIX}Invalid network object (failed at '@')")
    for part in (namespace, name):
        if part and not _DNS1123_LABEL.fullmatch(part):
            _fail(f"{_OBJECT_NAME_PREFIX}Failed to parse: one or more items did not match comma-delimited "
                  "format (must consist of lower case alphanumeric characters). Must start and end with an "
                  f"alphanumeric character), mismatch @ '{part}'")
    # upstream's own pre-check of the short form (its text); the CNI rule follows in _finish
    if ifname and (go.byte_len(ifname) > names.MAX_IFNAME_BYTES or any(c in " \t\n\v\f\r/" for c in ifname)):
        _fail(f"{_OBJECT_NAME_PREFIX}Failed to parse interface name: must be less than 15 chars and not "
              f"contain '/' or spaces. interface name '{ifname}'")
    return {"name": name, "namespace": namespace, "interface": ifname}


# --------------------------------------------------------------------------------------------------
# Validation common to both forms


def _finish(index: int, f: dict[str, Any], default_namespace: str) -> NetworkSelection:
    namespace: str = f.get("namespace") or default_namespace
    mac: str = f.get("mac", "")
    if mac and not go.parse_mac(mac):
        _fail(f"parsePodNetworkAnnotation: failed to mac: address {mac}: invalid MAC address")
    guid: str = f.get("infiniband-guid", "")
    if guid and not go.parse_mac(guid):
        _fail(f"parsePodNetworkAnnotation: failed to validate infiniband GUID: address {guid}: "
              "invalid MAC address")
    ips: tuple[str, ...] = f.get("ips") or ()
    for ip in ips:
        if "/" in ip:
            if not go.parse_cidr(ip):
                _fail(f"failed to parse CIDR {go.quote(ip)}: invalid CIDR address: {ip}")
        elif go.parse_ip(ip) is None:
            _fail(f"failed to parse IP address {go.quote(ip)}")
    interface: str = f.get("interface") or f.get("interfaceRequest") or ""

    where = f"parsePodNetworkAnnotation: network selection element {index}"
    name: str = f.get("name", "")
    if not name:
        _fail(f'{where}: "name" is missing or empty')
    if len(name) > 253 or not _DNS1123_SUBDOMAIN.fullmatch(name):
        _fail(f'{where}: "name" {go.quote(name)} is invalid: {_SUBDOMAIN_RULE}')
    if namespace and not _DNS1123_LABEL.fullmatch(namespace):
        origin = "" if f.get("namespace") else " (the default namespace)"
        _fail(f'{where}: "namespace" {go.quote(namespace)}{origin} is invalid: {_LABEL_RULE}')
    if interface:
        problem = names.interface_name_problem(interface)
        if problem:
            _fail(f'{where}: "interface" {go.quote(interface)} is invalid: {problem}')

    return NetworkSelection(
        name=name,
        namespace=namespace,
        interface=interface,
        ips=ips,
        mac=mac,
        infiniband_guid=guid,
        port_mappings=f.get("portMappings"),
        bandwidth=f.get("bandwidth"),
        default_route=f.get("default-route"),
        cni_args=f.get("cni-args"),
        device_id=f.get("deviceID", ""),
        ipam_claim_reference=f.get("ipam-claim-reference", ""),
    )


def _fail(msg: str) -> NoReturn:
    raise CNIError(INVALID_CONFIG, msg)


# --------------------------------------------------------------------------------------------------
# JSON form: Go's encoding/json (multus.gocompat) into multus' NetworkSelectionElement


def _decode_json_form(value: str) -> list[dict[str, Any]]:
    try:
        tree = go.decode(value)
        if tree is None:  # Go: null into a slice leaves it nil
            return []
        if not isinstance(tree, list):
            raise go.type_error(tree, "[]*types.NetworkSelectionElement")
        return [_decode_element(i, v) for i, v in enumerate(tree)]
    except go.JSONFailure as exc:
        raise CNIError(INVALID_CONFIG, f"{_JSON_PREFIX}{exc}") from None
    except RecursionError:
        raise CNIError(INVALID_CONFIG, f"{_JSON_PREFIX}nesting too deep") from None
    except ValueError as exc:  # the syntax check above should leave nothing for Python's parser
        raise CNIError(INVALID_CONFIG, f"{_JSON_PREFIX}{exc}") from None


_PORT_MAP_FIELDS: dict[str, go.Decoder] = {
    "hostPort": go.dec_int, "containerPort": go.dec_int, "protocol": go.dec_string, "hostIP": go.dec_string,
}
_BANDWIDTH_FIELDS: dict[str, go.Decoder] = {
    "ingressRate": go.dec_int, "ingressBurst": go.dec_int, "egressRate": go.dec_int, "egressBurst": go.dec_int,
}


def _dec_port_mappings(v: Any, struct: str, field: str) -> Any:
    if v is None:
        return None
    if not isinstance(v, list):
        raise go.type_error(v, "[]*types.PortMapEntry", struct, field)
    out: list[dict[str, Any]] = []
    for item in v:
        if item is None:
            raise go.JSONFailure(f"{struct}.{field}: null entries are not allowed")
        if not isinstance(item, go.Object):
            raise go.type_error(item, "types.PortMapEntry", struct, field)
        out.append(go.dec_struct(item, "PortMapEntry", _PORT_MAP_FIELDS, field))
    return tuple(out)


def _dec_bandwidth(v: Any, struct: str, field: str) -> Any:
    if v is None:
        return None
    if not isinstance(v, go.Object):
        raise go.type_error(v, "types.BandwidthEntry", struct, field)
    return go.dec_struct(v, "BandwidthEntry", _BANDWIDTH_FIELDS, field)


# Multus' types.NetworkSelectionElement, plus the NAD client's ipam-claim-reference.
_ELEMENT_FIELDS: dict[str, go.Decoder] = {
    "name": go.dec_string,
    "namespace": go.dec_string,
    "ips": go.dec_string_list,
    "mac": go.dec_string,
    "infiniband-guid": go.dec_string,
    "interface": go.dec_string,
    "interfaceRequest": go.dec_string,
    "portMappings": _dec_port_mappings,
    "bandwidth": _dec_bandwidth,
    "deviceID": go.dec_string,
    "cni-args": go.dec_map,
    "default-route": go.dec_ip_list,
    "ipam-claim-reference": go.dec_string,
}


def _decode_element(index: int, v: Any) -> dict[str, Any]:
    if v is None:
        raise go.JSONFailure(f"network selection element {index} is null, expected an object")
    if not isinstance(v, go.Object):
        raise go.type_error(v, "types.NetworkSelectionElement")
    out: dict[str, Any] = {}
    for key, item in v.pairs:
        match = go.match_field(key, _ELEMENT_FIELDS)
        if match is None:
            continue
        decoded = _ELEMENT_FIELDS[match](item, "NetworkSelectionElement", match)
        if decoded is not go.KEEP:
            out[match] = decoded
    if out.get("ips") and out.get("ipam-claim-reference"):
        raise go.JSONFailure(_IPAM_CLAIM_CONFLICT)
    return out
