"""Shared pieces of the benchmarks: the lab namespaces, timing one CNI call, statistics, results.

Safety rules every benchmark follows (see README.md):

* the benchmark process moves itself into a lab *host* network namespace it creates
  (``mb<pid>-host``) before any plugin runs, and checks it is there before every timed phase;
  bridges, veth host ends and the kube-apiserver live there, never in the machine's namespace;
* every pod is a network namespace of its own, created and deleted by the benchmark;
* every ``ip`` command that changes links names its namespace (``ip -n NS``);
* addresses come from 10.250.x.0/24 only; nothing sends traffic; every loop is bounded;
* everything created is removed on exit, on an exception and on SIGINT/SIGTERM.

Only the standard library is used here, so any python3 can run the benchmarks; the measured
``multus`` runs with its own interpreter (the venv made by ``benchmarks/install.sh``).
"""

from __future__ import annotations

import ctypes
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, Self

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS_DIR = os.path.join(HERE, "results")
DEFAULT_VENV = os.environ.get("MULTUS_BENCH_VENV", "/opt/multus-bench")
DEFAULT_MULTUS = os.path.join(DEFAULT_VENV, "bin", "multus")
DEFAULT_BIN_DIR = "/usr/lib/cni"
GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
CLONE_NEWNET = 0x40000000


class BenchError(Exception):
    """A precondition failed: :func:`run` prints the message and exits with ``status`` (2)."""

    status = 2

    def __init__(self, msg: str) -> None:
        super().__init__(f"{os.path.basename(sys.argv[0])}: {msg}")


def run(main: Callable[[], int]) -> NoReturn:
    """``sys.exit(main())``, with a :class:`BenchError` as its message on stderr and its status."""
    try:
        code = main()
    except BenchError as e:
        print(e, file=sys.stderr)
        sys.exit(e.status)
    except KeyboardInterrupt:
        print(f"{os.path.basename(sys.argv[0])}: interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code)


# --- environment ---------------------------------------------------------------------------------

def need_root() -> None:
    if os.geteuid() != 0:
        raise BenchError("must run as root (network namespaces)")


def resolve_multus(path: str | None) -> str:
    """``--multus`` or the venv's ``multus``; an editable checkout install is refused by default
    only in the sense that we warn: the numbers would include the editable finder."""
    p = path or DEFAULT_MULTUS
    if not os.path.isfile(p) or not os.access(p, os.X_OK):
        if path is None:
            raise BenchError(f"{p} not found: run benchmarks/install.sh first (or pass --multus PATH)")
        raise BenchError(f"--multus {p}: not an executable file")
    return os.path.abspath(p)


def interpreter_of(script: str) -> str | None:
    """The interpreter named on a script's ``#!`` line (``None`` for a binary)."""
    try:
        with open(script, "rb") as f:
            first = f.readline(512)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    parts = first[2:].decode(errors="replace").strip().split()
    if not parts:
        return None
    if os.path.basename(parts[0]) == "env" and len(parts) > 1:
        return shutil.which(parts[1])
    return parts[0]


def editable_install(python: str) -> bool:
    """Whether ``python``'s site-packages holds an editable (``__editable__``) multus."""
    code = ("import sysconfig,os;p=sysconfig.get_paths()['purelib'];"
            "print(any('__editable__' in n and 'multus' in n.lower() for n in os.listdir(p)))")
    try:
        out = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=30, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return out.strip() == "True"


def loadavg() -> list[float]:
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def machine_info() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "kernel": platform.release(), "loadavg": loadavg(),
            "bench_python": sys.version.split()[0], "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def plugin_version(path: str) -> str:
    """The ``about`` line of a CNI plugin (``CNI_COMMAND`` unset), e.g. ``CNI bridge plugin v1.1.1``."""
    try:
        p = subprocess.run([path], env={"PATH": os.environ.get("PATH", "")}, capture_output=True,
                           text=True, timeout=10, stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.SubprocessError):
        return "?"
    return (p.stderr or p.stdout).strip().splitlines()[0] if (p.stderr or p.stdout).strip() else "?"


def deb_version(package: str) -> str:
    """The installed Debian version of ``package`` (``?`` when unknown)."""
    try:
        p = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True,
                           timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return "?"
    return p.stdout.strip() or "?"


# --- statistics ----------------------------------------------------------------------------------

def pct(xs: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..1), as numpy's default."""
    s = sorted(xs)
    if not s:
        return float("nan")
    k = (len(s) - 1) * q
    f = int(k)
    c = min(f + 1, len(s) - 1)
    return s[f] + (s[c] - s[f]) * (k - f)


def summ_ms(seconds: Sequence[float]) -> dict[str, float]:
    ms = [x * 1000 for x in seconds]
    if not ms:
        return {"n": 0}
    return {"n": len(ms), "median_ms": round(statistics.median(ms), 2), "p90_ms": round(pct(ms, 0.9), 2),
            "mean_ms": round(statistics.fmean(ms), 2), "min_ms": round(min(ms), 2),
            "max_ms": round(max(ms), 2)}


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0 or math.isnan(a) or math.isnan(b):
        return None
    return round(a / b, 2)


def write_results(name: str, data: Mapping[str, Any]) -> str:
    os.makedirs(RESULTS_DIR, exist_ok=True)
    path = os.path.join(RESULTS_DIR, f"{name}.json")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, sort_keys=False)
        f.write("\n")
    os.replace(tmp, path)
    return path


# --- namespaces ----------------------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)


def setns(fd: int, nstype: int = CLONE_NEWNET) -> None:
    """setns(2) of the calling thread (os.setns exists only from Python 3.12)."""
    if hasattr(os, "setns"):
        getattr(os, "setns")(fd, nstype)  # noqa: B009 - os.setns exists from 3.12 only
        return
    if _libc.setns(fd, nstype) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def parallel_batch(host_ino: int, pods: Sequence[str], jobs: int, per_worker: int,
                   run_one: Callable[[str], float]) -> tuple[float, list[float], list[int]]:
    """Run ``run_one(pod)`` for ``jobs`` workers x ``per_worker`` pods, all released at once.

    Returns (wall seconds, per-call latencies, workers that were not in the lab host namespace
    and so ran nothing: a plugin never runs outside the lab)."""
    lat: list[float] = []
    outside: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(jobs + 1)

    def worker(w: int) -> None:
        inside = current_netns_ino() == host_ino
        barrier.wait()
        if not inside:
            with lock:
                outside.append(w)
            return
        for ns in pods[w * per_worker:(w + 1) * per_worker]:
            seconds = run_one(ns)
            with lock:
                lat.append(seconds)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(jobs)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, lat, outside


def parallel_round(bench: Any, rnd: int, order: Sequence[str], tags: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """One round of the parallel phase for each side in ``order``: ADD then DEL of
    ``jobs x par_pods`` pods at once, then a check that no ``eth0`` survived DEL. ``bench`` is a
    latency benchmark runner (``a``, ``lab``, ``call``, ``check``, ``fails``, ``flock``)."""
    j, k = bench.a.jobs, bench.a.par_pods
    res: dict[str, dict[str, Any]] = {}
    for s in order:
        pods = bench.lab.pod_names(f"p{rnd}{tags[s]}", j * k)
        bench.lab.add_netns(pods)
        try:
            bench.lab.assert_inside()
            res[s] = {}
            for verb in ("ADD", "DEL"):
                def run_one(ns: str, verb: str = verb, s: str = s) -> float:
                    c = bench.call(s, verb, ns)
                    if c.rc != 0 or (verb == "ADD" and not c.ok_add()):
                        bench.check(s, verb, ns, c)
                    return float(c.seconds)

                wall, lat, outside = parallel_batch(bench.lab.host_ino, pods, j, k, run_one)
                with bench.flock:
                    bench.fails.extend({"side": s, "verb": verb, "worker": w,
                                        "stderr": "worker thread not in the lab host namespace"} for w in outside)
                res[s][verb] = {"pods": j * k, "wall_s": round(wall, 4),
                                "per_s": round(j * k / wall, 1), "latency": summ_ms(lat)}
            # the interface checks, outside the timed batches
            for ns in pods:
                if bench.lab.link_exists(ns, "eth0"):
                    bench.check(s, "DEL", ns, Call("DEL", 0, 0, "", "eth0 still present after DEL"))
        finally:
            bench.lab.del_netns(pods)
    return res


def current_netns_ino() -> int:
    """Inode of this thread's network namespace."""
    path = "/proc/thread-self/ns/net" if os.path.exists("/proc/thread-self/ns/net") else "/proc/self/ns/net"
    return os.stat(path).st_ino


def sh(*argv: str, check: bool = True, timeout: float = 60, input: str | None = None) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, input=input,
                       stdin=None if input is not None else subprocess.DEVNULL, check=False)
    if check and p.returncode != 0:
        raise BenchError(f"{' '.join(argv)} failed (rc={p.returncode}): {p.stderr.strip()[-400:]}")
    return p


class Lab:
    """A lab host namespace that this process enters, and pod namespaces around it.

    ``with Lab("lat") as lab:`` creates ``mb<pid>-lat-host``, brings its ``lo`` up, moves the
    calling (main) thread into it (threads started later and every child process inherit it) and,
    on exit, moves back, deletes every namespace it created and the temp dir ``lab.tmp``.
    """

    def __init__(self, tag: str = "b") -> None:
        self.prefix = f"mb{os.getpid()}-{tag}"
        self.host = f"{self.prefix}-host"
        self.created: set[str] = set()
        self.lock = threading.Lock()
        self.tmp = ""
        self._orig_fd: int | None = None
        self.host_ino = 0
        self._old_handlers: dict[int, Any] = {}

    # context
    def __enter__(self) -> Self:
        need_root()
        if threading.active_count() > 1:
            raise BenchError("Lab must be entered before any thread is started")
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            self._old_handlers[sig] = signal.signal(sig, self._on_signal)
        self.tmp = tempfile.mkdtemp(prefix=f"{self.prefix}-")
        os.chmod(self.tmp, 0o755)
        self.add_netns([self.host])
        sh("ip", "-n", self.host, "link", "set", "lo", "up")
        self._orig_fd = os.open("/proc/self/ns/net", os.O_RDONLY)
        root_ino = os.fstat(self._orig_fd).st_ino
        fd = os.open(f"/run/netns/{self.host}", os.O_RDONLY)
        try:
            setns(fd)
        finally:
            os.close(fd)
        self.host_ino = os.stat(f"/run/netns/{self.host}").st_ino
        if current_netns_ino() != self.host_ino or self.host_ino == root_ino:
            raise BenchError("could not enter the lab host namespace")
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _on_signal(self, signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    def close(self) -> None:
        if self._orig_fd is not None:
            try:
                setns(self._orig_fd)
            except OSError:
                pass
            os.close(self._orig_fd)
            self._orig_fd = None
        names = sorted(self.created - {self.host})
        self.del_netns(names)
        self.del_netns([self.host])
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = ""
        for sig, h in self._old_handlers.items():
            signal.signal(sig, h)
        self._old_handlers.clear()

    # checks
    def assert_inside(self) -> None:
        """Refuse to go on unless this thread is in the lab host namespace."""
        if current_netns_ino() != self.host_ino:
            raise BenchError("not inside the lab host namespace: refusing to run plugins")

    # namespaces
    def pod_names(self, tag: str, count: int, start: int = 0) -> list[str]:
        return [f"{self.prefix}-{tag}{i}" for i in range(start, start + count)]

    def add_netns(self, names: Iterable[str]) -> None:
        names = list(names)
        if not names:
            return
        script = "".join(f"netns add {n}\n" for n in names)
        with self.lock:
            self.created.update(names)
        p = sh("ip", "-batch", "-", input=script, check=False, timeout=120)
        if p.returncode != 0:
            raise BenchError(f"ip netns add failed: {p.stderr.strip()[-400:]}")

    def del_netns(self, names: Iterable[str]) -> None:
        names = [n for n in names if n]
        if not names:
            return
        script = "".join(f"netns del {n}\n" for n in names)
        # -force: go on past a namespace that is already gone
        sh("ip", "-force", "-batch", "-", input=script, check=False, timeout=120)
        with self.lock:
            self.created.difference_update(names)

    def link_exists(self, ns: str, ifname: str) -> bool:
        return sh("ip", "-n", ns, "link", "show", "dev", ifname, check=False).returncode == 0

    def links(self, ns: str) -> list[str]:
        p = sh("ip", "-n", ns, "-o", "link", "show", check=False)
        return [line.split(":")[1].strip().split("@")[0] for line in p.stdout.splitlines() if ":" in line]


# --- one CNI call --------------------------------------------------------------------------------

@dataclass
class Call:
    verb: str
    seconds: float
    rc: int
    out: str
    err: str
    maxrss_kb: int | None = None
    cpu_s: float | None = None
    """user + system CPU time of the process and the children it waited for (its delegates)."""

    def ok_add(self) -> bool:
        if self.rc != 0:
            return False
        try:
            res = json.loads(self.out)
        except ValueError:
            return False
        return isinstance(res, dict) and bool(res.get("ips"))


def cni_env(verb: str, netns: str, cid: str, ifname: str, cni_path: str,
            cni_args: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a runtime gives a plugin: ours minus stray CNI_*/KUBERNETES_*, plus CNI_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CNI_", "KUBERNETES_"))}
    env.update({"CNI_COMMAND": verb, "CNI_CONTAINERID": cid, "CNI_NETNS": netns, "CNI_IFNAME": ifname,
                "CNI_PATH": cni_path, "CNI_ARGS": cni_args})
    if extra:
        env.update(extra)
    return env


def run_cni(argv: Sequence[str], env: Mapping[str, str], conf_path: str, rss_probe: bool = False,
            timeout: float = 120) -> Call:
    """Exec a plugin as a runtime does (config on stdin) and time the whole process.

    The clock covers fork/exec, the plugin's run and its exit; stdin/stdout/stderr are files
    opened before the clock starts. The end is taken from a BLOCKING ``wait4``: never
    ``Popen.wait(timeout=...)``, which polls with sleeps growing to 50 ms and so rounds every
    duration up to 3.5, 7.5, 15.5, 31.5, 63.5, 113.5, 163.5 ... ms. A watchdog timer, started
    before the clock, kills a plugin still running after ``timeout`` seconds. With
    ``rss_probe`` the plugin runs under GNU time and ``maxrss_kb`` is its ``%M`` (the largest
    single process of the plugin's tree); such calls are slower and must not be timed.
    """
    out_argv = list(argv)
    rss_file = None
    if rss_probe and GNU_TIME:
        fd, rss_file = tempfile.mkstemp(prefix="mbrss-")
        os.close(fd)
        out_argv = [GNU_TIME, "-f", "%M", "-o", rss_file, *argv]
    env = dict(env)
    procs: list[subprocess.Popen[bytes]] = []

    def watchdog() -> None:
        for proc in procs:
            if proc.returncode is None:
                try:
                    proc.kill()
                except OSError:
                    pass

    timer = threading.Timer(timeout, watchdog)
    timer.daemon = True
    with open(conf_path, "rb") as fin, tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe:
        timer.start()
        try:
            t0 = time.perf_counter()
            p = subprocess.Popen(out_argv, stdin=fin, stdout=fo, stderr=fe, env=env)
            procs.append(p)
            _, status, ru = os.wait4(p.pid, 0)
            dt = time.perf_counter() - t0
        finally:
            timer.cancel()
        rc = os.waitstatus_to_exitcode(status)
        p.returncode = rc
        fo.seek(0)
        fe.seek(0)
        out = fo.read().decode(errors="replace")
        err = fe.read().decode(errors="replace")
    rss = None
    if rss_file is not None:
        try:
            with open(rss_file) as f:
                rss = int(f.read().split()[-1])
        except (OSError, ValueError, IndexError):
            rss = None
        os.unlink(rss_file)
    return Call(verb=env.get("CNI_COMMAND", "?"), seconds=dt, rc=rc, out=out, err=err, maxrss_kb=rss,
                cpu_s=ru.ru_utime + ru.ru_stime)


def write_json(path: str, data: Any) -> None:
    with open(path, "w") as f:
        json.dump(data, f)


def print_table(rows: Sequence[Sequence[Any]], header: Sequence[str], left: Iterable[int] = (0,)) -> None:
    """A plain text table; columns in ``left`` are left-aligned, the others right-aligned."""
    lefts = set(left)
    cells = [[str(c) for c in header]] + [[("-" if c is None else str(c)) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for k, r in enumerate(cells):
        print("  " + "  ".join(c.ljust(widths[i]) if i in lefts else c.rjust(widths[i])
                               for i, c in enumerate(r)).rstrip())
        if k == 0:
            print("  " + "  ".join("-" * w for w in widths))
