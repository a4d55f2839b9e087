"""Look inside a pod's network namespace without pyroute2 (whose import alone costs ~140 ms).

A short-lived thread enters the namespace with ``setns(2)`` and asks the kernel for interface
indexes; the thread then exits, so no other code ever runs in the pod's namespace. Only an
existing namespace is opened: a missing ``CNI_NETNS`` is an error, never created.
"""

from __future__ import annotations

import ctypes
import os
import socket
import threading

from multus.errors import INVALID_ENV, CNIError

CLONE_NEWNET = 0x40000000


def existing_links(netns_path: str, names: list[str]) -> list[str]:
    """Those of ``names`` that already exist in the namespace at ``netns_path``."""
    try:
        fd = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise CNIError(INVALID_ENV, f"validateIfName: no net namespace {netns_path} found: {e.strerror}") from None
    found: list[str] = []
    errors: list[str] = []

    def probe() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(fd, CLONE_NEWNET) != 0:
            errors.append(os.strerror(ctypes.get_errno()))
            return
        for name in names:
            try:
                socket.if_nametoindex(name)
                found.append(name)
            except OSError:
                pass

    try:
        t = threading.Thread(target=probe, name="netns-probe")
        t.start()
        t.join()
    finally:
        os.close(fd)
    if errors:
        raise CNIError(INVALID_ENV, f"validateIfName: cannot enter net namespace {netns_path}: {errors[0]}")
    return found
