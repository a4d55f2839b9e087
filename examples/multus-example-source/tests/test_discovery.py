"""Discovery tests of the example: install it into a scratch virtualenv and use it through the
``multus`` CNI executable of that virtualenv.

The checks themselves live in the multus test suite, ``tests/framework/test_example_plugin.py``,
so that every change to multus runs them; this module collects the same tests when the example
is tested on its own, from a multus source checkout::

    python -m pytest --multus-lab examples/multus-example-source/tests

(``--multus-lab`` and root: the CNI checks give the pod a network namespace of a lab; without
them those checks are skipped and only the discovery checks run.)
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

CHECKS = Path(__file__).resolve().parents[3] / "tests" / "framework" / "test_example_plugin.py"

if not CHECKS.is_file():
    pytest.skip(f"{CHECKS} not found: these tests run from a multus source checkout", allow_module_level=True)

_spec = importlib.util.spec_from_file_location("multus_example_plugin_checks", CHECKS)
assert _spec is not None and _spec.loader is not None
_checks = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _checks
_spec.loader.exec_module(_checks)

# The tests and the fixtures they use (pytest collects both from this module's namespace).
globals().update({k: v for k, v in vars(_checks).items() if k.startswith("test_") or k in (
    "example_venv", "networks_file", "rec")})
