"""The capacity gate on virtual time: workers, FIFO queue, rejection, USL stretch, utilisation."""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable
from typing import Any

import pytest

from nanoservices.capacity import Capacity, Gate
from nanoservices.scenario.distributions import Fixed


class Events:
    """A minimal discrete-event scheduler: time moves only when an event moves it."""

    def __init__(self) -> None:
        self.now = 0.0
        self._heap: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self._seq = itertools.count()

    def later(self, delay: float, callback: Callable[..., None], *args: Any) -> None:
        heapq.heappush(self._heap, (self.now + delay, next(self._seq), callback, args))

    def run_until(self, end: float) -> None:
        while self._heap and self._heap[0][0] <= end:
            at, _, callback, args = heapq.heappop(self._heap)
            self.now = at
            callback(*args)
        self.now = end


def _gate(capacity: Capacity, events: Events) -> Gate:
    return Gate(capacity, random.Random(1), events, lambda: events.now)


def test_workers_then_queue_then_rejection() -> None:
    events = Events()
    gate = _gate(Capacity(workers=2, queue=1, service_time=Fixed(1.0)), events)
    done: list[tuple[float, float, int]] = []

    def admitted(waited: float, ahead: int) -> None:
        done.append((events.now, waited, ahead))
        gate.release()

    assert [gate.arrive(admitted) for _ in range(4)] == [True, True, True, False]
    assert (gate.in_service, gate.queued, gate.rejected) == (2, 1, 1)
    events.run_until(10)
    # two served in the first second; the queued one starts when a worker frees, waits 1 s
    assert done == [(1.0, 0.0, 0), (1.0, 0.0, 0), (2.0, 1.0, 0)]
    assert (gate.in_service, gate.queued, gate.served) == (0, 0, 3)


def test_fifo_order_and_queue_length_on_arrival() -> None:
    events = Events()
    gate = _gate(Capacity(workers=1, queue=5, service_time=Fixed(0.5)), events)
    order: list[tuple[int, int]] = []

    def make(i: int) -> Callable[[float, int], None]:
        def admitted(waited: float, ahead: int) -> None:
            order.append((i, ahead))
            gate.release()

        return admitted

    for i in range(4):
        assert gate.arrive(make(i))
    events.run_until(10)
    assert order == [(0, 0), (1, 0), (2, 1), (3, 2)]


def test_blocking_holds_the_worker_until_released() -> None:
    events = Events()
    gate = _gate(Capacity(workers=1, queue=1, service_time=Fixed(0.1), blocking=True), events)
    served: list[float] = []
    gate.arrive(lambda waited, ahead: served.append(events.now))
    gate.arrive(lambda waited, ahead: served.append(events.now))
    events.run_until(5)
    assert served == [0.1]  # the second waits: the first's worker is still held
    gate.release()
    events.run_until(10)
    assert served == [0.1, 5.1]


@pytest.mark.parametrize(
    ("contention", "coherency", "n", "factor"),
    [(0.0, 0.0, 8, 1.0), (0.1, 0.0, 3, 1.2), (0.03, 0.0005, 8, 1.238)],
)
def test_usl_stretch(contention: float, coherency: float, n: int, factor: float) -> None:
    assert Capacity(workers=8, contention=contention, coherency=coherency).stretch(n) == pytest.approx(factor)


def test_stretch_applies_to_concurrent_service() -> None:
    events = Events()
    gate = _gate(Capacity(workers=4, service_time=Fixed(1.0), contention=0.5), events)
    ends: list[float] = []
    for _ in range(3):
        gate.arrive(lambda waited, ahead: ends.append(events.now))
    events.run_until(10)
    # the n-th concurrent request starts with n in service: 1, 1.5, 2.0 seconds
    assert ends == [1.0, 1.5, 2.0]


def _throughput(rate: float, capacity: Capacity, seconds: float = 20.0) -> tuple[int, int]:
    """Open-loop arrivals at `rate`/s for `seconds`: (served, rejected)."""
    events = Events()
    gate = _gate(capacity, events)

    def admitted(waited: float, ahead: int) -> None:
        gate.release()

    def arrive() -> None:
        gate.arrive(admitted)

    for i in range(int(rate * seconds)):
        events.later(i / rate, arrive)
    events.run_until(seconds)
    return gate.served, gate.rejected


def test_rejections_start_at_the_capacity_the_fields_imply() -> None:
    capacity = Capacity(workers=4, queue=8, service_time=Fixed(0.01))  # 400 requests/s
    assert _throughput(380, capacity)[1] == 0
    served, rejected = _throughput(440, capacity)
    assert rejected > 0
    assert served == pytest.approx(400 * 20, rel=0.01)


def test_utilisation() -> None:
    events = Events()
    gate = _gate(Capacity(workers=2, service_time=Fixed(1.0)), events)
    gate.arrive(lambda waited, ahead: gate.release())
    events.run_until(4)
    assert gate.utilisation(4.0) == pytest.approx(1 / 8)


def test_drop_waiting_returns_the_queued() -> None:
    events = Events()
    gate = _gate(Capacity(workers=1, queue=3, service_time=Fixed(1.0)), events)
    for _ in range(3):
        gate.arrive(lambda waited, ahead: None)
    assert len(gate.drop_waiting()) == 2
    assert gate.queued == 0
