"""Counters a host keeps, summed by the supervisor into the run summary."""

from __future__ import annotations

import math
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
    # Requests of traffic sources by latency: bucket i counts latencies below 2**i microseconds.
    latency_buckets: dict[str, int] = field(default_factory=dict)
    instances_started: int = 0
    instances_stopped: int = 0

    def latency(self, seconds: float) -> None:
        bucket = str(max(0, math.frexp(seconds * 1e6)[1]))
        self.latency_buckets[bucket] = self.latency_buckets.get(bucket, 0) + 1

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


def latency_quantile(buckets: dict[str, int], q: float) -> float:
    """Upper bound, in seconds, of the bucket holding the q-quantile (a factor-of-2 estimate)."""
    total = sum(buckets.values())
    if not total:
        return 0.0
    seen = 0
    for bucket in sorted(buckets, key=int):
        seen += buckets[bucket]
        if seen >= q * total:
            return 2 ** int(bucket) / 1e6
    return 2 ** max(int(b) for b in buckets) / 1e6
