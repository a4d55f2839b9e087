"""The one-node cluster tests (marker ``cluster``): a kubelet on containerd's CRI in a lab namespace."""

from __future__ import annotations

from pathlib import Path

import pytest
from cluster_fixtures import cluster, cluster_namespace, cluster_summary  # noqa: F401  (fixtures)

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).resolve().is_relative_to(HERE):
            item.add_marker(pytest.mark.cluster)
            item.add_marker(pytest.mark.root)


def pytest_terminal_summary(terminalreporter: object) -> None:
    cluster_summary(terminalreporter)
