"""Look inside a pod's network namespace without pyroute2 (whose import alone costs ~140 ms).

One prober thread of the process enters the namespace with ``setns(2)``, asks the kernel for
interface indexes and goes back to its own namespace; no other code ever runs in a pod's
namespace, and the threads that run delegates never leave the host's. The thread lives as long
as the process (starting a thread per probe costs about half a millisecond): a daemon reuses it
for every ADD. Should it ever fail to come back, it ends, and the next probe starts another.
Only an existing namespace is opened: a missing ``CNI_NETNS`` is an error, never created.
"""

from __future__ import annotations

import ctypes
import os
import threading
from _queue import Empty, SimpleQueue
from _socket import if_nametoindex  # socket.py's enums cost ~5 ms of start-up; only this is needed
from typing import Any

from multus.errors import INVALID_ENV, CNIError

CLONE_NEWNET = 0x40000000


class _Probe:
    """One question to the prober thread and its answer."""

    __slots__ = ("done", "error", "fd", "found", "names")

    def __init__(self, fd: int, names: list[str]) -> None:
        self.fd = fd
        self.names = names
        self.found: list[str] = []
        self.error = ""
        self.done = threading.Event()


_lock = threading.Lock()
_work: SimpleQueue[_Probe] | None = None


def _prober(work: SimpleQueue[_Probe]) -> None:
    try:
        _serve(work)
    finally:
        # however the thread ends, later probes start a new one and those queued here fail
        _retire(work, "the namespace prober ended")


def _serve(work: SimpleQueue[_Probe]) -> None:
    libc: Any = ctypes.CDLL(None, use_errno=True)
    try:
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        _retire(work, f"the namespace prober cannot open its own namespace: {e.strerror}")
        return
    try:
        while True:
            probe = work.get()
            entered = stranded = False
            try:
                if libc.setns(probe.fd, CLONE_NEWNET) != 0:
                    probe.error = os.strerror(ctypes.get_errno())
                    continue
                entered = True
                for name in probe.names:
                    try:
                        if_nametoindex(name)
                        probe.found.append(name)
                    except OSError:
                        pass
            except Exception as e:  # noqa: BLE001 - the caller gets it as the probe's error
                probe.error = f"{type(e).__name__}: {e}"
            finally:
                stranded = entered and libc.setns(home, CLONE_NEWNET) != 0
                probe.done.set()
            if stranded:
                _retire(work, "the namespace prober could not return to its own namespace")
                return
    finally:
        os.close(home)


def _retire(work: SimpleQueue[_Probe], message: str) -> None:
    """The prober of ``work`` ends: later probes start a new one, those already queued fail."""
    global _work
    with _lock:
        if _work is work:
            _work = None
    while True:
        try:
            probe = work.get_nowait()
        except Empty:
            return
        probe.error = message
        probe.done.set()


def _submit(probe: _Probe) -> None:
    global _work
    with _lock:
        if _work is None:
            work: SimpleQueue[_Probe] = SimpleQueue()
            threading.Thread(target=_prober, args=(work,), name="netns-probe", daemon=True).start()
            _work = work
        _work.put(probe)


def _forget_in_child() -> None:
    """A forked child has no prober thread: its first probe starts one."""
    global _lock, _work
    _lock, _work = threading.Lock(), None


os.register_at_fork(after_in_child=_forget_in_child)


def existing_links(netns_path: str, names: list[str]) -> list[str]:
    """Those of ``names`` that already exist in the namespace at ``netns_path``."""
    try:
        fd = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise CNIError(INVALID_ENV, f"validateIfName: no net namespace {netns_path} found: {e.strerror}") from None
    probe = _Probe(fd, names)
    try:
        _submit(probe)
        probe.done.wait()
    finally:
        os.close(fd)
    if probe.error:
        raise CNIError(INVALID_ENV, f"validateIfName: cannot enter net namespace {netns_path}: {probe.error}")
    return probe.found
