"""The API reference builds from the docstrings, warnings as errors, and covers what users meet:
the public names, every hook, every fixture and the executables' ``--help``."""

from __future__ import annotations

import html
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_api_reference_builds_without_warnings(tmp_path: Path) -> None:
    pytest.importorskip("sphinx", reason="sphinx is not installed (pip install -e '.[test]')")
    out = tmp_path / "html"
    p = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                        str(ROOT / "docs" / "api"), str(out)], capture_output=True, text=True, check=False, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr

    import multus
    from multus.plugin.manager import hook_names

    api = (out / "api.html").read_text()
    for name in ("hookimpl", "RequestContext", "NetworkConfig", "Delegate", "CNIError", "Plugins", "run_cni",
                 "cni_main", "DaemonContext", "MultusConf", "valid_cni_name"):
        assert f'id="multus.{name}"' in api, name
    hooks = (out / "hooks.html").read_text()
    assert [h for h in hook_names() if f'id="multus.plugin.hookspec.{h}"' not in hooks] == []
    fixtures = (out / "fixtures.html").read_text()
    for fixture in ("request_context", "cni_invoke", "delegate_recorder", "recording_plugin", "pod_netns", "cni_lab"):
        assert f"pytest_plugin.{fixture}" in fixtures, fixture
    executables = html.unescape(re.sub(r"<[^>]+>", "", (out / "executables.html").read_text()))
    for text in ("MULTUS_PLUGINS", "MULTUS_SHIM_READY_TIMEOUT", "daemon-config.json"):
        assert text in executables, text
    assert multus.__all__
