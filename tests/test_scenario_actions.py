"""The typed timeline: what targets and locations select, ordering, and bounds on deploy durations."""

from __future__ import annotations

import pickle
import random

from nanoservices.catalog import architectures_dir, resolve_plan
from nanoservices.scenario import (
    Canary,
    Deploy,
    Judge,
    Kong,
    Location,
    Monkey,
    RedBlack,
    Rolling,
    Scenario,
    Target,
    load_scenario,
)


def test_targets_and_locations_select_instances_of_the_plan() -> None:
    plan = resolve_plan("netflixoss", 100, 2)
    by_service = [s for s in plan.instances if Target(service="homepage").matches(s)]
    by_package = {s.service for s in plan.instances if Target(package="karyon").matches(s)}
    zone = [s for s in plan.instances if Location("us-east-1", "zoneB").contains(s)]
    region = [s for s in plan.instances if Location("us-west-2").contains(s)]
    assert len(by_service) == 48  # 24 per region, two regions
    assert by_package == {"login", "homepage"}
    assert zone and {(s.region, s.zone) for s in zone} == {("us-east-1", "zoneB")}
    assert {s.region for s in region} == {"us-west-2"} and not any(s.zone == "*" for s in zone)
    assert (str(Location("us-east-1", "zoneB")), str(Location("us-west-2"))) == (
        "us-east-1/zoneB",
        "us-west-2",
    )


def test_with_actions_keeps_time_order_and_ties_in_insertion_order() -> None:
    first = Monkey(at=10.0, target=Target(service="homepage"))
    scenario = Scenario(30.0, (first, Kong(at=2.0, region="us-east-1")))
    extra = Deploy(at=10.0, service="homepage", version="v2")
    assert [type(a).__name__ for a in scenario.with_actions([extra]).actions] == ["Kong", "Monkey", "Deploy"]


def test_known_duration_is_a_lower_bound_per_strategy() -> None:
    def deploy(strategy: object) -> Deploy:
        return Deploy(at=0.0, service="s", version="v2", strategy=strategy)  # type: ignore[arg-type]

    assert deploy(RedBlack(keep=7.0)).known_duration == 7.0
    assert deploy(Canary(judge=Judge(after=10.0))).known_duration == 10.0
    assert deploy(Canary(judge=Judge(after=10.0, interval=2.0))).known_duration == 2.0  # may fail early
    assert deploy(Rolling()).known_duration == 0.0


def test_scenarios_pickle_for_the_trip_to_the_supervisor_actor() -> None:
    plan = resolve_plan("netflixoss", 100, 2)
    for path in sorted((architectures_dir() / "scenarios").glob("*.yaml")):
        scenario = load_scenario(path, plan, 30.0)
        copy = pickle.loads(pickle.dumps(scenario))
        assert copy == scenario and copy.versions == scenario.versions
        for key, behaviour in scenario.versions.items():
            if behaviour.latency is not None:  # precomputed parameters (lognormal sigma) survive the trip
                latency = copy.versions[key].latency
                assert latency is not None
                assert latency.sample(random.Random(1)) == behaviour.latency.sample(random.Random(1))
