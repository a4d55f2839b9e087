#!/usr/bin/env python3
"""A fault-injected soak: N pod lifecycles on the real plugins and a real kube-apiserver, then a
count of everything left behind.

    sudo python benchmarks/soak.py --mode thin|thick [--lifecycles 1000] [--seed 1] [--out NAME]

Everything lives in a lab: this process moves into its own network namespace (bridge, veth
macvlan master ``m0``, etcd and kube-apiserver on its 127.0.0.1) and its own mount namespace
(the cniDir is a small tmpfs mounted there, over a scratch directory; nothing is mounted in the
machine's namespace). Each pod is a network namespace of its own and a Pod object (node
``soak-node``) annotated with ``k8s.v1.cni.cncf.io/networks``; the cluster network is the NAD
``soak-cluster`` (bridge + host-local) in ``kube-system``, the pod network ``soak-macvlan``
(macvlan on ``m0`` + host-local).

``--mode thin`` runs ``multus`` per call; ``--mode thick`` runs ``multus-shim`` against one
``multus-daemon`` (informers on, ``MULTUS_NODE_NAME=soak-node``). Both from ``--bin`` (the
directory of this interpreter by default).

The runtime behaves as a kubelet does: after a failed ADD it issues DEL; it retries a failed DEL
(up to ``--del-retries`` times, with a growing pause) until it succeeds. A leak is what is left
after the runtime's last, successful, DEL.

Faults, drawn from a seeded mix (every kind at least once, then a fault in about
``--fault-rate`` of the lifecycles):

``delegate-fails-after-create``  the pod's network is ``soak-fail``: a wrapper that runs the real
    macvlan plugin (interface and lease made) and then fails the ADD;
``kill-add`` / ``kill-del``  SIGKILL of ``multus`` (thin) or of the daemon (thick) in the middle of
    ADD / DEL (the daemon is started again at once, as its DaemonSet would);
``daemon-restart``  (thick) the daemon stopped and started between ADD and DEL;
``cache-corrupt`` / ``cache-deleted``  the container's delegate cache garbled or removed before DEL;
``apiserver-down``  kube-apiserver stopped after ADD, DEL runs while it is down, then it is back;
``nad-deleted`` / ``pod-deleted``  the pod's NAD or the Pod object deleted between ADD and DEL;
``cnidir-full``  the cniDir tmpfs filled before ADD (freed before the DEL retries);
``concurrent-add``  two ADDs of the same container ID at once;
``burst``  ``--burst-size`` pods (200) ADDed at once, then DELed at once (``--bursts`` of them;
    each pod counts as a lifecycle).

Counted at the end: host-local leases, veths in the lab namespace, bridge ports, interfaces left
in the pods, files in cniDir (delegate cache and results; per-container lock files are reported
apart), device-info files, and stale network-status entries (on a pod whose ADD never succeeded,
or whose addresses are not those a successful ADD answered). One JSON line on stdout; exit 1 on
any leak or a DEL that never succeeded. ``--out NAME`` also writes benchmarks/results/NAME.json.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import ipaddress
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import _common as C

NETWORKS = "k8s.v1.cni.cncf.io/networks"
STATUS = "k8s.v1.cni.cncf.io/network-status"
NAD_API = ("k8s.cni.cncf.io", "v1", "network-attachment-definitions")
NODE = "soak-node"
PLUGINS = ("bridge", "macvlan", "host-local", "loopback")
FAULTS = ("delegate-fails-after-create", "kill-add", "kill-del", "daemon-restart", "cache-corrupt",
          "cache-deleted", "apiserver-down", "nad-deleted", "pod-deleted", "cnidir-full", "concurrent-add")
THICK_ONLY = {"daemon-restart"}
CLUSTER_SUBNET = "10.250.40.0/21"   # eth0 (bridge); room for every pod of a 1,000-lifecycle run
POD_SUBNET = "10.250.48.0/21"       # net1 (macvlan)
CLONE_NEWNS = 0x00020000
FAIL_WRAPPER = """#!/bin/sh
# the real macvlan plugin, then a failure of the ADD: an interface and a lease exist by then
conf=$(cat)
out=$(printf '%s' "$conf" | "{bin}/macvlan")
rc=$?
if [ "$CNI_COMMAND" = ADD ] && [ $rc -eq 0 ]; then
  echo '{{"cniVersion":"1.0.0","code":11,"msg":"soak: failing after the interface was made"}}'
  exit 1
fi
printf '%s' "$out"
exit $rc
"""


def private_mounts() -> None:
    """This process (single-threaded) in a mount namespace of its own, nothing propagated out."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        e = ctypes.get_errno()
        raise C.BenchError(f"unshare(CLONE_NEWNS): {os.strerror(e)}")
    C.sh("mount", "--make-rprivate", "/")


def default_bin() -> str:
    here = os.path.dirname(sys.executable)
    return here if os.access(os.path.join(here, "multus"), os.X_OK) else os.path.join(C.DEFAULT_VENV, "bin")


@dataclass
class Pod:
    index: int
    netns: str
    name: str
    cid: str
    uid: str = ""
    network: str = "soak-macvlan"
    in_api: bool = True
    add_results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def path(self) -> str:
        return f"/run/netns/{self.netns}"


@dataclass
class Lifecycle:
    fault: str
    add_ok: bool = False
    del_calls: int = 0
    del_ok: bool = False
    errors: list[str] = field(default_factory=list)


class Soak:
    def __init__(self, a: argparse.Namespace, lab: C.Lab) -> None:
        self.a, self.lab = a, lab
        self.rng = random.Random(a.seed)
        t = lab.tmp
        self.bin = os.path.join(t, "bin")
        self.ipam = os.path.join(t, "ipam")
        self.cni_dir = os.path.join(t, "cni")
        self.devinfo = os.path.join(t, "devinfo")
        self.bridge = f"sk{os.getpid() % 100000}b"[:15]
        self.srv: Any = None
        self.daemon: subprocess.Popen[bytes] | None = None
        self.add_seconds: list[float] = []
        self.lifecycles: list[Lifecycle] = []
        self.pods: list[Pod] = []
        self.lock = threading.Lock()
        self.counter = 0
        self.planned = 0
        self.stopped_early = False

    # --- setup ------------------------------------------------------------------------------------
    def start(self) -> None:
        from multus.testing import kube

        t = self.lab.tmp
        os.makedirs(self.bin)
        for p in PLUGINS:
            os.symlink(os.path.join(self.a.cni_bin, p), os.path.join(self.bin, p))
        wrapper = os.path.join(self.bin, "soak-fail")
        with open(wrapper, "w") as f:
            f.write(FAIL_WRAPPER.format(bin=self.a.cni_bin))
        os.chmod(wrapper, 0o755)
        os.makedirs(self.cni_dir)
        C.sh("mount", "-t", "tmpfs", "-o", f"size={self.a.cni_dir_size},mode=0700", "tmpfs", self.cni_dir)
        for d in (self.ipam, self.devinfo, os.path.join(t, "net.d")):
            os.makedirs(d)
        C.sh("ip", "link", "add", "m0", "type", "veth", "peer", "name", "m0p")
        C.sh("ip", "link", "set", "m0", "up")
        C.sh("ip", "link", "set", "m0p", "up")
        self.lab.assert_inside()
        self.srv = kube.KubeApiServer(os.path.join(t, "kube"), script=os.path.join(C.ROOT, "tests", "harness",
                                                                                   "kube-apiserver.sh"))
        self.srv.start()
        self.srv.install_crd(os.path.join(C.ROOT, "deploy", "crd.yaml"))
        self.srv.apply_manifest(os.path.join(C.ROOT, "deploy", "rbac.yaml"))
        from kubernetes import client

        self.k = client
        self.api = self.srv.api_client()
        self.core = client.CoreV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)
        self.ns = self.srv.new_namespace("soak")
        ipam = {"type": "host-local", "dataDir": self.ipam}
        self.nad("kube-system", "soak-cluster", {"type": "bridge", "bridge": self.bridge, "isGateway": True,
                                                 "ipam": {**ipam, "subnet": CLUSTER_SUBNET,
                                                          "routes": [{"dst": "0.0.0.0/0"}]}})
        self.macvlan = {"type": "macvlan", "master": "m0", "mode": "bridge", "ipam": {**ipam, "subnet": POD_SUBNET}}
        self.nad(self.ns, "soak-macvlan", self.macvlan)
        self.nad(self.ns, "soak-fail", {**self.macvlan, "type": "soak-fail"})
        keys = {"kubeconfig": str(self.srv.multus_kubeconfig), "clusterNetwork": "soak-cluster",
                "multusNamespace": "kube-system", "confDir": os.path.join(t, "net.d"), "cniDir": self.cni_dir,
                "binDir": self.bin, "deviceInfoDir": self.devinfo, "logLevel": self.a.log_level,
                "logFile": os.path.join(t, "multus.log"), "logToStderr": False}
        if self.a.mode == "thin":
            self.argv = [os.path.join(self.a.bin, "multus")]
            conf: dict[str, Any] = {"cniVersion": "1.0.0", "name": "multus-cni-network", "type": "multus", **keys}
        else:
            self.argv = [os.path.join(self.a.bin, "multus-shim")]
            self.daemon_conf = {**keys, "socketDir": os.path.join(t, "daemon-run"), "shutdownGracePeriod": 1,
                                "logFile": os.path.join(t, "daemon.log")}
            C.write_json(os.path.join(t, "daemon-config.json"), self.daemon_conf)
            self.start_daemon()
            conf = {"cniVersion": "1.0.0", "name": "multus-cni-network", "type": "multus-shim",
                    "daemonSocketDir": self.daemon_conf["socketDir"],
                    "daemonConfigFile": os.path.join(t, "daemon-config.json")}
        self.conf_path = os.path.join(t, "multus.json")
        C.write_json(self.conf_path, conf)

    def nad(self, namespace: str, name: str, conf: dict[str, Any]) -> None:
        body = {"apiVersion": f"{NAD_API[0]}/{NAD_API[1]}", "kind": "NetworkAttachmentDefinition",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"config": json.dumps({"cniVersion": "1.0.0", "name": name, **conf})}}
        self.custom.create_namespaced_custom_object(*NAD_API[:2], namespace, NAD_API[2], body)

    def stop(self) -> None:
        self.stop_daemon()
        if self.a.logs:
            os.makedirs(self.a.logs, exist_ok=True)
            for name in ("multus.log", "daemon.log", "daemon.stderr"):
                with contextlib.suppress(FileNotFoundError):
                    shutil.copy(os.path.join(self.lab.tmp, name), self.a.logs)
        if getattr(self, "api", None) is not None:
            with contextlib.suppress(Exception):
                self.api.close()
        if self.srv is not None:
            self.srv.cleanup()
        C.sh("umount", "-l", self.cni_dir, check=False)

    # --- the daemon (thick) -------------------------------------------------------------------------
    def start_daemon(self) -> None:
        from multus.thick import client as thick

        t = self.lab.tmp
        with open(os.path.join(t, "daemon.stderr"), "ab") as err:
            self.daemon = subprocess.Popen([os.path.join(self.a.bin, "multus-daemon"), "-config",
                                            os.path.join(t, "daemon-config.json")],
                                           env={**os.environ, "MULTUS_NODE_NAME": NODE},
                                           stdin=subprocess.DEVNULL, stdout=err, stderr=err)
        sock = thick.socket_path(self.daemon_conf["socketDir"])
        deadline = time.monotonic() + 120
        while thick.healthy(sock, thick.READY_ENDPOINT, timeout=2) is not None:
            if self.daemon.poll() is not None or time.monotonic() > deadline:
                raise C.BenchError(f"multus-daemon not ready (rc {self.daemon.poll()}); see {t}/daemon.stderr")
            time.sleep(0.1)

    def stop_daemon(self, sig: int = signal.SIGTERM) -> None:
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.send_signal(sig)
            try:
                self.daemon.wait(30)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait(10)

    # --- the apiserver window ----------------------------------------------------------------------
    def apiserver_down(self) -> Callable[[], None]:
        """Stop kube-apiserver (etcd and its data stay); returns the function that starts it again."""
        pid_file = os.path.join(self.srv.run_dir, "kube-apiserver.pid")
        with open(pid_file) as f:
            pid = int(f.read().strip())
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = [x.decode() for x in f.read().split(b"\0") if x]
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)

        def up() -> None:
            with open(os.path.join(self.srv.run_dir, "kube-apiserver.log"), "ab") as log:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                        start_new_session=True)
            with open(pid_file, "w") as f:
                f.write(f"{proc.pid}\n")
            deadline = time.monotonic() + 180
            while True:
                with contextlib.suppress(Exception):
                    if self.srv.get_raw("/readyz", timeout=5).strip() == "ok":
                        return
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise C.BenchError("kube-apiserver did not come back after its window")
                time.sleep(0.25)

        return up

    # --- pods and calls ---------------------------------------------------------------------------
    def new_pod(self, network: str = "soak-macvlan") -> Pod:
        with self.lock:
            i = self.counter
            self.counter += 1
        p = Pod(index=i, netns=f"{self.lab.prefix}-p{i}", name=f"soak-{i}", cid=f"soak{i:06d}{os.getpid()}",
                network=network)
        self.lab.add_netns([p.netns])
        k = self.k
        body = k.V1Pod(metadata=k.V1ObjectMeta(name=p.name, annotations={NETWORKS: network}),
                       spec=k.V1PodSpec(node_name=NODE, containers=[k.V1Container(name="c", image="pause")]))
        meta = self.core.create_namespaced_pod(self.ns, body).metadata
        p.uid = str(meta.uid)
        with self.lock:
            self.pods.append(p)
        return p

    def env(self, verb: str, p: Pod) -> dict[str, str]:
        args = (f"IgnoreUnknown=1;K8S_POD_NAMESPACE={self.ns};K8S_POD_NAME={p.name};"
                f"K8S_POD_INFRA_CONTAINER_ID={p.cid};K8S_POD_UID={p.uid}")
        env = C.cni_env(verb, p.path, p.cid, "eth0", self.bin, args, {"MULTUS_SHIM_READY_TIMEOUT": "60"})
        for key in [k for k in env if k.lower() in ("http_proxy", "https_proxy", "all_proxy")]:
            del env[key]
        return env

    def call(self, verb: str, p: Pod, kill_after: float | None = None) -> C.Call:
        """One CNI call; with ``kill_after``, SIGKILL of multus (thin) or the daemon (thick) that
        many seconds in (the daemon is then started again)."""
        if kill_after is None:
            c = C.run_cni(self.argv, self.env(verb, p), self.conf_path, timeout=self.a.timeout)
        else:
            c = self.killed_call(verb, p, kill_after)
        if verb == "ADD" and c.rc == 0:
            with contextlib.suppress(ValueError), self.lock:
                p.add_results.append(json.loads(c.out))
                self.add_seconds.append(c.seconds)
        return c

    def killed_call(self, verb: str, p: Pod, after: float) -> C.Call:
        with open(self.conf_path, "rb") as fin, tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe:
            t0 = time.perf_counter()
            proc = subprocess.Popen(self.argv, stdin=fin, stdout=fo, stderr=fe, env=self.env(verb, p))
            try:
                proc.wait(after)
            except subprocess.TimeoutExpired:
                if self.a.mode == "thin":
                    proc.kill()
                else:  # killed, and started again at once (the shim meanwhile retries or gives up)
                    self.stop_daemon(signal.SIGKILL)
                    self.start_daemon()
            try:
                rc = proc.wait(self.a.timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = proc.wait()
            fo.seek(0)
            fe.seek(0)
            return C.Call(verb, time.perf_counter() - t0, rc, fo.read().decode(errors="replace"),
                          fe.read().decode(errors="replace"))

    def kill_delay(self) -> float:
        typical = statistics.median(self.add_seconds[-50:]) if self.add_seconds else 0.5
        return self.rng.uniform(0.1, 0.9) * typical

    def delete_until_ok(self, p: Pod, lc: Lifecycle, before_retry: Callable[[], None] | None = None) -> None:
        for attempt in range(self.a.del_retries + 1):
            c = self.call("DEL", p)
            lc.del_calls += 1
            if c.rc == 0:
                lc.del_ok = True
                return
            lc.errors.append(f"DEL {attempt + 1}: rc {c.rc}: {(c.out or c.err).strip()[-300:]}")
            if before_retry is not None:
                before_retry()
                before_retry = None
            time.sleep(min(0.2 * (attempt + 1), 2.0))

    # --- one lifecycle -----------------------------------------------------------------------------
    def lifecycle(self, fault: str) -> Lifecycle:
        lc = Lifecycle(fault)
        p = self.new_pod("soak-fail" if fault == "delegate-fails-after-create" else "soak-macvlan")
        if fault == "nad-deleted":
            p.network = f"soak-nad-{p.index}"
            self.nad(self.ns, p.network, self.macvlan)
            self.core.patch_namespaced_pod(p.name, self.ns, {"metadata": {"annotations": {NETWORKS: p.network}}})
        filler = os.path.join(self.cni_dir, "filler")
        if fault == "cnidir-full":
            fill(filler)
        if fault == "kill-add":
            add = self.call("ADD", p, kill_after=self.kill_delay())
        elif fault == "concurrent-add":
            calls: list[C.Call] = []
            threads = [threading.Thread(target=lambda: calls.append(self.call("ADD", p))) for _ in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            add = calls[0] if all(c.rc == 0 for c in calls) else next(c for c in calls if c.rc != 0)
        else:
            add = self.call("ADD", p)
        lc.add_ok = add.rc == 0
        if not lc.add_ok and fault not in ("kill-add", "delegate-fails-after-create", "cnidir-full"):
            lc.errors.append(f"ADD: rc {add.rc}: {(add.out or add.err).strip()[-300:]}")
        restart: Callable[[], None] | None = None
        if fault == "daemon-restart":
            self.stop_daemon()
            self.start_daemon()
        elif fault in ("cache-corrupt", "cache-deleted"):
            cache = os.path.join(self.cni_dir, p.cid)
            if os.path.exists(cache):
                if fault == "cache-deleted":
                    os.unlink(cache)
                else:
                    with open(cache, "r+b") as f:
                        f.truncate(max(1, os.path.getsize(cache) // 3))
                        f.seek(0, os.SEEK_END)
                        f.write(b"\x00{garbage")
        elif fault == "apiserver-down":
            restart = self.apiserver_down()
        elif fault == "nad-deleted":
            self.custom.delete_namespaced_custom_object(*NAD_API[:2], self.ns, NAD_API[2], p.network)
        elif fault == "pod-deleted":
            self.core.delete_namespaced_pod(p.name, self.ns, grace_period_seconds=0)
            p.in_api = False
        if fault == "kill-del":
            c = self.call("DEL", p, kill_after=self.kill_delay() / 2)
            lc.del_calls += 1
            if c.rc == 0:
                lc.del_ok = True
        if not lc.del_ok:
            free = (lambda: unlink(filler)) if fault == "cnidir-full" else None
            self.delete_until_ok(p, lc, free)
        unlink(filler)
        if restart is not None:
            restart()
        return lc

    def burst(self, size: int) -> list[Lifecycle]:
        pods = [self.new_pod() for _ in range(size)]
        lcs = [Lifecycle("burst") for _ in pods]

        def add(i: int) -> None:
            c = self.call("ADD", pods[i])
            lcs[i].add_ok = c.rc == 0
            if c.rc != 0:
                lcs[i].errors.append(f"ADD: rc {c.rc}: {(c.out or c.err).strip()[-300:]}")

        def delete(i: int) -> None:
            self.delete_until_ok(pods[i], lcs[i])

        for step in (add, delete):
            threads = [threading.Thread(target=step, args=(i,), daemon=True) for i in range(size)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(self.a.timeout * (self.a.del_retries + 2))
        return lcs

    # --- the plan ---------------------------------------------------------------------------------
    def plan(self) -> list[tuple[str, int]]:
        """(kind, pods) steps: every fault kind once, in a random order, then faults at ``--fault-rate``;
        the bursts evenly spread over the rest, the first one first."""
        kinds = [f for f in (self.a.faults or FAULTS) if not (self.a.mode == "thin" and f in THICK_ONLY)]
        weights = {f: (0.15 if f == "apiserver-down" else 1.0) for f in kinds}
        first = kinds[:]
        self.rng.shuffle(first)
        singles = self.a.lifecycles - self.a.bursts * self.a.burst_size
        if singles < len(first):
            raise C.BenchError(f"--lifecycles {self.a.lifecycles} leaves {singles} single lifecycles: "
                               f"fewer than the {len(first)} fault kinds")
        steps: list[tuple[str, int]] = [(f, 1) for f in first]
        for _ in range(singles - len(first)):
            if self.rng.random() < self.a.fault_rate:
                steps.append((self.rng.choices(kinds, [weights[k] for k in kinds])[0], 1))
            else:
                steps.append(("none", 1))
        rest = len(steps) - len(first)
        for k in reversed(range(self.a.bursts)):  # the first right after every kind's first run, then evenly
            steps.insert(len(first) + k * rest // self.a.bursts, ("burst", self.a.burst_size))
        return steps

    def run(self) -> None:
        steps = self.plan()
        self.planned = sum(size for _kind, size in steps)
        deadline = time.monotonic() + self.a.max_seconds if self.a.max_seconds else None
        for n, (kind, size) in enumerate(steps):
            if deadline is not None and time.monotonic() > deadline:
                self.stopped_early = True
                break
            self.lab.assert_inside()
            if kind == "burst":
                self.lifecycles += self.burst(size)
            else:
                self.lifecycles.append(self.lifecycle(kind))
            if self.a.verbose:
                last = self.lifecycles[-1]
                print(f"[{n + 1}/{len(steps)}] {kind}: add_ok={last.add_ok} del_calls={last.del_calls} "
                      f"del_ok={last.del_ok} {last.errors[-1:] if last.errors else ''}", file=sys.stderr, flush=True)

    # --- what is left ------------------------------------------------------------------------------
    def leaks(self) -> tuple[dict[str, int], dict[str, Any]]:
        if self.a.mode == "thick":
            time.sleep(5)  # the daemon's background network-status writes settle
        leases = [f for _r, _d, fs in os.walk(self.ipam) for f in fs if is_ip(f)]
        veths = [n for n in link_names("type", "veth") if n not in ("m0", "m0p")]
        ports = link_names("master", self.bridge)
        pod_ifaces = {p.netns: [n for n in self.lab.links(p.netns) if n != "lo"] for p in self.pods}
        cache, locks = [], []
        for root, _d, fs in os.walk(self.cni_dir):
            for f in fs:
                rel = os.path.relpath(os.path.join(root, f), self.cni_dir)
                (locks if ".lock" in rel else cache).append(rel)
        devinfo = [f for _r, _d, fs in os.walk(self.devinfo) for f in fs]
        stale = self.stale_status()
        leaks = {"host_local_leases": len(leases), "veths": len(veths), "bridge_ports": len(ports),
                 "pod_interfaces": sum(len(v) for v in pod_ifaces.values()), "cache_and_result_files": len(cache),
                 "device_info_files": len(devinfo), "stale_network_status": len(stale)}
        detail = {"leases": leases[:10], "veths": veths[:10], "pod_interfaces": {k: v for k, v in pod_ifaces.items()
                                                                                 if v} if any(pod_ifaces.values()) else {},
                  "cache_files": cache[:10], "device_info": devinfo[:10], "stale_network_status": stale[:10],
                  "lock_files_left": len(locks)}
        return leaks, detail

    def stale_status(self) -> list[str]:
        """Pods whose network-status describes interfaces the runtime was never told about."""
        out = []
        by_name = {p.name: p for p in self.pods if p.in_api}
        for pod in self.core.list_namespaced_pod(self.ns).items:
            p = by_name.get(pod.metadata.name)
            raw = (pod.metadata.annotations or {}).get(STATUS)
            if p is None or raw is None:
                continue
            try:
                entries = json.loads(raw)
            except ValueError:
                out.append(f"{p.name}: unreadable network-status")
                continue
            answered = [sorted(ip.get("address", "").split("/")[0] for ip in r.get("ips", [])) for r in p.add_results]
            for e in entries:
                if not answered:
                    out.append(f"{p.name}: {e.get('name')} {e.get('ips')} but no ADD succeeded")
                elif e.get("default") and sorted(e.get("ips", [])) not in answered:
                    out.append(f"{p.name}: {e.get('name')} {e.get('ips')} not among the answers {answered}")
            if len(entries) > 2:
                out.append(f"{p.name}: {len(entries)} entries for 2 networks")
        return out


def fill(path: str) -> None:
    """Fill the filesystem of ``path`` (a file to create) up to the last page."""
    with contextlib.suppress(OSError), open(path, "wb") as f:
        while True:
            f.write(b"\0" * 4096)
            f.flush()


def unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def link_names(*selector: str) -> list[str]:
    out = C.sh("ip", "-o", "link", "show", *selector, check=False).stdout
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=("thin", "thick"), required=True)
    ap.add_argument("--lifecycles", type=int, default=1000, help="pod lifecycles in all (default 1,000)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the fault mix (default 1)")
    ap.add_argument("--fault-rate", type=float, default=0.3, help="share of single lifecycles with a fault (0.3)")
    ap.add_argument("--bursts", type=int, help="bursts of --burst-size pods (default: one per 500 lifecycles)")
    ap.add_argument("--burst-size", type=int, default=200, help="pods per burst (default 200)")
    ap.add_argument("--del-retries", type=int, default=20, help="DEL retries after a failed DEL (default 20)")
    ap.add_argument("--timeout", type=float, default=300, help="per CNI call (default 300 s)")
    ap.add_argument("--bin", default=default_bin(), help="directory of multus, multus-shim and multus-daemon "
                    "(default: this interpreter's)")
    ap.add_argument("--cni-bin", default=C.DEFAULT_BIN_DIR, help="the real CNI plugins (default /usr/lib/cni)")
    ap.add_argument("--cni-dir-size", default="8m", help="size of the cniDir tmpfs (default 8m)")
    ap.add_argument("--max-seconds", type=float, help="start no new lifecycle after this many seconds "
                    "(the leaks are counted and reported as always)")
    ap.add_argument("--faults", type=lambda v: v.split(","), help="only these fault kinds (comma-separated)")
    ap.add_argument("--log-level", default="error", help="multus' log level (default error)")
    ap.add_argument("--logs", help="copy multus' and the daemon's logs into this directory at the end")
    ap.add_argument("--out", help="also write benchmarks/results/OUT.json")
    ap.add_argument("-v", "--verbose", action="store_true", help="one line per lifecycle on stderr")
    a = ap.parse_args()
    if a.bursts is None:
        a.bursts = a.lifecycles // 500
    C.need_root()
    for name in (["multus"] if a.mode == "thin" else ["multus-shim", "multus-daemon"]):
        if not os.access(os.path.join(a.bin, name), os.X_OK):
            raise C.BenchError(f"{a.bin}/{name} not found (--bin)")
    from multus.testing import kube

    reason = kube.apiserver_unavailable_reason()
    if reason is not None:
        raise C.BenchError(f"no kube-apiserver: {reason}")
    private_mounts()
    t0 = time.monotonic()
    with C.Lab("soak") as lab:
        soak = Soak(a, lab)
        try:
            soak.start()
            soak.run()
            leaks, detail = soak.leaks()
        finally:
            soak.stop()
    lcs = soak.lifecycles
    faults = Counter(lc.fault for lc in lcs if lc.fault != "none")
    del_calls = sum(lc.del_calls for lc in lcs)
    never = [lc for lc in lcs if not lc.del_ok]
    report = {
        "mode": a.mode, "seed": a.seed, "lifecycles": len(lcs), "lifecycles_planned": soak.planned,
        "stopped_at_max_seconds": soak.stopped_early, "faults": dict(sorted(faults.items())),
        "leaks": leaks, "leaks_total": sum(leaks.values()),
        "del_success_rate": round((len(lcs) - len(never)) / len(lcs), 4) if lcs else None,
        "del_calls": del_calls,
        "del_call_success_rate": round(sum(1 for lc in lcs if lc.del_ok) / del_calls, 4) if del_calls else None,
        "add_failures": sum(1 for lc in lcs if not lc.add_ok),
        "seconds": round(time.monotonic() - t0, 1),
        "detail": {**detail, "del_never_succeeded": [lc.errors[-3:] for lc in never][:10],
                   "unexpected_errors": [e for lc in lcs if lc.fault == "none" for e in lc.errors][:10]},
    }
    if a.out:
        C.write_results(a.out, {**report, "machine": C.machine_info()})
    print(json.dumps(report))
    return 1 if report["leaks_total"] or never else 0


if __name__ == "__main__":
    C.run(main)
