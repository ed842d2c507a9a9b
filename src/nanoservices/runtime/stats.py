"""Counters a host keeps, summed by the supervisor into the run summary."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from nanoservices.messages import Status


@dataclass(slots=True)
class HostStats:
    requests_issued: int = 0  # requests sent by traffic sources (denominators)
    requests_completed: int = 0
    requests_failed: dict[str, int] = field(default_factory=dict)  # by Status name
    requests_in_flight: int = 0  # filled in when the host stops
    ticks_skipped: int = 0  # traffic ticks a busy host could not run: the rate fell short
    messages_delivered: int = 0  # every message handed to an instance, local or remote
    messages_remote: int = 0  # of those, messages that crossed a Ray call
    batches_sent: int = 0
    one_way_dropped: int = 0  # one-way messages to an instance that was gone
    late_responses: int = 0  # responses that arrived after their request timed out
    instances_started: int = 0
    instances_stopped: int = 0

    def failed(self, status: Status) -> None:
        key = status.name.lower()
        self.requests_failed[key] = self.requests_failed.get(key, 0) + 1

    def as_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def add_stats(total: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
    """Sum nested counter dicts (hosts' stats, span counts per exporter and reason)."""
    for key, value in part.items():
        if isinstance(value, dict):
            add_stats(total.setdefault(key, {}), value)
        else:
            total[key] = total.get(key, 0) + value
    return total
