"""Fixtures for thick mode (see thickkit)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import thickkit


@pytest.fixture
def node(tmp_path: Path, pod_netns: Callable[..., str]) -> Iterator[thickkit.Node]:
    yield from thickkit.make_node(tmp_path, pod_netns)
