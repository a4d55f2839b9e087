#!/usr/bin/env python3
"""Where one ``multus`` ADD / DEL spends its time (the same setup as latency.py).

    sudo python3 benchmarks/profile_cni.py [--multus PATH] [--runs 5] [--top 25]

For ADD and DEL of a pod (bridge + host-local through a static ``delegates`` list, inside a lab
host namespace, each pod its own netns):

* wall time of plain runs against a bare ``python -c pass`` and the direct bridge call
  (medians of ``--runs``);
* ``python -X importtime`` (median per module of ``--runs`` runs): total import time, the top
  top-level imports, the most expensive modules by self time, and self time summed per package
  (``attr``, ``cattrs``, ``pluggy``, ``importlib.metadata`` + ``email`` ...). importtime itself
  inflates the numbers by roughly 20-40 %: compare them with each other, and with the wall time;
* one ``python -m cProfile -o`` run: the functions with the largest own time, the multus
  functions with the largest cumulative time, and a split of the run into imports, waiting for
  the delegate plugin, and the rest.

Results: benchmarks/results/<out>.json, the .prof files beside it (``<out>-add.prof``).
"""

from __future__ import annotations

import argparse
import itertools
import os
import pstats
import shutil
import statistics
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C
from startup import parse_importtime

VERSION_ONLY = "import multus.cli.thin"
NOOP_PLUGIN = """#!/bin/sh
cat >/dev/null
case "$CNI_COMMAND" in
ADD) echo '{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"'"$CNI_NETNS"'"}],"ips":[{"address":"10.250.22.250/24","interface":0}]}';;
VERSION) echo '{"cniVersion":"1.0.0","supportedVersions":["1.0.0"]}';;
esac
"""
IMPORT_ONLY = "for m in %r:\n try: __import__(m)\n except Exception: pass"
_IMPORT_FRAMES = ("<frozen importlib._bootstrap>", "<frozen importlib._bootstrap_external>")


def write_noop(directory: str) -> dict[str, Any]:
    """The no-op plugin ``noop`` in ``directory`` (made); returns a delegate config for it."""
    os.makedirs(directory)
    with open(os.path.join(directory, "noop"), "w") as f:
        f.write(NOOP_PLUGIN)
    os.chmod(os.path.join(directory, "noop"), 0o755)
    return {"cniVersion": "1.0.0", "name": "mbench-noop", "type": "noop"}


def imported_modules(python: str, multus: str) -> int:
    """How many modules a VERSION call imports."""
    import subprocess

    p = subprocess.run([python, "-X", "importtime", multus], env=dict(os.environ, CNI_COMMAND="VERSION"),
                       capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60, check=False)
    return len(parse_importtime(p.stderr))


def ladder_steps(top_level: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    """The steps of an import ladder: ``(name, modules imported up to it)``, starting with the bare
    interpreter; imports cheaper than 1 ms (by importtime) are folded into the next step."""
    steps: list[tuple[str, list[str]]] = [("(bare interpreter)", [])]
    pending: list[str] = []
    for r in top_level:
        pending.append(r["module"])
        if r["cum_ms"] >= 1.0:
            steps.append((r["module"], steps[-1][1] + pending))
            pending = []
    if pending:
        steps.append(("(the rest)", steps[-1][1] + pending))
    return steps


def import_ladder(python: str, top_level: list[dict[str, Any]], runs: int) -> list[dict[str, Any]]:
    """Real (not -X importtime) cost of each top-level import of a call, in the order the call
    imports them: python processes that import growing prefixes of the list, alternated, median
    wall time of each; a step's cost is the difference to the previous step. Imports cheaper
    than 1 ms (by importtime) are folded into the next step."""
    import subprocess
    import time

    steps = ladder_steps(top_level)
    samples: list[list[float]] = [[] for _ in steps]
    for _ in range(runs):
        for i, (_name, mods) in enumerate(steps):
            code = IMPORT_ONLY % (mods,) if mods else "pass"
            t0 = time.perf_counter()
            subprocess.run([python, "-c", code], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)
            samples[i].append(time.perf_counter() - t0)
    out = []
    prev = None
    for (name, mods), xs in zip(steps, samples):
        med = statistics.median(xs) * 1000
        out.append({"import": name, "step_ms": round(med - prev, 2) if prev is not None else None,
                    "cumulative_ms": round(med, 2), "modules_in_step": len(mods)})
        prev = med
    return out


def timeline(trace: str, bin_dir: str) -> dict[str, Any]:
    """Phases of one call from ``strace -f -ttt`` output (pid-prefixed lines): start -> cache lock
    -> first delegate exec -> last delegate reaped -> result written -> exit_group of multus."""
    import re

    rx = re.compile(r"^(\d+)\s+(\d+\.\d+)\s+(.*)$")
    main_pid = None
    t0 = None
    ev: dict[str, float] = {}
    delegate_pids: set[str] = set()
    for line in trace.splitlines():
        m = rx.match(line)
        if not m:
            continue
        pid, t, rest = m.group(1), float(m.group(2)), m.group(3)
        if main_pid is None:
            main_pid, t0 = pid, t
        assert t0 is not None
        ms = round((t - t0) * 1000, 1)
        if pid == main_pid:
            if rest.startswith("flock(") and "LOCK_EX" in rest and "lock" not in ev:
                ev["lock"] = ms
            elif rest.startswith("wait4(") and re.search(r"\)\s+=\s+(\d+)$", rest):
                reaped = re.search(r"\)\s+=\s+(\d+)$", rest).group(1)  # type: ignore[union-attr]
                if reaped in delegate_pids:
                    ev["delegate_reaped"] = ms
            elif rest.startswith("write(1,"):
                ev["result_written"] = ms
            elif rest.startswith("exit_group("):
                ev["exit_group"] = ms
        elif rest.startswith("execve(\"" + bin_dir) and "delegate_exec" not in ev:
            ev["delegate_exec"] = ms
            delegate_pids.add(pid)
        elif rest.startswith("execve(\"" + bin_dir):
            delegate_pids.add(pid)
        if rest.startswith("+++ exited") and pid == main_pid:
            ev["exited"] = ms
    names = [("start", 0.0)] + [(k, ev[k]) for k in ("lock", "delegate_exec", "delegate_reaped",
                                                      "result_written", "exit_group", "exited") if k in ev]
    phases = [{"from": a, "to": b, "ms": round(tb - ta, 1)} for (a, ta), (b, tb) in itertools.pairwise(names)]
    return {"events_ms": ev, "phases": phases}


def package_of(mod: str) -> str:
    parts = mod.split(".")
    if parts[0] in ("multus", "importlib", "email", "multus_k8s") and len(parts) > 1:
        return ".".join(parts[:2])
    return parts[0]


def importtime_summary(runs: list[list[dict[str, Any]]], top: int) -> dict[str, Any]:
    cum: dict[str, list[int]] = {}
    own: dict[str, list[int]] = {}
    depth: dict[str, int] = {}
    order: list[str] = []
    for run in runs:
        for r in run:
            m = r["module"]
            if m not in depth:
                order.append(m)
            depth[m] = r["depth"]
            cum.setdefault(m, []).append(r["cum_us"])
            own.setdefault(m, []).append(r["self_us"])
    rows: list[dict[str, Any]] = [
        {"module": m, "depth": depth[m], "cum_ms": round(statistics.median(cum[m]) / 1000, 2),
             "self_ms": round(statistics.median(own[m]) / 1000, 2)} for m in order]
    by_pkg: dict[str, float] = {}
    for r in rows:
        by_pkg[package_of(r["module"])] = by_pkg.get(package_of(r["module"]), 0.0) + r["self_ms"]
    return {
        "all_top_level": [r for r in rows if r["depth"] == 0],
        "modules": len(rows),
        "total_ms": round(sum(r["self_ms"] for r in rows), 2),
        "top_level": sorted((r for r in rows if r["depth"] == 0), key=lambda r: -r["cum_ms"])[:top],
        "heavy_subtrees": [r for r in rows if r["cum_ms"] >= 2.0],
        "by_self": sorted(rows, key=lambda r: -r["self_ms"])[:top],
        "by_package": [{"package": k, "self_ms": round(v, 2)}
                       for k, v in sorted(by_pkg.items(), key=lambda kv: -kv[1])][:top],
    }


def profile_summary(path: str, top: int) -> dict[str, Any]:
    st = pstats.Stats(path)
    raw: dict[Any, Any] = st.stats  # type: ignore[attr-defined]
    total = st.total_tt  # type: ignore[attr-defined]

    def name(func: tuple[str, int, str]) -> str:
        f, line, fn = func
        for marker in ("site-packages/", "python3.11/"):
            if marker in f:
                f = f.split(marker, 1)[1]
                break
        return f"{f}:{line}({fn})"

    rows = [{"function": name(k), "ncalls": v[1], "tottime_ms": round(v[2] * 1000, 2),
             "cumtime_ms": round(v[3] * 1000, 2)} for k, v in raw.items()]
    by_tot = sorted(rows, key=lambda r: -r["tottime_ms"])[:top]
    ours = sorted((r for r in rows if r["function"].startswith(("multus/", "multus_", "pluggy/", "cattrs/"))),
                  key=lambda r: -r["cumtime_ms"])[:top]
    # imports: the outermost _find_and_load frames' cumulative time (recursive calls are folded
    # by cProfile into the outermost call, so the cumtime of _find_and_load is total import time)
    imp = max((v[3] for k, v in raw.items() if k[0] in _IMPORT_FRAMES and k[2] == "_find_and_load"), default=0.0)
    wait = sum(v[3] for k, v in raw.items() if k[2] == "communicate" and k[0].endswith("subprocess.py"))
    spawn = sum(v[3] for k, v in raw.items() if k[2] == "__init__" and k[0].endswith("subprocess.py"))
    return {"total_ms": round(total * 1000, 2), "imports_ms": round(imp * 1000, 2),
            "delegate_spawn_ms": round(spawn * 1000, 2), "delegate_wait_ms": round(wait * 1000, 2),
            "rest_ms": round((total - imp - wait - spawn) * 1000, 2),
            "by_tottime": by_tot, "multus_by_cumtime": ours}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--multus", help=f"the multus executable (default {C.DEFAULT_MULTUS})")
    ap.add_argument("--runs", type=int, default=5, help="runs per measurement (default 5)")
    ap.add_argument("--ladder-runs", type=int, default=9,
                    help="runs per step of the import ladder (default 9; 0: skip)")
    ap.add_argument("--top", type=int, default=25, help="rows per table in the JSON (default 25)")
    ap.add_argument("--bin-dir", default=C.DEFAULT_BIN_DIR)
    ap.add_argument("--subnet", default="10.250.22.0/24", help="host-local subnet (a 10.250.x.0/24)")
    ap.add_argument("--out", default="profile", help="results name (benchmarks/results/NAME.json)")
    a = ap.parse_args()
    if not a.subnet.startswith("10.250.") or not a.subnet.endswith(".0/24"):
        raise C.BenchError("--subnet must be a 10.250.x.0/24")
    C.need_root()
    multus = C.resolve_multus(a.multus)
    python = C.interpreter_of(multus)
    if python is None:
        raise C.BenchError(f"{multus} is not a Python launcher script")
    os.makedirs(C.RESULTS_DIR, exist_ok=True)
    load0 = C.loadavg()
    res: dict[str, Any] = {"benchmark": "profile", "multus": multus, "python": python,
                           "machine": C.machine_info(), "runs": a.runs}
    with C.Lab("prof") as lab:
        bridge = os.path.join(a.bin_dir, "bridge")
        delegate = {"cniVersion": "1.0.0", "name": "mbench-net", "type": "bridge",
                    "bridge": f"mb{os.getpid() % 100000}1"[:15], "isGateway": True,
                    "ipam": {"type": "host-local", "subnet": a.subnet, "dataDir": os.path.join(lab.tmp, "ipam")}}
        mconf = {"cniVersion": "1.0.0", "name": "multus-cni-network", "type": "multus",
                 "confDir": os.path.join(lab.tmp, "net.d"), "cniDir": os.path.join(lab.tmp, "cache"),
                 "binDir": a.bin_dir, "delegates": [delegate]}
        confs = {"direct": os.path.join(lab.tmp, "bridge.json"), "multus": os.path.join(lab.tmp, "multus.json")}
        C.write_json(confs["direct"], delegate)
        C.write_json(confs["multus"], mconf)
        # a no-op delegate (a 6-line sh script): multus' own cost, without any real plugin work
        noop_dir = os.path.join(lab.tmp, "noop-bin")
        noop_conf = write_noop(noop_dir)
        confs["noop"] = os.path.join(lab.tmp, "noop.json")
        confs["multus_noop"] = os.path.join(lab.tmp, "multus-noop.json")
        C.write_json(confs["noop"], noop_conf)
        C.write_json(confs["multus_noop"], dict(mconf, binDir=noop_dir, delegates=[noop_conf]))

        kinds = ("plain", "importtime", "cprofile", "direct", "noop", "multus_noop")
        n = {"plain": a.runs, "importtime": a.runs, "cprofile": 1, "direct": a.runs, "noop": a.runs,
             "multus_noop": a.runs}
        pods = {k: lab.pod_names(k[0], n[k]) for k in kinds}
        lab.add_netns([p for k in kinds for p in pods[k]])
        lab.assert_inside()

        def call(kind: str, verb: str, ns: str) -> C.Call:
            cid = f"{ns}-cid"
            env = C.cni_env(verb, f"/run/netns/{ns}", cid, "eth0", a.bin_dir,
                            f"IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME={ns}")
            if kind == "direct":
                return C.run_cni([bridge], env, confs["direct"])
            if kind in ("noop", "multus_noop"):
                env["CNI_PATH"] = noop_dir
                argv0 = os.path.join(noop_dir, "noop") if kind == "noop" else multus
                return C.run_cni([argv0], env, confs[kind])
            argv = [multus]
            if kind == "importtime":
                argv = [python, "-X", "importtime", multus]
            elif kind == "cprofile":
                # run() rather than the script: the script leaves by os._exit, before cProfile
                # could write its file
                prof = os.path.join(C.RESULTS_DIR, f"{a.out}-{verb.lower()}.prof")
                code = f"import cProfile; from multus.cli.thin import run; cProfile.run('run()', {prof!r})"
                argv = [python, "-c", code]
            return C.run_cni(argv, env, confs["multus"])

        walls: dict[str, dict[str, list[float]]] = {k: {"ADD": [], "DEL": []} for k in kinds}
        walls["imports_only"] = {"ADD": [], "DEL": []}
        imports: dict[str, list[list[dict[str, Any]]]] = {"ADD": [], "DEL": []}
        bare: list[float] = []
        fails = []
        # the modules a VERSION call imports: the start-up floor of every call
        imports_version = imported_modules(python, multus)
        for verb in ("ADD", "DEL"):
            for i in range(a.runs):
                for kind in kinds:
                    if i >= n[kind]:
                        continue
                    c = call(kind, verb, pods[kind][i])
                    if c.rc != 0 or (verb == "ADD" and not c.ok_add()):
                        fails.append({"kind": kind, "verb": verb, "rc": c.rc, "out": c.out[-300:], "err": c.err[-300:]})
                    walls[kind][verb].append(c.seconds)
                    if kind == "importtime":
                        imports[verb].append(parse_importtime(c.err))
                if verb == "ADD":
                    c = C.run_cni([python, "-c", "pass"], dict(os.environ), confs["direct"])
                    bare.append(c.seconds)
                    c = C.run_cni([python, "-c", VERSION_ONLY], dict(os.environ), confs["direct"])
                    walls.setdefault("version_imports", {"ADD": [], "DEL": []})["ADD"].append(c.seconds)
                if imports[verb]:
                    # the same imports without the work: what importing costs in real time
                    mods = [r["module"] for r in imports[verb][0] if r["depth"] == 0]
                    c = C.run_cni([python, "-c", IMPORT_ONLY % (mods,)], dict(os.environ), confs["direct"])
                    walls["imports_only"][verb].append(c.seconds)
        # a syscall timeline of one ADD and one DEL (strace --seccomp-bpf: only the traced
        # syscalls stop the process, so it runs at nearly full speed)
        strace = shutil.which("strace")
        if strace:
            tpod = lab.pod_names("t", 1)[0]
            lab.add_netns([tpod])
            for verb in ("ADD", "DEL"):
                tf = os.path.join(lab.tmp, f"strace-{verb}")
                cid = f"{tpod}-cid"
                env = C.cni_env(verb, f"/run/netns/{tpod}", cid, "eth0", a.bin_dir,
                                f"IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME={tpod}")
                c = C.run_cni([strace, "--seccomp-bpf", "-f", "-ttt", "-o", tf, "-e",
                               "trace=execve,flock,fsync,wait4,write,exit_group", multus], env, confs["multus"])
                if c.rc != 0:
                    fails.append({"kind": "strace", "verb": verb, "rc": c.rc, "err": c.err[-300:]})
                with open(tf) as f:
                    res[f"timeline_{verb.lower()}"] = timeline(f.read(), a.bin_dir)
                res[f"timeline_{verb.lower()}"]["wall_ms_under_strace"] = round(c.seconds * 1000, 1)
            lab.del_netns([tpod])
        lab.del_netns([p for k in kinds for p in pods[k]])

    res["loadavg_before"], res["loadavg_after"] = load0, C.loadavg()
    res["failures"] = fails
    res["wall_ms"] = {k: {v: C.summ_ms(x) for v, x in d.items()} for k, d in walls.items()}
    res["bare_python_ms"] = C.summ_ms(bare)
    res["version_imports_modules"] = imports_version
    for verb in ("ADD", "DEL"):
        v = verb.lower()
        if imports[verb] and a.ladder_runs > 0:
            # every depth-0 module the call imported, with its importtime cost, in import order
            it_rows = importtime_summary(imports[verb], 10_000)["all_top_level"]
            res[f"import_ladder_{v}"] = import_ladder(python, it_rows, a.ladder_runs)
        res[f"importtime_{v}"] = importtime_summary(imports[verb], a.top)
        prof = os.path.join(C.RESULTS_DIR, f"{a.out}-{v}.prof")
        res[f"cprofile_{v}"] = profile_summary(prof, a.top) if os.path.exists(prof) else None
    path = C.write_results(a.out, res)

    print(f"== where multus spends its time ({multus}); loadavg {load0} -> {res['loadavg_after']}")
    vi = res["wall_ms"].get("version_imports", {}).get("ADD", {})
    print(f"   bare python -c pass: {res['bare_python_ms'].get('median_ms')} ms; "
          f"python -c 'import multus.cli.thin' (VERSION's imports): {vi.get('median_ms')} ms")
    for verb in ("ADD", "DEL"):
        v = verb.lower()
        w, d = res["wall_ms"]["plain"][verb], res["wall_ms"]["direct"][verb]
        it, cp = res[f"importtime_{v}"], res[f"cprofile_{v}"]
        io = res["wall_ms"]["imports_only"][verb]
        nm, nd = res["wall_ms"]["multus_noop"][verb], res["wall_ms"]["noop"][verb]
        print(f"\n-- {verb}: multus wall median {w.get('median_ms')} ms, bridge direct {d.get('median_ms')} ms; "
              f"-X importtime: {it['modules']} modules, {it['total_ms']} ms")
        print(f"   a python that only imports the same {it['modules']} modules: {io.get('median_ms')} ms wall "
              f"(so imports ~{round((io.get('median_ms') or 0) - (res['bare_python_ms'].get('median_ms') or 0), 1)} ms "
              f"over the bare interpreter; the remaining work incl. the delegate: "
              f"~{round((w.get('median_ms') or 0) - (io.get('median_ms') or 0), 1)} ms)")
        print(f"   multus with a no-op delegate: {nm.get('median_ms')} ms (the no-op alone {nd.get('median_ms')} ms): "
              f"multus' own cost ~{round((nm.get('median_ms') or 0) - (nd.get('median_ms') or 0), 1)} ms")
        tl = res.get(f"timeline_{v}")
        if tl:
            print(f"   syscall timeline (strace, {tl['wall_ms_under_strace']} ms): " +
                  ", ".join(f"{p['from']}->{p['to']} {p['ms']}" for p in tl["phases"]))
        if cp:
            print(f"   cProfile ({cp['total_ms']} ms under the profiler): imports {cp['imports_ms']} ms, "
                  f"delegate spawn {cp['delegate_spawn_ms']} ms + wait {cp['delegate_wait_ms']} ms, "
                  f"rest {cp['rest_ms']} ms")
        C.print_table([(r["package"], r["self_ms"]) for r in it["by_package"][:14]], ["package (import self time)", "ms"])
        C.print_table([(r["module"], r["cum_ms"], r["self_ms"]) for r in it["heavy_subtrees"] if r["depth"] <= 4][:25],
                      ["import subtree >= 2 ms (depth <= 4)", "cum ms", "self ms"])
        lad = res.get(f"import_ladder_{v}")
        if lad:
            C.print_table([(r["import"], r["step_ms"], r["cumulative_ms"]) for r in lad],
                          ["import ladder: real cost of each top-level import", "step ms", "process ms"])
        if cp:
            C.print_table([(r["function"][:90], r["ncalls"], r["tottime_ms"]) for r in cp["by_tottime"][:12]],
                          ["function (own time)", "calls", "ms"])
            C.print_table([(r["function"][:90], r["ncalls"], r["cumtime_ms"]) for r in cp["multus_by_cumtime"][:15]],
                          ["multus/pluggy/cattrs function (cumulative)", "calls", "ms"])
    print(f"\n   failures: {len(fails)}; results: {path} (+ {a.out}-add.prof, {a.out}-del.prof)")
    return 1 if fails else 0


if __name__ == "__main__":
    C.run(main)
