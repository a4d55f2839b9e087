"""pytest fixtures for a real kube-apiserver (see src/multus/testing/kube.py).

Load with ``pytest_plugins = ["kube_fixtures"]`` (tests/harness on sys.path) or import the
fixtures into a conftest. Fixtures:

* ``kube_apiserver`` (session): a :class:`~multus.testing.kube.KubeApiServer` started once on
  127.0.0.1 of the network namespace pytest runs in, with deploy/crd.yaml installed. Builds
  kube-apiserver first when it is not cached (about 5 minutes on 2 cores, once per machine).
  Skips with the reason when it cannot run here (not root, nothing built and no route out,
  MULTUS_SKIP_APISERVER set). Stopped at the end of the session.
* ``kube_namespace`` (function): the name of a fresh namespace.
* ``kube_client`` (function): a ``kubernetes.client.ApiClient`` with the admin kubeconfig.
* ``kube_multus_kubeconfig`` (session): deploy/rbac.yaml applied; the path of a kubeconfig
  for system:serviceaccount:kube-system:multus, which has exactly the multus ClusterRole.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from multus.testing.kube import (
    DEFAULT_CACHE_DIR,
    KubeApiServer,
    KubeHarnessError,
    apiserver_unavailable_reason,
)

REPO = Path(__file__).resolve().parents[2]
CRD_YAML = REPO / "deploy" / "crd.yaml"
RBAC_YAML = REPO / "deploy" / "rbac.yaml"

_timings: dict[str, float] = {}


@pytest.fixture(scope="session")
def kube_apiserver() -> Iterator[KubeApiServer]:
    reason = apiserver_unavailable_reason()
    if reason is not None:
        pytest.skip(f"real kube-apiserver unavailable: {reason}")
    srv = KubeApiServer()
    try:
        if not (DEFAULT_CACHE_DIR / "bin" / "kube-apiserver").exists():
            t0 = time.monotonic()
            srv.build()
            _timings["build"] = time.monotonic() - t0
        srv.start()
        _timings["start"] = srv.start_seconds or 0.0
        srv.install_crd(CRD_YAML)
    except KubeHarnessError:
        srv.cleanup()
        raise
    try:
        yield srv
    finally:
        srv.cleanup()
        if srv.stop_seconds is not None:
            _timings["stop"] = srv.stop_seconds


@pytest.fixture(scope="session")
def kube_multus_kubeconfig(kube_apiserver: KubeApiServer) -> Path:
    kube_apiserver.apply_manifest(RBAC_YAML)
    return kube_apiserver.multus_kubeconfig


@pytest.fixture
def kube_namespace(kube_apiserver: KubeApiServer, request: pytest.FixtureRequest) -> str:
    return kube_apiserver.new_namespace(prefix=request.node.name[:30])


@pytest.fixture
def kube_client(kube_apiserver: KubeApiServer) -> Iterator[Any]:
    api_client = kube_apiserver.api_client()
    try:
        yield api_client
    finally:
        api_client.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _timings:
        parts = ", ".join(f"{k} {v:.1f} s" for k, v in _timings.items())
        terminalreporter.write_line(f"kube-apiserver harness: {parts}")
