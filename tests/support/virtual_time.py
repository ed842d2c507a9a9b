"""An asyncio event loop on virtual time, for in-process runs whose timings must be exact.

The loop's clock moves only when nothing is ready to run: then it jumps to the next timer at
once (SimPy's rule: time moves when an event moves it). Sleeps, `call_at` and the hosts' delayed
replies behave as on a real loop, in the same order, but a 200 ms service time takes no wall time
and a span's duration is exactly what the simulation made it. No real I/O: a run in one process.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
START = 1_000.0  # the loop's clock at the start, in seconds


class _Jump(selectors.DefaultSelector):
    """Waiting `timeout` seconds for I/O is moving the clock on by it: there is no I/O to wait for."""

    def __init__(self) -> None:
        super().__init__()
        self.now = START

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None:
            raise RuntimeError("virtual time: nothing is scheduled and nothing can wake the loop (a hang)")
        self.now += timeout
        return super().select(0)


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self._jump = _Jump()
        super().__init__(self._jump)

    def time(self) -> float:
        return self._jump.now


def run(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run on virtual time."""
    with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
        return runner.run(main)


def clock() -> float:
    """The running loop's clock: hand it to hosts as their clock."""
    return asyncio.get_running_loop().time()
