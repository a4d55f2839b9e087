"""A real one-node Kubernetes cluster inside a lab network namespace.

etcd, kube-apiserver, kube-scheduler and kube-controller-manager (built from Debian's `kubernetes` source
package by ``kube-apiserver.sh build-node``) plus a kubelet on containerd's CRI. No kube-proxy: the
``kubernetes`` service address is put on the lab's loopback and the apiserver listens on its port.

Everything runs in the *current* network namespace, which must be a lab namespace (never the machine's).
The node processes (containerd, kubelet and every container) run in a private mount namespace, the
"node", in which scratch directories stand in for the node's disk and its /run:

    node path        backed by
    /run             a tmpfs (fresh at every boot; pod netns, /run/multus, containerd's state and socket)
    /var/lib         <scratch>/var-lib   (kubelet root, containerd's images, CNI leases and caches)
    /var/log         <scratch>/var-log   (pod logs)
    /etc/cni         <scratch>/etc-cni   (the node's CNI conf dir /etc/cni/net.d)
    /opt             <scratch>/opt       (the node's CNI bin dir /opt/cni/bin)

so DaemonSets with the usual hostPath volumes apply unchanged, and nothing they write reaches the
machine's own /etc/cni/net.d, /opt/cni/bin, /var/lib/kubelet or /run. The mounts exist only in the
node's mount namespace: they go away with its last process. From the test process, the node's files are
read under the scratch dir (:meth:`Node.host_path`) or ``/proc/<node>/root``.

    c = Cluster().start()                 # control plane + node; writes the primary network conflist
    c.import_image(tar)                   # an OCI/docker archive, as `ctr -n k8s.io images import`
    api = c.api_client()
    ...
    c.node.crash(); c.node.boot()         # kill -9 every node process, then a fresh /run, containerd, kubelet
    c.stop()
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

from runtimes import (
    BUSYBOX,
    CNI_PLUGIN_DIR,
    SANDBOX_IMAGE,
    Containerd,
    CriClient,
    CriError,
    _kill_pids,
    _remove_cgroup_tree,
    _runc_delete_all,
    _toml_set,
    bridge_conflist,
    ensure_cgroupfs,
    in_root_netns,
    make_pause_image_tar,
)

CACHE_DIR = Path(os.environ.get("KUBE_CACHE_DIR", "/opt/kube-test"))
BIN_DIR = CACHE_DIR / "bin"
CONTROL_BINARIES = ("kube-apiserver", "kube-scheduler", "kube-controller-manager", "kubelet")
HARNESS_SCRIPT = Path(__file__).resolve().parent / "kube-apiserver.sh"

NODE_NAME = "lab-node"
NODE_IP = "10.251.0.1"  # on a veth end in the lab namespace: a node needs a non-loopback address
NODE_LINK, NODE_PEER = "cl-node0", "cl-node1"
SERVICE_CIDR = "10.252.0.0/24"
KUBERNETES_SERVICE_IP = "10.252.0.1"  # the first address of SERVICE_CIDR
APISERVER_PORT = 443  # the kubernetes service's port: pods reach the apiserver without a proxy
POD_CIDR = "10.253.0.0/24"
PRIMARY_NETWORK = "cluster"
PRIMARY_BRIDGE = "cni0"
PRIMARY_CONF = "10-cluster.conflist"
BUSYBOX_IMAGE = "multus-harness.local/busybox:1"
SNAPSHOTTER = "overlayfs"

# node path -> scratch subdir (None: a tmpfs)
NODE_MOUNTS: dict[str, str | None] = {
    "/run": None,
    "/var/lib": "var-lib",
    "/var/log": "var-log",
    "/etc/cni": "etc-cni",
    "/opt": "opt",
}


class ClusterError(RuntimeError):
    """The cluster could not be started or did not reach the wanted state."""


def cluster_unavailable_reason() -> str | None:
    """Why a one-node cluster cannot run here (None: it can). Side-effect free."""
    if os.geteuid() != 0:
        return "a kubelet needs root"
    if in_root_netns():
        return "the cluster runs only inside a lab network namespace (run pytest with --multus-lab)"
    missing = [b for b in ("etcd", "openssl", "containerd", "ctr", "runc", "unshare", "nsenter", "ip")
               if shutil.which(b) is None]
    if missing:
        return f"missing {', '.join(missing)} (scripts/setup.sh installs them)"
    unbuilt = [b for b in CONTROL_BINARIES if not os.access(BIN_DIR / b, os.X_OK)]
    if unbuilt:
        return f"{', '.join(unbuilt)} not built: run `bash {HARNESS_SCRIPT} build-node` (scripts/setup.sh does)"
    cg = Path("/sys/fs/cgroup")
    if not (cg / "cgroup.controllers").exists():  # cgroup v1 (or hybrid): the kubelet needs these hierarchies
        absent = [c for c in ("cpu", "cpuacct", "cpuset", "memory", "pids", "devices", "freezer")
                  if not (cg / c).is_dir()]
        if absent:
            return f"cgroup v1 without the {', '.join(absent)} hierarch(y/ies) a kubelet needs"
    if not _is_static(BUSYBOX):
        return f"{BUSYBOX} is not a static busybox (Debian package busybox-static)"
    for plugin in ("bridge", "host-local", "loopback", "macvlan"):
        if not os.access(CNI_PLUGIN_DIR / plugin, os.X_OK):
            return f"CNI plugin {CNI_PLUGIN_DIR / plugin} missing (containernetworking-plugins)"
    return None


def _is_static(path: Path) -> bool:
    from runtimes import _is_static_elf

    return _is_static_elf(path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _run(*cmd: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL)
    if check and r.returncode:
        raise ClusterError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip() or r.stdout.strip()}")
    return r


def _wait(what: str, ready: Callable[[], Any], timeout: float, interval: float = 0.25,
          alive: Callable[[], str | None] | None = None) -> Any:
    """Poll `ready()` until it returns something truthy; `alive()` returns a reason to give up early."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        try:
            got = ready()
            if got:
                return got
        except Exception as e:  # noqa: BLE001  (not ready yet, whatever the reason)
            last = e
        if alive is not None and (why := alive()):
            raise ClusterError(f"{what}: {why}")
        if time.monotonic() > deadline:
            raise ClusterError(f"{what}: not within {timeout:.0f} s" + (f" (last error: {last})" if last else ""))
        time.sleep(interval)


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no {path.name})"


class _Proc:
    """A long-running child with its output in a log file."""

    def __init__(self, name: str, argv: Sequence[str], log: Path, env: Mapping[str, str] | None = None) -> None:
        self.name, self.argv, self.log = name, list(argv), log
        with open(log, "ab") as f:
            self.popen = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                start_new_session=True, env=dict(env) if env is not None else None,
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def dead(self) -> str | None:
        rc = self.popen.poll()
        if rc is None:
            return None
        errors = [line for line in _tail(self.log, 400).splitlines() if line.startswith(("Error:", "F", "E"))]
        return f"{self.name} exited with {rc}:\n" + "\n".join(errors[-5:] or [_tail(self.log)])

    def stop(self, grace: float = 10) -> None:
        if self.popen.poll() is not None:
            return
        if grace <= 0:
            self.popen.kill()
        else:
            self.popen.terminate()
            try:
                self.popen.wait(grace)
                return
            except subprocess.TimeoutExpired:
                self.popen.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(10)


# --------------------------------------------------------------------------------------------------------------
# control plane


class ControlPlane:
    """etcd, kube-apiserver, kube-scheduler, kube-controller-manager; TLS, an admin token, service accounts."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.pki = directory / "pki"
        self.kubeconfig = directory / "admin.kubeconfig"
        self.url = f"https://{KUBERNETES_SERVICE_IP}:{APISERVER_PORT}"
        self.token = ""
        self.procs: dict[str, _Proc] = {}
        self.timings: dict[str, float] = {}

    def _certs(self) -> None:
        d = self.pki
        d.mkdir(parents=True, exist_ok=True)
        sans = ",".join([
            "IP:127.0.0.1", f"IP:{KUBERNETES_SERVICE_IP}", f"IP:{NODE_IP}", "DNS:localhost", "DNS:kubernetes",
            "DNS:kubernetes.default", "DNS:kubernetes.default.svc", "DNS:kubernetes.default.svc.cluster.local",
        ])
        (d / "ext.cnf").write_text(f"subjectAltName={sans}\nextendedKeyUsage=serverAuth\n")
        for cmd in (
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "3650",
             "-subj", "/CN=multus-lab-cluster-ca"],
            ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "apiserver.key", "-out", "apiserver.csr",
             "-subj", "/CN=kube-apiserver"],
            ["x509", "-req", "-in", "apiserver.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "apiserver.crt", "-days", "3650", "-extfile", "ext.cnf"],
            ["genrsa", "-out", "sa.key", "2048"],
            ["rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"],
        ):
            r = subprocess.run(["openssl", *cmd], cwd=d, capture_output=True, text=True, check=False)
            if r.returncode:
                raise ClusterError(f"openssl {cmd[0]} failed: {r.stderr.strip()}")
        for key in d.glob("*.key"):
            key.chmod(0o600)
        self.token = os.urandom(24).hex()
        tokens = self.dir / "tokens.csv"
        tokens.write_text(f'{self.token},admin,admin-uid,"system:masters"\n')
        tokens.chmod(0o600)
        ca = (d / "ca.crt").read_bytes()
        import base64

        self.kubeconfig.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "lab",
            "clusters": [{"name": "lab", "cluster": {
                "server": self.url, "certificate-authority-data": base64.b64encode(ca).decode()}}],
            "users": [{"name": "admin", "user": {"token": self.token}}],
            "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": "admin", "namespace": "default"}}],
        }, indent=1))
        self.kubeconfig.chmod(0o600)

    def start(self) -> Self:
        t0 = time.monotonic()
        self.dir.mkdir(parents=True, exist_ok=True)
        self._certs()
        ep, epp = _free_port(), _free_port()
        self.procs["etcd"] = _Proc("etcd", [
            "etcd", "--name", "lab", "--data-dir", str(self.dir / "etcd-data"),
            "--listen-client-urls", f"http://127.0.0.1:{ep}", "--advertise-client-urls", f"http://127.0.0.1:{ep}",
            "--listen-peer-urls", f"http://127.0.0.1:{epp}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{epp}",
            "--initial-cluster", f"lab=http://127.0.0.1:{epp}", "--listen-metrics-urls", "",
            "--unsafe-no-fsync", "--quota-backend-bytes", str(1 << 30),
        ], self.dir / "etcd.log")
        pki = self.pki
        self.procs["kube-apiserver"] = _Proc("kube-apiserver", [
            str(BIN_DIR / "kube-apiserver"),
            "--etcd-servers", f"http://127.0.0.1:{ep}",
            # the lab namespace only: every other process here is ours
            "--bind-address", "0.0.0.0", "--secure-port", str(APISERVER_PORT), "--insecure-port", "0",
            "--advertise-address", NODE_IP,
            "--tls-cert-file", str(pki / "apiserver.crt"), "--tls-private-key-file", str(pki / "apiserver.key"),
            "--client-ca-file", str(pki / "ca.crt"),
            "--token-auth-file", str(self.dir / "tokens.csv"),
            "--authorization-mode", "RBAC",
            "--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
            "--service-account-key-file", str(pki / "sa.pub"),
            "--service-account-signing-key-file", str(pki / "sa.key"),
            "--service-cluster-ip-range", SERVICE_CIDR,
            "--allow-privileged=true",
            "--kubelet-preferred-address-types", "InternalIP",
            "--cert-dir", str(self.dir / "certs"),
            "--profiling=false",
        ], self.dir / "kube-apiserver.log")
        _wait("kube-apiserver /readyz", lambda: self.get("/readyz") == "ok", 180, alive=self.dead)
        self.timings["apiserver"] = time.monotonic() - t0
        kc = str(self.kubeconfig)
        common = ["--kubeconfig", kc, "--authentication-kubeconfig", kc, "--authorization-kubeconfig", kc,
                  "--leader-elect=false", "--port=0", "--bind-address", "127.0.0.1", "--profiling=false"]
        self.procs["kube-scheduler"] = _Proc("kube-scheduler", [
            str(BIN_DIR / "kube-scheduler"), *common, "--secure-port", str(_free_port()),
        ], self.dir / "kube-scheduler.log")
        self.procs["kube-controller-manager"] = _Proc("kube-controller-manager", [
            str(BIN_DIR / "kube-controller-manager"), *common, "--secure-port", str(_free_port()),
            "--service-account-private-key-file", str(pki / "sa.key"),
            "--root-ca-file", str(pki / "ca.crt"),
            "--cluster-signing-cert-file", str(pki / "ca.crt"), "--cluster-signing-key-file", str(pki / "ca.key"),
            "--use-service-account-credentials=false",
            "--controllers", "*,-bootstrapsigner,-tokencleaner,-cloud-node-lifecycle",
            "--node-monitor-period", "2s", "--node-monitor-grace-period", "20s",
        ], self.dir / "kube-controller-manager.log")
        return self

    def dead(self) -> str | None:
        for p in self.procs.values():
            if why := p.dead():
                return why
        return None

    def get(self, path: str, timeout: float = 5) -> str:
        ctx = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ctx))
        req = urllib.request.Request(self.url + path, headers={"Authorization": f"Bearer {self.token}"})
        with opener.open(req, timeout=timeout) as resp:
            body: bytes = resp.read()
        return body.decode()

    def stop(self) -> None:
        # the apiserver first (its watchers then stop retrying), etcd last
        for name in ("kube-controller-manager", "kube-scheduler", "kube-apiserver", "etcd"):
            if name in self.procs:
                self.procs[name].stop(grace=0 if name != "etcd" else 5)


# --------------------------------------------------------------------------------------------------------------
# the node


def _mnt_ns(pid: int | str) -> tuple[int, int] | None:
    try:
        st = os.stat(f"/proc/{pid}/ns/mnt")
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _mount_points(pid: int) -> list[str]:
    """The mount points of a process's mount namespace (mountinfo's fifth field, octal escapes decoded)."""
    out = []
    for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
        fields = line.split()
        if len(fields) > 4:
            out.append(fields[4].encode().decode("unicode_escape"))
    return out


class Node:
    """containerd + kubelet in a private mount namespace whose /run, /var/lib, /var/log, /etc/cni, /opt are scratch."""

    def __init__(self, scratch: Path, control: ControlPlane) -> None:
        self.scratch = scratch
        self.control = control
        self.cgroup_root = f"/multus-cluster-{hashlib.sha1(str(scratch).encode()).hexdigest()[:10]}"
        self.bin = scratch / "bin"  # the kube binaries, reachable in the node's mount namespace
        self.holder: subprocess.Popen[bytes] | None = None
        self.containerd: _Proc | None = None
        self.kubelet: _Proc | None = None
        self.cri_client: CriClient | None = None
        self.boots = 0
        self.timings: dict[str, float] = {}
        self.cleanup_errors: list[str] = []
        self.primary = bridge_conflist(PRIMARY_NETWORK, POD_CIDR, "/var/lib/cni/networks", bridge=PRIMARY_BRIDGE)

    # -- paths
    def host_path(self, node_path: str) -> Path:
        """Where the test process finds a node path (below /run: through the node's mount namespace)."""
        for mount, sub in sorted(NODE_MOUNTS.items(), key=lambda kv: -len(kv[0])):
            if node_path == mount or node_path.startswith(mount + "/"):
                rest = node_path[len(mount):].lstrip("/")
                if sub is None:
                    if self.holder is None:
                        raise ClusterError("the node is not running")
                    return Path(f"/proc/{self.holder.pid}/root{mount}") / rest
                return self.scratch / sub / rest
        raise ValueError(f"{node_path} is not a node-private path")

    @property
    def socket(self) -> Path:
        return self.host_path("/run/containerd/containerd.sock")

    @property
    def cni_conf_dir(self) -> Path:
        return self.host_path("/etc/cni/net.d")

    @property
    def cni_bin_dir(self) -> Path:
        return self.host_path("/opt/cni/bin")

    def log(self, name: str) -> Path:
        return self.scratch / f"{name}.log"

    # -- the mount namespace
    def nsenter(self, *argv: str) -> list[str]:
        assert self.holder is not None
        return ["nsenter", f"--mount=/proc/{self.holder.pid}/ns/mnt", "--", *argv]

    def _make_mount_ns(self) -> None:
        self.holder = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "--", "sleep", "2147483647"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        _wait("node mount namespace", lambda: _mnt_ns(self.holder.pid) != _mnt_ns("self"), 10,  # type: ignore[union-attr]
              alive=lambda: None if self.holder.poll() is None else "unshare exited")  # type: ignore[union-attr]
        # the machine's mounts below the node's dirs (the lab's /run/netns, say) are copies in this private
        # namespace: unmount them here (nothing propagates back), or a container runtime looking up the
        # mount of /run/netns would find the machine's, hidden under the node's /run
        below = [m for m in _mount_points(self.holder.pid)
                 if any(m.startswith(top + "/") for top in NODE_MOUNTS)]
        for m in sorted(below, key=len, reverse=True):
            _run(*self.nsenter("umount", "-l", m), check=False)
        for mount, sub in NODE_MOUNTS.items():
            if sub is None:
                _run(*self.nsenter("mount", "-t", "tmpfs", "-o", "mode=0755,size=256m", "node-run", mount))
            else:
                src = self.scratch / sub
                src.mkdir(parents=True, exist_ok=True)
                _run(*self.nsenter("mount", "--bind", str(src), mount))
            # shared: containers' HostToContainer/Bidirectional volumes below it see (and make) new mounts
            _run(*self.nsenter("mount", "--make-shared", mount))
        # and the node's / itself (a hostPath "/" with HostToContainer propagation, as the thick daemon's
        # /hostroot, needs a shared or slave mount): a peer group of this namespace only, which was made
        # private from the machine's above
        _run(*self.nsenter("mount", "--make-shared", "/"))

    def _populate(self) -> None:
        """The node's disk: CNI plugins in /opt/cni/bin, the kube binaries, dirs the kubelet expects."""
        bin_dir = self.scratch / "opt" / "cni" / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        for plugin in sorted(CNI_PLUGIN_DIR.iterdir()):
            _link_or_copy(plugin, bin_dir / plugin.name)
        self.bin.mkdir(parents=True, exist_ok=True)
        for name in ("kubelet",):
            _link_or_copy(BIN_DIR / name, self.bin / name)
        for sub in ("etc-cni/net.d", "var-lib/kubelet", "var-lib/cni/networks", "var-log/pods", "var-log/containers"):
            (self.scratch / sub).mkdir(parents=True, exist_ok=True)
        self._make_cgroups()

    def _make_cgroups(self) -> None:
        """The kubelet's --cgroup-root in every hierarchy (at every boot: a crash removes them, as a reboot)."""
        for hierarchy in Path("/sys/fs/cgroup").iterdir():
            if hierarchy.is_dir() and not hierarchy.is_symlink():
                with contextlib.suppress(OSError):
                    (hierarchy / self.cgroup_root.lstrip("/")).mkdir(exist_ok=True)

    def write_primary_network(self) -> Path:
        """The primary network as a cluster network plugin installs it: bridge + host-local in /etc/cni/net.d."""
        target = self.cni_conf_dir / PRIMARY_CONF
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.primary, indent=2))
        tmp.rename(target)
        return target

    def _containerd_config(self) -> Path:
        cfg = Containerd(self.scratch, "/opt/cni/bin", "/etc/cni/net.d")
        (self.scratch / "containerd").mkdir(exist_ok=True)
        cfg.root = Path("/var/lib/containerd")
        cfg.state = Path("/run/containerd")
        cfg.socket = Path("/run/containerd/containerd.sock")
        cfg.runc_root = Path("/run/containerd/runc")
        cfg.dir = Path("/var/lib/containerd-opt")
        cfg.config_path = self.scratch / "containerd.toml"
        path = cfg.write_config()
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        text = path.read_text()
        # pod netns in /run/netns, where a node's (and the multus daemon's hostPath) tools look for them
        text = _toml_set(text, cri, "netns_mounts_under_state_dir", "false")
        # overlayfs, not native: a container of the multus image (hundreds of MB) would otherwise be a full
        # copy of it, at every container start
        text = _toml_set(text, f"{cri}.containerd", "snapshotter", json.dumps(SNAPSHOTTER))
        text = text.replace(', "io.containerd.snapshotter.v1.overlayfs"', "").replace(
            '"io.containerd.snapshotter.v1.overlayfs", ', "")
        path.write_text(text)
        return path

    def _cri(self) -> CriClient:
        if self.cri_client is None:
            self.cri_client = CriClient(self.socket, timeout=60)
        return self.cri_client

    def start_containerd(self) -> None:
        t0 = time.monotonic()
        cfg = self._containerd_config()
        self.containerd = _Proc("containerd", self.nsenter("containerd", "--config", str(cfg)), self.log("containerd"))
        _wait("containerd CRI", lambda: self.socket.exists() and self._cri().version(timeout=2), 60,
              alive=self.containerd.dead)
        self.timings["containerd"] = time.monotonic() - t0

    def start_kubelet(self) -> None:
        kubelet_dir = "/var/lib/kubelet"
        self.kubelet = _Proc("kubelet", self.nsenter(
            str(self.bin / "kubelet"),
            "--kubeconfig", str(self.control.kubeconfig),
            "--container-runtime=remote",
            "--container-runtime-endpoint", "unix:///run/containerd/containerd.sock",
            "--runtime-request-timeout", "5m",
            "--root-dir", kubelet_dir, "--cert-dir", f"{kubelet_dir}/pki",
            "--volume-plugin-dir", f"{kubelet_dir}/volumeplugins",
            "--hostname-override", NODE_NAME, "--node-ip", NODE_IP,
            # cgroup v1, cgroupfs (containerd's runc default); the pods' QoS cgroups below a root of ours
            "--cgroup-driver", "cgroupfs", "--cgroup-root", self.cgroup_root,
            "--cgroups-per-qos=true", "--enforce-node-allocatable", "",
            "--fail-swap-on=false",
            "--read-only-port=0", "--healthz-bind-address", "127.0.0.1",
            "--authentication-token-webhook=false", "--authorization-mode", "AlwaysAllow",
            # nothing can be pulled: never garbage-collect the imported images
            "--image-gc-high-threshold", "100", "--image-gc-low-threshold", "99",
            "--eviction-hard", "memory.available<100Mi,nodefs.available<1%,imagefs.available<1%",
            "--pod-infra-container-image", SANDBOX_IMAGE,
            "--make-iptables-util-chains=false",
            "--node-status-update-frequency", "4s",
            "--sync-frequency", "10s",
            "--serialize-image-pulls=false",
            "--logtostderr", "--v", "2",
        ), self.log("kubelet"))

    def dead(self) -> str | None:
        for p in (self.containerd, self.kubelet):
            if p is not None and (why := p.dead()):
                return why
        return None

    def boot(self) -> Self:
        """Bring the node up: a fresh /run (as at boot), containerd with the images, kubelet."""
        t0 = time.monotonic()
        if self.holder is None:
            ensure_cgroupfs()
            self._populate()
            self._make_mount_ns()
        else:  # a reboot: /run is a fresh tmpfs
            _run(*self.nsenter("umount", "-R", "/run"))
            _run(*self.nsenter("mount", "-t", "tmpfs", "-o", "mode=0755,size=256m", "node-run", "/run"))
            _run(*self.nsenter("mount", "--make-shared", "/run"))
            self._make_cgroups()
        self.start_containerd()
        if self.boots == 0:
            self.import_image(make_pause_image_tar(self.scratch / "pause.tar", SANDBOX_IMAGE))
            self.import_image(make_pause_image_tar(self.scratch / "busybox.tar", BUSYBOX_IMAGE))
        self.start_kubelet()
        self.boots += 1
        self.timings["boot"] = time.monotonic() - t0
        return self

    def import_image(self, tar: Path | str) -> str:
        """`ctr -n k8s.io images import` of an OCI or docker archive (the node's images are never pulled)."""
        r = _run("ctr", "--address", str(self.socket), "--namespace", "k8s.io", "images", "import",
                 "--snapshotter", SNAPSHOTTER, "--all-platforms", str(tar), timeout=600)
        return r.stdout

    def images(self) -> list[str]:
        r = _run("ctr", "--address", str(self.socket), "--namespace", "k8s.io", "images", "list", "-q")
        return r.stdout.split()

    # -- processes of the node
    def node_pids(self) -> list[int]:
        """Every process in the node's mount namespace but its holder (containerd, kubelet, shims, containers)."""
        if self.holder is None:
            return []
        ns = _mnt_ns(self.holder.pid)
        return [int(p) for p in os.listdir("/proc")
                if p.isdigit() and int(p) != self.holder.pid and _mnt_ns(p) == ns]

    def container_pids(self) -> list[int]:
        """Processes of the node in a mount namespace of their own: its containers (pods' processes)."""
        out = []
        cg = self.cgroup_root.lstrip("/")
        for p in os.listdir("/proc"):
            if not p.isdigit():
                continue
            with contextlib.suppress(OSError):
                if f":{'/' + cg}" in Path(f"/proc/{p}/cgroup").read_text():
                    out.append(int(p))
        return out

    def crash(self) -> None:
        """What a power cut leaves: kill -9 kubelet, containerd, every shim and every container; nothing cleaned."""
        if self.cri_client is not None:
            self.cri_client.close()
            self.cri_client = None
        for _ in range(3):  # shims may re-parent containers while we kill
            pids = set(self.node_pids()) | set(self.container_pids())
            if not pids:
                break
            _kill_pids(pids)
        for p in (self.kubelet, self.containerd):
            if p is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.popen.wait(10)
        self.kubelet = self.containerd = None
        # a reboot loses the runc state (tmpfs) and the cgroups: make that true here too
        self._remove_cgroups()

    def _remove_cgroups(self) -> bool:
        return _remove_cgroup_tree(self.cgroup_root)

    def stop(self) -> list[str]:
        """Remove every pod (CNI DEL), stop kubelet and containerd, end the mount namespace, remove cgroups."""
        errors: list[str] = []
        if self.kubelet is not None:
            self.kubelet.stop(grace=5)
        if self.containerd is not None and self.containerd.dead() is None:
            try:
                errors += self._cri().remove_all()
            except (CriError, OSError) as e:
                errors.append(f"removing pods: {e}")
            if self.cri_client is not None:
                self.cri_client.close()
                self.cri_client = None
            self.containerd.stop(grace=10)
        if self.holder is not None:
            with contextlib.suppress(OSError):
                gone = _runc_delete_all(str(self.host_path("/run/containerd/runc/k8s.io")))
                if gone:
                    errors.append(f"force-deleted {len(gone)} container(s)")
            left = set(self.node_pids()) | set(self.container_pids())
            if left:
                errors.append(f"killed {len(left)} leftover node process(es)")
                _kill_pids(left)
            self.holder.kill()
            self.holder.wait(10)
            self.holder = None
        if self._remove_cgroups():
            errors.append(f"removed leftover cgroups below {self.cgroup_root}")
        self.cleanup_errors = errors
        return errors


def _link_or_copy(src: Path, dst: Path) -> None:
    if dst.exists():
        return
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _setup_node_network() -> None:
    """The node's address (a veth end in the lab namespace) and the kubernetes service address (on lo)."""
    if in_root_netns():
        raise ClusterError("refusing to configure the machine's root network namespace")
    _run("ip", "link", "set", "lo", "up")
    if _run("ip", "link", "show", NODE_LINK, check=False).returncode:
        _run("ip", "link", "add", NODE_LINK, "type", "veth", "peer", "name", NODE_PEER)
    _run("ip", "addr", "replace", f"{NODE_IP}/24", "dev", NODE_LINK)
    _run("ip", "addr", "replace", f"{KUBERNETES_SERVICE_IP}/32", "dev", "lo")
    for link in (NODE_LINK, NODE_PEER):
        _run("ip", "link", "set", link, "up")


def _teardown_node_network() -> None:
    if in_root_netns():
        return
    _run("ip", "link", "del", NODE_LINK, check=False)
    _run("ip", "addr", "del", f"{KUBERNETES_SERVICE_IP}/32", "dev", "lo", check=False)


# --------------------------------------------------------------------------------------------------------------
# the cluster


class Cluster:
    """A one-node cluster in the current (lab) network namespace."""

    def __init__(self, scratch: Path | str | None = None) -> None:
        self._own_scratch = scratch is None
        self.scratch = Path(scratch) if scratch is not None else Path(tempfile.mkdtemp(prefix="mc-", dir="/tmp"))
        self.control = ControlPlane(self.scratch / "control")
        self.node = Node(self.scratch / "node", self.control)
        self.timings: dict[str, float] = {}
        self._core: Any = None

    def start(self, *, primary_network: bool = True, ready_timeout: float = 180) -> Self:
        reason = cluster_unavailable_reason()
        if reason:
            raise ClusterError(reason)
        t0 = time.monotonic()
        try:
            _setup_node_network()
            self.control.start()
            self.node.scratch.mkdir(parents=True, exist_ok=True)
            self.node.boot()
            if primary_network:
                self.node.write_primary_network()
            self.wait_node_ready(ready_timeout)
            _wait("the default service account", lambda: self._default_sa(), ready_timeout,
                  alive=self.dead)
        except BaseException:
            self.stop()
            raise
        self.timings["start"] = time.monotonic() - t0
        return self

    def dead(self) -> str | None:
        return self.control.dead() or self.node.dead()

    def _default_sa(self) -> bool:
        sa = json.loads(self.control.get("/api/v1/namespaces/default/serviceaccounts/default"))
        return bool(sa.get("secrets"))

    def node_conditions(self) -> dict[str, str]:
        node = json.loads(self.control.get(f"/api/v1/nodes/{NODE_NAME}"))
        return {c["type"]: c["status"] for c in node.get("status", {}).get("conditions", [])}

    def wait_node_ready(self, timeout: float = 180) -> float:
        t0 = time.monotonic()
        _wait(f"node {NODE_NAME} Ready", lambda: self.node_conditions().get("Ready") == "True", timeout,
              interval=0.5, alive=self.dead)
        return time.monotonic() - t0

    def api_client(self) -> Any:
        from kubernetes import client, config

        cfg = client.Configuration()
        config.load_kube_config(config_file=str(self.control.kubeconfig), client_configuration=cfg)
        cfg.proxy = None
        return client.ApiClient(cfg)

    def apply(self, docs: Iterable[Mapping[str, Any]] | Path | str, namespace: str | None = None) -> list[Any]:
        """Create (or replace) every object of a manifest (a YAML file or parsed documents)."""
        import yaml
        from kubernetes import utils

        if isinstance(docs, (Path, str)):
            docs = [d for d in yaml.safe_load_all(Path(docs).read_text()) if d]
        api = self.api_client()
        out = []
        try:
            for doc in docs:
                try:
                    out += utils.create_from_dict(api, dict(doc), namespace=namespace)
                except utils.FailToCreateError as e:
                    if not all(getattr(x, "status", 0) == 409 for x in e.api_exceptions):
                        raise
                    out.append(_replace(api, dict(doc)))
        finally:
            api.close()
        return out

    # -- pods
    def core(self) -> Any:
        from kubernetes import client

        if self._core is None:
            self._core = client.CoreV1Api(self.api_client())
        return self._core

    def pod(self, namespace: str, name: str) -> Any:
        return self.core().read_namespaced_pod(name, namespace)

    def create_pod(self, namespace: str, name: str, *, annotations: Mapping[str, str] | None = None,
                   image: str = BUSYBOX_IMAGE, host_network: bool = False, **spec: Any) -> Any:
        body = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "annotations": dict(annotations or {})},
            "spec": {
                "hostNetwork": host_network,
                "terminationGracePeriodSeconds": 0,
                "automountServiceAccountToken": False,
                "containers": [{"name": "main", "image": image, "imagePullPolicy": "Never",
                                "command": ["/bin/sleep", "2147483647"]}],
                **spec,
            },
        }
        return self.core().create_namespaced_pod(namespace, body)

    def wait_pod_phase(self, namespace: str, name: str, phase: str = "Running", timeout: float = 120) -> Any:
        def check() -> Any:
            pod = self.pod(namespace, name)
            if pod.status.phase == phase and (phase != "Running" or all(
                    c.ready for c in pod.status.container_statuses or [])):
                return pod
            if pod.status.phase in ("Failed", "Succeeded") and pod.status.phase != phase:
                raise ClusterError(f"pod {namespace}/{name} is {pod.status.phase}: {pod.status}")
            return None

        try:
            return _wait(f"pod {namespace}/{name} {phase}", check, timeout, interval=0.3, alive=self.dead)
        except ClusterError as e:
            raise ClusterError(f"{e}\nevents: {self.events(namespace, name)}") from None

    def events(self, namespace: str, name: str | None = None) -> list[str]:
        items = self.core().list_namespaced_event(namespace).items
        return [f"{e.involved_object.name}: {e.reason}: {e.message}" for e in items
                if name is None or e.involved_object.name == name]

    def delete_pod(self, namespace: str, name: str, timeout: float = 120) -> None:
        """Delete gracefully (the kubelet stops the pod, then the object goes) and wait until its sandbox is gone.

        Graceful even for terminationGracePeriodSeconds 0 (the apiserver makes that 1 s for a bound pod): a
        forced delete removes the object at once and leaves the node to tear the pod down later.
        """
        from kubernetes.client.exceptions import ApiException

        with contextlib.suppress(ApiException):
            self.core().delete_namespaced_pod(name, namespace)

        def gone() -> bool:
            try:
                self.pod(namespace, name)
            except ApiException as e:
                return e.status == 404
            return False

        _wait(f"pod {namespace}/{name} deleted", gone, timeout, interval=0.3, alive=self.dead)
        _wait(f"sandbox of {namespace}/{name} stopped", lambda: not self.sandboxes(namespace, name, ready_only=True),
              timeout, interval=0.3, alive=self.dead)

    def sandboxes(self, namespace: str, name: str, *, ready_only: bool = False) -> list[Any]:
        """The node's CRI sandboxes of a pod (all attempts)."""
        return [s for s in self.node._cri().list_pods() if s.namespace == namespace and s.name == name
                and (not ready_only or s.state == "SANDBOX_READY")]

    def new_namespace(self, prefix: str = "t") -> str:
        name = f"{prefix[:40].lower().replace('_', '-').strip('-')}-{os.urandom(3).hex()}"
        self.core().create_namespace({"metadata": {"name": name}})
        return name

    def sandbox_pid(self, namespace: str, name: str) -> int:
        """The pid of a running pod's sandbox (its network namespace is /proc/<pid>/ns/net)."""
        for s in self.sandboxes(namespace, name, ready_only=True):
            info = self.node._cri().status(s.id).info.get("info") or {}
            return int(info["pid"])
        raise ClusterError(f"no ready sandbox for {namespace}/{name}")

    def pod_net(self, namespace: str, name: str, *argv: str) -> str:
        """Run a command of this machine (e.g. `ip -j addr`) in a pod's network namespace."""
        pid = self.sandbox_pid(namespace, name)
        return _run("nsenter", f"--net=/proc/{pid}/ns/net", "--", *argv).stdout

    def pod_addresses(self, namespace: str, name: str) -> dict[str, list[str]]:
        """{ifname: [address/prefix, ...]} inside the pod (IPv4 and IPv6, link-local excluded)."""
        out: dict[str, list[str]] = {}
        for link in json.loads(self.pod_net(namespace, name, "ip", "-j", "addr", "show")):
            out[link["ifname"]] = [f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", [])
                                   if a.get("scope") != "link"]
        return out

    def stop(self) -> list[str]:
        if self._core is not None:
            self._core.api_client.close()
            self._core = None
        errors = self.node.stop()
        self.control.stop()
        _teardown_node_network()
        if self._own_scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)
        return errors

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _replace(api: Any, doc: dict[str, Any]) -> Any:
    from kubernetes import dynamic

    client = dynamic.DynamicClient(api)
    res = client.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
    meta = doc["metadata"]
    if res.namespaced:
        return res.patch(body=doc, name=meta["name"], namespace=meta.get("namespace", "default"),
                         content_type="application/merge-patch+json")
    return res.patch(body=doc, name=meta["name"], content_type="application/merge-patch+json")


__all__ = [
    "BUSYBOX_IMAGE", "KUBERNETES_SERVICE_IP", "NODE_IP", "NODE_NAME", "POD_CIDR", "PRIMARY_BRIDGE",
    "Cluster", "ClusterError", "ControlPlane", "Node", "cluster_unavailable_reason",
]
