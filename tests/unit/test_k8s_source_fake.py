"""The Kubernetes backend's hooks against an in-memory fake client (no API server, no kubernetes import)."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from multus_k8s import client as kube
from multus_k8s import source, status
from multus_k8s.transport import APIConnectionError, APIStatusError

from multus.cni.request import CniRequest
from multus.config import netconf
from multus.engine import models
from multus.engine.models import Attachment, Delegate, NetworkRef, PodInfo, RequestContext
from multus.errors import INVALID_CONFIG, TRY_AGAIN_LATER, UNKNOWN_CONTAINER, CNIError
from multus.plugin.manager import Plugins

KUBECONFIG = "/nonexistent/kubeconfig"
UID = "11111111-2222-3333-4444-555555555555"


class FakeClient(kube.KubeClient):
    def __init__(self) -> None:
        super().__init__(KUBECONFIG, {})
        self.pods: dict[tuple[str, str], dict[str, Any]] = {}
        self.nads: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls: list[tuple[str, ...]] = []
        self.events: list[tuple[dict[str, str], str, str, str]] = []
        self.patches: list[tuple[str, str, str, str, str]] = []
        self.fail: CNIError | None = None
        self.patch_result = True

    def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        self.calls.append(("pod", namespace, name))
        if self.fail:
            raise self.fail
        return self.pods.get((namespace, name))

    def get_nad(self, namespace: str, name: str) -> dict[str, Any] | None:
        self.calls.append(("nad", namespace, name))
        if self.fail:
            raise self.fail
        return self.nads.get((namespace, name))

    def patch_pod_status_annotation(self, namespace: str, name: str, key: str, value: str, uid: str = "",
                                    budget: float | None = None) -> bool:
        self.patches.append((namespace, name, key, value, uid))
        if self.fail:
            raise self.fail
        return self.patch_result

    def create_event(self, involved: Any, event_type: str, reason: str, message: str, host: str = "") -> None:
        self.events.append((dict(involved), event_type, reason, message))
        if self.fail:
            raise self.fail

    def add_pod(self, ns: str, name: str, uid: str = UID, annotations: dict[str, str] | None = None) -> None:
        self.pods[(ns, name)] = {"metadata": {"namespace": ns, "name": name, "uid": uid, "resourceVersion": "7",
                                              "annotations": annotations or {}},
                                 "spec": {"nodeName": "node-a"}}

    def add_nad(self, ns: str, name: str, config: Any = None, annotations: dict[str, str] | None = None,
                raw: Any = None) -> None:
        spec: dict[str, Any] = {}
        if raw is not None:
            spec["config"] = raw
        elif config is not None:
            spec["config"] = json.dumps(config)
        self.nads[(ns, name)] = {"metadata": {"namespace": ns, "name": name, "annotations": annotations or {}},
                                 "spec": spec}


def make_ctx(fake: FakeClient | None, *, command: str = "ADD", pod_ns: str = "app", pod: str = "p1",
             uid: str = UID, env: dict[str, str] | None = None, **conf: Any) -> RequestContext:
    raw = {"cniVersion": "1.0.0", "name": "multus", "type": "multus", "clusterNetwork": "cbr0", **conf}
    if fake is not None:
        raw.setdefault("kubeconfig", KUBECONFIG)
    args = (("K8S_POD_NAMESPACE", pod_ns), ("K8S_POD_NAME", pod), ("K8S_POD_UID", uid))
    req = CniRequest(command=command, container_id="c1", netns="/var/run/netns/x", ifname="eth0", args=args,
                     config=raw, env=env or {})
    plugins = Plugins(entry_points=False, env={})
    if fake is not None:
        plugins.state[kube.STATE_PREFIX + KUBECONFIG] = fake
    return RequestContext(request=req, conf=netconf.load(raw), plugins=plugins)


@pytest.fixture
def fake() -> FakeClient:
    return FakeClient()


def api_pod(ctx: RequestContext, ns: str = "app", name: str = "p1") -> PodInfo:
    pod = source.multus_source_pod(ctx)
    assert pod is not None
    ctx.pod = pod
    return pod


# --- configuration -----------------------------------------------------------------------------

def test_no_kube_client_no_answer() -> None:
    ctx = make_ctx(None)
    assert kube.client_for(ctx) is None
    assert source.multus_source_pod(ctx) is None
    assert source.multus_source_network(ctx, NetworkRef("net", "app", models.ANNOTATION)) is None


def test_in_cluster_env_makes_a_client_lazily() -> None:
    before = "kubernetes" in sys.modules
    ctx = make_ctx(None, env={"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"})
    c = kube.client_for(ctx)
    assert c is not None and c.kubeconfig == ""
    assert ctx.plugins.state[kube.STATE_PREFIX + "in-cluster:10.0.0.1:443"] is c
    assert kube.client_for(ctx) is c
    # nothing talked to the API, so the kubernetes package was not needed
    assert ("kubernetes" in sys.modules) == before


def test_settings_defaults_and_validation() -> None:
    assert kube.settings(make_ctx(None).conf) == (10.0, 3)
    assert kube.settings(make_ctx(None, kubeAPITimeout=2.5, kubeAPIRetries=0).conf) == (2.5, 0)
    for bad in ({"kubeAPITimeout": 0}, {"kubeAPITimeout": "1"}, {"kubeAPIRetries": -1},
                {"kubeAPIRetries": True}):
        with pytest.raises(CNIError) as e:
            kube.settings(make_ctx(None, **bad).conf)
        assert e.value.code == INVALID_CONFIG and next(iter(bad)) in e.value.msg


def test_client_settings_follow_config(fake: FakeClient) -> None:
    ctx = make_ctx(fake, kubeAPITimeout=4, kubeAPIRetries=1)
    assert kube.client_for(ctx) is fake
    assert (fake.timeout, fake.retries) == (4.0, 1)


# --- the pod ---------------------------------------------------------------------------------------

def test_pod_from_api(fake: FakeClient) -> None:
    fake.add_pod("app", "p1", annotations={"k8s.v1.cni.cncf.io/networks": "a,b"})
    ctx = make_ctx(fake)
    pod = api_pod(ctx)
    assert pod == PodInfo(namespace="app", name="p1", uid=UID, annotations={"k8s.v1.cni.cncf.io/networks": "a,b"},
                          source="api", node_name="node-a", static=False, exists=True,
                          resource_versions={"pod": "7"})
    assert source.multus_source_pod(ctx) == pod
    assert fake.calls == [("pod", "app", "p1")]  # read once per request


def test_pod_not_found(fake: FakeClient) -> None:
    pod = source.multus_source_pod(make_ctx(fake))
    assert pod is not None and not pod.exists and pod.source == "api"


def test_uid_mismatch(fake: FakeClient) -> None:
    fake.add_pod("app", "p1", uid="other")
    with pytest.raises(CNIError) as e:
        source.multus_source_pod(make_ctx(fake))
    assert e.value.code == UNKNOWN_CONTAINER
    assert e.value.msg == f'expected pod UID "{UID}" but got "other" from Kube API'
    # no UID in CNI_ARGS: nothing to compare
    assert source.multus_source_pod(make_ctx(fake, uid="")) is not None
    # on DEL the pod is simply unknown
    pod = source.multus_source_pod(make_ctx(fake, command="DEL"))
    assert pod is not None and not pod.exists


@pytest.mark.parametrize(("config_source", "static"), [("file", True), ("http", True), ("api", False)])
def test_static_pod_skips_uid_check(fake: FakeClient, config_source: str, static: bool) -> None:
    fake.add_pod("app", "p1", uid="mirror", annotations={"kubernetes.io/config.source": config_source})
    ctx = make_ctx(fake)
    if static:
        pod = source.multus_source_pod(ctx)
        assert pod is not None and pod.static and pod.uid == "mirror"
    else:
        with pytest.raises(CNIError):
            source.multus_source_pod(ctx)


def test_api_error_fails_add_but_not_del(fake: FakeClient) -> None:
    fake.fail = CNIError(TRY_AGAIN_LATER, "unreachable")
    with pytest.raises(CNIError) as e:
        source.multus_source_pod(make_ctx(fake))
    assert e.value.code == TRY_AGAIN_LATER
    assert source.multus_source_pod(make_ctx(fake, command="DEL")) is None


def test_bad_pod_name_in_cni_args() -> None:
    c = kube.KubeClient(KUBECONFIG, {})
    with pytest.raises(CNIError) as e:
        c.get_pod("app", "../x")
    assert e.value.code == INVALID_CONFIG
    with pytest.raises(CNIError):
        c.get_nad("Bad_NS", "x")


# --- networks --------------------------------------------------------------------------------------

CONF = {"cniVersion": "0.3.1", "type": "macvlan", "master": "eth0"}
NETWORKS = "k8s.v1.cni.cncf.io/networks"
DEFAULT_NET = "v1.multus-cni.io/default-network"


def test_nad_annotation(fake: FakeClient) -> None:
    fake.add_pod("app", "p1")
    fake.add_nad("app", "mv", CONF, annotations={"k8s.v1.cni.cncf.io/resourceName": "intel.com/sriov"})
    ctx = make_ctx(fake)
    api_pod(ctx)
    nc = source.multus_source_network(ctx, NetworkRef("mv", "app", models.ANNOTATION))
    assert nc is not None
    assert nc.name == "app/mv" and nc.origin == "nad" and nc.resource_name == "intel.com/sriov"
    assert nc.config == {**CONF, "name": "mv"}  # name injected
    again = source.multus_source_network(ctx, NetworkRef("mv", "app", models.DEFAULT_NETWORK))
    assert again is not None and again.name == "app/mv"
    assert fake.calls.count(("nad", "app", "mv")) == 1


def test_nad_keeps_its_own_name_and_conflist(fake: FakeClient) -> None:
    fake.add_nad("app", "a", {**CONF, "name": "mine"})
    fake.add_nad("app", "b", {"cniVersion": "1.0.0", "plugins": [{"type": "bridge"}, {"type": "tuning"}]})
    fake.add_nad("app", "c", {**CONF, "name": ""})
    ctx = make_ctx(fake)
    a = source.multus_source_network(ctx, NetworkRef("a", "app", models.ANNOTATION))
    b = source.multus_source_network(ctx, NetworkRef("b", "app", models.ANNOTATION))
    c = source.multus_source_network(ctx, NetworkRef("c", "app", models.ANNOTATION))
    assert a is not None and a.config["name"] == "mine"
    assert b is not None and b.config["name"] == "b" and len(b.config["plugins"]) == 2
    assert c is not None and c.config["name"] == "c"


def test_missing_nad_event_and_error(fake: FakeClient) -> None:
    fake.add_pod("app", "p1")
    ctx = make_ctx(fake)
    api_pod(ctx)
    for _ in range(2):
        with pytest.raises(CNIError) as e:
            source.multus_source_network(ctx, NetworkRef("nope", "app", models.ANNOTATION))
        assert e.value.code == INVALID_CONFIG
        assert e.value.msg == ("getKubernetesDelegate: cannot find a network-attachment-definition (nope) in "
                               'namespace (app): network-attachment-definitions.k8s.cni.cncf.io "nope" not found')
    assert len(fake.events) == 1
    involved, etype, reason, message = fake.events[0]
    assert (etype, reason) == ("Warning", "NoNetworkFound")
    assert message == e.value.msg.removeprefix("getKubernetesDelegate: ")
    assert involved["uid"] == UID and involved["name"] == "p1" and involved["kind"] == "Pod"


def test_cluster_network_falls_back_to_files(fake: FakeClient) -> None:
    ctx = make_ctx(fake)
    assert source.multus_source_network(ctx, NetworkRef("cbr0", "kube-system", models.CLUSTER)) is None
    assert source.multus_source_network(ctx, NetworkRef("/etc/cni/net.d/10-x.conf", "kube-system",
                                                        models.CLUSTER)) is None
    assert source.multus_source_network(ctx, NetworkRef("Weird_Name", "kube-system", models.DEFAULT)) is None
    assert fake.calls == [("nad", "kube-system", "cbr0")]
    assert fake.events == []
    fake.add_nad("kube-system", "cbr0", CONF)
    ctx = make_ctx(fake)
    nc = source.multus_source_network(ctx, NetworkRef("cbr0", "kube-system", models.CLUSTER))
    assert nc is not None and nc.name == "kube-system/cbr0"
    assert source.multus_source_network(ctx, NetworkRef("x", "", models.AUXILIARY)) is None


@pytest.mark.parametrize(("raw", "needle"), [
    ("{not json", "not valid JSON"),
    ("   ", "not valid JSON"),
    ('[{"type": "bridge"}]', "a JSON array, not a JSON object"),
    ('"bridge"', "JSON str, not a JSON object"),
    ('{"cniVersion": "1.0.0"}', "delegate must have the 'type' or 'plugin' field"),
    ('{"plugins": []}', "'plugins' must be a non-empty array of objects"),
    ('{"plugins": [{"mtu": 1}]}', "a plugin delegate must have the 'type' field"),
    ('{"type": 5}', "'type' must be a string"),
    ('{"type": "bridge", "name": 3}', "'name' must be a string"),
])
def test_bad_nad_configs(fake: FakeClient, raw: str, needle: str) -> None:
    fake.add_nad("app", "bad", raw=raw)
    with pytest.raises(CNIError) as e:
        source.multus_source_network(make_ctx(fake), NetworkRef("bad", "app", models.ANNOTATION))
    assert e.value.code == INVALID_CONFIG
    assert "network-attachment-definition app/bad" in e.value.msg and needle in e.value.msg


@pytest.mark.parametrize("name", ["../etc", "a/b", "..", "UPPER", ""])
def test_nad_names_that_are_no_names(fake: FakeClient, name: str) -> None:
    with pytest.raises(CNIError) as e:
        source.multus_source_network(make_ctx(fake), NetworkRef(name, "app", models.ANNOTATION))
    assert e.value.code == INVALID_CONFIG and "invalid network-attachment-definition name" in e.value.msg
    assert fake.calls == []


ISOLATION = "namespace isolation enabled, annotation violates permission, pod is in namespace app but refers " \
            "to target namespace {}"


def plan_with(fake: FakeClient, annotations: dict[str, str], **conf: Any) -> list[Delegate]:
    """The engine's plan, with this backend as the only source, for a pod with ``annotations``."""
    from multus.engine import plan

    ctx = make_ctx(fake, clusterNetwork="", delegates=[{"cniVersion": "0.3.1", "name": "cbr0", "type": "bridge"}],
                   **conf)
    ctx.plugins.register(source)
    ctx.pod = PodInfo(namespace="app", name="p1", uid=UID, annotations=annotations, source="api")
    return plan.plan(ctx)


def test_empty_spec_is_answered_for_the_files(fake: FakeClient) -> None:
    """An empty spec answers an empty config (the engine then asks for the file of that name) and
    keeps the NAD's name and resourceName; with conf_dir_only the API is not asked at all."""
    fake.add_nad("app", "empty", annotations={"k8s.v1.cni.cncf.io/resourceName": "intel/sriov"})
    fake.add_nad("app", "blank", raw="")
    ctx = make_ctx(fake)
    nc = source.multus_source_network(ctx, NetworkRef("empty", "app", models.ANNOTATION))
    assert nc is not None and nc.config == {} and nc.name == "app/empty" and nc.resource_name == "intel/sriov"
    nc = source.multus_source_network(ctx, NetworkRef("blank", "app", models.ANNOTATION))
    assert nc is not None and nc.config == {}
    calls = list(fake.calls)
    assert source.multus_source_network(ctx, NetworkRef("empty", "app", models.ANNOTATION, conf_dir_only=True)) is None
    assert fake.calls == calls


def test_isolation_annotation(fake: FakeClient) -> None:
    for ns in ("app", "default", "shared"):
        fake.add_nad(ns, "n", CONF)
    iso = {"namespaceIsolation": True, "globalNamespaces": "shared, other"}
    for ns in ("app", "shared"):
        assert [d.name for d in plan_with(fake, {NETWORKS: f"{ns}/n"}, **iso)] == ["cbr0", f"{ns}/n"]
    for ns in ("default", "kube-system"):
        with pytest.raises(CNIError) as e:
            plan_with(fake, {NETWORKS: f"{ns}/n"}, **iso)
        assert e.value.msg == "GetNetworkDelegates: " + ISOLATION.format(ns)
    assert ("nad", "default", "n") not in fake.calls  # refused before anything is read
    # without isolation anything goes; globalNamespaces defaults to "default"
    assert len(plan_with(fake, {NETWORKS: "default/n"})) == 2
    assert len(plan_with(fake, {NETWORKS: "default/n"}, namespaceIsolation=True)) == 2


def test_isolation_default_network(fake: FakeClient) -> None:
    """upstream never checks this annotation: a pod could pick any namespace's network as its
    cluster network. Here it follows the same rule as the networks annotation."""
    fake.add_nad("kube-system", "calico", CONF)
    fake.add_nad("other", "evil", CONF)
    fake.add_nad("app", "mine", CONF)
    iso = {"namespaceIsolation": True}
    assert plan_with(fake, {DEFAULT_NET: "app/mine"}, **iso)[0].name == "app/mine"
    for target in ("other/evil", "calico"):  # "calico" defaults to multusNamespace (kube-system)
        with pytest.raises(CNIError) as e:
            plan_with(fake, {DEFAULT_NET: target}, **iso)
        assert e.value.msg == "tryLoadK8sPodDefaultNetwork: " + ISOLATION.format(
            "other" if target.startswith("other") else "kube-system")
    assert plan_with(fake, {DEFAULT_NET: "calico"}, namespaceIsolation=True,
                     globalNamespaces="kube-system")[0].name == "kube-system/calico"
    # clusterNetwork/defaultNetworks are the administrator's: never isolated
    assert source.multus_source_network(make_ctx(fake, **iso), NetworkRef("evil", "other", models.DEFAULT)) is not None


# --- lifecycle -------------------------------------------------------------------------------------

def attachment(result: dict[str, Any], name: str = "app/mv", ifname: str = "net1", master: bool = False) -> Attachment:
    return Attachment(delegate=Delegate(config=CONF, name=name, ifname=ifname, master=master), result=result)


R1 = {"cniVersion": "1.0.0", "interfaces": [{"name": "net1", "sandbox": "/ns", "mac": "02:00:00:00:00:01"}],
      "ips": [{"address": "10.1.1.2/24", "interface": 0}, {"address": "fd00::2/64", "interface": 0}]}


def test_added_interface_events(fake: FakeClient) -> None:
    fake.add_pod("app", "p1")
    ctx = make_ctx(fake)
    api_pod(ctx)
    status.multus_lifecycle_delegate_added(ctx, attachment(R1))
    status.multus_lifecycle_delegate_added(ctx, attachment({"cniVersion": "0.2.0", "ip4": {"ip": "10.2.0.2/16"}},
                                                           name="", ifname="net2"))
    status.multus_lifecycle_delegate_added(ctx, attachment({"cniVersion": "1.0.0"}, ifname="net3"))  # empty
    status.multus_lifecycle_delegate_added(ctx, attachment({"cniVersion": "1.0.0", "interfaces": [
        {"name": "net4", "sandbox": "/ns"}]}, ifname="net4"))
    assert [(e[1], e[2], e[3]) for e in fake.events] == [
        ("Normal", "AddedInterface", "Add net1 [10.1.1.2/24 fd00::2/64] from app/mv"),
        ("Normal", "AddedInterface", "Add net2 [10.2.0.2/16]"),
        ("Normal", "AddedInterface", "Add net4 [] from app/mv"),
    ]
    assert fake.events[0][0]["resourceVersion"] == "7"


def test_events_are_best_effort(fake: FakeClient) -> None:
    fake.add_pod("app", "p1")
    ctx = make_ctx(fake)
    api_pod(ctx)
    fake.fail = CNIError(TRY_AGAIN_LATER, "down")
    status.multus_lifecycle_delegate_added(ctx, attachment(R1))  # no raise
    assert len(fake.events) == 1


def test_no_events_or_status_without_api_pod(fake: FakeClient) -> None:
    ctx = make_ctx(fake)
    ctx.pod = PodInfo(namespace="app", name="p1", uid=UID, source="runtime")
    status.multus_lifecycle_delegate_added(ctx, attachment(R1))
    status.multus_lifecycle_pod_added(ctx, [attachment(R1)])
    ctx.pod = PodInfo(namespace="app", name="p1", uid=UID, source="api", exists=False)
    status.multus_lifecycle_pod_added(ctx, [attachment(R1)])
    assert fake.events == [] and fake.patches == []


def test_network_status_one_patch(fake: FakeClient) -> None:
    fake.add_pod("app", "p1")
    ctx = make_ctx(fake)
    api_pod(ctx)
    master = {"cniVersion": "0.3.1", "interfaces": [{"name": "eth0", "sandbox": "/ns"}],
              "ips": [{"version": "4", "address": "10.244.0.5/24", "gateway": "10.244.0.1", "interface": 0}]}
    status.multus_lifecycle_pod_added(ctx, [attachment(master, "cbr0", "eth0", True), attachment(R1)])
    assert len(fake.patches) == 1
    ns, name, key, value, uid = fake.patches[0]
    assert (ns, name, key, uid) == ("app", "p1", "k8s.v1.cni.cncf.io/network-status", UID)
    assert json.loads(value) == [
        {"name": "cbr0", "interface": "eth0", "ips": ["10.244.0.5"], "default": True, "dns": {}},
        {"name": "app/mv", "interface": "net1", "ips": ["10.1.1.2", "fd00::2"], "mac": "02:00:00:00:00:01",
         "dns": {}},
    ]
    assert value.startswith('[{\n    "name": "cbr0",')


def test_network_status_system_namespace_is_the_namespace(fake: FakeClient) -> None:
    fake.add_pod("kube-system", "p1")
    fake.add_pod("app", "kube-system")  # upstream compared the pod NAME with systemNamespaces
    ctx = make_ctx(fake, pod_ns="kube-system")
    api_pod(ctx)
    status.multus_lifecycle_pod_added(ctx, [attachment(R1)])
    assert fake.patches == []
    ctx = make_ctx(fake, pod="kube-system")
    api_pod(ctx)
    status.multus_lifecycle_pod_added(ctx, [attachment(R1)])
    assert len(fake.patches) == 1


def test_network_status_errors(fake: FakeClient) -> None:
    fake.add_pod("app", "p1")
    ctx = make_ctx(fake)
    api_pod(ctx)
    fake.patch_result = False  # pod deleted meanwhile: tolerated
    status.multus_lifecycle_pod_added(ctx, [attachment(R1)])
    fake.fail = CNIError(TRY_AGAIN_LATER, "boom")
    with pytest.raises(CNIError) as e:
        status.multus_lifecycle_pod_added(ctx, [attachment(R1)])
    assert e.value.code == TRY_AGAIN_LATER and e.value.msg == "error setting the networks status: boom"
    # nothing to write: no request
    fake.fail = None
    n = len(fake.patches)
    status.multus_lifecycle_pod_added(ctx, [attachment({"cniVersion": "1.0.0", "interfaces": [
        {"name": "a"}, {"name": "b"}]})])
    assert len(fake.patches) == n


# --- the client's retry loop (no server: the request function is ours) -------------------------------

class LoopClient(kube.KubeClient):
    def __init__(self, **kw: Any) -> None:
        super().__init__(KUBECONFIG, {}, **kw)
        self.generation = 1
        self.reloads = 0

    def _api(self) -> tuple[Any, int]:
        return object(), self.generation

    def reload(self, generation: int) -> None:
        self.reloads += 1
        self.generation += 1


def api_error(status: int, message: str = "") -> APIStatusError:
    return APIStatusError(status, "Reason", json.dumps({"kind": "Status", "message": message or f"m{status}"}))


def scripted(*outcomes: Any) -> tuple[list[float], Any]:
    seen: list[float] = []
    todo = list(outcomes)

    def fn(api: Any, left: float) -> Any:
        seen.append(left)
        out = todo.pop(0)
        if isinstance(out, BaseException):
            raise out
        return out

    return seen, fn


def test_retry_on_5xx_and_connection_errors_then_success() -> None:
    c = LoopClient(timeout=5, retries=3)
    seen, fn = scripted(api_error(503), APIConnectionError("ConnectionRefusedError: refused"),
                        APIConnectionError("TimeoutError: timed out"), {"ok": True})
    assert c.call("op", fn) == {"ok": True}
    assert len(seen) == 4 and all(0 < s <= 5 for s in seen)


def test_retries_exhausted_is_code_11() -> None:
    c = LoopClient(timeout=5, retries=2)
    seen, fn = scripted(*(api_error(500, "etcd down") for _ in range(3)))
    with pytest.raises(kube.KubeAPIError) as e:
        c.call("error getting pod a/b", fn)
    assert e.value.code == TRY_AGAIN_LATER and len(seen) == 3
    assert e.value.msg.startswith("error getting pod a/b: the Kubernetes API server")
    assert "unreachable after 3 attempt(s)" in e.value.msg and "500 etcd down" in e.value.msg


def test_budget_bounds_everything() -> None:
    import time as _time

    c = LoopClient(timeout=0.3, retries=100)

    def fn(api: Any, left: float) -> Any:
        _time.sleep(min(left, 0.05))
        raise APIConnectionError("ConnectionRefusedError: refused")

    t0 = _time.monotonic()
    with pytest.raises(kube.KubeAPIError):
        c.call("op", fn)
    assert _time.monotonic() - t0 < 0.6


def test_401_reloads_once() -> None:
    c = LoopClient(retries=0)
    _, fn = scripted(api_error(401), {"ok": 1})
    assert c.call("op", fn) == {"ok": 1} and c.reloads == 1
    _, fn = scripted(api_error(401), api_error(401))
    with pytest.raises(kube.KubeAPIError) as e:
        c.call("op", fn)
    assert e.value.code == TRY_AGAIN_LATER and e.value.status == 401 and c.reloads == 2


def test_other_statuses_go_to_the_caller() -> None:
    c = LoopClient()
    _, fn = scripted(api_error(403, 'pods "p" is forbidden'))
    with pytest.raises(APIStatusError) as e:
        c.call("op", fn)
    err = c.error("error getting pod a/p", e.value)
    assert err.code == INVALID_CONFIG and err.status == 403
    assert err.msg == 'error getting pod a/p: pods "p" is forbidden (check the multus ClusterRole)'


def test_missing_kubeconfig_is_a_config_error() -> None:
    c = kube.KubeClient("/nonexistent/kubeconfig", {})
    with pytest.raises(CNIError) as e:
        c.get_pod("app", "p1")
    assert e.value.code == INVALID_CONFIG
    assert e.value.msg == "error getting k8s client: kubeconfig /nonexistent/kubeconfig: file not found"


def test_in_the_daemon_status_and_events_go_to_the_writer_and_do_not_fail_the_add(fake: FakeClient) -> None:
    import threading

    from multus_k8s import writer as writes

    fake.add_pod("app", "p1")
    ctx = make_ctx(fake)
    api_pod(ctx)
    w = writes.Writer(workers=1, attempts=2, backoff=(0.01, 0.01))
    gate = threading.Event()
    original = fake.patch_pod_status_annotation

    def slow_patch(*args: Any, **kw: Any) -> bool:
        assert gate.wait(5)
        return original(*args, **kw)

    fake.patch_pod_status_annotation = slow_patch  # type: ignore[method-assign]
    w.start()
    ctx.plugins.state[writes.STATE_KEY] = w
    try:
        status.multus_lifecycle_delegate_added(ctx, attachment(R1))
        status.multus_lifecycle_pod_added(ctx, [attachment(R1)])  # returns before the patch is made
        assert fake.patches == []
        gate.set()
        w.close(5)
        assert len(fake.patches) == 1 and [e[2] for e in fake.events] == ["AddedInterface"]
        # the API unreachable: logged and retried in the background, never an ADD failure
        fake.fail = CNIError(TRY_AGAIN_LATER, "unreachable")
        w2 = writes.Writer(workers=1, attempts=2, backoff=(0.01, 0.01))
        w2.start()
        ctx.plugins.state[writes.STATE_KEY] = w2
        status.multus_lifecycle_pod_added(ctx, [attachment(R1)])
        w2.close(5)
        assert w2.done[(writes.STATUS, "failed")] == 1 and len(fake.patches) == 3
    finally:
        gate.set()
        w.close(1)


def test_a_tls_failure_without_an_answer_is_retried_then_try_again_later() -> None:
    class Offline(kube.KubeClient):
        def _api(self) -> tuple[Any, int]:
            return None, 1

    c = Offline(KUBECONFIG, {}, timeout=2, retries=2)
    attempts: list[int] = []

    def tls_eof(api: Any, left: float) -> Any:
        attempts.append(1)
        if len(attempts) < 3:
            raise APIConnectionError("SSLError: [SSL: UNEXPECTED_EOF_WHILE_READING] EOF")
        return {"ok": True}

    assert c.call("reading", tls_eof) == {"ok": True} and len(attempts) == 3

    def always(api: Any, left: float) -> Any:
        raise APIConnectionError("SSLError: [SSL: UNEXPECTED_EOF_WHILE_READING] EOF")

    with pytest.raises(CNIError) as e:
        c.call("reading", always, retries=0)
    assert e.value.code == TRY_AGAIN_LATER and "SSLError" in e.value.msg

    # a certificate that does not verify is a configuration error: no retry
    attempts.clear()

    def wrong_ca(api: Any, left: float) -> Any:
        attempts.append(1)
        raise APIConnectionError("SSLCertVerificationError: certificate verify failed", certificate=True)

    with pytest.raises(kube.KubeAPIError) as e2:
        c.call("reading", wrong_ca)
    assert len(attempts) == 1 and e2.value.code == INVALID_CONFIG
    assert "does not trust" in e2.value.msg and "certificate verify failed" in e2.value.msg


@pytest.mark.parametrize(("reason", "certificate"), [
    ("SSLError\n[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed", True),
    ("SSLError\n[SSL: UNEXPECTED_EOF_WHILE_READING] EOF", False),
])
def test_the_kubernetes_transport_maps_its_status_0_to_no_answer(reason: str, certificate: bool) -> None:
    from kubernetes.client.exceptions import ApiException
    from multus_k8s.kubeclient import as_transport_error

    err = as_transport_error(ApiException(status=0, reason=reason))
    assert isinstance(err, APIConnectionError) and err.certificate is certificate and "\n" not in err.reason
    e = ApiException(status=404, reason="Not Found")
    e.body = b'{"message": "pods \\"x\\" not found"}'
    st = as_transport_error(e)
    assert isinstance(st, APIStatusError) and st.status == 404 and kube.status_message(st) == 'pods "x" not found'
