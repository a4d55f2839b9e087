"""Single-file executables for a node's CNI bin dir: ``multus-shim`` and ``passthru`` as Python
zip applications (``#!/usr/bin/env python3``, any Python >= 3.11 on the host, nothing else).

Each archive holds the modules its entry point can import (``modulefinder``, which also sees
imports inside functions) from the packages it may use, as sources and compiled bytecode (used
when the host's Python has the same version, else the sources are compiled in memory).

    python deploy/image/host_bin.py OUT_DIR
"""

from __future__ import annotations

import io
import modulefinder
import os
import py_compile
import stat
import sys
import tempfile
import zipfile
from importlib.util import cache_from_source

# executable -> (entry "module:function", top-level packages it may carry)
PROGRAMS = {
    "multus-shim": ("multus.cli.shim:main", ("multus",)),
    "passthru": ("multus.cli.passthru:main", ("multus", "attr", "attrs")),
}
# the shim's fallbacks that need the whole engine are used only when it is installed
EXCLUDE = ("multus.engine", "multus.plugin", "multus.config", "multus.testing", "multus.ctl", "multus_")


def modules(entry: str, packages: tuple[str, ...]) -> dict[str, str]:
    import multus

    src = os.path.dirname(os.path.dirname(os.path.abspath(multus.__file__)))
    finder = modulefinder.ModuleFinder(path=[src, *sys.path])
    module = entry.split(":")[0]
    finder.import_hook(module, fromlist=["*"])
    out = {}
    for name, mod in finder.modules.items():
        if not mod.__file__ or not name.split(".")[0] in packages:
            continue
        if name != module and name.startswith(EXCLUDE):
            continue
        out[name] = mod.__file__
    for name in list(out):  # every parent package's __init__
        parts = name.split(".")
        for i in range(1, len(parts)):
            parent = ".".join(parts[:i])
            if parent not in out:
                __import__(parent)
                out[parent] = sys.modules[parent].__file__ or ""
    return out


def build(name: str, out_dir: str) -> str:
    entry, packages = PROGRAMS[name]
    mod, func = entry.split(":")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z, tempfile.TemporaryDirectory() as tmp:
        for modname, path in sorted(modules(entry, packages).items()):
            arc = modname.replace(".", "/") + ("/__init__.py" if path.endswith("__init__.py") else ".py")
            z.write(path, arc)
            pyc = os.path.join(tmp, "x.pyc")
            py_compile.compile(path, cfile=pyc, dfile=arc, doraise=True)
            z.write(pyc, cache_from_source(arc).replace("__pycache__/", "").replace(
                f".{sys.implementation.cache_tag}", ""))
        z.writestr("__main__.py", f"import sys\nfrom {mod} import {func}\nsys.exit({func}())\n")
    dest = os.path.join(out_dir, name)
    with open(dest + ".tmp", "wb") as f:
        f.write(b"#!/usr/bin/env python3\n")
        f.write(buf.getvalue())
    os.chmod(dest + ".tmp", stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    os.rename(dest + ".tmp", dest)
    return dest


def main() -> None:
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    for name in PROGRAMS:
        print(f"image: {build(name, out_dir)}", file=sys.stderr)


if __name__ == "__main__":
    main()
