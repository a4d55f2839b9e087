#!/usr/bin/env python3
"""What the thin ``multus`` process imports for one ADD, with and without a Kubernetes API.

    sudo python3 benchmarks/thin_imports.py [--multus PATH] [--apiserver] [--label after]

Each case is one ADD of a pod (its own netns in a lab host namespace) with a no-op delegate
(a 6-line sh plugin), so what is left is multus' own start-up and work:

``no_api``
    the static ``delegates`` list, no kubeconfig;
``kubeconfig``
    ``kubeconfig`` set (YAML). With ``--apiserver``: a real kube-apiserver in the lab (the harness of
    tests/harness, as api_requests.py), the pods exist, ``clusterNetwork`` is a
    NetworkAttachmentDefinition of the no-op delegate, so the ADD reads the pod and the NAD and
    writes network-status and an event. Without: a kubeconfig pointing at a closed port of the
    lab's loopback (``kubeAPITimeout`` 0.5 s, no retries): the call fails with code 11, but it has
    imported everything it needs to talk to the API first;
``kubeconfig_json``
    (``--apiserver`` only) the same kubeconfig as JSON, as ``multusctl install`` writes it.

For each case: ``python -X importtime`` of ``--runs`` calls (median per module), the top-level
imports by cumulative time, and an *import ladder* (benchmarks/profile_cni.py): python processes
importing growing prefixes of the call's top-level imports, alternated, so that each step's
``step_ms`` is the real cost of that import. ``kubernetes_imported`` says whether the call
loaded the ``kubernetes`` package at all. With ``--callgrind`` (valgrind installed) one more call of
each case runs under ``valgrind --tool=callgrind``: its instruction count, and that of a python
that only imports the same modules, do not depend on the machine's load (``instructions_M``,
``import_instructions_M``; the difference is the work of the call itself).

Results: benchmarks/results/<out>.json (default ``thin_import_ladder``), under the key
``--label`` (``before``/``after`` ...): other labels already in the file are kept.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C
from profile_cni import IMPORT_ONLY, import_ladder, importtime_summary, ladder_steps, write_noop
from startup import parse_importtime

UNREACHABLE_KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- name: gone
  cluster: {server: "https://127.0.0.1:9", insecure-skip-tls-verify: true}
users:
- name: u
  user: {token: not-a-real-token}
contexts:
- name: c
  context: {cluster: gone, user: u}
current-context: c
"""


VALGRIND = "/usr/bin/valgrind"
CALLGRIND = ["--tool=callgrind", "--callgrind-out-file=/dev/null"]


def instructions(stderr: str) -> float | None:
    """Millions of instructions callgrind collected (``None``: it did not run)."""
    import re

    m = re.search(r"Collected : (\d+)", stderr)
    return round(int(m.group(1)) / 1e6, 1) if m else None


def instruction_ladder(python: str, top_level: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The import ladder of profile_cni.py in instructions (callgrind) instead of wall time: each
    step is one python importing a growing prefix of the call's top-level imports; ``step_M`` is
    what that import adds. Deterministic, so one run per step is enough."""
    out: list[dict[str, Any]] = []
    prev: float | None = None
    for name, mods in ladder_steps(top_level):
        p = C.sh(VALGRIND, *CALLGRIND, python, "-c", IMPORT_ONLY % (mods,) if mods else "pass",
                 check=False, timeout=600)
        n = instructions(p.stderr)
        out.append({"import": name, "step_M": round(n - prev, 1) if n is not None and prev is not None else None,
                    "cumulative_M": n})
        prev = n
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--multus", help=f"the multus executable (default {C.DEFAULT_MULTUS})")
    ap.add_argument("--apiserver", action="store_true",
                    help="a real kube-apiserver in the lab (default: a kubeconfig of an unreachable one)")
    ap.add_argument("--runs", type=int, default=5, help="-X importtime runs per case (default 5)")
    ap.add_argument("--ladder-runs", type=int, default=7, help="runs per ladder step (default 7; 0: skip)")
    ap.add_argument("--callgrind", action="store_true", help="instruction counts under valgrind (slow: ~1 min)")
    ap.add_argument("--label", default="current", help="key of this run in the results file")
    ap.add_argument("--out", default="thin_import_ladder", help="results name (benchmarks/results/NAME.json)")
    a = ap.parse_args()
    C.need_root()
    if a.callgrind and not os.access(VALGRIND, os.X_OK):
        raise C.BenchError(f"--callgrind needs {VALGRIND} (apt-get install valgrind)")
    multus = C.resolve_multus(a.multus)
    python = C.interpreter_of(multus)
    if python is None:
        raise C.BenchError(f"{multus} is not a Python launcher script")
    load0 = C.loadavg()
    if a.apiserver:
        from api_requests import ApiBench, _ensure_imports

        _ensure_imports()
    res: dict[str, Any] = {"multus": multus, "python": python, "machine": C.machine_info(),
                           "kubeconfig": "real kube-apiserver" if a.apiserver else "(unreachable server)",
                           "cases": {}}
    fails: list[dict[str, Any]] = []
    with C.Lab("imp") as lab:
        srv: Any = None
        noop_dir = os.path.join(lab.tmp, "bin")
        noop = write_noop(noop_dir)
        base = {"cniVersion": "1.0.0", "name": "multus-cni-network", "type": "multus",
                "confDir": os.path.join(lab.tmp, "net.d"), "cniDir": os.path.join(lab.tmp, "cache"),
                "binDir": noop_dir, "delegates": [noop]}
        pod_ns = "default"
        pods = lab.pod_names("p", a.runs * 3)
        extra: dict[str, Any] = {}
        lab.add_netns(pods)
        try:
            if a.apiserver:
                srv = ApiBench(argparse.Namespace(pod_networks="none", thick=False, log_level="", bin_dir=noop_dir),
                               lab, multus)
                srv.start()
                srv._nad("kube-system", noop)
                srv.create_pods(pods[a.runs:])
                pod_ns = srv.ns
                with_api = {k: v for k, v in base.items() if k != "delegates"}
                with_api.update(kubeconfig=str(srv.srv.multus_kubeconfig), clusterNetwork="mbench-noop",
                                multusNamespace="kube-system")
                import yaml

                as_json = os.path.join(lab.tmp, "credentials.kubeconfig.json")  # not a case file name
                with open(srv.srv.multus_kubeconfig) as f:
                    C.write_json(as_json, yaml.safe_load(f))
                extra["kubeconfig_json"] = dict(with_api, kubeconfig=as_json)
            else:
                kubeconfig = os.path.join(lab.tmp, "kubeconfig")
                with open(kubeconfig, "w") as f:
                    f.write(UNREACHABLE_KUBECONFIG)
                with_api = dict(base, kubeconfig=kubeconfig, kubeAPITimeout=0.5, kubeAPIRetries=0)
            cases = {"no_api": base, "kubeconfig": with_api, **extra}
            lab.assert_inside()
            i = 0
            for case, conf in cases.items():
                path = os.path.join(lab.tmp, f"{case}.json")
                C.write_json(path, conf)
                runs = []
                for _ in range(a.runs):
                    ns = pods[i]
                    i += 1
                    env = C.cni_env("ADD", f"/run/netns/{ns}", f"{ns}-cid", "eth0", noop_dir,
                                    f"IgnoreUnknown=1;K8S_POD_NAMESPACE={pod_ns};K8S_POD_NAME={ns}")
                    c = C.run_cni([python, "-X", "importtime", multus], env, path)
                    ok = c.rc == 0 or (case == "kubeconfig" and not a.apiserver and '"code": 11' in c.out)
                    if not ok:
                        fails.append({"case": case, "rc": c.rc, "out": c.out[-300:], "err": c.err[-300:]})
                    runs.append(parse_importtime(c.err))
                summary = importtime_summary(runs, 25)
                modules = {r["module"] for run in runs for r in run}
                entry: dict[str, Any] = {
                    "modules": summary["modules"], "importtime_total_ms": summary["total_ms"],
                    "kubernetes_imported": any(m == "kubernetes" or m.startswith("kubernetes.") for m in modules),
                    "top_level": summary["top_level"], "by_package": summary["by_package"][:15],
                }
                if a.ladder_runs > 0:
                    entry["ladder"] = import_ladder(python, summary["all_top_level"], a.ladder_runs)
                if a.callgrind:
                    ns = pods[i - 1]
                    env = C.cni_env("DEL", f"/run/netns/{ns}", f"{ns}-cid", "eth0", noop_dir,
                                    f"IgnoreUnknown=1;K8S_POD_NAMESPACE={pod_ns};K8S_POD_NAME={ns}")
                    C.run_cni([multus], env, path)
                    env["CNI_COMMAND"] = "ADD"
                    c = C.run_cni([VALGRIND, *CALLGRIND, python, multus], env, path, timeout=600)
                    entry["instructions_M"] = instructions(c.err)
                    mods = [r["module"] for r in summary["all_top_level"]]
                    c = C.run_cni([VALGRIND, *CALLGRIND, python, "-c", IMPORT_ONLY % (mods,)], env, path, timeout=600)
                    entry["import_instructions_M"] = instructions(c.err)
                    entry["instruction_ladder"] = instruction_ladder(python, summary["all_top_level"])
                res["cases"][case] = entry
            lab.del_netns(pods)
        finally:
            if srv is not None:
                srv.stop()
    res["loadavg_before"], res["loadavg_after"] = load0, C.loadavg()
    res["failures"] = fails
    out_path = os.path.join(C.RESULTS_DIR, f"{a.out}.json")
    old: dict[str, Any] = {}
    if os.path.exists(out_path):
        with open(out_path) as f:
            old = json.load(f)
    old[a.label] = res
    path = C.write_results(a.out, old)
    print(f"== thin multus ADD imports ({multus}), label {a.label!r}; loadavg {load0} -> {res['loadavg_after']}")
    for case, entry in res["cases"].items():
        print(f"\n-- {case}: {entry['modules']} modules, -X importtime {entry['importtime_total_ms']} ms, "
              f"kubernetes imported: {entry['kubernetes_imported']}")
        if "instructions_M" in entry:
            print(f"   callgrind: {entry['instructions_M']} M instructions per ADD, of which "
                  f"{entry['import_instructions_M']} M are its imports")
        if "instruction_ladder" in entry:
            C.print_table([(r["import"], r["step_M"], r["cumulative_M"]) for r in entry["instruction_ladder"]],
                          ["instruction ladder (callgrind)", "step M", "process M"])
        if "ladder" in entry:
            C.print_table([(r["import"], r["step_ms"], r["cumulative_ms"]) for r in entry["ladder"]],
                          ["import ladder: real cost of each top-level import", "step ms", "process ms"])
    print(f"\n   failures: {len(fails)}; results: {path}")
    return 1 if fails else 0


if __name__ == "__main__":
    C.run(main)
