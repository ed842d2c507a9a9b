"""Our OTLP encoder gives the same request as the SDK's encoder, for every kind of span we make."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from nanoservices.tracing.otlp_encode import encode_request


def spans() -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    tracers = []
    for i in range(3):
        provider = TracerProvider(
            resource=Resource({"service.name": f"svc{i}", "host.ip": [f"10.0.0.{i}"], "n": i}),
            shutdown_on_exit=False,
        )
        provider.add_span_processor(SimpleSpanProcessor(memory))
        tracers.append(provider.get_tracer("nanoservices", "1.0"))
    remote = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    attributes = {
        "s": "text",
        "b": True,
        "f": False,
        "i": 42,
        "big": 2**40,
        "neg": -7,
        "d": 1.5,
        "ls": ["a", "b"],
        "li": [1, 2],
        "unicode": "zoneB·é",
    }
    root = tracers[0].start_span("GET /www", kind=SpanKind.CLIENT, attributes=attributes)
    child = tracers[1].start_span("GET /elb", context=trace.set_span_in_context(root), kind=SpanKind.SERVER)
    child.add_event("exception", {"exception.type": "nanoservices.timeout", "exception.message": "timeout"})
    child.set_status(Status(StatusCode.ERROR, "timeout"))
    child.end()
    root.set_status(Status(StatusCode.OK))
    root.end()
    served = tracers[2].start_span(
        "Replicate", context=trace.set_span_in_context(NonRecordingSpan(remote)), kind=SpanKind.SERVER
    )
    served.end()
    linked = tracers[2].start_span("internal", links=[Link(remote, {"why": "test"})])
    linked.end()
    for i in range(20):  # the same attributes again: the cached encodings must stay right
        tracers[i % 3].start_span(f"hop {i}", kind=SpanKind.PRODUCER, attributes={"i": i, "s": "text"}).end()
    return list(memory.get_finished_spans())


def test_encoding_matches_the_sdk() -> None:
    batch = spans()
    ours = ExportTraceServiceRequest.FromString(encode_request(batch))
    assert ours == encode_spans(batch)
    assert sum(len(ss.spans) for rs in ours.resource_spans for ss in rs.scope_spans) == len(batch)


def test_empty_batch() -> None:
    assert encode_request([]) == b""
