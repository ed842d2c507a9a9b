"""Ground truth: every action and its effects as typed events, one JSON object per line.

The run core emits `Event`s on an `EventBus`; its listeners record them: `EventLog` writes
events.jsonl, `ProgressLines` says them on the console, `tracing.event_spans.EventSpans` makes
them spans of service `asgard`. The series and the report read events.jsonl afterwards.
Scoring a detection tool means reading `events.jsonl` back with `read_events`, so the line
format is the contract: `at`, `kind`, `service`, `versions`, `instances`, then the event's own
details as further keys.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from types import TracebackType
from typing import Any

from nanoservices.model.quantities import seconds_text

EVENTS_FILE = "events.jsonl"
log = logging.getLogger(__name__)


class EventKind(str, Enum):
    DEPLOY_START = "deploy-start"
    GROUP_UP = "group-up"
    TRAFFIC_SHIFT = "traffic-shift"
    JUDGEMENT = "judgement"
    PROMOTE = "promote"
    DEPLOY_UNFINISHED = "deploy-unfinished"  # the run ended (-d) before the deploy did; `phase` says where
    DEPLOY_INTERRUPTED = "deploy-interrupted"  # the run was stopped (Ctrl-C) during the deploy
    ROLLBACK = "rollback"
    GROUP_STOPPED = "group-stopped"
    CHAOS_MONKEY = "chaos-monkey"
    GORILLA = "gorilla"
    KONG = "kong"
    GORILLA_RECOVERED = "gorilla-recovered"  # its `for:` window ended: the zone's ASGs relaunched
    KONG_RECOVERED = "kong-recovered"  # the same for a region (scenario/recovery.py)
    CHAOS_EFFECTS = "chaos-effects"  # at the run's end: what a kill above did (runtime/affected.py)
    INCIDENT_START = "incident-start"
    INCIDENT_END = "incident-end"
    PARTITION_START = "partition-start"
    PARTITION_END = "partition-end"
    BREAKER_OPEN = "breaker-open"
    BREAKER_HALF_OPEN = "breaker-half-open"
    BREAKER_CLOSED = "breaker-closed"
    LOAD_CHANGE = "load-change"  # a traffic source's rate changes (a scenario's load: action)
    LOAD_END = "load-end"  # a load burst ends: the rate goes back to what the schedule says
    SIMULATOR_LAG_START = "simulator-lag-start"  # hosts' timers ran late: latency here is the machine's
    SIMULATOR_LAG_END = "simulator-lag-end"


_FIELDS = ("at", "kind", "service", "versions", "instances")


@dataclass(frozen=True)
class Event:
    """Something that happened `at` seconds after the run started, and to what."""

    at: float
    kind: EventKind
    service: str = ""
    versions: tuple[str, ...] = ()
    instances: tuple[str, ...] = ()  # full instance names
    details: Mapping[str, Any] = field(default_factory=dict)  # JSON values: numbers, text, lists

    def __post_init__(self) -> None:
        clash = set(self.details) & set(_FIELDS)
        if clash:
            raise ValueError(f"details may not use the event's own keys: {sorted(clash)}")
        object.__setattr__(self, "kind", EventKind(self.kind))
        object.__setattr__(self, "versions", tuple(self.versions))
        object.__setattr__(self, "instances", tuple(self.instances))
        # a private copy (not a MappingProxyType, which does not pickle: hosts send events to the supervisor)
        object.__setattr__(self, "details", dict(self.details))

    def to_json_line(self) -> str:
        """One line of JSON, no newline; raises ValueError for details that are not JSON (NaN too)."""
        record = {
            "at": round(self.at, 6),
            "kind": self.kind.value,
            "service": self.service,
            "versions": list(self.versions),
            "instances": list(self.instances),
            **self.details,
        }
        return json.dumps(record, allow_nan=False, separators=(",", ":"))

    @classmethod
    def from_json_line(cls, line: str) -> Event:
        record = json.loads(line)
        if not isinstance(record, dict):
            raise ValueError("an event line is a JSON object")
        details = {k: v for k, v in record.items() if k not in _FIELDS}
        return cls(
            at=float(record["at"]),
            kind=EventKind(record["kind"]),
            service=str(record.get("service", "")),
            versions=tuple(record.get("versions", ())),
            instances=tuple(record.get("instances", ())),
            details=details,
        )


class EventLog:
    """A listener writing `<out>/events.jsonl`, flushed per event so an interrupted run leaves a valid
    file. The file is the run's own: opening the log truncates an older one."""

    def __init__(self, out_dir: Path | str) -> None:
        self.path = Path(out_dir) / EVENTS_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("w", encoding="utf-8")
        self.written = 0

    def __call__(self, event: Event) -> None:
        self._file.write(event.to_json_line() + "\n")
        self._file.flush()
        self.written += 1

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> EventLog:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


Listener = Callable[[Event], None]


class EventBus:
    """Hands every event to every listener, in the order they subscribed.

    A listener that raises does not stop the others nor the run: the events are the run's ground
    truth and the run's traffic matters more than one sink (a full disk, a tracing back end that is
    gone). Its failure is counted in `failures` (by listener) with the first error in `errors`,
    and logged once, so the summary can say what a sink missed instead of losing it silently. It
    keeps getting later events: one failed write is no reason to drop the rest."""

    def __init__(self, listeners: Sequence[Listener] = ()) -> None:
        self._listeners: list[Listener] = list(listeners)
        self.emitted = 0
        self.failures: Counter[str] = Counter()  # listener name -> events it failed on (close too)
        self.errors: dict[str, str] = {}  # listener name -> its first error
        self.closed = False

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def emit(self, event: Event) -> None:
        if self.closed:
            raise RuntimeError(f"event {event.kind.value} after the bus closed")
        self.emitted += 1
        for listener in self._listeners:
            try:
                listener(event)
            except Exception as error:  # one sink must not stop the run (see above)
                self._failed(listener, error)

    def close(self) -> None:
        """Closes every listener that has `close()`, each even if another's close raised; once."""
        if self.closed:
            return
        self.closed = True
        for listener in self._listeners:
            close = getattr(listener, "close", None)
            if close is None:
                continue
            try:
                close()
            except Exception as error:  # the others still close
                self._failed(listener, error)

    def _failed(self, listener: Listener, error: Exception) -> None:
        name = _name(listener)
        self.failures[name] += 1
        if name not in self.errors:
            self.errors[name] = f"{type(error).__name__}: {error}"
            log.warning("event listener %s failed (later failures only counted): %s", name, self.errors[name])


def _name(listener: Listener) -> str:
    return getattr(listener, "__qualname__", None) or type(listener).__name__


BREAKER_KINDS = frozenset({EventKind.BREAKER_OPEN, EventKind.BREAKER_HALF_OPEN, EventKind.BREAKER_CLOSED})


class ProgressLines:
    """A listener saying one progress line per event (`console_line`), except for kinds in `quiet`:
    circuit breakers by default, which a broken dependency flips by the thousand, so the run says
    one summary line per batch of them instead. Whether a line is said depends on the kind alone,
    so events stay ground truth with no flag for the console."""

    def __init__(self, say: Callable[[str], None], quiet: frozenset[EventKind] = BREAKER_KINDS) -> None:
        self.say = say
        self.quiet = quiet

    def __call__(self, event: Event) -> None:
        if event.kind not in self.quiet:
            self.say(console_line(event))


def console_line(event: Event) -> str:
    """The progress line for an event: its kind and what it hit (zone, service, sides), so the
    console says as much as events.jsonl's first fields."""
    d = event.details
    versions = f" {' -> '.join(event.versions)}" if event.versions else ""
    lost = _count(len(event.instances), "instance")
    if event.kind in (EventKind.GORILLA, EventKind.KONG):
        hosts = _count(int(d.get("hosts", 0)), "host")
        return f"{event.kind.value} {d.get('location', '?')}: {lost} on {hosts} lost"
    if event.kind in (EventKind.GORILLA_RECOVERED, EventKind.KONG_RECOVERED):
        return f"{event.kind.value} {d.get('location', '?')}: {lost} relaunched"
    if event.kind in (EventKind.PARTITION_START, EventKind.PARTITION_END):
        sides = " | ".join(str(side) for side in d.get("sides", ()))
        return f"{event.kind.value} {sides}: {lost} inside"
    if event.kind in (EventKind.INCIDENT_START, EventKind.INCIDENT_END):
        what = f"add {_latency_text(str(d['add']))}" if "add" in d else f"error rate {d.get('rate', '?')}"
        return (
            f"{event.kind.value} {d.get('incident', '')} on {d.get('target', event.service)}: {what}, {lost}"
        )
    if event.kind is EventKind.LOAD_CHANGE:
        return f"{event.kind.value} {event.service}: {d.get('shape', '?')} {d.get('detail', '')}".rstrip()
    if event.kind is EventKind.SIMULATOR_LAG_START:
        return f"{event.kind.value}: worst {d.get('worst_ms', '?')} ms on {', '.join(d.get('hosts', ()))}"
    if event.kind is EventKind.CHAOS_MONKEY:
        killed = ", ".join(event.instances) or str(d.get("outcome", "nothing killed"))
        return f"{event.kind.value} {d.get('target', event.service)}{versions}: {killed}"
    who = f" {event.service}" if event.service else ""
    return f"{event.kind.value}{who}{versions}"


_NUMBER = re.compile(r"(\w+)=([0-9.e+-]+)")
_POINT = re.compile(r"\(([0-9.e+-]+), ([0-9.e+-]+)\)")


def _latency_text(model: str) -> str:
    """An incident's `add` (the model's repr in events.jsonl) as the file wrote it: `20ms`,
    `median 40ms p99 400ms`, `p50 10ms p90 30ms`; anything else unchanged."""
    kind = model.split("(", 1)[0]
    if kind == "Percentiles":
        return " ".join(f"p{float(q) * 100:g} {seconds_text(float(v))}" for q, v in _POINT.findall(model))
    values = _NUMBER.findall(model)
    if kind not in ("Fixed", "LogNormal", "Uniform", "Normal") or not values:
        return model
    if kind == "Fixed":
        return seconds_text(float(values[0][1]))
    return " ".join(f"{key} {seconds_text(float(value))}" for key, value in values)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def read_events(path: Path | str) -> list[Event]:
    """The events of a run, in the order they were written."""
    with Path(path).open(encoding="utf-8") as lines:
        return [Event.from_json_line(line) for line in lines if line.strip()]
