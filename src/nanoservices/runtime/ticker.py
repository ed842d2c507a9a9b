"""ctx.every's timer: one loop TimerHandle per ticking instance (runtime/instance.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nanoservices.runtime.instance import InstanceRuntime

MAX_BURST = 32  # ticks a late timer may run back to back before it skips the rest of its backlog


class Ticker:
    """ctx.every: tick at the asked rate on one loop timer (a TimerHandle, not a Task: 100,000
    pirates start and stop their chat in a fraction of the time). Ticks missed while the loop was
    busy run in a short burst; a backlog beyond MAX_BURST is skipped and counted. A traffic source
    with `limit` requests outstanding skips ticks too (backpressure): an overloaded run slows
    down and says so, instead of queueing until every request times out."""

    __slots__ = ("_handle", "_instance", "_interval", "_limit", "_loop", "_next_at", "_tick")

    def __init__(
        self, instance: InstanceRuntime, interval: float, tick: Callable[[], None], limit: int
    ) -> None:
        self._instance = instance
        self._interval = interval
        self._tick = tick
        self._limit = limit
        self._loop = loop = asyncio.get_running_loop()
        self._next_at = 0.0
        # The clock starts once the loop gets round to it, not now: 50,000 pirates handed their
        # Chat in one long delivery would otherwise all be due, in a burst, the moment it ends.
        self._handle: asyncio.Handle = loop.call_soon(self._begin)

    def cancel(self) -> None:
        self._handle.cancel()

    def _begin(self) -> None:
        loop = self._loop
        self._next_at = loop.time() + self._interval
        self._handle = loop.call_at(self._next_at, self._fire)

    def _fire(self) -> None:
        instance = self._instance
        if not instance.running:
            return
        loop, interval = self._loop, self._interval
        due = int((loop.time() - self._next_at) / interval) + 1
        stats = instance._host.stats
        if due > MAX_BURST:
            stats.ticks_skipped += due - MAX_BURST
            due = MAX_BURST
        limit, tick, pending = self._limit, self._tick, instance.pending
        for _ in range(due):
            if not instance.running:
                return
            if limit and len(pending) >= limit:
                stats.ticks_throttled += 1
            else:
                tick()
        self._next_at = max(self._next_at + due * interval, loop.time() - MAX_BURST * interval)
        if instance.running:  # a tick may have stopped it
            self._handle = loop.call_at(self._next_at, self._fire)
