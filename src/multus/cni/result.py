"""Typed CNI results of every spec version, and conversion between them as libcni does it.

multus passes results between the runtime and its delegates: it parses what a delegate prints,
hands it to the next plugin of a chain as ``prevResult`` and finally prints it to the runtime in
the version the runtime asked for. Runtimes and delegates are mostly Go programs built on libcni
(``github.com/containernetworking/cni``), so every rule here copies libcni's ``pkg/types/020``,
``040``, ``100`` and ``internal`` packages: the same field set per version, the same ``omitempty``
behaviour, the same conversion paths and the same losses. Where we deviate it is said below.

Three result types, as in libcni:

* :class:`Result020` for 0.1.0 and 0.2.0 (``ip4``/``ip6``, routes inside each).
* :class:`Result040` for 0.3.0, 0.3.1 and 0.4.0 (``interfaces``, ``ips`` with ``version``).
* :class:`Result100` for 1.0.0 and 1.1.0 (no ``version`` in ``ips``; interfaces may carry
  ``mtu``, ``socketPath``, ``pciID``).

0.4.0 and 1.x stay separate classes, like libcni's ``types040`` and ``types100``, because they
print differently (``version`` in each IP; an empty ``dns`` is printed by 0.x and omitted by 1.x)
and convert differently; the component types (:class:`Interface`, :class:`IPConfig`,
:class:`Route`, :class:`DNS`) are shared and each result prints only the fields its version has.

Printing follows libcni 1.2 and later (the release that added the 1.1.0 fields): a 1.x result
with an empty ``dns`` omits the key (libcni PR #1039); 0.x results always print ``"dns": {}``
because Go's ``omitempty`` never omits a struct. Older libcni (1.1.x, e.g. Debian's plugins)
prints ``"dns": {}`` in 1.x results too; both forms parse.

Deliberate deviations from libcni, all about input libcni would accept and then print broken:

* A missing or null IP ``address`` / 0.2.0 ``ip`` / route ``dst`` is a decode error; libcni keeps
  a zero ``net.IPNet`` and later prints ``"<nil>"``, which nothing can parse back.
* A null element inside ``interfaces``, ``ips`` or ``routes`` is a decode error; libcni keeps a
  nil pointer and panics when converting it.

Addresses are stored in the text form Go prints (``net.IPNet.String()``/``net.IP.String()``):
host bits are kept (``10.1.2.3/24`` stays so), IPv6 is compressed as RFC 5952 says, and an
IPv4-mapped IPv6 address prints as IPv4 (its prefix counted within the last 32 bits), which is
also why such an address counts as IPv4 when libcni picks an IP version.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, TypeAlias

from attrs import evolve, field, frozen
from attrs.validators import in_

from multus.errors import DECODE_FAILURE, INCOMPATIBLE_VERSION, CNIError
from multus.gocompat import canonical_cidr, canonical_ip, fold, loads

VERSIONS_020: tuple[str, ...] = ("0.1.0", "0.2.0")
"""Versions whose results are :class:`Result020` (libcni ``types020``)."""
VERSIONS_040: tuple[str, ...] = ("0.3.0", "0.3.1", "0.4.0")
"""Versions whose results are :class:`Result040` (libcni ``types040``)."""
VERSIONS_100: tuple[str, ...] = ("1.0.0", "1.1.0")
"""Versions whose results are :class:`Result100` (libcni ``types100``)."""

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


# ---------------------------------------------------------------------------------------------
# Component types
# ---------------------------------------------------------------------------------------------


@frozen
class DNS:
    """DNS settings of a result; every field is optional and omitted from JSON when empty."""

    nameservers: tuple[str, ...] = ()
    domain: str = ""
    search: tuple[str, ...] = ()
    options: tuple[str, ...] = ()

    def is_empty(self) -> bool:
        """libcni's ``DNS.IsEmpty``: decides whether a 1.x result prints ``dns`` at all."""
        return not (self.nameservers or self.domain or self.search or self.options)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.nameservers:
            out["nameservers"] = list(self.nameservers)
        if self.domain:
            out["domain"] = self.domain
        if self.search:
            out["search"] = list(self.search)
        if self.options:
            out["options"] = list(self.options)
        return out


@frozen
class Route:
    """A route (libcni ``types.Route``), shared by every version.

    ``mtu``, ``advmss``, ``priority`` (0 means unset, as Go's ``omitempty`` on an int), ``table``
    and ``scope`` (``None`` means unset) came with spec 1.1.0, but libcni uses this one struct for
    every version, so they survive wherever libcni keeps routes whole (0.2.0 parsing, 0.2.0 ->
    0.4.0, 1.x <-> 0.4.0) and are only dropped when 0.4.0/1.x results go down to 0.2.0.
    """

    dst: str
    gw: str = ""
    mtu: int = 0
    advmss: int = 0
    priority: int = 0
    table: int | None = None
    scope: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dst": self.dst}
        if self.gw:
            out["gw"] = self.gw
        if self.mtu:
            out["mtu"] = self.mtu
        if self.advmss:
            out["advmss"] = self.advmss
        if self.priority:
            out["priority"] = self.priority
        if self.table is not None:
            out["table"] = self.table
        if self.scope is not None:
            out["scope"] = self.scope
        return out


@frozen
class Interface:
    """An interface a plugin created or configured (0.3.0 and later).

    ``mtu``, ``socket_path`` and ``pci_id`` exist in 1.x results only: a :class:`Result040`
    neither parses nor prints them, and libcni drops them going from 1.x to 0.4.0.
    ``name`` is always printed (no ``omitempty`` in libcni), the others only when set.
    """

    name: str = ""
    mac: str = ""
    mtu: int = 0
    sandbox: str = ""
    socket_path: str = ""
    pci_id: str = ""

    def to_dict(self, *, extended: bool = True) -> dict[str, Any]:
        """The JSON object; ``extended=False`` gives the 0.3.x/0.4.0 field set."""
        out: dict[str, Any] = {"name": self.name}
        if self.mac:
            out["mac"] = self.mac
        if extended and self.mtu:
            out["mtu"] = self.mtu
        if self.sandbox:
            out["sandbox"] = self.sandbox
        if extended and self.socket_path:
            out["socketPath"] = self.socket_path
        if extended and self.pci_id:
            out["pciID"] = self.pci_id
        return out


@frozen
class IPConfig:
    """One address of a 0.3.0+ result.

    ``address`` is a CIDR (``10.1.2.3/24``), ``interface`` an index into the result's
    ``interfaces`` (``None`` when absent). ``version`` (``"4"``/``"6"``) belongs to 0.3.x/0.4.0
    only: libcni takes it from the input there without checking it, prints it even when empty,
    and drops it in 1.x (which derives the family from the address when going back).
    """

    address: str
    gateway: str = ""
    interface: int | None = None
    version: str = ""

    def to_dict(self, *, with_version: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if with_version:
            out["version"] = self.version
        if self.interface is not None:
            out["interface"] = self.interface
        out["address"] = self.address
        if self.gateway:
            out["gateway"] = self.gateway
        return out


@frozen
class IPConfig020:
    """``ip4`` or ``ip6`` of a 0.1.0/0.2.0 result: one address, its gateway and its routes."""

    ip: str
    gateway: str = ""
    routes: tuple[Route, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ip": self.ip}
        if self.gateway:
            out["gateway"] = self.gateway
        if self.routes:
            out["routes"] = [r.to_dict() for r in self.routes]
        return out


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


@frozen
class Result020:
    """A 0.1.0/0.2.0 result (libcni ``types020.Result``).

    A plugin may print one with neither ``ip4`` nor ``ip6``; what libcni refuses is *converting*
    a newer result without any address down to this version.
    """

    cni_version: str = field(validator=in_(VERSIONS_020))
    ip4: IPConfig020 | None = None
    ip6: IPConfig020 | None = None
    dns: DNS = DNS()

    def to_dict(self) -> dict[str, Any]:
        """The JSON libcni prints: ``dns`` is always there, ``ip4``/``ip6`` only when set."""
        out: dict[str, Any] = {"cniVersion": self.cni_version}
        if self.ip4 is not None:
            out["ip4"] = self.ip4.to_dict()
        if self.ip6 is not None:
            out["ip6"] = self.ip6.to_dict()
        out["dns"] = self.dns.to_dict()
        return out

    def convert(self, to_version: str) -> Result:
        """This result in ``to_version``, through libcni's converter for that pair."""
        return _convert(self, to_version)


@frozen
class Result040:
    """A 0.3.0/0.3.1/0.4.0 result (libcni ``types040.Result``)."""

    cni_version: str = field(validator=in_(VERSIONS_040))
    interfaces: tuple[Interface, ...] = ()
    ips: tuple[IPConfig, ...] = ()
    routes: tuple[Route, ...] = ()
    dns: DNS = DNS()

    def to_dict(self) -> dict[str, Any]:
        """The JSON libcni prints: empty lists omitted, ``dns`` always there (maybe ``{}``)."""
        out: dict[str, Any] = {"cniVersion": self.cni_version}
        if self.interfaces:
            out["interfaces"] = [i.to_dict(extended=False) for i in self.interfaces]
        if self.ips:
            out["ips"] = [ip.to_dict(with_version=True) for ip in self.ips]
        if self.routes:
            out["routes"] = [r.to_dict() for r in self.routes]
        out["dns"] = self.dns.to_dict()
        return out

    def convert(self, to_version: str) -> Result:
        """This result in ``to_version``, through libcni's converter for that pair."""
        return _convert(self, to_version)


@frozen
class Result100:
    """A 1.0.0/1.1.0 result (libcni ``types100.Result``; the types did not change in 1.1.0)."""

    cni_version: str = field(validator=in_(VERSIONS_100))
    interfaces: tuple[Interface, ...] = ()
    ips: tuple[IPConfig, ...] = ()
    routes: tuple[Route, ...] = ()
    dns: DNS = DNS()

    def to_dict(self) -> dict[str, Any]:
        """The JSON libcni (1.2+) prints: empty lists and an empty ``dns`` omitted."""
        out: dict[str, Any] = {"cniVersion": self.cni_version}
        if self.interfaces:
            out["interfaces"] = [i.to_dict(extended=True) for i in self.interfaces]
        if self.ips:
            out["ips"] = [ip.to_dict(with_version=False) for ip in self.ips]
        if self.routes:
            out["routes"] = [r.to_dict() for r in self.routes]
        if not self.dns.is_empty():
            out["dns"] = self.dns.to_dict()
        return out

    def convert(self, to_version: str) -> Result:
        """This result in ``to_version``, through libcni's converter for that pair."""
        return _convert(self, to_version)


Result: TypeAlias = Result020 | Result040 | Result100
"""A result of any version; ``isinstance(x, Result)`` works, and so does ``match``."""


# ---------------------------------------------------------------------------------------------
# Decoding: Go's encoding/json rules, with the offending field named in every error
# ---------------------------------------------------------------------------------------------


def _decode_error(path: str, problem: str) -> CNIError:
    return CNIError(DECODE_FAILURE, f"invalid CNI result: {path}: {problem}")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _field(obj: Mapping[str, Any], name: str) -> Any:
    """The value of key ``name`` as Go's decoder finds it; ``None`` when absent.

    Go matches object keys to struct fields case-insensitively and the last matching key wins;
    JSON ``null`` leaves a field at its zero value, so absent and null are the same thing.
    """
    folded = fold(name)
    value: Any = None
    for key, item in obj.items():
        if key == name or (isinstance(key, str) and fold(key) == folded):
            value = item
    return value


def _string(value: Any, path: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _decode_error(path, f"expected a string, got {_kind(value)}")
    return value


def _integer(value: Any, path: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _decode_error(path, f"expected an integer, got {_kind(value)} {value!r}")
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise _decode_error(path, f"integer {value} out of range")
    return value


def _object(value: Any, path: str) -> Mapping[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise _decode_error(path, f"expected an object, got {_kind(value)}")
    return value


def _array(value: Any, path: str) -> list[Any] | tuple[Any, ...]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise _decode_error(path, f"expected an array, got {_kind(value)}")
    return value


def _strings(value: Any, path: str) -> tuple[str, ...]:
    # A null element of a Go []string decodes to "" (null leaves the zero value).
    return tuple(_string(item, f"{path}[{i}]") for i, item in enumerate(_array(value, path)))


def _elements(value: Any, path: str) -> list[tuple[str, Mapping[str, Any]]]:
    out: list[tuple[str, Mapping[str, Any]]] = []
    for i, item in enumerate(_array(value, path)):
        where = f"{path}[{i}]"
        obj = _object(item, where)
        if obj is None:
            raise _decode_error(where, "expected an object, got null")
        out.append((where, obj))
    return out


def _cidr(value: Any, path: str) -> str:
    if value is None:
        raise _decode_error(path, "missing CIDR address")
    text = _string(value, path)
    canon = canonical_cidr(text)
    if canon is None:
        raise _decode_error(path, f"invalid CIDR address: {text}")
    return canon


def _ip(value: Any, path: str) -> str:
    text = _string(value, path)
    if text == "":
        return ""
    canon = canonical_ip(text)
    if canon is None:
        raise _decode_error(path, f"invalid IP address: {text}")
    return canon


def _is_ipv4(address: str) -> bool:
    """Go's ``IP.To4() != nil`` on a canonical address or CIDR."""
    return ":" not in address.partition("/")[0]


def _parse_dns(value: Any, path: str) -> DNS:
    obj = _object(value, path)
    if obj is None:
        return DNS()
    return DNS(
        nameservers=_strings(_field(obj, "nameservers"), f"{path}.nameservers"),
        domain=_string(_field(obj, "domain"), f"{path}.domain"),
        search=_strings(_field(obj, "search"), f"{path}.search"),
        options=_strings(_field(obj, "options"), f"{path}.options"),
    )


def _parse_routes(value: Any, path: str) -> tuple[Route, ...]:
    routes = []
    for where, obj in _elements(value, path):
        routes.append(Route(
            dst=_cidr(_field(obj, "dst"), f"{where}.dst"),
            gw=_ip(_field(obj, "gw"), f"{where}.gw"),
            mtu=_integer(_field(obj, "mtu"), f"{where}.mtu") or 0,
            advmss=_integer(_field(obj, "advmss"), f"{where}.advmss") or 0,
            priority=_integer(_field(obj, "priority"), f"{where}.priority") or 0,
            table=_integer(_field(obj, "table"), f"{where}.table"),
            scope=_integer(_field(obj, "scope"), f"{where}.scope"),
        ))
    return tuple(routes)


def _parse_interfaces(value: Any, path: str, *, extended: bool) -> tuple[Interface, ...]:
    out = []
    for where, obj in _elements(value, path):
        name = _string(_field(obj, "name"), f"{where}.name")
        mac = _string(_field(obj, "mac"), f"{where}.mac")
        sandbox = _string(_field(obj, "sandbox"), f"{where}.sandbox")
        if not extended:
            out.append(Interface(name=name, mac=mac, sandbox=sandbox))
            continue
        out.append(Interface(
            name=name,
            mac=mac,
            mtu=_integer(_field(obj, "mtu"), f"{where}.mtu") or 0,
            sandbox=sandbox,
            socket_path=_string(_field(obj, "socketPath"), f"{where}.socketPath"),
            pci_id=_string(_field(obj, "pciID"), f"{where}.pciID"),
        ))
    return tuple(out)


def _parse_ips(value: Any, path: str, *, with_version: bool) -> tuple[IPConfig, ...]:
    out = []
    for where, obj in _elements(value, path):
        version = _string(_field(obj, "version"), f"{where}.version") if with_version else ""
        out.append(IPConfig(
            version=version,
            interface=_integer(_field(obj, "interface"), f"{where}.interface"),
            address=_cidr(_field(obj, "address"), f"{where}.address"),
            gateway=_ip(_field(obj, "gateway"), f"{where}.gateway"),
        ))
    return tuple(out)


def _parse_ip020(value: Any, path: str) -> IPConfig020 | None:
    obj = _object(value, path)
    if obj is None:
        return None
    return IPConfig020(
        ip=_cidr(_field(obj, "ip"), f"{path}.ip"),
        gateway=_ip(_field(obj, "gateway"), f"{path}.gateway"),
        routes=_parse_routes(_field(obj, "routes"), f"{path}.routes"),
    )


def _parse_020(obj: Mapping[str, Any], version: str) -> Result020:
    return Result020(
        cni_version=version,
        ip4=_parse_ip020(_field(obj, "ip4"), "ip4"),
        ip6=_parse_ip020(_field(obj, "ip6"), "ip6"),
        dns=_parse_dns(_field(obj, "dns"), "dns"),
    )


def _parse_040(obj: Mapping[str, Any], version: str) -> Result040:
    return Result040(
        cni_version=version,
        interfaces=_parse_interfaces(_field(obj, "interfaces"), "interfaces", extended=False),
        ips=_parse_ips(_field(obj, "ips"), "ips", with_version=True),
        routes=_parse_routes(_field(obj, "routes"), "routes"),
        dns=_parse_dns(_field(obj, "dns"), "dns"),
    )


def _parse_100(obj: Mapping[str, Any], version: str) -> Result100:
    return Result100(
        cni_version=version,
        interfaces=_parse_interfaces(_field(obj, "interfaces"), "interfaces", extended=True),
        ips=_parse_ips(_field(obj, "ips"), "ips", with_version=False),
        routes=_parse_routes(_field(obj, "routes"), "routes"),
        dns=_parse_dns(_field(obj, "dns"), "dns"),
    )


def _family(version: str) -> tuple[str, ...]:
    for family in (VERSIONS_020, VERSIONS_040, VERSIONS_100):
        if version in family:
            return family
    raise CNIError(INCOMPATIBLE_VERSION, f"unsupported CNI result version {version!r}")


def _load(data: Mapping[str, Any] | bytes | str) -> Mapping[str, Any]:
    if isinstance(data, bytes | bytearray | str):
        try:
            data = loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise CNIError(DECODE_FAILURE, f"invalid CNI result: not JSON: {exc}") from None
    if data is None:  # Go decodes JSON null into a zero result
        return {}
    if not isinstance(data, Mapping):
        raise CNIError(DECODE_FAILURE, f"invalid CNI result: expected a JSON object, got {_kind(data)}")
    return data


def parse_result(data: Mapping[str, Any] | bytes | str, version: str | None = None) -> Result:
    """Decode a result printed by a plugin, as libcni's ``invoke`` package does.

    The result's own ``cniVersion`` decides its type, even when it differs from the version the
    plugin was asked for: libcni's ``fixupResultVersion`` keeps it, and the caller converts
    later if it needs another version. ``version`` (usually the config's ``cniVersion``) is
    only used when the result names none; without it an unnamed version is 0.1.0
    (``create.DecodeVersion``). An unknown version is ``INCOMPATIBLE_VERSION``; a field of the
    wrong type or an invalid address is ``DECODE_FAILURE``, with the field's path
    (``ips[0].address``) in the message.
    """
    obj = _load(data)
    cni_version = _string(_field(obj, "cniVersion"), "cniVersion") or version or "0.1.0"
    family = _family(cni_version)
    if family is VERSIONS_020:
        return _parse_020(obj, cni_version)
    if family is VERSIONS_040:
        return _parse_040(obj, cni_version)
    return _parse_100(obj, cni_version)


# ---------------------------------------------------------------------------------------------
# Conversion: libcni's converter registry, pair by pair
# ---------------------------------------------------------------------------------------------


def _020_to_020(r: Result020, to: str) -> Result020:
    """``convertFrom010``/``convertTo010``: the two versions have the same shape."""
    return evolve(r, cni_version=to)


def _020_to_04x(r: Result020, to: str) -> Result040:
    """types040 ``convertFrom02x``: ip4 then ip6 become ``ips``, their routes are merged."""
    ips: list[IPConfig] = []
    routes: list[Route] = []
    for family, ipc in (("4", r.ip4), ("6", r.ip6)):
        if ipc is None:
            continue
        ips.append(IPConfig(version=family, address=ipc.ip, gateway=ipc.gateway))
        routes.extend(ipc.routes)
    return Result040(cni_version=to, ips=tuple(ips), routes=tuple(routes), dns=r.dns)


def _04x_to_04x(r: Result040, to: str) -> Result040:
    """types040 ``convertInternal``: 0.3.0, 0.3.1 and 0.4.0 results have the same shape."""
    return evolve(r, cni_version=to)


def _04x_to_020(r: Result040, to: str) -> Result020:
    """types040 ``convertTo02x``: the first IPv4 and first IPv6 address, by ``version``.

    Routes go to the address of their destination's family (only ``dst``/``gw`` survive);
    interfaces, further addresses and the routes of a family without address are lost.
    """
    ip4: IPConfig020 | None = None
    ip6: IPConfig020 | None = None
    for ipc in r.ips:
        if ipc.version == "4" and ip4 is None:
            ip4 = IPConfig020(ip=ipc.address, gateway=ipc.gateway)
        elif ipc.version == "6" and ip6 is None:
            ip6 = IPConfig020(ip=ipc.address, gateway=ipc.gateway)
        if ip4 is not None and ip6 is not None:
            break
    routes4: list[Route] = []
    routes6: list[Route] = []
    for route in r.routes:
        is4 = _is_ipv4(route.dst)
        if is4 and ip4 is not None:
            routes4.append(Route(dst=route.dst, gw=route.gw))
        elif not is4 and ip6 is not None:
            routes6.append(Route(dst=route.dst, gw=route.gw))
    if ip4 is None and ip6 is None:
        raise CNIError(INCOMPATIBLE_VERSION, "cannot convert: no valid IP addresses")
    if ip4 is not None:
        ip4 = evolve(ip4, routes=tuple(routes4))
    if ip6 is not None:
        ip6 = evolve(ip6, routes=tuple(routes6))
    return Result020(cni_version=to, ip4=ip4, ip6=ip6, dns=r.dns)


def _04x_to_100(r: Result040, to: str) -> Result100:
    """types100 ``convertFrom04x``: drop each IP's ``version``; interfaces copied as they are."""
    return Result100(
        cni_version=to,
        interfaces=tuple(Interface(name=i.name, mac=i.mac, sandbox=i.sandbox) for i in r.interfaces),
        ips=tuple(IPConfig(address=ip.address, gateway=ip.gateway, interface=ip.interface)
                  for ip in r.ips),
        routes=r.routes,
        dns=r.dns,
    )


def _020_to_100(r: Result020, to: str) -> Result100:
    """types100 ``convertFrom02x``: through 0.4.0."""
    return _04x_to_100(_020_to_04x(r, "0.4.0"), to)


def _100_to_100(r: Result100, to: str) -> Result100:
    """types100 ``convertFrom100``: 1.0.0 and 1.1.0 results are the same type."""
    return evolve(r, cni_version=to)


def _100_to_04x(r: Result100, to: str) -> Result040:
    """types100 ``convertTo04x``: ``version`` from the address family; mtu/socketPath/pciID lost.

    Routes are kept whole, 1.1.0 route fields included, as libcni shares ``types.Route``.
    """
    return Result040(
        cni_version=to,
        interfaces=tuple(Interface(name=i.name, mac=i.mac, sandbox=i.sandbox) for i in r.interfaces),
        ips=tuple(IPConfig(version="4" if _is_ipv4(ip.address) else "6", address=ip.address,
                           gateway=ip.gateway, interface=ip.interface) for ip in r.ips),
        routes=r.routes,
        dns=r.dns,
    )


def _100_to_020(r: Result100, to: str) -> Result020:
    """types100 ``convertTo02x``: through 0.4.0."""
    return _04x_to_020(_100_to_04x(r, "0.4.0"), to)


_Converter = Callable[[Any, str], Result]


def _registry() -> Mapping[tuple[str, str], _Converter]:
    # (from versions, to versions, function), as the init() functions of libcni's types020,
    # types040 and types100 register them; every pair of supported versions is covered.
    table: tuple[tuple[tuple[str, ...], tuple[str, ...], _Converter], ...] = (
        (("0.1.0",), ("0.2.0",), _020_to_020),
        (("0.2.0",), ("0.1.0",), _020_to_020),
        (VERSIONS_020, VERSIONS_040, _020_to_04x),
        (VERSIONS_020, VERSIONS_100, _020_to_100),
        (("0.3.0", "0.3.1"), VERSIONS_040, _04x_to_04x),
        (("0.4.0",), ("0.3.0", "0.3.1"), _04x_to_04x),
        (VERSIONS_040, VERSIONS_020, _04x_to_020),
        (VERSIONS_040, VERSIONS_100, _04x_to_100),
        (("1.0.0",), ("1.1.0",), _100_to_100),
        (("1.1.0",), ("1.0.0",), _100_to_100),
        (VERSIONS_100, VERSIONS_040, _100_to_04x),
        (VERSIONS_100, VERSIONS_020, _100_to_020),
    )
    out: dict[tuple[str, str], _Converter] = {}
    for sources, targets, fn in table:
        for src in sources:
            for dst in targets:
                if src != dst:
                    out[(src, dst)] = fn
    return MappingProxyType(out)


_CONVERTERS = _registry()


def _convert(result: Result, to_version: str) -> Result:
    """libcni's ``convert.Convert``: same version is the result itself, else the registry."""
    if result.cni_version == to_version:
        return result
    fn = _CONVERTERS.get((result.cni_version, to_version))
    if fn is None:
        raise CNIError(INCOMPATIBLE_VERSION, f"no converter for CNI result version "
                       f"{result.cni_version} to {to_version}")
    return fn(result, to_version)


# ---------------------------------------------------------------------------------------------
# Conveniences
# ---------------------------------------------------------------------------------------------


def convert_result(data: Mapping[str, Any] | Result, to_version: str) -> dict[str, Any]:
    """``data`` (a result or its JSON object) converted to ``to_version``, as JSON object."""
    result = data if isinstance(data, Result020 | Result040 | Result100) else parse_result(data)
    return result.convert(to_version).to_dict()


def empty_result(cni_version: str) -> dict[str, Any]:
    """What libcni prints for an empty result of ``cni_version``.

    ``{"cniVersion": v, "dns": {}}`` for 0.x (an empty 0.2.0 result prints fine; it is only
    converting an address-less newer result *down* to 0.2.0 that fails) and
    ``{"cniVersion": v}`` for 1.x.
    """
    family = _family(cni_version)
    if family is VERSIONS_020:
        return Result020(cni_version=cni_version).to_dict()
    if family is VERSIONS_040:
        return Result040(cni_version=cni_version).to_dict()
    return Result100(cni_version=cni_version).to_dict()


def ips_of(result: Result, interface: int | None = None) -> list[str]:
    """The result's addresses with prefix (``10.1.2.3/24``), in result order.

    With ``interface``, only the addresses whose ``interface`` index is that one (0.3.0+;
    a 0.2.0 result has no interfaces, so nothing matches).
    """
    if isinstance(result, Result020):
        if interface is not None:
            return []
        return [ipc.ip for ipc in (result.ip4, result.ip6) if ipc is not None]
    return [ip.address for ip in result.ips if interface is None or ip.interface == interface]


def sandbox_interfaces(result: Result) -> list[tuple[int, Interface]]:
    """``(index, interface)`` of the interfaces inside the container (non-empty ``sandbox``).

    The index is what ``IPConfig.interface`` refers to, so ``ips_of(result, index)`` gives the
    addresses of each; a 0.2.0 result names no interfaces.
    """
    if isinstance(result, Result020):
        return []
    return [(i, intf) for i, intf in enumerate(result.interfaces) if intf.sandbox]


__all__ = [
    "DNS",
    "VERSIONS_020",
    "VERSIONS_040",
    "VERSIONS_100",
    "IPConfig",
    "IPConfig020",
    "Interface",
    "Result",
    "Result020",
    "Result040",
    "Result100",
    "Route",
    "canonical_cidr",
    "canonical_ip",
    "convert_result",
    "empty_result",
    "ips_of",
    "parse_result",
    "sandbox_interfaces",
]
