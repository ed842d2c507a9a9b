"""Capacity, load and arrivals are refused like the rest: one line per problem, naming the key and the fix."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nanoservices.architecture import parse_architecture
from nanoservices.catalog import resolve_plan
from nanoservices.load import Burst, Ramp
from nanoservices.problems import InputError
from nanoservices.scenario.actions import Load
from nanoservices.scenario.validate import parse_scenario

GOOD = """
capacity:
  subscriber: {workers: 8, queue: 64, service_time: {median: 2ms, p99: 10ms},
               contention: 0.03, coherency: 0.0005}
  homepage@v2: {workers: 4, blocking: true}
timeline:
  - at: 5s
    load: {service: www, rate: 500}
  - at: 10s
    load: {service: www, ramp: {to: 3000, over: 20s}}
  - at: 40s
    load: {service: www, diurnal: {min: 200, max: 2000, period: 60s}}
  - at: 50s
    for: 2s
    load: {service: www, burst: 5000}
"""

BAD = """
capacity:
  subscriber: {workers: 0, queue: -1}
  nosuch: {workers: 2}
versions:
  login@v1: {capacity: {workers: 2, colour: red}}
timeline:
  - at: 5s
    load: {service: homepage, rate: 500}
  - at: 10s
    load: {service: www, ramp: {to: 3000, over: 0s}}
  - at: 10s
    for: 2s
    load: {service: www, rate: 3}
  - at: 12s
    load: {service: www, rate: -3}
  - at: 14s
    load: {service: www, rate: 3, burst: 9}
"""


def test_the_issues_forms_read_as_written() -> None:
    plan = resolve_plan("netflixoss", 100, 1)
    scenario = parse_scenario(GOOD, "s.yaml", plan, 60.0)
    staash = scenario.versions["subscriber", "v1"].capacity
    assert staash is not None and (staash.workers, staash.queue, staash.contention) == (8, 64, 0.03)
    v2 = scenario.versions["homepage", "v2"].capacity
    assert v2 is not None and v2.blocking and v2.queue == 0
    loads = [a for a in scenario.actions if isinstance(a, Load)]
    assert [(a.at, type(a.shape).__name__) for a in loads] == [
        (5.0, "Step"),
        (10.0, "Ramp"),
        (40.0, "Diurnal"),
        (50.0, "Burst"),
    ]
    assert loads[1].shape == Ramp(3000.0, 20.0) and loads[3].until == 52.0
    ((service, schedule),) = scenario.schedules(100.0)
    assert service == "www"
    assert [schedule.rate_at(t) for t in (0, 5, 10, 20, 30, 51)] == [100, 500, 500, 1750, 3000, 5000]
    assert isinstance(loads[3].shape, Burst)


def test_every_problem_is_one_line() -> None:
    plan = resolve_plan("netflixoss", 100, 1)
    with pytest.raises(InputError) as caught:
        parse_scenario(BAD, "s.yaml", plan, 60.0)
    assert [str(p) for p in caught.value.problems] == [
        "s.yaml: $.timeline[3].load.rate: must be 0 or more, got -3",
        "s.yaml: $.versions[\"login@v1\"].capacity.colour: unknown key 'colour'; remove it or use one of: "
        "workers, queue, service_time, contention, coherency, blocking",
        "s.yaml: $.capacity.subscriber.workers: workers must be a whole number of 1 or more, got 0",
        "s.yaml: $.capacity.subscriber.queue: queue must be a whole number of 0 or more, got -1",
        "s.yaml: $.capacity.nosuch: unknown service 'nosuch'; services: cassSubscriber, evcacheSubscriber, "
        "subscriber, login, homepage, wwwproxy, www-elb, www; capacity is given per service of the "
        "architecture",
        "s.yaml: $.timeline[0].load.service: homepage sends no traffic of its own; a load action shapes a "
        "traffic source: www",
        "s.yaml: $.timeline[1].load.ramp.over: a ramp takes time: give over more than 0s, or use rate: "
        "for a step",
        "s.yaml: $.timeline[2].for: for applies to a burst only; a step (rate:) lasts until the next change, "
        "remove for",
        "s.yaml: $.timeline[4].load: give exactly one of rate, ramp, diurnal, burst (got rate, burst)",
    ]


def test_an_architecture_with_bad_capacity_is_refused_field_by_field() -> None:
    document = {
        "arch": "x",
        "services": [
            {"name": "www", "package": "denominator", "count": 0, "dependencies": ["api"]},
            {"name": "api", "package": "staash", "count": 1, "capacity": {"workers": -2, "queue": 1.5}},
        ],
    }
    with pytest.raises(InputError) as caught:
        parse_architecture(json.dumps(document), "x_arch.json", "x")
    assert [str(p) for p in caught.value.problems] == [
        "x_arch.json: $.services[1].capacity.workers: workers must be a whole number of 1 or more, got -2",
        "x_arch.json: $.services[1].capacity.queue: queue must be a whole number of 0 or more, got 1.5",
    ]


def test_an_unknown_arrivals_is_one_line_and_exit_2() -> None:
    cli = [str(Path(sys.executable).with_name("nanoservices")), "run", "netflixoss", "--arrivals", "bursty"]
    result = subprocess.run(cli, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2
    line = "nanoservices run: --arrivals should be 'uniform' or 'poisson'"
    assert result.stderr.strip().splitlines() == [line]
