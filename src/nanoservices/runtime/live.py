"""The few counters a running host reports for the live progress display, and the same figures
taken from a stopped host's final counts (chaos killed it, or a deploy retired it), so a host
leaving the run does not take its requests out of the running totals."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

LiveCounts = dict[str, int]
LIVE_FIELDS = ("issued", "completed", "failed", "spans_exported", "spans_dropped")


def request_counts(issued: int, completed: int, failed: Mapping[str, int]) -> LiveCounts:
    return {"issued": issued, "completed": completed, "failed": sum(failed.values())}


def span_counts(exporters: Mapping[str, Mapping[str, Any]]) -> LiveCounts:
    """Span exports summed over a host's exporters: {name: {"exported": n, "dropped": {reason: n}}}.
    Record sinks (names starting "record:", e.g. verify's expected record) are not exports: left out."""
    lanes = [e for name, e in exporters.items() if not name.startswith("record:")]
    return {
        "spans_exported": sum(int(e.get("exported", 0)) for e in lanes),
        "spans_dropped": sum(sum(e.get("dropped", {}).values()) for e in lanes),
    }


def from_final(stats: Mapping[str, Any]) -> LiveCounts:
    """The live figures of a host's final counts (HostStats.counts plus its "spans")."""
    counts = request_counts(
        int(stats.get("requests_issued", 0)),
        int(stats.get("requests_completed", 0)),
        stats.get("requests_failed", {}),
    )
    spans = stats.get("spans")
    if isinstance(spans, Mapping):
        counts.update(span_counts(spans.get("exporters", {})))
    return counts


def total(parts: Iterable[Mapping[str, int]]) -> LiveCounts:
    out = dict.fromkeys(LIVE_FIELDS, 0)
    for part in parts:
        for key in LIVE_FIELDS:
            out[key] += part.get(key, 0)
    return out
