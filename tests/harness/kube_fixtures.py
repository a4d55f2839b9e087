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

:func:`client_cert_kubeconfig` writes a kubeconfig that authenticates with an X.509 client
certificate signed by the server's CA (the apiserver runs with ``--client-ca-file``): the
certificate's CN is the user, its O entries the groups.
"""

from __future__ import annotations

import base64
import subprocess
import time
from collections.abc import Iterator, Sequence
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


def client_cert_kubeconfig(srv: KubeApiServer, directory: Path, user: str, groups: Sequence[str] = (),
                           embed: bool = False) -> Path:
    """A kubeconfig for ``user`` (in ``groups``) with a client certificate signed by ``srv``'s CA:
    as files next to it (``client-certificate``/``client-key``, relative paths) or, with
    ``embed``, as ``client-certificate-data``/``client-key-data``."""
    import yaml

    pki = srv.run_dir / "pki"
    directory.mkdir(parents=True, exist_ok=True)
    key, csr, crt = directory / "client.key", directory / "client.csr", directory / "client.crt"
    subject = f"/CN={user}" + "".join(f"/O={g}" for g in groups)
    for cmd in (["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
                 "-subj", subject],
                ["openssl", "x509", "-req", "-in", str(csr), "-CA", str(pki / "ca.crt"), "-CAkey",
                 str(pki / "ca.key"), "-CAcreateserial", "-out", str(crt), "-days", "2"]):
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)
    key.chmod(0o600)
    cfg = yaml.safe_load(srv.kubeconfig.read_text())
    creds: dict[str, str] = (
        {"client-certificate-data": base64.b64encode(crt.read_bytes()).decode(),
         "client-key-data": base64.b64encode(key.read_bytes()).decode()}
        if embed else {"client-certificate": crt.name, "client-key": key.name})
    cfg["users"] = [{"name": user, "user": creds}]
    for ctx in cfg["contexts"]:
        ctx["context"]["user"] = user
    path = directory / "kubeconfig"
    path.write_text(yaml.safe_dump(cfg))
    path.chmod(0o600)
    return path


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _timings:
        parts = ", ".join(f"{k} {v:.1f} s" for k, v in _timings.items())
        terminalreporter.write_line(f"kube-apiserver harness: {parts}")
