"""Host logic without Ray: the same HostCores and registry tables in one event loop (runtime/local.py).

Checks what the Ray runs rely on, exactly: discovery gives spigo's graph for any packing, every
request ends once, and chaos victims stop being chosen after the next registry poll.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest

from nanoservices.architecture import load_architecture
from nanoservices.chaos import Kill
from nanoservices.config import RunConfig
from nanoservices.discovery_rules import expected_edges, expected_nodes
from nanoservices.messages import Status
from nanoservices.naming import to_node_name
from nanoservices.outputs.records import DoneRecord, EdgeRecord, ExitReason, ForgetRecord, NodeRecord
from nanoservices.plan import DeploymentPlan, expand
from nanoservices.registry import EXPIRY_PERIODS
from nanoservices.runtime.local import LocalRun
from nanoservices.runtime.stats import add_stats
from nanoservices.summary import RunSummary, summarise

ARCHITECTURES = Path(__file__).resolve().parents[1] / "architectures"


def plan_of(name: str, scale: int = 100, regions: int = 1) -> DeploymentPlan:
    return expand(load_architecture(ARCHITECTURES / f"{name}_arch.json"), scale, regions)


def config(plan: DeploymentPlan, per_host: int, out: Path | None = None) -> RunConfig:
    return RunConfig(arch=plan.arch, instances_per_host=per_host, request_timeout=5.0, out_dir=out)


def totals(run: LocalRun) -> dict[str, object]:
    out: dict[str, object] = {}
    for host in run.hosts:
        add_stats(out, host.counts())
    return out


def failures(run: LocalRun) -> Counter[str]:
    return Counter(totals(run).get("requests_failed", {}))  # type: ignore[arg-type]


def denominators(run: LocalRun) -> list[str]:
    return [s.name for s in run.plan.instances if s.package == "denominator"]


async def tick(run: LocalRun, times: int) -> None:
    for _ in range(times):
        for name in denominators(run):
            run.instance(name).behaviour.tick()  # type: ignore[attr-defined]
        await run.settle()


@pytest.mark.parametrize("arch", ["lamp", "netflixoss", "netflix", "cassandra", "storage"])
@pytest.mark.parametrize("per_host", [1, 4, 100_000])
def test_graph_is_spigos_for_any_packing(arch: str, per_host: int) -> None:
    plan = plan_of(arch)

    async def scenario() -> LocalRun:
        run = LocalRun(plan, config(plan, per_host))
        await run.start()
        return run

    run = asyncio.run(scenario())
    records = run.peers.records
    nodes = {to_node_name(r.name) for r in records if isinstance(r, NodeRecord)}
    edges = {(to_node_name(r.source), to_node_name(r.target)) for r in records if isinstance(r, EdgeRecord)}
    assert nodes == expected_nodes(plan)
    assert edges == expected_edges(plan)
    if per_host == 1:
        assert len(run.hosts) == len(plan.instances)


def test_netflixoss_two_regions_matches_rules() -> None:
    plan = plan_of("netflixoss", regions=2)

    async def scenario() -> LocalRun:
        run = LocalRun(plan, config(plan, 10))
        await run.start()
        return run

    run = asyncio.run(scenario())
    edges = {
        (to_node_name(r.source), to_node_name(r.target))
        for r in run.peers.records
        if isinstance(r, EdgeRecord)
    }
    assert edges == expected_edges(plan)


@pytest.mark.parametrize("per_host", [1, 100_000])
def test_every_request_ends_and_outcomes_do_not_depend_on_packing(per_host: int) -> None:
    plan = plan_of("netflixoss")

    async def scenario() -> LocalRun:
        run = LocalRun(plan, config(plan, per_host))
        await run.start()
        await tick(run, 300)
        return run

    run = asyncio.run(scenario())
    stats = totals(run)
    assert stats["requests_issued"] == 300
    assert stats["requests_completed"] == 300
    assert not stats["requests_failed"]
    assert sum(h.traffic_pending() for h in run.hosts) == 0


def test_chaos_kill_fails_requests_until_the_lease_expires_then_callers_forget_the_victim(
    tmp_path: Path,
) -> None:
    plan = plan_of("netflixoss")
    victim = next(s.name for s in plan.instances if s.service == "homepage")

    async def scenario() -> tuple[LocalRun, Kill, Counter[str], Counter[str], Counter[str], RunSummary]:
        run = LocalRun(plan, config(plan, 1, tmp_path).model_copy(update={"retries": 0}))
        await run.start()
        await tick(run, 50)
        before = failures(run)
        kill = await run.chaos_kill(victim)  # the supervisor's kill sequence
        await tick(run, 200)  # callers still route to the victim: their requests fail explicitly
        during = failures(run)
        await run.poll()  # still registered: nobody renews its lease, but it has not expired yet
        assert victim in run.peers.registries[0].statuses("homepage")
        lease_end = time.time() + EXPIRY_PERIODS * run.config.lease_renewal + 1
        for registry in run.peers.registries:  # the registries' clocks past the victim's lease
            registry.clock = lambda: lease_end
        await asyncio.gather(*(h.renew_once() for i, h in enumerate(run.hosts) if i not in run.peers.dead))
        assert run.peers.evict().count(victim) == len(run.peers.registries)
        await run.poll()  # callers learn the victim is gone
        await tick(run, 200)
        after = failures(run)
        return run, kill, before, during, after, summarise(plan, run.config, await run.finish(), 0.0)

    run, kill, before, during, after, summary = asyncio.run(scenario())
    assert not before
    assert during["dead_instance"] > 0
    assert after == during, "after the poll nobody chooses the victim any more"
    callers = {r.source for r in run.peers.records if isinstance(r, EdgeRecord) and r.target == victim}
    forgot = {r.source for r in run.peers.records if isinstance(r, ForgetRecord) and r.target == victim}
    assert callers and forgot == callers
    done = [r.exit for r in run.peers.records if isinstance(r, DoneRecord) and r.name == victim]
    assert done == [ExitReason.CHAOS], "the kill records why the victim is done, exactly once"
    assert kill.method == "in-process" and kill.counts is not None
    assert kill.counts["instances_stopped"] == 1  # its counts were collected before it died
    # The first batch a caller sends to the dead host is lost in transit, counted by the sender;
    # after that the caller knows the host is dead and fails requests without sending them.
    lost = summary.messages_lost
    assert set(lost) == {"dead_instance"} and 0 < lost["dead_instance"] <= during["dead_instance"]
    assert summary.requests_issued == summary.requests_completed + summary.requests_failed_total == 450
    assert summary.accounted, summary.accounting_problems


def test_chaos_cancel_in_a_shared_host_answers_stopped_and_records_done() -> None:
    plan = plan_of("netflixoss")

    async def scenario() -> tuple[LocalRun, str, Counter[str], Counter[str]]:
        run = LocalRun(plan, config(plan, 100_000))
        await run.start()
        victim = next(s.name for s in plan.instances if s.service == "homepage")
        await run.hosts[run.host_of(victim)].stop_instance(victim, ExitReason.CHAOS)
        await tick(run, 200)
        during = failures(run)
        await run.poll()
        await tick(run, 200)
        return run, victim, during, failures(run)

    run, victim, during, after = asyncio.run(scenario())
    done = [r for r in run.peers.records if isinstance(r, DoneRecord) and r.name == victim]
    assert [d.exit for d in done] == [ExitReason.CHAOS]
    # Between the kill and the next poll a homepage caller may still pick the victim:
    # those requests fail as stopped (or no route), never silently.
    assert set(during) <= {"stopped", "no_route"}
    assert after == during


def test_lost_messages_time_out_and_are_counted() -> None:
    plan = plan_of("lamp")

    async def scenario() -> LocalRun:
        run = LocalRun(plan, config(plan, 1))
        await run.start()
        elb = next(s.name for s in plan.instances if s.package == "elb")
        elb_host = run.host_of(elb)
        original = run.peers.deliver

        async def swallow(source: int, host: int, data: bytes) -> None:
            if host != elb_host:
                await original(source, host, data)

        run.peers.deliver = swallow  # type: ignore[method-assign]
        await tick(run, 20)
        for host in run.hosts:
            host.expire_due(host.clock() + run.config.request_timeout + 1)
        await run.settle()
        return run

    run = asyncio.run(scenario())
    stats = totals(run)
    assert stats["requests_issued"] == 20
    assert stats["requests_failed"] == {Status.TIMEOUT.name.lower(): 20}
