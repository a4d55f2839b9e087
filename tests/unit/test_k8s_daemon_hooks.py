"""The Kubernetes backend's daemon hooks (multus_k8s.daemon) through the typed facade, without an
API server: what they put in ``plugins.state`` and that requests find it."""

from __future__ import annotations

import pytest
from multus_k8s import client as kube
from multus_k8s import daemon, writer
from multus_k8s.informer import Informers

from multus.cni.request import CniRequest
from multus.config import netconf
from multus.engine.models import DaemonContext, RequestContext
from multus.errors import CNIError
from multus.plugin.manager import Plugins

IN_CLUSTER = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "1", "MULTUS_NODE_NAME": "n1"}


def plugins() -> Plugins:
    p = Plugins(entry_points=False, env={})
    p.register(daemon, name="k8s-daemon")
    return p


def request_ctx(p: Plugins, env: dict[str, str], command: str = "ADD") -> RequestContext:
    raw = {"cniVersion": "1.0.0", "name": "multus", "type": "multus", "clusterNetwork": "cbr0"}
    args = (("K8S_POD_NAMESPACE", "app"), ("K8S_POD_NAME", "p1"))
    req = CniRequest(command=command, container_id="c1", netns="/var/run/netns/x", ifname="eth0", args=args,
                     config=raw, env=env)
    return RequestContext(request=req, conf=netconf.load(raw), plugins=p)


def test_in_cluster_daemon_environment_starts_informers_that_requests_find() -> None:
    p = plugins()
    # nothing listens on port 1: the informers cannot sync, the daemon starts anyway after the wait
    p.daemon_started(DaemonContext(p, {"informerSyncTimeout": 0.2}, IN_CLUSTER))
    try:
        informers = p.state[daemon.INFORMERS_KEY]
        assert isinstance(informers, Informers)
        assert informers.pods.field_selector == "spec.nodeName=n1" and not informers.pods.synced
        ctx = request_ctx(p, IN_CLUSTER)
        c = kube.client_for(ctx)
        assert c is informers.client and c.informers is informers and c.kubeconfig == ""
        assert informers.pod("app", "p1") is None  # not synced: requests read the API
        assert writer.writer_of(p.state) is not None
    finally:
        p.daemon_stopping(DaemonContext(p, {}, {}))
    assert daemon.INFORMERS_KEY not in p.state and writer.writer_of(p.state) is None
    assert c.informers is None
    assert not any(t.is_alive() for t in (informers.pods._thread, informers.nads._thread) if t)


def test_without_an_api_there_are_no_informers_but_a_writer() -> None:
    p = plugins()
    p.daemon_started(DaemonContext(p, {}, {}))
    try:
        assert daemon.INFORMERS_KEY not in p.state
        assert writer.writer_of(p.state) is not None
    finally:
        p.daemon_stopping(DaemonContext(p, {}, {}))


def test_bad_daemon_settings_refuse_the_start() -> None:
    p = plugins()
    with pytest.raises(CNIError) as e:
        p.daemon_started(DaemonContext(p, {"informerSyncTimeout": -1}, IN_CLUSTER))
    assert e.value.code == 7 and "informerSyncTimeout" in e.value.msg
    p.daemon_stopping(DaemonContext(p, {}, {}))


def test_a_del_cancels_the_containers_queued_status(monkeypatch: pytest.MonkeyPatch) -> None:
    p = plugins()
    p.daemon_started(DaemonContext(p, {}, {}))
    try:
        w = writer.writer_of(p.state)
        assert w is not None
        seen: list[tuple[tuple[str, str], str]] = []
        monkeypatch.setattr(w, "cancel", lambda pod, cid, wait=0: seen.append((pod, cid)) or 0)
        p.request_done(request_ctx(p, {}, "ADD"), "ADD", None, 0.1)
        p.request_done(request_ctx(p, {}, "DEL"), "DEL", None, 0.1)
        assert seen == [(("app", "p1"), "c1")]
    finally:
        p.daemon_stopping(DaemonContext(p, {}, {}))
