#!/usr/bin/env python3
"""Print one table from the results of startup.py, latency.py and api_requests.py.

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

    print("== benchmark summary")
    C.print_table(rows, ["bench", "metric", "value", "target", ""], left=(0, 1, 2, 3, 4))
    C.write_results("summary", {"rows": [[x if isinstance(x, (int, float)) or x is None else str(x) for x in r]
                                         for r in rows]})
    return 0


if __name__ == "__main__":
    C.run(main)
