"""One suite of scenario runs against both clusters: the run core (runtime/core.py) over
HostCores in this process on simulated time, and over Ray actors through the Supervisor. The
same scenario must give the same outcomes on both: accounting holds, the deploy ends as its
judge says, the same timeline events in the same order."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import pytest

from nanoservices.architecture import load_architecture
from nanoservices.config import RunConfig
from nanoservices.plan import DeploymentPlan, expand
from nanoservices.result import Accounted
from nanoservices.runtime.local import LocalRun
from nanoservices.scenario.binding import run_scenario, with_running_profiles
from nanoservices.scenario.events import Event, EventKind, read_events
from nanoservices.summary import RunSummary, summarise

BREAKERS = {EventKind.BREAKER_OPEN, EventKind.BREAKER_HALF_OPEN, EventKind.BREAKER_CLOSED}
LAG = {EventKind.SIMULATOR_LAG_START, EventKind.SIMULATOR_LAG_END}


@dataclass(frozen=True)
class Case:
    name: str
    timeline: str  # the scenario file; "" for none
    chaos: bool  # --chaos: the monkey at half time when the scenario has no chaos of its own
    deploy: str | None  # the deploy's outcome, when there is one
    kinds: tuple[str, ...]  # the timeline's events, in order (breakers and lag left out)
    killed: int  # instances killed by chaos
    rate: float = 20.0  # requests per second per traffic source


CASES = [
    Case(
        "red-black",
        "timeline:\n  - at: 1s\n    deploy: {service: app, version: v2, strategy: redblack, keep: 1s}\n",
        False, "promoted",
        ("deploy-start", "group-up", "traffic-shift", "group-stopped", "promote"), 0,
    ),
    Case(
        "canary",
        "versions:\n  app@v2: {errors: 0.6}\n"
        "timeline:\n  - at: 1s\n    deploy: {service: app, version: v2, strategy: canary, share: 50%,"
        " judge: {after: 3s}}\n",
        False, "rolled_back",
        ("deploy-start", "group-up", "traffic-shift", "judgement", "traffic-shift", "rollback",
         "group-stopped"),
        0, rate=100.0,  # enough canary requests for the judge on Ray's wall clock too
    ),
    Case("monkey", "", True, None, ("chaos-monkey", "chaos-effects"), 1),
    Case(
        "gorilla", "timeline:\n  - at: 2s\n    gorilla: us-east-1/zoneB\n", True, None,
        ("gorilla", "chaos-effects"), 3,
    ),
    Case(
        "partition",
        "timeline:\n  - at: 1s\n    for: 2s\n    partition: [us-east-1/zoneA, us-east-1/zoneC]\n",
        True, None, ("partition-start", "partition-end"), 0,
    ),
]  # fmt: skip
RAY_CASES = {"red-black"}  # the others run on Ray as heavy tests (make test stays under 10 minutes)


def configure(plan: DeploymentPlan, case: Case, tmp_path: Path) -> RunConfig:
    scenario = None
    if case.timeline:
        scenario = tmp_path / f"{case.name}.yaml"
        scenario.write_text(case.timeline)
    return RunConfig(
        arch=plan.arch, duration=6.0, out_dir=tmp_path / "run", poll_interval=0.25, rate=case.rate,
        instances_per_host=100, scenario_file=scenario, chaos=case.chaos, seed=3,
    )  # fmt: skip


def on_local(plan: DeploymentPlan, config: RunConfig) -> tuple[RunSummary, list[Event]]:
    scenario = run_scenario(config.scenario_file, config.deploys, plan, config.duration, config.rate)
    plan, scenario = with_running_profiles(plan, scenario)
    assert config.out_dir is not None
    Path(config.out_dir).mkdir(parents=True)
    run = LocalRun(plan, config, scenario=scenario)
    result = asyncio.run(run.run())
    return summarise(plan, config, result, 0.0), run.events


def on_ray(plan: DeploymentPlan, config: RunConfig) -> tuple[RunSummary, list[Event]]:
    from nanoservices.simulation import run

    summary = run(config, plan)
    return summary, read_events(Path(str(config.out_dir)) / "events.jsonl")


def check(case: Case, summary: RunSummary, events: list[Event]) -> None:
    assert summary.accounted is Accounted.HOLDS, summary.accounting_problems
    assert summary.timeline_error == "" and not summary.hosts_died and not summary.interrupted
    assert summary.requests_issued > 0 and summary.requests_completed > 0
    assert [d["outcome"] for d in summary.deploys] == ([case.deploy] if case.deploy else [])
    kinds = tuple(e.kind.value for e in events if e.kind not in BREAKERS | LAG)
    assert kinds == case.kinds
    assert summary.instances_killed == case.killed
    if case.name == "monkey":  # the half-time kill: listed in the summary, from its typed event
        [kill] = summary.events
        assert kill["event"] == "chaos-monkey" and kill["instance"].split(".")[-2] == "app"


@pytest.fixture
def plan(tiny_arch: Path) -> DeploymentPlan:
    return expand(load_architecture(tiny_arch))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_on_the_local_cluster(case: Case, plan: DeploymentPlan, tmp_path: Path) -> None:
    check(case, *on_local(plan, configure(plan, case, tmp_path)))


@pytest.mark.ray
@pytest.mark.parametrize(
    "case",
    [c if c.name in RAY_CASES else pytest.param(c, marks=pytest.mark.heavy) for c in CASES],
    ids=[c.name for c in CASES],
)
def test_on_the_ray_cluster(case: Case, plan: DeploymentPlan, tmp_path: Path, ray_local: object) -> None:
    check(case, *on_ray(plan, configure(plan, case, tmp_path)))
