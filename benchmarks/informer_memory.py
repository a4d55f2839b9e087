#!/usr/bin/env python3
"""Memory of the daemon's informer caches: 1,000 pods on this node + 1,000 NADs, REAL kube-apiserver.

    sudo .venv/bin/python benchmarks/informer_memory.py [-n 1000] [--nads 1000] [--other-pods 200]

Everything runs inside a lab host namespace this process creates (etcd and kube-apiserver on its
127.0.0.1, ``multus.testing.kube.KubeApiServer``). Objects: ``-n`` Pods with
``spec.nodeName=bench-node`` shaped like real ones (two containers with env, mounts, resources; a
networks annotation; kubectl's last-applied copy), ``--other-pods`` on another node (the field
selector must keep them out), ``--nads`` NetworkAttachmentDefinitions (a macvlan + host-local
config) across 10 namespaces. The daemon runs with the ``multus`` service account's kubeconfig
and ``MULTUS_NODE_NAME=bench-node``.

Measured (VmRSS / VmHWM from /proc/<pid>/status, KiB):

1. ``daemon_empty``: ``multus-daemon`` started before any object exists, idle ``--settle`` s;
2. ``daemon_watched``: the same daemon after the objects were created (they came through its
   watches), idle ``--settle`` s;
3. ``daemon_listed``: a fresh ``multus-daemon`` started with every object present (its start-up
   list), idle ``--settle`` s: the daemon's idle memory with the full cache (target <= 80 MiB);
4. ``in_process``: one process that imports what the daemon imports, then starts the informers:
   VmRSS before and after the sync, and the cache sizes.

Results: benchmarks/results/<out>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import _common as C

NODE = "bench-node"
TARGET_IDLE_MIB = 80
NAD_NAMESPACES = 10

IN_PROCESS = r"""
import gc, json, sys, time
def mem():
    out = {}
    for line in open("/proc/self/status"):
        if line.startswith(("VmRSS", "VmHWM")):
            out[line.split(":")[0]] = int(line.split()[1])
    return out
from multus.thick.service import DaemonPlugins
plugins = DaemonPlugins(env={})
plugins.warm_up()
import kubernetes.client, kubernetes.config, kubernetes.watch  # what the informers need
from multus_k8s import client as kube
from multus_k8s.informer import Informers
gc.collect()
before = mem()
c = kube.KubeClient(sys.argv[1], {}, implementation="kubernetes")
inf = Informers(c, sys.argv[2])
t0 = time.monotonic()
inf.start()
ok = inf.wait_synced(120)
sync_s = time.monotonic() - t0
gc.collect()
after = mem()
print(json.dumps({"synced": ok, "sync_seconds": round(sync_s, 2), "pods": len(inf.pods), "nads": len(inf.nads),
                  "before": before, "after": after, "cache_kib": after["VmRSS"] - before["VmRSS"]}))
inf.stop()
"""


def mem_of(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS", "VmHWM")):
                out[line.split(":")[0]] = int(line.split()[1])
    return out


def pod_body(name: str, node: str) -> dict[str, Any]:
    container = {
        "name": "app", "image": "registry.example/app:1.2.3", "command": ["/bin/app"], "args": ["--port", "8080"],
        "env": [{"name": f"VAR_{i}", "value": f"value-{i}"} for i in range(8)],
        "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "cfg", "mountPath": "/etc/app"}],
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
        "ports": [{"containerPort": 8080, "name": "http"}],
    }
    sidecar = {**container, "name": "sidecar", "image": "registry.example/sidecar:4.5"}
    spec = {"nodeName": node, "containers": [container, sidecar],
            "volumes": [{"name": "data", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "app-config"}}]}
    meta = {"name": name, "labels": {"app": "bench", "tier": "backend", "pod-template-hash": "5d8f7c9b6d"},
            "annotations": {"k8s.v1.cni.cncf.io/networks": "macvlan-0,macvlan-1"}}
    meta["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = json.dumps(
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec})
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def nad_body(name: str, i: int) -> dict[str, Any]:
    config = {"cniVersion": "1.0.0", "name": name, "type": "macvlan", "master": "eth1", "mode": "bridge",
              "ipam": {"type": "host-local", "subnet": f"10.{100 + i // 250}.{i % 250}.0/24",
                       "routes": [{"dst": "0.0.0.0/0"}]}}
    return {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": name, "annotations": {"k8s.v1.cni.cncf.io/resourceName": "example.com/nic"}},
            "spec": {"config": json.dumps(config)}}


class Bench:
    def __init__(self, a: argparse.Namespace, lab: C.Lab) -> None:
        self.a, self.lab = a, lab
        self.procs: list[subprocess.Popen[bytes]] = []

    def start_apiserver(self) -> None:
        from multus.testing import kube

        os.environ.setdefault("MULTUS_REPO_ROOT", C.ROOT)
        self.lab.assert_inside()
        self.srv = kube.KubeApiServer(os.path.join(self.lab.tmp, "kube"),
                                      script=os.path.join(C.ROOT, "tests", "harness", "kube-apiserver.sh"))
        self.srv.start()
        self.srv.install_crd(os.path.join(C.ROOT, "deploy", "crd.yaml"))
        self.srv.apply_manifest(os.path.join(C.ROOT, "deploy", "rbac.yaml"))

    def create_objects(self) -> dict[str, Any]:
        from kubernetes import client

        a = self.a
        pod_ns = self.srv.new_namespace("pods")
        nad_ns = [self.srv.new_namespace(f"nads{i}") for i in range(NAD_NAMESPACES)]
        api = self.srv.api_client()
        api.configuration.connection_pool_maxsize = a.jobs
        core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
        jobs: list[Any] = []
        jobs += [lambda i=i: core.create_namespaced_pod(pod_ns, pod_body(f"pod-{i}", NODE)) for i in range(a.n)]
        jobs += [lambda i=i: core.create_namespaced_pod(pod_ns, pod_body(f"other-{i}", "other-node"))
                 for i in range(a.other_pods)]
        jobs += [lambda i=i: custom.create_namespaced_custom_object(
            "k8s.cni.cncf.io", "v1", nad_ns[i % NAD_NAMESPACES], "network-attachment-definitions",
            nad_body(f"nad-{i}", i)) for i in range(a.nads)]
        t0 = time.monotonic()
        with ThreadPoolExecutor(a.jobs) as ex:
            for f in [ex.submit(j) for j in jobs]:
                f.result()
        api.close()
        sample = json.dumps(api.sanitize_for_serialization(pod_body("pod-0", NODE)))
        return {"seconds": round(time.monotonic() - t0, 1), "pod_json_bytes": len(sample)}

    def start_daemon(self, name: str) -> subprocess.Popen[bytes]:
        from multus.thick import client

        d = os.path.join(self.lab.tmp, name)
        os.makedirs(d, exist_ok=True)
        cfg = {"socketDir": os.path.join(d, "run"), "kubeconfig": str(self.srv.multus_kubeconfig),
               "clusterNetwork": "nad-0", "cniDir": os.path.join(d, "cache"), "logLevel": "error",
               "logFile": os.path.join(d, "daemon.log"), "logToStderr": False, "informerSyncTimeout": 120}
        C.write_json(os.path.join(d, "daemon-config.json"), cfg)
        env = {**os.environ, "MULTUS_NODE_NAME": NODE}
        with open(os.path.join(d, "stderr"), "wb") as err:
            p = subprocess.Popen([self.a.daemon, "-config", os.path.join(d, "daemon-config.json")], env=env,
                                 stdin=subprocess.DEVNULL, stdout=err, stderr=err)
        self.procs.append(p)
        sock = client.socket_path(cfg["socketDir"])
        deadline = time.monotonic() + 180
        while client.healthy(sock, client.READY_ENDPOINT, timeout=2) is not None:
            if p.poll() is not None or time.monotonic() > deadline:
                raise C.BenchError(f"{name}: multus-daemon not ready (rc {p.poll()}); see {d}")
            time.sleep(0.1)
        return p

    def stop(self, p: subprocess.Popen[bytes]) -> None:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def close(self) -> None:
        for p in self.procs:
            self.stop(p)
        if getattr(self, "srv", None) is not None:
            self.srv.cleanup()

    def run(self) -> dict[str, Any]:
        a = self.a
        out: dict[str, Any] = {}
        self.start_apiserver()
        d1 = self.start_daemon("empty")
        time.sleep(a.settle)
        out["daemon_empty"] = mem_of(d1.pid)
        out["create"] = self.create_objects()
        time.sleep(a.settle)
        out["daemon_watched"] = mem_of(d1.pid)
        self.stop(d1)
        t0 = time.monotonic()
        d2 = self.start_daemon("listed")
        out["daemon_listed_ready_seconds"] = round(time.monotonic() - t0, 2)
        time.sleep(a.settle)
        out["daemon_listed"] = mem_of(d2.pid)
        self.stop(d2)
        proc = C.sh(sys.executable, "-c", IN_PROCESS, str(self.srv.multus_kubeconfig), NODE, timeout=300)
        out["in_process"] = json.loads(proc.stdout.strip().splitlines()[-1])
        return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=1000, help="pods on this node (default 1000)")
    ap.add_argument("--nads", type=int, default=1000, help="NetworkAttachmentDefinitions (default 1000)")
    ap.add_argument("--other-pods", type=int, default=200, help="pods on another node (default 200)")
    ap.add_argument("--settle", type=float, default=5.0, help="idle seconds before each reading (default 5)")
    ap.add_argument("-j", "--jobs", type=int, default=8, help="parallel creations (default 8)")
    ap.add_argument("--daemon", default=os.path.join(os.path.dirname(sys.executable), "multus-daemon"),
                    help="the multus-daemon executable (default: next to this python)")
    ap.add_argument("--out", default="informer_memory", help="results name (benchmarks/results/NAME.json)")
    a = ap.parse_args()
    C.need_root()
    res: dict[str, Any] = {"benchmark": "informer_memory", "daemon": a.daemon, "machine": C.machine_info(),
                           "pods": a.n, "other_pods": a.other_pods, "nads": a.nads, "settle_s": a.settle,
                           "loadavg_start": C.loadavg()}
    with C.Lab("inf") as lab:
        b = Bench(a, lab)
        try:
            res.update(b.run())
        finally:
            b.close()
    res["loadavg_end"] = C.loadavg()
    mib = res["daemon_listed"]["VmRSS"] / 1024
    res["daemon_listed_rss_mib"] = round(mib, 1)
    res["target_idle_mib"] = TARGET_IDLE_MIB
    res["meets_target"] = mib <= TARGET_IDLE_MIB
    path = C.write_results(a.out, res)
    ip = res["in_process"]
    rows = [
        ["daemon, no objects yet", res["daemon_empty"]["VmRSS"] // 1024, res["daemon_empty"]["VmHWM"] // 1024],
        ["same daemon, objects watched in", res["daemon_watched"]["VmRSS"] // 1024,
         res["daemon_watched"]["VmHWM"] // 1024],
        ["fresh daemon, objects listed at start", res["daemon_listed"]["VmRSS"] // 1024,
         res["daemon_listed"]["VmHWM"] // 1024],
        ["in process: before the informers", ip["before"]["VmRSS"] // 1024, ip["before"]["VmHWM"] // 1024],
        ["in process: after the sync", ip["after"]["VmRSS"] // 1024, ip["after"]["VmHWM"] // 1024],
    ]
    C.print_table(rows, ["", "VmRSS MiB", "VmHWM MiB"])
    print(f"cache: {ip['pods']} pods + {ip['nads']} NADs = {ip['cache_kib'] / 1024:.1f} MiB "
          f"(synced in {ip['sync_seconds']} s); idle daemon with the cache {mib:.1f} MiB "
          f"(target <= {TARGET_IDLE_MIB} MiB: {'met' if res['meets_target'] else 'MISSED'})")
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    C.run(main)
