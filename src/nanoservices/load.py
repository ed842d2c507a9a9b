"""Traffic shapes: the request rate of a traffic source as a function of time, and its arrivals.

Why: real load is not flat. A scenario's `load:` actions (a step, a ramp, a diurnal wave, a burst
for a while) are known before the run starts, so each source gets the whole schedule up front and
works out its own rate from its clock: no control-plane message per change, the same rate at
every source worker, and the same arrivals for the same seed. `--rate` is the rate before the
first action.

`next_gap` is the time to the next request: `1/rate` (uniform, as spigo's ticker) or an
exponential draw (Poisson arrivals, an open model). At rate 0 a source looks again after
`IDLE_RECHECK` seconds or at the next change, whichever comes first.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

IDLE_RECHECK = 0.1  # seconds: how soon a source at rate 0 looks at its schedule again


@dataclass(frozen=True, slots=True)
class Step:
    rate: float


@dataclass(frozen=True, slots=True)
class Ramp:
    to: float
    over: float  # seconds; from the rate in force when the ramp starts


@dataclass(frozen=True, slots=True)
class Diurnal:
    low: float
    high: float
    period: float  # seconds; starts at `low`, peaks at half the period


@dataclass(frozen=True, slots=True)
class Burst:
    rate: float
    lasts: float  # seconds; then the schedule goes on as if the burst had not been


Shape = Step | Ramp | Diurnal | Burst


@dataclass(frozen=True, slots=True)
class Change:
    at: float  # seconds from the start of traffic
    shape: Shape


class RateSchedule:
    """A source's rate over time: the base rate, then each change from its `at` on."""

    __slots__ = ("_base", "_bursts", "_changes", "_starts")

    def __init__(self, base: float, changes: Sequence[Change] = ()) -> None:
        ordered = sorted(changes, key=lambda c: c.at)
        self._base = base
        self._bursts = tuple(c for c in ordered if isinstance(c.shape, Burst))
        self._changes = tuple(c for c in ordered if not isinstance(c.shape, Burst))
        starts: list[float] = []  # the rate in force just before each change
        for i, change in enumerate(self._changes):
            if i == 0:
                starts.append(base)
            else:
                previous = self._changes[i - 1]
                starts.append(_shape_rate(previous.shape, change.at - previous.at, starts[i - 1]))
        self._starts = tuple(starts)

    @property
    def change_points(self) -> tuple[float, ...]:
        points = {c.at for c in self._changes}
        points.update(c.at for c in self._bursts)
        points.update(c.at + c.shape.lasts for c in self._bursts if isinstance(c.shape, Burst))
        return tuple(sorted(points))

    def _underlying(self, t: float) -> float:
        """The rate at t from the base and the changes (bursts aside): the last change in force."""
        rate = self._base
        for i in range(len(self._changes) - 1, -1, -1):
            change = self._changes[i]
            if change.at <= t:
                return _shape_rate(change.shape, t - change.at, self._starts[i])
        return rate

    def rate_at(self, t: float) -> float:
        for burst in self._bursts:
            shape = burst.shape
            if isinstance(shape, Burst) and burst.at <= t < burst.at + shape.lasts:
                return shape.rate
        return self._underlying(t)

    def next_gap(self, t: float, rng: random.Random | None = None) -> float:
        """Seconds from t to this source's next request: uniform without `rng`, Poisson with it."""
        rate = self.rate_at(t)
        if rate <= 0:
            later = [p - t for p in self.change_points if p > t]
            return min([IDLE_RECHECK, *later])
        if rng is None:
            return 1.0 / rate
        return rng.expovariate(rate)


def _shape_rate(shape: Shape, since: float, before: float) -> float:
    if isinstance(shape, Step):
        return shape.rate
    if isinstance(shape, Ramp):
        if shape.over <= 0 or since >= shape.over:
            return shape.to
        return before + (shape.to - before) * since / shape.over
    if isinstance(shape, Diurnal):
        phase = 2 * math.pi * since / shape.period
        return shape.low + (shape.high - shape.low) * (1 - math.cos(phase)) / 2
    return before  # a Burst is applied over the schedule, not as a change of it
