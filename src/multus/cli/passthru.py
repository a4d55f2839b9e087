"""``passthru``: the head of the auxiliary chain (upstream ships the same trivial plugin).

ADD hands back the previous result, or an empty one of the config's version; every other verb
does nothing. ``VERSION`` answers, as for every CNI plugin, the CNI specification versions it
speaks; ``--version`` prints the version of the multus package it ships with.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from multus._version import __version__
from multus.cni import skel
from multus.cni.request import CniRequest

SUPPORTED = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]
"""The CNI specification versions passthru speaks (upstream's passthru: 0.3.0 to 1.1.0)."""
CNI_VERSION = "1.1.0"
"""The specification version of passthru's own ``VERSION`` answer."""
ABOUT = f"passthru: version: {__version__} (python)"


def _handler(req: CniRequest) -> dict[str, Any] | None:
    if req.command != "ADD":
        return None
    prev = req.config.get("prevResult")
    if isinstance(prev, dict):
        return prev
    return {"cniVersion": req.cni_version or "1.0.0"} | ({} if req.cni_version.startswith("1.") else {"dns": {}})


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in ("-v", "-version", "--version"):
        print(ABOUT)
        sys.exit(0)
    if os.environ.get("CNI_COMMAND") == "VERSION":
        import json

        print(json.dumps({"cniVersion": CNI_VERSION, "supportedVersions": SUPPORTED}))
        sys.exit(0)
    sys.exit(skel.run(_handler, os.environ, skel.read_stdin(), sys.stdout, sys.stderr, about=ABOUT))


if __name__ == "__main__":
    main()
