"""CPU the daemon's config manager uses while nothing changes (inotify through watchdog).

Runs the manager on a temporary autoconfig dir for ``--seconds`` (default 60) and prints the
process CPU time spent (all threads), then one rewrite of the primary and the time until the
regenerated file is seen. No network namespace is touched. Run with the multus venv's python:

    .venv/bin/python benchmarks/configmanager_idle.py --seconds 60
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

from multus.thick import config
from multus.thick.configmanager import ConfigManager


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        auto, out = os.path.join(d, "auto"), os.path.join(d, "out")
        os.mkdir(auto)
        os.mkdir(out)
        primary = os.path.join(auto, "10-lab.conflist")
        with open(primary, "w") as f:
            json.dump({"cniVersion": "1.0.0", "name": "lab", "plugins": [{"type": "bridge"}]}, f)
        manager = ConfigManager(config.parse({"cniVersion": "1.0.0", "multusAutoconfigDir": auto,
                                              "cniConfigDir": out}))
        manager.start()
        try:
            cpu0, wall0 = time.process_time(), time.monotonic()
            time.sleep(a.seconds)
            cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
            before = manager.generations
            t0 = time.monotonic()
            with open(primary, "w") as f:
                json.dump({"cniVersion": "1.0.0", "name": "lab", "plugins": [
                    {"type": "bridge", "capabilities": {"portMappings": True}}]}, f)
            while manager.generations == before and time.monotonic() - t0 < 10:
                time.sleep(0.001)
            react = time.monotonic() - t0
        finally:
            manager.stop()
    print(json.dumps({"idle_seconds": round(wall, 1), "idle_cpu_ms": round(cpu * 1000, 2),
                      "idle_cpu_percent": round(100 * cpu / wall, 5),
                      "regenerated_after_ms": round(react * 1000, 1)}))


if __name__ == "__main__":
    main()
