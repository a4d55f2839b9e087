"""A small tmpfs mounted over a test directory, and a way to fill it: a full or read-only cniDir
for the fault tests (tests/faults), checked by tests/harness/test_diskfill.py."""

from __future__ import annotations

import contextlib
import itertools
import subprocess
from collections.abc import Iterator
from pathlib import Path

PAGE = 4096


@contextlib.contextmanager
def mounted_tmpfs(target: Path, size: str = "16k") -> Iterator[Path]:
    """A private tmpfs of ``size`` mounted on ``target`` (created), unmounted afterwards."""
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(target)],
                   check=True, capture_output=True, text=True, timeout=60)
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False, capture_output=True, timeout=60)


def fill(directory: Path, leave_pages: int = 0) -> None:
    """Fill the filesystem of ``directory`` with 4 KiB files, then free ``leave_pages`` of them."""
    made = []
    for i in itertools.count():
        p = directory / f"filler-{i}"
        try:
            with open(p, "wb") as f:
                f.write(b"\0" * PAGE)
            made.append(p)
        except OSError:
            with contextlib.suppress(OSError):
                p.unlink()
            break
    for p in made[:leave_pages]:
        p.unlink()
