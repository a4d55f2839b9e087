"""Fixtures for the thin plugin against real CNI plugins (see thinkit)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import thinkit


@pytest.fixture
def node(tmp_path: Path, pod_netns: Callable[..., str]) -> Iterator[thinkit.Node]:
    yield from thinkit.make_node(tmp_path, pod_netns)
