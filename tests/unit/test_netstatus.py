"""network-status entries (§11): upstream's CreateNetworkStatuses, and our fix for address-only results."""

from __future__ import annotations

import json
from typing import Any

from multus.engine.models import Attachment, Delegate
from multus.engine.netstatus import entries_for, network_status, serialize


def att(result: dict[str, Any], name: str = "default/net", ifname: str = "net1", master: bool = False,
        device_info: dict[str, Any] | None = None) -> Attachment:
    d = Delegate(config={"cniVersion": "1.0.0", "name": "x", "type": "bridge"}, name=name, ifname=ifname,
                 master=master)
    return Attachment(delegate=d, result=result, device_info=device_info)


def test_single_interface_upstream_example() -> None:
    cbr0 = {"cniVersion": "0.3.1",
            "interfaces": [{"name": "eth0", "mac": "7e:57:00:00:00:01", "sandbox": "/var/run/netns/x"}],
            "ips": [{"version": "4", "address": "10.244.1.4/24", "gateway": "10.244.1.1", "interface": 0}],
            "routes": [{"dst": "0.0.0.0/0", "gw": "10.244.1.1"}]}
    macvlan = {"cniVersion": "0.3.1",
               "interfaces": [{"name": "net1", "mac": "36:b3:00:00:00:02", "sandbox": "/var/run/netns/x"}],
               "ips": [{"version": "4", "address": "10.1.1.101/24", "interface": 0}]}
    got = network_status([att(cbr0, "cbr0", "eth0", master=True), att(macvlan, "default/macvlan-conf")])
    assert got == [
        {"name": "cbr0", "interface": "eth0", "ips": ["10.244.1.4"], "mac": "7e:57:00:00:00:01",
         "default": True, "dns": {}, "gateway": ["10.244.1.1"]},
        {"name": "default/macvlan-conf", "interface": "net1", "ips": ["10.1.1.101"], "mac": "36:b3:00:00:00:02",
         "dns": {}},
    ]
    # keys in the Go struct's order
    assert list(got[0]) == ["name", "interface", "ips", "mac", "default", "dns", "gateway"]


def test_single_interface_without_sandbox_has_no_interface_fields() -> None:
    res = {"cniVersion": "1.0.0", "interfaces": [{"name": "cni0", "mac": "aa:bb:cc:dd:ee:ff", "mtu": 1400}],
           "ips": [{"address": "10.1.0.5/16"}]}
    assert entries_for(res, "n", "net1", False) == [{"name": "n", "ips": ["10.1.0.5"], "dns": {}}]


def test_single_interface_all_ips_regardless_of_index() -> None:
    res = {"cniVersion": "1.0.0", "interfaces": [{"name": "net1", "sandbox": "/ns"}],
           "ips": [{"address": "10.1.0.5/16", "interface": 0}, {"address": "fd00::5/64", "interface": 3},
                   {"address": "10.2.0.5/16"}]}
    assert entries_for(res, "n", "net1", False)[0]["ips"] == ["10.1.0.5", "fd00::5", "10.2.0.5"]


def multi_result() -> dict[str, Any]:
    return {"cniVersion": "1.0.0",
            "interfaces": [{"name": "br0", "mac": "00:00:00:00:00:01"},                       # host side
                           {"name": "net1", "mac": "00:00:00:00:00:02", "sandbox": "/ns", "mtu": 9000},
                           {"name": "veth1", "mac": "00:00:00:00:00:03"},
                           {"name": "net2", "mac": "00:00:00:00:00:04", "sandbox": "/ns"}],
            "ips": [{"address": "10.1.1.2/24", "interface": 1},
                    {"address": "10.2.2.2/24", "interface": 3, "gateway": "10.2.2.1"},
                    {"address": "10.9.9.9/24", "interface": 0},   # host interface: dropped
                    {"address": "10.3.3.3/24"}],                 # no index: last entry
            "routes": [{"dst": "0.0.0.0/0", "gw": "10.2.2.1"}, {"dst": "10.0.0.0/8", "gw": "10.1.1.1"},
                       {"dst": "::/0", "gw": "fd00::1"}],
            "dns": {"nameservers": ["10.0.0.10"], "domain": "cluster.local", "search": ["svc"],
                    "options": ["ndots:5"]}}


def test_multi_interface_indexes_and_unindexed_ips_to_last() -> None:
    got = entries_for(multi_result(), "ns1/multi", "net1", False)
    dns = {"nameservers": ["10.0.0.10"], "domain": "cluster.local", "search": ["svc"], "options": ["ndots:5"]}
    assert got == [
        {"name": "ns1/multi", "interface": "net1", "ips": ["10.1.1.2"], "mac": "00:00:00:00:00:02", "mtu": 9000,
         "dns": dns, "gateway": ["10.2.2.1", "fd00::1"]},
        {"name": "ns1/multi", "interface": "net2", "ips": ["10.2.2.2", "10.3.3.3"], "mac": "00:00:00:00:00:04",
         "dns": dns, "gateway": ["10.2.2.1", "fd00::1"]},
    ]


def test_master_default_marks_the_gateway_interface() -> None:
    got = entries_for(multi_result(), "cluster", "eth0", True)
    assert [e.get("default", False) for e in got] == [False, True]


def test_master_default_first_sandbox_interface_without_gateway() -> None:
    res = multi_result()
    for ip in res["ips"]:
        ip.pop("gateway", None)
    got = entries_for(res, "cluster", "eth0", True)
    assert [e.get("default", False) for e in got] == [True, False]


def test_multi_interface_without_sandbox_gives_nothing() -> None:
    res = {"cniVersion": "1.0.0", "interfaces": [{"name": "a"}, {"name": "b"}],
           "ips": [{"address": "10.1.1.2/24"}]}
    assert entries_for(res, "n", "net1", True) == []
    assert network_status([att(res)]) == []


def test_cni_020_result_still_gets_an_entry() -> None:
    """upstream writes nothing for 0.1/0.2 results (no interfaces); we name the delegate's ifname."""
    res = {"cniVersion": "0.2.0",
           "ip4": {"ip": "10.1.2.3/24", "gateway": "10.1.2.1", "routes": [{"dst": "0.0.0.0/0"}]},
           "ip6": {"ip": "fd00::3/64", "routes": [{"dst": "::/0", "gw": "fd00::1"}]},
           "dns": {"nameservers": ["1.1.1.1"]}}
    got = entries_for(res, "default/old", "net3", True)
    assert got == [{"name": "default/old", "interface": "net3", "ips": ["10.1.2.3", "fd00::3"], "default": True,
                    "dns": {"nameservers": ["1.1.1.1"]}, "gateway": ["10.1.2.1", "fd00::1"]}]


def test_cni_010_result_and_interfaceless_100_result() -> None:
    r010 = {"cniVersion": "0.1.0", "ip4": {"ip": "192.168.0.9/24"}}
    assert entries_for(r010, "n", "net1", False) == [{"name": "n", "interface": "net1", "ips": ["192.168.0.9"],
                                                      "dns": {}}]
    r100 = {"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.9/8", "gateway": "10.0.0.1"}]}
    assert entries_for(r100, "n", "net2", False)[0]["interface"] == "net2"


def test_default_route_without_gw_adds_no_nil_gateway() -> None:
    res = {"cniVersion": "1.0.0", "interfaces": [{"name": "eth0", "sandbox": "/ns"}],
           "ips": [{"address": "10.0.0.2/24", "interface": 0}], "routes": [{"dst": "0.0.0.0/0"}]}
    assert "gateway" not in entries_for(res, "n", "eth0", True)[0]


def test_mac_mtu_dns_and_device_info() -> None:
    res = {"cniVersion": "1.1.0",
           "interfaces": [{"name": "net1", "mac": "02:00:00:00:00:09", "mtu": 1450, "sandbox": "/ns",
                           "pciID": "0000:00:01.0"}],
           "ips": [{"address": "fd00::9/64", "interface": 0}],
           "dns": {"nameservers": ["fd00::53"], "search": ["a", "b"]}}
    dev = {"version": "1.1.0", "pci": {"rdma-device": "mlx5_0", "pci-address": "0000:00:01.0", "extra": 1},
           "type": "pci", "future": True}
    got = network_status([att(res, device_info=dev)])
    assert got == [{"name": "default/net", "interface": "net1", "ips": ["fd00::9"], "mac": "02:00:00:00:00:09",
                    "mtu": 1450, "dns": {"nameservers": ["fd00::53"], "search": ["a", "b"]},
                    "device-info": {"type": "pci", "version": "1.1.0",
                                    "pci": {"pci-address": "0000:00:01.0", "rdma-device": "mlx5_0", "extra": 1},
                                    "future": True}}]
    assert list(got[0]["device-info"]) == ["type", "version", "pci", "future"]
    assert list(got[0]["device-info"]["pci"]) == ["pci-address", "rdma-device", "extra"]


def test_device_info_on_every_entry_of_a_multi_interface_result() -> None:
    dev = {"type": "vhost-user", "vhost-user": {"path": "/s", "mode": "server"}}
    got = entries_for(multi_result(), "n", "net1", False, dev)
    assert all(e["device-info"] == {"type": "vhost-user", "vhost-user": {"mode": "server", "path": "/s"}}
               for e in got)


def test_serialize_matches_go_marshal_indent() -> None:
    entries = [{"name": "cbr0", "interface": "eth0", "ips": ["10.244.1.4"], "default": True, "dns": {}},
               {"name": "a<b>&c", "dns": {"nameservers": ["1.1.1.1"]}}]
    text = serialize(entries)
    assert text == (
        '[{\n    "name": "cbr0",\n    "interface": "eth0",\n    "ips": [\n        "10.244.1.4"\n    ],\n'
        '    "default": true,\n    "dns": {}\n},{\n    "name": "a\\u003cb\\u003e\\u0026c",\n    "dns": {\n'
        '        "nameservers": [\n            "1.1.1.1"\n        ]\n    }\n}]'
    )
    assert json.loads(text)[1]["name"] == "a<b>&c"
    assert serialize([]) == "[]"
