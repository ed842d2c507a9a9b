"""Durations, shares and rates as a scenario writes them."""

from __future__ import annotations

import pytest

from nanoservices.scenario.quantities import duration, rate, seconds_text, share, version


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("5s", 5.0), ("200ms", 0.2), ("2m", 120.0), ("1m30s", 90.0), (3, 3.0), (0.25, 0.25), ("0", 0.0)],
)
def test_durations(value: object, seconds: float) -> None:
    assert duration(value) == seconds


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("5x", "'5x' is not a duration; use seconds (2.5) or Go style (10ms, 1s, 1m30s)"),
        (-1, "-1 is not a duration; use 0 or more, such as 5s, 200ms or 2m"),
        ("nan", '"nan" is not a duration; use 0 or more, such as 5s, 200ms or 2m'),
        (True, "expected a duration such as 5s, 200ms or 2m, got true"),
        (None, "expected a duration such as 5s, 200ms or 2m, got null"),
        ([1], "expected a duration such as 5s, 200ms or 2m, got [1]"),
    ],
)
def test_bad_durations(value: object, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        duration(value)
    assert str(caught.value) == message


def test_huge_numbers_are_not_durations() -> None:
    with pytest.raises(ValueError, match=r"is not a duration; use 0 or more"):
        duration(10**400)


@pytest.mark.parametrize(
    ("value", "fraction"), [("10%", 0.1), (0.1, 0.1), ("100%", 1.0), (1, 1.0), (" 25 % ", 0.25)]
)
def test_shares(value: object, fraction: float) -> None:
    assert share(value) == pytest.approx(fraction)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("150%", "share 150% is over 100%; give a share such as 10% or 0.1"),
        (10, "share 10 is over 100%; give a share such as 10% or 0.1"),
        ("0%", "share 0% is not above 0%; give a share such as 10% or 0.1"),
        (-0.5, "share -0.5 is not above 0%; give a share such as 10% or 0.1"),
        ("ten", '"ten" is not a share; write a percentage (10%) or a fraction (0.1)'),
    ],
)
def test_bad_shares(value: object, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        share(value)
    assert str(caught.value) == message


def test_rates_take_zero_and_one_and_refuse_beyond() -> None:
    assert (rate(0), rate(1), rate("30%")) == (0.0, 1.0, 0.3)
    with pytest.raises(ValueError) as caught:
        rate(1.3)
    assert (
        str(caught.value)
        == "rate 1.3 is outside 0-1; give a fraction such as 0.3 or a percentage such as 30%"
    )


def test_versions_are_labels_not_numbers() -> None:
    assert version("v2.1") == "v2.1"
    with pytest.raises(ValueError) as caught:
        version(2.1)
    assert str(caught.value) == "version 2.1 is a number; quote it ('2.1') or write v2.1"


@pytest.mark.parametrize(("seconds", "text"), [(40.0, "40s"), (1.5, "1.5s"), (0.2, "200ms"), (0.0, "0s")])
def test_seconds_text(seconds: float, text: str) -> None:
    assert seconds_text(seconds) == text
