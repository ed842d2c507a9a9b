"""Phases of an incident from the entry requests' per-second series (outputs/phases.py), on series
written by hand, so every expected figure is worked out here from the rows."""

from __future__ import annotations

from typing import Any

from nanoservices.outputs import histogram
from nanoservices.outputs.histogram import bucket_of
from nanoservices.outputs.phases import phase_line, phases


def row(requests: int, errors: int = 0, latency: float = 0.01) -> dict[str, Any]:
    return {"requests": requests, "errors": errors, "h": {str(bucket_of(latency)): requests - errors}}


def steady(seconds: int, **changes: dict[str, Any]) -> dict[str, dict[str, Any]]:
    series = {str(s): row(100) for s in range(seconds)}
    series.update(changes)
    return series


def test_a_kill_is_during_until_the_success_rate_is_back_and_recovery_is_counted_from_the_kill() -> None:
    series = steady(10, **{"3": row(100, 20), "4": row(100, 10)})
    (phase,) = phases([{"kind": "gorilla", "target": "us-east-1/zoneB", "at": 3.0, "until": None}], series)
    assert phase["recovery_seconds"] == 2.0  # seconds 3 and 4 fell short; from second 5 it is back
    assert (phase["before"]["from"], phase["before"]["to"]) == (0, 3)
    assert phase["before"]["success_rate"] == 1.0
    assert (phase["during"]["from"], phase["during"]["to"]) == (3, 5)
    assert phase["during"]["requests"] == 200 and phase["during"]["errors"] == 30
    assert phase["during"]["success_rate"] == 0.85
    assert (phase["after"]["from"], phase["after"]["to"]) == (5, 10)
    assert phase["after"]["success_rate"] == 1.0
    line = phase_line(phase)
    assert line == (
        "  gorilla us-east-1/zoneB at 3.0 s: success 100.0 % before, 85.0 % during, 100.0 % after; "
        "recovered after 2 s"
    )


def test_within_one_percent_of_before_counts_as_recovered() -> None:
    series = steady(6, **{"2": row(1000, 9)})
    (phase,) = phases([{"kind": "monkey", "target": "x", "at": 2.0, "until": None}], series)
    assert phase["recovery_seconds"] == 0.0
    assert (phase["during"]["from"], phase["during"]["to"]) == (2, 3)


def test_a_window_is_during_for_its_seconds_and_its_p99_is_the_slow_one() -> None:
    series = steady(8, **{"2": row(100, latency=0.2), "3": row(100, latency=0.2)})
    (phase,) = phases([{"kind": "latency", "target": "staash", "at": 2.0, "until": 4.0}], series)
    slow = histogram.upper_bound(bucket_of(0.2)) * 1000
    fast = histogram.upper_bound(bucket_of(0.01)) * 1000
    assert (phase["during"]["from"], phase["during"]["to"]) == (2, 4)
    assert phase["during"]["p99_ms"] == round(slow, 3)
    assert phase["before"]["p99_ms"] == phase["after"]["p99_ms"] == round(fast, 3)
    assert phase["recovery_seconds"] == 0.0  # slower, never failing


def test_still_failing_at_the_end_is_not_recovered() -> None:
    series = steady(6, **{"4": row(100, 50), "5": row(100, 50)})
    (phase,) = phases([{"kind": "kong", "target": "us-west-2", "at": 4.0, "until": None}], series)
    assert phase["recovery_seconds"] is None
    assert phase_line(phase).endswith("; not recovered by 6 s")


def test_the_next_incident_measures_before_from_the_end_of_the_previous_one() -> None:
    series = steady(12, **{"2": row(100, 40), "7": row(100, 30)})
    first, second = phases(
        [
            {"kind": "partition", "target": "a | c", "at": 6.0, "until": 8.0},
            {"kind": "errors", "target": "subscriber", "at": 2.0, "until": 3.0},
        ],
        series,
    )
    assert (first["kind"], second["kind"]) == ("errors", "partition")  # in time order
    assert (first["after"]["from"], first["after"]["to"]) == (3, 6)
    assert (second["before"]["from"], second["before"]["to"]) == (3, 6)
    assert second["before"]["success_rate"] == 1.0
    assert second["recovery_seconds"] == 2.0


def test_incidents_at_the_same_time_share_the_before_of_the_first() -> None:
    series = steady(8, **{"0": row(100, 5), "3": row(100, 50)})
    first, second = phases(
        [
            {"kind": "monkey", "target": "x", "at": 3.0, "until": None},
            {"kind": "partition", "target": "a | c", "at": 3.0, "until": 5.0},
        ],
        series,
    )
    assert second["before"] == first["before"] and first["before"]["requests"] == 300
    assert first["before"]["success_rate"] == round(295 / 300, 6)
    assert first["recovery_seconds"] is None and first["judged_until"] == 4  # the next one starts
    assert second["recovery_seconds"] == 1.0


def test_latency_settles_once_the_rest_of_the_run_is_within_ten_percent_of_before() -> None:
    # A 2 s window at 100 ms; the first second after it still drains at 50 ms, then 10 ms again.
    slow = {str(s): row(100, latency=0.1) for s in (4, 5)}
    series = steady(12, **slow, **{"6": row(100, latency=0.05)})
    (phase,) = phases([{"kind": "latency", "target": "api", "at": 4.0, "until": 6.0}], series)
    assert (phase["after"]["from"], phase["after"]["to"]) == (6, 12)
    assert phase["p99_recovery_seconds"] == 1  # from second 7 the rest is back at before's p99
    assert (phase["settled"]["from"], phase["settled"]["to"]) == (7, 12)
    assert phase["settled"]["p99_ms"] == phase["before"]["p99_ms"]


def test_latency_still_high_at_the_end_has_not_settled() -> None:
    series = steady(8, **{str(s): row(100, latency=0.1) for s in range(4, 8)})
    (phase,) = phases([{"kind": "latency", "target": "api", "at": 4.0, "until": 5.0}], series)
    assert phase["p99_recovery_seconds"] is None and phase["settled"] is None
