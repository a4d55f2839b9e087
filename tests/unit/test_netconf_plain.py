"""The configuration loader's direct path (values already of their field's type) must build
exactly what the strict converter builds, and leave every other value to the converter."""

from __future__ import annotations

from typing import Any

import pytest

from multus.config import netconf
from multus.errors import CNIError

BASE: dict[str, Any] = {"cniVersion": "1.0.0", "name": "multus-cni-network", "type": "multus"}

GOOD: list[dict[str, Any]] = [
    {},
    {"delegates": [{"type": "bridge", "name": "b"}], "confDir": "/x", "cniDir": "/y", "binDir": "/z"},
    {"clusterNetwork": "default", "defaultNetworks": ["a", "b"], "systemNamespaces": []},
    {"namespaceIsolation": True, "globalNamespaces": "a, b", "readinessTimeout": 3, "delegateTimeout": 1.5},
    {"logOptions": {"maxAge": 1, "maxSize": None, "compress": False, "other": "x"}, "logToStderr": False},
    {"capabilities": {"portMappings": True}, "runtimeConfig": {"portMappings": []}, "prevResult": None},
    {"prevResult": {"cniVersion": "1.0.0"}, "plugins": ["p"], "retryDeleteOnError": True, "unknown": 1},
    {"auxiliaryCNIChainName": "c", "daemonSocketDir": "/run/m", "kubeconfig": "/k", "multusNamespace": "n"},
]

BAD: list[tuple[dict[str, Any], str]] = [
    ({"confDir": None}, "confDir"),
    ({"namespaceIsolation": "false"}, "namespaceIsolation"),
    ({"readinessTimeout": True}, "readinessTimeout"),
    ({"delegates": [{"type": "bridge"}, "x"]}, "delegates"),
    ({"defaultNetworks": "a"}, "defaultNetworks"),
    ({"delegates": None}, "delegates"),
    ({"defaultNetworks": None}, "defaultNetworks"),
    ({"delegates": 5}, "delegates"),
    ({"logOptions": {"maxAge": "1"}}, "logOptions.maxAge"),
    ({"logOptions": []}, "logOptions"),
    ({"capabilities": {"portMappings": 1}}, "capabilities"),
    ({"runtimeConfig": []}, "runtimeConfig"),
]


@pytest.mark.parametrize("extra", GOOD)
def test_direct_path_builds_what_the_converter_builds(extra: dict[str, Any]) -> None:
    data = {k: v for k, v in dict(BASE, **extra).items() if k in netconf._KEYS}
    direct = netconf._plain_fields(netconf.MultusConf, data)
    assert direct is not None
    converted = netconf._structure(data)
    assert direct == converted
    assert [type(getattr(direct, a)) for a in ("delegates", "readiness_timeout", "default_networks")] == \
        [type(getattr(converted, a)) for a in ("delegates", "readiness_timeout", "default_networks")]


@pytest.mark.parametrize(("extra", "key"), BAD)
def test_wrong_values_still_reach_the_converter(extra: dict[str, Any], key: str) -> None:
    data = dict(BASE, **extra)
    assert netconf._plain_fields(netconf.MultusConf, data) is None
    with pytest.raises(CNIError) as e:
        netconf.load(data)
    assert e.value.code == 7
    assert key.split(".")[0] in str(e.value)
