#!/usr/bin/env python3
"""ADD/DEL latency of thick mode (``multus-shim`` + a running ``multus-daemon``) against the bridge
plugin called directly, in one run.

    sudo python3 benchmarks/thick_latency.py [--shim PATH] [--daemon PATH] [--thin] [-n 50] [-j 8]

The shim is, by default, what a node runs: ``src/multus/cli/shim.py`` copied alone into a bin
directory of the temp dir and run by its shebang (``/usr/bin/python3 -IS``); ``--shim`` names
another executable (the venv's console script, upstream's Go shim).

Like ``latency.py`` (same delegate, same alternation, same checks), but the multus side is the
shim a runtime would exec, talking to one ``multus-daemon`` started at the beginning inside the
lab host namespace (socket dir, cniDir and host-local dataDir in the temp dir, bridge
``mb<pid>1``, 10.250.24.0/24). ``--thin`` adds the thin ``multus`` as a third side (same
delegates), so thin and thick are compared in the same run.

Reported: ADD/DEL median and p90 per side, the ratios to direct, 8 workers x 4 pods throughput,
the shim's peak RSS (GNU time ``%M`` on the warm-up calls: the shim alone, delegates are the
daemon's children), the daemon's RSS (``VmRSS``) after start, after the warm-up and at the end,
its peak (``VmHWM``), and the daemon CPU time per sequential call (the part of a thick call
that ``%M``/wall time of the shim do not show).
Results: benchmarks/results/<out>.json (raw samples included).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C

TAGS = {"direct": "d", "thick": "k", "thin": "t", "post": "p"}
"""Short tags of the sides in namespace names."""
UPSTREAM = {"thick": {"add": 2.5, "del": 1.9}, "thin": {"add": 2.2, "del": 1.9}}
"""Upstream's Go binaries measured on this kind of machine (ratio to the direct bridge)."""


SHIM_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "src", "multus", "cli", "shim.py")


def venv_tool(name: str) -> str:
    return os.path.join(C.DEFAULT_VENV, "bin", name)


def standalone_shim(tmp: str) -> str:
    """The shim file copied alone into ``<tmp>/opt-cni-bin`` (as onto a node)."""
    d = os.path.join(tmp, "opt-cni-bin")
    os.makedirs(d, exist_ok=True)
    target = os.path.join(d, "multus-shim")
    shutil.copyfile(SHIM_SOURCE, target)
    os.chmod(target, 0o755)
    return target


def readyz(sock: str, timeout: float = 2.0) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(sock)
        s.sendall(b"GET /readyz HTTP/1.1\r\nHost: dummy\r\nConnection: close\r\n\r\n")
        return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False
    finally:
        s.close()


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM in KiB."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM"):
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


def proc_cpu_s(pid: int) -> float:
    """user + system CPU seconds of a process (its own, not its reaped children)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


class Daemon:
    def __init__(self, exe: str, tmp: str, log_level: str, extra: dict[str, Any] | None = None) -> None:
        self.socket_dir = os.path.join(tmp, "run", "multus")
        self.sock = os.path.join(self.socket_dir, "multus.sock")
        cfg: dict[str, Any] = {"socketDir": self.socket_dir, "shutdownGracePeriod": 0, **(extra or {})}
        if log_level:
            cfg.update(logLevel=log_level, logFile=os.path.join(tmp, "multus-daemon.log"))
        self.config = os.path.join(tmp, "daemon-config.json")
        C.write_json(self.config, cfg)
        self.err = open(os.path.join(tmp, "multus-daemon.stderr"), "wb")  # noqa: SIM115 - closed in stop()
        t0 = time.perf_counter()
        self.proc = subprocess.Popen([exe, "-config", self.config], stdin=subprocess.DEVNULL, stdout=self.err,
                                     stderr=self.err)
        deadline = time.monotonic() + 60
        while not readyz(self.sock):
            if self.proc.poll() is not None:
                raise C.BenchError(f"multus-daemon exited with {self.proc.returncode} (see {self.err.name})")
            if time.monotonic() > deadline:
                raise C.BenchError("multus-daemon not ready after 60 s")
            time.sleep(0.02)
        self.start_s = time.perf_counter() - t0

    def stop(self) -> int | None:
        rc = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        else:
            rc = self.proc.returncode
        self.err.close()
        return rc


class Bench:
    def __init__(self, a: argparse.Namespace, lab: C.Lab, shim: str, thin: str | None, daemon: Daemon) -> None:
        self.a, self.lab, self.daemon = a, lab, daemon
        self.bridge = os.path.join(a.bin_dir, "bridge")
        t = lab.tmp
        self.delegate = {
            "cniVersion": "1.0.0", "name": "mbench-net", "type": "bridge",
            "bridge": f"mb{os.getpid() % 100000}1"[:15], "isGateway": True,
            "ipam": {"type": "host-local", "subnet": a.subnet, "dataDir": os.path.join(t, "ipam")},
        }
        base: dict[str, Any] = {"cniVersion": "1.0.0", "name": "multus-cni-network",
                                "confDir": os.path.join(t, "net.d"), "binDir": a.bin_dir,
                                "delegates": [self.delegate]}
        os.makedirs(base["confDir"], exist_ok=True)
        shim_conf = {**base, "type": "multus-shim", "daemonSocketDir": daemon.socket_dir,
                     "cniDir": os.path.join(t, "cache-thick")}
        thin_conf = {**base, "type": "multus", "cniDir": os.path.join(t, "cache-thin")}
        if a.log_level:
            thin_conf.update(logLevel=a.log_level, logFile=os.path.join(t, "multus.log"), logToStderr=False)
        self.sides = ["direct", "thick"] + (["thin"] if thin else []) + (["post"] if a.post else [])
        self.argv = {"direct": [self.bridge], "thick": [shim], "thin": [thin or ""], "post": []}
        self.conf_path = {s: os.path.join(t, f"{s}.json") for s in self.sides}
        C.write_json(self.conf_path["direct"], self.delegate)
        C.write_json(self.conf_path["thick"], shim_conf)
        if a.post:
            C.write_json(self.conf_path["post"], shim_conf)
            with open(self.conf_path["post"], "rb") as f:
                self.post_conf = f.read()
        if thin:
            C.write_json(self.conf_path["thin"], thin_conf)
        self.fails: list[dict[str, Any]] = []
        self.flock = threading.Lock()

    def call(self, side: str, verb: str, ns: str, rss: bool = False) -> C.Call:
        cid = f"{ns}-cid"
        env = C.cni_env(verb, f"/run/netns/{ns}", cid, "eth0", self.a.bin_dir,
                        f"IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME={ns};"
                        f"K8S_POD_INFRA_CONTAINER_ID={cid}")
        if side == "post":
            return self.post(verb, env)
        return C.run_cni(self.argv[side], env, self.conf_path[side], rss_probe=rss)

    def post(self, verb: str, env: dict[str, str]) -> C.Call:
        """What the shim does after its interpreter started: one ``POST /cni`` from this process."""
        from multus.thick import client

        t0 = time.perf_counter()
        c0 = time.process_time()
        try:
            reply = client.request(self.daemon.sock, "POST", client.CNI_ENDPOINT,
                                   client.encode_request(env, self.post_conf), timeout=120)
            data = reply.json() if reply.status == 200 else None
            out = json.dumps(data.get(client.REQUESTED_RESULT_KEY)) if isinstance(data, dict) else ""
            rc = 0 if reply.status == 200 else 1
            err = "" if rc == 0 else reply.body.decode(errors="replace")
        except client.TransportError as e:
            rc, out, err = 1, "", str(e)
        return C.Call(verb, time.perf_counter() - t0, rc, out, err, None, time.process_time() - c0)

    def check(self, side: str, verb: str, ns: str, c: C.Call) -> None:
        good = (c.ok_add() and self.lab.link_exists(ns, "eth0")) if verb == "ADD" else \
            (c.rc == 0 and not self.lab.link_exists(ns, "eth0"))
        if not good:
            with self.flock:
                self.fails.append({"side": side, "verb": verb, "netns": ns, "rc": c.rc,
                                   "stdout": c.out[-600:], "stderr": c.err[-600:]})
            if self.a.verbose:
                print(f"FAIL {side} {verb} {ns} rc={c.rc} out={c.out[-300:]!r} err={c.err[-300:]!r}",
                      file=sys.stderr)

    def warmup(self) -> dict[str, dict[str, int | None]]:
        rss: dict[str, dict[str, list[int]]] = {s: {"ADD": [], "DEL": []} for s in self.sides}
        pods = {s: self.lab.pod_names(f"w{TAGS[s]}", self.a.warmup) for s in self.sides}
        self.lab.add_netns([p for s in self.sides for p in pods[s]])
        self.lab.assert_inside()
        try:
            for i in range(self.a.warmup):
                for s in self.sides:
                    for verb in ("ADD", "DEL"):
                        c = self.call(s, verb, pods[s][i], rss=True)
                        self.check(s, verb, pods[s][i], c)
                        if c.maxrss_kb:
                            rss[s][verb].append(c.maxrss_kb)
        finally:
            self.lab.del_netns([p for s in self.sides for p in pods[s]])
        return {s: {f"{v.lower()}_max_kb": (max(x) if x else None) for v, x in d.items()} for s, d in rss.items()}

    def sequential(self, rnd: int) -> tuple[dict[str, dict[str, list[float]]], dict[str, float]]:
        n = self.a.n
        pods = {s: self.lab.pod_names(f"r{rnd}{TAGS[s]}", n) for s in self.sides}
        self.lab.add_netns([p for s in self.sides for p in pods[s]])
        out: dict[str, dict[str, list[float]]] = {s: {"ADD": [], "DEL": [], "ADD_cpu": [], "DEL_cpu": []}
                                                  for s in self.sides}
        daemon_cpu: dict[str, float] = {"ADD": 0.0, "DEL": 0.0}
        self.lab.assert_inside()
        try:
            for verb in ("ADD", "DEL"):
                for i in range(n):
                    k = (i + rnd) % len(self.sides)
                    order = self.sides[k:] + self.sides[:k]
                    for s in order:
                        cpu0 = proc_cpu_s(self.daemon.proc.pid) if s == "thick" else 0.0
                        c = self.call(s, verb, pods[s][i])
                        if s == "thick":
                            daemon_cpu[verb] += proc_cpu_s(self.daemon.proc.pid) - cpu0
                        out[s][verb].append(c.seconds)
                        out[s][f"{verb}_cpu"].append(c.cpu_s or 0.0)
                        self.check(s, verb, pods[s][i], c)
        finally:
            self.lab.del_netns([p for s in self.sides for p in pods[s]])
        return out, {v: round(1000 * daemon_cpu[v] / n, 2) for v in daemon_cpu}

    def parallel(self, rnd: int) -> dict[str, dict[str, Any]]:
        order = self.sides if rnd % 2 == 0 else self.sides[::-1]
        return C.parallel_round(self, rnd, order, TAGS)


def resolve(path: str | None, name: str) -> str:
    p = path or venv_tool(name)
    if not (os.path.isfile(p) and os.access(p, os.X_OK)):
        raise C.BenchError(f"{p} not found: run benchmarks/install.sh first (or pass --{name.split('-')[-1]} PATH)")
    return os.path.abspath(p)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shim", help="the multus-shim executable (default: src/multus/cli/shim.py copied alone, "
                    "run by /usr/bin/python3 -IS)")
    ap.add_argument("--daemon", help=f"the multus-daemon executable (default {venv_tool('multus-daemon')})")
    ap.add_argument("--thin", action="store_true", help="also measure the thin multus (third side)")
    ap.add_argument("--post", action="store_true", help="also a side that POSTs to the daemon from this process "
                    "(no shim process): the daemon's round trip without the shim's start-up")
    ap.add_argument("--multus", help=f"the thin multus for --thin (default {C.DEFAULT_MULTUS})")
    ap.add_argument("-n", type=int, default=50, help="sequential pods per side per round (default 50)")
    ap.add_argument("-j", "--jobs", type=int, default=8, help="parallel workers (default 8; 0: skip)")
    ap.add_argument("--par-pods", type=int, default=4, help="pods per parallel worker (default 4)")
    ap.add_argument("--repeat", type=int, default=1, help="rounds (default 1); medians of round medians")
    ap.add_argument("--warmup", type=int, default=3, help="untimed warm-up pods per side, RSS probes (default 3)")
    ap.add_argument("--bin-dir", default=C.DEFAULT_BIN_DIR, help="CNI plugin directory (default /usr/lib/cni)")
    ap.add_argument("--subnet", default="10.250.24.0/24", help="host-local subnet (a 10.250.x.0/24)")
    ap.add_argument("--log-level", default="", help="daemon/thin logLevel (to log files in the temp dir)")
    ap.add_argument("--out", default="thick_latency", help="results name (benchmarks/results/NAME.json)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print each failing call")
    a = ap.parse_args()
    if not a.subnet.startswith("10.250.") or not a.subnet.endswith(".0/24"):
        raise C.BenchError("--subnet must be a 10.250.x.0/24")
    if a.n < 1 or a.repeat < 1 or a.jobs < 0 or a.par_pods < 1 or a.warmup < 0:
        raise C.BenchError("bad -n/--repeat/-j/--par-pods/--warmup")
    sides_n = 2 + bool(a.thin) + bool(a.post)
    if sides_n * a.n + 3 > 250 or a.jobs * a.par_pods + 3 > 250:
        raise C.BenchError("too many pods for one /24")
    C.need_root()
    shim = resolve(a.shim, "multus-shim") if a.shim else ""
    daemon_exe = resolve(a.daemon, "multus-daemon")
    thin = C.resolve_multus(a.multus) if a.thin else None
    for plugin in ("bridge", "host-local"):
        if not os.access(os.path.join(a.bin_dir, plugin), os.X_OK):
            raise C.BenchError(f"{plugin} not found in {a.bin_dir} (apt-get install containernetworking-plugins)")
    load0 = C.loadavg()
    t_start = time.time()

    rounds: list[dict[str, Any]] = []
    daemon_mem: dict[str, Any] = {}
    with C.Lab("thk") as lab:
        shim = shim or standalone_shim(lab.tmp)
        shim_python = C.interpreter_of(shim)
        daemon = Daemon(daemon_exe, lab.tmp, a.log_level)
        try:
            time.sleep(0.2)
            daemon_mem["after_start"] = proc_status(daemon.proc.pid)
            b = Bench(a, lab, shim, thin, daemon)
            sides = b.sides
            versions = {"bridge": C.plugin_version(b.bridge), "multus-shim": C.plugin_version(shim),
                        "containernetworking-plugins (deb)": C.deb_version("containernetworking-plugins")}
            rss = b.warmup() if a.warmup > 0 else {}
            daemon_mem["after_warmup"] = proc_status(daemon.proc.pid)
            for rnd in range(a.repeat):
                seq, dcpu = b.sequential(rnd)
                par = b.parallel(rnd) if a.jobs > 0 else {}
                rounds.append({"round": rnd, "loadavg": C.loadavg(), "samples_s": seq, "daemon_cpu_ms_per_call": dcpu,
                               "stats": {s: {v.lower(): C.summ_ms(seq[s][v])
                                             for v in ("ADD", "DEL", "ADD_cpu", "DEL_cpu")} for s in sides},
                               "parallel": par})
            daemon_mem["at_end"] = proc_status(daemon.proc.pid)
            fails = b.fails
        finally:
            daemon_rc = daemon.stop()
    load1 = C.loadavg()

    def med_of(side: str, verb: str, key: str) -> float:
        return round(float(statistics.median(r["stats"][side][verb][key] for r in rounds)), 2)

    summary = {s: {v: {"median_ms": med_of(s, v, "median_ms"), "p90_ms": med_of(s, v, "p90_ms"),
                       "cpu_median_ms": med_of(s, f"{v}_cpu", "median_ms")} for v in ("add", "del")}
               for s in sides}
    ratios = {s: {v: C.ratio(summary[s][v]["median_ms"], summary["direct"][v]["median_ms"]) for v in ("add", "del")}
              for s in sides if s != "direct"}
    ratios_p90 = {s: {v: C.ratio(summary[s][v]["p90_ms"], summary["direct"][v]["p90_ms"]) for v in ("add", "del")}
                  for s in sides if s != "direct"}
    per_round = {s: {v: [C.ratio(r["stats"][s][v]["median_ms"], r["stats"]["direct"][v]["median_ms"])
                         for r in rounds] for v in ("add", "del")} for s in sides if s != "direct"}
    daemon_cpu = {v: round(statistics.median(r["daemon_cpu_ms_per_call"][v] for r in rounds), 2) for v in ("ADD", "DEL")}
    par_sum: dict[str, Any] = {}
    if a.jobs > 0:
        for s in sides:
            par_sum[s] = {v.lower(): round(statistics.median(r["parallel"][s][v]["per_s"] for r in rounds), 1)
                          for v in ("ADD", "DEL")}
    res = {
        "benchmark": "thick_latency", "shim": shim, "daemon_executable": daemon_exe, "thin": thin,
        "python": shim_python, "versions": versions, "machine": C.machine_info(),
        "loadavg_before": load0, "loadavg_after": load1, "duration_s": round(time.time() - t_start, 1),
        "config": {"pods": a.n, "jobs": a.jobs, "par_pods": a.par_pods, "repeat": a.repeat, "warmup": a.warmup,
                   "bin_dir": a.bin_dir, "subnet": a.subnet, "log_level": a.log_level or None, "sides": sides_n,
                   "delegate": "bridge + host-local (multus: static delegates list)"},
        "summary": summary, "ratio_median": ratios, "ratio_p90": ratios_p90, "ratio_per_round": per_round,
        "upstream_go": UPSTREAM, "parallel_per_s": par_sum, "peak_rss": rss,
        "daemon": {"start_s": round(daemon.start_s, 3), "memory_kb": daemon_mem, "exit_code": daemon_rc,
                   "cpu_ms_per_call_median": daemon_cpu},
        "failures": len(fails), "failure_detail": fails[:20], "rounds": rounds,
    }
    path = C.write_results(a.out, res)

    print(f"== thick mode (multus-shim + multus-daemon) vs bridge called directly: {a.n} pods/side sequential "
          f"x {a.repeat} round(s), {a.jobs}x{a.par_pods} parallel")
    print(f"   shim {shim}; daemon {daemon_exe} (ready in {daemon.start_s:.2f} s); bridge {b.bridge} "
          f"(containernetworking-plugins {versions['containernetworking-plugins (deb)']})")
    print(f"   loadavg before {load0} after {load1}; {os.cpu_count()} CPUs; {res['duration_s']} s")
    rows = []
    for s in sides:
        rows.append((s, summary[s]["add"]["median_ms"], summary[s]["add"]["p90_ms"], summary[s]["del"]["median_ms"],
                     summary[s]["del"]["p90_ms"], par_sum.get(s, {}).get("add"), par_sum.get(s, {}).get("del"),
                     (rss.get(s) or {}).get("add_max_kb")))
    for s in sides:
        if s != "direct":
            rows.append((f"{s}/direct", ratios[s]["add"], ratios_p90[s]["add"], ratios[s]["del"], ratios_p90[s]["del"],
                         C.ratio(par_sum.get(s, {}).get("add"), par_sum.get("direct", {}).get("add")),
                         C.ratio(par_sum.get(s, {}).get("del"), par_sum.get("direct", {}).get("del")), None))
    C.print_table(rows, ["", "ADD med ms", "ADD p90", "DEL med ms", "DEL p90", f"ADD/s x{a.jobs}",
                         f"DEL/s x{a.jobs}", "peak RSS KiB"])
    mem = {k: v.get("VmRSS") for k, v in daemon_mem.items()}
    print(f"   daemon RSS KiB: after start {mem.get('after_start')}, after warm-up {mem.get('after_warmup')}, "
          f"at end {mem.get('at_end')} (peak {daemon_mem.get('at_end', {}).get('VmHWM')}); "
          f"daemon CPU per call ADD/DEL {daemon_cpu['ADD']}/{daemon_cpu['DEL']} ms")
    for s in sides:
        if s in UPSTREAM:
            print(f"   {s}: ADD {ratios[s]['add']}x, DEL {ratios[s]['del']}x direct "
                  f"(upstream Go {s}: {UPSTREAM[s]['add']}x / {UPSTREAM[s]['del']}x)")
        elif s == "post":
            print(f"   post (the daemon's round trip, no shim process): ADD {ratios[s]['add']}x, "
                  f"DEL {ratios[s]['del']}x direct")
    print(f"   failures: {len(fails)}; daemon exit code {daemon_rc}")
    for f in fails[:5]:
        print(f"   FAIL {json.dumps(f)[:400]}")
    print(f"   results: {path}")
    return 1 if fails else 0


if __name__ == "__main__":
    C.run(main)
