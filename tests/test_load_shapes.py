"""Traffic shapes: the rate a source works out from its schedule, and its arrivals."""

from __future__ import annotations

import random

import pytest

from nanoservices.load import Burst, Change, Diurnal, Ramp, RateSchedule, Step


def test_base_rate_before_any_change() -> None:
    schedule = RateSchedule(100, [Change(5, Step(500))])
    assert schedule.rate_at(0) == 100
    assert schedule.rate_at(4.999) == 100
    assert schedule.rate_at(5) == 500


def test_ramp_from_the_rate_in_force() -> None:
    schedule = RateSchedule(100, [Change(5, Step(500)), Change(10, Ramp(to=3000, over=20))])
    assert schedule.rate_at(10) == 500
    assert schedule.rate_at(20) == pytest.approx(1750)
    assert schedule.rate_at(30) == 3000
    assert schedule.rate_at(100) == 3000


def test_diurnal_starts_low_peaks_at_half_period() -> None:
    schedule = RateSchedule(100, [Change(40, Diurnal(low=200, high=2000, period=60))])
    assert schedule.rate_at(40) == pytest.approx(200)
    assert schedule.rate_at(70) == pytest.approx(2000)
    assert schedule.rate_at(100) == pytest.approx(200)


def test_burst_overrides_then_the_schedule_goes_on() -> None:
    schedule = RateSchedule(100, [Change(0, Ramp(to=1100, over=10)), Change(4, Burst(rate=5000, lasts=2))])
    assert schedule.rate_at(3) == pytest.approx(400)
    assert schedule.rate_at(4) == 5000
    assert schedule.rate_at(5.9) == 5000
    assert schedule.rate_at(6) == pytest.approx(700)  # as if the burst had not been


def test_uniform_gap_is_the_inverse_rate() -> None:
    assert RateSchedule(250).next_gap(0) == pytest.approx(0.004)


def test_poisson_gaps_average_the_inverse_rate() -> None:
    schedule = RateSchedule(200)
    rng = random.Random(7)
    gaps = [schedule.next_gap(0, rng) for _ in range(20_000)]
    assert sum(gaps) / len(gaps) == pytest.approx(1 / 200, rel=0.03)
    assert len(set(gaps)) > 19_000  # not a fixed ticker


def test_rate_zero_waits_until_the_next_change() -> None:
    schedule = RateSchedule(0, [Change(0.05, Step(10))])
    assert schedule.next_gap(0) == pytest.approx(0.05)
    assert RateSchedule(0).next_gap(0) == pytest.approx(0.1)
