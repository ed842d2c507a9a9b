"""Circuit breaker transitions as events: the host's bounded log and the supervisor's inbox (no Ray:
a lost poll answer is sent again, a transition sent twice is recorded once), then a whole
in-process run where a dependency failing at 100 % opens its callers' breakers, which half-open
after SLEEP and close on a success, each transition one event."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from nanoservices.architecture import parse_architecture
from nanoservices.config import RunConfig
from nanoservices.plan import expand
from nanoservices.runtime.breaker_events import BreakerInbox, BreakerLog, pop_final
from nanoservices.runtime.local import LocalRun
from nanoservices.runtime.resilience import CLOSED, HALF_OPEN, MIN_REQUESTS, OPEN, SLEEP
from nanoservices.scenario.events import Event, EventKind
from nanoservices.summary import summarise


def logged(log: BreakerLog, count: int, start: int = 0) -> None:
    for i in range(start, start + count):
        log.add(float(i), "app", "v1", f"tiny.r.z.app{i:02d}", "db", CLOSED, OPEN)


def instances(events: list[Event]) -> list[str]:
    return [e.instances[0] for e in events]


def test_a_lost_answer_is_sent_again_and_a_repeat_is_recorded_once() -> None:
    log, inbox = BreakerLog(), BreakerInbox()
    logged(log, 3)
    first = inbox.take(0, log.since(inbox.confirmed(0)))
    assert instances(first) == ["tiny.r.z.app00", "tiny.r.z.app01", "tiny.r.z.app02"]
    logged(log, 2, start=3)
    lost = log.since(inbox.confirmed(0))  # the poll gave up on this answer: nothing is recorded
    assert [t[0] for t in lost] == [4, 5]  # the confirmed three are forgotten on the host
    again = inbox.take(0, log.since(inbox.confirmed(0)))
    assert instances(again) == ["tiny.r.z.app03", "tiny.r.z.app04"]
    logged(log, 1, start=5)
    # The final counts carry everything not yet confirmed; a late poll answer repeats some of it.
    late_poll = log.since(inbox.confirmed(0))
    final = log.since(0)
    assert instances(inbox.take(0, final)) == ["tiny.r.z.app05"]
    assert inbox.take(0, late_poll) == [] and inbox.take(0, final) == []
    assert log.since(inbox.confirmed(0)) == []


def test_hosts_are_numbered_apart() -> None:
    a, b, inbox = BreakerLog(), BreakerLog(), BreakerInbox()
    logged(a, 2)
    logged(b, 1)
    assert len(inbox.take(0, a.since(0))) == 2
    assert len(inbox.take(1, b.since(0))) == 1  # its number 1 is not host 0's number 1
    assert (inbox.confirmed(0), inbox.confirmed(1)) == (2, 1)


def test_beyond_the_limit_transitions_are_counted_as_dropped_until_some_are_confirmed() -> None:
    log, inbox = BreakerLog(limit=3), BreakerInbox()
    logged(log, 5)
    assert log.dropped == 2
    assert [e.at for e in inbox.take(0, log.since(0))] == [0.0, 1.0, 2.0]
    assert log.since(inbox.confirmed(0)) == []  # the next poll says they are recorded: room for three
    logged(log, 4, start=5)
    assert [e.at for e in inbox.take(0, log.since(inbox.confirmed(0)))] == [5.0, 6.0, 7.0]
    assert log.dropped == 3


def test_the_event_line() -> None:
    log, inbox = BreakerLog(), BreakerInbox()
    log.add(12.5, "zuul", "v2", "netflixoss.us-east-1.zoneA.zuul00", "karyon", HALF_OPEN, CLOSED)
    (event,) = inbox.take(3, log.since(0))
    assert event.to_json_line() == (
        '{"at":12.5,"kind":"breaker-closed","service":"zuul","versions":["v2"],'
        '"instances":["netflixoss.us-east-1.zoneA.zuul00"],"dependency":"karyon","from":"half_open","to":"closed"}'
    )
    assert Event.from_json_line(event.to_json_line()) == event


def test_pop_final_leaves_counts_that_sum() -> None:
    counts: dict[str, object] = {"retries": 1, "breaker_events": (4, [])}
    assert pop_final(counts) == (4, []) and counts == {"retries": 1}
    assert pop_final(counts) == (-1, [])


TINY = [
    {"name": "db", "package": "store", "count": 1, "regions": 1, "errors": 1.0},
    {"name": "app", "package": "karyon", "count": 1, "regions": 1, "dependencies": ["db"]},
    {"name": "www", "package": "denominator", "count": 0, "dependencies": ["app"]},
]
T0 = 100.0  # the hosts' clock when the traffic starts: events are seconds since then


def test_a_failing_dependency_opens_its_callers_breakers_then_half_open_and_closed_once_each(
    tmp_path: Path,
) -> None:
    plan = expand(parse_architecture(json.dumps({"services": TINY}), "tiny_arch.json", "tiny"))
    clock = [T0]
    name = {s.service: s.name for s in plan.instances}

    async def scenario() -> tuple[list[Event], list[int], dict[str, Any]]:
        run = LocalRun(plan, RunConfig(arch=plan.arch, out_dir=tmp_path), clock=lambda: clock[0])
        await run.start()
        new = []

        async def tick(times: int) -> None:
            for _ in range(times):
                run.instance(name["www"]).behaviour.tick()  # type: ignore[attr-defined]
                await run.settle()

        def roll() -> None:
            for host in run.hosts:
                host.expire_due(clock[0])

        roll()  # the breakers' windows start now
        await tick(MIN_REQUESTS + 5)  # both breakers open at the 20th failure
        new.append(run.collect_breakers())
        new.append(run.collect_breakers())  # a second poll: nothing new
        run.instance(name["db"]).set_profile(None)  # db recovers
        clock[0] += SLEEP
        roll()  # half-open
        await tick(3)  # the first request is the trial: it succeeds and closes both
        result = await run.finish()  # the rest arrive with the final counts
        return run.events, new, result

    events, new, result = asyncio.run(scenario())
    summary = summarise(plan, RunConfig(arch=plan.arch, out_dir=tmp_path), result, 0.0)

    def event(at: float, caller: str, dependency: str, old: str, state: str) -> Event:
        kind = EventKind(f"breaker-{state.replace('_', '-')}")
        details = {"dependency": dependency, "from": old, "to": state}
        return Event(at, kind, caller, ("v1",), (name[caller],), details)

    # The poll brought both openings; the final counts the rest, host by host.
    assert new == [2, 0] and len(events) == 6
    assert sorted(events[:2], key=lambda e: e.service) == [
        event(0.0, "app", "db", CLOSED, OPEN),
        event(0.0, "www", "app", CLOSED, OPEN),
    ]
    for caller, dependency in (("app", "db"), ("www", "app")):
        assert [e for e in events[2:] if e.service == caller] == [
            event(SLEEP, caller, dependency, OPEN, HALF_OPEN),
            event(SLEEP, caller, dependency, HALF_OPEN, CLOSED),
        ]
    assert summary.clients["breaker_changes"] == {OPEN: 2, HALF_OPEN: 2, CLOSED: 2}
    assert summary.clients["breaker_events_dropped"] == 0
    assert summary.requests_failed == {"error": MIN_REQUESTS, "short_circuited": 5}
