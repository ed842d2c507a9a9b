"""Loading scenarios: the issue's examples normalise to typed actions; bad files fail in full, one line each.

Expected actions and problem lines are written from the scenario text and the netflixoss plan
(one region: zones us-east-1/zoneA..C), not read back from the code under test.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nanoservices.catalog import resolve_plan
from nanoservices.plan import DeploymentPlan
from nanoservices.problems import InputError
from nanoservices.scenario import (
    Canary,
    Deploy,
    ErrorIncident,
    Fixed,
    Gorilla,
    Judge,
    Kong,
    LatencyIncident,
    Location,
    LogNormal,
    Monkey,
    Partition,
    Percentiles,
    RedBlack,
    Rollback,
    Scenario,
    Target,
    load_scenario,
    parse_scenario,
)

SOURCE = "s.yaml"

BAD = Path(__file__).parent / "data" / "scenario" / "bad.yaml"  # one entry per bad item, in BAD_LINES

BAD_LINES = {
    "$.versions.homepage: key 'homepage' should be service@version, e.g. homepage@v2",
    "$.versions[\"frontpage@v2\"]: unknown service 'frontpage'; services: cassSubscriber, evcacheSubscriber, "
    "subscriber, login, homepage, wwwproxy, www-elb, www; a version profile needs a service of the "
    "architecture",
    '$.versions["login@v2"].errors: rate 2 is outside 0-1; give a fraction such as 0.3 or a percentage such '
    "as 30%",
    "$.timeline[0].deploy.service: unknown service 'homepag'; did you mean 'homepage'?",
    "$.timeline[1].deploy.strategy: unknown strategy 'bluegreen'; use redblack, rolling, canary or "
    "highlander",
    "$.timeline[2].at: at 45s is at or after the end of the run (30s); use an earlier time or run longer "
    "(-d)",
    "$.timeline[3].deploy.share: share 150% is over 100%; give a share such as 10% or 0.1",
    "$.timeline[4].at: '5x' is not a duration; use seconds (2.5) or Go style (10ms, 1s, 1m30s)",
    "$.timeline[5].errors.rate: rate 1.3 is outside 0-1; give a fraction such as 0.3 or a percentage such "
    "as 30%",
    "$.timeline[6].rollback: no earlier deploy of wwwproxy to roll back; deploy it first or remove the "
    "rollback",
    "$.timeline[7].gorilla: unknown zone 'us-east-1/zoneD'; did you mean 'us-east-1/zoneC'?",
    "$.timeline[8].kong: region 'us-west-2' is not in this plan, which has us-east-1; run with --regions 2 "
    "or more",
    "$.timeline[9].monkey.package: no service here runs package 'tomcat'; "
    "packages: priamCassandra, store, staash, karyon, zuul, elb, denominator",
    "$.timeline[11].latency: overlaps the latency incident on package staash at $.timeline[10] (12s-22s); "
    "merge them or move one",
    "$.timeline[13].deploy: starts at 18s while the deploy of login at $.timeline[12] is still running "
    "(until at least 26s); start it later",
    "$.timeline[14].colour: unknown key 'colour'; remove it or use one of: at, every, from, until, for, "
    "deploy, "
    "rollback, monkey, gorilla, kong, latency, errors, partition, load",
    "$.timeline[15].deploy.steps[1]: steps must increase: 25% is not above 50%",
    "$.timeline[16].partition[1]: us-east-1/zoneA is listed twice; give each side once, without overlap",
    "$.timeline[17].deploy.share: share 0% is not above 0%; give a share such as 10% or 0.1",
    "$.timeline[18].monkey.service: unknown service 'staash'; staash is a package here: write package: "
    "staash",
    "$.timeline[18].for: for applies only to gorilla, kong, latency, errors, partition and load; monkey is "
    "instant, remove it",
    "$.timeline[19].gorilla: 'us-east-1' is a region; gorilla takes a zone such as us-east-1/zoneB "
    "(kong takes a region)",
    "$.timeline[20].kong: kong takes a whole region such as us-east-1; for one zone use gorilla",
    "$.timeline[21]: no action; give one of deploy, rollback, monkey, gorilla, kong, latency, errors, "
    "partition, load",
    "$.timeline[22]: 2 actions (gorilla, kong) in one entry; give each its own entry",
    "$.timeline[23].deploy.judge.after: the canary's judgement at 35s (25s + 10s) comes after the end of "
    "the run "
    "(30s); deploy earlier or shorten judge.after",
    "$.timeline[24].deploy.version: www already runs v1 at 26s; deploy another version",
    "$.timeline[25].for: each errors incident on package karyon overlaps the next; make for shorter than "
    "every",
}


@pytest.fixture(scope="module")
def plan() -> DeploymentPlan:
    return resolve_plan("netflixoss", 100, 1)


def load(text: str, plan: DeploymentPlan, duration: float = 30.0) -> Scenario:
    return parse_scenario(text, SOURCE, plan, duration)


def problems(text: str, plan: DeploymentPlan, duration: float = 30.0) -> list[str]:
    with pytest.raises(InputError) as caught:
        load(text, plan, duration)
    return [str(p) for p in caught.value.problems]


def test_every_bad_item_is_reported_at_once(plan: DeploymentPlan) -> None:
    lines = problems(BAD.read_text(), plan)
    assert len(lines) == len(set(lines))  # each problem once
    assert set(lines) == {f"{SOURCE}: {line}" for line in BAD_LINES}


def test_the_issue_example_normalises_to_sorted_typed_actions(plan: DeploymentPlan) -> None:
    text = """
versions:
  homepage@v2: {latency: {median: 40ms, p99: 400ms}, errors: 0.2}
timeline:
  - at: 5s
    deploy: {service: homepage, version: v2, strategy: canary, share: 10%, judge: {after: 10s}}
  - at: 25s
    rollback: homepage
  - every: 8s
    monkey: {service: homepage}
  - at: 10s
    gorilla: us-east-1/zoneB
  - at: 20s
    kong: us-east-1
  - at: 12s
    for: 10s
    latency: {package: staash, add: 200ms}
  - at: 15s
    for: 20s
    errors: {service: cassSubscriber, rate: 30%}
  - at: 8s
    for: 6s
    partition: [us-east-1/zoneA, us-east-1/zoneC]
"""
    scenario = load(text, plan)
    homepage = Target(service="homepage")
    assert scenario.actions == (
        Deploy(
            at=5.0,
            service="homepage",
            version="v2",
            strategy=Canary(share=0.10, judge=Judge(after=10.0)),
            origin="$.timeline[0]",
        ),
        Monkey(at=8.0, target=homepage, origin="$.timeline[2]"),  # file order breaks the tie at 8 s
        Partition(
            at=8.0,
            until=14.0,
            sides=(Location("us-east-1", "zoneA"), Location("us-east-1", "zoneC")),
            origin="$.timeline[7]",
        ),
        Gorilla(at=10.0, zone=Location("us-east-1", "zoneB"), origin="$.timeline[3]"),
        LatencyIncident(
            at=12.0, until=22.0, target=Target(package="staash"), add=Fixed(0.2), origin="$.timeline[5]"
        ),
        ErrorIncident(
            # 15 s + 20 s ends with the run at 30 s
            at=15.0,
            until=30.0,
            target=Target(service="cassSubscriber"),
            rate=0.3,
            origin="$.timeline[6]",
        ),
        Monkey(at=16.0, target=homepage, origin="$.timeline[2]"),
        Kong(at=20.0, region="us-east-1", origin="$.timeline[4]"),
        Monkey(at=24.0, target=homepage, origin="$.timeline[2]"),
        Rollback(at=25.0, service="homepage", origin="$.timeline[1]"),
    )
    behaviour = scenario.behaviour("homepage", "v2")
    assert behaviour is not None and behaviour.errors is not None
    assert (behaviour.latency, behaviour.errors.rate) == (LogNormal(0.04, 0.4), 0.2)
    assert scenario.behaviour("homepage", "v1") is None


@pytest.mark.parametrize(
    ("entry", "times"),
    [
        ("every: 4s", [4.0, 8.0, 12.0, 16.0, 20.0, 24.0, 28.0]),
        ("{every: 4s, from: 0s}", [0.0, 4.0, 8.0, 12.0, 16.0, 20.0, 24.0, 28.0]),
        ("{every: 10s, from: 5s, until: 25s}", [5.0, 15.0]),
        ("{every: 0.1, from: 29.75}", [29.75, 29.85, 29.95]),
    ],
)
def test_every_expands_to_occurrences_before_the_end(
    plan: DeploymentPlan, entry: str, times: list[float]
) -> None:
    scenario = load(f"timeline:\n  - {{monkey: homepage, {entry.strip('{}')}}}\n", plan)
    assert [a.at for a in scenario.actions] == pytest.approx(times)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("20ms", Fixed(0.02)),
        ("0.5", Fixed(0.5)),
        ("{min: 10ms, max: 30ms}", None),
        ("{median: 40ms, p99: 400ms}", LogNormal(0.04, 0.4)),
        ("{p50: 10ms, p90: 30ms, p99: 100ms}", Percentiles(((0.5, 0.01), (0.9, 0.03), (0.99, 0.1)))),
        ("{p50: 10ms, p99.9: 1s}", Percentiles(((0.5, 0.01), (0.999, 1.0)))),
    ],
)
def test_latency_short_forms(plan: DeploymentPlan, text: str, value: object) -> None:
    scenario = load(f"versions:\n  homepage@v2: {{latency: {text}}}\n", plan)
    behaviour = scenario.behaviour("homepage", "v2")
    assert behaviour is not None
    if value is not None:
        assert behaviour.latency == value
    else:
        assert (type(behaviour.latency).__name__, behaviour.latency.low, behaviour.latency.high) == (  # type: ignore[union-attr]
            "Uniform",
            0.01,
            0.03,
        )


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("[1, 2]", "$: expected a mapping with a timeline: list, got a list"),
        ("just text", "$: expected a mapping with a timeline: list, got text"),
        (
            "timeline:\n  - at: 1s\n    monkey: {service: homepage\n",
            "line 4 column 1: malformed YAML: expected ',' or '}', but got '<stream end>'",
        ),
        (
            "timeline: [\n",
            "line 2 column 1: malformed YAML: expected the node content, but found '<stream end>'",
        ),
        (
            "a: &x 1\nb: *x\n",
            "line 2 column 4: malformed YAML: aliases (*name) are not allowed here; write the value out",
        ),
        (
            "timeline: []\ntimeline: []\n",
            "line 2 column 1: malformed YAML: duplicate key 'timeline' (first on line 1); keep one",
        ),
        (
            "timeline: !!python/object:os.system {}\n",
            "line 1 column 11: malformed YAML: could not determine a "
            "constructor for the tag 'tag:yaml.org,2002:python/object:os.system'",
        ),
        ("   \n", "empty file; a scenario is a mapping with a timeline: list"),
        ("timeline: 5\n", "$.timeline: should be a list, got a number"),
        (
            "timelines: []\n",
            "$.timelines: unknown key 'timelines'; remove it or use one of: description, versions, timeline, "
            "capacity",
        ),
        (
            "timeline:\n  - {at: 1s, deploy: {service: homepage, version: 2}}\n",
            "$.timeline[0].deploy.version: version 2 is a number; quote it ('2') or write v2",
        ),
        (
            "timeline:\n  - {at: 1s, deploy: {service: homepage}}\n",
            "$.timeline[0].deploy.version: missing required key 'version'; name the new version, e.g. "
            "version: v2",
        ),
        (
            "timeline:\n  - {at: 1s, deploy: }\n",
            "$.timeline[0].deploy: has no value; give service and version",
        ),
        (
            "timeline:\n  - {at: 1s, deploy: {service: homepage, version: v2, judge: {after: 1s}}}\n",
            "$.timeline[0].deploy.judge: judge applies only to strategy canary; remove it or change the "
            "strategy",
        ),
        (
            "timeline:\n  - {at: 1s, latency: {service: homepage, add: {mean: 1s}}}\n",
            "$.timeline[0].latency.add: cannot tell the distribution from keys ['mean']; give one of: a "
            "fixed time "
            "(20ms), {min, max}, {mean, stddev}, {median, p99} or percentiles {p50, p90, p99}",
        ),
        (
            "timeline:\n  - {at: 1s, latency: {service: homepage, add: {p50: 1s, p90: 10ms}}}\n",
            "$.timeline[0].latency.add: p90 10ms is below p50 1s; percentiles must not decrease",
        ),
        (
            "timeline:\n  - {at: 1s, latency: {service: homepage, add: {fixed: 1s, colour: red}}}\n",
            "$.timeline[0].latency.add.colour: unknown key 'colour'; remove it or use one of: fixed, min, "
            "max, mean, "
            "stddev, median, p1, p5, p10, p25, p50, p75, p90, p95, p99, p99.9, p100",
        ),
        (
            "timeline:\n  - {every: 1ms, monkey: homepage}\n",
            "$.timeline[0].every: every 1ms gives 29,999 occurrences, more than 10,000; use a longer "
            "interval",
        ),
        (
            "timeline:\n  - {at: 1s, every: 2s, monkey: homepage}\n",
            "$.timeline[0]: both at and every; use at for once, every for a schedule",
        ),
        (
            "timeline:\n  - {every: 2s, deploy: {service: homepage, version: v2}}\n",
            "$.timeline[0].every: a deploy happens once; use at instead of every",
        ),
        (
            "timeline:\n  - {monkey: homepage}\n",
            "$.timeline[0]: missing 'at' or 'every'; say when, e.g. at: 5s",
        ),
        (
            "timeline:\n  - {at: 1s, partition: [us-east-1/zoneA]}\n",
            "$.timeline[0].partition: a partition needs at least two sides, e.g. [us-east-1/zoneA, "
            "us-east-1/zoneC]",
        ),
        (
            "timeline:\n  - {at: 1s, partition: [us-east-1, us-east-1/zoneA]}\n",
            "$.timeline[0].partition[1]: us-east-1/zoneA overlaps us-east-1, also listed; give each side "
            "once, "
            "without overlap",
        ),
        (
            "timeline:\n  - {at: 1s, deploy: {service: homepage, version: v2, strategy: canary, share: "
            "100%}}\n",
            "$.timeline[0].deploy.share: a canary takes part of the traffic, not 100%; give less, or use "
            "strategy "
            "redblack",
        ),
        (
            "timeline:\n  - {at: 1s, deploy: {service: homepage, version: v2, strategy: rolling, steps: "
            "[50%]}}\n",
            "$.timeline[0].deploy.steps[0]: the last step must be 100% so every instance is replaced, got "
            "50%",
        ),
    ],
)
def test_one_problem_one_line(plan: DeploymentPlan, text: str, line: str) -> None:
    assert problems(text, plan) == [f"{SOURCE}: {line}"]


def test_json_files_are_read_as_json(plan: DeploymentPlan, tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"timeline": [{"at": 5, "kong": "us-east-1"}]}))
    assert load_scenario(path, plan, 30).actions == (
        Kong(at=5.0, region="us-east-1", origin="$.timeline[0]"),
    )
    path.write_text('{"timeline": [}')
    with pytest.raises(InputError) as caught:
        load_scenario(path, plan, 30)
    assert [str(p) for p in caught.value.problems] == [
        f"{path}: line 1 column 15: malformed JSON: Expecting value"
    ]


def test_a_missing_file_is_one_line(plan: DeploymentPlan, tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        load_scenario(tmp_path / "nope.yaml", plan, 30)
    assert [str(p) for p in caught.value.problems] == [
        f"{tmp_path / 'nope.yaml'}: no such file; give the path of a scenario file"
    ]


def test_rollback_after_a_deploy_and_a_second_deploy_after_it_are_fine(plan: DeploymentPlan) -> None:
    text = """
timeline:
  - {at: 2s, deploy: {service: homepage, version: v2}}
  - {at: 9s, rollback: {service: homepage}}
  - {at: 12s, deploy: {service: homepage, version: v2, strategy: highlander}}
  - {at: 13s, deploy: {service: homepage, version: v3, strategy: highlander}}
"""
    kinds = [(type(a).__name__, a.at) for a in load(text, plan).actions]
    assert kinds == [("Deploy", 2.0), ("Rollback", 9.0), ("Deploy", 12.0), ("Deploy", 13.0)]


def test_a_second_rollback_needs_a_second_deploy(plan: DeploymentPlan) -> None:
    text = """
timeline:
  - {at: 2s, deploy: {service: homepage, version: v2, keep: 1s}}
  - {at: 9s, rollback: homepage}
  - {at: 10s, rollback: homepage}
"""
    assert problems(text, plan) == [
        f"{SOURCE}: $.timeline[2].rollback: no earlier deploy of homepage to roll back; "
        "deploy it first or remove the rollback"
    ]


def test_default_strategy_is_redblack(plan: DeploymentPlan) -> None:
    (deploy,) = load("timeline: [{at: 1s, deploy: {service: homepage, version: v2}}]", plan).actions
    assert isinstance(deploy, Deploy) and deploy.strategy == RedBlack(keep=5.0)
    assert deploy.strategy_name == "redblack"
