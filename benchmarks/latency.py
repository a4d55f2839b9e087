#!/usr/bin/env python3
"""ADD/DEL latency of ``multus`` against the bridge plugin called directly, in one run.

    sudo python3 benchmarks/latency.py [--multus PATH] [-n 50] [-j 8] [--par-pods 4] [--repeat 1]

Both sides run the SAME delegate configuration: bridge + host-local (``bridge`` mb<pid>0,
10.250.20.0/24, ``dataDir`` and multus' ``cniDir`` in a temp dir). ``multus`` gets it as its
static ``delegates`` list; ``direct`` is the bridge plugin exec'd with that configuration.

Each round (``--repeat`` rounds, default 1):

1. sequential: ``-n`` pods per side, each its own network namespace. ADDs alternate direct/multus
   (the order flips every pod), then DELs alternate the same way. Whole-process wall time of
   each call (fork+exec to exit), median and p90, and the ratios multus/direct.
2. parallel: ``-j`` workers x ``--par-pods`` pods, each worker ADDs its pods one after another;
   ADDs/s = pods / wall time of the batch (then the DELs, DELs/s). Direct and multus batches
   alternate (the first side flips every round).

Before round 1, ``--warmup`` pods per side run under GNU time: they warm the page cache and
give the peak RSS (``%M``: the largest single process of the plugin's tree; for multus that is
multus itself unless a delegate is bigger; the direct bridge's own number is shown beside it).

Every call is checked outside the timed region (ADD: rc 0, a result with ips, eth0 in the pod;
DEL: rc 0, eth0 gone); a failure makes the exit code 1.

The process moves into a lab host namespace it creates before any plugin runs (see _common.py):
the bridge, the veth host ends and the gateway address live there. Targets: ADD <= 4x direct,
DEL <= 3x direct (upstream's Go thin plugin: 2.2x and 1.9x on this kind of machine).
Results: benchmarks/results/<out>.json (raw samples included).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C

TARGETS = {"add": 4.0, "del": 3.0}
UPSTREAM = {"add": 2.2, "del": 1.9}
SIDES = ("direct", "multus")


class Bench:
    def __init__(self, a: argparse.Namespace, lab: C.Lab, multus: str) -> None:
        self.a, self.lab, self.multus = a, lab, multus
        self.bin_dir = a.bin_dir
        self.bridge = os.path.join(self.bin_dir, "bridge")
        if not os.access(self.bridge, os.X_OK) or not os.access(os.path.join(self.bin_dir, "host-local"), os.X_OK):
            raise C.BenchError(f"bridge/host-local not found in {self.bin_dir} (apt-get install containernetworking-plugins)")
        t = lab.tmp
        self.bridge_name = f"mb{os.getpid() % 100000}0"[:15]
        self.delegate = {
            "cniVersion": "1.0.0", "name": "mbench-net", "type": "bridge", "bridge": self.bridge_name,
            "isGateway": True,
            "ipam": {"type": "host-local", "subnet": a.subnet, "dataDir": os.path.join(t, "ipam")},
        }
        mconf: dict[str, Any] = {
            "cniVersion": "1.0.0", "name": "multus-cni-network", "type": "multus",
            "confDir": os.path.join(t, "net.d"), "cniDir": os.path.join(t, "cache"), "binDir": self.bin_dir,
            "delegates": [self.delegate],
        }
        if a.log_level:
            mconf["logLevel"] = a.log_level
            mconf["logFile"] = os.path.join(t, "multus.log")
            mconf["logToStderr"] = False
        os.makedirs(mconf["confDir"], exist_ok=True)
        self.conf_path = {"direct": os.path.join(t, "bridge.json"), "multus": os.path.join(t, "multus.json")}
        C.write_json(self.conf_path["direct"], self.delegate)
        C.write_json(self.conf_path["multus"], mconf)
        self.argv = {"direct": [self.bridge], "multus": [multus]}
        self.fails: list[dict[str, Any]] = []
        self.flock = threading.Lock()
        self.seq = 0

    # one call
    def call(self, side: str, verb: str, ns: str, rss: bool = False) -> C.Call:
        cid = f"{ns}-cid"
        env = C.cni_env(verb, f"/run/netns/{ns}", cid, "eth0", self.bin_dir,
                        f"IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME={ns};"
                        f"K8S_POD_INFRA_CONTAINER_ID={cid}")
        return C.run_cni(self.argv[side], env, self.conf_path[side], rss_probe=rss)

    def check(self, side: str, verb: str, ns: str, c: C.Call) -> None:
        if verb == "ADD":
            good = c.ok_add() and self.lab.link_exists(ns, "eth0")
        else:
            good = c.rc == 0 and not self.lab.link_exists(ns, "eth0")
        if not good:
            with self.flock:
                self.fails.append({"side": side, "verb": verb, "netns": ns, "rc": c.rc,
                                   "stdout": c.out[-600:], "stderr": c.err[-600:]})
            if self.a.verbose:
                print(f"FAIL {side} {verb} {ns} rc={c.rc} out={c.out[-300:]!r} err={c.err[-300:]!r}",
                      file=sys.stderr)

    # phases
    def warmup(self) -> dict[str, dict[str, int | None]]:
        rss: dict[str, dict[str, list[int]]] = {s: {"ADD": [], "DEL": []} for s in SIDES}
        pods = {s: self.lab.pod_names(f"w{s[0]}", self.a.warmup) for s in SIDES}
        self.lab.add_netns(pods["direct"] + pods["multus"])
        self.lab.assert_inside()
        for i in range(self.a.warmup):
            for s in SIDES:
                for verb in ("ADD", "DEL"):
                    c = self.call(s, verb, pods[s][i], rss=True)
                    self.check(s, verb, pods[s][i], c)
                    if c.maxrss_kb:
                        rss[s][verb].append(c.maxrss_kb)
        self.lab.del_netns(pods["direct"] + pods["multus"])
        return {s: {f"{v.lower()}_max_kb": (max(x) if x else None) for v, x in d.items()} for s, d in rss.items()}

    def sequential(self, rnd: int) -> dict[str, dict[str, list[float]]]:
        n = self.a.n
        pods = {s: self.lab.pod_names(f"r{rnd}{s[0]}", n) for s in SIDES}
        self.lab.add_netns(pods["direct"] + pods["multus"])
        out: dict[str, dict[str, list[float]]] = {s: {"ADD": [], "DEL": [], "ADD_cpu": [], "DEL_cpu": []}
                                                  for s in SIDES}
        self.lab.assert_inside()
        try:
            for verb in ("ADD", "DEL"):
                for i in range(n):
                    order = SIDES if (i + rnd) % 2 == 0 else SIDES[::-1]
                    for s in order:
                        c = self.call(s, verb, pods[s][i])
                        out[s][verb].append(c.seconds)
                        out[s][f"{verb}_cpu"].append(c.cpu_s or 0.0)
                        self.check(s, verb, pods[s][i], c)
        finally:
            self.lab.del_netns(pods["direct"] + pods["multus"])
        return out

    def parallel(self, rnd: int) -> dict[str, dict[str, Any]]:
        order = SIDES if rnd % 2 == 0 else SIDES[::-1]
        return C.parallel_round(self, rnd, order, {s: s[0] for s in SIDES})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--multus", help=f"the multus executable (default {C.DEFAULT_MULTUS})")
    ap.add_argument("-n", type=int, default=50, help="sequential pods per side per round (default 50)")
    ap.add_argument("-j", "--jobs", type=int, default=8, help="parallel workers (default 8; 0: skip)")
    ap.add_argument("--par-pods", type=int, default=4, help="pods per parallel worker (default 4)")
    ap.add_argument("--repeat", type=int, default=1, help="rounds (default 1); medians of round medians")
    ap.add_argument("--warmup", type=int, default=3, help="untimed warm-up pods per side, RSS probes (default 3)")
    ap.add_argument("--bin-dir", default=C.DEFAULT_BIN_DIR, help="CNI plugin directory (default /usr/lib/cni)")
    ap.add_argument("--subnet", default="10.250.20.0/24", help="host-local subnet (a 10.250.x.0/24)")
    ap.add_argument("--log-level", default="", help="multus logLevel (to a log file in the temp dir; default none)")
    ap.add_argument("--out", default="latency", help="results name (benchmarks/results/NAME.json)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print each failing call")
    a = ap.parse_args()
    if not a.subnet.startswith("10.250.") or not a.subnet.endswith(".0/24"):
        raise C.BenchError("--subnet must be a 10.250.x.0/24")
    if a.n < 1 or a.repeat < 1 or a.jobs < 0 or a.par_pods < 1:
        raise C.BenchError("bad -n/--repeat/-j/--par-pods")
    if 2 * a.n + 3 > 250 or a.jobs * a.par_pods + 3 > 250:
        raise C.BenchError("too many pods for one /24")
    C.need_root()
    multus = C.resolve_multus(a.multus)
    python = C.interpreter_of(multus)
    load0 = C.loadavg()
    t_start = time.time()

    rounds: list[dict[str, Any]] = []
    with C.Lab("lat") as lab:
        b = Bench(a, lab, multus)
        versions = {"bridge": C.plugin_version(b.bridge), "multus": C.plugin_version(multus),
                    "containernetworking-plugins (deb)": C.deb_version("containernetworking-plugins")}
        rss = b.warmup() if a.warmup > 0 else {}
        for rnd in range(a.repeat):
            seq = b.sequential(rnd)
            par = b.parallel(rnd) if a.jobs > 0 else {}
            rounds.append({"round": rnd, "loadavg": C.loadavg(), "samples_s": seq,
                           "stats": {s: {v.lower(): C.summ_ms(seq[s][v]) for v in ("ADD", "DEL", "ADD_cpu", "DEL_cpu")}
                                     for s in SIDES},
                           "parallel": par})
        fails = b.fails
    load1 = C.loadavg()

    # summary: per round stats, medians of round medians, ratios
    def med_of(side: str, verb: str, key: str) -> float:
        return round(float(statistics.median(r["stats"][side][verb][key] for r in rounds)), 2)

    summary: dict[str, Any] = {}
    for s in SIDES:
        summary[s] = {v: {"median_ms": med_of(s, v, "median_ms"), "p90_ms": med_of(s, v, "p90_ms"),
                          "cpu_median_ms": med_of(s, f"{v}_cpu", "median_ms")}
                      for v in ("add", "del")}
    ratios = {v: C.ratio(summary["multus"][v]["median_ms"], summary["direct"][v]["median_ms"]) for v in ("add", "del")}
    ratios_p90 = {v: C.ratio(summary["multus"][v]["p90_ms"], summary["direct"][v]["p90_ms"]) for v in ("add", "del")}
    per_round_ratio = {v: [C.ratio(r["stats"]["multus"][v]["median_ms"], r["stats"]["direct"][v]["median_ms"])
                           for r in rounds] for v in ("add", "del")}
    par_sum: dict[str, Any] = {}
    if a.jobs > 0:
        for s in SIDES:
            par_sum[s] = {v.lower(): round(statistics.median(r["parallel"][s][v]["per_s"] for r in rounds), 1)
                          for v in ("ADD", "DEL")}
            par_sum[s]["add_range"] = [min(r["parallel"][s]["ADD"]["per_s"] for r in rounds),
                                       max(r["parallel"][s]["ADD"]["per_s"] for r in rounds)]
    meets = {v: (ratios[v] or float("inf")) <= TARGETS[v] for v in ("add", "del")}
    res = {
        "benchmark": "latency", "multus": multus, "python": python,
        "editable_install": C.editable_install(python) if python else None,
        "versions": versions, "machine": C.machine_info(), "loadavg_before": load0, "loadavg_after": load1,
        "duration_s": round(time.time() - t_start, 1),
        "config": {"pods": a.n, "jobs": a.jobs, "par_pods": a.par_pods, "repeat": a.repeat, "warmup": a.warmup,
                   "bin_dir": a.bin_dir, "subnet": a.subnet, "log_level": a.log_level or None,
                   "delegate": "bridge + host-local (multus: static delegates list)"},
        "summary": summary, "ratio_median": ratios, "ratio_p90": ratios_p90, "ratio_per_round": per_round_ratio,
        "targets": TARGETS, "upstream_go_thin": UPSTREAM, "meets_targets": meets,
        "parallel_per_s": par_sum, "peak_rss": rss,
        "failures": len(fails), "failure_detail": fails[:20],
        "rounds": rounds,
    }
    path = C.write_results(a.out, res)

    print(f"== multus vs bridge called directly: {a.n} pods/side sequential x {a.repeat} round(s), "
          f"{a.jobs}x{a.par_pods} parallel")
    print(f"   multus {multus} ({versions['multus']}); bridge {b.bridge} "
          f"(containernetworking-plugins {versions['containernetworking-plugins (deb)']})")
    print(f"   loadavg before {load0} after {load1}; {os.cpu_count()} CPUs; {res['duration_s']} s")
    rows = []
    for s in SIDES:
        rows.append((s, summary[s]["add"]["median_ms"], summary[s]["add"]["p90_ms"],
                     summary[s]["del"]["median_ms"], summary[s]["del"]["p90_ms"],
                     par_sum.get(s, {}).get("add"), par_sum.get(s, {}).get("del"),
                     (rss.get(s) or {}).get("add_max_kb")))
    rows.append(("multus/direct", ratios["add"], ratios_p90["add"], ratios["del"], ratios_p90["del"],
                 C.ratio(par_sum.get("multus", {}).get("add"), par_sum.get("direct", {}).get("add")),
                 C.ratio(par_sum.get("multus", {}).get("del"), par_sum.get("direct", {}).get("del")), None))
    C.print_table(rows, ["", "ADD med ms", "ADD p90", "DEL med ms", "DEL p90", f"ADD/s x{a.jobs}",
                         f"DEL/s x{a.jobs}", "peak RSS KiB"])
    print(f"   CPU time (user+sys, process + its delegates) median ADD/DEL: direct "
          f"{summary['direct']['add']['cpu_median_ms']}/{summary['direct']['del']['cpu_median_ms']} ms, multus "
          f"{summary['multus']['add']['cpu_median_ms']}/{summary['multus']['del']['cpu_median_ms']} ms")
    if a.repeat > 1:
        print(f"   (medians of {a.repeat} round medians; per-round ADD ratios {per_round_ratio['add']}, "
              f"DEL ratios {per_round_ratio['del']})")
    for v in ("add", "del"):
        print(f"   {v.upper()} ratio {ratios[v]} : {'MEETS' if meets[v] else 'MISSES'} the target <= {TARGETS[v]}x "
              f"(upstream Go thin: {UPSTREAM[v]}x)")
    print(f"   failures: {len(fails)}")
    for f in fails[:5]:
        print(f"   FAIL {json.dumps(f)[:400]}")
    print(f"   results: {path}")
    return 1 if fails else 0


if __name__ == "__main__":
    C.run(main)
