"""Ground-truth events: one JSON object per line, readable back, on disk after every event."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from nanoservices.scenario.events import EVENTS_FILE, Event, EventKind, EventLog, read_events


def test_an_event_is_one_flat_json_line() -> None:
    event = Event(
        at=12.3456789,
        kind=EventKind.JUDGEMENT,
        service="homepage",
        versions=("v1", "v2"),
        instances=["netflixoss.us-east-1.zoneA.homepage24"],  # type: ignore[arg-type]  # lists become tuples
        details={"score": 42.5, "verdict": "fail"},
    )
    line = event.to_json_line()
    assert "\n" not in line
    assert json.loads(line) == {
        "at": 12.345679,
        "kind": "judgement",
        "service": "homepage",
        "versions": ["v1", "v2"],
        "instances": ["netflixoss.us-east-1.zoneA.homepage24"],
        "score": 42.5,
        "verdict": "fail",
    }
    assert Event.from_json_line(line) == Event(
        at=12.345679,
        kind=EventKind.JUDGEMENT,
        service="homepage",
        versions=("v1", "v2"),
        instances=("netflixoss.us-east-1.zoneA.homepage24",),
        details={"score": 42.5, "verdict": "fail"},
    )


def test_kinds_are_the_documented_names() -> None:
    assert {k.value for k in EventKind} == {
        "deploy-start",
        "group-up",
        "traffic-shift",
        "judgement",
        "promote",
        "deploy-unfinished",
        "deploy-interrupted",
        "rollback",
        "group-stopped",
        "chaos-monkey",
        "chaos-effects",
        "gorilla",
        "kong",
        "gorilla-recovered",
        "kong-recovered",
        "incident-start",
        "incident-end",
        "partition-start",
        "partition-end",
        "breaker-open",
        "breaker-half-open",
        "breaker-closed",
        "load-change",
        "load-end",
        "simulator-lag-start",
        "simulator-lag-end",
    }
    assert Event(at=0, kind="kong").kind is EventKind.KONG  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Event(at=0, kind="explosion")  # type: ignore[arg-type]


def test_events_are_frozen_and_details_cannot_shadow_fields() -> None:
    event = Event(at=1.0, kind=EventKind.KONG, details={"zones": 3})
    with pytest.raises(AttributeError):
        event.at = 2.0  # type: ignore[misc]
    source = {"zones": 3}
    copied = Event(at=1.0, kind=EventKind.KONG, details=source)
    source["zones"] = 4
    assert copied.details == {"zones": 3}  # the caller's dict is copied, not kept
    with pytest.raises(ValueError, match=r"details may not use the event's own keys: \['kind'\]"):
        Event(at=1.0, kind=EventKind.KONG, details={"kind": "x"})
    with pytest.raises(ValueError):
        Event(at=1.0, kind=EventKind.KONG, details={"p99": float("nan")}).to_json_line()


def test_events_pickle_for_the_trip_from_a_host_to_the_supervisor() -> None:
    event = Event(at=2.0, kind=EventKind.BREAKER_OPEN, service="subscriber", details={"errors": 0.6})
    assert pickle.loads(pickle.dumps(event)) == event


def test_the_log_is_valid_after_every_event_without_closing(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "out")
    sent = [
        Event(at=5.0, kind=EventKind.DEPLOY_START, service="homepage", versions=("v1", "v2")),
        Event(at=6.5, kind=EventKind.GROUP_UP, service="homepage", versions=("v2",), instances=("a", "b")),
        Event(
            at=7.0,
            kind=EventKind.TRAFFIC_SHIFT,
            service="homepage",
            details={"shares": {"v1": 0.9, "v2": 0.1}},
        ),
    ]
    try:
        for count, event in enumerate(sent, start=1):
            log(event)
            # read through another handle while the log is still open: what an interrupted run leaves
            assert read_events(tmp_path / "out" / EVENTS_FILE) == sent[:count]
        assert log.written == len(sent)
    finally:
        log.close()
    with EventLog(tmp_path / "out") as again:  # a new run owns the file
        assert again.path.read_text() == ""
