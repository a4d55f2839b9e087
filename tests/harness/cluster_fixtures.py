"""pytest fixtures for the one-node cluster (see cluster.py).

* ``cluster`` (session): a started :class:`cluster.Cluster` (control plane, containerd, kubelet, the
  primary bridge network), stopped at the end of the session. Builds the node binaries first when they are
  missing and the Debian mirror is reachable. Skips, with the reason, only where a kubelet cannot run
  (not root, not in a lab namespace, no usable cgroup hierarchies, binaries missing and no way to build).
* ``cluster_namespace`` (function): a fresh namespace of that cluster.
"""

from __future__ import annotations

import subprocess
import time
import warnings
from collections.abc import Iterator

import pytest
from cluster import HARNESS_SCRIPT, Cluster, cluster_unavailable_reason

from multus.testing.kube import _has_default_route

_timings: dict[str, float] = {}


def _build_node_binaries() -> None:
    t0 = time.monotonic()
    r = subprocess.run(["bash", str(HARNESS_SCRIPT), "build-node"], capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=3600, check=False)
    if r.returncode:
        raise RuntimeError(f"building the node binaries failed:\n{r.stderr[-3000:]}")
    _timings["build"] = time.monotonic() - t0


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    reason = cluster_unavailable_reason()
    if reason and "not built" in reason and _has_default_route():
        _build_node_binaries()
        reason = cluster_unavailable_reason()
    if reason:
        pytest.skip(f"one-node cluster unavailable: {reason}")
    c = Cluster()
    c.start()
    _timings["start"] = c.timings["start"]
    try:
        yield c
    finally:
        t0 = time.monotonic()
        errors = c.stop()
        _timings["stop"] = time.monotonic() - t0
        if errors:
            warnings.warn("cluster tear-down had to clean up by force: " + "; ".join(errors), stacklevel=2)


@pytest.fixture
def cluster_namespace(cluster: Cluster, request: pytest.FixtureRequest) -> str:
    return cluster.new_namespace(request.node.name[:30])


def cluster_summary(terminalreporter: object) -> None:
    if _timings:
        parts = ", ".join(f"{k} {v:.1f} s" for k, v in _timings.items())
        terminalreporter.write_line(f"one-node cluster: {parts}")  # type: ignore[attr-defined]
