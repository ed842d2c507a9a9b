"""Latency and error models: sampled quantiles match the parameters, samples are >= 0, seeds repeat.

Each property draws 20,000 samples from a fixed seed and checks the empirical CDF at every stated
quantile against a bound of 5 standard errors (sqrt(q(1-q)/n)); hypothesis runs derandomized, so
the same examples and samples come every time: deterministic, not flaky.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanoservices.scenario.distributions import (
    Z99,
    ErrorRate,
    Fixed,
    LatencyModel,
    LogNormal,
    Normal,
    Percentiles,
    Uniform,
)

N = 20_000
STATS = settings(max_examples=10, deadline=None, derandomize=True)
millis = st.floats(0.1, 1000.0).map(lambda ms: ms / 1000)


def samples(model: LatencyModel, seed: int = 7) -> list[float]:
    rng = random.Random(seed)
    return sorted(model.sample(rng) for _ in range(N))


def assert_quantile(sorted_samples: list[float], quantile: float, value: float) -> None:
    """The share of samples at or below `value` is `quantile`, within 5 standard errors."""
    share = bisect_right(sorted_samples, value) / len(sorted_samples)
    bound = 5 * math.sqrt(quantile * (1 - quantile) / len(sorted_samples)) + 1 / len(sorted_samples)
    assert abs(share - quantile) <= bound, (quantile, share, value)


@STATS
@given(millis, st.floats(1.5, 20.0))  # spread 1 is a point mass: no CDF to compare
def test_lognormal_has_the_given_median_and_p99(median: float, spread: float) -> None:
    model = LogNormal(median, median * spread)
    drawn = samples(model)
    assert_quantile(drawn, 0.5, median)
    assert_quantile(drawn, 0.99, median * spread)
    assert drawn[0] > 0


@STATS
@given(millis, st.floats(0.01, 0.25))
def test_normal_has_the_given_mean_and_stddev(mean: float, relative: float) -> None:
    # stddev <= mean / 4: truncation at 0 moves the CDF by < 4e-5, far inside the bound
    stddev = mean * relative
    drawn = samples(Normal(mean, stddev))
    assert_quantile(drawn, 0.5, mean)
    assert_quantile(drawn, 0.8413447460685429, mean + stddev)


def test_normal_truncated_at_zero_is_half_normal() -> None:
    drawn = samples(Normal(0.0, 0.1))
    assert drawn[0] >= 0
    assert_quantile(drawn, 0.5, 0.1 * 0.6744897501960817)  # median of a half-normal is 0.6745 sigma


@STATS
@given(millis, millis)
def test_uniform_quantiles_are_linear(low: float, width: float) -> None:
    high = low + width
    drawn = samples(Uniform(low, high))
    assert low <= drawn[0] and drawn[-1] <= high
    for quantile in (0.1, 0.5, 0.9):
        assert_quantile(drawn, quantile, low + (high - low) * quantile)


@STATS
@given(millis, millis, millis)
def test_percentiles_pass_through_the_given_points(p50: float, step1: float, step2: float) -> None:
    # strictly increasing: equal neighbours make a point mass, whose CDF jumps past the quantile
    p90, p99 = p50 + step1, p50 + step1 + step2
    drawn = samples(Percentiles(((0.5, p50), (0.9, p90), (0.99, p99))))
    assert drawn[0] >= 0
    for quantile, value in ((0.5, p50), (0.9, p90), (0.99, p99)):
        assert_quantile(drawn, quantile, value)


def test_percentiles_are_linear_between_and_beyond_the_points() -> None:
    # (0, 0) .. (0.5, 10ms) .. (0.9, 30ms) .. (0.99, 100ms), then the last slope on to (1, 107.8ms)
    model = Percentiles(((0.5, 0.010), (0.9, 0.030), (0.99, 0.100)))

    class At:
        def __init__(self, u: float) -> None:
            self.u = u

        def random(self) -> float:
            return self.u

    expected = {0.0: 0.0, 0.25: 0.005, 0.7: 0.020, 0.945: 0.065, 0.995: 0.100 + 0.005 * 0.070 / 0.09}
    for u, value in expected.items():
        assert model.sample(At(u)) == pytest.approx(value)  # type: ignore[arg-type]


def test_fixed_is_fixed() -> None:
    assert set(samples(Fixed(0.02))) == {0.02}


@pytest.mark.parametrize(
    "model",
    [Fixed(0.01), Uniform(0.0, 1.0), Normal(0.1, 0.2), LogNormal(0.04, 0.4), Percentiles(((0.5, 0.01),))],
    ids=lambda m: type(m).__name__,
)
def test_same_seed_same_sequence_other_seed_other_sequence(model: LatencyModel) -> None:
    first = [model.sample(random.Random("1:homepage0")) for _ in range(3)]
    rng_a, rng_b, rng_c = random.Random("1:x"), random.Random("1:x"), random.Random("2:x")
    a = [model.sample(rng_a) for _ in range(50)]
    assert a == [model.sample(rng_b) for _ in range(50)]
    if not isinstance(model, Fixed):
        assert a != [model.sample(rng_c) for _ in range(50)]
    assert len(set(first)) == 1  # a fresh generator from one seed starts at the same draw


def test_lognormal_sigma_comes_from_the_p99() -> None:
    model = LogNormal(0.04, 0.4)
    assert math.exp(math.log(0.04) + Z99 * model._sigma) == pytest.approx(0.4)


@pytest.mark.parametrize("rate", [0.0, 0.2, 1.0])
def test_error_rate_fails_its_share_and_draws_once_per_request(rate: float) -> None:
    rng, shadow = random.Random(3), random.Random(3)
    failures = sum(ErrorRate(rate).fails(rng) for _ in range(N))
    expected = sum(shadow.random() < rate for _ in range(N))
    assert failures == expected  # one draw per call, compared against the same stream
    assert rng.random() == shadow.random()
    bound = 5 * math.sqrt(rate * (1 - rate) / N) * N
    assert abs(failures - rate * N) <= bound


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Fixed(-0.1), "latency -0.1s is negative; use 0 or more"),
        (lambda: Uniform(0.2, 0.1), "min 200ms is above max 100ms; swap them"),
        (lambda: LogNormal(0.04, 0.01), "p99 10ms is below the median 40ms; p99 must be at least the median"),
        (
            lambda: LogNormal(0.0, 0.01),
            "median must be more than 0 for a lognormal latency; use a fixed latency for 0",
        ),
        (
            lambda: Percentiles(((0.5, 0.03), (0.9, 0.02))),
            "p90 20ms is below p50 30ms; percentiles must not decrease",
        ),
        (lambda: ErrorRate(1.5), "rate 1.5 is outside 0-1"),
    ],
)
def test_impossible_parameters_are_refused(make: object, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        make()  # type: ignore[operator]
    assert str(caught.value) == message
