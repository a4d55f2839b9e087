"""The long fuzzing campaign: every parser fuzzer of ``tests/fuzz`` under ``HYPOTHESIS_PROFILE=long``.

Writes the inputs tried per parser and the failures to ``benchmarks/results/fuzz.json``. The default
(72,000 inputs per fuzzer, 14 fuzzers) is >= 1,000,000 inputs in total; ``--examples`` scales it.
The fuzzers are split over ``--jobs`` pytest processes.

    python benchmarks/fuzz_long.py [--examples N] [--jobs J]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = "tests/fuzz/test_fuzz_parsers.py"


def collect() -> list[str]:
    out = subprocess.run([sys.executable, "-m", "pytest", TESTS, "--collect-only", "-q", "-p", "no:cacheprovider"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if line.startswith(TESTS + "::")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=72_000, help="inputs per fuzzer")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/fuzz.json"))
    opts = ap.parse_args()
    tests = collect()
    shards = [tests[i::opts.jobs] for i in range(opts.jobs)]
    tmp = tempfile.mkdtemp(prefix="multus-fuzz-")
    env = {**os.environ, "HYPOTHESIS_PROFILE": "long", "MULTUS_FUZZ_EXAMPLES": str(opts.examples)}
    start = time.monotonic()
    procs = []
    for i, shard in enumerate(shards):
        shard_env = {**env, "MULTUS_FUZZ_COUNTS": f"{tmp}/counts-{i}.json"}
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "pytest", *shard, "-q", "-p", "no:cacheprovider", "-rf",
             f"--junitxml={tmp}/junit-{i}.xml"], cwd=ROOT, env=shard_env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    logs = [p.communicate()[0] for p in procs]
    counts: dict[str, int] = {}
    for i in range(len(shards)):
        try:
            with open(f"{tmp}/counts-{i}.json") as f:
                for k, v in json.load(f).items():
                    counts[k] = counts.get(k, 0) + v
        except FileNotFoundError:
            pass
    failed = [line for log in logs for line in log.splitlines() if line.startswith("FAILED")]
    report = {
        "profile": "long",
        "examples_per_fuzzer": opts.examples,
        "fuzzers": len(tests),
        "inputs_per_parser": dict(sorted(counts.items())),
        "inputs_total": sum(counts.values()),
        "failures": len(failed),
        "failed": failed,
        "seconds": round(time.monotonic() - start, 1),
    }
    Path(opts.out).write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report))
    return 1 if failed or any(p.returncode for p in procs) else 0


if __name__ == "__main__":
    sys.exit(main())
