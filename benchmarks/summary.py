#!/usr/bin/env python3
"""Print one table from the results of startup.py, latency.py, api_requests.py and of the thick
mode's thick-compare runs against the real kube-apiserver (``thick_compare/merged-summary.json``,
the median of the runs that ``tbkube.py aggregate`` merged; ``r*-leftovers.txt`` beside it).

    python3 benchmarks/summary.py [--startup startup] [--latency latency] [--api api_requests]

Reads benchmarks/results/<name>.json (a missing file is shown as "not run"); also writes the
table as benchmarks/results/summary.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C


def load(name: str) -> dict[str, Any] | None:
    try:
        with open(os.path.join(C.RESULTS_DIR, f"{name}.json")) as f:
            data: dict[str, Any] = json.load(f)
            return data
    except (OSError, ValueError):
        return None


def verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("ok" if ok else "MISS")


THICK_TARGETS = {"add_ratio": 2.0, "del_ratio": 1.5, "burst_s": 5.0}
"""Thick mode's targets: ADD and DEL ÷ the bridge called directly (same run), 200 ADDs at once."""


def thick_rows() -> list[tuple[Any, ...]]:
    tc = load(os.path.join("thick_compare", "merged-summary"))
    if not tc or "c" not in tc.get("phases", {}):
        return [("thick", "not run", "", "", "")]
    c, runs = tc["phases"]["c"], tc.get("runs")
    t = THICK_TARGETS

    def ranged(key: str) -> str:
        lo, hi = c.get(f"{key}_range") or (None, None)
        return f"{c[key]} ({lo}-{hi})" if lo is not None else str(c[key])

    rows: list[tuple[Any, ...]] = [
        ("thick", f"ADD / DEL median ms (median of {runs} runs)", f"{c['add_median_ms']} / {c['del_median_ms']}",
         "", ""),
        ("thick", "ADD ratio shim+daemon/direct", ranged("add_ratio_vs_bridge"), f"<= {t['add_ratio']}",
         verdict(c["add_ratio_vs_bridge"] <= t["add_ratio"])),
        ("thick", "DEL ratio shim+daemon/direct", ranged("del_ratio_vs_bridge"), f"<= {t['del_ratio']}",
         verdict(c["del_ratio_vs_bridge"] <= t["del_ratio"])),
    ]
    reads = (c.get("api_per_add_rw") or {}).get("reads")
    if reads is not None:
        rows.append(("thick", "API reads per ADD / requests per DEL",
                     f"{reads:g} / {(c.get('api_per_del_rw') or {}).get('total', 0):g}", "0 / 0",
                     verdict(reads == 0)))
    bursts = tc.get("burst") or []
    if bursts:
        walls = [b["add_wall_s"] for b in bursts]
        fails = sum(b["add_fail"] + b["del_fail"] for b in bursts)
        rows.append(("thick", "200 ADDs at once, wall s (each run)", " / ".join(f"{w:g}" for w in walls),
                     f"<= {t['burst_s']:g}", verdict(max(walls) <= t["burst_s"])))
        rows.append(("thick", "200 DELs at once, wall s (each run)",
                     " / ".join(f"{b['del_wall_s']:g}" for b in bursts), "", ""))
        rows.append(("thick", "burst failures (all runs)", fails, "0", verdict(fails == 0)))
        rows.append(("thick", "max load1 during the bursts", " / ".join(f"{b['max_load1']:g}" for b in bursts),
                     "", ""))
    left = 0
    for name in sorted(os.listdir(os.path.join(C.RESULTS_DIR, "thick_compare"))):
        if name.startswith("r") and name.endswith("-leftovers.txt"):
            with open(os.path.join(C.RESULTS_DIR, "thick_compare", name)) as f:
                left += sum(int(line.rsplit(":", 1)[1]) for line in f
                            if line.rsplit(":", 1)[-1].strip().isdigit())
    rows.append(("thick", "leftovers (leases, cache files, bridge ports)", left, "0", verdict(left == 0)))
    mems = tc.get("daemon_mem_kb") or []
    if mems:
        rows.append(("thick", "daemon RSS MiB idle -> after burst",
                     " / ".join(f"{m['idle_after_5s']['VmRSS'] / 1024:.0f} -> {m['after_burst']['VmRSS'] / 1024:.0f}"
                                for m in mems if m.get("after_burst")), "", ""))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--startup", default="startup")
    ap.add_argument("--latency", default="latency")
    ap.add_argument("--api", default="api_requests")
    a = ap.parse_args()
    rows: list[tuple[Any, ...]] = []

    s = load(a.startup)
    if s:
        st = s["stats"]
        rows.append(("startup", "VERSION median / p90 ms", f"{st['version']['median_ms']} / {st['version']['p90_ms']}",
                     f"<= {s['target_ms']:.0f}", verdict(s["meets_target"])))
        rows.append(("startup", "bare python / import-only ms", f"{st['bare']['median_ms']} / {st['import']['median_ms']}",
                     "", ""))
        fb = (s.get("importtime") or {}).get("forbidden_imported")
        if fb is not None:
            rows.append(("startup", "heavy modules imported by VERSION", ", ".join(fb) or "none", "none", verdict(not fb)))
    else:
        rows.append(("startup", "not run", "", "", ""))

    lt = load(a.latency)
    if lt:
        sm, r = lt["summary"], lt["ratio_median"]
        rows.append(("latency", "direct bridge ADD / DEL median ms",
                     f"{sm['direct']['add']['median_ms']} / {sm['direct']['del']['median_ms']}", "", ""))
        rows.append(("latency", "multus ADD / DEL median ms",
                     f"{sm['multus']['add']['median_ms']} / {sm['multus']['del']['median_ms']}", "", ""))
        rows.append(("latency", "ADD ratio multus/direct", r["add"], f"<= {lt['targets']['add']}",
                     verdict(lt["meets_targets"]["add"])))
        rows.append(("latency", "DEL ratio multus/direct", r["del"], f"<= {lt['targets']['del']}",
                     verdict(lt["meets_targets"]["del"])))
        par = lt.get("parallel_per_s") or {}
        if par:
            rows.append(("latency", f"parallel x{lt['config']['jobs']} ADD/s direct / multus",
                         f"{par['direct']['add']} / {par['multus']['add']}", "", ""))
        rss = lt.get("peak_rss") or {}
        if rss:
            rows.append(("latency", "peak RSS KiB direct / multus",
                         f"{rss['direct'].get('add_max_kb')} / {rss['multus'].get('add_max_kb')}", "", ""))
        rows.append(("latency", "failures / loadavg before", f"{lt['failures']} / {lt['loadavg_before']}", "0",
                     verdict(lt["failures"] == 0)))
    else:
        rows.append(("latency", "not run", "", "", ""))

    ap_ = load(a.api)
    if ap_:
        req = ap_["api_requests"]
        def fmt(x: dict[str, Any]) -> str:
            parts = ", ".join(f"{k.replace('network-attachment-definitions', 'NADs')} {v:g}"
                              for k, v in x["per_pod"].items())
            return f"{x['total_per_pod']:g}" + (f" ({parts})" if parts else "")

        rows.append(("api", "API requests per ADD", fmt(req["add"]), "", ""))
        rows.append(("api", "API requests per DEL", fmt(req["del"]), "", ""))
        lat = ap_["latency"]
        rows.append(("api", "multus ADD / DEL median ms (kubeconfig)",
                     f"{lat['multus']['add']['median_ms']} / {lat['multus']['del']['median_ms']}", "", ""))
        rows.append(("api", "ADD ratio vs direct bridge", ap_["ratios"].get("add_vs_bridge"), "", ""))
        if "add_vs_bridge+macvlan" in ap_["ratios"]:
            rows.append(("api", "ADD ratio vs direct bridge+macvlan", ap_["ratios"]["add_vs_bridge+macvlan"], "", ""))
        rows.append(("api", "failures", ap_["failures"], "0", verdict(ap_["failures"] == 0)))
    else:
        rows.append(("api", "not run (or the Kubernetes backend failed)", "", "", ""))

    rows.extend(thick_rows())

    print("== benchmark summary")
    C.print_table(rows, ["bench", "metric", "value", "target", ""], left=(0, 1, 2, 3, 4))
    C.write_results("summary", {"rows": [[x if isinstance(x, (int, float)) or x is None else str(x) for x in r]
                                         for r in rows]})
    return 0


if __name__ == "__main__":
    C.run(main)
