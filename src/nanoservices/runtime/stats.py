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
    ticks_throttled: int = 0  # ticks skipped because max_in_flight requests were outstanding
    messages_delivered: int = 0  # every message handed to an instance, local or remote
    messages_remote: int = 0  # of those, messages that crossed a Ray call
    batches_sent: int = 0
    one_way_dropped: int = 0  # one-way messages to an instance that was gone
    late_responses: int = 0  # responses that arrived after their request timed out
    # Requests of traffic sources by latency: bucket i counts latencies below 2**i microseconds.
    latency_buckets: dict[str, int] = field(default_factory=dict)
    instances_started: int = 0
    instances_stopped: int = 0
    # Per hop, each end counting its own side, keyed by the other host's index; `counts()` names
    # the pair "A->B" (A calls B), so the summary can check one end against the other.
    hop_sent: dict[int, int] = field(default_factory=dict)  # messages handed to the transport for B
    hop_lost: dict[int, dict[str, int]] = field(default_factory=dict)  # of those, undelivered, by reason
    hop_received: dict[int, int] = field(default_factory=dict)  # messages that arrived from A
    hop_requests: dict[int, int] = field(default_factory=dict)  # of those, requests
    hop_answered: dict[int, int] = field(default_factory=dict)  # responses sent back to A
    hop_in_flight: dict[int, int] = field(default_factory=dict)  # entry requests to B pending at shutdown

    def latency(self, seconds: float) -> None:
        bucket = str(max(0, math.frexp(seconds * 1e6)[1]))
        self.latency_buckets[bucket] = self.latency_buckets.get(bucket, 0) + 1

    def failed(self, status: Status) -> None:
        key = status.name.lower()
        self.requests_failed[key] = self.requests_failed.get(key, 0) + 1

    def lost(self, host: int, reason: str, count: int) -> None:
        reasons = self.hop_lost.setdefault(host, {})
        reasons[reason] = reasons.get(reason, 0) + count

    def counts(self, index: int) -> dict[str, object]:
        """The counters as summable dicts; hop figures keyed by the pair, from either end."""
        out: dict[str, object] = {
            f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("hop_")
        }
        hops: dict[str, dict[str, object]] = {}

        def put(pair: str, key: str, value: object) -> None:
            hops.setdefault(pair, {})[key] = value

        for other, n in self.hop_sent.items():
            put(f"{index}->{other}", "sent", n)
        for other, reasons in self.hop_lost.items():
            put(f"{index}->{other}", "lost", dict(reasons))
        for other, n in self.hop_in_flight.items():
            put(f"{index}->{other}", "in_flight", n)
        for other, n in self.hop_received.items():
            put(f"{other}->{index}", "received", n)
        for other, n in self.hop_requests.items():
            put(f"{other}->{index}", "requests", n)
        for other, n in self.hop_answered.items():
            put(f"{other}->{index}", "answered", n)
        out["hops"] = hops
        return out


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
