"""One version for the package: every executable's ``--version`` is the installed distribution's.

``multus._version`` is the source (pyproject reads it with setuptools ``attr:``); ``multus-shim``
carries a literal copy because it must run as one copied file, so the copy is checked here too.
``passthru``'s CNI ``VERSION`` answer is another thing: the CNI specification versions it speaks.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from multus import _version
from multus.cli import shim

BIN = Path(sys.executable).parent
SHIM_SOURCE = Path(shim.__file__)
# executable -> the exit code of its --version (multus-daemon exits 4, as upstream's -version)
EXECUTABLES = {"multus": 0, "multus-shim": 0, "multus-daemon": 4, "passthru": 0}


def installed_version() -> str:
    return metadata.version("multus")


def test_the_distribution_version_is_the_version_module() -> None:
    assert installed_version() == _version.__version__


def test_the_shim_carries_the_same_version_as_a_literal() -> None:
    """The shim's copy is a plain string literal (no import: the file must work alone)."""
    tree = ast.parse(SHIM_SOURCE.read_text())
    literals = [node.value.value for node in tree.body
                if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "VERSION"
                                                        for t in node.targets)
                and isinstance(node.value, ast.Constant)]
    assert literals == [installed_version()], literals


@pytest.mark.parametrize("name", sorted(EXECUTABLES))
@pytest.mark.parametrize("flag", ["--version", "-version", "-v"])
def test_every_executable_prints_the_distribution_version(name: str, flag: str) -> None:
    exe = BIN / name
    if not os.access(exe, os.X_OK):
        pytest.fail(f"{name} is not installed next to {sys.executable} (pip install -e .)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CNI_")}
    p = subprocess.run([str(exe), flag], input=b"", env=env, capture_output=True, timeout=60, check=False)
    assert p.returncode == EXECUTABLES[name], p
    assert p.stdout.decode().strip() == f"{name}: version: {installed_version()} (python)", p


def test_passthru_answers_version_with_the_cni_versions_it_speaks() -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CNI_")}, "CNI_COMMAND": "VERSION"}
    p = subprocess.run([str(BIN / "passthru")], input=b"", env=env, capture_output=True, timeout=60, check=False)
    assert p.returncode == 0, p
    assert json.loads(p.stdout) == {"cniVersion": "1.1.0",
                                    "supportedVersions": ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]}
