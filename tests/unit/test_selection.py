"""The network-selection annotation parser: every form upstream Multus accepts or refuses."""

from __future__ import annotations

import json
from typing import Any

import pytest

from multus.engine import annotations as names
from multus.engine.selection import (
    NetworkSelection,
    parse_default_network_annotation,
    parse_networks_annotation,
    selection_from_dict,
)
from multus.errors import INVALID_CONFIG, CNIError

NS = "podns"
JSON = "parsePodNetworkAnnotation: failed to parse pod Network Attachment Selection Annotation JSON format: "
OBJ = "parsePodNetworkAnnotation: parsePodNetworkObjectName: "
MISMATCH = (OBJ + "Failed to parse: one or more items did not match comma-delimited format (must consist of "
            "lower case alphanumeric characters). Must start and end with an alphanumeric character), "
            "mismatch @ '{}'")
IFNAME = (OBJ + "Failed to parse interface name: must be less than 15 chars and not contain '/' or spaces. "
          "interface name '{}'")
LABEL = ("is invalid: must consist of lower case alphanumeric characters or '-', and must start and end "
         "with an alphanumeric character (DNS-1123 label)")
SUBDOMAIN = ("is invalid: must consist of lower case alphanumeric characters, '-' or '.', and must start and "
             "end with an alphanumeric character (DNS-1123 subdomain)")
ELEM = "parsePodNetworkAnnotation: network selection element {}: "
MAC = "parsePodNetworkAnnotation: failed to mac: address {}: invalid MAC address"
GUID = "parsePodNetworkAnnotation: failed to validate infiniband GUID: address {}: invalid MAC address"


def sel(name: str, namespace: str = NS, **kw: Any) -> NetworkSelection:
    return NetworkSelection(name=name, namespace=namespace, **kw)


def element(**fields: Any) -> str:
    return json.dumps([{"name": "net", **fields}])


# ------------------------------------------------------------------------------------------------ valid

VALID: list[tuple[str, list[NetworkSelection]]] = [
    ("", []),
    ("   \t\n", []),
    ("net1", [sel("net1")]),
    ("ns1/net1", [sel("net1", "ns1")]),
    ("net1@eth1", [sel("net1", interface="eth1")]),
    ("ns1/net1@eth1", [sel("net1", "ns1", interface="eth1")]),
    ("  ns1 / net1 @ eth1  ", [sel("net1", "ns1", interface="eth1")]),
    ("/net1", [sel("net1")]),
    ("a, ns2/b@net5 ,c", [sel("a"), sel("b", "ns2", interface="net5"), sel("c")]),
    ("a@foo,b", [sel("a", interface="foo"), sel("b")]),
    # Multus' own short-form parser does not apply the DNS-1123 regex to the interface name
    ("net1@my_interface", [sel("net1", interface="my_interface")]),
    ("net1@" + "x" * 15, [sel("net1", interface="x" * 15)]),
    ("0-a-9", [sel("0-a-9")]),
    ("null", [sel("null")]),
    # JSON form
    ("[]", []),
    ('[{"name":"net1"}]', [sel("net1")]),
    ('[{"name":"net1","namespace":""}]', [sel("net1")]),
    ('[{"name":"net1","namespace":null}]', [sel("net1")]),
    ('  [ {"name": "a"}, {"name": "b", "namespace": "ns2"} ]  ', [sel("a"), sel("b", "ns2")]),
    ('[{"name":"net1","interface":"eth9"}]', [sel("net1", interface="eth9")]),
    ('[{"name":"net1","interfaceRequest":"eth9"}]', [sel("net1", interface="eth9")]),
    ('[{"name":"net1","interface":"eth1","interfaceRequest":"eth9"}]', [sel("net1", interface="eth1")]),
    ('[{"name":"net1","interface":"my_if.1"}]', [sel("net1", interface="my_if.1")]),
    # Go matches keys case-insensitively when no key matches exactly; unknown keys are ignored
    ('[{"Name":"net1","NAMESPACE":"ns1","Interface":"e1","IPS":["1.2.3.4"],"DeviceId":"d","x":[{}]}]',
     [sel("net1", "ns1", interface="e1", ips=("1.2.3.4",), device_id="d")]),
    ('[{"name":"first","name":"last"}]', [sel("last")]),
    ('[{"name":"net1","name":null}]', [sel("net1")]),
    ('[{"name":"net1","ips":null,"portMappings":null,"bandwidth":null,"default-route":null,"cni-args":null}]',
     [sel("net1")]),
    ('[{"name":"net1","ips":[]}]', [sel("net1")]),
    ('[{"name":"net1","default-route":[]}]', [sel("net1", default_route=())]),
    ('[{"name":"net1","default-route":["10.0.0.1","fd00::1"]}]',
     [sel("net1", default_route=("10.0.0.1", "fd00::1"))]),
    ('[{"name":"net1","default-route":["",null]}]', [sel("net1", default_route=("", ""))]),
    ('[{"name":"net1","cni-args":{}}]', [sel("net1", cni_args={})]),
    ('[{"name":"net1","portMappings":[]}]', [sel("net1", port_mappings=())]),
    ('[{"name":"net1","bandwidth":{}}]', [sel("net1", bandwidth={})]),
    ('[{"name":"net1","portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp","extra":1.5}]}]',
     [sel("net1", port_mappings=({"hostPort": 8080, "containerPort": 80, "protocol": "tcp", "extra": 1.5},))]),
    ('[{"name":"net1","ipam-claim-reference":"claim"}]', [sel("net1", ipam_claim_reference="claim")]),
]


@pytest.mark.parametrize(("value", "expected"), VALID, ids=[repr(v) for v, _ in VALID])
def test_valid(value: str, expected: list[NetworkSelection]) -> None:
    assert parse_networks_annotation(value, NS) == expected


def test_json_every_field() -> None:
    value = json.dumps([{
        "name": "sriov-net",
        "namespace": "ns1",
        "interface": "net7",
        "ips": ["10.1.1.5/24", "fd00::5", "192.168.0.1"],
        "mac": "02:00:00:00:00:01",
        "infiniband-guid": "c2:11:22:33:44:55:66:77",
        "portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp", "hostIP": "1.1.1.1"}],
        "bandwidth": {"ingressRate": 1000, "ingressBurst": 2000, "egressRate": 3000, "egressBurst": 4000},
        "default-route": ["10.1.1.1"],
        "cni-args": {"foo": "bar", "n": 5, "nested": {"list": [1, 2.5, True, None]}},
        "deviceID": "0000:03:00.1",
    }])
    (got,) = parse_networks_annotation(value, NS)
    assert got == NetworkSelection(
        name="sriov-net",
        namespace="ns1",
        interface="net7",
        ips=("10.1.1.5/24", "fd00::5", "192.168.0.1"),
        mac="02:00:00:00:00:01",
        infiniband_guid="c2:11:22:33:44:55:66:77",
        port_mappings=({"hostPort": 8080, "containerPort": 80, "protocol": "tcp", "hostIP": "1.1.1.1"},),
        bandwidth={"ingressRate": 1000, "ingressBurst": 2000, "egressRate": 3000, "egressBurst": 4000},
        default_route=("10.1.1.1",),
        cni_args={"foo": "bar", "n": 5, "nested": {"list": [1, 2.5, True, None]}},
        device_id="0000:03:00.1",
    )
    assert isinstance(got.cni_args, dict) and type(got.cni_args["n"]) is int


HW_ADDRESSES = [
    "00:11:22:33:44:55",
    "00-11-22-33-44-55",
    "0011.2233.4455",
    "AA:bb:CC:dd:EE:ff",
    "00:11:22:33:44:55:66:77",
    "0011.2233.4455.6677",
    ":".join(["0a"] * 20),
    "-".join(["0a"] * 20),
    ".".join(["0a0b"] * 10),
]


@pytest.mark.parametrize("addr", HW_ADDRESSES)
def test_hardware_addresses(addr: str) -> None:
    (got,) = parse_networks_annotation(element(mac=addr, **{"infiniband-guid": addr}), NS)
    assert (got.mac, got.infiniband_guid) == (addr, addr)


IPS = ["1.2.3.4", "0.0.0.0", "255.255.255.255", "::", "fd00::1", "::ffff:1.2.3.4", "1.2.3.4/0", "1.2.3.4/32",
       "10.0.0.1/024", "fd00::1/128", "::ffff:1.2.3.4/120"]


@pytest.mark.parametrize("ip", IPS)
def test_ips(ip: str) -> None:
    assert parse_networks_annotation(element(ips=[ip]), NS)[0].ips == (ip,)


# ------------------------------------------------------------------------------------------------ invalid

INVALID: list[tuple[str, str]] = [
    # short form
    ("a/b/c", OBJ + "Invalid network object (failed at '/')"),
    ("ns/a/b@e", OBJ + "Invalid network object (failed at '/')"),
    ("a@b@c", OBJ + "Invalid network object (failed at '@')"),
    ("Net1", MISMATCH.format("Net1")),
    ("NS/net1", MISMATCH.format("NS")),
    ("ns/Net1", MISMATCH.format("Net1")),
    ("-net", MISMATCH.format("-net")),
    ("net-", MISMATCH.format("net-")),
    ("my.net", MISMATCH.format("my.net")),
    ("my_net", MISMATCH.format("my_net")),
    ("..", MISMATCH.format("..")),
    ("../net", MISMATCH.format("..")),
    ("net one", MISMATCH.format("net one")),
    ("ok,Bad", MISMATCH.format("Bad")),
    ("net1@" + "x" * 16, IFNAME.format("x" * 16)),
    ("net1@a b", IFNAME.format("a b")),
    ("net1@a\tb", IFNAME.format("a\tb")),
    # hardening: empty names and the CNI interface-name rules
    ("a,,b", ELEM.format(1) + '"name" is missing or empty'),
    ("a,", ELEM.format(1) + '"name" is missing or empty'),
    ("ns1/", ELEM.format(0) + '"name" is missing or empty'),
    ("@eth1", ELEM.format(0) + '"name" is missing or empty'),
    ("net1@.", ELEM.format(0) + '"interface" "." is invalid: interface name is . or ..'),
    ("net1@..", ELEM.format(0) + '"interface" ".." is invalid: interface name is . or ..'),
    ("net1@eth0:1", ELEM.format(0) + '"interface" "eth0:1" is invalid: interface name contains / or : or '
     "whitespace characters"),
    ("net1@a\u00a0b", ELEM.format(0) + '"interface" "a\\u00a0b" is invalid: interface name contains / or : '
     "or whitespace characters"),
    # JSON syntax (Go's scanner texts)
    ("[", JSON + "unexpected end of JSON input"),
    ('[{"name":"a"}', JSON + "unexpected end of JSON input"),
    ('[{"name":}]', JSON + "invalid character '}' looking for beginning of value"),
    ('[{"name" "a"}]', JSON + "invalid character '\"' after object key"),
    ('[{"name":"a" "b"}]', JSON + "invalid character '\"' after object key:value pair"),
    ('[{"name":"a",}]', JSON + "invalid character '}' looking for beginning of object key string"),
    ('[{name:"a"}]', JSON + "invalid character 'n' looking for beginning of object key string"),
    ('[{"name":"a"} {"name":"b"}]', JSON + "invalid character '{' after array element"),
    ('[{"name":"a"}] x', JSON + "invalid character 'x' after top-level value"),
    ("[tru]", JSON + "invalid character ']' in literal true (expecting 'e')"),
    ("[fals", JSON + "invalid character ' ' in literal false (expecting 'e')"),
    ("[nul", JSON + "invalid character ' ' in literal null (expecting 'l')"),
    ("[NaN]", JSON + "invalid character 'N' looking for beginning of value"),
    ("[1.]", JSON + "invalid character ']' after decimal point in numeric literal"),
    ("[-]", JSON + "invalid character ']' in numeric literal"),
    ("[1e]", JSON + "invalid character ']' in exponent of numeric literal"),
    ("[01]", JSON + "invalid character '1' after array element"),
    ('["\\q"]', JSON + "invalid character 'q' in string escape code"),
    ('["\\u12x4"]', JSON + "invalid character 'x' in \\u hexadecimal character escape"),
    ('["a\nb"]', JSON + "invalid character '\\n' in string literal"),
    ("['a']", JSON + "invalid character '\\'' looking for beginning of value"),
    # JSON types (Go's UnmarshalTypeError texts)
    ('{"name":"a"}', JSON + "json: cannot unmarshal object into Go value of type []*types.NetworkSelectionElement"),
    ('"net1"', JSON + "json: cannot unmarshal string into Go value of type []*types.NetworkSelectionElement"),
    ("[5]", JSON + "json: cannot unmarshal number into Go value of type types.NetworkSelectionElement"),
    ('["net1"]', JSON + "json: cannot unmarshal string into Go value of type types.NetworkSelectionElement"),
    ("[[]]", JSON + "json: cannot unmarshal array into Go value of type types.NetworkSelectionElement"),
    ("[true]", JSON + "json: cannot unmarshal bool into Go value of type types.NetworkSelectionElement"),
    ("[null]", JSON + "network selection element 0 is null, expected an object"),
    ('[{"name":5}]', JSON + "json: cannot unmarshal number into Go struct field NetworkSelectionElement.name "
     "of type string"),
    ('[{"name":"a","namespace":{}}]', JSON + "json: cannot unmarshal object into Go struct field "
     "NetworkSelectionElement.namespace of type string"),
    ('[{"name":"a","ips":"1.2.3.4"}]', JSON + "json: cannot unmarshal string into Go struct field "
     "NetworkSelectionElement.ips of type []string"),
    ('[{"name":"a","ips":[1]}]', JSON + "json: cannot unmarshal number into Go struct field "
     "NetworkSelectionElement.ips of type string"),
    ('[{"name":"a","mac":true}]', JSON + "json: cannot unmarshal bool into Go struct field "
     "NetworkSelectionElement.mac of type string"),
    ('[{"name":"a","infiniband-guid":1}]', JSON + "json: cannot unmarshal number into Go struct field "
     "NetworkSelectionElement.infiniband-guid of type string"),
    ('[{"name":"a","interface":["eth1"]}]', JSON + "json: cannot unmarshal array into Go struct field "
     "NetworkSelectionElement.interface of type string"),
    ('[{"name":"a","interfaceRequest":1}]', JSON + "json: cannot unmarshal number into Go struct field "
     "NetworkSelectionElement.interfaceRequest of type string"),
    ('[{"name":"a","deviceID":1}]', JSON + "json: cannot unmarshal number into Go struct field "
     "NetworkSelectionElement.deviceID of type string"),
    ('[{"name":"a","ipam-claim-reference":1}]', JSON + "json: cannot unmarshal number into Go struct field "
     "NetworkSelectionElement.ipam-claim-reference of type string"),
    ('[{"name":"a","portMappings":{}}]', JSON + "json: cannot unmarshal object into Go struct field "
     "NetworkSelectionElement.portMappings of type []*types.PortMapEntry"),
    ('[{"name":"a","portMappings":["80:80"]}]', JSON + "json: cannot unmarshal string into Go struct field "
     "NetworkSelectionElement.portMappings of type types.PortMapEntry"),
    ('[{"name":"a","portMappings":[null]}]', JSON + "NetworkSelectionElement.portMappings: null entries are "
     "not allowed"),
    ('[{"name":"a","portMappings":[{"hostPort":"80"}]}]', JSON + "json: cannot unmarshal string into Go struct "
     "field PortMapEntry.portMappings.hostPort of type int"),
    ('[{"name":"a","portMappings":[{"containerPort":80.5}]}]', JSON + "json: cannot unmarshal number 80.5 into "
     "Go struct field PortMapEntry.portMappings.containerPort of type int"),
    ('[{"name":"a","portMappings":[{"hostPort":1e3}]}]', JSON + "json: cannot unmarshal number 1e3 into "
     "Go struct field PortMapEntry.portMappings.hostPort of type int"),
    ('[{"name":"a","portMappings":[{"hostPort":9223372036854775808}]}]', JSON + "json: cannot unmarshal number "
     "9223372036854775808 into Go struct field PortMapEntry.portMappings.hostPort of type int"),
    ('[{"name":"a","portMappings":[{"HOSTIP":1}]}]', JSON + "json: cannot unmarshal number into Go struct "
     "field PortMapEntry.portMappings.hostIP of type string"),
    ('[{"name":"a","bandwidth":[]}]', JSON + "json: cannot unmarshal array into Go struct field "
     "NetworkSelectionElement.bandwidth of type types.BandwidthEntry"),
    ('[{"name":"a","bandwidth":{"ingressRate":true}}]', JSON + "json: cannot unmarshal bool into Go struct "
     "field BandwidthEntry.bandwidth.ingressRate of type int"),
    ('[{"name":"a","cni-args":"x=y"}]', JSON + "json: cannot unmarshal string into Go struct field "
     "NetworkSelectionElement.cni-args of type map[string]interface {}"),
    ('[{"name":"a","cni-args":{"x":1e400}}]', JSON + "json: cannot unmarshal number 1e400 into Go struct "
     "field NetworkSelectionElement.cni-args of type float64"),
    ('[{"name":"a","default-route":"10.0.0.1"}]', JSON + "json: cannot unmarshal string into Go struct field "
     "NetworkSelectionElement.default-route of type []net.IP"),
    ('[{"name":"a","default-route":[1]}]', JSON + "json: cannot unmarshal number into Go struct field "
     "NetworkSelectionElement.default-route of type net.IP"),
    ('[{"name":"a","default-route":["gw"]}]', JSON + "invalid IP address: gw"),
    # the first type error in document order wins, before any validation
    ('[{"name":"a","mac":"zz"},{"name":5}]', JSON + "json: cannot unmarshal number into Go struct field "
     "NetworkSelectionElement.name of type string"),
    ('[{"name":"a","ips":["1.1.1.1"],"ipam-claim-reference":"c"}]',
     JSON + "cannot provide a static IP and a reference of an IPAM claim in the same network selection element"),
    # element validation
    (element(mac="zz"), MAC.format("zz")),
    (element(mac="00:11:22:33:44"), MAC.format("00:11:22:33:44")),
    (element(mac="00:11-22:33:44:55"), MAC.format("00:11-22:33:44:55")),
    (element(mac="00:11:22:33:44:55:66"), MAC.format("00:11:22:33:44:55:66")),
    (element(mac="0011.2233.445g"), MAC.format("0011.2233.445g")),
    (element(mac="0x11:22:33:44:55:66"), MAC.format("0x11:22:33:44:55:66")),
    (element(**{"infiniband-guid": "nope-nope-nope"}), GUID.format("nope-nope-nope")),
    (element(ips=["1.2.3.4/33"]), 'failed to parse CIDR "1.2.3.4/33": invalid CIDR address: 1.2.3.4/33'),
    (element(ips=["fd00::1/129"]), 'failed to parse CIDR "fd00::1/129": invalid CIDR address: fd00::1/129'),
    (element(ips=["1.2.3.4/"]), 'failed to parse CIDR "1.2.3.4/": invalid CIDR address: 1.2.3.4/'),
    (element(ips=["1.2.3.4/24/1"]), 'failed to parse CIDR "1.2.3.4/24/1": invalid CIDR address: 1.2.3.4/24/1'),
    (element(ips=["1.2.3.4/255.255.255.0"]),
     'failed to parse CIDR "1.2.3.4/255.255.255.0": invalid CIDR address: 1.2.3.4/255.255.255.0'),
    (element(ips=["300.1.1.1"]), 'failed to parse IP address "300.1.1.1"'),
    (element(ips=["01.2.3.4"]), 'failed to parse IP address "01.2.3.4"'),
    (element(ips=["fe80::1%eth0"]), 'failed to parse IP address "fe80::1%eth0"'),
    (element(ips=["1.2.3.4", ""]), 'failed to parse IP address ""'),
    (element(ips=[" 1.2.3.4"]), 'failed to parse IP address " 1.2.3.4"'),
    # hardening of the JSON form: names are DNS-1123 subdomains, interfaces CNI interface names
    ('[{"namespace":"ns1"}]', ELEM.format(0) + '"name" is missing or empty'),
    ('[{"name":""}]', ELEM.format(0) + '"name" is missing or empty'),
    ('[{"name":"../../etc"}]', ELEM.format(0) + f'"name" "../../etc" {SUBDOMAIN}'),
    ('[{"name":"a/b"}]', ELEM.format(0) + f'"name" "a/b" {SUBDOMAIN}'),
    ('[{"name":".."}]', ELEM.format(0) + f'"name" ".." {SUBDOMAIN}'),
    ('[{"name":"Net"}]', ELEM.format(0) + f'"name" "Net" {SUBDOMAIN}'),
    ('[{"name":"my..net"}]', ELEM.format(0) + f'"name" "my..net" {SUBDOMAIN}'),
    ('[{"name":"ok"},{"name":"ok","namespace":"kube-system/../x"}]',
     ELEM.format(1) + f'"namespace" "kube-system/../x" {LABEL}'),
    ('[{"name":"a","namespace":".."}]', ELEM.format(0) + f'"namespace" ".." {LABEL}'),
    (element(interface="a/b"), ELEM.format(0) + '"interface" "a/b" is invalid: interface name contains / or : '
     "or whitespace characters"),
    (element(interface="eth 0"), ELEM.format(0) + '"interface" "eth 0" is invalid: interface name contains / '
     "or : or whitespace characters"),
    (element(interface=".."), ELEM.format(0) + '"interface" ".." is invalid: interface name is . or ..'),
    (element(interface="x" * 16), ELEM.format(0) + f'"interface" "{"x" * 16}" is invalid: interface name is '
     "too long"),
    (element(interface="é" * 8), ELEM.format(0) + f'"interface" "{"é" * 8}" is invalid: interface name is '
     "too long"),
    (element(interfaceRequest="../x"), ELEM.format(0) + '"interface" "../x" is invalid: interface name '
     "contains / or : or whitespace characters"),
]


@pytest.mark.parametrize(("value", "message"), INVALID, ids=[repr(v) for v, _ in INVALID])
def test_invalid(value: str, message: str) -> None:
    with pytest.raises(CNIError) as exc_info:
        parse_networks_annotation(value, NS)
    assert exc_info.value.code == INVALID_CONFIG == 7
    assert exc_info.value.msg == message


@pytest.mark.parametrize("value", ["net1", '[{"name":"net1"}]'])
def test_invalid_default_namespace(value: str) -> None:
    with pytest.raises(CNIError) as exc_info:
        parse_networks_annotation(value, "../other")
    assert exc_info.value.msg == ELEM.format(0) + f'"namespace" "../other" (the default namespace) {LABEL}'


def test_deep_nesting_is_an_error_not_a_traceback() -> None:
    with pytest.raises(CNIError) as exc_info:
        parse_networks_annotation("[" * 5000 + "]" * 5000, NS)
    assert exc_info.value.msg.startswith(JSON)
    with pytest.raises(CNIError) as exc_info:
        parse_networks_annotation("[" * 10001, NS)
    assert exc_info.value.msg == JSON + "invalid character '[' exceeded max depth"


def test_no_name_or_namespace_escapes() -> None:
    """Whatever the input, a parsed name or namespace never holds '/' or '..'."""
    tricky = ["../x", "x/..", "./x", "a/../b", "%2e%2e", "a\\b", "ns/..@eth0", "..@x"]
    values = tricky + [json.dumps([{"name": t}]) for t in tricky] + \
        [json.dumps([{"name": "a", "namespace": t}]) for t in tricky]
    for value in values:
        try:
            got = parse_networks_annotation(value, NS)
        except CNIError:
            continue
        for s in got:
            for part in (s.name, s.namespace):
                assert "/" not in part and ".." not in part, value


# ------------------------------------------------------------------------------------------------ default network

DEFAULT_PREFIX = "tryLoadK8sPodDefaultNetwork: "


@pytest.mark.parametrize(("value", "expected"), [
    ("", None),
    ("  ", None),
    ("ovn", sel("ovn", "kube-system")),
    ("other/ovn@eth5", sel("ovn", "other", interface="eth5")),
    ('[{"name":"ovn","mac":"02:00:00:00:00:01"}]', sel("ovn", "kube-system", mac="02:00:00:00:00:01")),
])
def test_default_network(value: str, expected: NetworkSelection | None) -> None:
    assert parse_default_network_annotation(value, "kube-system") == expected


@pytest.mark.parametrize(("value", "message"), [
    ("a,b", DEFAULT_PREFIX + "more than one default network is specified: a,b"),
    ('[{"name":"a"},{"name":"b"}]',
     DEFAULT_PREFIX + 'more than one default network is specified: [{"name":"a"},{"name":"b"}]'),
    ("[]", DEFAULT_PREFIX + "no default network is specified: []"),
    ("A", DEFAULT_PREFIX + "failed to parse CRD object: " + MISMATCH.format("A")),
    ("[", DEFAULT_PREFIX + "failed to parse CRD object: " + JSON + "unexpected end of JSON input"),
])
def test_default_network_invalid(value: str, message: str) -> None:
    with pytest.raises(CNIError) as exc_info:
        parse_default_network_annotation(value, "kube-system")
    assert (exc_info.value.code, exc_info.value.msg) == (INVALID_CONFIG, message)


# ------------------------------------------------------------------------------------------------ model

def test_to_dict_and_back() -> None:
    full = NetworkSelection(
        name="n", namespace="ns", interface="e1", ips=("1.1.1.1",), mac="02:00:00:00:00:01",
        infiniband_guid="00:11:22:33:44:55:66:77", port_mappings=({"hostPort": 1, "containerPort": 2},),
        bandwidth={"ingressRate": 1}, default_route=("1.1.1.254",), cni_args={"k": "v"}, device_id="dev",
    )
    d = full.to_dict()
    assert d == {
        "name": "n", "namespace": "ns", "interface": "e1", "ips": ["1.1.1.1"], "mac": "02:00:00:00:00:01",
        "infiniband-guid": "00:11:22:33:44:55:66:77", "portMappings": [{"hostPort": 1, "containerPort": 2}],
        "bandwidth": {"ingressRate": 1}, "default-route": ["1.1.1.254"], "cni-args": {"k": "v"},
        "deviceID": "dev",
    }
    assert selection_from_dict(d) == full
    d["cni-args"]["k"] = "changed"  # to_dict hands out copies
    assert full.cni_args == {"k": "v"}


@pytest.mark.parametrize(("selection", "expected"), [
    (sel("n"), {"name": "n", "namespace": NS}),
    (sel("n", ""), {"name": "n"}),
    (sel("n", default_route=()), {"name": "n", "namespace": NS, "default-route": []}),
    (sel("n", cni_args={}, port_mappings=()), {"name": "n", "namespace": NS, "cni-args": {}, "portMappings": []}),
    (sel("n", ipam_claim_reference="c"), {"name": "n", "namespace": NS, "ipam-claim-reference": "c"}),
])
def test_to_dict_omits_empty(selection: NetworkSelection, expected: dict[str, Any]) -> None:
    assert selection.to_dict() == expected
    assert selection_from_dict(expected) == selection


def test_from_dict_validates() -> None:
    with pytest.raises(CNIError) as exc_info:
        selection_from_dict({"name": "n", "mac": "zz"})
    assert exc_info.value.msg == MAC.format("zz")
    with pytest.raises(CNIError) as exc_info:
        selection_from_dict({"name": "n", "cni-args": {"x": float("nan")}})
    assert exc_info.value.code == INVALID_CONFIG
    assert selection_from_dict({"name": "n"}, default_namespace="d") == sel("n", "d")


def test_annotation_names() -> None:
    assert names.NETWORKS_ANNOTATION == "k8s.v1.cni.cncf.io/networks"
    assert names.DEFAULT_NETWORK_ANNOTATION == "v1.multus-cni.io/default-network"
    assert names.NETWORK_STATUS_ANNOTATION == "k8s.v1.cni.cncf.io/network-status"
    assert names.RESOURCE_NAME_ANNOTATION == "k8s.v1.cni.cncf.io/resourceName"


def test_json_name_may_be_a_dotted_kubernetes_name() -> None:
    [sel] = parse_networks_annotation('[{"name":"my.net"}]', "default")
    assert (sel.name, sel.namespace) == ("my.net", "default")
