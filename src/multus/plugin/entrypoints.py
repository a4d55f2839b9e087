"""Entry points without ``importlib.metadata`` for this distribution's own backends.

``importlib.metadata`` costs ~30 ms to import and scan on every CNI call (it pulls in the email
parser). Our own entry points are one small INI file in our ``.dist-info`` directory: find it on
``sys.path`` and read it directly. Other distributions' plugins, loaded only when enabled, still
go through ``importlib.metadata``.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import NamedTuple


class EntryPointRef(NamedTuple):
    name: str
    group: str
    value: str
    dist: str

    def load(self) -> object:
        module, _, attr = self.value.partition(":")
        obj: object = importlib.import_module(module.strip())
        for part in attr.strip().split(".") if attr.strip() else ():
            obj = getattr(obj, part)
        return obj


def parse(text: str, dist: str) -> list[EntryPointRef]:
    out: list[EntryPointRef] = []
    group = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            group = line[1:-1].strip()
            continue
        name, sep, value = line.partition("=")
        if sep and group:
            out.append(EntryPointRef(name.strip(), group, value.strip(), dist))
    return out


def own(dist: str) -> list[EntryPointRef] | None:
    """The entry points of installed distribution ``dist``; None when it cannot be found."""
    prefix = dist.replace("-", "_").lower() + "-"
    for entry in sys.path:
        if not entry or not os.path.isdir(entry):
            continue
        try:
            names = os.listdir(entry)
        except OSError:
            continue
        for n in names:
            if n.lower().startswith(prefix) and n.endswith(".dist-info"):
                try:
                    with open(os.path.join(entry, n, "entry_points.txt"), encoding="utf-8") as f:
                        return parse(f.read(), dist)
                except OSError:
                    return []
    return None
