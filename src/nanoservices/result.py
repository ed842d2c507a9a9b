"""What a run hands back: one typed record, built in one place (runtime/core.py) by every runtime,
read by the summary (summary.py). Plain data, so it pickles out of the Ray supervisor."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from nanoservices.scenario.events import Event, EventKind

START_UP = "start-up"  # the phase of a run stopped before its traffic began


class Accounted(Enum):
    """Whether every request and message adds up. UNCHECKED: what was checked adds up, but some
    host's counts died with it, so its hops could not be checked (still not a failure)."""

    HOLDS = "accounted"
    BROKEN = "not accounted"
    UNCHECKED = "unchecked"

    def __bool__(self) -> bool:
        return self is not Accounted.BROKEN

    def to_json(self) -> bool | str:
        """summary.json's value, as before the enum: true, false or "unchecked"."""
        return "unchecked" if self is Accounted.UNCHECKED else self is Accounted.HOLDS


@dataclass
class RunResult:
    arch: str
    hosts: int
    instances_planned: int
    stats: dict[str, Any] = field(default_factory=dict)  # the hosts' summed counts (runtime/stats.py)
    graph: dict[str, Any] = field(default_factory=dict)  # Edda's counts and the graph files written
    events: list[Event] = field(default_factory=list)  # chaos kills (typed: what the summary lists)
    instances_killed: int = 0  # instances on hosts chaos killed (their counts collected)
    instances_uncounted: int = 0  # instances on hosts whose counts died with them
    hosts_died: dict[str, str] = field(default_factory=dict)  # host -> error, outside chaos
    unchecked_hosts: list[int] = field(default_factory=list)
    counts_lost: list[dict[str, Any]] = field(default_factory=list)  # runtime/lost_counts.py's report
    flow_files: list[str] = field(default_factory=list)
    eureka: dict[str, Any] = field(default_factory=dict)
    host_memory_bytes: int = 0
    placement: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    deploys: list[dict[str, Any]] = field(default_factory=list)  # scenario.asgard.Outcome.to_json()
    incidents: list[dict[str, Any]] = field(default_factory=list)
    timeline_error: str = ""
    fsm: dict[str, float] | None = None
    interrupted: bool = False
    phase: str = ""  # START_UP when stopped before traffic began
    skipped_actions: list[dict[str, Any]] = field(default_factory=list)

    def kills(self) -> list[Event]:
        """Chaos Monkey's kills of an instance (the half-time one and the timeline's)."""
        return [e for e in self.events if e.kind is EventKind.CHAOS_MONKEY and e.instances]


def not_started(arch: str, instances_planned: int, hosts: int, graph: dict[str, Any]) -> RunResult:
    """A run stopped during start-up: nothing ran, only the graph of what registered."""
    return RunResult(arch, hosts, instances_planned, graph=graph, interrupted=True, phase=START_UP)
