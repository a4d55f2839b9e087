"""``multus``: the thin CNI plugin, one process per CNI call.

Kept light at import: VERSION is answered by :mod:`multus.cni.skel` without loading the
engine, pluggy, cattrs or any backend.
"""

from __future__ import annotations

import os
import sys

from multus.cni import skel
from multus.cni.request import CniRequest

ABOUT = "multus: version: 0.1.0 (python)"


def _handler(req: CniRequest) -> dict[str, object] | None:
    from multus.engine.run import handle

    return handle(req)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in ("-v", "-version", "--version"):
        print(ABOUT)
        sys.exit(0)
    code = skel.run(_handler, os.environ, skel.read_stdin(), sys.stdout, sys.stderr, about=ABOUT)
    sys.exit(code)


if __name__ == "__main__":
    main()
