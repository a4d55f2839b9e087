"""The Kubernetes backend against a REAL kube-apiserver (tests/harness), as the multus service
account of deploy/rbac.yaml: pods, NetworkAttachmentDefinitions, network-status, events, isolation,
token rotation, an unreachable server, and how many requests one ADD makes. Every test runs over
both transports (multus_k8s.transport): the thin plugin's REST one and the daemon's."""

# ruff: noqa: F811  (the harness fixtures are imported, then named as test parameters)
from __future__ import annotations

import json
import shutil
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))

from kube_fixtures import (  # noqa: F401  (fixtures, used by name)
    kube_apiserver,
    kube_client,
    kube_multus_kubeconfig,
    kube_namespace,
)
from multus_k8s import client as kube
from multus_k8s import source, status
from multus_k8s.transport import KUBERNETES, REST

from multus.cni.request import CniRequest
from multus.config import netconf
from multus.engine import models, netstatus
from multus.engine.models import Attachment, Delegate, NetworkRef, RequestContext
from multus.errors import INVALID_CONFIG, TRY_AGAIN_LATER, UNKNOWN_CONTAINER, CNIError
from multus.plugin.manager import Plugins
from multus.testing.kube import KubeApiServer, RequestCounts

pytestmark = pytest.mark.apiserver

GROUP, VERSION, PLURAL = "k8s.cni.cncf.io", "v1", "network-attachment-definitions"
NETWORKS = "k8s.v1.cni.cncf.io/networks"
DEFAULT_NETWORK = "v1.multus-cni.io/default-network"
STATUS = "k8s.v1.cni.cncf.io/network-status"
MACVLAN = {"cniVersion": "0.3.1", "type": "macvlan", "master": "eth0", "ipam": {"type": "static"}}


_implementation = [REST]


@pytest.fixture(autouse=True, params=[REST, KUBERNETES])
def implementation(request: pytest.FixtureRequest) -> Iterator[str]:
    """The transport of every client the test makes."""
    _implementation[0] = request.param
    yield request.param
    _implementation[0] = REST


# --- helpers ---------------------------------------------------------------------------------------

def create_pod(api: Any, ns: str, name: str = "p1", annotations: dict[str, str] | None = None) -> dict[str, Any]:
    from kubernetes import client

    body = {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "annotations": annotations or {}},
            "spec": {"nodeName": "node-a", "containers": [{"name": "c", "image": "pause"}]}}
    pod = client.CoreV1Api(api).create_namespaced_pod(ns, body)
    return {"uid": pod.metadata.uid, "name": name}


def create_nad(api: Any, ns: str, name: str, config: Any = None, raw: str | None = None,
               annotations: dict[str, str] | None = None) -> None:
    from kubernetes import client

    spec: dict[str, Any] = {}
    if raw is not None:
        spec["config"] = raw
    elif config is not None:
        spec["config"] = json.dumps(config)
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": name, "annotations": annotations or {}}, "spec": spec}
    client.CustomObjectsApi(api).create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, body)


def make_ctx(kubeconfig: Path | str, ns: str, pod: str = "p1", uid: str = "", *, command: str = "ADD",
             plugins: Plugins | None = None, **conf: Any) -> RequestContext:
    raw = {"cniVersion": "1.0.0", "name": "multus", "type": "multus", "clusterNetwork": "cbr0",
           "kubeconfig": str(kubeconfig), **conf}
    args = (("IgnoreUnknown", "1"), ("K8S_POD_NAMESPACE", ns), ("K8S_POD_NAME", pod), ("K8S_POD_UID", uid))
    req = CniRequest(command=command, container_id="c1", netns="/var/run/netns/x", ifname="eth0", args=args,
                     config=raw, env={})
    if plugins is None:
        plugins = Plugins(entry_points=False, env={})
        plugins.state[kube.IMPLEMENTATION_KEY] = _implementation[0]
    return RequestContext(request=req, conf=netconf.load(raw), plugins=plugins)


def with_pod(ctx: RequestContext) -> RequestContext:
    pod = source.multus_source_pod(ctx)
    assert pod is not None and pod.exists
    ctx.pod = pod
    return ctx


def events(api: Any, ns: str, reason: str, want: int = 1, timeout: float = 5) -> list[Any]:
    from kubernetes import client

    deadline = time.monotonic() + timeout
    while True:
        got = [e for e in client.CoreV1Api(api).list_namespaced_event(ns).items if e.reason == reason]
        if len(got) >= want or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def read_pod(api: Any, ns: str, name: str = "p1") -> Any:
    from kubernetes import client

    return client.CoreV1Api(api).read_namespaced_pod(name, ns)


def att(result: dict[str, Any], name: str, ifname: str, master: bool = False) -> Attachment:
    return Attachment(delegate=Delegate(config=MACVLAN, name=name, ifname=ifname, master=master), result=result)


R_ETH0 = {"cniVersion": "0.3.1", "interfaces": [{"name": "eth0", "sandbox": "/var/run/netns/x",
                                                 "mac": "0a:58:0a:f4:01:04"}],
          "ips": [{"version": "4", "address": "10.244.1.4/24", "gateway": "10.244.1.1", "interface": 0}],
          "routes": [{"dst": "0.0.0.0/0", "gw": "10.244.1.1"}], "dns": {}}
R_NET1 = {"cniVersion": "1.0.0", "interfaces": [{"name": "net1", "sandbox": "/var/run/netns/x",
                                                 "mac": "36:b3:00:00:00:02", "mtu": 1450}],
          "ips": [{"address": "10.1.1.101/24", "interface": 0}, {"address": "fd00::65/64", "interface": 0}]}
R_NET2 = {"cniVersion": "0.2.0", "ip4": {"ip": "192.168.5.5/24"}}


# --- the pod -------------------------------------------------------------------------------------------

def test_pod_get_reads_annotations(kube_client: Any, kube_namespace: str, kube_multus_kubeconfig: Path) -> None:
    ann = {NETWORKS: '[{"name": "a", "interface": "net5", "ips": ["10.0.0.5/24"]}]', DEFAULT_NETWORK: "calico"}
    pod = create_pod(kube_client, kube_namespace, annotations=ann)
    info = source.multus_source_pod(make_ctx(kube_multus_kubeconfig, kube_namespace, uid=pod["uid"]))
    assert info is not None
    assert (info.namespace, info.name, info.uid, info.source, info.node_name, info.static, info.exists) == (
        kube_namespace, "p1", pod["uid"], "api", "node-a", False, True)
    assert info.annotations[NETWORKS] == ann[NETWORKS] and info.annotations[DEFAULT_NETWORK] == "calico"
    assert info.resource_versions["pod"]


def test_pod_uid_mismatch_static_and_missing(kube_client: Any, kube_namespace: str,
                                             kube_multus_kubeconfig: Path) -> None:
    create_pod(kube_client, kube_namespace, "plain")
    create_pod(kube_client, kube_namespace, "static", {"kubernetes.io/config.source": "file"})
    with pytest.raises(CNIError) as e:
        source.multus_source_pod(make_ctx(kube_multus_kubeconfig, kube_namespace, "plain", "kubelet-uid"))
    assert e.value.code == UNKNOWN_CONTAINER and 'expected pod UID "kubelet-uid" but got' in e.value.msg
    info = source.multus_source_pod(make_ctx(kube_multus_kubeconfig, kube_namespace, "static", "kubelet-uid"))
    assert info is not None and info.static and info.uid != "kubelet-uid"
    gone = source.multus_source_pod(make_ctx(kube_multus_kubeconfig, kube_namespace, "nope", "u"))
    assert gone is not None and not gone.exists
    # DEL with a replaced pod: unknown, no error
    d = source.multus_source_pod(make_ctx(kube_multus_kubeconfig, kube_namespace, "plain", "x", command="DEL"))
    assert d is not None and not d.exists


# --- NADs ----------------------------------------------------------------------------------------------

def test_nad_found_conf_conflist_and_empty(kube_client: Any, kube_namespace: str,
                                           kube_multus_kubeconfig: Path) -> None:
    ns = kube_namespace
    create_nad(kube_client, ns, "mv", MACVLAN, annotations={"k8s.v1.cni.cncf.io/resourceName": "intel.com/sriov"})
    create_nad(kube_client, ns, "list", {"cniVersion": "1.0.0", "name": "own",
                                         "plugins": [{"type": "bridge"}, {"type": "tuning", "x": {"y": 1}}]})
    create_nad(kube_client, ns, "empty", annotations={"k8s.v1.cni.cncf.io/resourceName": "intel.com/sriov"})
    ctx = make_ctx(kube_multus_kubeconfig, ns)
    mv = source.multus_source_network(ctx, NetworkRef("mv", ns, models.ANNOTATION))
    assert mv is not None and mv.config == {**MACVLAN, "name": "mv"}
    assert (mv.name, mv.resource_name, mv.origin) == (f"{ns}/mv", "intel.com/sriov", "nad")
    lst = source.multus_source_network(ctx, NetworkRef("list", ns, models.ANNOTATION))
    assert lst is not None and lst.config["name"] == "own" and lst.config["plugins"][1]["x"] == {"y": 1}
    empty = source.multus_source_network(ctx, NetworkRef("empty", ns, models.ANNOTATION))
    assert empty is not None and empty.config == {} and empty.resource_name == "intel.com/sriov"


def test_empty_spec_resolves_to_the_conf_dir_file(kube_client: Any, kube_namespace: str,
                                                   kube_multus_kubeconfig: Path, tmp_path: Path) -> None:
    """A NAD with an empty spec is the file of that name in confDir, reported under the NAD's name
    with the NAD's resourceName; through the real entry points (k8s first, then local files)."""
    from multus.engine import plan

    ns = kube_namespace
    create_nad(kube_client, ns, "fromfile", annotations={"k8s.v1.cni.cncf.io/resourceName": "example.com/dev"})
    (tmp_path / "10-x.conf").write_text(json.dumps({"cniVersion": "0.3.1", "name": "fromfile", "type": "macvlan"}))
    ctx = with_pod(make_ctx(kube_multus_kubeconfig, ns, uid=create_pod(kube_client, ns)["uid"],
                            plugins=Plugins(env={}), clusterNetwork="", confDir=str(tmp_path),
                            delegates=[{"cniVersion": "0.3.1", "name": "cbr0", "type": "bridge"}]))
    import attrs

    assert ctx.pod is not None
    ctx.pod = attrs.evolve(ctx.pod, annotations={"k8s.v1.cni.cncf.io/networks": "fromfile"})
    delegates = plan.plan(ctx)
    assert [(d.name, d.resource_name, d.config.get("type")) for d in delegates[1:]] == [
        (f"{ns}/fromfile", "example.com/dev", "macvlan")]


def test_cluster_network_nad_or_files(kube_client: Any, kube_namespace: str, kube_multus_kubeconfig: Path) -> None:
    ns = kube_namespace
    create_nad(kube_client, ns, "cbr0", MACVLAN)
    ctx = make_ctx(kube_multus_kubeconfig, ns, multusNamespace=ns)
    nc = source.multus_source_network(ctx, NetworkRef("cbr0", ns, models.CLUSTER))
    assert nc is not None and nc.name == f"{ns}/cbr0"
    assert source.multus_source_network(ctx, NetworkRef("other", ns, models.DEFAULT)) is None


def test_missing_nad_warning_event_and_error(kube_client: Any, kube_namespace: str,
                                             kube_multus_kubeconfig: Path) -> None:
    ns = kube_namespace
    pod = create_pod(kube_client, ns)
    ctx = with_pod(make_ctx(kube_multus_kubeconfig, ns, uid=pod["uid"]))
    with pytest.raises(CNIError) as e:
        source.multus_source_network(ctx, NetworkRef("nope", ns, models.ANNOTATION))
    want = (f"cannot find a network-attachment-definition (nope) in namespace ({ns}): "
            f'network-attachment-definitions.k8s.cni.cncf.io "nope" not found')
    assert e.value.code == INVALID_CONFIG and e.value.msg == "getKubernetesDelegate: " + want
    [ev] = events(kube_client, ns, "NoNetworkFound")
    assert (ev.type, ev.message) == ("Warning", want)
    assert (ev.involved_object.kind, ev.involved_object.name, ev.involved_object.uid) == ("Pod", "p1", pod["uid"])
    assert ev.source.component == "multus" and ev.source.host == "node-a"


@pytest.mark.parametrize(("raw", "needle"), [
    ("{oops", "not valid JSON"),
    ('[{"type": "macvlan"}]', "a JSON array"),
    ('{"cniVersion": "0.3.1", "master": "eth0"}', "delegate must have the 'type' or 'plugin' field"),
])
def test_bad_nad_configs(kube_client: Any, kube_namespace: str, kube_multus_kubeconfig: Path,
                         raw: str, needle: str) -> None:
    create_nad(kube_client, kube_namespace, "bad", raw=raw)
    with pytest.raises(CNIError) as e:
        source.multus_source_network(make_ctx(kube_multus_kubeconfig, kube_namespace),
                                     NetworkRef("bad", kube_namespace, models.ANNOTATION))
    assert e.value.code == INVALID_CONFIG and needle in e.value.msg
    assert f"network-attachment-definition {kube_namespace}/bad" in e.value.msg


def test_nad_names_pointing_outside(kube_apiserver: KubeApiServer, kube_namespace: str,
                                    kube_multus_kubeconfig: Path) -> None:
    before = kube_apiserver.metrics()
    ctx = make_ctx(kube_multus_kubeconfig, kube_namespace)
    for name in ("../../etc/passwd", "a/b", ".."):
        with pytest.raises(CNIError) as e:
            source.multus_source_network(ctx, NetworkRef(name, kube_namespace, models.ANNOTATION))
        assert e.value.code == INVALID_CONFIG
        # a path given as clusterNetwork is the file backend's business
        assert source.multus_source_network(ctx, NetworkRef(name, kube_namespace, models.CLUSTER)) is None
    delta = settle(kube_apiserver, before)
    assert delta.total(resource=PLURAL) == 0


def test_isolation_both_annotations(kube_client: Any, kube_apiserver: KubeApiServer,
                                    kube_multus_kubeconfig: Path) -> None:
    """The engine's isolation rule over the real backend: the networks annotation as upstream, and
    also the default-network annotation (upstream lets it name any namespace)."""
    import attrs

    from multus.engine import plan

    pod_ns, other, shared = (kube_apiserver.new_namespace(p) for p in ("pod", "other", "shared"))
    for ns in (pod_ns, other, shared):
        create_nad(kube_client, ns, "n", MACVLAN)
    pod = create_pod(kube_client, pod_ns)
    plugins = Plugins(entry_points=False, env={})
    plugins.register(source)
    ctx = with_pod(make_ctx(kube_multus_kubeconfig, pod_ns, uid=pod["uid"], plugins=plugins, clusterNetwork="",
                            delegates=[{"cniVersion": "0.3.1", "name": "cbr0", "type": "bridge"}],
                            namespaceIsolation=True, globalNamespaces=shared, multusNamespace=shared))
    base = ctx.pod
    assert base is not None
    for key, where in (("k8s.v1.cni.cncf.io/networks", "GetNetworkDelegates"),
                       ("v1.multus-cni.io/default-network", "tryLoadK8sPodDefaultNetwork")):
        for ok in (pod_ns, shared):
            ctx.pod = attrs.evolve(base, annotations={key: f"{ok}/n"})
            assert f"{ok}/n" in [d.name for d in plan.plan(ctx)]
        ctx.pod = attrs.evolve(base, annotations={key: f"{other}/n"})
        with pytest.raises(CNIError) as e:
            plan.plan(ctx)
        assert e.value.msg == (f"{where}: namespace isolation enabled, annotation violates permission, "
                               f"pod is in namespace {pod_ns} but refers to target namespace {other}")


# --- network-status and events -------------------------------------------------------------------------

def settle(srv: KubeApiServer, before: RequestCounts, timeout: float = 3) -> RequestCounts:
    """The requests since ``before``, once the counters stopped moving (they lag the response)."""
    last = srv.metrics() - before
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = srv.metrics() - before
        if {k: v for k, v in now.samples.items() if dict(k).get("resource")} == \
                {k: v for k, v in last.samples.items() if dict(k).get("resource")}:
            return now
        last = now
    return last


def test_one_add_request_counts_status_and_events(kube_client: Any, kube_apiserver: KubeApiServer,
                                                  kube_namespace: str, kube_multus_kubeconfig: Path) -> None:
    """One ADD: one pod GET, each NAD once, ONE status PATCH, one event per interface; through the
    entry points (so the k8s hooks really come before the local ones)."""
    ns = kube_namespace
    create_nad(kube_client, ns, "cbr0", MACVLAN)
    create_nad(kube_client, ns, "mv", MACVLAN)
    create_nad(kube_client, ns, "mv2", {**MACVLAN, "master": "eth1"})
    pod = create_pod(kube_client, ns, annotations={NETWORKS: "mv, mv2@eth9, mv", DEFAULT_NETWORK: f"{ns}/mv"})
    plugins = Plugins(env={})
    ctx = make_ctx(kube_multus_kubeconfig, ns, uid=pod["uid"], plugins=plugins, multusNamespace=ns)

    before = kube_apiserver.metrics()
    info = plugins.source_pod(ctx)
    assert info is not None and info.source == "api"
    ctx.pod = info
    refs = [NetworkRef("cbr0", ns, models.CLUSTER), NetworkRef("mv", ns, models.DEFAULT_NETWORK),
            NetworkRef("mv", ns, models.ANNOTATION), NetworkRef("mv2", ns, models.ANNOTATION),
            NetworkRef("mv", ns, models.ANNOTATION)]
    resolved = [plugins.source_network(ctx, r) for r in refs]
    assert [nc.name for nc in resolved if nc is not None] == [f"{ns}/cbr0", f"{ns}/mv", f"{ns}/mv", f"{ns}/mv2",
                                                              f"{ns}/mv"]
    attachments = [att(R_ETH0, f"{ns}/mv", "eth0", True), att(R_NET1, f"{ns}/mv", "net1"),
                   att(R_NET2, f"{ns}/mv2", "eth9")]
    for a in attachments:
        plugins.delegate_added(ctx, a)
    plugins.pod_added(ctx, attachments)
    delta = settle(kube_apiserver, before)

    assert delta.total(verb="GET", resource="pods") == 1
    # kube-apiserver 1.20 labels the GET of one custom object with verb LIST: count both
    assert delta.total(resource=PLURAL) == 3  # cbr0, mv, mv2: each read once
    assert delta.total(verb="WATCH") == 0
    assert delta.total(verb="PATCH", resource="pods", subresource="status") == 1
    assert delta.total(verb="PUT") == 0
    assert delta.total(verb="POST", resource="events") == 3
    assert delta.total(resource="pods") == 2  # nothing else touched the pod

    value = read_pod(kube_client, ns).metadata.annotations[STATUS]
    assert value == netstatus.serialize(netstatus.network_status(attachments))
    assert json.loads(value) == [
        {"name": f"{ns}/mv", "interface": "eth0", "ips": ["10.244.1.4"], "mac": "0a:58:0a:f4:01:04",
         "default": True, "dns": {}, "gateway": ["10.244.1.1"]},
        {"name": f"{ns}/mv", "interface": "net1", "ips": ["10.1.1.101", "fd00::65"], "mac": "36:b3:00:00:00:02",
         "mtu": 1450, "dns": {}},
        {"name": f"{ns}/mv2", "interface": "eth9", "ips": ["192.168.5.5"], "dns": {}},
    ]
    msgs = sorted(e.message for e in events(kube_client, ns, "AddedInterface", 3))
    assert msgs == sorted([f"Add eth0 [10.244.1.4/24] from {ns}/mv",
                           f"Add net1 [10.1.1.101/24 fd00::65/64] from {ns}/mv",
                           f"Add eth9 [192.168.5.5/24] from {ns}/mv2"])


def test_status_skips_system_namespaces_and_tolerates_deleted_pod(kube_client: Any, kube_apiserver: KubeApiServer,
                                                                  kube_multus_kubeconfig: Path) -> None:
    from kubernetes import client

    sysns = kube_apiserver.new_namespace("sys")
    pod = create_pod(kube_client, sysns)
    ctx = with_pod(make_ctx(kube_multus_kubeconfig, sysns, uid=pod["uid"], systemNamespaces=[sysns]))
    status.multus_lifecycle_pod_added(ctx, [att(R_NET1, "x", "net1")])
    assert STATUS not in (read_pod(kube_client, sysns).metadata.annotations or {})

    ns = kube_apiserver.new_namespace("gone")
    pod = create_pod(kube_client, ns)
    ctx = with_pod(make_ctx(kube_multus_kubeconfig, ns, uid=pod["uid"]))
    client.CoreV1Api(kube_client).delete_namespaced_pod("p1", ns, grace_period_seconds=0)
    status.multus_lifecycle_pod_added(ctx, [att(R_NET1, "x", "net1")])  # no error
    # deleted and re-created under the same name: the new pod is not touched
    create_pod(kube_client, ns)
    status.multus_lifecycle_pod_added(ctx, [att(R_NET1, "x", "net1")])
    assert STATUS not in (read_pod(kube_client, ns).metadata.annotations or {})


# --- credentials and reachability ----------------------------------------------------------------------

@pytest.fixture
def token_kubeconfig(kube_apiserver: KubeApiServer, kube_multus_kubeconfig: Path,
                     tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A kubeconfig whose user reads its token from a file (``tokenFile``), as a projected
    service-account token is read."""
    cfg = yaml.safe_load(kube_multus_kubeconfig.read_text())
    token_file = tmp_path / "token"
    token_file.write_text("expired-token")
    for user in cfg["users"]:
        user["user"].pop("token", None)
        user["user"]["tokenFile"] = str(token_file)
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(cfg))
    yield path, token_file


def test_401_rereads_the_token_file(kube_client: Any, kube_apiserver: KubeApiServer, kube_namespace: str,
                                    token_kubeconfig: tuple[Path, Path]) -> None:
    path, token_file = token_kubeconfig
    create_pod(kube_client, kube_namespace)
    ctx = make_ctx(path, kube_namespace)
    c = kube.client_for(ctx)
    assert c is not None
    transport, generation = c._api()  # connected with the expired token
    assert transport.implementation == _implementation[0]
    token_file.write_text(kube_apiserver.multus_token)  # the kubelet rotated it
    info = source.multus_source_pod(ctx)
    assert info is not None and info.exists
    assert c._api()[1] == generation + 1
    # the daemon keeps the client: the next request needs no reload
    ctx2 = make_ctx(path, kube_namespace, plugins=ctx.plugins)
    assert kube.client_for(ctx2) is c
    assert source.multus_source_pod(ctx2) is not None and c._api()[1] == generation + 1


def test_401_with_a_still_expired_token(kube_namespace: str, token_kubeconfig: tuple[Path, Path]) -> None:
    path, _ = token_kubeconfig
    t0 = time.monotonic()
    with pytest.raises(CNIError) as e:
        source.multus_source_pod(make_ctx(path, kube_namespace))
    assert time.monotonic() - t0 < 3
    assert e.value.code == TRY_AGAIN_LATER
    assert "401 Unauthorized" in e.value.msg and "even after re-reading" in e.value.msg


def test_in_cluster_config_and_token_rotation(kube_apiserver: KubeApiServer, kube_client: Any,
                                              kube_namespace: str, kube_multus_kubeconfig: Path,
                                              tmp_path: Path) -> None:
    create_pod(kube_client, kube_namespace)
    sa = tmp_path / "serviceaccount"
    sa.mkdir()
    shutil.copy(kube_apiserver.ca, sa / "ca.crt")
    (sa / "token").write_text("old-token")
    host, port = kube_apiserver.url.removeprefix("https://").rsplit(":", 1)
    env = {"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port}
    c = kube.KubeClient("", env, service_account_dir=str(sa), implementation=_implementation[0])
    c._api()
    (sa / "token").write_text(kube_apiserver.multus_token)
    pod = c.get_pod(kube_namespace, "p1")
    assert pod is not None and pod["metadata"]["name"] == "p1"
    assert c.get_nad(kube_namespace, "none") is None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def kubeconfig_to(server: str, base: Path, tmp_path: Path) -> Path:
    cfg = yaml.safe_load(base.read_text())
    for cluster in cfg["clusters"]:
        cluster["cluster"]["server"] = server
    path = tmp_path / "kubeconfig-elsewhere"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_unreachable_server_fails_fast_with_code_11(kube_multus_kubeconfig: Path, tmp_path: Path) -> None:
    path = kubeconfig_to(f"https://127.0.0.1:{free_port()}", kube_multus_kubeconfig, tmp_path)
    ctx = make_ctx(path, "app", uid="u")
    t0 = time.monotonic()
    with pytest.raises(CNIError) as e:
        source.multus_source_pod(ctx)
    elapsed = time.monotonic() - t0
    assert e.value.code == TRY_AGAIN_LATER
    assert "unreachable after 4 attempt(s)" in e.value.msg and "try again later" in e.value.msg
    assert elapsed < 2.0  # refused connections: 3 retries with 0.1+0.2+0.4 s back-off
    # DEL never fails on it
    assert source.multus_source_pod(make_ctx(path, "app", uid="u", command="DEL")) is None


def test_hanging_server_bounded_by_kube_api_timeout(kube_multus_kubeconfig: Path, tmp_path: Path) -> None:
    """A server that accepts connections and never answers: the whole operation stays within
    kubeAPITimeout (upstream gave each GET 250 ms and polled; we give the budget to the attempts)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                continue

    th = threading.Thread(target=accept, daemon=True)
    th.start()
    try:
        path = kubeconfig_to(f"https://127.0.0.1:{srv.getsockname()[1]}", kube_multus_kubeconfig, tmp_path)
        ctx = make_ctx(path, "app", uid="u", kubeAPITimeout=1.5)
        t0 = time.monotonic()
        with pytest.raises(CNIError) as e:
            source.multus_source_pod(ctx)
        elapsed = time.monotonic() - t0
        assert e.value.code == TRY_AGAIN_LATER and "unreachable" in e.value.msg
        assert 1.0 < elapsed < 2.5
    finally:
        stop.set()
        th.join()
        for s in held:
            s.close()
        srv.close()
