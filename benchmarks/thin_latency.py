#!/usr/bin/env python3
"""The thin ``multus`` against the bridge plugin called directly, in ONE run: ADD without an API
server, ADD with a kubeconfig (a real kube-apiserver in the lab), DEL of both, and VERSION.

    sudo python3 benchmarks/thin_latency.py [--multus PATH] [-n 40] [--skip-api]

Sides, alternated call by call (the order rotates every pod), each pod its own netns:

``direct``
    the bridge plugin (+ host-local) exec'd with its configuration;
``no_api``
    ``multus`` with that configuration as its static ``delegates`` list, no kubeconfig;
``kubeconfig``
    ``multus`` with ``kubeconfig`` (the multus service account of deploy/rbac.yaml) and
    ``clusterNetwork`` = a NetworkAttachmentDefinition holding the same bridge configuration; the
    pods exist in the API with no network annotation (the cluster network only), so one ADD is:
    GET pod, GET NAD, the bridge, PATCH pods/status, POST event. The kubeconfig is JSON, as
    ``multusctl install`` writes it;
``kubeconfig_yaml``
    the same with the kubeconfig in YAML (as the test harness and most hand-written ones are):
    the difference is the import of PyYAML.

Then ``VERSION`` of multus and of the bridge, alternated with three *floor* processes of the same
interpreter that only import and leave (``os._exit``, as multus does):

``interpreter``
    nothing: the cost of starting this Python at all;
``dependencies``
    what a thin ADD or DEL cannot do without and does not write itself: the mandated libraries
    (attrs, pluggy) and the standard library it runs on (re, json, logging, subprocess to exec
    the delegate, fcntl for the cache lock, ctypes for setns, base64);
``dependencies_tls``
    those plus ``ssl`` and ``http.client``: what talking to an API server over HTTPS needs.

``floor_ratio`` is (floor + the bridge's own time) / the bridge's time: the ratio a thin plugin
with zero code of its own would reach in this run, the lowest any Python plugin on these
dependencies can. Targets (ratios to ``direct`` in this
run): no-API ADD <= 6x, kubeconfig ADD <= 8x, DEL <= 3x (both multus sides), VERSION as
startup.py's (<= 60 ms). Every call is checked outside the timed region (ADD: a result with ips
and ``eth0`` in the pod; DEL: ``eth0`` gone). Results: benchmarks/results/<out>.json
(default ``thin_latency``), raw samples included.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C
from api_requests import ApiBench, _ensure_imports

TARGETS = {"no_api_add": 6.0, "kubeconfig_add": 8.0, "kubeconfig_yaml_add": 8.0, "no_api_del": 3.0,
           "kubeconfig_del": 3.0}
SIDES = ("direct", "no_api", "kubeconfig", "kubeconfig_yaml")
_DEPENDENCIES = ("re", "json", "attr", "pluggy", "logging", "subprocess", "fcntl", "ctypes", "base64")
FLOORS = {"interpreter": (), "dependencies": _DEPENDENCIES,
          "dependencies_tls": (*_DEPENDENCIES, "ssl", "http.client")}
API_SIDES = ("kubeconfig", "kubeconfig_yaml")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--multus", help=f"the multus executable (default {C.DEFAULT_MULTUS})")
    ap.add_argument("-n", type=int, default=40, help="pods per side (default 40)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed pods per side first (default 2)")
    ap.add_argument("--versions", type=int, default=30, help="VERSION calls per side (default 30)")
    ap.add_argument("--skip-api", action="store_true", help="no kube-apiserver: no kubeconfig side")
    ap.add_argument("--bin-dir", default=C.DEFAULT_BIN_DIR)
    ap.add_argument("--out", default="thin_latency", help="results name (benchmarks/results/NAME.json)")
    a = ap.parse_args()
    if a.n < 1 or a.n + a.warmup > 60:
        raise C.BenchError("-n must be 1..60 (with --warmup): four sides share one /24")
    C.need_root()
    if not a.skip_api:
        _ensure_imports()
    multus = C.resolve_multus(a.multus)
    python = C.interpreter_of(multus)
    sides = [s for s in SIDES if not (a.skip_api and s in API_SIDES)]
    load0 = C.loadavg()
    t_start = time.time()
    res: dict[str, Any] = {"benchmark": "thin_latency", "multus": multus, "python": python,
                           "editable_install": C.editable_install(python) if python else None,
                           "machine": C.machine_info(), "pods": a.n, "sides": sides}
    times: dict[str, dict[str, list[float]]] = {s: {"ADD": [], "DEL": [], "VERSION": []} for s in SIDES}
    floors: dict[str, list[float]] = {f: [] for f in FLOORS}
    fails: list[dict[str, Any]] = []
    with C.Lab("thin") as lab:
        api_args = argparse.Namespace(pod_networks="none", thick=False, log_level="", bin_dir=a.bin_dir)
        b = ApiBench(api_args, lab, multus)
        try:
            if a.skip_api:
                uids: dict[str, str] = {}
                b.ns = "mbench"
                b.conf_path = {"direct": os.path.join(lab.tmp, "bridge.json")}
                C.write_json(b.conf_path["direct"], b.bridge_conf)
            else:
                b.start()
                res["apiserver_start_s"] = b.start_s
                import yaml

                as_json = os.path.join(lab.tmp, "multus-kubeconfig.json")
                with open(b.srv.multus_kubeconfig) as f:
                    C.write_json(as_json, yaml.safe_load(f))
                b.conf_path["kubeconfig_yaml"] = b.conf_path["multus"]
                b.conf_path["kubeconfig"] = os.path.join(lab.tmp, "multus-json.json")
                C.write_json(b.conf_path["kubeconfig"], dict(b.mconf, kubeconfig=as_json))
            no_api = {"cniVersion": "1.0.0", "name": "multus-cni-network", "type": "multus",
                      "confDir": os.path.join(lab.tmp, "net.d"), "cniDir": os.path.join(lab.tmp, "cache-noapi"),
                      "binDir": a.bin_dir, "delegates": [b.bridge_conf]}
            os.makedirs(no_api["confDir"], exist_ok=True)
            no_api_path = os.path.join(lab.tmp, "multus-noapi.json")
            C.write_json(no_api_path, no_api)
            total = a.n + a.warmup
            pods = {s: lab.pod_names("dnky"[SIDES.index(s)], total) for s in sides}
            lab.add_netns([p for s in sides for p in pods[s]])
            if not a.skip_api:
                uids = b.create_pods([p for s in API_SIDES for p in pods[s]])
            lab.assert_inside()

            def call(side: str, verb: str, i: int) -> C.Call:
                ns = pods[side][i]
                if side == "direct":
                    return b.call("direct", verb, ns)
                cid = f"{ns}-cid"
                args = f"IgnoreUnknown=1;K8S_POD_NAMESPACE={b.ns};K8S_POD_NAME={ns}"
                if side in API_SIDES:
                    args += f";K8S_POD_UID={uids[ns]}"
                env = C.cni_env(verb, f"/run/netns/{ns}", cid, "eth0", a.bin_dir, args)
                return C.run_cni([multus], env, b.conf_path[side] if side in API_SIDES else no_api_path)

            for verb in ("ADD", "DEL"):
                for i in range(total):
                    k = i % len(sides)
                    for side in sides[k:] + sides[:k]:
                        c = call(side, verb, i)
                        ok = c.rc == 0 and (c.ok_add() if verb == "ADD" else True)
                        present = lab.link_exists(pods[side][i], "eth0")
                        if not ok or present != (verb == "ADD"):
                            fails.append({"side": side, "verb": verb, "pod": pods[side][i], "rc": c.rc,
                                          "eth0": present, "stdout": c.out[-300:], "stderr": c.err[-300:]})
                        if i >= a.warmup:
                            times[side][verb].append(c.seconds)
            env = C.cni_env("VERSION", "", "", "", a.bin_dir, "")
            version_argv = {"direct": [os.path.join(a.bin_dir, "bridge")], "no_api": [multus]}
            for i in range(a.versions):
                for side in (("direct", "no_api") if i % 2 == 0 else ("no_api", "direct")):
                    c = C.run_cni(version_argv[side], env, no_api_path)
                    if c.rc != 0 or "supportedVersions" not in c.out:
                        fails.append({"side": side, "verb": "VERSION", "rc": c.rc, "stdout": c.out[-300:]})
                    times[side]["VERSION"].append(c.seconds)
                for name in (list(FLOORS) if i % 2 == 0 else list(reversed(FLOORS))):
                    code = "".join(f"import {m}\n" for m in ("os", *FLOORS[name])) + "os._exit(0)"
                    c = C.run_cni([python or sys.executable, "-c", code], env, no_api_path)
                    if c.rc != 0:
                        fails.append({"side": f"floor {name}", "rc": c.rc, "stderr": c.err[-300:]})
                    floors[name].append(c.seconds)
            lab.del_netns([p for s in sides for p in pods[s]])
        finally:
            b.stop()

    summary = {s: {v.lower(): C.summ_ms(times[s][v]) for v in ("ADD", "DEL", "VERSION") if times[s][v]}
               for s in SIDES if any(times[s].values())}

    def ratio(side: str, verb: str) -> float | None:
        if side not in summary or verb not in summary[side]:
            return None
        return C.ratio(summary[side][verb]["median_ms"], summary["direct"][verb]["median_ms"])

    ratios = {f"{s}_{v}": ratio(s, v) for s in ("no_api", *API_SIDES) for v in ("add", "del")}
    ratios["version"] = ratio("no_api", "version")
    meets = {k: r is not None and r <= TARGETS[k] for k, r in ratios.items() if k in TARGETS}
    floor_ms = {f: C.summ_ms(xs) for f, xs in floors.items() if xs}

    def floor_ratio(floor: str, verb: str) -> float | None:
        direct = summary.get("direct", {}).get(verb, {}).get("median_ms")
        if floor not in floor_ms or not direct:
            return None
        return C.ratio(floor_ms[floor]["median_ms"] + direct, direct)

    floor_ratios = {"no_api_add": floor_ratio("dependencies", "add"), "del": floor_ratio("dependencies", "del"),
                    "kubeconfig_add": floor_ratio("dependencies_tls", "add")}
    res.update({"loadavg_before": load0, "loadavg_after": C.loadavg(), "duration_s": round(time.time() - t_start, 1),
                "summary": summary, "ratio_median": ratios, "targets": TARGETS, "meets_targets": meets,
                "floor_ms": floor_ms, "floor_modules": FLOORS, "floor_ratio": floor_ratios,
                "failures": len(fails), "failure_detail": fails[:20],
                "samples_s": {s: {v: xs for v, xs in d.items() if xs} for s, d in times.items()}})
    path = C.write_results(a.out, res)
    print(f"== thin multus vs bridge called directly, one run: {a.n} pods/side; loadavg {load0} -> "
          f"{res['loadavg_after']}; {res['duration_s']} s")
    rows = [(s, *(summary[s].get(v, {}).get("median_ms") for v in ("add", "del", "version")),
             *(ratio(s, v) if s != "direct" else None for v in ("add", "del", "version")))
            for s in summary]
    C.print_table(rows, ["side", "ADD med ms", "DEL med ms", "VERSION med ms", "ADD x", "DEL x", "VERSION x"])
    for k, ok in meets.items():
        print(f"   {k}: {ratios[k]}x {'MEETS' if ok else 'MISSES'} the target <= {TARGETS[k]}x")
    print("   floors (import and leave): " + ", ".join(f"{f} {m['median_ms']} ms" for f, m in floor_ms.items()))
    print("   floor ratios (floor + bridge) / bridge: "
          + ", ".join(f"{k} {r}x" for k, r in floor_ratios.items() if r is not None))
    print(f"   failures: {len(fails)}; results: {path}")
    for f in fails[:5]:
        print(f"   FAIL {f}")
    return 1 if fails else 0


if __name__ == "__main__":
    C.run(main)
