"""A Chaos Gorilla with an outage window, at ~70 % of capacity, in process on virtual time.

`api` has 2 instances per zone in 3 zones, 4 workers each at 40 ms: 600 requests/s in all, and www
sends 420/s (70 %). The gorilla takes zoneB at 10 s for 5 s: zoneA's and zoneC's api instances get
half as much again (105 % of what they can serve), so their p99 rises with their queues. At 15 s
zoneB's Auto Scaling Groups relaunch what it lost (STARTING, UP, discovered) and the p99 of zoneA
and zoneC comes back within 10 % of before. The run is seeded on simulated time: exact figures.
"""

from __future__ import annotations

from typing import Any

from nanoservices.outputs import histogram
from nanoservices.outputs.phases import phases
from nanoservices.outputs.series import series_rows
from nanoservices.scenario import actions, timeline
from nanoservices.scenario.events import EventKind, console_line
from nanoservices.scenario.validate import parse_scenario
from test_capacity_runs import architecture, play

RATE = 420.0  # 70 % of 3 zones x 2 instances x 4 workers / 40 ms
AT, UNTIL, DURATION = 10.0, 15.0, 30.0
CAPACITY = {"workers": 4, "queue": 16, "service_time": {"median": "40ms", "p99": "48ms"}}
GORILLA = """
timeline:
  - at: 10s
    for: 5s
    gorilla: us-east-1/zoneB
"""


def zone_p99(stats: dict[str, Any], service: str, zone: str, seconds: range) -> float:
    """The p99 (s) of the service's requests in one zone over whole seconds of the run."""
    counts: dict[int, int] = {}
    for second, name, _version, where, row in series_rows(stats["series"]):
        if name == service and where.endswith(zone) and second in seconds:
            for bucket, n in histogram.from_counts(row["h"]).items():
                counts[bucket] = counts.get(bucket, 0) + n
    assert counts, (service, zone, seconds)
    return histogram.quantile(counts, 0.99)


def test_a_gorilla_window_overloads_the_other_zones_and_its_zone_comes_back() -> None:
    run, events, result = play(architecture(CAPACITY, instances=6), GORILLA, DURATION, rate=RATE, seed=7)
    kinds = [e.kind for e in events]
    assert EventKind.GORILLA in kinds and EventKind.GORILLA_RECOVERED in kinds
    (lost,) = [e for e in events if e.kind is EventKind.GORILLA]
    (back,) = [e for e in events if e.kind is EventKind.GORILLA_RECOVERED]
    assert round(back.at, 6) == UNTIL and back.details["location"] == "us-east-1/zoneB"
    assert sorted(back.details["replaced"]) == sorted(lost.instances)  # every lost instance relaunched
    assert len(back.instances) == len(lost.instances) > 0
    assert set(back.instances).isdisjoint(lost.instances)  # new instances, not the dead ones revived
    assert console_line(back) == "gorilla-recovered us-east-1/zoneB: 3 instances relaunched"  # 2 api, 1 db
    running = {spec.name for _, spec in run.core.running()}
    assert set(back.instances) <= running
    stats = result.stats

    # Settled seconds: from 1 s (the first one warms up), during from 11 s (the callers learnt the
    # zone is gone), after from 16 s (in the second of the recovery the queues drain).
    before, during, after = range(1, 10), range(11, 15), range(16, 30)
    for zone in ("zoneA", "zoneC"):
        p99 = [zone_p99(stats, "api", zone, seconds) for seconds in (before, during, after)]
        assert p99[1] > 1.5 * p99[0], (zone, p99)  # their load grew by half: queues, p99 up
        assert abs(p99[2] - p99[0]) <= 0.1 * p99[0], (zone, p99)  # back within 10 % of before
    zone_b = [zone_p99(stats, "api", "zoneB", seconds) for seconds in (before, after)]
    assert abs(zone_b[1] - zone_b[0]) <= 0.1 * zone_b[0], zone_b  # the relaunched ones serve as before

    (phase,) = phases(result.incidents, stats["entry_series"], stats["series"])
    assert (phase["kind"], phase["target"], phase["at"], phase["until"]) == (
        "gorilla", "us-east-1/zoneB", AT, UNTIL,
    )  # fmt: skip
    users = [phase[part]["p99_ms"] for part in ("before", "during", "after")]
    assert users[1] > 1.5 * users[0], phase
    assert users[2] < users[1], phase  # after (from 15 s, the queues draining too): on the way back
    for zone in ("zoneA", "zoneC"):  # per zone, as the summary's phases give it
        assert phase["during"]["zones"][zone] > 1.5 * phase["before"]["zones"][zone], phase
    assert phase["during"]["zones"]["zoneB"] is None  # nothing served there in the outage
    assert phase["after"]["zones"]["zoneB"] is not None
    # phases shows the return: the entry p99 settles within the request timeout (the queues built
    # in the outage drain or time out), and from then on every zone is within 10 % of before.
    assert phase["p99_recovery_seconds"] is not None and phase["p99_recovery_seconds"] <= 2, phase
    settled = phase["settled"]
    assert abs(settled["p99_ms"] - users[0]) <= 0.1 * users[0], phase
    for zone in ("zoneA", "zoneB", "zoneC"):
        before_zone = phase["before"]["zones"][zone]
        assert abs(settled["zones"][zone] - before_zone) <= 0.1 * before_zone, (zone, phase)


def test_only_a_gorilla_or_kong_with_for_has_an_outage_that_ends() -> None:
    plan = architecture(CAPACITY, instances=6)
    text = (
        GORILLA
        + "  - at: 20s\n    gorilla: us-east-1/zoneA\n  - at: 22s\n    for: 30s\n    kong: us-east-1\n"
    )
    scenario = parse_scenario(text, "test.yaml", plan, DURATION)
    windowed, forever, kong = scenario.actions
    assert isinstance(windowed, actions.Gorilla) and (windowed.at, windowed.until) == (AT, UNTIL)
    assert isinstance(forever, actions.Gorilla) and forever.until == 0.0  # as before: never comes back
    assert isinstance(kong, actions.Kong) and kong.until == DURATION  # a window past the run is cut there
    ends = [step for step in timeline.steps(scenario) if isinstance(step, timeline.End)]
    assert [(end.incident, end.at) for end in ends] == [(windowed, UNTIL), (kong, DURATION)]
