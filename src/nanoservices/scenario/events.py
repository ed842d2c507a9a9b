"""Ground truth: every action and its effects as typed events, one JSON object per line.

The supervisor emits `Event`s; `EventLog` is one listener on them (the series, the summary and
the report are others). Scoring a detection tool means reading `events.jsonl` back with
`read_events`, so the line format is the contract: `at`, `kind`, `service`, `versions`,
`instances`, then the event's own details as further keys.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from types import TracebackType
from typing import Any

EVENTS_FILE = "events.jsonl"


class EventKind(str, Enum):
    DEPLOY_START = "deploy-start"
    GROUP_UP = "group-up"
    TRAFFIC_SHIFT = "traffic-shift"
    JUDGEMENT = "judgement"
    PROMOTE = "promote"
    ROLLBACK = "rollback"
    GROUP_STOPPED = "group-stopped"
    CHAOS_MONKEY = "chaos-monkey"
    GORILLA = "gorilla"
    KONG = "kong"
    INCIDENT_START = "incident-start"
    INCIDENT_END = "incident-end"
    PARTITION_START = "partition-start"
    PARTITION_END = "partition-end"
    BREAKER_OPEN = "breaker-open"
    BREAKER_HALF_OPEN = "breaker-half-open"
    BREAKER_CLOSED = "breaker-closed"


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


def read_events(path: Path | str) -> list[Event]:
    """The events of a run, in the order they were written."""
    with Path(path).open(encoding="utf-8") as lines:
        return [Event.from_json_line(line) for line in lines if line.strip()]
