"""Fixtures of the project's test harnesses (tests/harness), for every test directory:
the real kube-apiserver (kube_apiserver, kube_namespace, kube_client, kube_multus_kubeconfig) and
the real runtimes (containerd, podman). The lab fixtures (cni_lab, pod_netns, cni_invoke, ...)
come from multus' own pytest plugin."""

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "harness"))

from kube_fixtures import (  # noqa: F401  (fixtures and the summary hook, re-exported)
    kube_apiserver,
    kube_client,
    kube_multus_kubeconfig,
    kube_namespace,
    pytest_terminal_summary,
)
from runtime_fixtures import containerd, podman  # noqa: F401


@pytest.fixture(autouse=True)
def _fresh_multus_logger() -> Iterator[None]:
    """A request configures the ``multus`` logger (level, handlers) as its config says; tests that
    run requests in-process must not leave that to the next test (caplog would see nothing)."""
    logger = logging.getLogger("multus")
    level, handlers, propagate, disabled = logger.level, list(logger.handlers), logger.propagate, logger.disabled
    yield
    logger.setLevel(level)
    for h in list(logger.handlers):
        if h not in handlers:
            logger.removeHandler(h)
    logger.propagate, logger.disabled = propagate, disabled
