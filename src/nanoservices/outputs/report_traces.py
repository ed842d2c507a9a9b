"""The traces the report draws as waterfalls, picked from a run's flows.

zipkin.json (`--flows zipkin`) is read as it is; spigo's flow.json (`--flows spigo`) is turned into
one span per hop, so a run with either flow gets waterfalls. Each pick is a different trace: when a
kind of trace has no other candidate, the trace already shown says it stands for that kind too.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from nanoservices.naming import SERVICE

MAX_TRACE_SPANS = 150  # spans drawn per trace waterfall
DEPLOY_KINDS = ("deploy-start", "group-up", "traffic-shift", "promote", "rollback", "group-stopped")
SLOWEST, FAILED, ACROSS = "slowest", "failed", "across the first deploy"
# What a note says when a kind of trace has no trace of its own, or none at all.
_ALSO = {FAILED: "the failed one: no other trace failed",
         ACROSS: "the one in flight at the first deploy: no other trace was"}  # fmt: skip
_NONE = {FAILED: "no trace failed", ACROSS: "no trace was in flight at or after the first deploy"}


def spans_from_flow(traces: list[Any]) -> list[dict[str, Any]]:
    """spigo v1 hops (lists of hops per trace, or hops) as Zipkin-v2-like spans: one per hop, from its
    first annotation to its last, named after the service that served it (sr), else the caller's."""
    spans: list[dict[str, Any]] = []
    for trace in traces:
        for hop in trace if isinstance(trace, list) else [trace]:
            span = _hop_span(hop)
            if span is not None:
                spans.append(span)
    return spans


def _hop_span(hop: Any) -> dict[str, Any] | None:
    if not isinstance(hop, dict) or not isinstance(hop.get("annotations"), list):
        return None
    stamps: dict[str, tuple[int, str]] = {}
    for note in hop["annotations"]:
        if isinstance(note, dict) and isinstance(note.get("timestamp"), int):
            endpoint = note.get("endpoint") if isinstance(note.get("endpoint"), dict) else {}
            stamps[str(note.get("value", ""))] = (note["timestamp"], str(endpoint.get("serviceName", "")))
    if not stamps:
        return None
    times = [t for t, _ in stamps.values()]
    caller = stamps.get("cs", (0, ""))[1] if "sr" in stamps else ""
    caller = caller if caller.count(".") > SERVICE else ""
    server = (stamps.get("sr") or stamps.get("cs") or next(iter(stamps.values())))[1]
    parts = server.split(".")
    span: dict[str, Any] = {
        "traceId": str(hop.get("traceId", "")),
        "id": str(hop.get("id", "")),
        "kind": "CLIENT" if "cs" in stamps else "SERVER",
        "name": str(hop.get("name", "")) + (f" from {caller.split('.')[SERVICE]}" if caller else ""),
        "timestamp": min(times),
        "duration": max(1, max(times) - min(times)),
        "localEndpoint": {"serviceName": parts[SERVICE] if len(parts) > SERVICE else server},
        "tags": {"service.instance.id": server},
    }
    if hop.get("parentId"):
        span["parentId"] = str(hop["parentId"])
    return span


def pick_traces(spans: list[dict[str, Any]], events: list[dict[str, Any]], start: float | None) -> dict:
    """The slowest trace, the slowest failed one and one in flight during the first deploy event,
    three different traces where the run has them; notes say which kinds had no other trace."""
    traces: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for span in spans:
        if isinstance(span.get("timestamp"), int) and isinstance(span.get("duration"), int):
            traces[str(span.get("traceId", ""))].append(span)
    bounds = {
        trace_id: (min(s["timestamp"] for s in group), max(s["timestamp"] + s["duration"] for s in group))
        for trace_id, group in traces.items()
    }
    by_length = sorted(bounds, key=lambda t: (bounds[t][0] - bounds[t][1], t))
    failed = [t for t in by_length if any("error" in (s.get("tags") or {}) for s in traces[t])]
    wanted: list[tuple[str, list[str]]] = [(SLOWEST, by_length), (FAILED, failed)]
    deploys = [e["at"] for e in events if e["kind"] in DEPLOY_KINDS]
    if deploys and start is not None:
        moment = (start + min(deploys)) * 1_000_000
        after = sorted((t for t in bounds if bounds[t][1] >= moment), key=lambda t: (bounds[t][0], t))
        spanning = [t for t in after if bounds[t][0] <= moment]
        wanted.append((ACROSS, spanning + [t for t in after if bounds[t][0] > moment]))
    picked: dict[str, list[str]] = {}  # trace id -> the kinds it is shown as, in pick order
    notes: list[str] = []
    for label, candidates in wanted:
        fresh = next((t for t in candidates if t not in picked), None)
        if fresh is not None:
            picked[fresh] = [label]
        elif candidates:
            picked[candidates[0]].append(label)
            notes.append(f"the {picked[candidates[0]][0]} trace is also {_ALSO[label]}")
        else:
            notes.append(_NONE[label])
    if len(traces) == 1:
        notes.insert(0, "the run kept only one trace")
    return {
        "total": len(traces),
        "shown": [_trace(labels, trace_id, traces[trace_id]) for trace_id, labels in picked.items()],
        "notes": notes,
    }


def _trace(labels: list[str], trace_id: str, spans: list[dict[str, Any]]) -> dict[str, Any]:
    """A waterfall: spans depth-first from the root, times in ms from the trace's start."""
    ids = {s.get("id") for s in spans}
    children: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for span in sorted(spans, key=lambda s: (s["timestamp"], str(s.get("id")))):
        children[span.get("parentId") if span.get("parentId") in ids else None].append(span)
    begin = min(s["timestamp"] for s in spans)
    rows: list[dict[str, Any]] = []
    stack = [(span, 0) for span in reversed(children[None])]
    while stack and len(rows) < MAX_TRACE_SPANS:
        span, depth = stack.pop()
        tags = span.get("tags") or {}
        rows.append({
            "name": str(span.get("name", "")),
            "service": str((span.get("localEndpoint") or {}).get("serviceName", "")),
            "kind": str(span.get("kind", "")),
            "depth": depth,
            "start_ms": (span["timestamp"] - begin) / 1000,
            "ms": span["duration"] / 1000,
            "error": str(tags["error"]) if "error" in tags else "",
            "instance": str(tags.get("service.instance.id", "")),
        })  # fmt: skip
        stack.extend((child, depth + 1) for child in reversed(children[span.get("id")]))
    end = max(s["timestamp"] + s["duration"] for s in spans)
    return {
        "label": labels[0],
        "also": labels[1:],
        "id": trace_id,
        "spans": len(spans),
        "ms": (end - begin) / 1000,
        "rows": rows,
    }
