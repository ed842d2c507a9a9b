"""Ground truth of effects: an incident's end event (a kill's `chaos-effects` event at the run's end)
carries the trace ids of the first requests it slowed or failed, and how many it affected in all.

Seeded in-process runs of netflixoss on simulated time (LocalRun, no Ray), traced on the fast span
path into memory. Each sampled id is checked against the spans themselves: the trace must hold the
slowed SERVER span, the failed one, or the failed call, as the incident implies.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from opentelemetry.trace import SpanKind

from nanoservices.architecture import load_architecture
from nanoservices.config import RunConfig
from nanoservices.messages import Status
from nanoservices.plan import DeploymentPlan, InstanceSpec, expand
from nanoservices.runtime.affected import SAMPLE_SIZE, Affected, merge
from nanoservices.runtime.host import HostCore, HostSetup
from nanoservices.runtime.local import LocalRun
from nanoservices.scenario.events import Event, EventKind
from nanoservices.scenario.validate import parse_scenario
from nanoservices.tracing.ids import IdSource
from nanoservices.tracing.records import FastSpans, InstanceBlock

ARCHITECTURES = Path(__file__).resolve().parents[1] / "architectures"
DURATION = 10.0
# (service, fast span record: trace id, span id, parent id, start, operation, retry, end, outcome)
Span = tuple[str, list[Any]]


class MemorySpans:
    """A host's tracing on the fast path, its records kept in memory with their service."""

    def __init__(self) -> None:
        self.spans: list[Span] = []

    def spans_for(self, spec: InstanceSpec, seed: int, ip_of: Callable[[str], str]) -> FastSpans:
        block = InstanceBlock(spec, {"service.name": spec.service}, "test")
        return FastSpans(
            block, IdSource(seed, spec.name), lambda span: self.spans.append((spec.service, span)), ip_of
        )


def netflixoss() -> DeploymentPlan:
    return expand(load_architecture(ARCHITECTURES / "netflixoss_arch.json"), 100, 1)


def play(timeline: str, out: Path, traced: bool = True) -> tuple[list[Event], list[Span]]:
    """A seeded packed run of the timeline; every event and every span."""
    plan = netflixoss()
    memory = MemorySpans()

    class TracedRun(LocalRun):
        def _host(self, setup: HostSetup) -> HostCore:
            return HostCore(setup, tracing=memory if traced else None, clock=self._clock or time.time)

    config = RunConfig(
        arch="netflixoss", seed=3, rate=20.0, duration=DURATION, instances_per_host=100, out_dir=out
    )
    run = TracedRun(plan, config, scenario=parse_scenario(timeline, "test.yaml", plan, DURATION))
    asyncio.run(run.run())
    return run.events, memory.spans


def only(events: list[Event], kind: EventKind) -> Event:
    found = [e for e in events if e.kind is kind]
    assert len(found) == 1, found
    return found[0]


def traces(spans: list[Span], keep: Callable[[str, list[Any]], bool]) -> set[str]:
    return {span[0] for service, span in spans if keep(service, span)}


def test_merge_keeps_the_first_distinct_traces_by_time_and_sums_the_counts() -> None:
    one, two = Affected(), Affected()
    for i in range(30):
        one.add(f"00-{i:032x}-{0:016x}-01", at=2.0 * i)
    two.add(f"00-{1:032x}-{0:016x}-01", at=0.5)  # a trace the other host saw too
    two.add(f"00-{99:032x}-{0:016x}-01", at=1.0)
    two.add("", at=0.1)  # untraced: counted, no id
    merged = merge([one.sample(), two.sample()])
    assert merged["affected"] == 33
    assert len(one.traces) == SAMPLE_SIZE
    assert merged["trace_ids"] == [
        f"{0:032x}",
        f"{1:032x}",
        f"{99:032x}",
        *(f"{i:032x}" for i in range(2, 19)),
    ]


def test_a_latency_incident_samples_traces_whose_spans_show_the_slowed_service(tmp_path: Path) -> None:
    """On simulated time the added latency passes within a tick, so a span does not show it; what it
    shows is when the subscriber (staash) got the request: every request it got while the incident
    was in force was served by the incident's profile, so slowed."""
    events, spans = play(
        "timeline:\n  - at: 2s\n    for: 3s\n    latency: {package: staash, add: 5ms}\n", tmp_path
    )
    start, end = only(events, EventKind.INCIDENT_START), only(events, EventKind.INCIDENT_END)
    assert "trace_ids" not in start.details  # the start knows nothing yet
    served = [
        r
        for s, r in spans
        if s == "subscriber" and r[4].kind is SpanKind.SERVER and start.at <= r[3] < end.at
    ]
    ids = end.details["trace_ids"]
    assert len(ids) == SAMPLE_SIZE == len(set(ids))
    assert set(ids) <= {r[0] for r in served}
    assert end.details["affected"] == len(served)
    assert all(len(i) == 32 for i in ids)  # the exported ids, as hex


def test_an_error_incident_samples_exactly_the_requests_it_failed(tmp_path: Path) -> None:
    """An error span of cassSubscriber is the incident's own draw unless it relays a failure from a
    call it made (a replica's error): those have a failed child span."""
    events, spans = play(
        "timeline:\n  - at: 2s\n    for: 3s\n    errors: {service: cassSubscriber, rate: 0.3}\n", tmp_path
    )
    end = only(events, EventKind.INCIDENT_END)
    failed_below = {r[2] for _, r in spans if r[7] is Status.ERROR}  # parents of a failed span
    drawn = [
        r
        for s, r in spans
        if s == "cassSubscriber"
        and r[4].kind is SpanKind.SERVER
        and r[7] is Status.ERROR
        and r[1] not in failed_below
    ]
    assert drawn
    assert end.details["affected"] == len(drawn)
    assert set(end.details["trace_ids"]) <= {r[0] for r in drawn}
    assert len(end.details["trace_ids"]) == min(SAMPLE_SIZE, len({r[0] for r in drawn}))


def test_a_partition_samples_the_requests_that_failed_across_it(tmp_path: Path) -> None:
    events, spans = play(
        "timeline:\n  - at: 2s\n    for: 3s\n    partition: [us-east-1/zoneA, us-east-1/zoneC]\n", tmp_path
    )
    start, end = only(events, EventKind.PARTITION_START), only(events, EventKind.PARTITION_END)
    assert "trace_ids" not in start.details
    ids = end.details["trace_ids"]
    timed_out = traces(spans, lambda s, r: r[4].kind is SpanKind.CLIENT and r[7] is Status.TIMEOUT)
    assert ids and set(ids) <= timed_out
    assert end.details["affected"] >= len(ids)


def test_an_incident_that_affects_nothing_carries_an_empty_sample(tmp_path: Path) -> None:
    events, _ = play("timeline:\n  - at: 2s\n    for: 3s\n    latency: {service: www, add: 5ms}\n", tmp_path)
    end = only(events, EventKind.INCIDENT_END)
    assert end.details["affected"] == 0
    assert end.details["trace_ids"] == []


def test_an_untraced_run_counts_what_an_incident_affected_without_ids(tmp_path: Path) -> None:
    events, spans = play(
        "timeline:\n  - at: 2s\n    for: 3s\n    latency: {package: staash, add: 5ms}\n",
        tmp_path,
        traced=False,
    )
    end = only(events, EventKind.INCIDENT_END)
    assert not spans
    assert end.details["affected"] >= SAMPLE_SIZE and end.details["trace_ids"] == []


def test_kills_tell_their_effects_at_the_run_end(tmp_path: Path) -> None:
    timeline = (
        "timeline:\n  - at: 2s\n    gorilla: us-east-1/zoneB\n  - at: 3s\n    monkey: {service: homepage}\n"
    )
    events, spans = play(timeline, tmp_path)
    effects = {str(e.details["of"]): e for e in events if e.kind is EventKind.CHAOS_EFFECTS}
    assert set(effects) == {"gorilla", "chaos-monkey"}
    assert events.index(effects["gorilla"]) > events.index(only(events, EventKind.GORILLA))
    gone = {Status.DEAD_INSTANCE: "gorilla", Status.STOPPED: "chaos-monkey"}
    for status, of in gone.items():
        failed = traces(spans, lambda s, r, status=status: r[4].kind is SpanKind.CLIENT and r[7] is status)
        ids = effects[of].details["trace_ids"]
        assert ids and set(ids) <= failed, of
        assert effects[of].details["affected"] >= len(ids)
    monkey = only(events, EventKind.CHAOS_MONKEY)
    assert effects["chaos-monkey"].instances == monkey.instances
    assert effects["chaos-monkey"].details["killed_at"] == monkey.at
