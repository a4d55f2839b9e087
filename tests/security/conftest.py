"""Fixtures for the security tests: the same node as tests/engine (see tests/engine/thinkit.py)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "engine"))

import thinkit


@pytest.fixture
def node(tmp_path: Path, pod_netns: Callable[..., str]) -> Iterator[thinkit.Node]:
    yield from thinkit.make_node(tmp_path, pod_netns)
