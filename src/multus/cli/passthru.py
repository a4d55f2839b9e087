"""``passthru``: the head of the auxiliary chain (upstream ships the same trivial plugin).

ADD hands back the previous result, or an empty one of the config's version; every other verb
does nothing.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from multus.cni import skel
from multus.cni.request import CniRequest

SUPPORTED = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]


def _handler(req: CniRequest) -> dict[str, Any] | None:
    if req.command != "ADD":
        return None
    prev = req.config.get("prevResult")
    if isinstance(prev, dict):
        return prev
    return {"cniVersion": req.cni_version or "1.0.0"} | ({} if req.cni_version.startswith("1.") else {"dns": {}})


def main() -> None:
    if os.environ.get("CNI_COMMAND") == "VERSION":
        import json

        print(json.dumps({"cniVersion": "1.1.0", "supportedVersions": SUPPORTED}))
        sys.exit(0)
    sys.exit(skel.run(_handler, os.environ, skel.read_stdin(), sys.stdout, sys.stderr, about="passthru"))


if __name__ == "__main__":
    main()
