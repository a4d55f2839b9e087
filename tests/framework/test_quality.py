"""The code stays typed and lint-clean: mypy --strict on the core, ruff on everything."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def tool(name: str) -> list[str]:
    exe = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if exe is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[test]')")
    return [exe]


def test_mypy_strict_core() -> None:
    p = subprocess.run([*tool("mypy"), "src/multus"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert p.returncode == 0, p.stdout + p.stderr


def test_ruff() -> None:
    p = subprocess.run([*tool("ruff"), "check", "src", "plugins", "tests", "benchmarks", "scripts", "examples"],
                       cwd=ROOT, capture_output=True, text=True, check=False)
    assert p.returncode == 0, p.stdout + p.stderr


def test_no_assert_for_runtime_checks() -> None:
    """``python -O`` drops asserts: production code (src/, plugins/) checks with ``if`` and raises a
    CNIError. multus.testing is exempt: its asserts are the test assertions of pytest fixtures."""
    p = subprocess.run([*tool("ruff"), "check", "--select", "S101", "--extend-exclude", "src/multus/testing",
                        "src", "plugins"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "All checks passed" in p.stdout, p.stdout
