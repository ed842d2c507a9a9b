"""The Simian Army on a whole netflixoss run, in process and on simulated time (LocalFleet): the
same timeline and Simian code the Ray supervisor runs, at one instance per host and packed.

Expectations come from the plan, the placements and the events, never from the code under test.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from nanoservices.architecture import load_architecture
from nanoservices.config import RunConfig
from nanoservices.outputs import histogram
from nanoservices.outputs.records import DoneRecord
from nanoservices.outputs.series import series_rows
from nanoservices.plan import DeploymentPlan, expand
from nanoservices.runtime.local import LocalFleet, LocalRun
from nanoservices.scenario.asgard import Asgard
from nanoservices.scenario.events import EventKind
from nanoservices.scenario.simian import Simian
from nanoservices.scenario.timeline import run_timeline
from nanoservices.scenario.validate import parse_scenario
from nanoservices.summary import RunSummary, summarise

ARCHITECTURES = Path(__file__).resolve().parents[1] / "architectures"
RATE = 20.0  # requests/s from the denominator: a simulated second is 20 ticks
DURATION = 14.0


def netflixoss() -> DeploymentPlan:
    return expand(load_architecture(ARCHITECTURES / "netflixoss_arch.json"), 100, 1)


class Scene:
    """An in-process run of a scenario file's timeline, then summarised."""

    def __init__(self, per_host: int, out: Path, timeline: str, seed: int = 3) -> None:
        self.plan = netflixoss()
        config = RunConfig(arch="netflixoss", instances_per_host=per_host, rate=RATE, out_dir=out, seed=seed)
        self.scenario = parse_scenario(timeline, "test.yaml", self.plan, DURATION)
        self.run = LocalRun(self.plan, config)
        self.fleet = LocalFleet(self.run)
        self.asgard = Asgard.of_plan(self.fleet, self.plan.instances)
        self.profiles_after: dict[str, object] = {}
        self.result: dict[str, Any] = {}

    async def _play(self) -> RunSummary:
        await self.run.start()
        await run_timeline(self.scenario, self.asgard, self.fleet, Simian(self.fleet))
        await self.fleet.wait(DURATION - self.fleet.now())
        self.profiles_after = {
            name: (instance.profile, instance.spec.profile)
            for host in self.run.hosts
            for name, instance in host.instances.items()
        }
        self.result = await self.run.finish()
        return summarise(self.plan, self.run.config, self.result, 0.0)

    def play(self) -> RunSummary:
        return asyncio.run(self._play())

    def events(self, kind: EventKind) -> list:  # type: ignore[type-arg]
        return [e for e in self.fleet.events if e.kind == kind]

    def done(self) -> dict[str, str]:
        return {r.name: r.exit.value for r in self.run.peers.records if isinstance(r, DoneRecord)}

    def host_zone(self) -> dict[int, str]:
        return {i: "/".join(specs[0].location) for i, specs in enumerate(self.run.placements)}


MONKEY = """
timeline:
  - every: 4s
    monkey: {service: homepage}
"""


def test_monkey_every_4s_kills_a_new_homepage_instance_each_time_reproducibly(tmp_path: Path) -> None:
    victims = []
    for attempt in range(2):
        scene = Scene(1, tmp_path / str(attempt), MONKEY)
        summary = scene.play()
        kills = scene.events(EventKind.CHAOS_MONKEY)
        assert [e.at for e in kills] == [4.0 * k for k in range(1, len(kills) + 1)]
        assert len(kills) == int((DURATION - 0.001) // 4)
        names = [e.instances[0] for e in kills]
        homepage = {s.name for s in scene.plan.instances if s.service == "homepage"}
        assert set(names) <= homepage and len(set(names)) == len(names)
        done = scene.done()
        assert {n: done[n] for n in names} == dict.fromkeys(names, "chaos")
        assert sorted(n for n, why in done.items() if why == "chaos") == sorted(names)
        assert summary.accounted, summary.accounting_problems
        victims.append(names)
    assert victims[0] == victims[1]


def test_monkey_with_another_seed_is_still_a_new_instance_each_time(tmp_path: Path) -> None:
    scene = Scene(100, tmp_path, MONKEY, seed=11)
    summary = scene.play()
    names = [e.instances[0] for e in scene.events(EventKind.CHAOS_MONKEY)]
    assert len(set(names)) == len(names) == 3
    assert summary.accounted, summary.accounting_problems
    assert summary.instances_killed == 3  # inside a shared host: each a cancel


GORILLA = """
timeline:
  - at: 5s
    gorilla: us-east-1/zoneB
"""


@pytest.mark.parametrize("per_host", [1, 100])
def test_gorilla_kills_exactly_the_zones_instances_and_accounting_holds(
    per_host: int, tmp_path: Path
) -> None:
    scene = Scene(per_host, tmp_path, GORILLA)
    summary = scene.play()
    zone_b = sorted(s.name for s in scene.plan.instances if s.location == ("us-east-1", "zoneB"))
    (gorilla,) = scene.events(EventKind.GORILLA)
    assert gorilla.at == 5.0 and list(gorilla.instances) == zone_b
    assert gorilla.details["counts_lost"] == 0
    hosts_b = [i for i, zone in scene.host_zone().items() if zone == "us-east-1/zoneB"]
    assert gorilla.details["hosts"] == len(hosts_b) and sorted(scene.run.peers.dead) == hosts_b
    assert gorilla.details["lost_hosts"] == hosts_b and gorilla.details["nodes"] == []  # no Ray nodes here
    done = scene.done()
    assert sorted(n for n, why in done.items() if why == "chaos") == zone_b
    assert summary.instances_killed == len(zone_b)
    assert summary.accounted, summary.accounting_problems
    (phase,) = summary.phases
    assert (phase["kind"], phase["target"], phase["at"]) == ("gorilla", "us-east-1/zoneB", 5.0)
    assert phase["before"]["requests"] > 0 and phase["after"]["requests"] > 0


LATENCY = """
timeline:
  - at: 4s
    for: 4s
    latency: {service: subscriber, add: 20ms}
"""


def test_latency_incident_shows_in_the_series_for_exactly_its_window(tmp_path: Path) -> None:
    scene = Scene(100, tmp_path, LATENCY)
    summary = scene.play()
    (start,) = scene.events(EventKind.INCIDENT_START)
    (end,) = scene.events(EventKind.INCIDENT_END)
    subscribers = sorted(s.name for s in scene.plan.instances if s.service == "subscriber")
    assert (start.at, end.at) == (4.0, 8.0)
    assert sorted(start.instances) == subscribers == sorted(end.instances)
    slowest: dict[int, float] = {}
    fastest: dict[int, float] = {}
    for second, service, _version, _zone, row in series_rows(scene.result.stats["series"]):
        if service != "subscriber":
            continue
        bounds = [histogram.upper_bound(int(b)) for b in row["h"]]
        slowest[second] = max(slowest.get(second, 0.0), *bounds)
        fastest[second] = min(fastest.get(second, 1.0), *bounds)
    slow = 0.02 * (1 - histogram.RELATIVE_ERROR)
    assert all(slowest[s] < slow for s in slowest if s < 4 or s > 8)
    assert all(fastest[s] >= slow for s in range(5, 8))
    assert slowest[4] >= slow and slowest[8] >= slow
    assert all(profile == own for profile, own in scene.profiles_after.values())  # restored
    assert summary.accounted, summary.accounting_problems


PARTITION = """
timeline:
  - at: 3s
    for: 4s
    partition: [us-east-1/zoneA, us-east-1/zoneC]
"""


@pytest.mark.parametrize("per_host", [1, 100])
def test_partition_losses_are_counted_between_its_sides_and_accounting_holds(
    per_host: int, tmp_path: Path
) -> None:
    scene = Scene(per_host, tmp_path, PARTITION)
    summary = scene.play()
    zones = scene.host_zone()
    across = {frozenset(("us-east-1/zoneA", "us-east-1/zoneC"))}
    lost = {
        (hop["from"], hop["to"]): hop["lost"]["partition"]
        for hop in summary.hops
        if hop["lost"].get("partition")
    }
    assert lost and all(frozenset((zones[a], zones[b])) in across for a, b in lost)
    assert summary.messages_lost["partition"] == sum(lost.values())
    assert summary.requests_failed.get("timeout", 0) > 0
    assert summary.accounted, summary.accounting_problems
    assert all(not host._blocked for host in scene.run.hosts)  # healed
    (start,) = scene.events(EventKind.PARTITION_START)
    (end,) = scene.events(EventKind.PARTITION_END)
    assert (start.at, end.at) == (3.0, 7.0)
    assert start.details["sides"] == ["us-east-1/zoneA", "us-east-1/zoneC"]


def test_overlapping_incidents_compose_and_ending_one_leaves_the_other() -> None:
    import random

    from nanoservices.scenario.actions import ErrorIncident, LatencyIncident, Target, VersionBehaviour
    from nanoservices.scenario.distributions import ErrorRate, Fixed
    from nanoservices.scenario.simian import with_incidents

    own = VersionBehaviour(latency=Fixed(0.01), errors=ErrorRate(0.5))
    slow = LatencyIncident(at=1.0, until=3.0, target=Target("s"), add=Fixed(0.2))
    failing = ErrorIncident(at=2.0, until=4.0, target=Target("s"), rate=0.5)
    both = with_incidents(own, [slow, failing])
    assert both is not None and both.errors == ErrorRate(0.75)  # 1 - 0.5 * 0.5: independent failures
    assert both.latency is not None and both.latency.sample(random.Random(1)) == 0.01 + 0.2
    after = with_incidents(own, [failing])
    assert after == VersionBehaviour(latency=Fixed(0.01), errors=ErrorRate(0.75))
    assert with_incidents(own, []) == own and with_incidents(None, []) is None


def test_a_partition_blocks_each_side_from_the_others_only() -> None:
    from nanoservices.scenario.actions import Location, Partition
    from nanoservices.scenario.simian import blocked_hosts

    plan = netflixoss()
    by_zone = {z: next(s for s in plan.instances if s.zone == z) for z in ("zoneA", "zoneB", "zoneC")}
    running = [(0, by_zone["zoneA"]), (1, by_zone["zoneB"]), (2, by_zone["zoneC"]), (3, by_zone["zoneA"])]
    cut = Partition(at=0, until=1, sides=(Location("us-east-1", "zoneA"), Location("us-east-1", "zoneC")))
    assert blocked_hosts([cut], running) == {
        0: frozenset({2}), 1: frozenset(), 2: frozenset({0, 3}), 3: frozenset({2}),
    }  # fmt: skip
    assert blocked_hosts([], running) == dict.fromkeys(range(4), frozenset())


def test_the_simian_army_example_runs_in_two_regions_and_every_incident_has_its_phases(
    tmp_path: Path,
) -> None:
    """architectures/scenarios/simian-army.yaml as shipped, packed: kong leaves us-east-1 serving."""
    plan = expand(load_architecture(ARCHITECTURES / "netflixoss_arch.json"), 100, 2)
    example = (ARCHITECTURES / "scenarios" / "simian-army.yaml").read_text()
    scenario = parse_scenario(example, "simian-army.yaml", plan, 30.0)
    config = RunConfig(arch="netflixoss", instances_per_host=100, rate=5.0, out_dir=tmp_path, seed=3)
    run = LocalRun(plan, config)
    fleet = LocalFleet(run)

    async def play() -> RunSummary:
        await run.start()
        await run_timeline(scenario, Asgard.of_plan(fleet, plan.instances), fleet, Simian(fleet))
        await fleet.wait(30.0 - fleet.now())
        return summarise(plan, config, await run.finish(), 0.0)

    summary = asyncio.run(play())
    assert summary.accounted, summary.accounting_problems
    kinds = [p["kind"] for p in summary.phases]
    expected = {"monkey": 7, "partition": 1, "gorilla": 1, "latency": 1, "errors": 1, "kong": 1}
    assert {k: kinds.count(k) for k in expected} == expected
    west = {s.name for s in plan.instances if s.region == "us-west-2"}
    (kong,) = [e for e in fleet.events if e.kind == EventKind.KONG]
    assert west - {e.instances[0] for e in fleet.events if e.kind == EventKind.CHAOS_MONKEY} == set(
        kong.instances
    )
    (kong_phase,) = [p for p in summary.phases if p["kind"] == "kong"]
    assert kong_phase["after"]["requests"] > kong_phase["after"]["errors"]  # us-east-1 still completes


def test_no_chaos_keeps_the_deploys_and_drops_the_simian_army() -> None:
    from nanoservices.scenario.actions import Deploy, Monkey
    from nanoservices.scenario.timeline import End, has_chaos, steps, without_chaos

    text = MONKEY + "  - at: 3s\n    deploy: {service: homepage, version: v2}\n" + LATENCY.split("\n", 2)[2]
    scenario = parse_scenario(text, "test.yaml", netflixoss(), DURATION)
    assert has_chaos(scenario) and not has_chaos(without_chaos(scenario))
    assert [type(a) for a in without_chaos(scenario).actions] == [Deploy]
    timed = [(step.at, type(step).__name__) for step in steps(scenario)]
    assert timed == [
        (3.0, "Deploy"), (4.0, "Monkey"), (4.0, "LatencyIncident"), (8.0, "End"), (8.0, "Monkey"),
        (12.0, "Monkey"),
    ]  # fmt: skip
    assert isinstance(steps(scenario)[3], End) and Monkey in {type(a) for a in scenario.actions}
