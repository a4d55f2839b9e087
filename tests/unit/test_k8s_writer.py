"""The daemon's background API writer (multus_k8s.writer): per-pod order, retries, DEL, shutdown.

The writes here are plain functions (no API server): what is checked is the queueing. The writer
against the real apiserver is exercised by tests/k8s/test_daemon_informers.py."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from multus_k8s.writer import EVENT, STATUS, Write, Writer, writer_of

from multus.errors import INVALID_CONFIG, TRY_AGAIN_LATER, CNIError

POD = ("app", "p1")


def wait_until(cond: Callable[[], object], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture
def writer() -> Iterator[Writer]:
    w = Writer(workers=3, attempts=3, backoff=(0.01, 0.02), flush_timeout=5)
    w.start()
    yield w
    w.close(1)


def recorder(log: list[str], name: str, delay: float = 0.0, gate: threading.Event | None = None,
             ) -> Callable[[float], None]:
    def fn(budget: float) -> None:
        if gate is not None:
            assert gate.wait(5)
        time.sleep(delay)
        log.append(name)
    return fn


def test_writes_of_one_pod_keep_their_order_and_pods_run_in_parallel(writer: Writer) -> None:
    log: list[str] = []
    gate = threading.Event()
    # the first write of p1 blocks: p1's later writes wait, p2's do not
    writer.submit(Write(POD, "c1", EVENT, "e1", recorder(log, "p1-1", gate=gate)))
    for i in range(2, 6):
        writer.submit(Write(POD, "c1", EVENT, f"e{i}", recorder(log, f"p1-{i}", delay=0.002)))
    writer.submit(Write(("app", "p2"), "c2", STATUS, "s", recorder(log, "p2")))
    wait_until(lambda: "p2" in log)
    assert log == ["p2"]
    gate.set()
    wait_until(lambda: len(log) == 6)
    assert log == ["p2", "p1-1", "p1-2", "p1-3", "p1-4", "p1-5"]
    assert writer.done[(EVENT, "written")] == 5 and writer.pending() == 0


def test_try_again_later_is_retried_other_errors_are_dropped(writer: Writer) -> None:
    calls: list[int] = []

    def flaky(budget: float) -> None:
        calls.append(1)
        if len(calls) < 3:
            raise CNIError(TRY_AGAIN_LATER, "unreachable")

    def forbidden(budget: float) -> None:
        calls.append(2)
        raise CNIError(INVALID_CONFIG, "403 forbidden")

    writer.submit(Write(POD, "c1", STATUS, "status", flaky))
    writer.submit(Write(POD, "c1", EVENT, "event", forbidden))
    wait_until(lambda: writer.pending() == 0 and sum(writer.done.values()) == 2)
    assert calls == [1, 1, 1, 2]
    assert writer.done[(STATUS, "written")] == 1 and writer.done[(EVENT, "failed")] == 1


def test_attempts_are_bounded(writer: Writer) -> None:
    calls: list[float] = []

    def down(budget: float) -> None:
        calls.append(budget)
        raise CNIError(TRY_AGAIN_LATER, "unreachable")

    writer.submit(Write(POD, "c1", STATUS, "status", down))
    wait_until(lambda: writer.done[(STATUS, "failed")] == 1)
    assert len(calls) == 3 and all(b == writer.attempt_budget for b in calls)


def test_a_del_drops_the_containers_queued_status_and_waits_for_the_one_in_flight(writer: Writer) -> None:
    log: list[str] = []
    gate = threading.Event()
    writer.submit(Write(POD, "old", STATUS, "in flight", recorder(log, "flying", gate=gate)))
    wait_until(lambda: writer.pending() == 1 and writer._active.get(POD) is not None)
    writer.submit(Write(POD, "old", STATUS, "queued status", recorder(log, "stale")))
    writer.submit(Write(POD, "old", EVENT, "queued event", recorder(log, "event")))
    writer.submit(Write(POD, "new", STATUS, "next sandbox", recorder(log, "new")))

    done = threading.Event()
    threading.Thread(target=lambda: (writer.cancel(POD, "old"), done.set()), daemon=True).start()
    time.sleep(0.1)
    assert not done.is_set()  # the DEL waits for the write in flight ...
    gate.set()
    assert done.wait(5)  # ... and then returns
    wait_until(lambda: writer.pending() == 0)
    assert log == ["flying", "event", "new"]  # the stale status never lands; the new sandbox's does
    assert writer.done[(STATUS, "dropped")] == 1


def test_cancel_stops_the_retries_of_a_status_in_flight(writer: Writer) -> None:
    calls: list[int] = []

    def down(budget: float) -> None:
        calls.append(1)
        time.sleep(0.05)
        raise CNIError(TRY_AGAIN_LATER, "unreachable")

    slow = Writer(workers=1, attempts=100, backoff=(0.05, 0.05))
    slow.start()
    try:
        slow.submit(Write(POD, "c1", STATUS, "status", down))
        wait_until(lambda: calls)
        slow.cancel(POD, "c1", wait=5)
        n = len(calls)
        time.sleep(0.3)
        assert len(calls) == n < 10
        assert slow.done[(STATUS, "dropped")] == 1
    finally:
        slow.close(1)


def test_close_flushes_the_queue_then_writes_inline(writer: Writer) -> None:
    log: list[str] = []
    for i in range(20):
        writer.submit(Write(("app", f"p{i % 4}"), "c", STATUS, f"w{i}", recorder(log, f"w{i}", delay=0.01)))
    assert writer.close(10) is True
    assert sorted(log) == sorted(f"w{i}" for i in range(20))
    assert not writer.accepting and writer_of({"multus_k8s.writer": writer}) is None
    writer.submit(Write(POD, "c", EVENT, "late", recorder(log, "late")))  # after close: in the caller
    assert log[-1] == "late"


def test_close_gives_up_after_its_timeout() -> None:
    w = Writer(workers=1, attempts=1000, backoff=(0.05, 0.05))
    w.start()

    def down(budget: float) -> None:
        raise CNIError(TRY_AGAIN_LATER, "unreachable")

    w.submit(Write(POD, "c", STATUS, "status", down))
    t0 = time.monotonic()
    assert w.close(0.3) is False
    assert time.monotonic() - t0 < 3
    assert w.done[(STATUS, "failed")] == 1
