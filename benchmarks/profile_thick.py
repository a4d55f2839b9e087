#!/usr/bin/env python3
"""Where the daemon's time goes per CNI request: ``multus-daemon``'s service run in this process
under ``cProfile``, for ``--pods`` ADD + DEL pairs (bridge + host-local, static delegates, each pod
its own netns, all inside a lab host namespace), and the shim's start-up.

    sudo .venv/bin/python benchmarks/profile_thick.py [--pods 40] [--top 25]

Reported: the daemon's wall time per ADD/DEL, split into the delegate's exec (``exec_plugin``:
spawn, the plugin's run, the wait) and the rest (a first pass without the profiler); its CPU
per ADD/DEL (``time.process_time`` of this process, the delegates' own processes excluded), the
functions with the largest own time and the multus functions with the largest cumulative time;
and the shim's start-up under ``/usr/bin/python3 -IS`` (its ``-X importtime`` modules, wall and
CPU time of ``VERSION`` run by its shebang, with the cached code, and by ``python3 -IS <file>``,
compiled each run, against a bare ``-c pass``). ``--log-level verbose`` logs as thick-compare's
daemon does.
Results: benchmarks/results/<out>.json (and ``--prof PATH``: the raw profile).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C
import thick_latency as TL


def shim_startup(shim: str, runs: int) -> dict[str, Any]:
    def measure(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
        """Median wall and CPU milliseconds of ``runs`` runs."""
        walls, used = [], []
        for _ in range(runs):
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, check=False)
            walls.append(time.perf_counter() - t0)
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            used.append(r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime)
        return round(1000 * statistics.median(walls), 2), round(1000 * statistics.median(used), 2)

    py = "/usr/bin/python3"
    p = subprocess.run([py, "-IS", "-X", "importtime", shim], env={"CNI_COMMAND": "VERSION"},
                       capture_output=True, text=True, check=False)
    mods = [line.split("|")[-1].strip() for line in p.stderr.splitlines() if line.startswith("import time:")][1:]
    base = subprocess.run([py, "-IS", "-X", "importtime", "-c", "pass"], capture_output=True, text=True, check=False)
    base_mods = {line.split("|")[-1].strip() for line in base.stderr.splitlines() if line.startswith("import time:")}
    version = {"CNI_COMMAND": "VERSION"}
    subprocess.run([shim], env=version, capture_output=True, check=False)  # writes the compiled-code cache
    bare, cached, compiled = (measure([py, "-IS", "-c", "pass"], {}), measure([shim], version),
                              measure([py, "-IS", shim], version))
    return {"bare_ms": bare[0], "version_ms": cached[0], "version_compiled_each_run_ms": compiled[0],
            "cpu_ms": {"bare python3 -IS": bare[1], "VERSION by the shebang (cached code)": cached[1],
                       "VERSION by python3 -IS <file> (compiled each run)": compiled[1]},
            "modules_beyond_bare_interpreter": sorted(set(mods) - base_mods)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pods", type=int, default=40)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--bin-dir", default=C.DEFAULT_BIN_DIR)
    ap.add_argument("--out", default="profile_thick")
    ap.add_argument("--prof", help="also write the raw cProfile data here (for snakeviz, pstats)")
    ap.add_argument("--log-level", default="", help="the daemon's logLevel (to a file in the temp dir), e.g. "
                    "verbose as thick-compare runs it")
    a = ap.parse_args()
    C.need_root()
    from multus.thick import client, config
    from multus.thick.service import DaemonPlugins, Service

    with C.Lab("prf") as lab:
        shim = TL.standalone_shim(lab.tmp)
        cfg = config.parse({"socketDir": os.path.join(lab.tmp, "run")})
        if a.log_level:
            from multus.config import logs, netconf

            logs.configure(netconf.load({"logLevel": a.log_level, "logToStderr": False,
                                         "logFile": os.path.join(lab.tmp, "daemon.log")}))
        env = dict(os.environ)
        plugins = DaemonPlugins(env=env)
        plugins.warm_up()
        service = Service(cfg, plugins, env)
        delegate = {"cniVersion": "1.0.0", "name": "prof-net", "type": "bridge", "bridge": f"mb{os.getpid() % 100000}p",
                    "isGateway": True, "ipam": {"type": "host-local", "subnet": "10.250.26.0/24",
                                                "dataDir": os.path.join(lab.tmp, "ipam")}}
        conf = json.dumps({"cniVersion": "1.0.0", "name": "multus-cni-network", "type": "multus-shim",
                           "cniDir": os.path.join(lab.tmp, "cache"), "confDir": os.path.join(lab.tmp, "net.d"),
                           "binDir": a.bin_dir, "delegates": [delegate]}).encode()
        pods = lab.pod_names("p", a.pods + 2)
        lab.add_netns(pods)
        lab.assert_inside()

        def body(verb: str, ns: str) -> bytes:
            e = C.cni_env(verb, f"/run/netns/{ns}", f"{ns}-cid", "eth0", a.bin_dir,
                          f"K8S_POD_NAMESPACE=bench;K8S_POD_NAME={ns}")
            return client.encode_request(e, conf)

        for ns in pods[:2]:  # warm-up
            for verb in ("ADD", "DEL"):
                assert service.cni(body(verb, ns)).status == 200
        cpu: dict[str, list[float]] = {"ADD": [], "DEL": []}
        wall: dict[str, list[float]] = {"ADD": [], "DEL": []}
        in_delegate: dict[str, list[float]] = {"ADD": [], "DEL": []}
        from multus.cni import libcni

        exec_plugin, spent = libcni.exec_plugin, [0.0]

        def timed_exec(*args: Any, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return exec_plugin(*args, **kw)
            finally:
                spent[0] += time.perf_counter() - t

        libcni.exec_plugin = timed_exec
        # a first pass without the profiler: wall-clock time, and how much of it is the delegate's
        for ns in pods[2:]:
            for verb in ("ADD", "DEL"):
                b = body(verb, ns)
                spent[0] = 0.0
                t0 = time.perf_counter()
                answer = service.cni(b)
                wall[verb].append(time.perf_counter() - t0)
                in_delegate[verb].append(spent[0])
                if answer.status != 200:
                    raise C.BenchError(f"{verb} failed: {answer.body[:300]!r}")
        libcni.exec_plugin = exec_plugin
        prof = cProfile.Profile()
        for ns in pods[2:]:
            for verb in ("ADD", "DEL"):
                b = body(verb, ns)
                c0 = time.process_time()
                prof.enable()
                answer = service.cni(b)
                prof.disable()
                cpu[verb].append(time.process_time() - c0)
                if answer.status != 200:
                    raise C.BenchError(f"{verb} failed: {answer.body[:300]!r}")
        startup = shim_startup(shim, 15)
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("tottime").print_stats(a.top)
    own = out.getvalue()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("cumulative").print_stats("multus", a.top)
    cumulative = out.getvalue()
    res = {"benchmark": "profile_thick", "pods": a.pods, "machine": C.machine_info(), "loadavg": C.loadavg(),
           "log_level": a.log_level or None,
           "daemon_cpu_ms": {v: round(1000 * statistics.median(x), 2) for v, x in cpu.items()},
           "daemon_wall_ms": {v: {"median": round(1000 * statistics.median(x), 2),
                                  "in_delegate_exec": round(1000 * statistics.median(in_delegate[v]), 2),
                                  "outside_delegate_exec": round(1000 * statistics.median(
                                      w - d for w, d in zip(x, in_delegate[v], strict=True)), 2)}
                              for v, x in wall.items()},
           "shim_startup": startup, "own_time": own, "cumulative_multus": cumulative}
    path = C.write_results(a.out, res)
    if a.prof:
        prof.dump_stats(a.prof)
    print(f"== daemon wall per request (median, no profiler): {res['daemon_wall_ms']}")
    print(f"== daemon CPU per request (median of {a.pods}): ADD {res['daemon_cpu_ms']['ADD']} ms, "
          f"DEL {res['daemon_cpu_ms']['DEL']} ms (cProfile on: slower than in the daemon)")
    print(f"== shim start-up: bare python3 -IS {startup['bare_ms']} ms, shim VERSION {startup['version_ms']} ms "
          f"({startup['version_compiled_each_run_ms']} ms compiled each run); CPU {startup['cpu_ms']}; "
          f"modules beyond the bare interpreter: {startup['modules_beyond_bare_interpreter']}")
    print(own[:6000])
    print(cumulative[:6000])
    print(f"   results: {path}")
    return 0


if __name__ == "__main__":
    C.run(main)
