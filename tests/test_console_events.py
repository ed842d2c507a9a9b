"""The console's event lines name what each event hit (a zone, a service, a partition's sides), read
from the events an in-process Simian Army run emits; before, a line was only `[18.6s] gorilla`."""

from __future__ import annotations

import sys
from pathlib import Path

from nanoservices.scenario.events import Event, EventKind, console_line

sys.path.insert(0, str(Path(__file__).parent))
from test_simian import Scene  # the in-process netflixoss scene of the Simian tests

TIMELINE = """
timeline:
  - at: 2s
    monkey: {service: homepage}
  - at: 3s
    for: 2s
    latency: {service: subscriber, add: 20ms}
  - at: 3s
    for: 2s
    errors: {package: staash, rate: 0.5}
  - at: 6s
    for: 2s
    partition: [us-east-1/zoneA, us-east-1/zoneB]
  - at: 9s
    gorilla: us-east-1/zoneC
"""


def test_every_chaos_line_names_its_target_and_what_it_touched(tmp_path: Path) -> None:
    scene = Scene(100, tmp_path, TIMELINE)
    scene.play()
    instances = scene.plan.instances
    subscriber = sum(1 for s in instances if s.service == "subscriber")
    staash = sum(1 for s in instances if s.package == "staash")
    zone_c = [s for s in instances if s.location == ("us-east-1", "zoneC")]  # less the monkey's victim
    zone_ab = sum(1 for s in instances if s.location in (("us-east-1", "zoneA"), ("us-east-1", "zoneB")))
    hosts_c = sum(1 for zone in scene.host_zone().values() if zone == "us-east-1/zoneC")
    (monkey,) = scene.events(EventKind.CHAOS_MONKEY)
    (victim,) = monkey.instances
    assert victim in {s.name for s in instances if s.service == "homepage"}
    lost_c = sum(1 for s in zone_c if s.name != victim)
    # the kills' chaos-effects at the run's end are tests/test_affected.py's
    lines = [console_line(e) for e in scene.fleet.events if e.kind is not EventKind.CHAOS_EFFECTS]
    latency = f"latency on subscriber: add 20ms, {subscriber} instances"
    errors = f"errors on package staash: error rate 0.5, {staash} instances"
    sides = "us-east-1/zoneA | us-east-1/zoneB"
    assert lines == [
        f"chaos-monkey homepage: {victim}",
        f"incident-start {latency}",
        f"incident-start {errors}",
        f"incident-end {latency}",
        f"incident-end {errors}",
        f"partition-start {sides}: {zone_ab} instances inside",
        f"partition-end {sides}: {zone_ab} instances inside",
        f"gorilla us-east-1/zoneC: {lost_c} instances on {hosts_c} host lost",
    ]


def test_deploy_kong_and_unmatched_monkey_lines() -> None:
    deploy = Event(1.0, EventKind.DEPLOY_START, "homepage", ("v1", "v2"))
    kong = Event(2.0, EventKind.KONG, instances=("a", "b"), details={"location": "us-west-2", "hosts": 2})
    idle = Event(
        3.0, EventKind.CHAOS_MONKEY, "mysql", details={"target": "mysql", "outcome": "no running instance"}
    )
    slow = Event(
        4.0,
        EventKind.INCIDENT_START,
        "homepage",
        instances=("a",),
        details={"incident": "latency", "target": "homepage", "add": "LogNormal(median=0.04, p99=0.4)"},
    )
    assert console_line(slow) == "incident-start latency on homepage: add median 40ms p99 400ms, 1 instance"
    assert [console_line(e) for e in (deploy, kong, idle)] == [
        "deploy-start homepage v1 -> v2",
        "kong us-west-2: 2 instances on 2 hosts lost",
        "chaos-monkey mysql: no running instance",
    ]
