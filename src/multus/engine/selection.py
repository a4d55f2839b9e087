"""The pod network-selection annotations, parsed as upstream Multus parses them.

``k8s.v1.cni.cncf.io/networks`` (and ``v1.multus-cni.io/default-network``) hold either

* the **short form**: comma-separated ``[<namespace>/]<name>[@<ifname>]`` items, or
* the **JSON form** (chosen when the value contains any of ``[``, ``{``, ``"``): an array of network
  selection elements (``name``, ``namespace``, ``interface``, ``ips``, ``mac``, ``infiniband-guid``,
  ``portMappings``, ``bandwidth``, ``default-route``, ``cni-args``, ``deviceID``, the legacy
  ``interfaceRequest`` and ``ipam-claim-reference``).

Upstream decodes the JSON form with Go's ``encoding/json``; this module reproduces what matters of it:
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
* a requested ``interface`` must satisfy the CNI interface-name rules: at most 15 bytes, not ``.`` or
  ``..``, no ``/``, ``:`` or whitespace.
* a ``null`` element of the JSON array is refused (upstream dereferences it and crashes).
"""

from __future__ import annotations

import copy
import ipaddress
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from attrs import frozen

from multus.engine.annotations import DEFAULT_NETWORK_ANNOTATION, NETWORKS_ANNOTATION
from multus.errors import INVALID_CONFIG, CNIError

__all__ = [
    "DEFAULT_NETWORK_ANNOTATION",
    "NETWORKS_ANNOTATION",
    "NetworkSelection",
    "parse_default_network_annotation",
    "parse_networks_annotation",
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
_IFNAMSIZ = 16
"""Linux' IFNAMSIZ: an interface name has at most ``IFNAMSIZ - 1`` bytes."""

# Go's unicode.IsSpace (strings.TrimSpace trims these; Python's str.strip() trims more).
_GO_SPACE = ("\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
             "\u200a\u2028\u2029\u202f\u205f\u3000")
_HEX = frozenset(b"0123456789abcdefABCDEF")
_SURROGATE = re.compile("[\ud800-\udfff]")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


@frozen
class NetworkSelection:
    """One network selection element: a NetworkAttachmentDefinition and what the pod requests of it.

    ``port_mappings``, ``bandwidth`` and ``cni_args`` are the raw JSON values as given (validated for
    type only). ``None`` means the key was absent (or ``null``): ``default_route=()`` (the annotation
    said ``"default-route": []``) is not the same request as ``None``, nor ``cni_args={}`` as ``None``.
    ``default_route`` items are kept as written (``""`` for an empty string or ``null`` item, which
    Go decodes to a nil IP).
    """

    name: str
    namespace: str
    interface: str = ""
    ips: tuple[str, ...] = ()
    mac: str = ""
    infiniband_guid: str = ""
    port_mappings: tuple[dict[str, Any], ...] | None = None
    bandwidth: dict[str, Any] | None = None
    default_route: tuple[str, ...] | None = None
    cni_args: dict[str, Any] | None = None
    device_id: str = ""
    ipam_claim_reference: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Upstream's JSON keys; empty strings, no ``ips`` and absent (``None``) requests are omitted."""
        out: dict[str, Any] = {"name": self.name}
        if self.namespace:
            out["namespace"] = self.namespace
        if self.interface:
            out["interface"] = self.interface
        if self.ips:
            out["ips"] = list(self.ips)
        if self.mac:
            out["mac"] = self.mac
        if self.infiniband_guid:
            out["infiniband-guid"] = self.infiniband_guid
        if self.port_mappings is not None:
            out["portMappings"] = copy.deepcopy(list(self.port_mappings))
        if self.bandwidth is not None:
            out["bandwidth"] = copy.deepcopy(self.bandwidth)
        if self.default_route is not None:
            out["default-route"] = list(self.default_route)
        if self.cni_args is not None:
            out["cni-args"] = copy.deepcopy(self.cni_args)
        if self.device_id:
            out["deviceID"] = self.device_id
        if self.ipam_claim_reference:
            out["ipam-claim-reference"] = self.ipam_claim_reference
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], default_namespace: str = "") -> NetworkSelection:
        """One JSON-form element (e.g. :meth:`to_dict`'s output), validated like the annotation."""
        try:
            text = json.dumps([dict(data)], allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise CNIError(INVALID_CONFIG, f"{_JSON_PREFIX}{exc}") from None
        return parse_networks_annotation(text, default_namespace)[0]


def parse_networks_annotation(value: str, default_namespace: str) -> list[NetworkSelection]:
    """Parse ``k8s.v1.cni.cncf.io/networks``; a missing namespace becomes ``default_namespace``.

    An empty (or whitespace-only) value selects no network.
    """
    if _go_trim_space(value) == "":
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
    if _go_trim_space(value) == "":
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
    item = _go_trim_space(item)
    namespace = ""
    slash = item.split("/")
    if len(slash) == 2:
        namespace = _go_trim_space(slash[0])
        rest = slash[1]
    elif len(slash) == 1:
        rest = slash[0]
    else:
        _fail(f"{_OBJECT_NAME_PREFIX}Invalid network object (failed at '/')")
    at = rest.split("@")
    name = _go_trim_space(at[0])
    ifname = ""
    if len(at) == 2:
        ifname = _go_trim_space(at[1])
    elif len(at) != 1:
        _fail(f"{_OBJECT_NAME_PREFIX}Invalid network object (failed at '@')")
    for part in (namespace, name):
        if part and not _DNS1123_LABEL.fullmatch(part):
            _fail(f"{_OBJECT_NAME_PREFIX}Failed to parse: one or more items did not match comma-delimited "
                  "format (must consist of lower case alphanumeric characters). Must start and end with an "
                  f"alphanumeric character), mismatch @ '{part}'")
    if ifname and (_byte_len(ifname) > _IFNAMSIZ - 1 or any(c in " \t\n\v\f\r/" for c in ifname)):
        _fail(f"{_OBJECT_NAME_PREFIX}Failed to parse interface name: must be less than 15 chars and not "
              f"contain '/' or spaces. interface name '{ifname}'")
    return {"name": name, "namespace": namespace, "interface": ifname}


# --------------------------------------------------------------------------------------------------
# Validation common to both forms


def _finish(index: int, f: dict[str, Any], default_namespace: str) -> NetworkSelection:
    namespace: str = f.get("namespace") or default_namespace
    mac: str = f.get("mac", "")
    if mac and not _go_parse_mac(mac):
        _fail(f"parsePodNetworkAnnotation: failed to mac: address {mac}: invalid MAC address")
    guid: str = f.get("infiniband-guid", "")
    if guid and not _go_parse_mac(guid):
        _fail(f"parsePodNetworkAnnotation: failed to validate infiniband GUID: address {guid}: "
              "invalid MAC address")
    ips: tuple[str, ...] = f.get("ips") or ()
    for ip in ips:
        if "/" in ip:
            if not _go_parse_cidr(ip):
                _fail(f"failed to parse CIDR {_go_quote(ip)}: invalid CIDR address: {ip}")
        elif _go_parse_ip(ip) is None:
            _fail(f"failed to parse IP address {_go_quote(ip)}")
    interface: str = f.get("interface") or f.get("interfaceRequest") or ""

    where = f"parsePodNetworkAnnotation: network selection element {index}"
    name: str = f.get("name", "")
    if not name:
        _fail(f'{where}: "name" is missing or empty')
    if len(name) > 253 or not _DNS1123_SUBDOMAIN.fullmatch(name):
        _fail(f'{where}: "name" {_go_quote(name)} is invalid: {_SUBDOMAIN_RULE}')
    if namespace and not _DNS1123_LABEL.fullmatch(namespace):
        origin = "" if f.get("namespace") else " (the default namespace)"
        _fail(f'{where}: "namespace" {_go_quote(namespace)}{origin} is invalid: {_LABEL_RULE}')
    if interface:
        problem = _cni_ifname_problem(interface)
        if problem:
            _fail(f'{where}: "interface" {_go_quote(interface)} is invalid: {problem}')

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


def _cni_ifname_problem(ifname: str) -> str:
    """The CNI library's ValidateInterfaceName, as its messages ("" when valid)."""
    if _byte_len(ifname) > _IFNAMSIZ - 1:
        return "interface name is too long"
    if ifname in (".", ".."):
        return "interface name is . or .."
    if any(c in "/:" or c in _GO_SPACE for c in ifname):
        return "interface name contains / or : or whitespace characters"
    if not ifname.isprintable():  # a NUL or other control character would reach the kernel and env
        return "interface name contains control characters"
    return ""


def _fail(msg: str) -> NoReturn:
    raise CNIError(INVALID_CONFIG, msg)


# --------------------------------------------------------------------------------------------------
# JSON form: Go's encoding/json, as far as the annotation is concerned


class _JSONFailure(Exception):
    """What Go's json.Unmarshal would return (its text), before upstream's prefix is added."""


class _Num:
    """A JSON number, kept as its literal (Go's errors quote it: ``number 1.5``)."""

    __slots__ = ("literal",)

    def __init__(self, literal: str) -> None:
        self.literal = literal


class _Obj:
    """A JSON object as its key/value pairs in document order (keys may repeat)."""

    __slots__ = ("pairs",)

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        self.pairs = pairs


def _reject_constant(name: str) -> Any:
    raise _JSONFailure(f"invalid character {_quote_char(ord(name[0]))} looking for beginning of value")


def _decode_json_form(value: str) -> list[dict[str, Any]]:
    try:
        syntax_error = _GoScanner().check(value.encode("utf-8", "surrogatepass"))
        if syntax_error:
            raise _JSONFailure(syntax_error)
        tree = json.loads(value, object_pairs_hook=_Obj, parse_int=_Num, parse_float=_Num,
                          parse_constant=_reject_constant)
        if tree is None:  # Go: null into a slice leaves it nil
            return []
        if not isinstance(tree, list):
            raise _type_error(tree, "[]*types.NetworkSelectionElement")
        return [_decode_element(i, v) for i, v in enumerate(tree)]
    except _JSONFailure as exc:
        raise CNIError(INVALID_CONFIG, f"{_JSON_PREFIX}{exc}") from None
    except RecursionError:
        raise CNIError(INVALID_CONFIG, f"{_JSON_PREFIX}nesting too deep") from None
    except ValueError as exc:  # the syntax check above should leave nothing for Python's parser
        raise CNIError(INVALID_CONFIG, f"{_JSON_PREFIX}{exc}") from None


def _kind(v: Any) -> str:
    """The JSON type as Go's UnmarshalTypeError names it."""
    if isinstance(v, str):
        return "string"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, _Num):
        return "number"
    if isinstance(v, list):
        return "array"
    if isinstance(v, _Obj):
        return "object"
    return "null"


def _type_error(v: Any, go_type: str, struct: str = "", field: str = "", value: str = "") -> _JSONFailure:
    value = value or _kind(v)
    if struct or field:
        return _JSONFailure(f"json: cannot unmarshal {value} into Go struct field {struct}.{field} "
                            f"of type {go_type}")
    return _JSONFailure(f"json: cannot unmarshal {value} into Go value of type {go_type}")


_KEEP = object()
"""A decoder's answer for JSON ``null`` into a Go string: the field keeps its value."""

_Decoder = Callable[[Any, str, str], Any]


def _dec_string(v: Any, struct: str, field: str) -> Any:
    if v is None:
        return _KEEP
    if not isinstance(v, str):
        raise _type_error(v, "string", struct, field)
    return _scrub(v)


def _dec_int(v: Any, struct: str, field: str) -> Any:
    if v is None:
        return _KEEP
    if not isinstance(v, _Num):
        raise _type_error(v, "int", struct, field)
    lit = v.literal
    if not re.fullmatch(r"-?[0-9]{1,19}", lit) or not _INT64_MIN <= int(lit) <= _INT64_MAX:
        raise _type_error(v, "int", struct, field, value=f"number {lit}")
    return int(lit)


def _dec_string_list(v: Any, struct: str, field: str) -> Any:
    if v is None:
        return None
    if not isinstance(v, list):
        raise _type_error(v, "[]string", struct, field)
    out: list[str] = []
    for item in v:
        s = _dec_string(item, struct, field)
        out.append("" if s is _KEEP else s)
    return tuple(out)


def _dec_ip_list(v: Any, struct: str, field: str) -> Any:
    if v is None:
        return None
    if not isinstance(v, list):
        raise _type_error(v, "[]net.IP", struct, field)
    out: list[str] = []
    for item in v:
        if item is None:  # a nil net.IP
            out.append("")
            continue
        if not isinstance(item, str):
            raise _type_error(item, "net.IP", struct, field)
        s = _scrub(item)
        if s and _go_parse_ip(s) is None:  # net.IP.UnmarshalText; its error has no JSON context
            raise _JSONFailure(f"invalid IP address: {s}")
        out.append(s)
    return tuple(out)


def _dec_struct(v: Any, go_struct: str, fields: dict[str, _Decoder], path: str) -> dict[str, Any]:
    """A Go struct value: type-check the known fields, keep the object raw."""
    for key, item in v.pairs:
        match = _match_field(key, fields)
        if match is not None:
            fields[match](item, go_struct, f"{path}.{match}")
    return _plain(v, go_struct, path)  # type: ignore[no-any-return]


_PORT_MAP_FIELDS: dict[str, _Decoder] = {
    "hostPort": _dec_int, "containerPort": _dec_int, "protocol": _dec_string, "hostIP": _dec_string,
}
_BANDWIDTH_FIELDS: dict[str, _Decoder] = {
    "ingressRate": _dec_int, "ingressBurst": _dec_int, "egressRate": _dec_int, "egressBurst": _dec_int,
}


def _dec_port_mappings(v: Any, struct: str, field: str) -> Any:
    if v is None:
        return None
    if not isinstance(v, list):
        raise _type_error(v, "[]*types.PortMapEntry", struct, field)
    out: list[dict[str, Any]] = []
    for item in v:
        if item is None:
            raise _JSONFailure(f"{struct}.{field}: null entries are not allowed")
        if not isinstance(item, _Obj):
            raise _type_error(item, "types.PortMapEntry", struct, field)
        out.append(_dec_struct(item, "PortMapEntry", _PORT_MAP_FIELDS, field))
    return tuple(out)


def _dec_bandwidth(v: Any, struct: str, field: str) -> Any:
    if v is None:
        return None
    if not isinstance(v, _Obj):
        raise _type_error(v, "types.BandwidthEntry", struct, field)
    return _dec_struct(v, "BandwidthEntry", _BANDWIDTH_FIELDS, field)


def _dec_map(v: Any, struct: str, field: str) -> Any:
    if v is None:
        return None
    if not isinstance(v, _Obj):
        raise _type_error(v, "map[string]interface {}", struct, field)
    return _plain(v, struct, field)


# Multus' types.NetworkSelectionElement, plus the NAD client's ipam-claim-reference.
_ELEMENT_FIELDS: dict[str, _Decoder] = {
    "name": _dec_string,
    "namespace": _dec_string,
    "ips": _dec_string_list,
    "mac": _dec_string,
    "infiniband-guid": _dec_string,
    "interface": _dec_string,
    "interfaceRequest": _dec_string,
    "portMappings": _dec_port_mappings,
    "bandwidth": _dec_bandwidth,
    "deviceID": _dec_string,
    "cni-args": _dec_map,
    "default-route": _dec_ip_list,
    "ipam-claim-reference": _dec_string,
}


def _decode_element(index: int, v: Any) -> dict[str, Any]:
    if v is None:
        raise _JSONFailure(f"network selection element {index} is null, expected an object")
    if not isinstance(v, _Obj):
        raise _type_error(v, "types.NetworkSelectionElement")
    out: dict[str, Any] = {}
    for key, item in v.pairs:
        match = _match_field(key, _ELEMENT_FIELDS)
        if match is None:
            continue
        decoded = _ELEMENT_FIELDS[match](item, "NetworkSelectionElement", match)
        if decoded is not _KEEP:
            out[match] = decoded
    if out.get("ips") and out.get("ipam-claim-reference"):
        raise _JSONFailure(_IPAM_CLAIM_CONFLICT)
    return out


def _match_field(key: str, fields: Mapping[str, object]) -> str | None:
    """Go's rule: the exact key, else a case-insensitive (simple-fold) match."""
    if key in fields:
        return key
    folded = _fold(key)
    for name in fields:
        if _fold(name) == folded:
            return name
    return None


def _fold(s: str) -> str:
    out: list[str] = []
    for c in s:
        if c < "\x80":
            out.append(c.upper())
            continue
        orbit = {c}
        for _ in range(2):
            orbit |= {y for x in orbit for y in (x.lower(), x.upper()) if len(y) == 1}
        out.append(min(orbit))
    return "".join(out)


def _plain(v: Any, struct: str, field: str) -> Any:
    """The decoded tree as plain Python values (numbers as int/float, objects as dicts)."""
    if isinstance(v, _Obj):
        return {_scrub(k): _plain(item, struct, field) for k, item in v.pairs}
    if isinstance(v, list):
        return [_plain(item, struct, field) for item in v]
    if isinstance(v, _Num):
        lit = v.literal
        number: float = float(lit)
        if math.isinf(number):
            raise _type_error(v, "float64", struct, field, value=f"number {lit}")
        return int(lit) if re.fullmatch(r"-?[0-9]+", lit) else number
    if isinstance(v, str):
        return _scrub(v)
    return v


def _scrub(s: str) -> str:
    """Go replaces unpaired surrogates (``"\\ud800"``) by U+FFFD."""
    return _SURROGATE.sub("\ufffd", s)


# Go's encoding/json scanner (checkValid): the syntax errors and their texts.

_PARSE_OBJECT_KEY, _PARSE_OBJECT_VALUE, _PARSE_ARRAY_VALUE = range(3)
_MAX_NESTING_DEPTH = 10000


class _GoScanner:
    def __init__(self) -> None:
        self.step: Callable[[int], None] = self._begin_value
        self.parse_state: list[int] = []
        self.end_top = False
        self.err = ""

    def check(self, data: bytes) -> str:
        """Go's syntax error text for ``data``, "" when it is one valid JSON value."""
        for c in data:
            self.step(c)
            if self.err:
                return self.err
        if self.end_top:
            return ""
        self.step(0x20)
        if self.end_top:
            return ""
        return self.err or "unexpected end of JSON input"

    def _error(self, c: int, context: str) -> None:
        self.step = self._state_error
        self.err = f"invalid character {_quote_char(c)} {context}"

    def _state_error(self, c: int) -> None:
        pass

    def _push(self, c: int, state: int) -> None:
        self.parse_state.append(state)
        if len(self.parse_state) > _MAX_NESTING_DEPTH:
            self._error(c, "exceeded max depth")

    def _pop(self) -> None:
        self.parse_state.pop()
        if not self.parse_state:
            self.step = self._end_top
            self.end_top = True
        else:
            self.step = self._end_value

    def _begin_value_or_empty(self, c: int) -> None:
        if _is_space(c):
            return
        if c == 0x5D:  # ]
            self._end_value(c)
            return
        self._begin_value(c)

    def _begin_value(self, c: int) -> None:
        if _is_space(c):
            return
        ch = chr(c)
        if ch == "{":
            self.step = self._begin_string_or_empty
            self._push(c, _PARSE_OBJECT_KEY)
        elif ch == "[":
            self.step = self._begin_value_or_empty
            self._push(c, _PARSE_ARRAY_VALUE)
        elif ch == '"':
            self.step = self._in_string
        elif ch == "-":
            self.step = self._neg
        elif ch == "0":
            self.step = self._zero
        elif "1" <= ch <= "9":
            self.step = self._digits
        elif ch in "tfn":
            self.step = self._literal_step({"t": "true", "f": "false", "n": "null"}[ch], 1)
        else:
            self._error(c, "looking for beginning of value")

    def _literal_step(self, word: str, pos: int) -> Callable[[int], None]:
        def step(c: int) -> None:
            if c == ord(word[pos]):
                self.step = self._end_value if pos + 1 == len(word) else self._literal_step(word, pos + 1)
            else:
                self._error(c, f"in literal {word} (expecting {_quote_char(ord(word[pos]))})")
        return step

    def _begin_string_or_empty(self, c: int) -> None:
        if _is_space(c):
            return
        if c == 0x7D:  # }
            self.parse_state[-1] = _PARSE_OBJECT_VALUE
            self._end_value(c)
            return
        self._begin_string(c)

    def _begin_string(self, c: int) -> None:
        if _is_space(c):
            return
        if c == 0x22:
            self.step = self._in_string
            return
        self._error(c, "looking for beginning of object key string")

    def _end_value(self, c: int) -> None:
        if not self.parse_state:
            self.step = self._end_top
            self.end_top = True
            self._end_top(c)
            return
        if _is_space(c):
            self.step = self._end_value
            return
        ps = self.parse_state[-1]
        ch = chr(c)
        if ps == _PARSE_OBJECT_KEY:
            if ch == ":":
                self.parse_state[-1] = _PARSE_OBJECT_VALUE
                self.step = self._begin_value
                return
            self._error(c, "after object key")
        elif ps == _PARSE_OBJECT_VALUE:
            if ch == ",":
                self.parse_state[-1] = _PARSE_OBJECT_KEY
                self.step = self._begin_string
                return
            if ch == "}":
                self._pop()
                return
            self._error(c, "after object key:value pair")
        else:
            if ch == ",":
                self.step = self._begin_value
                return
            if ch == "]":
                self._pop()
                return
            self._error(c, "after array element")

    def _end_top(self, c: int) -> None:
        if not _is_space(c):
            self._error(c, "after top-level value")

    def _in_string(self, c: int) -> None:
        if c == 0x22:
            self.step = self._end_value
        elif c == 0x5C:
            self.step = self._in_string_esc
        elif c < 0x20:
            self._error(c, "in string literal")

    def _in_string_esc(self, c: int) -> None:
        if chr(c) in 'bfnrt\\/"':
            self.step = self._in_string
        elif c == ord("u"):
            self.step = self._esc_u(4)
        else:
            self._error(c, "in string escape code")

    def _esc_u(self, left: int) -> Callable[[int], None]:
        def step(c: int) -> None:
            if c in _HEX:
                self.step = self._in_string if left == 1 else self._esc_u(left - 1)
            else:
                self._error(c, "in \\u hexadecimal character escape")
        return step

    def _neg(self, c: int) -> None:
        if c == 0x30:
            self.step = self._zero
        elif 0x31 <= c <= 0x39:
            self.step = self._digits
        else:
            self._error(c, "in numeric literal")

    def _digits(self, c: int) -> None:
        if 0x30 <= c <= 0x39:
            return
        self._zero(c)

    def _zero(self, c: int) -> None:
        if c == 0x2E:
            self.step = self._dot
        elif c in (0x65, 0x45):
            self.step = self._exp
        else:
            self._end_value(c)

    def _dot(self, c: int) -> None:
        if 0x30 <= c <= 0x39:
            self.step = self._dot_digits
        else:
            self._error(c, "after decimal point in numeric literal")

    def _dot_digits(self, c: int) -> None:
        if 0x30 <= c <= 0x39:
            return
        if c in (0x65, 0x45):
            self.step = self._exp
        else:
            self._end_value(c)

    def _exp(self, c: int) -> None:
        if c in (0x2B, 0x2D):
            self.step = self._exp_sign
        else:
            self._exp_sign(c)

    def _exp_sign(self, c: int) -> None:
        if 0x30 <= c <= 0x39:
            self.step = self._exp_digits
        else:
            self._error(c, "in exponent of numeric literal")

    def _exp_digits(self, c: int) -> None:
        if 0x30 <= c <= 0x39:
            return
        self._end_value(c)


def _is_space(c: int) -> bool:
    return c in (0x20, 0x09, 0x0D, 0x0A)


def _quote_char(c: int) -> str:
    """Go's quoteChar: how a byte is shown in a JSON syntax error."""
    if c == 0x27:
        return "'\\''"
    if c == 0x22:
        return "'\"'"
    return "'" + _go_quote(chr(c))[1:-1] + "'"


# --------------------------------------------------------------------------------------------------
# Go's net and strconv, as far as they are used above

_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def _go_quote(s: str) -> str:
    """Go's strconv.Quote (``%q``)."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


def _go_trim_space(s: str) -> str:
    return s.strip(_GO_SPACE)


def _byte_len(s: str) -> int:
    return len(s.encode("utf-8", "surrogatepass"))


def _go_parse_ip(s: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Go's net.ParseIP: dotted IPv4 (no leading zeros) or IPv6, no zone."""
    if "%" in s:
        return None
    try:
        return ipaddress.ip_address(s)
    except ValueError:
        return None


def _go_parse_cidr(s: str) -> bool:
    """Go's net.ParseCIDR: ``<ip>/<decimal prefix length>`` (leading zeros allowed in the length)."""
    addr, _, mask = s.partition("/")
    ip = _go_parse_ip(addr)
    if ip is None or not mask or not (mask.isascii() and mask.isdigit()):
        return False
    significant = mask.lstrip("0") or "0"
    bits = 32 if isinstance(ip, ipaddress.IPv4Address) else 128
    return len(significant) <= 3 and int(significant) <= bits


def _go_parse_mac(s: str) -> bool:
    """Go's net.ParseMAC: 6, 8 or 20 bytes as ``xx:xx:..``, ``xx-xx-..`` or ``xxxx.xxxx.xxxx``."""
    b = s.encode("utf-8", "surrogatepass")
    if len(b) < 14:
        return False
    if b[2] in b":-":
        if (len(b) + 1) % 3:
            return False
        n = (len(b) + 1) // 3
        if n not in (6, 8, 20):
            return False
        return all(_xtoi2(b[3 * i:], b[2]) for i in range(n))
    if b[4] == ord("."):
        if (len(b) + 1) % 5:
            return False
        n = 2 * (len(b) + 1) // 5
        if n not in (6, 8, 20):
            return False
        return all(_xtoi2(b[x:x + 2], 0) and _xtoi2(b[x + 2:], b[4]) for x in range(0, 5 * (n // 2), 5))
    return False


def _xtoi2(s: bytes, sep: int) -> bool:
    """Two hex digits, followed by ``sep`` if anything follows."""
    if len(s) > 2 and s[2] != sep:
        return False
    return len(s) >= 2 and s[0] in _HEX and s[1] in _HEX
