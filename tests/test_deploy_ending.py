"""A deploy the run's end cuts short is `unfinished`, one a stop (Ctrl-C) cuts short `interrupted`,
each with the phase it was in, in the outcome and in an event; never `promoted`. In process: the
Asgard and timeline code a Ray run uses, on a fleet whose clock or new group is held, as a Ray
fleet's is while its clock has not reached the time (or a new group's processes still start)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from nanoservices.architecture import load_architecture
from nanoservices.config import RunConfig
from nanoservices.plan import InstanceSpec, expand
from nanoservices.runtime.local import LocalFleet, LocalRun
from nanoservices.scenario.actions import Canary, Deploy, Judge, RedBlack, Rolling, Scenario
from nanoservices.scenario.asgard import INTERRUPTED, UNFINISHED, Asgard
from nanoservices.scenario.events import EventKind
from nanoservices.scenario.timeline import run_timeline, stop_timeline
from nanoservices.summary import summarise

ARCHITECTURES = Path(__file__).resolve().parents[1] / "architectures"
HOLD = 1000.0  # a wait this long never ends by itself: the run ends first


class HeldFleet(LocalFleet):
    """A LocalFleet whose long waits (and, if asked, new groups) hold until the run ends, as a Ray
    fleet's do: then the wait says the clock stopped (False)."""

    def __init__(self, run: LocalRun, hold_start: bool = False) -> None:
        super().__init__(run)
        self.ended = asyncio.Event()
        self.held = asyncio.Event()  # set once something is held
        self._hold_start = hold_start

    async def wait(self, seconds: float) -> bool:
        if seconds < HOLD:
            return await super().wait(seconds)
        self.held.set()
        await self.ended.wait()
        return False

    async def start_group(self, like: Sequence[InstanceSpec], version: str) -> list[InstanceSpec]:
        if self._hold_start:
            self.held.set()
            await asyncio.Event().wait()  # its hosts never come up within the run
        return await super().start_group(like, version)


def scene(tmp_path: Path, hold_start: bool = False) -> tuple[LocalRun, HeldFleet, Asgard]:
    plan = expand(load_architecture(ARCHITECTURES / "netflixoss_arch.json"), 100, 1)
    run = LocalRun(plan, RunConfig(arch="netflixoss", instances_per_host=100, rate=20.0, out_dir=tmp_path))
    fleet = HeldFleet(run, hold_start)
    return run, fleet, Asgard.of_plan(fleet, plan.instances)


async def cut_short(run: LocalRun, fleet: HeldFleet, asgard: Asgard, deploy: Deploy, how: str) -> None:
    """Start, run the timeline until the deploy is held, then end the run as a supervisor does."""
    await run.start()
    timeline = asyncio.get_running_loop().create_task(run_timeline(Scenario(30.0, (deploy,)), asgard, fleet))
    await fleet.held.wait()
    fleet.ended.set()
    await stop_timeline(timeline, asgard, how, bound=5.0)


CASES = [
    (RedBlack(keep=HOLD), False, UNFINISHED, "keep"),
    (RedBlack(keep=5.0), True, UNFINISHED, "start-group"),
    (RedBlack(keep=HOLD), False, INTERRUPTED, "keep"),
    (Rolling(steps=(0.5, 1.0)), True, INTERRUPTED, "start-group (step 1/2)"),
    (Canary(share=0.1, judge=Judge(after=HOLD)), False, UNFINISHED, "judge"),
]


@pytest.mark.parametrize(("strategy", "hold_start", "how", "phase"), CASES)
def test_a_deploy_cut_short_ends_so_with_its_phase_never_promoted(
    tmp_path: Path, strategy: object, hold_start: bool, how: str, phase: str
) -> None:
    run, fleet, asgard = scene(tmp_path, hold_start)
    deploy = Deploy(at=1.0, service="homepage", version="v2", strategy=strategy)  # type: ignore[arg-type]
    asyncio.run(cut_short(run, fleet, asgard, deploy, how))
    (outcome,) = asgard.outcomes
    assert (outcome.outcome, outcome.to_json()["phase"]) == (how, phase)
    kinds = [e.kind for e in fleet.events]
    ended = EventKind.DEPLOY_UNFINISHED if how == UNFINISHED else EventKind.DEPLOY_INTERRUPTED
    assert kinds[-1] == ended and EventKind.PROMOTE not in kinds
    assert fleet.events[-1].details == {"phase": phase}
    assert fleet.events[-1].versions == ("v1", "v2")


def test_the_summary_says_where_an_unfinished_deploy_stood(tmp_path: Path) -> None:
    run, fleet, asgard = scene(tmp_path, hold_start=True)
    deploy = Deploy(at=1.0, service="homepage", version="v2", strategy=RedBlack(keep=5.0))

    async def play() -> object:
        await cut_short(run, fleet, asgard, deploy, UNFINISHED)
        result = await run.finish()
        return summarise(
            run.plan, run.config, replace(result, deploys=[o.to_json() for o in asgard.outcomes]), 0.0
        )

    summary = asyncio.run(play())
    assert "  deploy homepage v1 -> v2 (redblack): unfinished at start-group, 1.0-1.0 s" in summary.lines()  # type: ignore[attr-defined]
    assert summary.deploys[0]["outcome"] == "unfinished"  # type: ignore[attr-defined]
