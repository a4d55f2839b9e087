"""``multusctl --help`` and completion load only click: every heavy module is imported inside
the command that needs it."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("kubernetes", "rich", "watchdog", "yaml", "pluggy", "cattrs", "pyroute2", "grpc", "multus.engine",
         "multus_k8s", "multus.ctl.install", "multus.ctl.explain")


def test_help_imports_nothing_heavy() -> None:
    code = ("import sys, runpy\nsys.argv = ['multusctl', '--help']\n"
            "try:\n    runpy.run_module('multus.ctl.main', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "print(' '.join(sorted(sys.modules)))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    loaded = set(r.stdout.split("\n")[-2].split()) if r.stdout.strip() else set()
    assert "click.core" in loaded and "multus.ctl.output" not in loaded
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY or m in HEAVY or
                   any(m.startswith(h + ".") for h in HEAVY))
    assert heavy == [], heavy
