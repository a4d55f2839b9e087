"""``multus``: the thin CNI plugin, one process per CNI call.

Kept light at import: VERSION is answered by :mod:`multus.cni.skel` without loading the
engine, pluggy, cattrs or any backend.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from multus._version import __version__
from multus.cni import skel

if TYPE_CHECKING:
    from multus.cni.request import CniRequest

ABOUT = f"multus: version: {__version__} (python)"


def _handler(req: CniRequest) -> dict[str, object] | None:
    from multus.engine.run import handle

    return handle(req)


def run() -> int:
    if len(sys.argv) > 1 and sys.argv[1] in ("-v", "-version", "--version"):
        print(ABOUT)
        return 0
    return skel.run(_handler, os.environ, skel.read_stdin(), sys.stdout, sys.stderr, about=ABOUT)


def main() -> None:
    """Run one CNI call and exit (``python -m multus.cli.thin``; embeddable: raises SystemExit)."""
    sys.exit(run())


def cni_main() -> None:
    """The ``multus`` executable: like :func:`main`, but leaves the process the fast way."""
    code = run()
    # A CNI call is over once its answer is out: skip the interpreter's teardown (~15 ms of
    # module and object destruction) after flushing everything that must reach its destination.
    if "logging" in sys.modules:
        import logging

        logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = code or 1
    os._exit(code)


if __name__ == "__main__":
    main()
