"""Nothing lost, counted at both ends: each host counts its own side of every hop, and the summary
checks one end against the other. A transport that loses a message without a word must make the
summary say NOT accounted for, with how many and where."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from pathlib import Path

from nanoservices.architecture import load_architecture
from nanoservices.config import RunConfig
from nanoservices.messages import Message, decode_batch, encode_batch
from nanoservices.outputs.accounting import Hop, reconcile
from nanoservices.plan import DeploymentPlan, expand
from nanoservices.runtime.local import LocalRun
from nanoservices.summary import RunSummary, summarise

ARCHITECTURES = Path(__file__).resolve().parents[1] / "architectures"
TICKS = 30


def lamp() -> DeploymentPlan:
    return expand(load_architecture(ARCHITECTURES / "lamp_arch.json"), 100, 1)


async def ticked_run(
    plan: DeploymentPlan, out: Path, drop_to: str | None = None
) -> tuple[LocalRun, RunSummary]:
    """lamp at one instance per host, TICKS requests; optionally the transport silently drops the
    first message of the first batch bound for the host of `drop_to`."""
    run = LocalRun(plan, RunConfig(arch=plan.arch, instances_per_host=1, out_dir=out))
    await run.start()
    if drop_to is not None:
        victim_host = run.host_of(drop_to)
        original = run.peers.deliver
        dropped: list[int] = []

        async def drop_one(source: int, host: int, data: bytes) -> None:
            if host == victim_host and not dropped:
                dropped.append(source)
                data = encode_batch(decode_batch(data)[1:])
            await original(source, host, data)

        run.peers.deliver = drop_one  # type: ignore[method-assign]
    source = next(s.name for s in plan.instances if s.package == "denominator")
    for _ in range(TICKS):
        run.instance(source).behaviour.tick()  # type: ignore[attr-defined]
        await run.settle()
    for host in run.hosts:  # what was lost times out at its caller
        host.expire_due(host.clock() + run.config.request_timeout + 1)
    await run.settle()
    return run, summarise(plan, run.config, await run.finish(), 0.0)


def test_a_run_that_loses_nothing_is_accounted_for_at_both_ends_of_every_hop(tmp_path: Path) -> None:
    _, summary = asyncio.run(ticked_run(lamp(), tmp_path))
    assert summary.requests_issued == summary.requests_completed == TICKS
    assert summary.accounting_problems == []
    assert summary.lines()[2].endswith(" + 0 in flight at shutdown: accounted for")
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["accounted"] is True
    hops = written["hops"]
    assert hops and all(h["sent"] == h["received"] and h["lost"] == {} for h in hops)
    # Every request a callee received it answered, and the answers arrived: requests and
    # responses are counted by different hosts.
    assert all(h["requests"] == h["answered"] for h in hops)
    assert sum(h["requests"] for h in hops) > TICKS  # elb -> lamp server -> database: several hops each


def test_a_transport_that_silently_drops_one_message_is_reported_with_where(tmp_path: Path) -> None:
    plan = lamp()
    elb = next(s.name for s in plan.instances if s.package == "elb")
    run, summary = asyncio.run(ticked_run(plan, tmp_path, drop_to=elb))
    denominator_host = run.host_of(next(s.name for s in plan.instances if s.package == "denominator"))
    elb_host = run.host_of(elb)
    # The lost request timed out at its caller, so the entry equation alone still holds...
    assert summary.requests_failed == {"timeout": 1}
    assert summary.requests_issued == summary.requests_completed + 1 == TICKS
    # ...but the hop's two ends disagree by exactly the lost message.
    where = f"host {denominator_host} -> host {elb_host}"
    assert summary.accounting_problems == [f"{where}: 1 messages sent but neither received nor lost"]
    lines = summary.lines()
    assert lines[2].endswith(" + 0 in flight at shutdown: NOT accounted for")
    assert lines[3] == f"    {where}: 1 messages sent but neither received nor lost"
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["accounted"] is False
    hop = next(h for h in written["hops"] if (h["from"], h["to"]) == (denominator_host, elb_host))
    assert hop["sent"] - hop["received"] == 1 and hop["lost"] == {}
    assert hop["requests"] == hop["answered"] == TICKS - 1


def test_reconcile_checks_the_entry_equation() -> None:
    accounting = reconcile([], issued=10, ended=8, in_flight=1)
    assert accounting.problems == [
        "entry requests: 1 fewer ended or in flight than were issued (10 issued, 8 ended, 1 in flight)"
    ]
    assert reconcile([], issued=10, ended=9, in_flight=1).ok


def test_reconcile_counts_losses_with_a_reason_as_accounted() -> None:
    hop = Hop(0, 1, sent=10, lost={"dead_instance": 3}, received=7)
    assert reconcile([hop], issued=0, ended=0, in_flight=0).ok
    short = Hop(0, 1, sent=10, lost={"dead_instance": 2}, received=7)
    assert reconcile([short], 0, 0, 0).problems == [
        "host 0 -> host 1: 1 messages sent but neither received nor lost"
    ]
    extra = Hop(0, 1, sent=7, received=8)
    assert reconcile([extra], 0, 0, 0).problems == [
        "host 0 -> host 1: 1 messages received that were never sent"
    ]


def test_reconcile_wants_requests_in_flight_held_by_the_callee() -> None:
    held = Hop(2, 5, sent=4, received=4, requests=4, answered=2, in_flight=2)
    assert reconcile([held], issued=2, ended=0, in_flight=2).ok
    phantom = Hop(2, 5, sent=4, received=4, requests=4, answered=3, in_flight=2)
    assert reconcile([phantom], issued=2, ended=0, in_flight=2).problems == [
        "host 2 -> host 5: 2 requests in flight at shutdown, but host 5 holds 1"
    ]


def test_hops_of_hosts_whose_counts_died_are_not_checked_but_named() -> None:
    broken = Hop(3, 4, sent=5, received=0)
    accounting = reconcile([broken], 0, 0, 0, unchecked_hosts=[4])
    assert accounting.ok and accounting.unchecked_hosts == (4,)


class _DropFirst(deque):  # type: ignore[type-arg]
    """A host's in-process queue that loses the first message put on it, without a word."""

    def __init__(self) -> None:
        super().__init__()
        self.dropped: list[Message] = []

    def append(self, msg: Message) -> None:
        if not self.dropped:
            self.dropped.append(msg)
            return
        super().append(msg)


def test_a_message_lost_between_instances_of_one_host_is_reported_with_its_self_hop(tmp_path: Path) -> None:
    """Packed, most messages never leave their host: the hand-over between two of its instances
    is counted at both ends too, so losing one there is NOT accounted for, with the host named."""
    plan = lamp()
    run = LocalRun(plan, RunConfig(arch=plan.arch, instances_per_host=100, out_dir=tmp_path))

    async def drive() -> RunSummary:
        await run.start()
        database = next(s.name for s in plan.instances if s.service == "rds-mysql")
        host = run.hosts[run.host_of(database)]
        queue = host._local = _DropFirst()
        source = next(s.name for s in plan.instances if s.package == "denominator")
        for _ in range(TICKS):
            run.instance(source).behaviour.tick()  # type: ignore[attr-defined]
            await run.settle()
        for each in run.hosts:  # the lost message's request times out at its caller
            each.expire_due(each.clock() + run.config.request_timeout + 1)
        await run.settle()
        assert len(queue.dropped) == 1
        return summarise(plan, run.config, await run.finish(), 0.0)

    summary = asyncio.run(drive())
    database_host = run.host_of(next(s.name for s in plan.instances if s.service == "rds-mysql"))
    where = f"host {database_host} -> host {database_host} (within the host)"
    assert summary.requests_failed == {"timeout": 1}
    assert summary.accounting_problems == [f"{where}: 1 messages sent but neither received nor lost"]
    lines = summary.lines()
    assert lines[2].endswith(" + 0 in flight at shutdown: NOT accounted for")
    assert lines[3] == f"    {where}: 1 messages sent but neither received nor lost"
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["accounted"] is False
    hop = next(h for h in written["hops"] if h["from"] == h["to"] == database_host)
    assert hop["sent"] - hop["received"] == 1 and hop["lost"] == {}


def test_messages_between_instances_of_one_host_are_in_the_hops_line(tmp_path: Path) -> None:
    plan = lamp()
    run = LocalRun(plan, RunConfig(arch=plan.arch, instances_per_host=100, out_dir=tmp_path))

    async def drive() -> RunSummary:
        await run.start()
        source = next(s.name for s in plan.instances if s.package == "denominator")
        for _ in range(TICKS):
            run.instance(source).behaviour.tick()  # type: ignore[attr-defined]
            await run.settle()
        return summarise(plan, run.config, await run.finish(), 0.0)

    summary = asyncio.run(drive())
    assert summary.accounting_problems == []
    within = [h for h in summary.hops if h["from"] == h["to"]]
    assert within and all(h["sent"] == h["received"] > 0 for h in within)
    sent = sum(h["sent"] for h in summary.hops)
    # every message handed to an instance went over a counted hop, within a host or between two
    assert sent == summary.messages_delivered
    inside = sum(h["sent"] for h in within)
    hops_line = f"  hops: {sent:,} messages sent ({inside:,} within hosts) = {sent:,} received"
    assert summary.lines()[3].startswith(hops_line)
