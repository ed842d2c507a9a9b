"""Zipkin v2 spans, kept in memory per host for the file flows (zipkin.json, spigo's flow.json).

A host converts its spans on its export thread and hands them to the driver as bytes (hosts may be on
other machines), so the driver only concatenates and reshapes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, StatusCode

from nanoservices.tracing.flows import INSTANCE_TAG, PORT

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
    resource = span.resource.attributes
    attributes = span.attributes or {}
    start = (span.start_time or 0) // 1000
    end = (span.end_time or span.start_time or 0) // 1000
    ips = resource.get("host.ip") or ()
    out: dict[str, Any] = {"traceId": f"{context.trace_id:032x}", "id": f"{context.span_id:016x}"}
    if span.parent is not None:
        out["parentId"] = f"{span.parent.span_id:016x}"
    kind = _KINDS.get(span.kind)
    if kind:
        out["kind"] = kind
    out["name"] = span.name
    out["timestamp"] = start
    out["duration"] = max(end - start, 1)  # Zipkin: at least 1 µs
    out["localEndpoint"] = _endpoint(str(resource.get("service.name", "")), ips[0] if ips else "", PORT)
    if span.kind is SpanKind.CLIENT:
        remote = _endpoint(
            str(attributes.get("peer.service", "")),
            str(attributes.get("server.address", "")),
            attributes.get("server.port"),
        )
    else:
        remote = _endpoint("", str(attributes.get("client.address", "")), None)
    if remote:
        out["remoteEndpoint"] = remote
    if span.events:
        out["annotations"] = [{"timestamp": e.timestamp // 1000, "value": e.name} for e in span.events]
    tags = {key: _tag(value) for key, value in attributes.items()}
    instance = resource.get("service.instance.id")
    if instance:
        tags[INSTANCE_TAG] = str(instance)
    if span.status.status_code is StatusCode.ERROR:
        tags["otel.status_code"] = "ERROR"
        tags["error"] = span.status.description or "true"
    if tags:
        out["tags"] = tags
    return out


class ZipkinCollector(SpanExporter):
    """An exporter that keeps Zipkin v2 dicts in memory; `part()` serialises them for the driver."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans.extend(to_zipkin(span) for span in spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def part(self) -> bytes:
        return json.dumps(self.spans, separators=(",", ":")).encode()
