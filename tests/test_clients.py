"""Clients that cope, in-process on a clock that stands still: a killed server's callers retry on
the next server, black it out after 3 failures, and time out each dependency on its own timeout.
Success with retries is checked against the same scripted kill with --retries 0."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Tracer

from nanoservices.architecture import load_architecture, parse_architecture
from nanoservices.config import RunConfig
from nanoservices.messages import Status
from nanoservices.packages.base import BehaviourSettings
from nanoservices.plan import InstanceSpec, expand
from nanoservices.runtime.host import HostCore, HostSetup
from nanoservices.runtime.local import LocalRun
from nanoservices.runtime.resilience import BLACKOUT_AFTER, MIN_REQUESTS, SLEEP
from nanoservices.runtime.stats import add_stats
from nanoservices.summary import RunSummary, summarise

ARCHITECTURES = Path(__file__).resolve().parents[1] / "architectures"
TICKS = 300


async def killed_run(
    retries: int, run_class: type[LocalRun] = LocalRun
) -> tuple[LocalRun, set[str], RunSummary]:
    """netflixoss at one instance per host; a homepage instance is killed after 20 ticks and stays
    registered (its lease has not expired: time stands still)."""
    plan = expand(load_architecture(ARCHITECTURES / "netflixoss_arch.json"), 100, 1)
    victim = sorted(s.name for s in plan.instances if s.service == "homepage")[0]
    run = run_class(plan, RunConfig(arch=plan.arch, retries=retries, seed=7), clock=lambda: 5000.0)
    await run.start()
    sources = [s.name for s in plan.instances if s.package == "denominator"]

    async def tick(times: int) -> None:
        for _ in range(times):
            for name in sources:
                run.instance(name).behaviour.tick()  # type: ignore[attr-defined]
            await run.settle()

    await tick(20)
    await run.chaos_kill(victim)
    callers = {
        name
        for i, host in enumerate(run.hosts)
        if i not in run.peers.dead
        for name, instance in host.instances.items()
        if victim in instance.routes
    }
    await tick(TICKS - 20)
    return run, callers, summarise(plan, run.config, await run.finish(), 0.0)


def test_retries_on_the_next_server_turn_a_dead_servers_failures_into_successes() -> None:
    _, callers, without = asyncio.run(killed_run(retries=0))
    _, callers_again, with_retry = asyncio.run(killed_run(retries=1))
    assert callers == callers_again and len(callers) > 1
    # Each caller tries the dead server until its third consecutive failure blacks it out.
    tries = BLACKOUT_AFTER * len(callers)
    assert without.requests_failed == {"dead_instance": tries}
    assert without.requests_completed == TICKS - tries
    assert with_retry.requests_failed == {}
    assert with_retry.requests_completed == TICKS
    for summary in (without, with_retry):
        assert summary.requests_issued == TICKS  # a retried request is still one entry request
        assert summary.accounted, summary.accounting_problems
    n = len(callers)
    assert [line for line in with_retry.lines() if line.startswith("  clients: ")] == [
        f"  clients: {tries} retries on the next server (--retries 1), {n} servers blacked out, "
        "breaker changes: none"
    ]
    assert with_retry.clients["retries"] == tries and without.clients["retries"] == 0
    # Only the dead server's own callers black it out: their callers got the failure relayed, an
    # error answer from a live server, and neither retry nor black that server out.
    assert without.clients["blackouts"] == with_retry.clients["blackouts"] == n


def test_each_caller_blacks_out_the_dead_server_after_3_failures_and_retries_only_those() -> None:
    run, callers, _ = asyncio.run(killed_run(retries=1))
    stats: dict[str, Any] = {}
    for i, host in enumerate(run.hosts):
        if i not in run.peers.dead:
            add_stats(stats, host.counts())
    assert stats["blackouts"] == len(callers)
    assert stats["retries"] == BLACKOUT_AFTER * len(callers)
    assert stats["breaker_changes"] == {}


EXPORTER = InMemorySpanExporter()


class MemoryTracing:
    """HostTracing into one in-memory exporter, for every host of the run."""

    def __init__(self) -> None:
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(EXPORTER))

    def tracer_for(self, spec: InstanceSpec) -> Tracer:
        return self.provider.get_tracer(spec.name)


class TracedRun(LocalRun):
    tracing = MemoryTracing()

    def _host(self, setup: HostSetup) -> HostCore:
        assert self._clock is not None
        return HostCore(setup, tracing=self.tracing, clock=self._clock)


def test_each_retry_is_its_own_client_span_marked_as_a_retry() -> None:
    EXPORTER.clear()
    _, callers, summary = asyncio.run(killed_run(retries=1, run_class=TracedRun))
    finished = EXPORTER.get_finished_spans()
    retried = [s for s in finished if (s.attributes or {}).get("nanoservices.retry") is True]
    assert len(retried) == summary.clients["retries"] == BLACKOUT_AFTER * len(callers)
    assert {s.kind for s in retried} == {SpanKind.CLIENT}
    assert {(s.attributes or {}).get("peer.service") for s in retried} == {"homepage"}
    # Every retry follows a failed try under the same parent: the trace shows both hops.
    failed_tries = [
        s
        for s in finished
        if s.kind == SpanKind.CLIENT and (s.attributes or {}).get("error.type") == "dead_instance"
    ]
    assert sorted(s.parent.span_id for s in failed_tries if s.parent) == sorted(
        s.parent.span_id for s in retried if s.parent
    )
    assert len(failed_tries) == len(retried)


class Resolved:
    """Stands in for an instance: records what the host times out, in order."""

    def __init__(self, log: list[tuple[str, int]], name: str) -> None:
        self.log, self.name = log, name

    def resolve(self, request_id: int, status: Status, payload: str) -> None:
        self.log.append((self.name, request_id))

    def roll_breakers(self, now: float) -> None:
        pass


def test_per_dependency_timeouts_expire_earliest_deadline_first() -> None:
    setup = HostSetup(0, [], [], BehaviourSettings(request_interval=0.01), 1, 2.0, timeouts=(("db", 0.5),))
    host = HostCore(setup, clock=lambda: 0.0)
    log: list[tuple[str, int]] = []
    slow, fast = Resolved(log, "slow"), Resolved(log, "fast")
    expire: Callable[..., None] = host.expire_at  # takes the stand-ins as instances
    expire(2.0, 2.0, slow, 1)  # sent at 0 with the 2 s default
    expire(0.5, 1.5, fast, 2)  # sent at 1 to db, 0.5 s
    expire(2.0, 3.0, slow, 3)  # sent at 1
    expire(0.5, 1.7, fast, 4)  # sent at 1.2
    host.expire_due(1.6)
    assert log == [("fast", 2)]
    host.expire_due(10.0)
    assert log == [("fast", 2), ("fast", 4), ("slow", 1), ("slow", 3)]


def test_breakers_open_on_errors_half_open_after_5s_and_close_when_the_trial_succeeds() -> None:
    services = [
        {"name": "db", "package": "store", "count": 1, "regions": 1, "errors": 1.0},
        {"name": "app", "package": "karyon", "count": 1, "regions": 1, "dependencies": ["db"]},
        {"name": "www", "package": "denominator", "count": 0, "dependencies": ["app"]},
    ]
    plan = expand(parse_architecture(json.dumps({"services": services}), "tiny_arch.json", "tiny"))
    clock = [100.0]

    async def scenario() -> list[tuple[dict[str, int], dict[str, int]]]:
        run = LocalRun(plan, RunConfig(arch=plan.arch), clock=lambda: clock[0])
        await run.start()
        source = next(s.name for s in plan.instances if s.package == "denominator")
        seen = []

        async def tick(times: int) -> None:
            for _ in range(times):
                run.instance(source).behaviour.tick()  # type: ignore[attr-defined]
                await run.settle()
            stats: dict[str, Any] = {}
            for host in run.hosts:
                add_stats(stats, host.counts())
            seen.append((dict(stats["requests_failed"]), dict(stats["breaker_changes"])))

        for host in run.hosts:
            host.expire_due(clock[0])  # the breakers' windows start now
        await tick(MIN_REQUESTS + 10)  # every request fails: both callers' breakers open at the 20th
        for spec in plan.instances:
            if spec.service == "db":
                run.instance(spec.name).set_profile(None)  # db recovers
        clock[0] += SLEEP - 0.1
        for host in run.hosts:
            host.expire_due(clock[0])
        await tick(5)  # still open: failing fast
        clock[0] += 0.1
        for host in run.hosts:
            host.expire_due(clock[0])  # 5 s open: half-open
        await tick(5)  # the first is the trial; it succeeds and closes both
        return seen

    seen = asyncio.run(scenario())
    assert seen == [
        ({"error": MIN_REQUESTS, "short_circuited": 10}, {"open": 2}),
        ({"error": MIN_REQUESTS, "short_circuited": 15}, {"open": 2}),
        ({"error": MIN_REQUESTS, "short_circuited": 15}, {"open": 2, "half_open": 2, "closed": 2}),
    ]


def test_every_outcome_ends_a_span_with_an_http_status() -> None:
    """A status without one raised inside a host's deliver, and the sender counted the batch lost."""
    from nanoservices.runtime import spans

    EXPORTER.clear()
    tracer = MemoryTracing().provider.get_tracer("t")
    for status in Status:
        spans.end(tracer.start_span(status.name), status, True)
    ended = {s.name: (s.attributes or {})["http.response.status_code"] for s in EXPORTER.get_finished_spans()}
    assert sorted(ended) == sorted(s.name for s in Status)
    assert {name for name, code in ended.items() if code == 200} == {"OK"}


def test_a_failure_relayed_from_further_down_is_an_error_answer_not_a_reason_to_retry() -> None:
    """tiny: elb -> proxy (one per zone, zone-local) -> app. With zoneB's app dead, zoneB's proxy
    has no next server; elb gets dead_instance relayed by a live proxy, and neither retries on
    another proxy nor blacks the live one out."""
    plan = expand(load_architecture(Path(__file__).parent / "data" / "arch" / "tiny_arch.json"))
    victim = next(s.name for s in plan.instances if s.service == "app" and s.zone == "zoneB")

    async def scenario() -> dict[str, Any]:
        run = LocalRun(plan, RunConfig(arch=plan.arch, retries=1), clock=lambda: 5000.0)
        await run.start()
        source = next(s.name for s in plan.instances if s.package == "denominator")
        await run.chaos_kill(victim)
        for _ in range(60):
            run.instance(source).behaviour.tick()  # type: ignore[attr-defined]
            await run.settle()
        stats: dict[str, Any] = {}
        for i, host in enumerate(run.hosts):
            if i not in run.peers.dead:
                add_stats(stats, host.counts())
        return stats

    stats = asyncio.run(scenario())
    failed = stats["requests_failed"]["dead_instance"]
    assert failed > BLACKOUT_AFTER  # zoneB's proxy keeps failing: it has nobody else to send to
    assert stats["retries"] == 0 and stats["blackouts"] == 1  # the proxy blacks out the dead app only
    assert stats["requests_completed"] + failed == 60


@pytest.mark.parametrize("timeouts", [(), (("db", 0.5),)])
def test_the_timeout_loop_starts_and_keeps_running(timeouts: tuple[tuple[str, float], ...]) -> None:
    """A loop that raised at once would leave every request of a Ray run without a timeout."""
    setup = HostSetup(0, [], [], BehaviourSettings(request_interval=0.01), 1, 2.0, timeouts=timeouts)

    async def scenario() -> list[bool]:
        host = HostCore(setup)
        host.start_instances(1.0)
        for _ in range(3):
            await asyncio.sleep(0)  # a few loop turns: each task runs up to its first sleep
        running = [not task.done() for task in host._background]
        await host.stop_all()
        return running

    assert asyncio.run(scenario()) == [True, True]  # the timeout loop, and the lag probe (runtime/lag.py)
