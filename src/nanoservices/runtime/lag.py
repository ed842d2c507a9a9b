"""Simulator lag: how late a host's timers fire, measured every second and labelled.

Why: on a busy machine the simulator itself adds latency no model asked for (24 new Ray workers
starting on 2 cores took per-second p50 from 2 ms to 300 ms). Latency in spans must be either the
model's or labelled as the machine's. Each host wakes every `PROBE_INTERVAL` and records how late
it woke; per second it keeps the worst lateness and the p99 of its probes. A second whose lag
passes `LAG_THRESHOLD` opens a `simulator-lag` episode; the episode closes at the first second
every host is back under it.

`LagProbe` is plain logic over times the caller gives it; `probe_loop` is the asyncio driver.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

PROBE_INTERVAL = 0.05  # seconds between probes: 20 a second, a few µs each
LAG_THRESHOLD = 0.020  # seconds: a second with a probe later than this is the machine's, not the model's


class LagProbe:
    """Per second of a host's clock: the probes' worst lateness and p99 (seconds)."""

    __slots__ = ("_current", "_samples", "seconds")

    def __init__(self) -> None:
        self._current: int | None = None
        self._samples: list[float] = []
        self.seconds: dict[int, tuple[float, float]] = {}  # second -> (p99, worst)

    def record(self, at: float, late: float) -> None:
        second = math.floor(at)
        if second != self._current:
            self._close()
            self._current = second
        self._samples.append(max(late, 0.0))

    def _close(self) -> None:
        if self._current is None or not self._samples:
            return
        ordered = sorted(self._samples)
        p99 = ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]
        self.seconds[self._current] = (p99, ordered[-1])
        self._samples = []

    def take(self) -> dict[int, tuple[float, float]]:
        """The closed seconds not yet taken (the open one stays until its second ends)."""
        taken, self.seconds = self.seconds, {}
        return taken

    def flush(self) -> dict[int, tuple[float, float]]:
        """Close the current second too (the host stops)."""
        self._close()
        self._current = None
        return self.take()


LagCounts = dict[str, dict[str, dict[str, float]]]  # host -> second -> {"p99", "worst"}


def lag_counts(host: int, seconds: Mapping[int, tuple[float, float]]) -> LagCounts:
    """A host's closed seconds as counts that add up across hosts (outputs/lag_outputs.py reads them)."""
    if not seconds:
        return {}
    return {str(host): {str(s): {"p99": p99, "worst": worst} for s, (p99, worst) in seconds.items()}}


async def probe_loop(probe: LagProbe, clock: Callable[[], float], interval: float = PROBE_INTERVAL) -> None:
    """Sleep `interval`, note how late the wake-up was, forever (cancel to stop)."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + interval
        await asyncio.sleep(interval)
        probe.record(clock(), loop.time() - due)


@dataclass(frozen=True, slots=True)
class LagEpisode:
    start: int  # first second (of the traffic clock) with a host over the threshold
    end: int  # first second after it with every host under it (exclusive)
    worst: float  # seconds, the worst probe in the episode
    hosts: tuple[str, ...]  # hosts over the threshold in any second of it

    @property
    def seconds(self) -> int:
        return self.end - self.start


def episodes(
    per_host: Mapping[str, Mapping[int, tuple[float, float]]], threshold: float = LAG_THRESHOLD
) -> list[LagEpisode]:
    """Runs of consecutive seconds in which some host's p99 lag passed `threshold`."""
    over: dict[int, list[tuple[str, float]]] = {}
    for host, seconds in per_host.items():
        for second, (p99, worst) in seconds.items():
            if p99 > threshold:
                over.setdefault(second, []).append((host, worst))
    found: list[LagEpisode] = []
    for second in sorted(over):
        hits = over[second]
        worst = max(w for _, w in hits)
        names = {h for h, _ in hits}
        if found and found[-1].end == second:
            last = found[-1]
            found[-1] = LagEpisode(
                last.start, second + 1, max(last.worst, worst), tuple(sorted(set(last.hosts) | names))
            )
        else:
            found.append(LagEpisode(second, second + 1, worst, tuple(sorted(names))))
    return found


def affected_share(found: Iterable[LagEpisode], traffic_seconds: float) -> float:
    """The share of the traffic's seconds inside a lag episode. Hosts keep probing while they
    drain and stop, so an episode may run past the traffic's end: only its part within counts."""
    if traffic_seconds <= 0:
        return 0.0
    inside = sum(max(0.0, min(e.end, traffic_seconds) - max(e.start, 0)) for e in found)
    return min(1.0, inside / traffic_seconds)
