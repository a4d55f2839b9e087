"""multus deployed on the one-node cluster with deploy/'s manifests and image, as a packager ships it.

One cluster for the whole test run and one image build for the module. Each test installs the mode it needs
(thick or thin DaemonSet, replacing the other), creates busybox pods naming one and two macvlan NADs
and checks, inside the pods and in their network-status annotation, that they got every network; then
deletes them and checks that the node kept no lease, veth or cache file of theirs.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import stat
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest
from cluster import NODE_IP, PRIMARY_CONF, Cluster, _wait
from cluster_fixtures import _timings
from cluster_multus import (
    CONF_FILE,
    Multus,
    PodWatch,
    build_image,
    cni_files,
    create_nads,
    create_pod,
    creating_pods,
    host_veth,
    image_unavailable_reason,
    leases,
    network_status,
    network_status_problems,
    node_snapshot,
    pod_links,
    sandbox_ids,
    setup_macvlan_masters,
    started_since,
    tag_image,
    teardown_macvlan_masters,
    veths,
)

TIMINGS = _timings  # printed in the terminal summary with the cluster's own


@pytest.fixture(scope="module")
def multus(cluster: Cluster) -> Iterator[Multus]:
    reason = image_unavailable_reason()
    if reason:
        pytest.skip(f"the multus image cannot be built: {reason}")
    t0 = time.monotonic()
    image, archive = build_image()
    TIMINGS["image build"] = time.monotonic() - t0
    t0 = time.monotonic()
    cluster.node.import_image(archive)
    TIMINGS["image import"] = time.monotonic() - t0
    setup_macvlan_masters()
    m = Multus(cluster, image)
    m.before = node_snapshot(cluster)
    m.prepare()
    try:
        yield m
    finally:
        # pods with networks first (their DEL needs multus), then multus itself
        for ns in m.namespaces:
            for pod in cluster.core().list_namespaced_pod(ns).items:
                with contextlib.suppress(Exception):
                    cluster.delete_pod(ns, pod.metadata.name, timeout=60)
        with contextlib.suppress(Exception):
            m.uninstall_daemonset()
        m.remove_config()
        if m.forced_deletes:
            warnings.warn(f"{m.forced_deletes} multus pod(s) stayed Terminating with nothing left on the node "
                          "and were deleted with grace 0", stacklevel=1)
        teardown_macvlan_masters()


@pytest.fixture
def ns(multus: Multus, cluster_namespace: str) -> str:
    create_nads(multus.cluster, cluster_namespace)
    multus.namespaces.append(cluster_namespace)
    return cluster_namespace


# --------------------------------------------------------------------------------------------------------------


def pods_up(cluster: Cluster, ns: str, specs: Mapping[str, Sequence[str]], timeout: float = 120) -> None:
    """Create the pods {name: [NAD, ...]}, wait until they run, check every network inside and in the annotation."""
    for name, networks in specs.items():
        create_pod(cluster, ns, name, networks)
    for name in specs:
        cluster.wait_pod_phase(ns, name, timeout=timeout)
    problems = {name: network_status_problems(cluster, ns, name, nets) for name, nets in specs.items()}
    assert problems == {name: [] for name in specs}


def delete_and_check_clean(cluster: Cluster, ns: str, names: Sequence[str]) -> None:
    """Delete the pods; none of their leases, host-side veths or cache/result files may stay."""
    ids = sandbox_ids(cluster, ns, names)
    assert ids
    theirs = {host_veth(cluster, ns, name) for name in names}
    assert theirs <= veths()
    for name in names:
        cluster.delete_pod(ns, name)

    def left() -> dict[str, Any]:
        return {
            "leases": {k: v for k, v in leases(cluster).items() if v in ids},
            "veths": sorted(veths() & theirs),
            "files": cni_files(cluster, ids),
        }

    with contextlib.suppress(Exception):  # give the last DEL a moment; the assertion below says what stayed
        _wait("pods' traces gone", lambda: not any(left().values()), 30)
    assert left() == {"leases": {}, "veths": [], "files": []}


def round_trip(cluster: Cluster, ns: str, specs: Mapping[str, Sequence[str]]) -> None:
    pods_up(cluster, ns, specs)
    delete_and_check_clean(cluster, ns, list(specs))


ONE_AND_TWO = {"one": ["mv-a"], "two": ["mv-a", "mv-b"]}


# --------------------------------------------------------------------------------------------------------------


def test_thick_daemonset_installs_and_pods_get_their_networks(cluster: Cluster, multus: Multus, ns: str) -> None:
    multus.install("thick")
    pod = multus.ready_pod(multus.image)
    assert pod.spec.host_network and pod.status.pod_ip == NODE_IP
    (init,) = pod.status.init_container_statuses
    assert init.name == "install-multus-shim" and init.state.terminated.exit_code == 0
    bin_dir = cluster.node.cni_bin_dir
    for name in ("multus-shim", "passthru"):
        assert (bin_dir / name).stat().st_mode & stat.S_IXUSR, name
    conf = multus.config()
    assert conf is not None and conf["type"] == "multus-shim"
    # generated from the primary, as the daemon's container sees the node's conf dir
    assert conf["clusterNetwork"] == f"/host/etc/cni/net.d/{PRIMARY_CONF}"
    round_trip(cluster, ns, ONE_AND_TWO)


def test_thin_daemonset_installs_and_pods_get_their_networks(cluster: Cluster, multus: Multus, ns: str) -> None:
    multus.install("thin")
    pod = multus.ready_pod(multus.image)
    assert pod.spec.host_network
    (init,) = pod.status.init_container_statuses
    assert init.name == "install-multus-binary" and init.state.terminated.exit_code == 0
    multus_bin = cluster.node.cni_bin_dir / "multus"
    assert multus_bin.is_symlink() and os.access(multus_bin.resolve(), os.X_OK)  # the bundle, swapped by rename
    conf = multus.config()
    assert conf is not None and [p["type"] for p in conf["plugins"]] == ["multus"]
    kubeconfig = conf["plugins"][0]["kubeconfig"]
    assert (cluster.node.host_path(kubeconfig)).stat().st_mode & 0o777 == 0o600
    assert sorted(os.listdir(cluster.node.cni_conf_dir)) == sorted([CONF_FILE["thin"], PRIMARY_CONF, "multus.d"])
    round_trip(cluster, ns, ONE_AND_TWO)


def test_switching_thick_to_thin_and_back(cluster: Cluster, multus: Multus, ns: str) -> None:
    multus.install("thick")
    pods_up(cluster, ns, {"thick-1": ["mv-a", "mv-b"]})

    multus.install("thin")  # after the thick DaemonSet, its 00-multus.conf is removed (docs/deploy.md)
    pods_up(cluster, ns, {"thin-1": ["mv-b", "mv-a"]})
    # a pod of the thick daemon, deleted by thin multus from the shared cache
    delete_and_check_clean(cluster, ns, ["thick-1"])

    multus.install("thick")
    assert not (cluster.node.cni_conf_dir / CONF_FILE["thin"]).exists()  # thin's installer removed it
    pods_up(cluster, ns, {"thick-2": ["mv-a"]})
    delete_and_check_clean(cluster, ns, ["thin-1", "thick-2"])


def test_node_reboot_recreates_pods_with_all_their_networks(cluster: Cluster, multus: Multus, ns: str) -> None:
    """kill -9 of kubelet, containerd, the daemon and every pod; then a fresh /run, containerd, kubelet.

    The pods' new sandboxes must all get every network: a pod that became Running with eth0 only while
    the daemon was not yet serving (upstream #1387) is caught by the watch, which looks inside each pod
    the moment it is reported Running and Ready."""
    multus.install("thick")
    specs = {"r1": ["mv-a"], "r2": ["mv-a", "mv-b"]}
    pods_up(cluster, ns, specs)
    old_ids = sandbox_ids(cluster, ns, specs)
    old_status = {n: network_status(cluster.pod(ns, n)) for n in specs}
    crash_at = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    time.sleep(1)  # container start times have a resolution of a second

    def check(pod: Any) -> list[str] | None:
        if not started_since(pod, crash_at):
            return None  # its status from before the crash, not yet updated
        return network_status_problems(cluster, ns, pod.metadata.name, specs[pod.metadata.name], pod=pod)

    with PodWatch(cluster, ns, check) as watch:
        t0 = time.monotonic()
        cluster.node.crash()
        cluster.node.boot()
        TIMINGS["reboot: node booted"] = time.monotonic() - t0
        cluster.wait_node_ready()
        multus.wait_ready(multus.image, started_after=crash_at)
        TIMINGS["reboot: multus ready"] = time.monotonic() - t0
        for name in specs:
            _wait(f"{ns}/{name} running again", lambda n=name: started_since(cluster.pod(ns, n), crash_at)
                  and all(c.ready for c in cluster.pod(ns, n).status.container_statuses), 180, interval=0.5,
                  alive=cluster.dead)
        TIMINGS["reboot: pods running"] = time.monotonic() - t0
        time.sleep(1)  # the watch sees the last update
    assert watch.problems == []
    assert set(watch.checked) == set(specs)
    new_ids = sandbox_ids(cluster, ns, specs) - old_ids
    assert len(new_ids) == len(specs)  # new sandboxes, not the old ones revived
    problems = {n: network_status_problems(cluster, ns, n, nets) for n, nets in specs.items()}
    assert problems == {n: [] for n in specs}
    # the annotation was rewritten for the new sandboxes (new macvlan and veth MACs)
    assert all(network_status(cluster.pod(ns, n)) != old_status[n] for n in specs)
    # the old sandboxes were torn down after the boot: nothing of theirs or of the new ones stays
    delete_and_check_clean(cluster, ns, list(specs))
    assert cni_files(cluster, old_ids) == []


def test_rolling_upgrade_while_pods_are_created(cluster: Cluster, multus: Multus, ns: str) -> None:
    multus.install("thick")
    repo = multus.image.rsplit(":", 1)[0]
    upgraded = f"{repo}:upgrade-{os.urandom(3).hex()}"
    tag_image(cluster, multus.image, upgraded)
    old_pod = multus.ready_pod(multus.image).metadata.name
    t0 = time.monotonic()
    with creating_pods(cluster, ns, ["mv-a", "mv-b"], interval=2.0) as names:
        time.sleep(1)
        multus.roll(upgraded)
        _wait("the DaemonSet rolled", lambda: multus.rolled(upgraded), 180, interval=0.5, alive=cluster.dead)
        TIMINGS["upgrade: rolled"] = time.monotonic() - t0
        time.sleep(2)  # and a few pods on the new daemon
    created = list(names)
    assert len(created) >= 8
    assert multus.ready_pod(upgraded).metadata.name != old_pod
    for name in created:
        cluster.wait_pod_phase(ns, name, timeout=180)
    problems = {n: network_status_problems(cluster, ns, n, ["mv-a", "mv-b"]) for n in created}
    assert problems == {n: [] for n in created}
    delete_and_check_clean(cluster, ns, created)


# what an uninstall leaves on the node (docs/deploy.md): the executables, for pods still being torn down,
# and empty directories; below /var/lib/cni/networks host-local's own bookkeeping (lock, last_reserved_ip)
STAYS_FILES = {"/opt/cni": {"bin/multus-shim", "bin/passthru", "bin/multus"}}
STAYS_FILE_PREFIXES = {"/opt/cni": ("bin/.multus.d/",)}


def host_local_state(root: str, rel: str) -> bool:
    """host-local's own bookkeeping of a network (not a lease): networks/<name>/{lock,last_reserved_ip.N}."""
    parts = rel.split("/")
    return (root == "/var/lib/cni" and len(parts) == 3 and parts[0] == "networks"
            and (parts[2] == "lock" or parts[2].startswith("last_reserved_ip")))
REMOVE_BY_HAND = ("/opt/cni/bin/multus-shim", "/opt/cni/bin/passthru", "/opt/cni/bin/multus", "/opt/cni/bin/.multus.d",
                  "/var/lib/cni/multus", "/etc/cni/multus", "/etc/cni/net.d/multus.d", "/run/multus",
                  "/run/k8s.cni.cncf.io")


def test_uninstall_leaves_only_what_the_docs_say(cluster: Cluster, multus: Multus, ns: str) -> None:
    multus.install("thick")
    round_trip(cluster, ns, {"last": ["mv-a"]})
    multus.uninstall()
    before = multus.before
    after = node_snapshot(cluster)
    left = {p: sorted(after[p] - before[p]) for p in after if after[p] - before[p]}
    files = {p: [x for x in xs if not x.endswith("/") and x != "."] for p, xs in left.items()}
    unexpected = {p: [x for x in xs if x not in STAYS_FILES.get(p, set())
                      and not x.startswith(STAYS_FILE_PREFIXES.get(p, ())) and not host_local_state(p, x)]
                  for p, xs in files.items()}
    assert {p: xs for p, xs in unexpected.items() if xs} == {}
    assert "bin/multus-shim" in files["/opt/cni"]
    assert not (cluster.node.cni_conf_dir / CONF_FILE["thick"]).exists()
    assert sorted(os.listdir(cluster.node.cni_conf_dir)) in ([PRIMARY_CONF], sorted([PRIMARY_CONF, "multus.d"]))

    # the node is back on its primary network alone
    create_pod(cluster, ns, "plain", [])
    pod = cluster.wait_pod_phase(ns, "plain")
    assert set(pod_links(cluster, ns, "plain")) == {"lo", "eth0"}
    assert network_status(pod) is None  # no multus wrote it
    cluster.delete_pod(ns, "plain")

    # what docs/deploy.md says to remove by hand: then the node is as before multus
    import shutil

    for p in REMOVE_BY_HAND:
        host = cluster.node.host_path(p)
        if host.is_dir() and not host.is_symlink():
            shutil.rmtree(host)
        else:
            host.unlink(missing_ok=True)
    assert [p for p in REMOVE_BY_HAND if os.path.lexists(cluster.node.host_path(p))] == []
    after = node_snapshot(cluster)
    new_files = {p: sorted(x for x in after[p] - before[p] if not x.endswith("/") and x != "."
                           and not host_local_state(p, x)) for p in after}
    assert {p: xs for p, xs in new_files.items() if xs} == {}
