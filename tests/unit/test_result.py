"""Results of every CNI version: parsing, printing and conversion, checked against libcni's rules.

The golden outputs marked "libcni" are the ones libcni's own tests expect
(pkg/types/040/types_test.go, pkg/types/100/types_test.go).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import attrs
import pytest

from multus.cni.result import (
    DNS,
    VERSIONS_020,
    VERSIONS_040,
    VERSIONS_100,
    Interface,
    IPConfig,
    IPConfig020,
    Result,
    Result020,
    Result040,
    Result100,
    Route,
    canonical_cidr,
    canonical_ip,
    convert_result,
    empty_result,
    ips_of,
    parse_result,
    sandbox_interfaces,
)
from multus.cni.version import SUPPORTED_VERSIONS
from multus.errors import DECODE_FAILURE, INCOMPATIBLE_VERSION, CNIError

DNS_FULL = {
    "nameservers": ["1.2.3.4", "1::cafe"],
    "domain": "acompany.com",
    "search": ["somedomain.com", "otherdomain.net"],
    "options": ["foo", "bar"],
}

# libcni's testResult() of pkg/types/100/types_test.go, as printed.
LIBCNI_100 = {
    "cniVersion": "1.1.0",
    "interfaces": [{
        "name": "eth0",
        "mac": "00:11:22:33:44:55",
        "sandbox": "/proc/3553/ns/net",
        "pciID": "8086:9a01",
        "socketPath": "/path/to/vhost/fd",
    }],
    "ips": [
        {"interface": 0, "address": "1.2.3.30/24", "gateway": "1.2.3.1"},
        {"interface": 0, "address": "abcd:1234:ffff::cdde/64", "gateway": "abcd:1234:ffff::1"},
    ],
    "routes": [
        {"dst": "15.5.6.0/24", "gw": "15.5.6.8"},
        {"dst": "1111:dddd::/80", "gw": "1111:dddd::aaaa"},
    ],
    "dns": DNS_FULL,
}

# What libcni's tests expect from testResult().GetAsVersion("0.4.0") and ("0.1.0").
LIBCNI_100_AS_040 = {
    "cniVersion": "0.4.0",
    "interfaces": [{"name": "eth0", "mac": "00:11:22:33:44:55", "sandbox": "/proc/3553/ns/net"}],
    "ips": [
        {"version": "4", "interface": 0, "address": "1.2.3.30/24", "gateway": "1.2.3.1"},
        {"version": "6", "interface": 0, "address": "abcd:1234:ffff::cdde/64",
         "gateway": "abcd:1234:ffff::1"},
    ],
    "routes": [
        {"dst": "15.5.6.0/24", "gw": "15.5.6.8"},
        {"dst": "1111:dddd::/80", "gw": "1111:dddd::aaaa"},
    ],
    "dns": DNS_FULL,
}
LIBCNI_100_AS_010 = {
    "cniVersion": "0.1.0",
    "ip4": {"ip": "1.2.3.30/24", "gateway": "1.2.3.1",
            "routes": [{"dst": "15.5.6.0/24", "gw": "15.5.6.8"}]},
    "ip6": {"ip": "abcd:1234:ffff::cdde/64", "gateway": "abcd:1234:ffff::1",
            "routes": [{"dst": "1111:dddd::/80", "gw": "1111:dddd::aaaa"}]},
    "dns": DNS_FULL,
}

# Rich samples of each result type, already in printed (canonical) form.
RICH_100: dict[str, Any] = {
    "cniVersion": "1.1.0",
    "interfaces": [
        {"name": "br0", "mac": "0a:00:00:00:00:01"},
        {"name": "net1", "mac": "0a:00:00:00:00:02", "mtu": 9000, "sandbox": "/run/netns/pod",
         "socketPath": "/run/vhost/net1.sock", "pciID": "0000:3b:00.1"},
    ],
    "ips": [
        {"interface": 1, "address": "10.250.1.5/24", "gateway": "10.250.1.1"},
        {"interface": 1, "address": "fd00:250::5/64", "gateway": "fd00:250::1"},
        {"interface": 1, "address": "10.250.9.5/24"},
        {"address": "192.0.2.7/32"},
    ],
    "routes": [
        {"dst": "0.0.0.0/0", "gw": "10.250.1.1"},
        {"dst": "10.250.0.0/16", "mtu": 1400, "advmss": 1360, "priority": 10, "table": 100,
         "scope": 253},
        {"dst": "::/0", "gw": "fd00:250::1"},
    ],
    "dns": DNS_FULL,
}
RICH_040: dict[str, Any] = {
    "cniVersion": "0.4.0",
    "interfaces": [
        {"name": "br0", "mac": "0a:00:00:00:00:01"},
        {"name": "net1", "mac": "0a:00:00:00:00:02", "sandbox": "/run/netns/pod"},
    ],
    "ips": [
        {"version": "4", "interface": 1, "address": "10.250.1.5/24", "gateway": "10.250.1.1"},
        {"version": "6", "interface": 1, "address": "fd00:250::5/64", "gateway": "fd00:250::1"},
        {"version": "4", "interface": 1, "address": "10.250.9.5/24"},
        {"version": "4", "address": "192.0.2.7/32"},
    ],
    "routes": [
        {"dst": "0.0.0.0/0", "gw": "10.250.1.1"},
        {"dst": "10.250.0.0/16", "mtu": 1400, "advmss": 1360, "priority": 10, "table": 100,
         "scope": 253},
        {"dst": "::/0", "gw": "fd00:250::1"},
    ],
    "dns": DNS_FULL,
}
RICH_020: dict[str, Any] = {
    "cniVersion": "0.2.0",
    "ip4": {"ip": "10.250.1.5/24", "gateway": "10.250.1.1",
            "routes": [{"dst": "0.0.0.0/0", "gw": "10.250.1.1"}, {"dst": "10.250.0.0/16"}]},
    "ip6": {"ip": "fd00:250::5/64", "gateway": "fd00:250::1",
            "routes": [{"dst": "::/0", "gw": "fd00:250::1"}]},
    "dns": DNS_FULL,
}
# What a 0.4.0 / 1.x rich sample keeps after going through 0.2.0 and back.
RICH_VIA_020_IPS = [("4", "10.250.1.5/24", "10.250.1.1"), ("6", "fd00:250::5/64", "fd00:250::1")]
RICH_VIA_020_ROUTES = [{"dst": "0.0.0.0/0", "gw": "10.250.1.1"}, {"dst": "10.250.0.0/16"},
                       {"dst": "::/0", "gw": "fd00:250::1"}]


def _family(version: str) -> int:
    return 0 if version in VERSIONS_020 else 1 if version in VERSIONS_040 else 2


def _sample(version: str) -> dict[str, Any]:
    base = (RICH_020, RICH_040, RICH_100)[_family(version)]
    out = copy.deepcopy(base)
    out["cniVersion"] = version
    return out


def _expected(version: str, printed: dict[str, Any]) -> dict[str, Any]:
    """``printed`` with the empty ``dns`` libcni 1.x leaves out removed."""
    out = dict(printed)
    if version in VERSIONS_100 and out.get("dns") == {}:
        del out["dns"]
    return out


# --------------------------------------------------------------------------------------------
# Parsing and printing
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_parse_every_version_prints_back_identically(version: str) -> None:
    data = _sample(version)
    result = parse_result(data)
    assert result.cni_version == version
    assert type(result) is (Result020, Result040, Result100)[_family(version)]
    assert result.to_dict() == data
    assert parse_result(json.dumps(data)) == result
    assert parse_result(json.dumps(data).encode()) == result


def test_parse_100_typed_fields() -> None:
    result = parse_result(RICH_100)
    assert isinstance(result, Result100)
    assert result.interfaces[1] == Interface(
        name="net1", mac="0a:00:00:00:00:02", mtu=9000, sandbox="/run/netns/pod",
        socket_path="/run/vhost/net1.sock", pci_id="0000:3b:00.1")
    assert result.ips[0] == IPConfig(address="10.250.1.5/24", gateway="10.250.1.1", interface=1)
    assert result.ips[3] == IPConfig(address="192.0.2.7/32")
    assert result.routes[1] == Route(dst="10.250.0.0/16", mtu=1400, advmss=1360, priority=10,
                                     table=100, scope=253)
    assert result.dns == DNS(nameservers=("1.2.3.4", "1::cafe"), domain="acompany.com",
                             search=("somedomain.com", "otherdomain.net"), options=("foo", "bar"))


def test_parse_020_typed_fields() -> None:
    result = parse_result(RICH_020)
    assert result == Result020(
        cni_version="0.2.0",
        ip4=IPConfig020(ip="10.250.1.5/24", gateway="10.250.1.1",
                        routes=(Route(dst="0.0.0.0/0", gw="10.250.1.1"), Route(dst="10.250.0.0/16"))),
        ip6=IPConfig020(ip="fd00:250::5/64", gateway="fd00:250::1",
                        routes=(Route(dst="::/0", gw="fd00:250::1"),)),
        dns=parse_result(RICH_100).dns,
    )


def test_040_ignores_1x_interface_fields_and_1x_ignores_ip_version() -> None:
    r040 = parse_result({"cniVersion": "0.4.0", "interfaces": [
        {"name": "eth0", "mtu": 1500, "socketPath": "/s", "pciID": "p"}]})
    assert isinstance(r040, Result040)
    assert r040.interfaces == (Interface(name="eth0"),)
    r100 = parse_result({"cniVersion": "1.0.0", "ips": [{"version": "4", "address": "10.0.0.2/24"}]})
    assert r100.to_dict() == {"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.2/24"}]}


def test_unknown_keys_are_dropped_like_go_structs() -> None:
    result = parse_result({"cniVersion": "1.0.0", "extra": {"a": 1},
                           "ips": [{"address": "10.0.0.2/24", "metric": 5}]})
    assert result.to_dict() == {"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.2/24"}]}


def test_keys_match_case_insensitively_like_go() -> None:
    result = parse_result({"CNIVersion": "1.0.0", "IPs": [{"Address": "10.0.0.2/24", "GATEWAY": "10.0.0.1"}],
                           "Interfaces": [{"Name": "eth0", "PciId": "x"}]})
    assert result.to_dict() == {"cniVersion": "1.0.0",
                                "interfaces": [{"name": "eth0", "pciID": "x"}],
                                "ips": [{"address": "10.0.0.2/24", "gateway": "10.0.0.1"}]}


def test_null_is_absent_everywhere() -> None:
    result = parse_result({"cniVersion": "1.0.0", "interfaces": None, "routes": None, "dns": None,
                           "ips": [{"address": "10.0.0.2/24", "gateway": None, "interface": None}]})
    assert result == Result100(cni_version="1.0.0", ips=(IPConfig(address="10.0.0.2/24"),))
    r020 = parse_result({"cniVersion": "0.2.0", "ip4": None, "ip6": None})
    assert r020 == Result020(cni_version="0.2.0")
    # A null string inside a Go []string decodes to "".
    assert parse_result({"cniVersion": "1.0.0", "dns": {"search": [None, "a"]}}).dns.search == ("", "a")


def test_empty_gateway_is_absent() -> None:
    result = parse_result({"cniVersion": "0.4.0", "ips": [{"version": "4", "address": "10.0.0.2/24",
                                                           "gateway": ""}]})
    assert isinstance(result, Result040)
    assert result.ips[0].gateway == ""
    assert "gateway" not in result.to_dict()["ips"][0]


def test_dns_printing_per_version() -> None:
    # Go's omitempty never omits a struct: 0.x always prints dns; libcni 1.2+ drops it in 1.x.
    assert parse_result({"cniVersion": "0.2.0"}).to_dict() == {"cniVersion": "0.2.0", "dns": {}}
    assert parse_result({"cniVersion": "0.3.1"}).to_dict() == {"cniVersion": "0.3.1", "dns": {}}
    assert parse_result({"cniVersion": "1.0.0", "dns": {}}).to_dict() == {"cniVersion": "1.0.0"}
    assert parse_result({"cniVersion": "1.1.0", "dns": {"domain": "d"}}).to_dict() == {
        "cniVersion": "1.1.0", "dns": {"domain": "d"}}


def test_optional_field_printing() -> None:
    # "name" and 0.4.0 "version" have no omitempty; route ints are omitted at 0, pointers at nil.
    assert Interface().to_dict() == {"name": ""}
    assert IPConfig(address="10.0.0.2/24").to_dict(with_version=True) == {
        "version": "", "address": "10.0.0.2/24"}
    assert Route(dst="10.0.0.0/8", mtu=-1, table=0, scope=0).to_dict() == {
        "dst": "10.0.0.0/8", "mtu": -1, "table": 0, "scope": 0}
    assert IPConfig(address="10.0.0.2/24", interface=0).to_dict(with_version=False) == {
        "interface": 0, "address": "10.0.0.2/24"}
    result = parse_result({"cniVersion": "0.4.0", "ips": [{"address": "10.0.0.2/24"}]})
    assert result.to_dict()["ips"] == [{"version": "", "address": "10.0.0.2/24"}]


@pytest.mark.parametrize(("text", "expected"), [
    ("10.1.2.3/24", "10.1.2.3/24"),            # host bits kept (libcni's ParseCIDR)
    ("0.0.0.0/0", "0.0.0.0/0"),
    ("ABCD:0:0:0:1::5/64", "abcd::1:0:0:5/64"),  # RFC 5952, like Go
    ("2001:db8:0:1:0:0:0:1/128", "2001:db8:0:1::1/128"),
    ("::ffff:1.2.3.4/120", "1.2.3.4/24"),      # Go prints IPv4-mapped addresses as IPv4
    ("::ffff:1.2.3.4/64", "1.2.3.4/0"),
    ("10.1.2.3/024", "10.1.2.3/24"),
    ("10.1.2.3", None),
    ("10.1.2.3/33", None),
    ("10.1.2.3/255.255.255.0", None),
    ("010.1.2.3/24", None),
    ("fe80::1%eth0/64", None),
    ("10.1.2.3/24/1", None),
    ("", None),
])
def test_canonical_cidr(text: str, expected: str | None) -> None:
    assert canonical_cidr(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("10.0.0.1", "10.0.0.1"),
    ("::FFFF:10.0.0.1", "10.0.0.1"),
    ("fd00:0::1", "fd00::1"),
    ("10.0.0.1/32", None),
    ("fe80::1%2", None),
    ("host", None),
])
def test_canonical_ip(text: str, expected: str | None) -> None:
    assert canonical_ip(text) == expected


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


def _set(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(data)
    target: Any = out
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return out


_DELETE = object()


@pytest.mark.parametrize(("sample", "path", "value", "message"), [
    (RICH_100, ("cniVersion",), 1.0, "cniVersion: expected a string, got number"),
    (RICH_100, ("ips",), {"a": 1}, "ips: expected an array, got object"),
    (RICH_100, ("ips", 0, "address"), 5, "ips[0].address: expected a string, got number"),
    (RICH_100, ("ips", 1, "address"), "10.0.0.1", "ips[1].address: invalid CIDR address: 10.0.0.1"),
    (RICH_100, ("ips", 0, "address"), _DELETE, "ips[0].address: missing CIDR address"),
    (RICH_100, ("ips", 0, "interface"), "0", "ips[0].interface: expected an integer, got string"),
    (RICH_100, ("ips", 0, "interface"), 1.5, "ips[0].interface: expected an integer, got number"),
    (RICH_100, ("ips", 0, "interface"), True, "ips[0].interface: expected an integer, got boolean"),
    (RICH_100, ("ips", 0, "interface"), 2**63, "ips[0].interface: integer"),
    (RICH_100, ("ips", 2, "gateway"), "gw", "ips[2].gateway: invalid IP address: gw"),
    (RICH_100, ("ips", 3), None, "ips[3]: expected an object, got null"),
    (RICH_100, ("interfaces", 1, "mtu"), "9000", "interfaces[1].mtu: expected an integer, got string"),
    (RICH_100, ("interfaces", 0, "name"), 3, "interfaces[0].name: expected a string, got number"),
    (RICH_100, ("interfaces", 1, "pciID"), [], "interfaces[1].pciID: expected a string, got array"),
    (RICH_100, ("interfaces", 0), "eth0", "interfaces[0]: expected an object, got string"),
    (RICH_100, ("routes", 0, "dst"), _DELETE, "routes[0].dst: missing CIDR address"),
    (RICH_100, ("routes", 1, "table"), "main", "routes[1].table: expected an integer, got string"),
    (RICH_100, ("routes", 2, "gw"), "fd00::1/64", "routes[2].gw: invalid IP address: fd00::1/64"),
    (RICH_100, ("dns",), [], "dns: expected an object, got array"),
    (RICH_100, ("dns", "nameservers", 1), 8, "dns.nameservers[1]: expected a string, got number"),
    (RICH_100, ("dns", "domain"), False, "dns.domain: expected a string, got boolean"),
    (RICH_040, ("ips", 0, "version"), 4, "ips[0].version: expected a string, got number"),
    (RICH_040, ("interfaces", 1, "sandbox"), 1, "interfaces[1].sandbox: expected a string"),
    (RICH_040, ("routes", 1, "mtu"), "1400", "routes[1].mtu: expected an integer, got string"),
    (RICH_020, ("ip4",), "10.0.0.1/24", "ip4: expected an object, got string"),
    (RICH_020, ("ip4", "routes", 1, "gw"), "x", "ip4.routes[1].gw: invalid IP address: x"),
    (RICH_020, ("ip6", "ip"), "fe80::1%eth0/64", "ip6.ip: invalid CIDR address: fe80::1%eth0/64"),
    (RICH_020, ("ip6", "routes"), "::/0", "ip6.routes: expected an array, got string"),
])
def test_wrong_types_name_the_field(sample: dict[str, Any], path: tuple[Any, ...], value: Any,
                                    message: str) -> None:
    with pytest.raises(CNIError) as err:
        parse_result(_set(sample, path, value))
    assert err.value.code == DECODE_FAILURE
    assert message in err.value.msg


@pytest.mark.parametrize("data", [b"{not json", "", b"\xff\xfe", "[1, 2]", '"1.0.0"', "5"])
def test_undecodable_documents(data: str | bytes) -> None:
    with pytest.raises(CNIError) as err:
        parse_result(data)
    assert err.value.code == DECODE_FAILURE


# --------------------------------------------------------------------------------------------
# Versions
# --------------------------------------------------------------------------------------------


def test_missing_version_defaults() -> None:
    assert parse_result({}) == Result020(cni_version="0.1.0")   # create.DecodeVersion
    assert parse_result(b"null") == Result020(cni_version="0.1.0")
    assert parse_result({"cniVersion": ""}) == Result020(cni_version="0.1.0")
    # invoke.fixupResultVersion: the config's version fills a missing one.
    assert parse_result({"ips": [{"address": "10.0.0.2/24"}]}, "1.0.0") == Result100(
        cni_version="1.0.0", ips=(IPConfig(address="10.0.0.2/24"),))
    assert parse_result({}, "0.3.1") == Result040(cni_version="0.3.1")
    assert parse_result({}, "") == Result020(cni_version="0.1.0")


@pytest.mark.parametrize(("declared", "asked", "kind"), [
    ("0.3.1", "0.4.0", Result040),
    ("1.0.0", "1.1.0", Result100),
    ("0.1.0", "0.2.0", Result020),
    ("0.4.0", "1.0.0", Result040),   # libcni's invoke keeps what the plugin printed
    ("1.1.0", "0.2.0", Result100),
    ("1.0.0", "", Result100),
    ("1.0.0", "9.9.9", Result100),
])
def test_the_result_own_version_wins(declared: str, asked: str, kind: type[Result]) -> None:
    result = parse_result({"cniVersion": declared}, asked)
    assert type(result) is kind
    assert result.cni_version == declared


@pytest.mark.parametrize(("data", "version", "message"), [
    ({"cniVersion": "0.5.0"}, None, "unsupported CNI result version '0.5.0'"),
    ({"cniVersion": "0.5.0"}, "0.4.0", "unsupported CNI result version '0.5.0'"),
    ({}, "2.0.0", "unsupported CNI result version '2.0.0'"),
    ({"cniVersion": ""}, "1.2.0", "unsupported CNI result version '1.2.0'"),
    ({"cniVersion": "v1"}, None, "unsupported CNI result version 'v1'"),
])
def test_incompatible_versions(data: dict[str, Any], version: str | None, message: str) -> None:
    with pytest.raises(CNIError) as err:
        parse_result(data, version)
    assert err.value.code == INCOMPATIBLE_VERSION
    assert err.value.msg == message


def test_result_types_only_take_their_versions() -> None:
    with pytest.raises(ValueError):
        Result040(cni_version="1.0.0")
    with pytest.raises(ValueError):
        Result100(cni_version="0.4.0")
    with pytest.raises(ValueError):
        Result020(cni_version="")


def test_results_are_frozen_and_a_result_is_a_result() -> None:
    result = parse_result(RICH_100)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        result.cni_version = "1.0.0"  # type: ignore[misc]
    for version in SUPPORTED_VERSIONS:
        assert isinstance(parse_result(_sample(version)), Result)


# --------------------------------------------------------------------------------------------
# Conversion
# --------------------------------------------------------------------------------------------


def test_libcni_golden_100_to_040_and_010() -> None:
    result = parse_result(LIBCNI_100)
    assert result.to_dict() == LIBCNI_100
    assert result.convert("0.4.0").to_dict() == LIBCNI_100_AS_040
    assert result.convert("0.1.0").to_dict() == LIBCNI_100_AS_010
    # "1.0.0 and 1.1.0 should be the same except for CNI version", and back identical.
    as100 = result.convert("1.0.0")
    assert as100.to_dict() == {**LIBCNI_100, "cniVersion": "1.0.0"}
    assert as100.convert("1.1.0") == result


def test_libcni_golden_020_round_trip_through_040() -> None:
    for routes4, routes6 in (
        ([{"dst": "15.5.6.0/24", "gw": "15.5.6.8"}], [{"dst": "1111:dddd::/80", "gw": "1111:dddd::aaaa"}]),
        ([{"dst": "15.5.6.0/24"}], [{"dst": "1111:dddd::/80"}]),
    ):
        data = {"cniVersion": "0.2.0",
                "ip4": {"ip": "1.2.3.30/24", "gateway": "1.2.3.1", "routes": routes4},
                "ip6": {"ip": "abcd:1234:ffff::cdde/64", "gateway": "abcd:1234:ffff::1", "routes": routes6},
                "dns": DNS_FULL}
        assert convert_result(convert_result(data, "0.4.0"), "0.2.0") == data


def test_golden_020_up() -> None:
    as040 = {
        "cniVersion": "0.3.1",
        "ips": [{"version": "4", "address": "10.250.1.5/24", "gateway": "10.250.1.1"},
                {"version": "6", "address": "fd00:250::5/64", "gateway": "fd00:250::1"}],
        "routes": [{"dst": "0.0.0.0/0", "gw": "10.250.1.1"}, {"dst": "10.250.0.0/16"},
                   {"dst": "::/0", "gw": "fd00:250::1"}],
        "dns": DNS_FULL,
    }
    assert convert_result(RICH_020, "0.3.1") == as040
    as100 = {**as040, "cniVersion": "1.0.0",
             "ips": [{"address": "10.250.1.5/24", "gateway": "10.250.1.1"},
                     {"address": "fd00:250::5/64", "gateway": "fd00:250::1"}]}
    assert convert_result(RICH_020, "1.0.0") == as100


def test_golden_rich_100_down() -> None:
    # 0.4.0 loses mtu/socketPath/pciID of interfaces but keeps 1.1.0 route fields (types.Route).
    assert convert_result(RICH_100, "0.4.0") == RICH_040
    # 0.2.0 keeps the first address of each family, routes by destination family, dst/gw only.
    assert convert_result(RICH_100, "0.2.0") == {
        "cniVersion": "0.2.0",
        "ip4": {"ip": "10.250.1.5/24", "gateway": "10.250.1.1",
                "routes": [{"dst": "0.0.0.0/0", "gw": "10.250.1.1"}, {"dst": "10.250.0.0/16"}]},
        "ip6": {"ip": "fd00:250::5/64", "gateway": "fd00:250::1",
                "routes": [{"dst": "::/0", "gw": "fd00:250::1"}]},
        "dns": DNS_FULL,
    }


def test_020_route_fields_survive_up_but_not_down() -> None:
    data = {"cniVersion": "0.2.0", "ip4": {"ip": "10.0.0.2/24", "routes": [
        {"dst": "10.1.0.0/16", "mtu": 1400, "table": 5}]}}
    assert parse_result(data).to_dict()["ip4"]["routes"] == [{"dst": "10.1.0.0/16", "mtu": 1400, "table": 5}]
    up = parse_result(data).convert("1.1.0")
    assert up.to_dict()["routes"] == [{"dst": "10.1.0.0/16", "mtu": 1400, "table": 5}]
    assert up.convert("0.2.0").to_dict()["ip4"]["routes"] == [{"dst": "10.1.0.0/16"}]


def test_down_to_020_routes_of_a_family_without_address_are_lost() -> None:
    data = {"cniVersion": "1.0.0", "ips": [{"address": "fd00::5/64"}],
            "routes": [{"dst": "0.0.0.0/0", "gw": "10.0.0.1"}, {"dst": "::/0"}]}
    assert convert_result(data, "0.2.0") == {
        "cniVersion": "0.2.0", "ip6": {"ip": "fd00::5/64", "routes": [{"dst": "::/0"}]}, "dns": {}}


def test_down_to_020_uses_the_040_version_field_not_the_address() -> None:
    # libcni's types040.convertTo02x looks at IPConfig.Version only.
    data = {"cniVersion": "0.4.0", "ips": [{"version": "6", "address": "10.0.0.2/24"},
                                           {"address": "10.0.0.3/24"}]}
    assert convert_result(data, "0.2.0")["ip6"] == {"ip": "10.0.0.2/24"}


@pytest.mark.parametrize("source", [
    {"cniVersion": "1.1.0"},
    {"cniVersion": "0.4.0", "interfaces": [{"name": "eth0"}]},
    {"cniVersion": "0.3.0", "ips": [{"address": "10.0.0.2/24"}]},      # no version: not usable
    {"cniVersion": "0.3.1", "ips": [{"version": "5", "address": "10.0.0.2/24"}]},
])
@pytest.mark.parametrize("target", VERSIONS_020)
def test_down_to_020_without_address_fails(source: dict[str, Any], target: str) -> None:
    with pytest.raises(CNIError) as err:
        parse_result(source).convert(target)
    assert err.value.code == INCOMPATIBLE_VERSION
    assert err.value.msg == "cannot convert: no valid IP addresses"


def test_ipv4_mapped_address_counts_as_ipv4() -> None:
    result = parse_result({"cniVersion": "1.0.0", "ips": [{"address": "::ffff:10.1.2.3/120"}],
                           "routes": [{"dst": "::ffff:0.0.0.0/96"}]})
    assert ips_of(result) == ["10.1.2.3/24"]
    assert result.convert("0.4.0").to_dict()["ips"] == [{"version": "4", "address": "10.1.2.3/24"}]
    assert result.convert("0.2.0").to_dict() == {
        "cniVersion": "0.2.0", "ip4": {"ip": "10.1.2.3/24", "routes": [{"dst": "0.0.0.0/0"}]}, "dns": {}}


def test_100_to_040_version_follows_the_address_family() -> None:
    result = parse_result({"cniVersion": "1.0.0", "ips": [{"address": "fd00::5/64"},
                                                          {"address": "10.0.0.5/8"}]})
    assert [ip["version"] for ip in result.convert("0.3.0").to_dict()["ips"]] == ["6", "4"]


@pytest.mark.parametrize("target", ["0.5.0", "", "1.2.0", "1.0", "latest"])
@pytest.mark.parametrize("source", SUPPORTED_VERSIONS)
def test_unsupported_conversion(source: str, target: str) -> None:
    with pytest.raises(CNIError) as err:
        parse_result(_sample(source)).convert(target)
    assert err.value.code == INCOMPATIBLE_VERSION
    assert err.value.msg == f"no converter for CNI result version {source} to {target}"


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_same_version_is_the_result_itself(version: str) -> None:
    result = parse_result(_sample(version))
    assert result.convert(version) is result


def _rebuilt_via_020(version: str) -> dict[str, Any]:
    """RICH_040/RICH_100 in ``version`` after a trip through 0.2.0, written out by hand."""
    with_version = version in VERSIONS_040
    ips = []
    for family, address, gateway in RICH_VIA_020_IPS:
        ip: dict[str, Any] = {"version": family} if with_version else {}
        ips.append({**ip, "address": address, "gateway": gateway})
    return {"cniVersion": version, "ips": ips, "routes": RICH_VIA_020_ROUTES, "dns": DNS_FULL}


@pytest.mark.parametrize("there", SUPPORTED_VERSIONS)
@pytest.mark.parametrize("home", SUPPORTED_VERSIONS)
def test_round_trip_every_pair(home: str, there: str) -> None:
    sample = _sample(home)
    original = parse_result(sample)
    away = original.convert(there)
    back = away.convert(home)
    assert away.cni_version == there and back.cni_version == home
    assert type(away) is (Result020, Result040, Result100)[_family(there)]
    # What is printed parses back to the same result.
    assert parse_result(away.to_dict()) == away
    assert parse_result(back.to_dict()) == back
    # Everything lost is lost on the first trip: going again changes nothing.
    assert back.convert(there) == away
    # The addresses the far version can represent are all still there.
    assert ips_of(back) == ips_of(away)
    assert back.dns == original.dns
    if _family(there) >= _family(home):
        assert back == original                      # nothing to lose
    elif _family(there) == 1:                         # 1.x -> 0.4.0 -> 1.x
        assert back.to_dict() == {**sample, "interfaces": [
            {k: v for k, v in intf.items() if k in ("name", "mac", "sandbox")}
            for intf in sample["interfaces"]]}
    else:                                             # 0.4.0 or 1.x -> 0.2.0 -> back
        assert back.to_dict() == _rebuilt_via_020(home)


# --------------------------------------------------------------------------------------------
# Conveniences
# --------------------------------------------------------------------------------------------


def test_convert_result_accepts_dicts_and_results() -> None:
    assert convert_result(LIBCNI_100, "0.4.0") == LIBCNI_100_AS_040
    assert convert_result(parse_result(LIBCNI_100), "0.1.0") == LIBCNI_100_AS_010
    assert convert_result(LIBCNI_100, "1.1.0") == LIBCNI_100


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_empty_result(version: str) -> None:
    expected = {"cniVersion": version} if version in VERSIONS_100 else {"cniVersion": version, "dns": {}}
    assert empty_result(version) == expected
    assert parse_result(expected).to_dict() == expected


def test_empty_result_rules() -> None:
    with pytest.raises(CNIError) as err:
        empty_result("0.5.0")
    assert err.value.code == INCOMPATIBLE_VERSION
    # An empty 0.2.0 result is printable; an empty 1.x result cannot go down to it.
    with pytest.raises(CNIError):
        convert_result(empty_result("1.0.0"), "0.2.0")
    assert convert_result(empty_result("0.2.0"), "1.0.0") == {"cniVersion": "1.0.0"}
    assert convert_result(empty_result("0.2.0"), "0.4.0") == {"cniVersion": "0.4.0", "dns": {}}


def test_ips_of() -> None:
    r100 = parse_result(RICH_100)
    assert ips_of(r100) == ["10.250.1.5/24", "fd00:250::5/64", "10.250.9.5/24", "192.0.2.7/32"]
    assert ips_of(r100, 1) == ["10.250.1.5/24", "fd00:250::5/64", "10.250.9.5/24"]
    assert ips_of(r100, 0) == []
    assert ips_of(parse_result(RICH_040), 1) == ips_of(r100, 1)
    r020 = parse_result(RICH_020)
    assert ips_of(r020) == ["10.250.1.5/24", "fd00:250::5/64"]
    assert ips_of(r020, 0) == []
    assert ips_of(parse_result({"cniVersion": "0.2.0", "ip6": {"ip": "fd00::2/64"}})) == ["fd00::2/64"]


def test_sandbox_interfaces() -> None:
    r100 = parse_result(RICH_100)
    assert isinstance(r100, Result100)
    assert sandbox_interfaces(r100) == [(1, r100.interfaces[1])]
    assert [i.name for _, i in sandbox_interfaces(parse_result(RICH_040))] == ["net1"]
    assert sandbox_interfaces(parse_result(RICH_020)) == []
    assert sandbox_interfaces(parse_result({"cniVersion": "1.0.0"})) == []
