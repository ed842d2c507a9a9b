"""The bulk paths of a 100,000-pirate run, kept exact: records packed for Edda, graph.json from
rows, capped batches between hosts, and the timer that drives every ticker."""

from __future__ import annotations

import asyncio
import io
from typing import Any

from nanoservices.builtin import FSM
from nanoservices.catalog import resolve_plan
from nanoservices.config import RunConfig
from nanoservices.messages import Kind
from nanoservices.outputs.graph_json import graph_json_text, write_rows
from nanoservices.outputs.record_rows import pack_records, record_row, row_record, unpack_rows
from nanoservices.outputs.records import DoneRecord, EdgeRecord, ExitReason, ForgetRecord, NodeRecord
from nanoservices.runtime.host import MAX_BATCH
from nanoservices.runtime.local import LocalRun
from nanoservices.runtime.ticker import MAX_BURST, Ticker
from nanoservices.summary import summarise

A = "fsm.us-east-1.zoneA..pirate1...pirate.pirate"
B = "fsm.us-east-1.zoneB..pirate2...pirate.pirate"
RECORDS = [
    NodeRecord(A, "pirate", "54.198.0.1", 10.5),
    NodeRecord(B, "pirate", "54.198.0.2", 10.5),
    EdgeRecord(A, B, 11.25),
    EdgeRecord(A, B, 11.5),  # already live: edda logs it once
    ForgetRecord(A, B, 12.0),
    DoneRecord(A, ExitReason.CHAOS, 13.0),
    DoneRecord(B, ExitReason.NORMAL, 14.0),
]


def test_records_packed_for_edda_come_back_as_the_same_records() -> None:
    rows = unpack_rows(pack_records(RECORDS))
    assert [row_record(row) for row in rows] == RECORDS
    assert [tuple(row) for row in rows] == [record_row(r) for r in RECORDS]


def test_graph_json_from_packed_rows_is_the_file_the_records_make() -> None:
    out = io.StringIO()
    counts = write_rows(out, "fsm", ("spigo", "-a", "fsm"), unpack_rows(pack_records(RECORDS)))
    assert out.getvalue() == graph_json_text("fsm", ("spigo", "-a", "fsm"), RECORDS)
    assert counts == {"nodes": 2, "edges": 1, "forgets": 1, "done": 2}


def test_a_burst_of_messages_to_another_host_leaves_in_frames_of_at_most_max_batch() -> None:
    plan = resolve_plan(FSM, 2)
    run = LocalRun(plan, RunConfig(arch=FSM, scale=2, instances_per_host=1, out_dir=None))
    sender, receiver = (s.name for s in plan.instances)
    sent = 2 * MAX_BATCH + 1

    async def drive() -> Any:
        await run.start()
        source = run.instance(sender)
        for _ in range(sent):  # in one turn: all wait in the outbox for the first pump
            source.send(receiver, Kind.GOLD_COIN, "1")
        await run.settle()
        return await run.finish()

    result = asyncio.run(drive())
    host = run.host_of(sender)
    summary = summarise(plan, run.config, result, 0.0)
    assert summary.accounting_problems == []
    assert summary.batches == 3  # MAX_BATCH, MAX_BATCH, 1
    hop = next(h for h in summary.hops if h["from"] == host and h["to"] != host)
    assert hop["sent"] == hop["received"] == sent
    assert run.instance(receiver).behaviour.gold == sent  # type: ignore[attr-defined]


class FakeLoop:
    """Just what a Ticker asks of its loop: the time, and when to call it next."""

    def __init__(self) -> None:
        self.now = 0.0
        self.calls: list[float] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, _callback: object) -> FakeLoop:
        self.calls.append(when)
        return self  # the handle: nothing in these tests cancels it

    def cancel(self) -> None:
        pass


def ticker_on(loop: FakeLoop, interval: float, limit: int = 0) -> tuple[Ticker, list[float], Any]:
    """A Ticker of a running traffic source (a LocalRun denominator), on a fake loop's clock."""
    plan = resolve_plan("lamp", 100)
    run = LocalRun(plan, RunConfig(arch="lamp", instances_per_host=100, out_dir=None))
    instance = run.instance(next(s.name for s in plan.instances if s.package == "denominator"))
    instance.running = True
    ticks: list[float] = []
    ticker = object.__new__(Ticker)
    ticker._instance, ticker._interval, ticker._limit = instance, interval, limit
    ticker._tick = lambda: ticks.append(loop.now)
    ticker._loop = loop  # type: ignore[assignment]
    ticker._begin()
    return ticker, ticks, run.hosts[run.host_of(instance.name)].stats


def test_a_ticker_starts_its_clock_when_the_loop_gets_to_it_and_catches_up_in_bursts() -> None:
    loop = FakeLoop()
    loop.now = 5.0
    ticker, ticks, stats = ticker_on(loop, 0.25)
    assert loop.calls == [5.25]  # one interval after it began, not after it was asked for
    loop.now = 5.25
    ticker._fire()
    assert ticks == [5.25] and loop.calls[-1] == 5.5
    loop.now = 6.5  # five ticks due (5.5 to 6.5): they run back to back, then it is back on its beat
    ticker._fire()
    assert len(ticks) == 6 and loop.calls[-1] == 6.75
    assert stats.ticks_skipped == 0


def test_a_ticker_skips_and_counts_a_backlog_beyond_max_burst() -> None:
    loop = FakeLoop()
    ticker, ticks, stats = ticker_on(loop, 0.125)
    loop.now = 0.125 * (MAX_BURST + 10)  # MAX_BURST + 10 ticks due
    ticker._fire()
    assert len(ticks) == MAX_BURST
    assert stats.ticks_skipped == 10
