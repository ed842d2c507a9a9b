"""Zipkin v2 spans, kept in memory per host for the file flows (zipkin.json, spigo's flow.json).

A host converts its spans (SDK spans, or the fast path's records) on its export thread and hands them to
the driver as bytes (hosts may be on other machines), so the driver only concatenates and reshapes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, StatusCode

from nanoservices.tracing.flows import INSTANCE_TAG, PORT
from nanoservices.tracing.records import (
    END,
    OPERATION,
    PARENT,
    SPAN,
    START,
    TRACE,
    Operation,
    record_attributes,
)

_KINDS = {
    SpanKind.CLIENT: "CLIENT",
    SpanKind.SERVER: "SERVER",
    SpanKind.PRODUCER: "PRODUCER",
    SpanKind.CONSUMER: "CONSUMER",
}


def _tag(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return json.dumps(list(value))
    return str(value)


def _endpoint(service: str, ip: str, port: Any) -> dict[str, Any]:
    endpoint: dict[str, Any] = {}
    if service:
        endpoint["serviceName"] = service
    if ip:
        endpoint["ipv4"] = ip
    if port:
        endpoint["port"] = int(port)
    return endpoint


def to_zipkin(span: ReadableSpan) -> dict[str, Any]:
    """One OTel span as a Zipkin v2 span (the body of POST /api/v2/spans takes a list of these)."""
    context = span.get_span_context()
    start = span.start_time or 0
    status = span.status
    return _zipkin(
        f"{context.trace_id:032x}",
        f"{context.span_id:016x}",
        f"{span.parent.span_id:016x}" if span.parent is not None else "",
        _KINDS.get(span.kind),
        span.name,
        start,
        span.end_time or start,
        span.resource.attributes,
        span.attributes or {},
        [(e.timestamp, e.name) for e in span.events],
        (status.description or "true") if status.status_code is StatusCode.ERROR else None,
    )


def record_to_zipkin(record: list[Any]) -> dict[str, Any]:
    """A fast-path record (tracing/records.py) as a Zipkin v2 span, the same as its SDK twin's."""
    op: Operation = record[OPERATION]
    attributes, reason = record_attributes(record)
    end = int(record[END] * 1e9)
    return _zipkin(
        record[TRACE],
        record[SPAN],
        record[PARENT],
        _KINDS.get(op.kind),
        op.name,
        int(record[START] * 1e9),
        end,
        op.block.resource,
        attributes,
        [(end, "exception")] if reason else [],
        reason,
    )


def _zipkin(
    trace_id: str,
    span_id: str,
    parent_id: str,
    kind: str | None,
    name: str,
    start_ns: int,
    end_ns: int,
    resource: Mapping[str, Any],
    attributes: Mapping[str, Any],
    events: list[tuple[int, str]],
    error: str | None,
) -> dict[str, Any]:
    start = start_ns // 1000
    end = end_ns // 1000
    ips = resource.get("host.ip") or ()
    out: dict[str, Any] = {"traceId": trace_id, "id": span_id}
    if parent_id:
        out["parentId"] = parent_id
    if kind:
        out["kind"] = kind
    out["name"] = name
    out["timestamp"] = start
    out["duration"] = max(end - start, 1)  # Zipkin: at least 1 µs
    out["localEndpoint"] = _endpoint(str(resource.get("service.name", "")), ips[0] if ips else "", PORT)
    if kind == "CLIENT":
        remote = _endpoint(
            str(attributes.get("peer.service", "")),
            str(attributes.get("server.address", "")),
            attributes.get("server.port"),
        )
    else:
        remote = _endpoint("", str(attributes.get("client.address", "")), None)
    if remote:
        out["remoteEndpoint"] = remote
    if events:
        out["annotations"] = [{"timestamp": t // 1000, "value": n} for t, n in events]
    tags = {key: _tag(value) for key, value in attributes.items()}
    instance = resource.get("service.instance.id")
    if instance:
        tags[INSTANCE_TAG] = str(instance)
    if error is not None:
        tags["otel.status_code"] = "ERROR"
        tags["error"] = error
    if tags:
        out["tags"] = tags
    return out


class ZipkinCollector(SpanExporter):
    """An exporter that keeps Zipkin v2 dicts in memory; `part()` serialises them for the driver."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []

    def export(self, spans: Sequence[ReadableSpan | list[Any]]) -> SpanExportResult:
        """SDK spans or fast-path records (either span path), in any mix."""
        self.spans.extend(record_to_zipkin(s) if type(s) is list else to_zipkin(s) for s in spans)  # type: ignore[arg-type]
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def part(self) -> bytes:
        return json.dumps(self.spans, separators=(",", ":")).encode()
