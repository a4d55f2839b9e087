"""Sphinx configuration of the API reference (``python -m sphinx -W docs/api <out>``)."""

from __future__ import annotations

project = "multus"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon"]
autodoc_member_order = "bysource"
autodoc_typehints = "none"
exclude_patterns = ["_build"]
html_theme = "alabaster"
suppress_warnings = ["ref.python"]


# --- ``.. cli-help:: module``: the ``--help`` of an executable, as it prints it -----------------

import subprocess
import sys
from typing import Any

from docutils import nodes
from docutils.parsers.rst import Directive


class CliHelp(Directive):
    required_arguments = 1

    def run(self) -> list[Any]:
        p = subprocess.run([sys.executable, "-m", self.arguments[0], "--help"], capture_output=True, text=True,
                           check=False, timeout=60)
        if p.returncode != 0:
            raise self.error(f"{self.arguments[0]} --help failed: {p.stderr}")
        return [nodes.literal_block(p.stdout, p.stdout)]


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("cli-help", CliHelp)
    return {"parallel_read_safe": True}
