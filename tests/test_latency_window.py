"""A latency incident on staash (netflixoss's `subscriber`) shows in its SERVER spans and in the
per-second series for exactly its window. In process, traced into memory, on virtual time
(support/virtual_time.py): a 200 ms service time takes no wall time and every duration is exact.

"Exactly its window" is by arrival: a request the staash instance received at or after the
incident-start event's `at` and before the incident-end event's `at` is served with the added
latency, every other request without it, whenever its own calls downstream answer. So a span
that starts just before the start (its cache read still out when the incident begins) is fast,
and one that starts just before the end is slow though it ends after it. The series counts a
reply in the second it was made: the seconds holding slow replies are those in which the
window's requests were answered, and no other.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Tracer

from nanoservices.architecture import parse_architecture
from nanoservices.config import RunConfig
from nanoservices.outputs import histogram
from nanoservices.outputs.series import series_rows
from nanoservices.plan import DeploymentPlan, InstanceSpec, expand
from nanoservices.runtime.host import HostCore, HostSetup
from nanoservices.runtime.local import LocalFleet, LocalRun
from nanoservices.scenario.asgard import Asgard
from nanoservices.scenario.events import Event, EventKind
from nanoservices.scenario.simian import Simian
from nanoservices.scenario.timeline import run_timeline
from nanoservices.scenario.validate import parse_scenario
from support import virtual_time

ARCHITECTURES = Path(__file__).resolve().parents[1] / "architectures"
STORAGE = 0.0625  # the service time of staash's storage (evcache, cassandra): its requests wait for it
ADD = 0.2
RATE = 16.0  # requests/s: arrivals on a 62.5 ms grid, which the window's edges (2.1 s, 4.1 s) miss
DURATION = 6.0
TIMELINE = """
timeline:
  - at: 2.1s
    for: 2s
    latency: {service: subscriber, add: 200ms}
"""


def netflixoss_with_slow_storage() -> DeploymentPlan:
    document = json.loads((ARCHITECTURES / "netflixoss_arch.json").read_text())
    for service in document["services"]:
        if service["name"] in ("evcacheSubscriber", "cassSubscriber"):
            service["latency"] = f"{STORAGE * 1000}ms"
    return expand(parse_architecture(json.dumps(document), "netflixoss_arch.json", "netflixoss"), 100, 1)


class MemoryTracing:
    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(exporter))

    def tracer_for(self, spec: InstanceSpec) -> Tracer:
        return self.provider.get_tracer(spec.name)


class TracedRun(LocalRun):
    exporter = InMemorySpanExporter()

    def _host(self, setup: HostSetup) -> HostCore:
        return HostCore(setup, tracing=MemoryTracing(self.exporter), clock=virtual_time.clock)


class VirtualFleet(LocalFleet):
    """LocalFleet on the loop's (virtual) clock: the hosts' own traffic timers tick, waiting is sleeping."""

    def clock(self) -> float:
        return virtual_time.clock()

    def now(self) -> float:
        return self.clock() - self.run.started_at

    async def wait(self, seconds: float) -> bool:
        await asyncio.sleep(max(seconds, 0.0))
        return True


def play() -> tuple[TracedRun, list[Event], dict[str, object]]:
    plan = netflixoss_with_slow_storage()

    async def main() -> tuple[TracedRun, list[Event], dict[str, object]]:
        config = RunConfig(arch=plan.arch, instances_per_host=10, rate=RATE, request_timeout=60)
        run = TracedRun(plan, config)
        fleet = VirtualFleet(run)
        scenario = parse_scenario(TIMELINE, "test.yaml", plan, DURATION)
        await run.start(traffic_timers=True)
        await run_timeline(scenario, Asgard.of_plan(fleet, plan.instances), fleet, Simian(fleet))
        await fleet.wait(DURATION - fleet.now())
        for host in run.hosts:
            host.stop_traffic()
        await run.settle()
        return run, fleet.events, await run.finish()

    TracedRun.exporter.clear()
    return virtual_time.run(main())


def test_a_latency_incident_on_staash_shows_in_span_durations_and_the_series_for_exactly_its_window() -> None:
    run, events, result = play()
    (start,) = [e.at for e in events if e.kind is EventKind.INCIDENT_START]
    (end,) = [e.at for e in events if e.kind is EventKind.INCIDENT_END]
    assert (round(start, 6), round(end, 6)) == (2.1, 4.1)  # as events.jsonl writes them
    staash = {s.name for s in run.plan.instances if s.package == "staash"}
    t0 = run.started_at

    finished = TracedRun.exporter.get_finished_spans()
    last_call: dict[int, float] = {}  # SERVER span id -> when the last call it made answered
    for span in finished:
        if span.kind is SpanKind.CLIENT and span.parent is not None and span.end_time is not None:
            parent = span.parent.span_id
            last_call[parent] = max(last_call.get(parent, 0.0), span.end_time / 1e9 - t0)

    def when(span: ReadableSpan) -> tuple[float, float, float]:
        """Start and end, and its own time: from the last answer of its calls to its reply."""
        assert span.start_time is not None and span.end_time is not None
        end = span.end_time / 1e9 - t0
        return span.start_time / 1e9 - t0, end, end - last_call[span.context.span_id]

    served = [
        when(s)
        for s in finished
        if s.kind is SpanKind.SERVER
        and s.instrumentation_scope is not None
        and s.instrumentation_scope.name in staash
    ]
    inside = [(a, b, own) for a, b, own in served if start <= a < end]
    outside = [(a, b, own) for a, b, own in served if not start <= a < end]
    assert len(inside) > 0 and len(outside) > len(inside)
    assert all(own >= ADD for _, _, own in inside)  # 200 ms more than its normal time...
    assert all(own == 0.0 for _, _, own in outside)  # ...which is nothing beyond its calls
    assert all(STORAGE <= b - a < STORAGE + ADD for a, b, _ in outside)
    # The boundary cases happened: started before the start and still out at it; started inside
    # and ended after the end.
    assert any(a < start < b for a, b, _ in outside) and any(a < end < b for a, b, _ in inside)

    slow = (STORAGE + ADD) * (1 - histogram.RELATIVE_ERROR)
    slow_seconds, all_seconds = set(), set()
    for second, service, _version, _zone, row in series_rows(result.stats["series"]):  # type: ignore[index]
        if service == "subscriber":
            all_seconds.add(second)
            if any(histogram.upper_bound(int(b)) >= slow for b in row["h"]):
                slow_seconds.add(second)
    assert slow_seconds == {int(b) for _, b, _ in inside} == {2, 3, 4}
    assert all_seconds == {int(b) for _, b, _ in served}  # the series counts what the spans show
