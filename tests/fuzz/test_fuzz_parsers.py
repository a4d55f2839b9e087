"""Every parser of outside input, fuzzed: a rejection is a :class:`CNIError` with a code, nothing else.

Inputs are drawn both from each format's grammar (the right keys with wrong types, unicode, huge
numbers, NaN, nesting, truncation) and as random bytes. ``HYPOTHESIS_PROFILE=long`` runs the long
campaign (``benchmarks/fuzz_long.py``).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from multus.cni import args as cni_args
from multus.cni import invoke, request, result
from multus.config import netconf
from multus.engine import selection
from multus.errors import CNIError
from multus.thick import config as thick_config
from multus.thick import service

from .conftest import COUNTS
from .strategies import IFNAMES, ODD_NUMBER, ODD_TEXT, encoded, json_values, objects


@contextmanager
def only_cni_errors(parser: str, *also: type[Exception]) -> Iterator[None]:
    """Count one input of ``parser``; let only a coded CNIError (or ``also``) out."""
    COUNTS[parser] += 1
    try:
        yield
    except CNIError as e:
        assert isinstance(e.code, int) and e.code > 0, e
        assert e.msg, e
    except also:
        pass


# --- pod annotations -------------------------------------------------------------------------

_ELEMENT_KEYS = ["name", "namespace", "interface", "ips", "mac", "default-route", "portMappings",
                 "bandwidth", "cni-args", "infiniband-guid", "pciBusID", "ipam-claim-reference",
                 "gateway-request"]
_ELEMENT = objects({
    "name": ODD_TEXT, "namespace": ODD_TEXT, "interface": IFNAMES,
    "ips": st.lists(ODD_TEXT, max_size=3), "mac": ODD_TEXT,
    "default-route": st.lists(ODD_TEXT, max_size=2),
    "portMappings": st.lists(objects({"hostPort": ODD_NUMBER, "containerPort": ODD_NUMBER,
                                      "protocol": ODD_TEXT}), max_size=2),
    "bandwidth": objects({"ingressRate": ODD_NUMBER, "egressBurst": ODD_NUMBER}),
    "cni-args": json_values(),
}, _ELEMENT_KEYS)
_SHORT_NAME = st.tuples(st.one_of(st.just(""), ODD_TEXT.map(lambda s: s + "/")), ODD_TEXT,
                        st.one_of(st.just(""), IFNAMES.map(lambda s: "@" + s))).map("".join)
ANNOTATIONS = st.one_of(
    st.lists(_SHORT_NAME, max_size=4).map(",".join),
    encoded(st.one_of(st.lists(_ELEMENT, max_size=3), _ELEMENT, json_values(_ELEMENT_KEYS)))
    .map(lambda b: b.decode("utf-8", "replace")),
    st.text(max_size=80),
)


@given(ANNOTATIONS, ODD_TEXT)
def test_networks_annotation(value: str, namespace: str) -> None:
    with only_cni_errors("networks-annotation"):
        for sel in selection.parse_networks_annotation(value, namespace or "default"):
            assert isinstance(sel.to_dict(), dict)


@given(ANNOTATIONS, ODD_TEXT)
def test_default_network_annotation(value: str, namespace: str) -> None:
    with only_cni_errors("default-network-annotation"):
        selection.parse_default_network_annotation(value, namespace or "default")


# --- the multus configuration (netconf) -------------------------------------------------------

_NETCONF_KEYS = ["cniVersion", "name", "type", "kubeconfig", "delegates", "clusterNetwork", "defaultNetworks",
                 "confDir", "cniDir", "binDir", "logFile", "logLevel", "logToStderr", "logOptions",
                 "namespaceIsolation", "globalNamespaces", "systemNamespaces", "readinessindicatorfile",
                 "multusNamespace", "capabilities", "runtimeConfig", "retryDeleteOnError"]
NETCONF = objects({
    "cniVersion": st.sampled_from(["0.3.1", "0.4.0", "1.0.0", "1.1.0", "9.9.9", ""]),
    "name": ODD_TEXT, "type": st.just("multus"), "kubeconfig": ODD_TEXT,
    "delegates": st.lists(json_values(["type", "name", "cniVersion", "plugins"]), max_size=3),
    "clusterNetwork": ODD_TEXT, "defaultNetworks": st.lists(ODD_TEXT, max_size=3),
    "confDir": ODD_TEXT, "cniDir": ODD_TEXT, "logLevel": ODD_TEXT, "logToStderr": st.booleans(),
    "logOptions": objects({"maxSize": ODD_NUMBER, "maxAge": ODD_NUMBER, "compress": st.booleans()}),
    "namespaceIsolation": st.booleans(), "globalNamespaces": ODD_TEXT,
    "systemNamespaces": st.lists(ODD_TEXT, max_size=3),
    "capabilities": st.dictionaries(ODD_TEXT, st.booleans(), max_size=3),
    "runtimeConfig": json_values(),
}, _NETCONF_KEYS)


@given(NETCONF)
def test_netconf(conf: dict[str, Any]) -> None:
    with only_cni_errors("netconf"):
        netconf.validate(netconf.load(conf))


# --- the daemon configuration -----------------------------------------------------------------

DAEMON_CONF = objects({
    "socketDir": ODD_TEXT, "metricsPort": ODD_NUMBER, "connectionLimit": ODD_NUMBER,
    "shutdownGracePeriod": ODD_NUMBER, "logOptions": json_values(), "logFile": ODD_TEXT,
    "logLevel": ODD_TEXT, "logToStderr": st.booleans(), "chrootDir": ODD_TEXT,
})


@given(st.one_of(DAEMON_CONF, json_values()))
def test_daemon_config(data: Any) -> None:
    # its rejection is a ConfigError: a CNIError (code 7) naming the key
    with only_cni_errors("daemon-config"):
        thick_config.parse(data)


# --- the CNI environment and CNI_ARGS ----------------------------------------------------------

_ENV = st.fixed_dictionaries({}, optional={
    "CNI_COMMAND": st.one_of(st.sampled_from(["ADD", "DEL", "CHECK", "GC", "STATUS", "VERSION"]), ODD_TEXT),
    "CNI_CONTAINERID": ODD_TEXT, "CNI_NETNS": ODD_TEXT, "CNI_IFNAME": IFNAMES,
    "CNI_ARGS": st.one_of(ODD_TEXT, st.lists(st.tuples(ODD_TEXT, ODD_TEXT).map("=".join)).map(";".join)),
    "CNI_PATH": ODD_TEXT,
}).map(lambda env: {k: v.replace("\x00", "") for k, v in env.items()})
_STDIN = encoded(st.one_of(NETCONF, json_values(_NETCONF_KEYS)))


@given(_ENV, _STDIN)
def test_cni_request(env: dict[str, str], stdin: bytes) -> None:
    with only_cni_errors("cni-request"):
        request.from_environ(env, stdin)


@given(st.one_of(ODD_TEXT, st.lists(st.tuples(ODD_TEXT, st.sampled_from(["=", ""]), ODD_TEXT)
                                     .map("".join)).map(";".join)))
def test_cni_args(text: str) -> None:
    with only_cni_errors("cni-args"):
        pairs = cni_args.parse(text)
        assert all(";" not in k + v for k, v in pairs)
        assert len(pairs) == len([item for item in text.split(";") if item])


# --- delegate results of every version ----------------------------------------------------------

_VERSIONS = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]
_IP = objects({"address": ODD_TEXT, "gateway": ODD_TEXT, "interface": ODD_NUMBER, "version": ODD_TEXT})
_RESULT = objects({
    "cniVersion": st.sampled_from(_VERSIONS + ["", "2.0.0"]),
    "interfaces": st.lists(objects({"name": ODD_TEXT, "mac": ODD_TEXT, "sandbox": ODD_TEXT, "mtu": ODD_NUMBER,
                                    "pciID": ODD_TEXT, "socketPath": ODD_TEXT}), max_size=3),
    "ips": st.lists(_IP, max_size=3),
    "ip4": objects({"ip": ODD_TEXT, "gateway": ODD_TEXT, "routes": st.lists(json_values(), max_size=2)}),
    "ip6": objects({"ip": ODD_TEXT}),
    "routes": st.lists(objects({"dst": ODD_TEXT, "gw": ODD_TEXT, "mtu": ODD_NUMBER, "table": ODD_NUMBER,
                                "scope": ODD_NUMBER, "priority": ODD_NUMBER}), max_size=3),
    "dns": objects({"nameservers": st.lists(ODD_TEXT, max_size=2), "domain": ODD_TEXT,
                    "search": st.lists(ODD_TEXT, max_size=2), "options": json_values()}),
})


@given(encoded(_RESULT), st.one_of(st.none(), st.sampled_from(_VERSIONS)), st.sampled_from(_VERSIONS))
def test_delegate_result(data: bytes, version: str | None, to_version: str) -> None:
    with only_cni_errors("delegate-result"):
        parsed = result.parse_result(data, version)
        converted = result.convert_result(parsed, to_version)
        json.dumps(converted)
        result.ips_of(parsed)


@given(st.integers(min_value=-300, max_value=300), encoded(json_values(["code", "msg", "details"])),
       st.binary(max_size=60))
def test_delegate_error_answer(returncode: int, stdout: bytes, stderr: bytes) -> None:
    COUNTS["delegate-error"] += 1
    err = invoke._plugin_error(returncode, stdout, stderr)
    assert isinstance(err, CNIError) and err.code > 0 and isinstance(err.msg, str)


# --- the daemon's HTTP request bodies ---------------------------------------------------------------

_BODY_ENV = st.dictionaries(st.one_of(st.sampled_from(["CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS",
                                                        "CNI_IFNAME", "CNI_ARGS", "CNI_PATH"]), ODD_TEXT),
                            st.one_of(ODD_TEXT, st.just("K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p")), max_size=6)
_BODY = objects({
    "env": st.one_of(_BODY_ENV, json_values()),
    "config": st.one_of(_STDIN.map(lambda b: base64.b64encode(b).decode()), ODD_TEXT),
    "interfaceAttributes": json_values(),
})


class _FakeEngine:
    """Stands in for the engine: validates what it is given the way ADD would read it."""

    def __call__(self, req: request.CniRequest, plugins: Any) -> dict[str, Any] | None:
        if req.command != "ADD":
            return None
        return {"cniVersion": req.cni_version, "interfaces": [{"name": req.ifname}]}


@pytest.fixture(scope="module")
def daemon() -> Iterator[service.Service]:
    mp = pytest.MonkeyPatch()
    mp.setattr(service, "run_engine", _FakeEngine())
    yield service.Service(thick_config.parse({}), None, {"PATH": "/usr/bin"})  # type: ignore[arg-type]
    mp.undo()


def _answer_ok(answer: service.Answer) -> None:
    assert answer.status in (200, 400), answer
    assert b"internal error" not in answer.body, answer.body
    if answer.status == 400 and answer.content_type == "application/json":
        body = json.loads(answer.body)
        assert isinstance(body["code"], int) and body["code"] > 0 and body["msg"]


@pytest.mark.parametrize("endpoint", ["cni", "delegate"])
@given(body=encoded(_BODY))
def test_daemon_request_body(daemon: service.Service, endpoint: str, body: bytes) -> None:
    with only_cni_errors(f"daemon-{endpoint}-body", service.BadRequest):
        service.decode(body)
    if endpoint == "cni":
        _answer_ok(daemon.cni(body))


# --- checkpoint, PodResources and NAD/pod objects -------------------------------------------------

_CHECKPOINT_ENTRY = objects({"PodUID": st.sampled_from(["uid-1", "uid-2"]), "ContainerName": ODD_TEXT,
                             "ResourceName": ODD_TEXT, "DeviceIDs": st.one_of(
                                 st.lists(ODD_TEXT, max_size=3),
                                 st.dictionaries(ODD_TEXT, st.lists(ODD_TEXT, max_size=2), max_size=2))})
_CHECKPOINT = objects({"Data": objects({"PodDeviceEntries": st.lists(_CHECKPOINT_ENTRY, max_size=3),
                                        "RegisteredDevices": json_values()}), "Checksum": ODD_NUMBER})


@given(encoded(_CHECKPOINT))
def test_checkpoint(data: bytes) -> None:
    from multus_checkpoint import source

    with only_cni_errors("checkpoint"):
        out = source.resource_map(data, "uid-1")
        assert all(isinstance(k, str) and all(isinstance(i, str) for i in v) for k, v in out.items())


def _pod_resources() -> st.SearchStrategy[Any]:
    from multus_podresources.api import api_pb2 as pb

    device = st.builds(pb.ContainerDevices, resource_name=ODD_TEXT, device_ids=st.lists(ODD_TEXT, max_size=3))
    container = st.builds(pb.ContainerResources, name=ODD_TEXT, devices=st.lists(device, max_size=3))
    pod = st.builds(pb.PodResources, name=st.sampled_from(["p", "q", ""]),
                    namespace=st.sampled_from(["ns", "x", ""]), containers=st.lists(container, max_size=3))
    message = st.builds(pb.ListPodResourcesResponse, pod_resources=st.lists(pod, max_size=3))
    # what arrives on the wire: serialized (sometimes truncated or random) and parsed back
    wire = st.one_of(message.map(lambda m: m.SerializeToString()), st.binary(max_size=120))
    return wire


@given(st.data())
def test_podresources(data: st.DataObject) -> None:
    from google.protobuf.message import DecodeError
    from multus_podresources import source
    from multus_podresources.api import api_pb2 as pb

    raw = data.draw(_pod_resources())
    msg = pb.ListPodResourcesResponse()
    COUNTS["podresources"] += 1
    try:
        msg.ParseFromString(raw)
    except DecodeError:
        return  # the gRPC layer rejects it (an RpcError -> CNIError in list_pod_resources)
    found, out = source.resource_map(msg, "p", "ns")
    assert isinstance(found, bool)
    assert all(isinstance(k, str) and all(isinstance(i, str) for i in v) for k, v in out.items())


_NAD = objects({"metadata": objects({"name": ODD_TEXT, "namespace": ODD_TEXT, "annotations": st.one_of(
    st.dictionaries(st.sampled_from(["k8s.v1.cni.cncf.io/resourceName"]), json_values()), json_values()),
    "resourceVersion": ODD_TEXT}),
    "spec": objects({"config": st.one_of(encoded(st.one_of(NETCONF, _ELEMENT, json_values(
        ["cniVersion", "name", "type", "plugins"]))).map(lambda b: b.decode("utf-8", "replace")), json_values())})})
_POD = objects({"metadata": objects({"name": ODD_TEXT, "namespace": ODD_TEXT, "uid": ODD_TEXT,
                                     "annotations": st.one_of(st.dictionaries(ODD_TEXT, ODD_TEXT), json_values()),
                                     "resourceVersion": json_values()}),
                "spec": objects({"nodeName": json_values()})})


@given(_NAD)
def test_nad_config(nad: dict[str, Any]) -> None:
    from multus_k8s import source

    with only_cni_errors("nad"):
        source.nad_config(nad, "ns", "net")


@given(_POD)
def test_pod_info(pod: dict[str, Any]) -> None:
    from multus_k8s import source

    with only_cni_errors("pod"):
        info = source.pod_info(pod)
        assert all(isinstance(v, str) for v in info.annotations.values())

