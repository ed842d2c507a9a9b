"""Latency and error models: what a service version adds to each request it serves.

`sample` runs once per request, so every parameter is worked out at construction and a draw
costs one or two calls on the caller's seeded `random.Random` (never the module's).
Constructors raise ValueError on impossible parameters, with a message for a problem line.
"""

from __future__ import annotations

import itertools
import math
import random
from bisect import bisect_right
from dataclasses import dataclass, field

from nanoservices.model.quantities import seconds_text

Z99 = 2.3263478740408408  # standard normal quantile at 0.99: p99 = median * exp(Z99 * sigma)


@dataclass(frozen=True, slots=True)
class Fixed:
    seconds: float

    def __post_init__(self) -> None:
        if not self.seconds >= 0:
            raise ValueError(f"latency {self.seconds:g}s is negative; use 0 or more")

    def sample(self, rng: random.Random) -> float:
        return self.seconds


@dataclass(frozen=True, slots=True)
class Uniform:
    low: float
    high: float

    def __post_init__(self) -> None:
        if not self.low >= 0:
            raise ValueError("min must be 0 or more")
        if not self.low <= self.high:
            raise ValueError(
                f"min {seconds_text(self.low)} is above max {seconds_text(self.high)}; swap them"
            )

    def sample(self, rng: random.Random) -> float:
        return self.low + (self.high - self.low) * rng.random()


@dataclass(frozen=True, slots=True)
class Normal:
    """Truncated at 0 by redrawing; mean >= 0 keeps the expected number of draws under 2."""

    mean: float
    stddev: float

    def __post_init__(self) -> None:
        if not (self.mean >= 0 and self.stddev >= 0):
            raise ValueError("mean and stddev must be 0 or more")

    def sample(self, rng: random.Random) -> float:
        while True:
            value = rng.gauss(self.mean, self.stddev)
            if value >= 0:
                return value


@dataclass(frozen=True, slots=True)
class LogNormal:
    """Given by its median and p99, the two figures people quote for service latency."""

    median: float
    p99: float
    _mu: float = field(init=False, repr=False, compare=False)
    _sigma: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.median > 0:
            raise ValueError("median must be more than 0 for a lognormal latency; use a fixed latency for 0")
        if not self.p99 >= self.median:
            raise ValueError(
                f"p99 {seconds_text(self.p99)} is below the median {seconds_text(self.median)}; "
                "p99 must be at least the median"
            )
        object.__setattr__(self, "_mu", math.log(self.median))
        object.__setattr__(self, "_sigma", math.log(self.p99 / self.median) / Z99)

    def sample(self, rng: random.Random) -> float:
        return math.exp(rng.gauss(self._mu, self._sigma))


@dataclass(frozen=True, slots=True)
class Percentiles:
    """Piecewise linear between given percentiles: from 0 s at p0 up to the lowest one given, and
    beyond the highest one with the slope of the last segment (or flat if only one is given)."""

    points: tuple[tuple[float, float], ...]  # (quantile in (0, 1], seconds), sorted by quantile
    _quantiles: tuple[float, ...] = field(init=False, repr=False, compare=False)
    _segments: tuple[tuple[float, float, float], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        points = tuple(sorted(self.points))
        if not points:
            raise ValueError("no percentiles; give at least one, such as p50: 10ms")
        for (q0, v0), (q1, v1) in itertools.pairwise(points):
            if v1 < v0:
                raise ValueError(
                    f"{_label(q1)} {seconds_text(v1)} is below {_label(q0)} {seconds_text(v0)}; "
                    "percentiles must not decrease"
                )
        if len({q for q, _ in points}) != len(points):
            raise ValueError("a percentile is given twice; give each once")
        if not all(0 < q <= 1 and v >= 0 for q, v in points):
            raise ValueError("percentiles must lie in (0, 100] with latencies of 0 or more")
        knots = [(0.0, 0.0), *points] if points[0][0] > 0 else list(points)
        if knots[-1][0] < 1:
            (qa, va), (qb, vb) = knots[-2], knots[-1]
            slope = (vb - va) / (qb - qa) if len(points) > 1 else 0.0
            knots.append((1.0, vb + (1 - qb) * slope))
        segments = tuple((qa, va, (vb - va) / (qb - qa)) for (qa, va), (qb, vb) in itertools.pairwise(knots))
        object.__setattr__(self, "points", points)
        object.__setattr__(self, "_quantiles", tuple(s[0] for s in segments))
        object.__setattr__(self, "_segments", segments)

    def sample(self, rng: random.Random) -> float:
        u = rng.random()
        q0, v0, slope = self._segments[bisect_right(self._quantiles, u) - 1]
        return v0 + (u - q0) * slope


@dataclass(frozen=True, slots=True)
class Added:
    """A latency incident on top of an instance's own service time: base (none: answers at once)
    plus `add`, two draws per request."""

    base: Fixed | Uniform | Normal | LogNormal | Percentiles | Added | None
    add: Fixed | Uniform | Normal | LogNormal | Percentiles | Added

    def sample(self, rng: random.Random) -> float:
        base = self.base.sample(rng) if self.base is not None else 0.0
        return base + self.add.sample(rng)


LatencyModel = Fixed | Uniform | Normal | LogNormal | Percentiles | Added


@dataclass(frozen=True, slots=True)
class ErrorRate:
    """The fraction of requests answered with a failure. One draw per request whatever the rate,
    so changing one rate does not reshuffle the other random choices of a run."""

    rate: float

    def __post_init__(self) -> None:
        if not 0 <= self.rate <= 1:
            raise ValueError(f"rate {self.rate:g} is outside 0-1")

    def fails(self, rng: random.Random) -> bool:
        return rng.random() < self.rate


def _label(quantile: float) -> str:
    return f"p{quantile * 100:g}"
