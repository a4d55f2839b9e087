"""The daemon's API writes (network-status, events), off the ADD's critical path.

In the thin plugin the Kubernetes backend writes synchronously: the process ends with the
request. In the daemon (:mod:`multus_k8s.daemon`) an ADD queues its ``pods/status`` patch and
its events here and answers the runtime as soon as its delegates are done; worker threads write
them.

* **Ordered per pod**: the writes of one pod (``namespace/name``) run one after the other, in
  the order they were queued, never two at once; different pods are written in parallel
  (:data:`WORKERS` threads).
* **Retried**: a write that fails with code 11 (the API server unreachable, ``5xx``, ``429``,
  ``409``) is tried again up to :data:`ATTEMPTS` times with an exponential back-off
  (:data:`BACKOFF_MIN` to :data:`BACKOFF_MAX` s); other failures (``403``, ``422``) are logged and
  dropped. A write the pod no longer needs (the pod deleted or replaced) is a success.
* **Not overtaken by a DEL**: :meth:`Writer.cancel` (called when a DEL of the container is done)
  drops the container's network-status writes still queued, stops the retries of one in
  flight and waits (at most :data:`DEL_WAIT` s) for its last attempt to end, so the DEL answers
  only when no status of the deleted sandbox can still land. Events stay queued: they are
  history.
* **Flushed on shutdown**: :meth:`Writer.close` stops taking work (later writes run in the
  caller's thread), writes what is queued for at most ``timeout`` seconds, then gives up on the
  rest (logged).
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable

import attrs

from multus.errors import TRY_AGAIN_LATER, CNIError
from multus_k8s.client import WRITER_KEY

log = logging.getLogger("multus.k8s")

STATE_KEY = WRITER_KEY
"""Where the daemon keeps its :class:`Writer` in ``plugins.state``."""
STATUS = "network-status"
EVENT = "event"

WORKERS = 4
ATTEMPTS = 6
ATTEMPT_BUDGET = 5.0
"""Seconds one attempt may take (the client's own retries of connection errors included)."""
BACKOFF_MIN = 0.5
BACKOFF_MAX = 8.0
DEL_WAIT = 3.0
FLUSH_TIMEOUT = 10.0

PodKey = tuple[str, str]


@attrs.define(eq=False)
class Write:
    """One queued write: ``fn(budget)`` raises :class:`CNIError` when it fails."""

    pod: PodKey
    container_id: str
    kind: str
    what: str
    fn: Callable[[float], None]
    attempts: int = 0
    cancelled: bool = False


class Writer:
    """Per-pod ordered, retried, background API writes; thread-safe."""

    def __init__(self, workers: int = WORKERS, attempts: int = ATTEMPTS, attempt_budget: float = ATTEMPT_BUDGET,
                 backoff: tuple[float, float] = (BACKOFF_MIN, BACKOFF_MAX),
                 flush_timeout: float = FLUSH_TIMEOUT) -> None:
        self.workers = workers
        self.flush_timeout = flush_timeout
        self.attempts = attempts
        self.attempt_budget = attempt_budget
        self.backoff = backoff
        self.done: collections.Counter[tuple[str, str]] = collections.Counter()
        """Finished writes by ``(kind, result)``; result ``written``, ``failed`` or ``dropped``."""
        self._cond = threading.Condition()
        self._queues: dict[PodKey, collections.deque[Write]] = {}
        self._ready: collections.deque[PodKey] = collections.deque()
        self._active: dict[PodKey, Write | None] = {}
        self._threads: list[threading.Thread] = []
        self._closing = False
        self._abort = threading.Event()

    # --- taking work ---------------------------------------------------------------------------

    @property
    def accepting(self) -> bool:
        return bool(self._threads) and not self._closing

    def start(self) -> None:
        with self._cond:
            if self._threads:
                return
            for n in range(self.workers):
                t = threading.Thread(target=self._work, name=f"k8s-writer-{n}", daemon=True)
                self._threads.append(t)
                t.start()

    def submit(self, write: Write) -> None:
        """Queue ``write`` behind the pod's earlier writes (or run it now once closed)."""
        with self._cond:
            if self.accepting:
                queue = self._queues.get(write.pod)
                if queue is None:
                    queue = self._queues[write.pod] = collections.deque()
                    if write.pod not in self._active:
                        self._ready.append(write.pod)
                queue.append(write)
                self._cond.notify()
                return
        self._run(write)

    def pending(self) -> int:
        """Writes queued or in flight."""
        with self._cond:
            return sum(len(q) for q in self._queues.values()) + sum(1 for w in self._active.values() if w)

    def cancel(self, pod: PodKey, container_id: str, wait: float = DEL_WAIT) -> int:
        """A DEL of ``container_id`` is done: drop its queued network-status writes, stop the
        retries of one in flight and wait for it. Returns how many writes were dropped."""
        def stale(w: Write) -> bool:
            return w.kind == STATUS and w.container_id == container_id

        deadline = time.monotonic() + wait
        with self._cond:
            dropped = 0
            queue = self._queues.get(pod)
            if queue:
                keep = [w for w in queue if not stale(w)]
                dropped = len(queue) - len(keep)
                queue.clear()
                queue.extend(keep)
                self.done[(STATUS, "dropped")] += dropped
            flying = self._active.get(pod)
            if flying is not None and stale(flying):
                flying.cancelled = True
                while self._active.get(pod) is flying:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        log.warning("%s is still being written after the DEL of %s", flying.what, container_id)
                        break
                    self._cond.wait(left)
        if dropped:
            log.debug("DEL of %s: %d queued network-status write(s) of %s/%s dropped", container_id, dropped, *pod)
        return dropped

    def close(self, timeout: float | None = None) -> bool:
        """Stop taking work and write what is queued, for at most ``timeout`` seconds (default
        ``flush_timeout``); ``True`` when nothing was left unwritten for lack of time."""
        timeout = self.flush_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            while self._queues or self._active:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            left_over = sum(len(q) for q in self._queues.values()) + len(self._active)
        self._abort.set()
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()) + self.attempt_budget)
        if left_over:
            log.warning("shutdown: %d pod(s) still had API writes pending after %g s; they are lost",
                        left_over, timeout)
        return left_over == 0

    # --- the workers -----------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._ready and not (self._closing and not self._queues):
                    self._cond.wait()
                if not self._ready:
                    return
                pod = self._ready.popleft()
                self._active[pod] = None
            while True:
                with self._cond:
                    queue = self._queues.get(pod)
                    if not queue:
                        self._queues.pop(pod, None)
                        del self._active[pod]
                        self._cond.notify_all()
                        break
                    write = queue.popleft()
                    self._active[pod] = write
                self._run(write)
                with self._cond:
                    self._active[pod] = None
                    self._cond.notify_all()

    def _run(self, write: Write) -> None:
        delay = self.backoff[0]
        while True:
            if write.cancelled:
                self.done[(write.kind, "dropped")] += 1
                return
            write.attempts += 1
            try:
                write.fn(self.attempt_budget)
            except CNIError as e:
                if e.code != TRY_AGAIN_LATER or write.attempts >= self.attempts or self._abort.is_set():
                    log.warning("%s failed after %d attempt(s), given up: %s", write.what, write.attempts, e.msg)
                    self.done[(write.kind, "failed")] += 1
                    return
                log.info("%s failed (attempt %d), retrying in %.1f s: %s", write.what, write.attempts, delay, e.msg)
            except Exception:
                log.exception("%s failed", write.what)
                self.done[(write.kind, "failed")] += 1
                return
            else:
                self.done[(write.kind, "written")] += 1
                return
            if self._abort.wait(delay):
                continue  # shutting down: one last attempt decides
            delay = min(delay * 2, self.backoff[1])


def writer_of(state: dict[str, object]) -> Writer | None:
    """The daemon's writer when it takes work (``None`` in the thin plugin)."""
    w = state.get(STATE_KEY)
    return w if isinstance(w, Writer) and w.accepting else None
