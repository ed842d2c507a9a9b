"""`Progress`: what a running simulation has done so far, handed to `run(on_live=...)` about once
a second. Typed, so the CLI (or a notebook) renders it without knowing how it was gathered."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nanoservices.runtime import live


@dataclass(frozen=True, slots=True)
class Progress:
    at: float  # seconds since the run began (the clock of the progress lines)
    elapsed: float  # seconds of traffic so far (0 before traffic starts)
    duration: float  # seconds of traffic planned
    issued: int  # requests the traffic sources sent
    completed: int
    failed: int
    rate: float  # requests completed per second since the previous Progress
    spans_exported: int
    spans_dropped: int
    hosts: int  # hosts asked this time (every running host, or those whose figures move)
    answered: int  # of them, how many answered in time (the rest show their last figures)


class LiveTotals:
    """Turns the supervisor's `live()` answers into Progress values. A host that is slow to answer
    counts with its last figures; one that left the run is in the supervisor's ended totals."""

    def __init__(self) -> None:
        self._last: dict[int, Mapping[str, int]] = {}
        self._previous = (0.0, 0)  # (elapsed, completed) of the last Progress; none at traffic start

    def update(self, answer: Mapping[str, Any]) -> Progress:
        answered: Mapping[int, Mapping[str, int]] = answer["answered"]
        self._last = {i: answered.get(i, self._last.get(i, {})) for i in answer["live"]}
        counts = live.total([*self._last.values(), answer["ended"]])
        elapsed = float(answer["elapsed"])
        rate = 0.0
        if elapsed > self._previous[0]:
            rate = (counts["completed"] - self._previous[1]) / (elapsed - self._previous[0])
        self._previous = (elapsed, counts["completed"])
        return Progress(
            at=float(answer["at"]),
            elapsed=elapsed,
            duration=float(answer["duration"]),
            issued=counts["issued"],
            completed=counts["completed"],
            failed=counts["failed"],
            rate=rate,
            spans_exported=counts["spans_exported"],
            spans_dropped=counts["spans_dropped"],
            hosts=int(answer.get("asked", len(answer["live"]))),
            answered=len(answered),
        )
