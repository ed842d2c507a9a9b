"""Calls due after a delay, for simulated service time, without blocking the host's event loop.

A timer wheel of 1 ms slots: calls due in the same slot share one loop timer, instead of one
`call_later` each. Measured here (200,000 replies, 1-11 ms delays, CPU time): ~1 µs per delayed
reply with slots against ~9-12 µs with one `call_later` per reply. A call runs at the end of its
slot, so it is late by less than RESOLUTION (plus the loop's own lateness), never early.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any

RESOLUTION = 0.001  # seconds per slot

Call = tuple[Callable[..., None], tuple[Any, ...]]


class Delays:
    def __init__(self) -> None:
        self._slots: dict[int, list[Call]] = {}
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self.pending = 0  # calls not yet run

    def later(self, delay: float, callback: Callable[..., None], *args: Any) -> None:
        loop = asyncio.get_running_loop()
        slot = math.ceil((loop.time() + delay) / RESOLUTION)
        calls = self._slots.get(slot)
        if calls is None:
            self._slots[slot] = [(callback, args)]
            self._timers[slot] = loop.call_at(slot * RESOLUTION, self._run, slot)
        else:
            calls.append((callback, args))
        self.pending += 1

    def _run(self, slot: int) -> None:
        del self._timers[slot]
        calls = self._slots.pop(slot)
        self.pending -= len(calls)
        for callback, args in calls:
            callback(*args)

    def clear(self) -> int:
        """Drop every call not yet run (the host is being killed or has been counted); how many."""
        dropped = self.pending
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._slots.clear()
        self.pending = 0
        return dropped
