"""The soak tool, short: 100 pod lifecycles per mode with every fault kind, on the real plugins and
the real kube-apiserver (``benchmarks/soak.py``; the 1,000-lifecycle runs are in
benchmarks/results/soak-thin.json and soak-thick.json)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import thinkit

from multus.testing import kube

ROOT = Path(__file__).resolve().parents[2]
SOAK = ROOT / "benchmarks" / "soak.py"
FAULTS = {"delegate-fails-after-create", "kill-add", "kill-del", "cache-corrupt", "cache-deleted", "apiserver-down",
          "nad-deleted", "pod-deleted", "cnidir-full", "concurrent-add", "burst"}
LEAKS = {"host_local_leases", "veths", "bridge_ports", "pod_interfaces", "cache_and_result_files",
         "device_info_files", "stale_network_status"}

pytestmark = [pytest.mark.root, pytest.mark.apiserver]


def _skip_reason() -> str | None:
    reason = thinkit.skip_reason() or kube.apiserver_unavailable_reason()
    if reason is None and not (kube.DEFAULT_CACHE_DIR / "bin" / "kube-apiserver").exists():
        reason = f"kube-apiserver is not built in {kube.DEFAULT_CACHE_DIR} (tests/harness/kube-apiserver.sh build)"
    return reason


@pytest.mark.parametrize("mode", ["thin", "thick"])
def test_short_soak_leaks_nothing(mode: str) -> None:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    bin_dir = Path(sys.executable).parent
    if not (bin_dir / "multus").exists():
        pytest.skip(f"multus is not installed next to {sys.executable}")
    p = subprocess.run([sys.executable, str(SOAK), "--mode", mode, "--lifecycles", "100", "--bursts", "1",
                        "--burst-size", "25", "--seed", "7", "--bin", str(bin_dir)],
                       capture_output=True, text=True, timeout=3600, check=False, env=dict(os.environ))
    lines = p.stdout.strip().splitlines()
    assert lines, p.stderr[-4000:]
    report = json.loads(lines[-1])
    assert p.returncode == 0, json.dumps(report, indent=1)
    assert report["mode"] == mode and report["lifecycles"] == 100
    expected = FAULTS | ({"daemon-restart"} if mode == "thick" else set())
    assert set(report["faults"]) == expected, report["faults"]
    assert report["faults"]["burst"] == 25
    assert set(report["leaks"]) == LEAKS and report["leaks_total"] == 0, report["leaks"]
    assert report["del_success_rate"] == 1.0
    assert report["del_calls"] >= 100 and 0 < report["del_call_success_rate"] <= 1
    assert report["add_failures"] >= 1  # the delegate failing after its interface, at least
    assert report["seconds"] > 0
