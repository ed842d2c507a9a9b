"""A traffic source's timer when its rate changes over time or its arrivals are Poisson.

Why apart from instance.py's fixed-interval Ticker: a source with a `RateSchedule` (the scenario's
`load:` actions) or `--arrivals poisson` asks the schedule for the gap to its next request after
each one. The rate's clock is the loop's, from the source's start (the traffic's second 0). As
the Ticker: ticks missed while the loop was busy run in a burst of at most MAX_BURST, the rest are
skipped and counted; with `limit` requests outstanding a tick is skipped (backpressure), counted.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import TYPE_CHECKING

from nanoservices.load import RateSchedule

if TYPE_CHECKING:
    from nanoservices.runtime.instance import InstanceRuntime

MAX_BURST = 32
MAX_SKIP = 100_000  # gaps skipped in one go at most: an absurd backlog is cut, not walked


class GapTicker:
    __slots__ = (
        "_handle",
        "_instance",
        "_limit",
        "_loop",
        "_next_at",
        "_rng",
        "_schedule",
        "_start",
        "_tick",
    )

    def __init__(
        self,
        instance: InstanceRuntime,
        schedule: RateSchedule,
        rng: random.Random | None,
        tick: Callable[[], None],
        limit: int,
    ) -> None:
        self._instance = instance
        self._schedule = schedule
        self._rng = rng  # None: uniform gaps (1/rate); a generator: Poisson arrivals
        self._tick = tick
        self._limit = limit
        self._loop = loop = asyncio.get_running_loop()
        self._start = loop.time()
        self._next_at = self._start + schedule.next_gap(0.0, rng)
        self._handle = loop.call_at(self._next_at, self._fire)

    def cancel(self) -> None:
        self._handle.cancel()

    def _fire(self) -> None:
        instance = self._instance
        if not instance.running:
            return
        now = self._loop.time()
        schedule, rng, start = self._schedule, self._rng, self._start
        stats = instance._host.stats
        limit, tick, pending = self._limit, self._tick, instance.pending
        fired = 0
        while self._next_at <= now and fired < MAX_BURST:
            if limit and len(pending) >= limit:
                stats.ticks_throttled += 1
            elif schedule.rate_at(self._next_at - start) > 0:  # not an idle recheck
                tick()
            if not instance.running:  # a tick may have stopped it
                return
            fired += 1
            self._next_at += schedule.next_gap(self._next_at - start, rng)
        skipped = 0
        while self._next_at <= now and skipped < MAX_SKIP:
            skipped += 1
            self._next_at += schedule.next_gap(self._next_at - start, rng)
        if skipped:
            stats.ticks_skipped += skipped
            self._next_at = max(self._next_at, now)
        self._handle = self._loop.call_at(self._next_at, self._fire)
