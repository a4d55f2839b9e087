"""Fixtures for multusctl (see installkit)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import installkit


@pytest.fixture
def host(tmp_path: Path) -> Iterator[installkit.Host]:
    h = installkit.Host(tmp_path).make()
    try:
        yield h
    finally:
        h.close()
