#!/usr/bin/env python3
"""Kubernetes API requests (and latency) of ``multus`` ADD/DEL against a REAL kube-apiserver.

    sudo python3 benchmarks/api_requests.py [--multus PATH] [-n 50] [--pod-networks macvlan|none]

Everything runs inside a lab host namespace this process creates: etcd and kube-apiserver
(``multus.testing.kube.KubeApiServer``, tests/harness/kube-apiserver.sh) listen on ITS
127.0.0.1, the bridge, the veth ends and the macvlan master ``m0`` (a veth) live there.

Objects: deploy/crd.yaml and deploy/rbac.yaml; NAD ``mbench-cluster`` (bridge + host-local,
10.250.30.0/24) in ``kube-system`` = the ``clusterNetwork``; NAD ``mbench-macvlan`` (macvlan on
``m0`` + host-local, 10.250.31.0/24) in a fresh namespace with ``-n`` Pod objects annotated
``k8s.v1.cni.cncf.io/networks: mbench-macvlan`` (``--pod-networks none``: no annotation, the
cluster network only, as the upstream baseline measured). multus runs with the kubeconfig of the
``multus`` service account (deploy/rbac.yaml rights only) and CNI_ARGS
K8S_POD_NAMESPACE/NAME/UID/INFRA_CONTAINER_ID.

Measured, in one run, alternating sides pod by pod:

* ``multus`` ADD of each pod, then DEL of each pod;
* ``direct``: the bridge plugin exec'd with the same bridge + host-local config (and, for the
  macvlan case, ``direct+macvlan``: bridge then macvlan, the same two plugins multus runs);
* ``apiserver_request_total`` before/after the ADD phase and the DEL phase, split by verb and
  resource[/subresource], divided by the number of pods. Requests the apiserver makes to itself
  (its endpoint reconciler ...) are measured while idle for as long as the ADD phase took and
  shown separately; the /metrics reads themselves (non-resource) are left out.

``--thick``: the multus side is ``multus-shim`` (next to ``--multus``) talking to a
``multus-daemon`` started with the same keys as its daemon configuration and
``MULTUS_NODE_NAME`` = the pods' node, so its informers cache the pods and NADs; its
network-status and events are written in the background (the counters are read once they
settle).

Checks (untimed): ADD answers with ips, eth0 (and net1) exist in the pod, the pod gets the
``k8s.v1.cni.cncf.io/network-status`` annotation; DEL rc 0 and the interfaces are gone.
If the Kubernetes backend does not work yet, the script stops with a clear message (exit 3).
Results: benchmarks/results/<out>.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import _common as C

NETWORKS_ANNOTATION = "k8s.v1.cni.cncf.io/networks"
STATUS_ANNOTATION = "k8s.v1.cni.cncf.io/network-status"
NAD_GROUP, NAD_VERSION, NAD_PLURAL = "k8s.cni.cncf.io", "v1", "network-attachment-definitions"
MULTUS_RESOURCES = ("pods", "network-attachment-definitions", "events")
BACKEND_INCOMPLETE = 3
NODE = "mbench-node"


def _ensure_imports() -> None:
    """kubernetes, yaml, prometheus_client and multus.testing.kube must import; otherwise re-exec
    with the benchmark venv's python (which has all of them)."""
    try:
        import kubernetes  # noqa: F401
        import prometheus_client  # noqa: F401
        import yaml  # noqa: F401
    except ImportError:
        venv_py = os.path.join(C.DEFAULT_VENV, "bin", "python")
        if os.path.realpath(sys.executable) != os.path.realpath(venv_py) and os.access(venv_py, os.X_OK):
            os.execv(venv_py, [venv_py, *sys.argv])
        raise C.BenchError("needs the kubernetes, pyyaml and prometheus_client packages "
                           "(run benchmarks/install.sh and use /opt/multus-bench/bin/python)")
    try:
        import multus.testing.kube  # noqa: F401
    except ImportError:
        sys.path.insert(0, os.path.join(C.ROOT, "src"))


class BackendIncomplete(C.BenchError):
    status = BACKEND_INCOMPLETE

    def __init__(self, msg: str) -> None:
        super().__init__(f"the Kubernetes backend (plugins/multus_k8s) does not work yet: {msg}")


def request_key(labels: dict[str, str]) -> str:
    res = labels.get("resource", "")
    sub = labels.get("subresource", "")
    return f"{labels.get('verb', '')} {res}{'/' + sub if sub else ''}"


def counts_by_key(delta: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    for labels, value in delta:
        if not value or not labels.get("resource"):
            continue  # non-resource requests: our own /metrics reads
        k = request_key(labels)
        out[k] = out.get(k, 0.0) + value
    return {k: v for k, v in sorted(out.items()) if v}


class ApiBench:
    def __init__(self, a: argparse.Namespace, lab: C.Lab, multus: str) -> None:
        from multus.testing import kube

        self.a, self.lab, self.multus, self.kube = a, lab, multus, kube
        self.bin_dir = a.bin_dir
        self.fails: list[dict[str, Any]] = []
        self.srv: Any = None
        t = lab.tmp
        self.bridge_conf = {
            "cniVersion": "1.0.0", "name": "mbench-cluster", "type": "bridge",
            "bridge": f"mb{os.getpid() % 100000}k"[:15], "isGateway": True,
            "ipam": {"type": "host-local", "subnet": "10.250.30.0/24", "dataDir": os.path.join(t, "ipam")},
        }
        self.macvlan_conf = {
            "cniVersion": "1.0.0", "name": "mbench-macvlan", "type": "macvlan", "master": "m0", "mode": "bridge",
            "ipam": {"type": "host-local", "subnet": "10.250.31.0/24", "dataDir": os.path.join(t, "ipam")},
        }
        self.with_macvlan = a.pod_networks == "macvlan"

    # --- setup ----------------------------------------------------------------------------------
    def start(self) -> None:
        kube = self.kube
        script = os.path.join(C.ROOT, "tests", "harness", "kube-apiserver.sh")
        os.environ.setdefault("MULTUS_REPO_ROOT", C.ROOT)
        self.lab.assert_inside()
        self.srv = kube.KubeApiServer(os.path.join(self.lab.tmp, "kube"), script=script)
        t0 = time.monotonic()
        self.srv.start()
        self.start_s = round(time.monotonic() - t0, 1)
        self.srv.install_crd(os.path.join(C.ROOT, "deploy", "crd.yaml"))
        self.srv.apply_manifest(os.path.join(C.ROOT, "deploy", "rbac.yaml"))
        self.ns = self.srv.new_namespace("mbench")
        from kubernetes import client

        self.client = client
        self.api = self.srv.api_client()
        self.core = client.CoreV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)
        self._nad("kube-system", self.bridge_conf)
        if self.with_macvlan:
            self._nad(self.ns, self.macvlan_conf)
        # the macvlan master: a veth pair inside the lab host namespace
        C.sh("ip", "-n", self.lab.host, "link", "add", "m0", "type", "veth", "peer", "name", "m0p")
        C.sh("ip", "-n", self.lab.host, "link", "set", "m0", "up")
        C.sh("ip", "-n", self.lab.host, "link", "set", "m0p", "up")
        t = self.lab.tmp
        self.mconf = {
            "cniVersion": "1.0.0", "name": "multus-cni-network", "type": "multus",
            "kubeconfig": str(self.srv.multus_kubeconfig), "clusterNetwork": "mbench-cluster",
            "multusNamespace": "kube-system", "confDir": os.path.join(t, "net.d"),
            "cniDir": os.path.join(t, "cache"), "binDir": self.bin_dir,
        }
        if self.a.log_level:
            self.mconf.update(logLevel=self.a.log_level, logFile=os.path.join(t, "multus.log"), logToStderr=False)
        os.makedirs(self.mconf["confDir"], exist_ok=True)
        self.daemon: Any = None
        if self.a.thick:
            self.start_daemon()
        self.conf_path = {"multus": os.path.join(t, "multus.json"), "direct": os.path.join(t, "bridge.json"),
                          "macvlan": os.path.join(t, "macvlan.json")}
        C.write_json(self.conf_path["multus"], self.mconf)
        C.write_json(self.conf_path["direct"], self.bridge_conf)
        C.write_json(self.conf_path["macvlan"], self.macvlan_conf)

    def start_daemon(self) -> None:
        """``multus-daemon`` with the multus configuration's keys; the shim's configuration then
        only names the socket."""
        import subprocess

        from multus.thick import client as thick

        t = self.lab.tmp
        bindir = os.path.dirname(self.multus)
        dconf = {k: v for k, v in self.mconf.items() if k not in ("type", "name")}
        dconf.update(socketDir=os.path.join(t, "daemon-run"), logLevel=self.a.log_level or "error",
                     logFile=os.path.join(t, "daemon.log"), logToStderr=False)
        C.write_json(os.path.join(t, "daemon-config.json"), dconf)
        env = {**os.environ, "MULTUS_NODE_NAME": NODE}
        with open(os.path.join(t, "daemon.stderr"), "wb") as err:
            self.daemon = subprocess.Popen([os.path.join(bindir, "multus-daemon"), "-config",
                                            os.path.join(t, "daemon-config.json")], env=env,
                                           stdin=subprocess.DEVNULL, stdout=err, stderr=err)
        sock = thick.socket_path(dconf["socketDir"])
        deadline = time.monotonic() + 60
        while thick.healthy(sock, thick.READY_ENDPOINT, timeout=2) is not None:
            if self.daemon.poll() is not None or time.monotonic() > deadline:
                raise C.BenchError(f"multus-daemon not ready (rc {self.daemon.poll()}); see {t}/daemon.stderr")
            time.sleep(0.1)
        self.mconf = {"cniVersion": "1.0.0", "name": "multus-cni-network", "type": "multus-shim",
                      "daemonSocketDir": dconf["socketDir"]}
        self.multus = os.path.join(bindir, "multus-shim")

    def _nad(self, namespace: str, conf: dict[str, Any]) -> None:
        import json

        body = {"apiVersion": f"{NAD_GROUP}/{NAD_VERSION}", "kind": "NetworkAttachmentDefinition",
                "metadata": {"name": conf["name"], "namespace": namespace},
                "spec": {"config": json.dumps(conf)}}
        self.custom.create_namespaced_custom_object(NAD_GROUP, NAD_VERSION, namespace, NAD_PLURAL, body)

    def create_pods(self, names: list[str]) -> dict[str, str]:
        c = self.client
        uids = {}
        ann = {NETWORKS_ANNOTATION: "mbench-macvlan"} if self.with_macvlan else {}
        for n in names:
            body = c.V1Pod(metadata=c.V1ObjectMeta(name=n, annotations=ann),
                           spec=c.V1PodSpec(node_name=NODE,
                                            containers=[c.V1Container(name="c", image="registry.invalid/pause")]))
            meta = self.core.create_namespaced_pod(self.ns, body).metadata
            uids[n] = str(meta.uid if meta is not None else "")
        return uids

    def stop(self) -> None:
        if getattr(self, "daemon", None) is not None and self.daemon.poll() is None:
            self.daemon.terminate()
            self.daemon.wait(30)
        if getattr(self, "api", None) is not None:
            try:
                self.api.close()
            except Exception as e:  # noqa: BLE001 - best effort: the server is stopped next anyway
                print(f"api_requests.py: closing the API client: {e}", file=sys.stderr)
        if self.srv is not None:
            self.srv.cleanup()
            self.srv = None

    # --- calls ----------------------------------------------------------------------------------
    def call(self, side: str, verb: str, netns: str, pod: str = "", uid: str = "", ifname: str = "eth0",
             rss: bool = False) -> C.Call:
        cid = f"{netns}-cid"
        args = f"IgnoreUnknown=1;K8S_POD_NAMESPACE={self.ns};K8S_POD_NAME={pod or netns};K8S_POD_INFRA_CONTAINER_ID={cid}"
        if uid:
            args += f";K8S_POD_UID={uid}"
        env = C.cni_env(verb, f"/run/netns/{netns}", cid, ifname, self.bin_dir, args)
        for k in [k for k in env if k.lower() in ("http_proxy", "https_proxy", "all_proxy")]:
            del env[k]  # loopback only, never through a proxy
        if side == "multus":
            return C.run_cni([self.multus], env, self.conf_path["multus"], rss_probe=rss)
        if side == "macvlan":
            return C.run_cni([os.path.join(self.bin_dir, "macvlan")], env, self.conf_path["macvlan"])
        return C.run_cni([os.path.join(self.bin_dir, "bridge")], env, self.conf_path["direct"])

    def fail(self, what: str, c: C.Call | None, **extra: Any) -> None:
        d: dict[str, Any] = {"what": what, **extra}
        if c is not None:
            d.update(rc=c.rc, stdout=c.out[-600:], stderr=c.err[-600:])
        self.fails.append(d)
        if self.a.verbose:
            print(f"FAIL {d}", file=sys.stderr)

    def ifaces(self) -> list[str]:
        return ["eth0", "net1"] if self.with_macvlan else ["eth0"]

    def check_multus_add(self, netns: str, pod: str, c: C.Call, read_pod: bool = True) -> bool:
        """ADD answered with ips and the interfaces exist; with ``read_pod`` also the pod's
        network-status annotation (an API read: never inside a counted phase)."""
        if not c.ok_add():
            self.fail("multus ADD", c, netns=netns)
            return False
        have = self.lab.links(netns)
        missing = [i for i in self.ifaces() if i not in have]
        if missing:
            self.fail("multus ADD: interfaces missing", c, netns=netns, missing=missing)
            return False
        if read_pod and not self.has_status(pod):
            self.fail("multus ADD: no network-status annotation on the pod", c, pod=pod)
            return False
        return True

    def has_status(self, pod: str) -> bool:
        deadline = time.monotonic() + (5 if self.a.thick else 0)  # the daemon writes in the background
        while True:
            p = self.core.read_namespaced_pod(pod, self.ns)
            if p.metadata is not None and STATUS_ANNOTATION in (p.metadata.annotations or {}):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)

    def calibrate_nad_get(self) -> dict[str, float]:
        """How this apiserver labels ONE GET of one NAD by name in apiserver_request_total
        (1.20 files requests to custom resources under other verbs than one may expect)."""
        m0 = self.metrics()
        self.custom.get_namespaced_custom_object(NAD_GROUP, NAD_VERSION, "kube-system", NAD_PLURAL, "mbench-cluster")
        return {k: v for k, v in counts_by_key(self.metrics() - m0).items()}

    def profile(self, pods: list[str], uids: dict[str, str]) -> dict[str, Any]:
        """Re-ADD two of the (now deleted) pods: one under -X importtime, one under cProfile."""
        from profile_cni import importtime_summary, profile_summary
        from startup import parse_importtime

        python = C.interpreter_of(self.multus) or sys.executable
        out: dict[str, Any] = {}
        argvs = {"importtime": [python, "-X", "importtime", self.multus],
                 "cprofile": [python, "-m", "cProfile", "-o",
                              os.path.join(C.RESULTS_DIR, f"{self.a.out}-add.prof"), self.multus]}
        os.makedirs(C.RESULTS_DIR, exist_ok=True)
        for (kind, argv), pod in zip(argvs.items(), pods):
            cid = f"{pod}-cid"
            args = (f"IgnoreUnknown=1;K8S_POD_NAMESPACE={self.ns};K8S_POD_NAME={pod};"
                    f"K8S_POD_INFRA_CONTAINER_ID={cid};K8S_POD_UID={uids[pod]}")
            for verb in ("ADD", "DEL"):
                env = C.cni_env(verb, f"/run/netns/{pod}", cid, "eth0", self.bin_dir, args)
                c = C.run_cni(argv if verb == "ADD" else [self.multus], env, self.conf_path["multus"])
                if c.rc != 0:
                    self.fail(f"profile {kind} {verb}", c, pod=pod)
                if verb == "ADD" and kind == "importtime":
                    out["importtime_add"] = importtime_summary([parse_importtime(c.err)], 25)
        prof = os.path.join(C.RESULTS_DIR, f"{self.a.out}-add.prof")
        if os.path.exists(prof):
            out["cprofile_add"] = profile_summary(prof, 25)
        return out

    def metrics(self) -> Any:
        """apiserver_request_total, read until the multus-relevant counters stop moving
        (a counter is bumped just after its response is written)."""
        prev = None
        for _ in range(20):  # bounded: at most ~5 s
            m = self.srv.metrics()
            key = tuple(sorted((k, v) for k, v in counts_by_key(m).items() if k.split(" ")[1].split("/")[0] in MULTUS_RESOURCES))
            if key == prev:
                return m
            prev = key
            time.sleep(0.25)
        return m


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--multus", help=f"the multus executable (default {C.DEFAULT_MULTUS})")
    ap.add_argument("-n", type=int, default=50, help="pods (default 50)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed pods first, also the correctness probe (default 2)")
    ap.add_argument("--pod-networks", choices=("macvlan", "none"), default="macvlan",
                    help="pod annotation: the macvlan NAD (default) or none (cluster network only)")
    ap.add_argument("--bin-dir", default=C.DEFAULT_BIN_DIR)
    ap.add_argument("--log-level", default="", help="multus logLevel (to a log file in the temp dir)")
    ap.add_argument("--profile", action="store_true",
                    help="also one ADD under -X importtime and one under cProfile (<out>-add.prof)")
    ap.add_argument("--thick", action="store_true",
                    help="multus-shim + multus-daemon (with informers) instead of the thin multus")
    ap.add_argument("--out", default="api_requests", help="results name (benchmarks/results/NAME.json)")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    if a.n < 1 or a.n + a.warmup > 200:
        raise C.BenchError("-n must be 1..200 (with --warmup)")
    C.need_root()
    _ensure_imports()
    from multus.testing import kube

    multus = C.resolve_multus(a.multus)
    python = C.interpreter_of(multus)
    # the measured multus must have the Kubernetes backend installed at all
    probe = C.sh(python or sys.executable, "-c",
                 "import importlib.metadata as m; eps=m.distribution('multus').entry_points;"
                 "print(sorted(e.value for e in eps if e.group in ('multus.source','multus.lifecycle')))",
                 check=False)
    if probe.returncode != 0 or "multus_k8s" not in probe.stdout:
        raise BackendIncomplete(f"no multus_k8s entry points in {python}: {probe.stdout.strip()} {probe.stderr.strip()[-300:]}")
    os.environ.setdefault("MULTUS_REPO_ROOT", C.ROOT)
    reason = kube.apiserver_unavailable_reason(allow_build=False)
    if reason is not None:
        raise C.BenchError(f"no kube-apiserver: {reason} "
                           "(build it first, outside any namespace: bash tests/harness/kube-apiserver.sh build)")
    load0 = C.loadavg()
    t_start = time.time()
    res: dict[str, Any] = {"benchmark": "api_requests", "multus": multus, "python": python,
                           "machine": C.machine_info(), "pods": a.n, "pod_networks": a.pod_networks,
                           "mode": "thick" if a.thick else "thin"}
    with C.Lab("api") as lab:
        b = ApiBench(a, lab, multus)
        try:
            b.start()
            res["apiserver_start_s"] = b.start_s
            n, w = a.n, a.warmup
            mpods = lab.pod_names("m", n + w)
            dpods = lab.pod_names("d", n + w)
            lab.add_netns(mpods + dpods)
            uids = b.create_pods(mpods)
            sides = ["direct", "multus"]
            # warm-up, and the probe that the backend works at all
            rss: list[int] = []
            for i in range(w):
                c = b.call("multus", "ADD", mpods[i], mpods[i], uids[mpods[i]], rss=True)
                if c.maxrss_kb:
                    rss.append(c.maxrss_kb)
                if not b.check_multus_add(mpods[i], mpods[i], c):
                    detail = b.fails[-1]
                    raise BackendIncomplete(f"warm-up ADD failed: {detail.get('what')}: rc={detail.get('rc')} "
                                            f"stdout={detail.get('stdout', '')[-400:]!r} stderr={detail.get('stderr', '')[-400:]!r}")
                b.call("multus", "DEL", mpods[i], mpods[i], uids[mpods[i]])
                b.call("direct", "ADD", dpods[i])
                b.call("direct", "DEL", dpods[i])
            res["peak_rss_kb_multus_add"] = max(rss) if rss else None
            res["nad_get_labeled_as"] = b.calibrate_nad_get()
            lab.assert_inside()
            times: dict[str, dict[str, list[float]]] = {s: {"ADD": [], "DEL": []} for s in ("direct", "multus", "macvlan")}
            phase_s: dict[str, float] = {}
            deltas: dict[str, dict[str, float]] = {}
            for verb in ("ADD", "DEL"):
                m0 = b.metrics()
                t0 = time.monotonic()
                for i in range(w, w + n):
                    for s in (sides if i % 2 == 0 else sides[::-1]):
                        if s == "multus":
                            c = b.call("multus", verb, mpods[i], mpods[i], uids[mpods[i]])
                            times["multus"][verb].append(c.seconds)
                            if verb == "ADD":
                                b.check_multus_add(mpods[i], mpods[i], c, read_pod=False)
                            elif c.rc != 0 or any(x in lab.links(mpods[i]) for x in b.ifaces()):
                                b.fail("multus DEL", c, netns=mpods[i])
                        else:
                            order = [("direct", "eth0")] + ([("macvlan", "net1")] if b.with_macvlan else [])
                            if verb == "DEL":
                                order.reverse()
                            for plug, ifn in order:
                                c = b.call(plug, verb, dpods[i], ifname=ifn)
                                times[plug][verb].append(c.seconds)
                                if c.rc != 0 or (verb == "ADD" and not c.ok_add()):
                                    b.fail(f"{plug} {verb}", c, netns=dpods[i])
                phase_s[verb] = time.monotonic() - t0
                m1 = b.metrics()
                deltas[verb] = counts_by_key(m1 - m0)
                if verb == "ADD":  # the annotations, read after the counted phase
                    for i in range(w, w + n):
                        if not b.has_status(mpods[i]):
                            b.fail("multus ADD: no network-status annotation on the pod", None, pod=mpods[i])
            if a.profile:
                res["profile"] = b.profile(mpods[w:w + n], uids)
            # background: what the apiserver asks itself while nobody else talks to it
            mi0 = b.metrics()
            idle = min(phase_s["ADD"], 30.0)
            time.sleep(idle)
            background = counts_by_key(b.metrics() - mi0)
            res["background_idle_s"] = round(idle, 1)
        finally:
            b.stop()
    load1 = C.loadavg()

    def per_pod(d: dict[str, float]) -> dict[str, float]:
        return {k: round(v / a.n, 2) for k, v in d.items()}

    def split(d: dict[str, float], idx: int) -> dict[str, float]:
        out: dict[str, float] = {}
        for k, v in d.items():
            part = k.split(" ")[idx] if idx == 0 else k.split(" ")[1]
            out[part] = round(out.get(part, 0.0) + v / a.n, 2)
        return out

    api: dict[str, Any] = {}
    for verb in ("ADD", "DEL"):
        d = deltas[verb]
        ours = {k: v for k, v in d.items() if k.split(" ")[1].split("/")[0] in MULTUS_RESOURCES}
        other = {k: v for k, v in d.items() if k not in ours}
        api[verb.lower()] = {"per_pod": per_pod(ours), "total_per_pod": round(sum(ours.values()) / a.n, 2),
                             "by_verb": split(ours, 0), "by_resource": split(ours, 1),
                             "other_requests_in_phase": other, "phase_s": round(phase_s[verb], 1)}
    stats = {s: {v.lower(): C.summ_ms(x) for v, x in d.items()} for s, d in times.items() if d["ADD"]}
    if b.with_macvlan:
        both = {v: [x + y for x, y in zip(times["direct"][v], times["macvlan"][v])] for v in ("ADD", "DEL")}
        stats["direct+macvlan"] = {v.lower(): C.summ_ms(x) for v, x in both.items()}

    def med(side: str, v: str) -> float | None:
        return stats.get(side, {}).get(v, {}).get("median_ms")

    ratios = {"add_vs_bridge": C.ratio(med("multus", "add"), med("direct", "add")),
              "del_vs_bridge": C.ratio(med("multus", "del"), med("direct", "del"))}
    if b.with_macvlan:
        ratios["add_vs_bridge+macvlan"] = C.ratio(med("multus", "add"), med("direct+macvlan", "add"))
        ratios["del_vs_bridge+macvlan"] = C.ratio(med("multus", "del"), med("direct+macvlan", "del"))
    res.update({"loadavg_before": load0, "loadavg_after": load1, "duration_s": round(time.time() - t_start, 1),
                "api_requests": api, "background_requests": background, "latency": stats, "ratios": ratios,
                "failures": len(b.fails), "failure_detail": b.fails[:20],
                "samples_s": times})
    path = C.write_results(a.out, res)

    nets = "eth0 (bridge NAD) + net1 (macvlan NAD)" if b.with_macvlan else "eth0 (bridge NAD) only"
    print(f"== multus against a real kube-apiserver: {a.n} pods, {nets}")
    print(f"   multus {multus}; apiserver start {res.get('apiserver_start_s')} s; loadavg before {load0} after {load1}")
    for verb in ("add", "del"):
        x = api[verb]
        print(f"   API requests per {verb.upper()}: {x['total_per_pod']}  by verb {x['by_verb']}  by resource {x['by_resource']}")
        C.print_table(sorted(x["per_pod"].items()), [f"{verb.upper()} request", "per pod"])
        if x["other_requests_in_phase"]:
            print(f"   (other requests during the {verb.upper()} phase, not counted: {x['other_requests_in_phase']})")
    print(f"   apiserver's own requests while idle for {res['background_idle_s']} s: {background or 'none'}")
    rows = [(s, st["add"].get("median_ms"), st["add"].get("p90_ms"), st["del"].get("median_ms"), st["del"].get("p90_ms"))
            for s, st in stats.items()]
    C.print_table(rows, ["", "ADD med ms", "ADD p90", "DEL med ms", "DEL p90"])
    print(f"   ratios (medians): {ratios}")
    print(f"   peak RSS of a multus ADD (GNU time %M, warm-up): {res.get('peak_rss_kb_multus_add')} KiB")
    print(f"   (one GET of one NAD by name is labeled {res.get('nad_get_labeled_as')} by this apiserver)")
    prof = res.get("profile")
    if prof:
        it, cp = prof.get("importtime_add"), prof.get("cprofile_add")
        if it:
            print(f"   ADD -X importtime: {it['modules']} modules, {it['total_ms']} ms")
            C.print_table([(r["package"], r["self_ms"]) for r in it["by_package"][:15]],
                          ["package (import self time)", "ms"])
        if cp:
            print(f"   ADD cProfile: {cp['total_ms']} ms, imports {cp['imports_ms']} ms, delegates "
                  f"{cp['delegate_spawn_ms'] + cp['delegate_wait_ms']:.1f} ms, rest {cp['rest_ms']} ms")
            C.print_table([(r["function"][:90], r["ncalls"], r["cumtime_ms"]) for r in cp["multus_by_cumtime"][:15]],
                          ["multus function (cumulative)", "calls", "ms"])
    print(f"   failures: {len(b.fails)}")
    for f in b.fails[:5]:
        print(f"   FAIL {str(f)[:400]}")
    print(f"   results: {path}")
    return 1 if b.fails else 0


if __name__ == "__main__":
    C.run(main)
