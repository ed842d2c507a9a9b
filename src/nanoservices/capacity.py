"""Capacity of one instance: workers, a FIFO waiting room, and service time that grows with load.

Why: without it every instance serves any number of requests at once, so moving traffic onto
fewer instances changes nothing and overload can never emerge. With it, an instance serves at most
`workers` requests at once; up to `queue` more wait in arrival order; the rest are rejected at once
(HTTP 503). Each request's service time is drawn from the version's distribution and stretched by
the Universal Scalability Law factor for the `n` requests in service when it starts,
`1 + contention*(n-1) + coherency*n*(n-1)`, so throughput peaks and then falls as load grows.

The gate is plain logic over an injected clock and scheduler (no asyncio, no Ray), so the
queueing behaviour is tested on virtual time. The per-request path is a few integer operations
and one deque append or pop.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # a type only: the model layer imports this module (its profiles hold a Capacity)
    from nanoservices.model.distributions import LatencyModel


@dataclass(frozen=True, slots=True)
class Capacity:
    """How much one instance of a service (version) can serve. Validated where it is read."""

    workers: int
    queue: int = 0
    service_time: LatencyModel | None = None  # None: served at once (the queue still bounds it)
    contention: float = 0.0  # USL sigma
    coherency: float = 0.0  # USL kappa
    blocking: bool = False  # a worker is held until the reply, not only for the service time

    def stretch(self, in_service: int) -> float:
        """The USL factor for `in_service` requests being served at once (1 for one)."""
        n = in_service
        return 1.0 + self.contention * (n - 1) + self.coherency * n * (n - 1)


class Scheduler(Protocol):
    def later(self, delay: float, callback: Callable[..., None], *args: Any) -> None: ...


Admitted = Callable[[float, int], None]  # (queue wait in seconds, queue length on arrival)


class Gate:
    """One instance's workers and queue. `arrive` admits, queues or rejects a request; the
    `admitted` callback runs when the request's service time is over (the caller then handles
    it), with how long it waited and how many were queued ahead of it on arrival. Callers call
    `release` once per admitted request when its worker is free: at once after `admitted` for
    non-blocking servers, after the reply for blocking ones (see `Capacity.blocking`)."""

    __slots__ = (
        "_busy_since",
        "_clock",
        "_rng",
        "_scheduler",
        "_waiting",
        "busy_seconds",
        "capacity",
        "in_service",
        "rejected",
        "served",
    )

    def __init__(
        self, capacity: Capacity, rng: random.Random, scheduler: Scheduler, clock: Callable[[], float]
    ) -> None:
        self.capacity = capacity
        self._rng = rng
        self._scheduler = scheduler
        self._clock = clock
        self._waiting: deque[tuple[float, int, Admitted]] = deque()
        self.in_service = 0
        self.rejected = 0
        self.served = 0
        self.busy_seconds = 0.0  # worker-seconds in service (utilisation = busy / workers / elapsed)
        self._busy_since = clock()

    @property
    def queued(self) -> int:
        return len(self._waiting)

    def arrive(self, admitted: Admitted) -> bool:
        """False: rejected at once (every worker busy, the queue full)."""
        ahead = len(self._waiting)
        if self.in_service < self.capacity.workers and not ahead:
            self._begin(0.0, 0, admitted)
            return True
        if ahead < self.capacity.queue:
            self._waiting.append((self._clock(), ahead, admitted))
            return True
        self.rejected += 1
        return False

    def _begin(self, waited: float, ahead: int, admitted: Admitted) -> None:
        self._account()
        self.in_service += 1
        capacity = self.capacity
        model = capacity.service_time
        seconds = model.sample(self._rng) if model is not None else 0.0
        if self.in_service > 1 and (capacity.contention or capacity.coherency):
            seconds *= capacity.stretch(self.in_service)
        if seconds > 0:
            self._scheduler.later(seconds, self._served, waited, ahead, admitted)
        else:
            self._served(waited, ahead, admitted)

    def _served(self, waited: float, ahead: int, admitted: Admitted) -> None:
        self.served += 1
        admitted(waited, ahead)

    def release(self) -> None:
        """A worker is free: the longest-waiting request starts its service."""
        self._account()
        self.in_service -= 1
        if self._waiting and self.in_service < self.capacity.workers:
            arrived, ahead, admitted = self._waiting.popleft()
            self._begin(self._clock() - arrived, ahead, admitted)

    def drop_waiting(self) -> list[Admitted]:
        """The instance stops: the requests still queued, for the caller to fail."""
        waiting = [entry[2] for entry in self._waiting]
        self._waiting.clear()
        return waiting

    def _account(self) -> None:
        now = self._clock()
        self.busy_seconds += self.in_service * (now - self._busy_since)
        self._busy_since = now

    def utilisation(self, elapsed: float) -> float:
        """Average share of the workers busy over `elapsed` seconds, up to now."""
        self._account()
        if elapsed <= 0:
            return 0.0
        return self.busy_seconds / (self.capacity.workers * elapsed)
