#!/usr/bin/env python3
"""Bursts of simultaneous ADDs, then DELs, through ``multus-shim`` and one ``multus-daemon``, with
the pods' leftovers counted: the DEL-burst data-loss check at 200 and 1,000 pods.

    sudo python3 benchmarks/thick_burst.py [--pods 200 1000] [--shim PATH] [--daemon PATH]

Per burst size: K pod namespaces; K shims started at once (one thread each, released together),
each running ADD; then K shims running DEL. ``wall`` is from the release to the last answer;
``spawn spread`` is how late this process managed to start the last shim (with 1,000 shims the
spawning itself takes seconds on 2 CPUs, and that is part of the wall time). Delegate: bridge + host-local (one /22 subnet of
10.250.32.0, so up to 1,000 pods). Reported: wall time of each burst, failures, the latency
median/p90/max, and after the DELs the **leaks**: host-local leases, bridge ports (veth host
ends), files under ``cniDir`` and pods that still have ``eth0``; the daemon's RSS when ready,
after each burst and its peak (``VmHWM``), and its CPU seconds per burst.
The shim is, by default, ``src/multus/cli/shim.py`` copied alone and run by ``/usr/bin/python3
-IS`` (as on a node). Results: benchmarks/results/<out>.json. Exit 1 on any failure or leak.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import threading
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C
import thick_latency as TL


def leftovers(tmp: str, bridge: str, lab: C.Lab, pods: list[str]) -> dict[str, int]:
    def files(d: str, skip: tuple[str, ...] = ()) -> int:
        return sum(1 for _r, _d, fs in os.walk(d) for f in fs if not f.startswith(skip))

    ports = C.sh("ip", "-o", "link", "show", "master", bridge, check=False).stdout.strip().splitlines()
    return {"leases": files(os.path.join(tmp, "ipam"), ("last_reserved_ip", "lock")),
            "bridge_ports": len(ports), "cache_files": files(os.path.join(tmp, "cache")),
            "pods_with_eth0": sum(1 for p in pods if lab.link_exists(p, "eth0"))}


def burst(argv: list[str], conf_path: str, verb: str, pods: list[str], bin_dir: str,
          timeout: float) -> dict[str, Any]:
    calls: dict[int, C.Call] = {}
    ends: dict[int, float] = {}
    gate = threading.Barrier(len(pods) + 1)

    def one(i: int) -> None:
        ns = pods[i]
        env = C.cni_env(verb, f"/run/netns/{ns}", f"{ns}-cid", "eth0", bin_dir,
                        f"IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME={ns};K8S_POD_INFRA_CONTAINER_ID={ns}-cid",
                        {"MULTUS_SHIM_READY_TIMEOUT": str(int(timeout))})
        gate.wait()
        calls[i] = C.run_cni(argv, env, conf_path, timeout=timeout)
        ends[i] = time.perf_counter()

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(len(pods))]
    for t in threads:
        t.start()
    gate.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join(timeout + 60)
    wall = time.perf_counter() - t0
    starts = [ends[i] - c.seconds for i, c in calls.items()]
    ok = [c for c in calls.values() if (c.ok_add() if verb == "ADD" else c.rc == 0 and not c.out.strip())]
    bad = [{"rc": c.rc, "out": c.out[-300:], "err": c.err[-300:]} for c in calls.values() if c not in ok]
    lat = sorted(c.seconds for c in calls.values())
    return {"wall_s": round(wall, 2), "calls": len(calls), "failures": len(pods) - len(ok),
            # this process spawns the shims one after another: the last starts this late
            "spawn_spread_s": round(max(starts) - min(starts), 2) if starts else None,
            "first_start_to_last_end_s": round(max(ends.values()) - min(starts), 2) if starts else None,
            "latency_ms": {"median": round(1000 * statistics.median(lat), 1) if lat else None,
                           "p90": round(1000 * C.pct(lat, 0.9), 1) if lat else None,
                           "max": round(1000 * lat[-1], 1) if lat else None},
            "failure_detail": bad[:5]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pods", type=int, nargs="+", default=[200, 1000], help="burst sizes (default 200 1000)")
    ap.add_argument("--shim", help="the multus-shim executable (default: the shim file alone, python3 -IS)")
    ap.add_argument("--daemon", help=f"the multus-daemon executable (default {TL.venv_tool('multus-daemon')})")
    ap.add_argument("--daemon-conf", default="{}", help="JSON keys added to the daemon configuration")
    ap.add_argument("--bin-dir", default=C.DEFAULT_BIN_DIR)
    ap.add_argument("--timeout", type=float, default=300, help="per call (default 300 s)")
    ap.add_argument("--out", default="thick_burst", help="results name (benchmarks/results/NAME.json)")
    a = ap.parse_args()
    import json

    if any(k < 1 or k > 1000 for k in a.pods):
        raise C.BenchError("--pods: 1 .. 1000 (one /22)")
    C.need_root()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    daemon_exe = TL.resolve(a.daemon, "multus-daemon")
    load0, t_start = C.loadavg(), time.time()
    runs: list[dict[str, Any]] = []
    with C.Lab("bst") as lab:
        shim = TL.resolve(a.shim, "multus-shim") if a.shim else TL.standalone_shim(lab.tmp)
        daemon = TL.Daemon(daemon_exe, lab.tmp, "", json.loads(a.daemon_conf))
        try:
            time.sleep(0.5)
            mem: dict[str, Any] = {"ready": TL.proc_status(daemon.proc.pid)}
            bridge = f"mb{os.getpid() % 100000}b"[:15]
            delegate = {"cniVersion": "1.0.0", "name": "burst-net", "type": "bridge", "bridge": bridge,
                        "isGateway": True, "ipam": {"type": "host-local", "subnet": "10.250.32.0/22",
                                                    "dataDir": os.path.join(lab.tmp, "ipam")}}
            conf = {"cniVersion": "1.0.0", "name": "multus-cni-network", "type": "multus-shim",
                    "daemonSocketDir": daemon.socket_dir, "cniDir": os.path.join(lab.tmp, "cache"),
                    "confDir": os.path.join(lab.tmp, "net.d"), "binDir": a.bin_dir, "delegates": [delegate]}
            conf_path = os.path.join(lab.tmp, "shim.json")
            C.write_json(conf_path, conf)
            for k in a.pods:
                pods = lab.pod_names(f"b{k}-", k)
                lab.add_netns(pods)
                lab.assert_inside()
                try:
                    run: dict[str, Any] = {"pods": k}
                    for verb in ("ADD", "DEL"):
                        cpu0 = TL.proc_cpu_s(daemon.proc.pid)
                        run[verb.lower()] = burst([shim], conf_path, verb, pods, a.bin_dir, a.timeout)
                        run[verb.lower()]["daemon_cpu_s"] = round(TL.proc_cpu_s(daemon.proc.pid) - cpu0, 2)
                        mem[f"after_{verb.lower()}_{k}"] = TL.proc_status(daemon.proc.pid)
                    run["leaks"] = leftovers(lab.tmp, bridge, lab, pods)
                finally:
                    lab.del_netns(pods)
                runs.append(run)
            time.sleep(2)
            mem["idle_at_end"] = TL.proc_status(daemon.proc.pid)
        finally:
            rc = daemon.stop()
    res = {"benchmark": "thick_burst", "shim": shim, "daemon_executable": daemon_exe,
           "machine": C.machine_info(), "loadavg_before": load0, "loadavg_after": C.loadavg(),
           "duration_s": round(time.time() - t_start, 1), "runs": runs, "daemon_memory_kb": mem,
           "daemon_exit_code": rc}
    path = C.write_results(a.out, res)
    print(f"== thick bursts: {a.pods} pods, all ADDs at once then all DELs; loadavg {load0} -> {res['loadavg_after']}")
    rows = []
    for r in runs:
        for verb in ("add", "del"):
            b = r[verb]
            rows.append((f"{r['pods']} {verb.upper()}", b["wall_s"], b["spawn_spread_s"], b["failures"],
                         b["latency_ms"]["median"],
                         b["latency_ms"]["p90"], b["latency_ms"]["max"], b["daemon_cpu_s"]))
    C.print_table(rows, ["burst", "wall s", "spawn spread s", "failures", "median ms", "p90 ms", "max ms", "daemon CPU s"])
    for r in runs:
        print(f"   {r['pods']} pods, leftovers after the DELs: {r['leaks']}")
    rss = ", ".join(f"{k}: {v.get('VmRSS')}" for k, v in mem.items())
    print(f"   daemon RSS KiB: {rss}; peak {mem.get('idle_at_end', {}).get('VmHWM')}; exit code {rc}")
    print(f"   results: {path}")
    bad = any(r[v]["failures"] for r in runs for v in ("add", "del")) or any(any(r["leaks"].values()) for r in runs)
    return 1 if bad else 0


if __name__ == "__main__":
    C.run(main)
