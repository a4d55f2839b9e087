#!/usr/bin/env python3
"""Start-up time of ``multus``: ``CNI_COMMAND=VERSION multus`` against a bare interpreter.

    sudo python3 benchmarks/startup.py [--multus PATH] [-n 50] [--importtime-runs 5] [--out startup]

Three commands, alternated in one loop so that machine noise hits them equally:

* ``bare``     ``<interpreter of multus> -c pass`` (the floor: the interpreter and ``site``)
* ``import``   ``<interpreter> -c "import multus.cli.thin"`` (our import cost without the launcher)
* ``version``  ``CNI_COMMAND=VERSION <multus>`` (what the runtime pays for every VERSION call;
  the launcher script pip wrote, with its ``import re``, is included)

Whole-process wall times, median and p90 in ms; target: ``version`` median <= 60 ms.
Then ``python -X importtime`` of the VERSION call (``--importtime-runs`` times, median per
module) lists the top importers, and the modules that the architecture says VERSION must not
import (kubernetes, pyroute2, grpc, pluggy, cattrs, the engine) are checked.

Needs no root and no namespace (nothing touches the network). Results: benchmarks/results/<out>.json.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C

TARGET_MS = 60.0
FORBIDDEN = ("kubernetes", "pyroute2", "grpc", "pluggy", "cattrs", "multus.engine", "multus_k8s",
             "yaml", "google.protobuf", "prometheus_client")
_IT_RE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)\s*$")


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, int]:
    with open(os.devnull, "rb") as fin, open(os.devnull, "wb") as fout:
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdin=fin, stdout=fout, stderr=fout, env=env)
        rc = p.wait()
        return time.perf_counter() - t0, rc


def parse_importtime(text: str) -> list[dict[str, Any]]:
    """``-X importtime`` lines -> [{module, self_us, cum_us, depth}] in import order."""
    out = []
    for line in text.splitlines():
        m = _IT_RE.match(line)
        if m:
            depth = (len(m.group(3)) - 1) // 2
            out.append({"module": m.group(4), "self_us": int(m.group(1)), "cum_us": int(m.group(2)),
                        "depth": depth})
    return out


def importtime(python: str, launcher: list[str], env: dict[str, str], runs: int) -> dict[str, Any]:
    per_mod_cum: dict[str, list[int]] = {}
    per_mod_self: dict[str, list[int]] = {}
    depth: dict[str, int] = {}
    order: list[str] = []
    for _ in range(runs):
        p = subprocess.run([python, "-X", "importtime", *launcher], env=env, capture_output=True,
                           text=True, stdin=subprocess.DEVNULL, timeout=60, check=False)
        for r in parse_importtime(p.stderr):
            mod = r["module"]
            if mod not in depth:
                order.append(mod)
            depth[mod] = r["depth"]
            per_mod_cum.setdefault(mod, []).append(r["cum_us"])
            per_mod_self.setdefault(mod, []).append(r["self_us"])
    rows: list[dict[str, Any]] = [{"module": m, "depth": depth[m], "cum_ms": round(statistics.median(per_mod_cum[m]) / 1000, 2),
             "self_ms": round(statistics.median(per_mod_self[m]) / 1000, 2)} for m in order]
    top_level = sorted((r for r in rows if r["depth"] == 0), key=lambda r: -r["cum_ms"])
    by_self = sorted(rows, key=lambda r: -r["self_ms"])
    total = round(sum(r["cum_ms"] for r in rows if r["depth"] == 0), 2)
    forbidden = sorted({m for m in order for f in FORBIDDEN if m == f or m.startswith(f + ".")})
    return {"runs": runs, "modules": len(rows), "total_top_level_ms": total,
            "top_level_by_cumulative": top_level[:20], "by_self": by_self[:20],
            "forbidden_imported": forbidden, "all": rows}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--multus", help=f"the multus executable (default {C.DEFAULT_MULTUS})")
    ap.add_argument("-n", type=int, default=50, help="runs of each command (default 50)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed runs first (default 3)")
    ap.add_argument("--importtime-runs", type=int, default=5, help="-X importtime runs (default 5; 0: skip)")
    ap.add_argument("--out", default="startup", help="results name (benchmarks/results/NAME.json)")
    a = ap.parse_args()

    multus = C.resolve_multus(a.multus)
    python = C.interpreter_of(multus)
    if python is None:
        raise C.BenchError(f"{multus} is not a Python launcher script (no #! line)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CNI_", "KUBERNETES_", "PYTHON"))}
    venv_env = dict(env, CNI_COMMAND="VERSION")
    cmds = {
        "bare": [python, "-c", "pass"],
        "import": [python, "-c", "import multus.cli.thin"],
        "version": [multus],
    }
    load0 = C.loadavg()
    for _ in range(max(0, a.warmup)):
        for argv in cmds.values():
            timed(argv, venv_env)
    samples: dict[str, list[float]] = {k: [] for k in cmds}
    fails: dict[str, int] = {k: 0 for k in cmds}
    names = list(cmds)
    for i in range(a.n):
        # rotate the order each round: no command always runs right after another
        for k in names[i % 3:] + names[:i % 3]:
            dt, rc = timed(cmds[k], venv_env)
            samples[k].append(dt)
            fails[k] += rc != 0
    load1 = C.loadavg()
    stats = {k: C.summ_ms(v) for k, v in samples.items()}

    it = importtime(python, [multus], venv_env, a.importtime_runs) if a.importtime_runs > 0 else None
    v = stats["version"]
    res: dict[str, Any] = {
        "benchmark": "startup", "multus": multus, "python": python,
        "editable_install": C.editable_install(python),
        "machine": C.machine_info(), "loadavg_before": load0, "loadavg_after": load1,
        "runs": a.n, "target_ms": TARGET_MS,
        "stats": stats, "failures": fails,
        "overhead_over_bare_ms": round(v["median_ms"] - stats["bare"]["median_ms"], 2),
        "meets_target": v["median_ms"] <= TARGET_MS,
        "samples_s": samples,
    }
    if it is not None:
        res["importtime"] = {k: val for k, val in it.items() if k != "all"}
        res["importtime_all"] = it["all"]
    path = C.write_results(a.out, res)

    print(f"== multus start-up: CNI_COMMAND=VERSION {multus}")
    print(f"   python {python}  (editable install: {res['editable_install']})")
    print(f"   {a.n} runs each, alternated; loadavg before {load0} after {load1}; {os.cpu_count()} CPUs")
    C.print_table([(k, s["median_ms"], s["p90_ms"], s["min_ms"], s["max_ms"], fails[k])
                   for k, s in stats.items()], ["command", "median ms", "p90 ms", "min", "max", "fail"])
    verdict = "MEETS" if res["meets_target"] else "MISSES"
    print(f"   VERSION median {v['median_ms']} ms: {verdict} the target <= {TARGET_MS:.0f} ms "
          f"({res['overhead_over_bare_ms']} ms over the bare interpreter)")
    if it is not None:
        print(f"   -X importtime (median of {it['runs']} runs): {it['modules']} modules, "
              f"top-level imports {it['total_top_level_ms']} ms")
        C.print_table([(r["module"], r["cum_ms"], r["self_ms"]) for r in it["top_level_by_cumulative"][:12]],
                      ["top-level import", "cum ms", "self ms"])
        C.print_table([(r["module"], r["self_ms"], r["depth"]) for r in it["by_self"][:10]],
                      ["module (by self time)", "self ms", "depth"])
        if it["forbidden_imported"]:
            print(f"   WARNING: VERSION imported {', '.join(it['forbidden_imported'])}")
        else:
            print("   VERSION imports none of: " + ", ".join(FORBIDDEN))
    print(f"   results: {path}")
    return 0 if not any(fails.values()) else 1


if __name__ == "__main__":
    C.run(main)
