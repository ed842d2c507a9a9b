"""The event bus and its listeners: every event reaches every listener in order; a listener that
raises neither stops the others nor the run and is counted; close closes each once; the progress
lines leave out the summarised kinds; the event spans are counted. No Ray."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nanoservices.scenario.events import (
    BREAKER_KINDS,
    EVENTS_FILE,
    Event,
    EventBus,
    EventKind,
    EventLog,
    ProgressLines,
    console_line,
    read_events,
)
from nanoservices.tracing.event_spans import EventSpans
from nanoservices.tracing.settings import TracingSettings

DEPLOY = Event(1.5, EventKind.DEPLOY_START, "homepage", ("v1", "v2"))
BREAKER = Event(2.0, EventKind.BREAKER_OPEN, "homepage", details={"to": "open"})
KONG = Event(3.0, EventKind.KONG, "", (), ("a.b",), {"location": "us-east-1", "hosts": 1})


class Broken:
    """A listener whose sink fails: every event and its close raise."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, event: Event) -> None:
        self.calls += 1
        raise OSError("disk full")

    def close(self) -> None:
        raise OSError("cannot close")


def test_every_listener_gets_every_event_in_order_subscribed_ones_too() -> None:
    seen: list[tuple[str, EventKind]] = []
    bus = EventBus([lambda e: seen.append(("first", e.kind))])
    bus.subscribe(lambda e: seen.append(("second", e.kind)))
    for event in (DEPLOY, KONG):
        bus.emit(event)
    assert seen == [
        ("first", EventKind.DEPLOY_START),
        ("second", EventKind.DEPLOY_START),
        ("first", EventKind.KONG),
        ("second", EventKind.KONG),
    ]
    assert bus.emitted == 2 and not bus.failures


def test_a_failing_listener_is_counted_and_stops_neither_the_others_nor_the_run(tmp_path: Path) -> None:
    broken = Broken()
    log = EventLog(tmp_path)
    lines: list[str] = []
    bus = EventBus([broken, log, ProgressLines(lines.append)])
    for event in (DEPLOY, KONG):
        bus.emit(event)  # does not raise
    bus.close()
    assert broken.calls == 2  # it keeps getting events after a failure
    assert bus.failures == {"Broken": 3}  # two events and its close
    assert bus.errors == {"Broken": "OSError: disk full"}  # the first error is kept
    assert [e.kind for e in read_events(tmp_path / EVENTS_FILE)] == [EventKind.DEPLOY_START, EventKind.KONG]
    assert lines == [console_line(DEPLOY), console_line(KONG)]


def test_close_closes_each_listener_once_and_the_bus_takes_no_later_event(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    bus = EventBus([log, lambda e: None])  # a plain function has no close: skipped
    bus.emit(DEPLOY)
    bus.close()
    bus.close()
    assert log._file.closed and log.written == 1
    with pytest.raises(RuntimeError, match="after the bus closed"):
        bus.emit(KONG)


def test_progress_lines_leave_out_the_summarised_kinds() -> None:
    said: list[str] = []
    lines = ProgressLines(said.append)
    for event in (DEPLOY, BREAKER, KONG):
        lines(event)
    assert said == [console_line(DEPLOY), console_line(KONG)]
    assert EventKind.BREAKER_OPEN in BREAKER_KINDS and EventKind.DEPLOY_START not in BREAKER_KINDS
    everything: list[str] = []
    ProgressLines(everything.append, quiet=frozenset())(BREAKER)
    assert everything == [console_line(BREAKER)]


def test_event_spans_one_span_of_asgard_per_event_at_the_run_clock() -> None:
    spans = EventSpans(TracingSettings(flows=frozenset({"zipkin"})), "netflixoss", run_started=1000.0)
    for event in (DEPLOY, KONG):
        spans(event)
    [counted] = spans.counts(5.0)
    assert counted["spans"]["created"] == 2  # type: ignore[index]
    flow = counted["flow_part"]
    assert isinstance(flow, bytes)
    found = sorted((s["name"], s["timestamp"], s["localEndpoint"]["serviceName"]) for s in json.loads(flow))
    assert found == [("deploy-start homepage", 1_001_500_000, "asgard"), ("kong", 1_003_000_000, "asgard")]
    with pytest.raises(RuntimeError, match="after the event spans were counted"):
        spans(DEPLOY)


def test_event_spans_read_a_callable_clock_and_cost_nothing_without_events() -> None:
    assert EventSpans(TracingSettings(), "netflixoss", 0.0).counts(1.0) == []
    clock = [0.0]
    spans = EventSpans(TracingSettings(flows=frozenset({"zipkin"})), "netflixoss", lambda: clock[0])
    clock[0] = 2000.0  # the run's clock started after the listener was made
    spans(DEPLOY)
    [counted] = spans.counts(5.0)
    [span] = json.loads(counted["flow_part"])  # type: ignore[arg-type]
    assert span["timestamp"] == 2_001_500_000
