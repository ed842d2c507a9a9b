"""Counters a host keeps, summed by the supervisor into the run summary."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from nanoservices.messages import Status
from nanoservices.outputs import histogram
from nanoservices.outputs.histogram import bucket_of

# One row of the per-second series: replies made, of them not OK, and a service-time histogram.
SeriesRow = dict[str, Any]  # {"requests": int, "errors": int, "h": {bucket: count}}


@dataclass(slots=True)
class HostStats:
    requests_issued: int = 0  # requests sent by traffic sources (denominators)
    requests_completed: int = 0
    requests_failed: dict[str, int] = field(default_factory=dict)  # by Status name
    requests_in_flight: int = 0  # filled in when the host stops
    ticks_skipped: int = 0  # traffic ticks a busy host could not run: the rate fell short
    ticks_throttled: int = 0  # ticks skipped because max_in_flight requests were outstanding
    source_seconds: float = 0.0  # seconds traffic sources ticked, summed over them (start to stop)
    messages_delivered: int = 0  # every message handed to an instance, local or remote
    messages_remote: int = 0  # of those, messages that crossed a Ray call
    batches_sent: int = 0
    one_way_dropped: int = 0  # one-way messages to an instance that was gone
    late_responses: int = 0  # responses that arrived after their request timed out
    polls_failed: int = 0  # Eureka polls that raised (a registry lost with its node)
    renewals_failed: int = 0  # instance leases a heartbeat failed to renew (its registry did not answer)
    # Completed requests of traffic sources by latency, as an outputs/histogram.py histogram.
    latency_buckets: dict[int, int] = field(default_factory=dict)
    # Replies instances made, per "second|service|version|zone" (seconds since the traffic started).
    series: dict[str, SeriesRow] = field(default_factory=dict)
    # Entry requests (traffic sources') by the second they ended: ended, of them failed, and the
    # latency histogram of the completed ones; the phases of an incident are read from it.
    entry_series: dict[int, SeriesRow] = field(default_factory=dict)
    # Requests per edge as their callers saw them, caller service -> callee service -> requests ended,
    # of them failed, and the histogram of every one's wait from first send to its end.
    edge_latency: dict[str, dict[str, SeriesRow]] = field(default_factory=dict)
    retries: int = 0  # requests sent again to the next server after a connection failure
    blackouts: int = 0  # servers a caller blacked out (3 consecutive connection failures)
    breaker_changes: dict[str, int] = field(default_factory=dict)  # circuit breaker transitions, by new state
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
    # Messages between instances of this host (its self-hop "A->A"): handed over in-process, one
    # integer each end (the hot path's whole cost), folded into `hops` by counts().
    local_sent: int = 0  # queued for an instance of this host
    local_received: int = 0  # taken off that queue and handed to the instance; the rest: hop_lost

    def latency(self, seconds: float) -> None:
        bucket = bucket_of(seconds)
        self.latency_buckets[bucket] = self.latency_buckets.get(bucket, 0) + 1

    def series_row(self, second: int, group: str) -> SeriesRow:
        """The row an instance counts its replies of one second in; `group` is "|service|version|zone"."""
        key = f"{second}{group}"
        row = self.series.get(key)
        if row is None:
            row = self.series[key] = {"requests": 0, "errors": 0, "h": {}}
        return row

    def entry(self, second: int, status: Status, seconds: float) -> None:
        """One entry request ended `seconds` after it was issued, in `second` of the run."""
        row = self.entry_series.get(second)
        if row is None:
            row = self.entry_series[second] = {"requests": 0, "errors": 0, "h": {}}
        row["requests"] += 1
        if status:
            row["errors"] += 1
        else:
            bucket = bucket_of(seconds)
            row["h"][bucket] = row["h"].get(bucket, 0) + 1

    def edge(self, caller: str, callee: str, status: Status, seconds: float) -> None:
        """One request from a `caller` instance to `callee` ended after `seconds` (retries included)."""
        rows = self.edge_latency.get(caller)
        if rows is None:
            rows = self.edge_latency[caller] = {}
        row = rows.get(callee)
        if row is None:
            row = rows[callee] = {"requests": 0, "errors": 0, "h": {}}
        row["requests"] += 1
        if status:
            row["errors"] += 1
        bucket = bucket_of(seconds)
        row["h"][bucket] = row["h"].get(bucket, 0) + 1

    def failed(self, status: Status) -> None:
        key = status.name.lower()
        self.requests_failed[key] = self.requests_failed.get(key, 0) + 1

    def lost(self, host: int, reason: str, count: int) -> None:
        reasons = self.hop_lost.setdefault(host, {})
        reasons[reason] = reasons.get(reason, 0) + count

    def counts(self, index: int) -> dict[str, object]:
        """The counters as summable dicts; hop figures keyed by the pair, from either end."""
        out: dict[str, object] = {
            f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith(("hop_", "local_"))
        }
        # Bucket keys as text, so the counts stay the same after a trip through JSON.
        out["latency_buckets"] = _text_keys(self.latency_buckets)
        # capacity's own keys (runtime/admission.py) ride along where a row has them
        out["series"] = {key: {**row, "h": _text_keys(row["h"])} for key, row in self.series.items()}
        out["entry_series"] = {
            str(second): {"requests": row["requests"], "errors": row["errors"], "h": _text_keys(row["h"])}
            for second, row in self.entry_series.items()
        }
        out["edge_latency"] = {
            f"{caller}|{callee}": {**row, "h": _text_keys(row["h"])}
            for caller, rows in self.edge_latency.items()
            for callee, row in rows.items()
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
        if self.local_sent or self.local_received:
            self_hop = f"{index}->{index}"
            put(self_hop, "sent", self.local_sent)
            put(self_hop, "received", self.local_received)
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


def _text_keys(buckets: dict[int, int]) -> dict[str, int]:
    return {str(bucket): n for bucket, n in buckets.items()}


def latency_quantile(buckets: dict[str, int] | dict[int, int], q: float) -> float:
    """Upper bound, in seconds, of the bucket holding the q-quantile (within histogram.RELATIVE_ERROR)."""
    return histogram.quantile(histogram.from_counts(buckets), q)
