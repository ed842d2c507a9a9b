"""Asgard's strategies on a whole netflixoss run, in process and on simulated time (LocalFleet):
the same Asgard code the Ray supervisor runs, at one instance per host and packed.

Every expectation is derived from the plan and the events, not from the code under test.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest

from nanoservices.architecture import load_architecture
from nanoservices.config import RunConfig
from nanoservices.outputs.records import DoneRecord, NodeRecord
from nanoservices.plan import DeploymentPlan, expand
from nanoservices.registry import UP
from nanoservices.runtime.local import LocalFleet, LocalRun
from nanoservices.scenario.actions import (
    Canary,
    Deploy,
    Highlander,
    Judge,
    RedBlack,
    Rolling,
    VersionBehaviour,
)
from nanoservices.scenario.asgard import Asgard, Outcome
from nanoservices.scenario.distributions import ErrorRate
from nanoservices.scenario.events import EventKind
from nanoservices.summary import RunSummary, summarise

ARCHITECTURES = Path(__file__).resolve().parents[1] / "architectures"
RATE = 20.0  # requests/s from the denominator: a simulated second is 20 ticks
PACKINGS = [1, 100]


def netflixoss() -> DeploymentPlan:
    return expand(load_architecture(ARCHITECTURES / "netflixoss_arch.json"), 100, 1)


def homepage(plan: DeploymentPlan) -> list[str]:
    return [s.name for s in plan.instances if s.service == "homepage"]


class Scene:
    """A started in-process run with its fleet and Asgard."""

    def __init__(
        self, per_host: int, out: Path, versions: dict[tuple[str, str], VersionBehaviour] | None = None
    ):
        self.plan = netflixoss()
        config = RunConfig(arch="netflixoss", instances_per_host=per_host, rate=RATE, out_dir=out, seed=3)
        self.run = LocalRun(self.plan, config)
        self.fleet = LocalFleet(self.run, versions)
        self.asgard = Asgard.of_plan(self.fleet, self.plan.instances)
        self.up_counts: list[int] = []  # UP homepage instances at each event
        emit = self.fleet.emit

        def emit_and_count(event: object) -> None:
            emit(event)  # type: ignore[arg-type]
            statuses = self.run.peers.registries[0].statuses("homepage")
            self.up_counts.append(sum(1 for _, status in statuses.values() if status == UP))

        self.fleet.emit = emit_and_count  # type: ignore[method-assign]

    async def play(self, deploy: Deploy, after: float = 4.0) -> tuple[Outcome, RunSummary]:
        await self.run.start()
        await self.fleet.wait(deploy.at)
        outcome = await self.asgard.deploy(deploy)
        await self.fleet.wait(after)
        summary = summarise(self.plan, self.run.config, await self.run.finish(), 0.0)
        return outcome, summary

    def at(self, kind: EventKind) -> float:
        return next(e.at for e in self.fleet.events if e.kind == kind)

    def done(self) -> dict[str, str]:
        return {r.name: r.exit.value for r in self.run.peers.records if isinstance(r, DoneRecord)}


def homepage_series(summary_dir: Path) -> list[tuple[int, str, int, int]]:
    rows = []
    for line in (summary_dir / "timeseries.csv").read_text().splitlines()[1:]:
        second, service, version, _zone, requests, errors, *_ = line.split(",")
        if service == "homepage":
            rows.append((int(second), version, int(requests), int(errors)))
    return rows


@pytest.mark.parametrize("per_host", PACKINGS)
def test_red_black_of_a_healthy_version_loses_nothing_and_retires_every_old_instance(
    per_host: int, tmp_path: Path
) -> None:
    scene = Scene(per_host, tmp_path)
    old = homepage(scene.plan)
    outcome, summary = asyncio.run(scene.play(Deploy(at=3.0, service="homepage", version="v2",
                                                     strategy=RedBlack(keep=2.0))))  # fmt: skip
    assert outcome.outcome == "promoted" and outcome.from_version == "v1" and outcome.to_version == "v2"
    assert summary.requests_failed == {} and summary.requests_issued == summary.requests_completed > 0
    assert summary.accounted, summary.accounting_problems
    shift = scene.at(EventKind.TRAFFIC_SHIFT)
    rows = homepage_series(tmp_path)
    assert rows and all(version == "v2" for second, version, _, _ in rows if second > shift)
    assert any(version == "v1" for second, version, _, _ in rows if second < shift)
    done = scene.done()
    assert {name: done[name] for name in old} == dict.fromkeys(old, "retired")
    new = next(e for e in scene.fleet.events if e.kind == EventKind.GROUP_UP).instances
    assert len(new) == len(old) and not set(new) & set(old)
    nodes = {r.name for r in scene.run.peers.records if isinstance(r, NodeRecord)}
    assert set(new) <= nodes  # the v2 instances are in the graph
    assert [e.kind for e in scene.fleet.events] == [
        EventKind.DEPLOY_START, EventKind.GROUP_UP, EventKind.TRAFFIC_SHIFT, EventKind.GROUP_STOPPED,
        EventKind.PROMOTE,
    ]  # fmt: skip
    assert summary.requests_by_version["homepage"].keys() == {"v1", "v2"}


@pytest.mark.parametrize("per_host", PACKINGS)
def test_a_canary_that_errs_is_rolled_back_by_the_judge_and_only_its_share_fails(
    per_host: int, tmp_path: Path
) -> None:
    versions = {("homepage", "v2"): VersionBehaviour(errors=ErrorRate(0.2))}
    scene = Scene(per_host, tmp_path, versions)
    judge = Judge(after=6.0, interval=2.0)
    canary = Canary(share=0.25, judge=judge)
    outcome, summary = asyncio.run(
        scene.play(Deploy(at=2.0, service="homepage", version="v2", strategy=canary))
    )
    assert outcome.outcome == "rolled_back"
    assert outcome.detected_after is not None and outcome.detected_after <= judge.after + judge.interval
    rows = homepage_series(tmp_path)
    v1_errors = sum(errors for _, version, _, errors in rows if version == "v1")
    v2_requests = sum(requests for _, version, requests, _ in rows if version == "v2")
    v2_errors = sum(errors for _, version, _, errors in rows if version == "v2")
    assert v1_errors == 0 and v2_errors > 0
    assert set(summary.requests_failed) == {"error"} and summary.requests_failed["error"] == v2_errors
    # the canary took about its share of homepage traffic while it ran (binomial, 5 sigma)
    during = [r for r in rows if scene.at(EventKind.TRAFFIC_SHIFT) < r[0] < scene.at(EventKind.ROLLBACK) - 1]
    total = sum(requests for _, _, requests, _ in during)
    share = sum(requests for _, version, requests, _ in during if version == "v2") / total
    assert abs(share - 0.25) < 5 * math.sqrt(0.25 * 0.75 / total)
    assert v2_requests > 0
    done = scene.done()
    canary_names = next(e for e in scene.fleet.events if e.kind == EventKind.GROUP_UP).instances
    assert {done[name] for name in canary_names} == {"rolled_back"}
    assert summary.accounted, summary.accounting_problems
    judgements = [e for e in scene.fleet.events if e.kind == EventKind.JUDGEMENT]
    assert judgements[-1].details["result"] == "fail"


@pytest.mark.parametrize("per_host", PACKINGS)
def test_a_healthy_canary_is_promoted_and_continues_as_red_black(per_host: int, tmp_path: Path) -> None:
    scene = Scene(per_host, tmp_path)
    canary = Canary(share=0.25, judge=Judge(after=8.0), keep=1.0)
    outcome, summary = asyncio.run(
        scene.play(Deploy(at=2.0, service="homepage", version="v2", strategy=canary))
    )
    assert outcome.outcome == "promoted" and outcome.detected_after is None
    assert summary.requests_failed == {}
    done = scene.done()
    assert {done[name] for name in homepage(scene.plan)} == {"retired"}
    statuses = scene.run.peers.registries[0].statuses("homepage")
    assert {version for version, status in statuses.values() if status == UP} == {"v2"}
    assert sum(1 for _, status in statuses.values() if status == UP) == len(homepage(scene.plan))


@pytest.mark.parametrize("per_host", PACKINGS)
def test_rolling_in_three_steps_never_drops_below_the_count_minus_one_step(
    per_host: int, tmp_path: Path
) -> None:
    scene = Scene(per_host, tmp_path)
    count = len(homepage(scene.plan))
    rolling = Rolling(steps=(1 / 3, 2 / 3, 1.0))
    outcome, summary = asyncio.run(
        scene.play(Deploy(at=2.0, service="homepage", version="v2", strategy=rolling))
    )
    assert outcome.outcome == "promoted"
    step = math.ceil(count / 3)
    assert min(scene.up_counts) >= count - step
    shifts = [e for e in scene.fleet.events if e.kind == EventKind.TRAFFIC_SHIFT]
    assert [e.details["share"] for e in shifts] == [
        round(math.ceil(k * count / 3) / count, 4) for k in (1, 2, 3)
    ]
    statuses = scene.run.peers.registries[0].statuses("homepage")
    assert {version for version, _ in statuses.values()} == {"v2"}  # ends all-v2
    assert len(statuses) == count
    assert summary.accounted, summary.accounting_problems


@pytest.mark.parametrize("per_host", PACKINGS)
def test_highlander_stops_every_older_group_at_once(per_host: int, tmp_path: Path) -> None:
    scene = Scene(per_host, tmp_path)
    outcome, _ = asyncio.run(
        scene.play(Deploy(at=2.0, service="homepage", version="v2", strategy=Highlander()))
    )
    assert outcome.outcome == "promoted"
    kinds = [e.kind for e in scene.fleet.events]
    assert kinds.index(EventKind.GROUP_STOPPED) == kinds.index(EventKind.TRAFFIC_SHIFT) + 1
    assert {scene.done()[name] for name in homepage(scene.plan)} == {"retired"}


@pytest.mark.parametrize("per_host", PACKINGS)
def test_rollback_during_the_keep_period_is_a_status_flip(per_host: int, tmp_path: Path) -> None:
    scene = Scene(per_host, tmp_path)

    async def play() -> RunSummary:
        await scene.run.start()
        await scene.fleet.wait(2.0)
        deploying = asyncio.ensure_future(
            scene.asgard.deploy(
                Deploy(at=2.0, service="homepage", version="v2", strategy=RedBlack(keep=60.0))
            )
        )
        while scene.fleet.ticks < 80 or not any(
            e.kind == EventKind.TRAFFIC_SHIFT for e in scene.fleet.events
        ):
            await asyncio.sleep(0)  # the deploy's own keep wait drives the traffic meanwhile
        deploying.cancel()
        await asyncio.gather(deploying, return_exceptions=True)
        await scene.asgard.rollback("homepage")
        await scene.fleet.wait(3.0)
        return summarise(scene.plan, scene.run.config, await scene.run.finish(), 0.0)

    summary = asyncio.run(play())
    statuses = scene.run.peers.registries[0].statuses("homepage")
    assert {version for version, status in statuses.values() if status == UP} == {"v1"}
    new = next(e for e in scene.fleet.events if e.kind == EventKind.GROUP_UP).instances
    assert {scene.done()[name] for name in new} == {"rolled_back"}
    assert {scene.done()[name] for name in homepage(scene.plan)} == {"normal"}  # v1 ran to the run's end
    assert summary.requests_failed == {} and summary.accounted


@pytest.mark.parametrize(("policy", "serving"), [("rollback", "v1"), ("promote", "v2")])
def test_too_few_canary_requests_end_inconclusive_and_the_policy_decides_without_a_detection(
    policy: str, serving: str, tmp_path: Path
) -> None:
    scene = Scene(100, tmp_path)
    # homepage takes 24/42 of 20 requests/s, the canary a quarter of that: ~8 in 3 s, under the 20 needed
    canary = Canary(share=0.25, judge=Judge(after=3.0, inconclusive=policy), keep=1.0)
    outcome, summary = asyncio.run(
        scene.play(Deploy(at=2.0, service="homepage", version="v2", strategy=canary))
    )
    assert (outcome.outcome, outcome.detected_after) == ("inconclusive", None)
    assert outcome.resolution == ("rolled_back" if policy == "rollback" else "promoted")
    assert outcome.to_json()["outcome"] == "inconclusive" and outcome.to_json()["detected_after"] is None
    [judgement] = [e for e in scene.fleet.events if e.kind == EventKind.JUDGEMENT]
    assert judgement.details["result"] == "inconclusive"
    assert judgement.details["reasons"] == [
        f"only {judgement.details['canary_requests']} canary requests (need 20)"
    ]
    decided = EventKind.ROLLBACK if policy == "rollback" else EventKind.PROMOTE
    [event] = [e for e in scene.fleet.events if e.kind == decided]
    assert event.details["verdict"] == "inconclusive"
    statuses = scene.run.peers.registries[0].statuses("homepage")
    assert {version for version, status in statuses.values() if status == UP} == {serving}
    assert summary.requests_failed == {} and summary.accounted
    summary.deploys = [outcome.to_json()]
    resolved = "rolled back" if policy == "rollback" else "promoted"
    assert [line for line in summary.lines() if line.startswith("  deploy ")] == [
        f"  deploy homepage v1 -> v2 (canary): inconclusive ({resolved}), "
        f"{outcome.started:.1f}-{outcome.finished:.1f} s"
    ]
