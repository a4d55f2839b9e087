"""The disk helpers of the fault tests (diskfill): a tmpfs of the asked size over a directory, a
fill that leaves exactly the room asked for, and nothing left mounted or written afterwards."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from diskfill import PAGE, fill, mounted_tmpfs

pytestmark = pytest.mark.root


@pytest.fixture(autouse=True)
def _root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (mount)")


def _write_page(path: Path) -> None:
    with open(path, "wb") as f:
        f.write(b"\1" * PAGE)


def _fstype(path: Path) -> str:
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _src, mnt, fstype, *_ = line.split()
        if mnt == str(path):
            return fstype
    return ""


def test_mounted_tmpfs_is_a_private_tmpfs_of_the_size_asked(tmp_path: Path) -> None:
    target = tmp_path / "m"
    with mounted_tmpfs(target, size="64k") as d:
        assert d == target and os.path.ismount(d) and _fstype(d) == "tmpfs"
        st = os.statvfs(d)
        assert st.f_blocks * st.f_frsize == 64 * 1024
        assert oct(os.stat(d).st_mode & 0o777) == "0o700"
        _write_page(d / "x")
    assert not os.path.ismount(target)
    assert list(target.iterdir()) == []  # what was written lived on the tmpfs only


@pytest.mark.parametrize("leave", [0, 1, 3])
def test_fill_leaves_exactly_the_pages_asked(tmp_path: Path, leave: int) -> None:
    with mounted_tmpfs(tmp_path / "m") as d:
        fill(d, leave_pages=leave)
        assert any(p.name.startswith("filler-") for p in d.iterdir())
        for i in range(leave):
            _write_page(d / f"room-{i}")
        with pytest.raises(OSError) as exc:
            _write_page(d / "one-too-many")
        assert exc.value.errno == errno.ENOSPC
    assert list((tmp_path / "m").iterdir()) == []
