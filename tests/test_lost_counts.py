"""A host whose counts die with it (kill -9, or its final counts fail at shutdown) must not take
its requests out of the summary, nor leave it saying "accounted for": its last live figures still
count, and the summary names the host, why, and what was last seen of it. In process."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from nanoservices.architecture import load_architecture
from nanoservices.config import RunConfig
from nanoservices.plan import DeploymentPlan, expand
from nanoservices.result import Accounted
from nanoservices.runtime.local import LocalRun
from nanoservices.summary import RunSummary, summarise

ARCHITECTURES = Path(__file__).resolve().parents[1] / "architectures"
TICKS = 30


def lamp() -> DeploymentPlan:
    return expand(load_architecture(ARCHITECTURES / "lamp_arch.json"), 100, 1)


def source_of(plan: DeploymentPlan) -> str:
    return next(s.name for s in plan.instances if s.package == "denominator")


async def ticked(run: LocalRun, ticks: int = TICKS) -> None:
    source = source_of(run.plan)
    for _ in range(ticks):
        run.instance(source).behaviour.tick()  # type: ignore[attr-defined]
        await run.settle()


def test_a_traffic_source_that_dies_keeps_its_requests_and_the_run_is_not_accounted_for(
    tmp_path: Path,
) -> None:
    plan = lamp()
    run = LocalRun(plan, RunConfig(arch=plan.arch, instances_per_host=1, out_dir=tmp_path))
    source_host = -1

    async def drive() -> RunSummary:
        nonlocal source_host
        await run.start()
        await ticked(run)
        run.live()  # the supervisor's live poll: the last figures anyone sees of the source
        source_host = run.host_of(source_of(plan))
        run.die(source_host, "died (ActorDiedError)")  # kill -9: nothing collected
        return summarise(plan, run.config, await run.finish(), 0.0)

    summary = asyncio.run(drive())
    (lost,) = summary.counts_lost
    assert (lost["host"], lost["issued"], lost["completed"], lost["failed"]) == (source_host, TICKS, TICKS, 0)
    assert lost["traffic_source"] and lost["reason"] == "died (ActorDiedError)"
    # The requests it issued still count; how they ended died with it.
    assert summary.requests_issued == TICKS and summary.requests_completed == 0
    assert summary.accounted is Accounted.BROKEN
    lines = summary.lines()
    assert lines[2] == (
        f"  requests: {TICKS} issued = 0 completed + 0 failed (none) + 0 in flight at shutdown "
        f"+ {TICKS} issued on hosts whose counts died (their ends unknown): NOT accounted for"
    )
    seen = f"{lost['seen_at']:.1f}"
    assert lines[3] == (
        f"    entry requests: {TICKS} issued on host {source_host} (by its last live figures, at {seen} s) "
        "died with its counts: how they ended is unknown"
    )
    assert lines[4] == (
        f"    not checked: host {source_host} (www: 1 instance), died (ActorDiedError); its hops are not "
        f"checked; its last live figures (at {seen} s): {TICKS} requests issued, {TICKS} completed, 0 failed"
    )
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["accounted"] is False and written["requests_issued"] == TICKS
    assert written["unchecked_hosts"] == [source_host] and written["counts_lost"][0]["issued"] == TICKS


def test_a_source_never_seen_live_is_still_not_accounted_for(tmp_path: Path) -> None:
    plan = lamp()
    run = LocalRun(plan, RunConfig(arch=plan.arch, instances_per_host=1, out_dir=tmp_path))

    async def drive() -> RunSummary:
        await run.start()
        await ticked(run)
        run.die(run.host_of(source_of(plan)), "died (ActorDiedError)")  # before any live poll
        return summarise(plan, run.config, await run.finish(), 0.0)

    summary = asyncio.run(drive())
    assert summary.accounted is Accounted.BROKEN and summary.requests_issued == 0
    host = summary.counts_lost[0]["host"]
    assert summary.accounting_problems == [
        f"entry requests: host {host} runs a traffic source and its counts died before any live figures "
        "of it were seen: what it issued is unknown"
    ]


def test_a_callee_that_dies_leaves_the_run_unchecked_not_accounted_for(tmp_path: Path) -> None:
    """The source's own counts survive, so every request is accounted for at the source; the dead
    host's hops cannot be checked, and the summary says so instead of "accounted for"."""
    plan = lamp()
    run = LocalRun(plan, RunConfig(arch=plan.arch, instances_per_host=1, out_dir=tmp_path))
    database = next(s.name for s in plan.instances if s.service == "rds-mysql")
    dead = run.host_of(database)

    async def drive() -> RunSummary:
        await run.start()
        await ticked(run, 5)
        run.live()
        run.die(dead, "died (ActorDiedError)")
        return summarise(plan, run.config, await run.finish(), 0.0)

    summary = asyncio.run(drive())
    assert summary.accounting_problems == [] and summary.accounted is Accounted.UNCHECKED
    assert summary.lines()[2].endswith(
        f" + 0 in flight at shutdown: not checked on host(s) {dead}, whose counts died with them"
    )
    assert json.loads((tmp_path / "summary.json").read_text())["accounted"] == "unchecked"


def test_a_host_whose_final_counts_fail_at_shutdown_is_reported_unchecked_with_why(tmp_path: Path) -> None:
    plan = lamp()
    run = LocalRun(plan, RunConfig(arch=plan.arch, instances_per_host=1, out_dir=tmp_path))
    database = next(s.name for s in plan.instances if s.service == "rds-mysql")
    failing = run.host_of(database)

    async def broken_stop() -> dict[str, object]:
        raise ConnectionError("the host's process went away during shutdown")

    async def drive() -> RunSummary:
        await run.start()
        await ticked(run, 5)
        run.live()
        run.hosts[failing].stop_all = broken_stop  # type: ignore[method-assign]
        return summarise(plan, run.config, await run.finish(), 0.0)

    summary = asyncio.run(drive())
    assert summary.unchecked_hosts == [failing]
    (lost,) = summary.counts_lost
    assert lost["reason"] == "final counts failed at shutdown (ConnectionError)"
    assert summary.accounted is Accounted.UNCHECKED
    assert any(
        line.startswith(f"    not checked: host {failing} (rds-mysql: 1 instance), final counts failed")
        for line in summary.lines()
    )
