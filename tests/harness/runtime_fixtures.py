"""pytest fixtures for real container runtimes that call CNI plugins (see runtimes.py).

Import the fixtures into a conftest (tests/harness on sys.path): ``from runtime_fixtures import containerd, podman``.

* ``containerd`` (session): a started :class:`runtimes.Containerd` (CRI on a private socket, CNI bin dir of
  symlinks to the system plugins plus the ``multus`` console script when installed, empty conf dir). Use
  ``containerd.set_network(conflist)`` then ``containerd.cri().run_pod(...)``. Tests must stop+remove the pods
  they run (``containerd.cri().pod(...)`` does it); whatever is left is removed at the end of the session.
* ``podman`` (session): a set-up :class:`runtimes.Podman` (CNI backend, runc, private storage, busybox rootfs).
  ``podman.set_network(conflist)`` then ``podman.run(name, cmd)`` or ``start``/``exec``/``rm``.

Both run in the network namespace pytest runs in, which must be a lab namespace: they skip (with the reason)
in the machine's root network namespace, without root, or when a binary/plugin is missing. Set-up failures
of an available runtime are errors, not skips. At the end of the session every pod/container is removed (so
CNI DEL runs), the daemons and their helpers are stopped, and mounts below the lab dirs are undone; anything
that had to be cleaned by force is reported as a warning.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from runtimes import (
    MAX_SOCKET_PATH,
    Containerd,
    Podman,
    runtime_unavailable_reason,
)


def _extra_plugins() -> dict[str, str]:
    """CNI plugins of this project that runtimes may call by `type`: its console scripts.

    Those beside the running interpreter first (a virtualenv need not be on PATH), else those on PATH.
    """
    found = {}
    for name in ("multus", "multus-shim"):
        beside = Path(sys.executable).parent / name
        path = str(beside) if os.access(beside, os.X_OK) else shutil.which(name)
        if path:
            found[name] = path
    return found


def _lab_dir(tmp_path_factory: pytest.TempPathFactory, name: str) -> tuple[Path, bool]:
    """A lab dir under pytest's tmp dir; a short one under /tmp when that would make socket paths too long."""
    lab = tmp_path_factory.mktemp(name)
    if len(str(lab / "containerd" / "containerd.sock.ttrpc")) <= MAX_SOCKET_PATH:
        return lab, False
    return Path(tempfile.mkdtemp(prefix=f"mh-{name}-", dir="/tmp")), True


def _report(kind: str, errors: list[str]) -> None:
    if errors:
        warnings.warn(f"{kind} tear-down had to clean up by force: " + "; ".join(errors), stacklevel=2)


@pytest.fixture(scope="session")
def containerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Containerd]:
    reason = runtime_unavailable_reason("containerd")
    if reason:
        pytest.skip(reason)
    lab, remove_lab = _lab_dir(tmp_path_factory, "containerd")
    rt = Containerd(lab, lab / "cni-bin", lab / "net.d", extra_plugins=_extra_plugins())
    try:
        rt.start()  # on failure start() has already torn down what it began
        yield rt
    finally:
        _report("containerd", rt.stop())
        if remove_lab:
            shutil.rmtree(lab, ignore_errors=True)


@pytest.fixture(scope="session")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Podman]:
    reason = runtime_unavailable_reason("podman")
    if reason:
        pytest.skip(reason)
    lab, remove_lab = _lab_dir(tmp_path_factory, "podman")
    rt = Podman(lab, lab / "cni-bin", lab / "net.d", extra_plugins=_extra_plugins())
    try:
        rt.setup()
        yield rt
    finally:
        _report("podman", rt.stop())
        if remove_lab:
            shutil.rmtree(lab, ignore_errors=True)
