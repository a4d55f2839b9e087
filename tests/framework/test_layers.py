"""The layers of docs/architecture.md hold: the import-linter contracts of pyproject.toml."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def lint_imports() -> str:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if exe is None:
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    return exe


def test_the_layer_contracts_are_kept() -> None:
    p = subprocess.run([lint_imports(), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False,
                       timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "0 broken" in p.stdout, p.stdout


def test_a_backend_importing_the_engine_breaks_the_contract(tmp_path: Path) -> None:
    """The contract can fail: a copy of the tree whose backend imports ``multus.engine.plan``."""
    copy = tmp_path / "tree"
    shutil.copytree(ROOT / "src", copy / "src")
    shutil.copytree(ROOT / "plugins", copy / "plugins", ignore=shutil.ignore_patterns("tests", "__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    bad = copy / "plugins" / "multus_local" / "bad.py"
    bad.write_text(textwrap.dedent("""
        from multus.engine.plan import plan
    """))
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{copy / 'src'}:{copy / 'plugins'}"}
    p = subprocess.run([lint_imports(), "--no-cache"], cwd=copy, capture_output=True, text=True, check=False,
                       timeout=300, env=env)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "multus_local.bad -> multus.engine.plan" in p.stdout, p.stdout
