"""Files replaced atomically: a reader sees the old content or the new, never an empty or
partial file, and an executable being run while it is replaced keeps running.

The new content goes to a temporary file in the same directory (created exclusively, so a
leftover of a crash is never reused), is flushed to disk, gets its mode, and is renamed over
the target. ``rename`` replaces the directory entry; a process executing the old file keeps
its inode, so there is no "text file busy" (upstream #1221).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from typing import BinaryIO


def replace_bytes(path: str, data: bytes, mode: int = 0o600) -> bool:
    """Write ``data`` to ``path`` atomically. Returns False when the file already held exactly
    that content and mode (nothing written)."""
    if not data:
        raise ValueError(f"refusing to write an empty {path}")
    try:
        st = os.stat(path)
        if st.st_mode & 0o7777 == mode and st.st_size == len(data):
            with open(path, "rb") as f:
                if f.read() == data:
                    return False
    except OSError:
        pass
    _atomic(path, mode, lambda f: f.write(data))
    return True


def copy_executable(src: str, dest_dir: str, name: str | None = None) -> str:
    """Copy ``src`` into ``dest_dir`` (as ``name``) atomically, mode 0755; the destination path."""
    dest = os.path.join(dest_dir, name or os.path.basename(src))

    def copy(out: BinaryIO) -> None:
        with open(src, "rb") as inp:
            shutil.copyfileobj(inp, out, 1 << 20)

    _atomic(dest, 0o755, copy)
    return dest


def copy_tree(src: str, dest_dir: str, name: str, keep: int = 2) -> str:
    """Install the directory ``src`` (a self-contained bundle whose executable is ``src/name``)
    so that ``dest_dir/name`` runs it.

    The tree is copied to a fresh directory under ``dest_dir/.name.d/`` and ``dest_dir/name``
    becomes a symlink to its executable, replaced by rename: a process started from the old tree
    keeps running from it. The ``keep`` newest trees stay (a process of the previous version may
    still import from its tree); older ones are removed."""
    link = os.path.join(dest_dir, name)
    store = os.path.join(dest_dir, f".{name}.d")
    os.makedirs(store, mode=0o755, exist_ok=True)
    version = tempfile.mkdtemp(prefix="v", dir=store)
    shutil.copytree(src, version, symlinks=True, dirs_exist_ok=True)
    os.chmod(version, 0o755)
    tmp_link = f"{link}.{os.getpid()}.new"
    _unlink(tmp_link)
    os.symlink(os.path.relpath(os.path.join(version, name), dest_dir), tmp_link)
    os.rename(tmp_link, link)
    trees = sorted((os.path.join(store, d) for d in os.listdir(store)), key=os.path.getmtime, reverse=True)
    for old in [t for t in trees if t != version][max(keep - 1, 0):]:
        shutil.rmtree(old, ignore_errors=True)
    return link


def _atomic(path: str, mode: int, write: Callable[[BinaryIO], object]) -> None:
    """Write ``path`` through a fresh temporary file in its directory, flushed, then renamed."""
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".new",
                               dir=os.path.dirname(path) or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.rename(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise


def remove(path: str) -> bool:
    """Remove a file or link; True when something was removed."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
