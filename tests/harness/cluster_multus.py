"""Multus on the one-node cluster, deployed the way a packager does: deploy/'s manifests and image.

* :func:`build_image` runs ``deploy/image/build.sh --archive`` (offline once ``--prepare`` has run) and
  :func:`import_image` loads the archive into the node's containerd, where the kubelet finds it (nothing
  is pulled: the DaemonSets get ``imagePullPolicy: Never``).
* :class:`Multus` applies the CRD, RBAC, the daemon's ConfigMap and the thick or the thin DaemonSet with
  that image, switches between them, rolls the DaemonSet to another tag, and uninstalls.
* The node's view: :func:`leases`, :func:`cni_files`, :func:`veths`, :func:`network_status_problems`.

The manifests need no path changes: the node's mount namespace puts its scratch dirs at /etc/cni,
/opt/cni, /var/lib and /run, where the DaemonSets' hostPath volumes point.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import yaml
from cluster import PRIMARY_NETWORK, Cluster, ClusterError, _run, _wait
from runtimes import in_root_netns, link_names

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
IMAGE_CACHE = Path(os.environ.get("MULTUS_IMAGE_CACHE", "/var/cache/multus-image"))
NAMESPACE = "kube-system"
DAEMONSET = "kube-multus-ds"
SELECTOR = "name=multus"
NETWORKS_ANNOTATION = "k8s.v1.cni.cncf.io/networks"
NETWORK_STATUS_ANNOTATION = "k8s.v1.cni.cncf.io/network-status"
NAD_GROUP, NAD_VERSION, NAD_PLURAL = "k8s.cni.cncf.io", "v1", "network-attachment-definitions"

# the macvlan masters: the two ends of a veth pair in the lab namespace (no dummy links in this kernel)
MACVLAN_MASTERS = ("cl-mv0", "cl-mv1")
# NAD name -> (master, subnet)
NADS: dict[str, tuple[str, str]] = {
    "mv-a": (MACVLAN_MASTERS[0], "10.254.1.0/24"),
    "mv-b": (MACVLAN_MASTERS[1], "10.254.2.0/24"),
}
# what each mode writes in the node's /etc/cni/net.d (the primary is CNI 1.0.0: thin writes a conflist)
CONF_FILE = {"thick": "00-multus.conf", "thin": "00-multus.conflist"}
EXECUTABLE = {"thick": "multus-shim", "thin": "multus"}
MANIFESTS = {"thick": ("daemon-config.yaml", "daemonset-thick.yaml"), "thin": ("daemonset-thin.yaml",)}


# --------------------------------------------------------------------------------------------------------------
# the image


def image_unavailable_reason() -> str | None:
    """Why the image cannot be built here (None: it can, perhaps from the cache only)."""
    import shutil

    if shutil.which("podman") is None:
        return "podman is missing (scripts/setup.sh installs it)"
    if not (IMAGE_CACHE / "wheels").is_dir() and not _has_default_route():
        return (f"the image's inputs are not in {IMAGE_CACHE} and Debian/PyPI are unreachable: "
                "run `deploy/image/build.sh --prepare` (scripts/setup.sh does) first")
    return None


def _has_default_route() -> bool:
    with open("/proc/net/route") as f:
        return any(line.split()[1] == "00000000" for line in f.readlines()[1:] if line.split())


def build_image() -> tuple[str, Path]:
    """``deploy/image/build.sh --archive``: the image reference and its docker-archive (cached by content)."""
    env = dict(os.environ, MULTUS_VENV=sys.prefix)
    r = subprocess.run(["bash", str(DEPLOY / "image" / "build.sh"), "--archive"], capture_output=True, text=True,
                       timeout=3000, check=False, env=env, stdin=subprocess.DEVNULL)
    if r.returncode:
        raise ClusterError(f"deploy/image/build.sh --archive failed ({r.returncode}):\n{r.stderr[-4000:]}")
    image = r.stdout.strip().splitlines()[-1]
    archive = IMAGE_CACHE / f"multus-{image.rsplit(':', 1)[1]}.tar"
    if not archive.is_file():
        raise ClusterError(f"build.sh printed {image} but wrote no {archive}")
    return image, archive


def tag_image(cluster: Cluster, source: str, target: str) -> None:
    """`ctr images tag` in the node's containerd (an upgrade to the same bits under a new tag)."""
    _run("ctr", "--address", str(cluster.node.socket), "--namespace", "k8s.io", "images", "tag", "--force",
         source, target)


# --------------------------------------------------------------------------------------------------------------
# the node's state


def setup_macvlan_masters() -> None:
    if in_root_netns():
        raise ClusterError("refusing to configure the machine's root network namespace")
    a, b = MACVLAN_MASTERS
    if _run("ip", "link", "show", a, check=False).returncode:
        _run("ip", "link", "add", a, "type", "veth", "peer", "name", b)
    for link in MACVLAN_MASTERS:
        _run("ip", "link", "set", link, "up")


def teardown_macvlan_masters() -> None:
    if not in_root_netns():
        _run("ip", "link", "del", MACVLAN_MASTERS[0], check=False)


def veths() -> set[str]:
    """The pods' host-side veths in the lab namespace (the primary bridge's ports)."""
    return {n for n in link_names() if n.startswith("veth")}


def leases(cluster: Cluster) -> dict[str, str]:
    """host-local's leases on the node: {"<network>/<ip>": "<container id>"}."""
    out: dict[str, str] = {}
    root = cluster.node.host_path("/var/lib/cni/networks")
    for net in sorted(root.iterdir()) if root.is_dir() else []:
        for f in net.iterdir():
            if f.is_file() and f.name != "lock" and not f.name.startswith("last_reserved_ip"):
                out[f"{net.name}/{f.name}"] = f.read_text().split()[0] if f.read_text().strip() else ""
    return out


def cni_files(cluster: Cluster, ids: Iterable[str]) -> list[str]:
    """Files below the node's /var/lib/cni (caches, results, leases) that name or hold one of `ids`."""
    ids = [i for i in ids if i]
    root = cluster.node.host_path("/var/lib/cni")
    found = []
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            p = Path(dirpath, f)
            text = ""
            with contextlib.suppress(OSError, UnicodeDecodeError):
                text = p.read_text()[:4096] if p.stat().st_size < 1 << 20 else ""
            if any(i in f or i in text for i in ids):
                found.append(str(p.relative_to(root)))
    return sorted(found)


def tree(root: Path) -> set[str]:
    """Every path below `root`, relative (dirs end with /)."""
    out: set[str] = set()
    for dirpath, dirs, files in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        out |= {f"{rel / d}/" for d in dirs} | {str(rel / f) for f in files}
    return out


def node_snapshot(cluster: Cluster) -> dict[str, set[str]]:
    """The node paths multus writes to (as the node sees them) -> what is below them."""
    out = {}
    for p in ("/etc/cni", "/opt/cni", "/var/lib/cni", "/run/multus", "/run/k8s.cni.cncf.io"):
        host = cluster.node.host_path(p)
        out[p] = tree(host) | ({"."} if host.is_dir() else set())
    return out


# --------------------------------------------------------------------------------------------------------------
# pods with networks


def nad(namespace: str, name: str) -> dict[str, Any]:
    master, subnet = NADS[name]
    config = {"cniVersion": "0.3.1", "name": name, "type": "macvlan", "master": master, "mode": "bridge",
              "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]]}}
    return {"apiVersion": f"{NAD_GROUP}/{NAD_VERSION}", "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": name, "namespace": namespace}, "spec": {"config": json.dumps(config)}}


def create_nads(cluster: Cluster, namespace: str) -> None:
    from kubernetes import client

    api = client.CustomObjectsApi(cluster.core().api_client)
    for name in NADS:
        api.create_namespaced_custom_object(NAD_GROUP, NAD_VERSION, namespace, NAD_PLURAL, nad(namespace, name))


def create_pod(cluster: Cluster, namespace: str, name: str, networks: Sequence[str]) -> Any:
    annotations = {NETWORKS_ANNOTATION: ",".join(networks)} if networks else {}
    return cluster.create_pod(namespace, name, annotations=annotations)


def network_status(pod: Any) -> list[dict[str, Any]] | None:
    raw = (pod.metadata.annotations or {}).get(NETWORK_STATUS_ANNOTATION)
    if raw is None:
        return None
    status: list[dict[str, Any]] = json.loads(raw)
    return status


def pod_links(cluster: Cluster, namespace: str, name: str) -> dict[str, dict[str, Any]]:
    """{ifname: {"mac": ..., "ips": [address, ...]}} inside a pod (global scope addresses)."""
    out = {}
    for link in json.loads(cluster.pod_net(namespace, name, "ip", "-j", "addr", "show")):
        out[link["ifname"]] = {"mac": link.get("address", ""), "ips": sorted(
            a["local"] for a in link.get("addr_info", []) if a.get("scope") != "link")}
    return out


def network_status_problems(cluster: Cluster, namespace: str, name: str, networks: Sequence[str],
                            pod: Any = None) -> list[str]:
    """What is wrong with a running pod's interfaces and network-status annotation (empty: nothing).

    Wanted: eth0 on the primary network (default: true, the pod IP) and net1..netN on `networks`, in
    order; every entry's ips and mac are those of the interface inside the pod, and the pod has no other
    interface than lo and these."""
    import ipaddress

    pod = pod if pod is not None else cluster.pod(namespace, name)
    links = pod_links(cluster, namespace, name)
    problems = []
    want_ifs = ["eth0", *[f"net{i}" for i in range(1, len(networks) + 1)]]
    if sorted(links) != sorted(["lo", *want_ifs]):
        problems.append(f"interfaces inside the pod are {sorted(links)}, not {sorted(['lo', *want_ifs])}")
    status = network_status(pod)
    if status is None:
        return [*problems, f"no {NETWORK_STATUS_ANNOTATION} annotation"]
    want_names = [PRIMARY_NETWORK, *[f"{namespace}/{n}" for n in networks]]
    got = [(e.get("name"), e.get("interface"), bool(e.get("default"))) for e in status]
    want = [(n, i, i == "eth0") for n, i in zip(want_names, want_ifs, strict=True)]
    if got != want:
        problems.append(f"network-status (name, interface, default) is {got}, not {want}")
    for e in status:
        link = links.get(e.get("interface", ""))
        if link is None:
            continue
        if sorted(e.get("ips") or []) != link["ips"] or not link["ips"]:
            problems.append(f"network-status {e.get('interface')} ips {e.get('ips')} but the pod has {link['ips']}")
        if e.get("mac") != link["mac"]:
            problems.append(f"network-status {e.get('interface')} mac {e.get('mac')} but the pod has {link['mac']}")
        if e.get("interface", "").startswith("net"):
            nad_name = e["name"].split("/", 1)[-1]
            subnet = ipaddress.ip_network(NADS[nad_name][1]) if nad_name in NADS else None
            if subnet and not all(ipaddress.ip_address(ip) in subnet for ip in e.get("ips") or []):
                problems.append(f"{e['interface']} ips {e.get('ips')} are not in {subnet}")
    if status and status[0].get("ips") != [pod.status.pod_ip]:
        problems.append(f"the primary's ips {status[0].get('ips')} are not the pod IP {pod.status.pod_ip}")
    return problems


def started_since(pod: Any, when: datetime.datetime) -> bool:
    """Every container of the pod runs, started at or after `when` (a status from before is stale)."""
    statuses = pod.status.container_statuses or []
    return bool(statuses) and all(c.state.running is not None and c.state.running.started_at >= when
                                  for c in statuses)


def host_veth(cluster: Cluster, namespace: str, name: str) -> str:
    """The host-side veth of a running pod's eth0 (its peer's ifindex, looked up in the lab namespace)."""
    (eth0,) = json.loads(cluster.pod_net(namespace, name, "ip", "-j", "link", "show", "eth0"))
    peer = eth0["link_index"]
    for link in json.loads(_run("ip", "-j", "link", "show").stdout):
        if link["ifindex"] == peer:
            name_: str = link["ifname"]
            return name_
    raise ClusterError(f"no host-side veth with ifindex {peer} for {namespace}/{name}")


def sandbox_ids(cluster: Cluster, namespace: str, names: Iterable[str]) -> set[str]:
    return {s.id for n in names for s in cluster.sandboxes(namespace, n)}


# --------------------------------------------------------------------------------------------------------------
# the DaemonSet


def manifest(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d]


def with_image(ds: Mapping[str, Any], image: str) -> dict[str, Any]:
    """The DaemonSet with `image` in every container and nothing ever pulled."""
    ds = json.loads(json.dumps(ds))
    spec = ds["spec"]["template"]["spec"]
    for c in [*spec.get("initContainers", []), *spec["containers"]]:
        c["image"] = image
        c["imagePullPolicy"] = "Never"
    return ds


class Multus:
    """multus deployed on the cluster's node with deploy/'s manifests."""

    def __init__(self, cluster: Cluster, image: str) -> None:
        self.cluster = cluster
        self.image = image
        self.mode: str | None = None
        self.timings: dict[str, float] = {}
        self.namespaces: list[str] = []  # the tests' namespaces (their pods are deleted before multus)
        self.before: dict[str, set[str]] = {}  # the node's multus paths before the first install
        self.forced_deletes = 0  # daemon pods the kubelet left terminating with nothing left on the node
        from kubernetes import client

        self.apps = client.AppsV1Api(cluster.core().api_client)

    def prepare(self) -> None:
        """The CRD (established) and RBAC: what both modes share."""
        from kubernetes import client

        self.cluster.apply(DEPLOY / "crd.yaml")
        ext = client.ApiextensionsV1Api(self.cluster.core().api_client)
        _wait("the NAD CRD established", lambda: any(
            c.type == "Established" and c.status == "True"
            for c in ext.read_custom_resource_definition(f"{NAD_PLURAL}.{NAD_GROUP}").status.conditions or []), 60)
        self.cluster.apply(DEPLOY / "rbac.yaml")

    def daemon_pods(self) -> list[Any]:
        return list(self.cluster.core().list_namespaced_pod(NAMESPACE, label_selector=SELECTOR).items)

    def daemonset(self) -> Any:
        from kubernetes.client.exceptions import ApiException

        try:
            return self.apps.read_namespaced_daemon_set(DAEMONSET, NAMESPACE)
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    def install(self, mode: str, image: str | None = None, timeout: float = 180) -> float:
        """Make `mode` the node's multus (replacing the other mode's DaemonSet); wait until it serves."""
        t0 = time.monotonic()
        image = image or self.image
        if self.mode is not None and self.mode != mode or self.mode is None and self.daemonset() is not None:
            self.uninstall_daemonset()
            self.remove_config()
        docs = [d for name in MANIFESTS[mode] for d in manifest(name)]
        self.cluster.apply([with_image(d, image) if d["kind"] == "DaemonSet" else d for d in docs])
        self.mode = mode
        self.wait_ready(image, timeout)
        self.timings[f"install {mode}"] = time.monotonic() - t0
        return time.monotonic() - t0

    def ready_pod(self, image: str | None = None, started_after: datetime.datetime | None = None) -> Any:
        """The DaemonSet's pod running `image` (default: any), Ready and not being deleted."""
        for p in self.daemon_pods():
            if p.metadata.deletion_timestamp is not None or p.status.phase != "Running":
                continue
            if image is not None and any(c.image != image for c in p.spec.containers):
                continue
            if started_after is not None and not started_since(p, started_after):
                continue
            if all(c.ready for c in p.status.container_statuses or []) and p.status.container_statuses:
                return p
        return None

    def config(self) -> dict[str, Any] | None:
        """The node's multus configuration (00-multus.conf or .conflist) if present."""
        assert self.mode is not None
        path = self.cluster.node.cni_conf_dir / CONF_FILE[self.mode]
        try:
            conf: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return conf

    def config_type(self) -> str | None:
        conf = self.config()
        if conf is None:
            return None
        plugins = conf.get("plugins") or [conf]
        t = plugins[0].get("type")
        return t if isinstance(t, str) else None

    def wait_ready(self, image: str | None = None, timeout: float = 180,
                   started_after: datetime.datetime | None = None) -> Any:
        assert self.mode is not None
        want = EXECUTABLE[self.mode]

        def ready() -> Any:
            self.unstick()
            pod = self.ready_pod(image, started_after)
            if pod is not None and self.config_type() == want:
                return pod
            return None

        try:
            return _wait(f"multus {self.mode} ready", ready, timeout, interval=0.5, alive=self.cluster.dead)
        except ClusterError as e:
            raise ClusterError(f"{e}\n{self.diagnose()}") from None

    def diagnose(self) -> str:
        lines = []
        for p in self.daemon_pods():
            lines.append(f"{p.metadata.name}: {p.status.phase} {p.status.container_statuses}")
            lines += self.cluster.events(NAMESPACE, p.metadata.name)[-10:]
            with contextlib.suppress(Exception):
                log = self.cluster.core().read_namespaced_pod_log(p.metadata.name, NAMESPACE, container="kube-multus",
                                                                   tail_lines=30)
                lines.append(log)
        lines.append(f"conf dir: {sorted(os.listdir(self.cluster.node.cni_conf_dir))}")
        return "\n".join(lines)

    def roll(self, image: str) -> None:
        """Patch the DaemonSet's image (every container, a JSON patch): the controller rolls its pod."""
        spec = self.daemonset().spec.template.spec
        ops = [{"op": "replace", "path": f"/spec/template/spec/{kind}/{i}/image", "value": image}
               for kind, containers in (("initContainers", spec.init_containers or []),
                                        ("containers", spec.containers))
               for i in range(len(containers))]
        self.apps.patch_namespaced_daemon_set(DAEMONSET, NAMESPACE, ops)

    def rolled(self, image: str) -> bool:
        self.unstick()
        ds = self.daemonset()
        st = ds.status
        return bool(st.observed_generation == ds.metadata.generation and st.updated_number_scheduled == 1
                    and st.number_available == 1 and self.ready_pod(image) is not None
                    and len(self.daemon_pods()) == 1)

    def uninstall_daemonset(self, timeout: float = 240) -> None:
        """Delete the DaemonSet and wait until its pod is gone (it removes what it wrote on SIGTERM)."""
        from kubernetes.client.exceptions import ApiException

        with contextlib.suppress(ApiException):
            self.apps.delete_namespaced_daemon_set(DAEMONSET, NAMESPACE, propagation_policy="Foreground")

        def gone() -> bool:
            self.unstick()
            ds, pods = self.daemonset(), self.daemon_pods()
            if ds is None and not pods:
                return True
            # not yet: say what is left (shown as the last error when the wait times out)
            left = [(p.metadata.name, p.status.phase, p.metadata.deletion_timestamp is not None,
                     [(c.name, c.state.to_dict()) for c in (p.status.container_statuses or [])]) for p in pods]
            fin = ds.metadata.finalizers if ds is not None else None
            raise RuntimeError(f"DaemonSet {'still there, finalizers ' + str(fin) if ds is not None else 'gone'}; "
                               f"pods {left}; sandboxes ready "
                               f"{[p[0] for p in left if self.cluster.sandboxes(NAMESPACE, p[0], ready_only=True)]}")

        _wait("the multus DaemonSet and its pod deleted", gone, timeout, interval=0.5, alive=self.cluster.dead)
        self.mode = None

    def unstick(self) -> None:
        """Force the deletion of daemon pods stuck terminating (see :meth:`_stuck_terminating`)."""
        from kubernetes.client.exceptions import ApiException

        for p in self.daemon_pods():
            if self._stuck_terminating(p):
                with contextlib.suppress(ApiException):
                    self.cluster.core().delete_namespaced_pod(p.metadata.name, NAMESPACE, grace_period_seconds=0)
                self.forced_deletes += 1

    def _stuck_terminating(self, pod: Any) -> bool:
        """Kubelet 1.20 sometimes never removes the object of a pod whose containers and sandbox are all gone
        (its status manager waits on a kill that found nothing to kill): then, and only then, force it."""
        meta = pod.metadata
        if meta.deletion_timestamp is None:
            return False
        overdue = datetime.datetime.now(datetime.UTC) - meta.deletion_timestamp > datetime.timedelta(seconds=15)
        statuses = [*(pod.status.init_container_statuses or []), *(pod.status.container_statuses or [])]
        return bool(overdue and statuses and all(c.state.terminated is not None for c in statuses)
                    and not self.cluster.sandboxes(NAMESPACE, meta.name, ready_only=True))

    def remove_config(self) -> None:
        """The step docs/deploy.md asks for after a DaemonSet is gone: a stopping multus pod keeps the
        config it wrote (so that a rolling upgrade never leaves the runtime on the primary alone)."""
        for name in CONF_FILE.values():
            (self.cluster.node.cni_conf_dir / name).unlink(missing_ok=True)
        (self.cluster.node.cni_conf_dir / "multus.d" / "multus.kubeconfig").unlink(missing_ok=True)

    def uninstall(self) -> None:
        """What docs/deploy.md says: delete the DaemonSet, 00-multus.conf, the daemon's ConfigMap and the RBAC."""
        from kubernetes.client.exceptions import ApiException

        self.uninstall_daemonset()
        self.remove_config()
        from kubernetes import client

        core = self.cluster.core()
        rbac = client.RbacAuthorizationV1Api(core.api_client)
        for call in (lambda: core.delete_namespaced_config_map("multus-daemon-config", NAMESPACE),
                     lambda: core.delete_namespaced_service_account("multus", NAMESPACE),
                     lambda: rbac.delete_cluster_role_binding("multus"),
                     lambda: rbac.delete_cluster_role("multus")):
            with contextlib.suppress(ApiException):
                call()


# --------------------------------------------------------------------------------------------------------------
# watching pods


class PodWatch:
    """Watch a namespace's pods in a thread; on every Running+Ready update, look inside the pod at once.

    `check(pod)` returns problems (strings), or None for an update it does not judge; the problems are
    kept in :attr:`problems` with the pod's name, the number of judged updates per pod in :attr:`checked`.
    """

    def __init__(self, cluster: Cluster, namespace: str, check: Any) -> None:
        self.cluster, self.namespace, self.check = cluster, namespace, check
        self.problems: list[str] = []
        self.checked: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pod-watch", daemon=True)
        self._api: Any = None
        self.errors: list[str] = []

    def __enter__(self) -> Self:
        from kubernetes import client

        self._api = client.CoreV1Api(self.cluster.api_client())
        self._rv = self._api.list_namespaced_pod(self.namespace).metadata.resource_version
        self._thread.start()
        return self

    def _run(self) -> None:
        from kubernetes import watch

        rv = self._rv
        while not self._stop.is_set():
            w = watch.Watch()
            try:
                for ev in w.stream(self._api.list_namespaced_pod, self.namespace, resource_version=rv,
                                   timeout_seconds=5, _request_timeout=10):
                    pod = ev["object"]
                    rv = pod.metadata.resource_version
                    if self._stop.is_set():
                        break
                    statuses = pod.status.container_statuses or []
                    if ev["type"] != "DELETED" and pod.status.phase == "Running" and statuses and all(
                            c.ready for c in statuses):
                        try:
                            problems = self.check(pod)
                        except Exception as e:  # noqa: BLE001  (recorded, not raised in the thread)
                            problems = [f"could not look inside: {e}"]
                        if problems is None:
                            continue
                        self.checked[pod.metadata.name] = self.checked.get(pod.metadata.name, 0) + 1
                        self.problems += [f"{pod.metadata.name}: {p}" for p in problems]
            except Exception as e:  # noqa: BLE001  (the watch is re-opened)
                self.errors.append(str(e))
                time.sleep(0.2)
            finally:
                w.stop()

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(20)
        self._api.api_client.close()


@contextlib.contextmanager
def creating_pods(cluster: Cluster, namespace: str, networks: Sequence[str], interval: float) -> Iterator[list[str]]:
    """Create a pod every `interval` seconds in a thread while the block runs; yields the names so far."""
    names: list[str] = []
    stop = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        while not stop.is_set():
            name = f"during-{len(names)}"
            try:
                create_pod(cluster, namespace, name, networks)
            except BaseException as e:  # noqa: BLE001  (re-raised below)
                errors.append(e)
                return
            names.append(name)
            stop.wait(interval)

    t = threading.Thread(target=run, name="pod-creator", daemon=True)
    t.start()
    try:
        yield names
    finally:
        stop.set()
        t.join(30)
    if errors:
        raise errors[0]


__all__ = [
    "CONF_FILE", "EXECUTABLE", "MACVLAN_MASTERS", "NADS", "NAMESPACE", "NETWORK_STATUS_ANNOTATION", "Multus",
    "PodWatch", "build_image", "cni_files", "create_nads", "create_pod", "creating_pods", "host_veth", "image_unavailable_reason",
    "leases", "network_status", "network_status_problems", "node_snapshot", "sandbox_ids", "setup_macvlan_masters", "started_since",
    "tag_image", "teardown_macvlan_masters", "veths",
]
