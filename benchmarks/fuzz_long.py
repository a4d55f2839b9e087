"""The long fuzzing campaign: every parser fuzzer of ``tests/fuzz``, driven by random buffers.

Hypothesis' search engine spends most of its time on its own bookkeeping; this campaign instead
feeds each fuzzer's ``fuzz_one_input`` (the test itself, through Hypothesis' bytestring provider)
random byte buffers. Only inputs that reached the parser are counted (a buffer too short for the
strategy, or filtered out, is not). Each of the 14 parsers gets the same target (``--inputs``,
72,000 by default: >= 1,000,000 in total); each of the ``--jobs`` processes runs every parser
(its share of the target, its own seed), so the processes finish together.

A failure is any exception out of a fuzzer: its type, message and the buffer (hex) are written to
``benchmarks/results/fuzz.json`` with the inputs per parser and the seconds taken.

    python benchmarks/fuzz_long.py [--inputs N] [--jobs J] [--seed S]
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import multiprocessing
import os
import random
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# a fuzzer's name -> the (test function, bound non-strategy arguments) it runs
Target = tuple[str, dict[str, Any]]
TARGETS: dict[str, Target] = {
    "networks-annotation": ("test_networks_annotation", {}),
    "default-network-annotation": ("test_default_network_annotation", {}),
    "netconf": ("test_netconf", {}),
    "daemon-config": ("test_daemon_config", {}),
    "cni-request": ("test_cni_request", {}),
    "cni-args": ("test_cni_args", {}),
    "delegate-result": ("test_delegate_result", {}),
    "delegate-error": ("test_delegate_error_answer", {}),
    "daemon-cni-body": ("test_daemon_request_body", {"endpoint": "cni"}),
    "daemon-delegate-body": ("test_daemon_request_body", {"endpoint": "delegate"}),
    "checkpoint": ("test_checkpoint", {}),
    "podresources": ("test_podresources", {}),
    "nad": ("test_nad_config", {}),
    "pod": ("test_pod_info", {}),
}
MAX_BUFFER = 4096
MAX_FAILURES_KEPT = 20


def _load() -> Any:
    """Import the fuzzers (as the ``tests.fuzz`` package, the way pytest does)."""
    os.environ["HYPOTHESIS_PROFILE"] = "long"  # no example database: failures are reported here
    sys.path.insert(0, str(ROOT))
    from tests.fuzz import test_fuzz_parsers as mod

    return mod


def _fuzz_target(mod: Any, name: str) -> Callable[[bytes], bytes | None]:
    func_name, bound = TARGETS[name]
    test = getattr(mod, func_name)
    if "endpoint" in bound:
        from multus.thick import config as thick_config
        from multus.thick import service

        # what the module's ``daemon`` fixture builds: the service with the engine stood in for
        service.run_engine = mod._FakeEngine()
        daemon = service.Service(thick_config.parse({}), None, {"PATH": "/usr/bin"})
        bound = {**bound, "daemon": daemon}
    if bound:  # the same test body and strategy (its only one, ``body``), with the other arguments bound
        from hypothesis import given

        inner = functools.partial(test.hypothesis.inner_test, **bound)

        def bound_test(body: bytes) -> None:
            inner(body=body)

        test = given(**test.hypothesis._given_kwargs)(bound_test)
    return test.hypothesis.fuzz_one_input  # type: ignore[no-any-return]


def _worker(names: list[str], inputs: int, seed: int, deadline: float | None, out: Any) -> None:
    logging.disable(logging.CRITICAL)  # the daemon logs every rejected request: not what is measured
    mod = _load()
    counts = mod.COUNTS
    rng = random.Random(seed)
    targets = {name: _fuzz_target(mod, name) for name in names}
    failures: list[dict[str, Any]] = []
    failed = {name: 0 for name in names}
    tried = {name: 0 for name in names}
    todo = list(names)
    last = time.monotonic()
    while todo and (deadline is None or time.time() < deadline):
        for name in list(todo):
            fuzz = targets[name]
            for _ in range(200):  # a slice of each parser in turn: a fair share whatever stops the run
                size = rng.choice((64, 256, 1024, MAX_BUFFER))
                buf = rng.randbytes(rng.randrange(size))
                tried[name] += 1
                try:
                    fuzz(buf)
                except Exception as e:  # noqa: BLE001 - every exception out of a fuzzer is a failure
                    failed[name] += 1
                    if len(failures) < MAX_FAILURES_KEPT:
                        failures.append({"parser": name, "error": f"{type(e).__name__}: {e}"[:500],
                                         "traceback": traceback.format_exc()[-1500:], "buffer": buf.hex()})
            if counts[name] >= inputs:
                todo.remove(name)
        if time.monotonic() - last > 60:  # progress, one JSON line a minute
            last = time.monotonic()
            print(json.dumps({"worker": seed, "progress": {n: counts[n] for n in names},
                              "failed": sum(failed.values())}),
                  file=sys.stderr, flush=True)
    out.put({"counts": {n: counts[n] for n in names}, "tried": tried, "failed": failed, "failures": failures})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, default=72_000, help="inputs that reach each parser (default 72,000)")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the random buffers")
    ap.add_argument("--only", action="append", choices=sorted(TARGETS), help="fuzz only these parsers")
    ap.add_argument("--max-seconds", type=float, help="stop after this many seconds, whatever was reached")
    ap.add_argument("--merge", action="append", default=[], metavar="JSON",
                    help="add the inputs and failures of an earlier campaign's report (repeatable)")
    ap.add_argument("--merge-only", action="store_true", help="run nothing: only merge the --merge reports")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/fuzz.json"))
    opts = ap.parse_args()
    names = opts.only or list(TARGETS)
    campaigns: list[dict[str, Any]] = []
    for m in opts.merge:  # a report (its campaigns) or one campaign
        data = json.loads(Path(m).read_text())
        campaigns += data.get("campaigns", [data])
    if not opts.merge_only:
        this, ok = _campaign(opts, names)
        campaigns.append(this)
    else:
        ok = True
    per_parser = {n: sum(c["inputs_per_parser"].get(n, 0) for c in campaigns) for n in names}
    failures = {n: sum(c["failures_per_parser"].get(n, 0) for c in campaigns) for n in names}
    report = {
        "parsers": len(names),
        "inputs_per_parser": per_parser,
        "inputs_total": sum(per_parser.values()),
        "failures_per_parser": failures,
        "failures": sum(failures.values()),
        "seconds": round(max(c["ended"] for c in campaigns) - min(c["started"] for c in campaigns), 1),
        "campaigns": campaigns,
    }
    Path(opts.out).write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "campaigns"}))
    return 1 if report["failures"] or not ok else 0


def _campaign(opts: argparse.Namespace, names: list[str]) -> tuple[dict[str, Any], bool]:
    """One campaign: ``opts.jobs`` worker processes; its report and whether every worker ended well."""
    jobs = max(1, opts.jobs)
    share = -(-opts.inputs // jobs)
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    started = time.time()
    deadline = time.time() + opts.max_seconds if opts.max_seconds else None
    procs = [ctx.Process(target=_worker, args=(names, share, opts.seed * 1000 + i, deadline, queue))
             for i in range(jobs)]
    for p in procs:
        p.start()
    parts = []
    while len(parts) < len(procs):
        try:
            parts.append(queue.get(timeout=5))
        except Exception:  # noqa: BLE001 - queue.Empty: check that no worker died
            if any(p.exitcode not in (None, 0) for p in procs):
                for p in procs:
                    p.kill()
                raise SystemExit("a fuzzing worker died")
    for p in procs:
        p.join()
    counts = {n: sum(part["counts"][n] for part in parts) for n in names}
    failed = {n: sum(part["failed"][n] for part in parts) for n in names}
    tried = sum(sum(part["tried"].values()) for part in parts)
    this = {
        "driver": "hypothesis fuzz_one_input, random buffers",
        "seed": opts.seed,
        "jobs": jobs,
        "inputs_target_per_parser": opts.inputs,
        "stopped_at_max_seconds": any(counts[n] < opts.inputs for n in names),
        "inputs_per_parser": dict(sorted(counts.items())),
        "buffers_tried": tried,
        "failures_per_parser": dict(sorted(failed.items())),
        "failed": [f for part in parts for f in part["failures"]][:MAX_FAILURES_KEPT],
        "started": started,
        "ended": time.time(),
        "seconds": round(time.time() - started, 1),
    }
    return this, not any(p.exitcode for p in procs)


if __name__ == "__main__":
    sys.exit(main())
