#!/usr/bin/env python3
"""Start-up of the packaged executables a node runs: ``CNI_COMMAND=VERSION`` wall time of

* ``venv multus`` / ``venv multus-shim``: the launchers pip writes in a virtualenv;
* ``zipapp multus-shim`` / ``zipapp passthru``: the single files deploy/image/host_bin.py makes
  (``#!/usr/bin/env python3``: the node's Python, nothing else);
* ``bundle multus`` / ``bundle multus-shim``: PyInstaller ``--onedir`` bundles
  (deploy/image/bundles.sh), which need no Python on the node; run through the symlink that
  ``multusctl copy-binaries`` installs, as a runtime would.

    python3 benchmarks/packaged_startup.py [--bundles DIR] [-n 40] [--out packaged_startup]

``--bundles`` defaults to the image build's cache (/var/cache/multus-image/bundles-<hash>);
without bundles those rows are skipped. Commands are alternated in one loop so that machine
noise hits them equally. Results: benchmarks/results/<out>.json.
"""

from __future__ import annotations

import argparse
import glob
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_BUNDLES = max(glob.glob("/var/cache/multus-image/bundles-*[!p]"), default="", key=os.path.getmtime)


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, int]:
    with open(os.devnull, "wb") as out:
        t0 = time.perf_counter()
        p = subprocess.run(argv, input=b'{"cniVersion":"1.0.0"}', stdout=out, stderr=out, env=env, check=False)
        return time.perf_counter() - t0, p.returncode


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundles", default=DEFAULT_BUNDLES)
    ap.add_argument("-n", type=int, default=40)
    ap.add_argument("--out", default="packaged_startup")
    a = ap.parse_args()
    venv_bin = os.path.dirname(sys.executable)
    work = tempfile.mkdtemp(prefix="multus-packaged-")
    subprocess.run([sys.executable, os.path.join(ROOT, "deploy/image/host_bin.py"), work], check=True,
                   capture_output=True)
    commands = {
        "venv multus": [os.path.join(venv_bin, "multus")],
        "venv multus-shim": [os.path.join(venv_bin, "multus-shim")],
        "zipapp multus-shim": [os.path.join(work, "multus-shim")],
        "zipapp passthru": [os.path.join(work, "passthru")],
    }
    for name in ("multus", "multus-shim"):
        exe = os.path.join(a.bundles, name, name)
        if os.access(exe, os.X_OK):
            link = os.path.join(work, f"bundle-{name}")
            os.symlink(exe, link)
            commands[f"bundle {name}"] = [link]
    env = {"PATH": "/usr/bin:/bin", "CNI_COMMAND": "VERSION"}
    times: dict[str, list[float]] = {k: [] for k in commands}
    for k, argv in commands.items():  # warm the page cache once
        _, rc = timed(argv, env)
        if rc != 0:
            raise C.BenchError(f"{k}: {argv[0]} exited {rc}")
    for _ in range(a.n):
        for k, argv in commands.items():
            t, _ = timed(argv, env)
            times[k].append(t)
    sizes = {k: _size(v[0]) for k, v in commands.items()}
    results = {"machine": C.machine_info(), "n": a.n,
               "version_call": {k: C.summ_ms(v) for k, v in times.items()},
               "size_bytes": sizes}
    rows = [[k, results["version_call"][k]["median_ms"], results["version_call"][k]["p90_ms"],
             f"{sizes[k] / 1e6:.1f} MB"] for k in commands]
    C.print_table(rows, ["executable", "median ms", "p90 ms", "on disk"])
    print(f"results: {C.write_results(a.out, results)}")
    return 0


def _size(path: str) -> int:
    real = os.path.realpath(path)
    if os.path.basename(os.path.dirname(real)) == os.path.basename(real):  # a bundle: count the tree
        total = 0
        for d, _, files in os.walk(os.path.dirname(real)):
            total += sum(os.path.getsize(os.path.join(d, f)) for f in files)
        return total
    return os.path.getsize(real)


if __name__ == "__main__":
    C.run(main)
