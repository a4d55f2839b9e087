"""``multus``: the thin CNI plugin, one process per CNI call.

Kept light at import: VERSION is answered by :mod:`multus.cni.skel` without loading the
engine, pluggy, cattrs or any backend.
"""

from __future__ import annotations

import sys

from multus.executable import ABOUT, exit_fast, run_cni, usage

__all__ = ["ABOUT", "cni_main", "main", "run"]


def run() -> int:
    """One CNI call of ``multus`` (the installed backends, no extra plugin)."""
    return run_cni(about=ABOUT, help_text=usage(ABOUT, conf_file="/etc/cni/net.d/00-multus.conf"))


def main() -> None:
    """Run one CNI call and exit (``python -m multus.cli.thin``; embeddable: raises SystemExit)."""
    sys.exit(run())


def cni_main() -> None:
    """The ``multus`` executable: like :func:`main`, but leaves the process the fast way."""
    exit_fast(run())


if __name__ == "__main__":
    main()
