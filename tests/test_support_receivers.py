"""The tracing test kit, checked with the real OpenTelemetry SDK and exporters.

Why: every tracing test of nanoservices trusts these helpers to say "all spans arrived, traces whole";
so they are tested here against what the SDK really sends (BatchSpanProcessor + OTLP exporters).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from support.otlp_receiver import OtlpReceiver, missing_parents
from support.phoenix import PHOENIX_PROJECT_ATTRIBUTE, PhoenixServer, phoenix_installed

RESOURCE = {
    "service.name": "karyon",
    "service.version": "1.2.3",
    "service.instance.id": "netflixoss.us-east-1.zoneA.karyon00",
    "cloud.region": "us-east-1",
}


@dataclass
class Emitted:
    """What a test sent: span ids per trace, to compare with what a backend got."""

    spans: dict[str, str] = field(default_factory=dict)  # span id -> trace id
    roots: set[str] = field(default_factory=set)

    @property
    def count(self) -> int:
        return len(self.spans)


def emit_traces(provider: TracerProvider, n_traces: int, fanout: int = 3, leaves: int = 2) -> Emitted:
    """n_traces nested traces: SERVER root -> `fanout` CLIENT children -> `leaves` INTERNAL leaves each."""
    tracer = provider.get_tracer("nanoservices.test")
    out = Emitted()

    def note(span: trace.Span) -> str:
        ctx = span.get_span_context()
        out.spans[format(ctx.span_id, "016x")] = format(ctx.trace_id, "032x")
        return format(ctx.span_id, "016x")

    for t in range(n_traces):
        with tracer.start_as_current_span(
            "GET /index", kind=SpanKind.SERVER, attributes={"trace.no": t}
        ) as root:
            out.roots.add(note(root))
            root.set_attribute("service.name", RESOURCE["service.name"])
            for c in range(fanout):
                with tracer.start_as_current_span("call staash", kind=SpanKind.CLIENT) as child:
                    note(child)
                    child.add_event("sent", {"child": c})
                    for _ in range(leaves):
                        with tracer.start_as_current_span("lookup", attributes={"hops": [1, 2]}) as leaf:
                            note(leaf)
                    if c == 0:
                        child.set_status(Status(StatusCode.ERROR, "simulated"))
    return out


def spans_per_trace(fanout: int = 3, leaves: int = 2) -> int:
    return 1 + fanout + fanout * leaves


def make_provider(exporter: SpanExporter, **resource: str) -> TracerProvider:
    """A provider as nanoservices builds one: resource per instance, a BSP sized not to drop in a burst."""
    provider = TracerProvider(resource=Resource.create({**RESOURCE, **resource}))
    provider.add_span_processor(
        BatchSpanProcessor(
            exporter, max_queue_size=20_000, max_export_batch_size=512, schedule_delay_millis=50
        )
    )
    return provider


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as rx:
        yield rx


EXPORTERS: dict[str, Callable[[OtlpReceiver], SpanExporter]] = {
    "grpc": lambda rx: GrpcSpanExporter(endpoint=rx.otlp_grpc_endpoint, insecure=True),
    "grpc-gzip": lambda rx: GrpcSpanExporter(
        endpoint=rx.otlp_grpc_endpoint, insecure=True, compression=grpc.Compression.Gzip
    ),
    "http": lambda rx: HttpSpanExporter(endpoint=rx.otlp_http_endpoint),
    "http-gzip": lambda rx: HttpSpanExporter(endpoint=rx.otlp_http_endpoint, compression=Compression.Gzip),
}


# -- in-process receiver -------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", sorted(EXPORTERS))
def test_receiver_gets_every_span_of_5000_whole(receiver: OtlpReceiver, transport: str) -> None:
    provider = make_provider(EXPORTERS[transport](receiver))
    try:
        sent = emit_traces(provider, n_traces=500)
        assert sent.count == 5000
        assert provider.force_flush(30_000)
    finally:
        provider.shutdown()

    assert receiver.wait_for(sent.count, timeout=10), receiver.count
    spans = receiver.spans()
    assert receiver.count == len(spans) == sent.count
    assert {s.span_id: s.trace_id for s in spans} == sent.spans  # exactly them, no duplicates
    assert receiver.complete_traces(), receiver.missing_parents()
    traces = receiver.traces()
    assert len(traces) == 500
    assert all(len(t) == spans_per_trace() for t in traces.values())
    assert {s.span_id for s in spans if not s.parent_span_id} == sent.roots

    root = next(s for s in spans if s.span_id in sent.roots)
    assert dict(root.resource) | RESOURCE == dict(root.resource)  # our resource attrs, plus the SDK's
    assert root.kind == "SERVER" and root.name == "GET /index"
    assert isinstance(root.attributes["trace.no"], int)
    kinds = {s.kind for s in spans}
    assert kinds == {"SERVER", "CLIENT", "INTERNAL"}
    clients = [s for s in spans if s.kind == "CLIENT"]
    assert all(c.events == ("sent",) for c in clients)
    assert sum(c.status_code == "ERROR" for c in clients) == 500
    leaf = next(s for s in spans if s.name == "lookup")
    assert leaf.attributes["hops"] == [1, 2]
    stats = receiver.stats()
    assert stats["rejected_requests"] == 0
    assert stats["grpc_requests" if transport.startswith("grpc") else "http_requests"] == stats["requests"]


def test_missing_parents_spots_a_hole(receiver: OtlpReceiver) -> None:
    """A span whose parent never reached the backend must be reported, or 'whole traces' means nothing."""
    provider = make_provider(EXPORTERS["http"](receiver))
    try:
        emit_traces(provider, n_traces=2)
        ghost = SpanContext(
            trace_id=0x1234, span_id=0xDEAD, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED)
        )
        with provider.get_tracer("t").start_as_current_span(
            "orphan", context=trace.set_span_in_context(NonRecordingSpan(ghost))
        ):
            pass
        assert provider.force_flush(10_000)
    finally:
        provider.shutdown()
    assert receiver.wait_for(2 * spans_per_trace() + 1, timeout=10)
    assert receiver.missing_parents() == {format(0x1234, "032x"): {format(0xDEAD, "016x")}}
    assert not receiver.complete_traces()
    # The same check works on plain dicts (what PhoenixServer.spans() returns).
    as_dicts = [
        {"trace_id": s.trace_id, "span_id": s.span_id, "parent_span_id": s.parent_span_id}
        for s in receiver.spans()
    ]
    assert missing_parents(as_dicts) == receiver.missing_parents()


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_non_retryable_failure_drops_batch_and_is_counted(receiver: OtlpReceiver, transport: str) -> None:
    receiver.simulate(fail=-1, retryable=False)  # INVALID_ARGUMENT / 400: the SDK gives up at once
    provider = TracerProvider(resource=Resource.create(RESOURCE))
    exporter = EXPORTERS[transport](receiver)
    tracer = provider.get_tracer("t")
    spans = []
    for i in range(10):
        span = tracer.start_span(f"s{i}")
        span.end()
        spans.append(span)
    try:
        assert exporter.export(spans) is SpanExportResult.FAILURE  # type: ignore[arg-type]
    finally:
        exporter.shutdown()
    assert receiver.count == 0
    stats = receiver.stats()
    assert stats["rejected_requests"] == 1 and stats["rejected_spans"] == 10


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_retryable_failure_is_retried_until_accepted(receiver: OtlpReceiver, transport: str) -> None:
    receiver.simulate(fail=1, retryable=True)  # one UNAVAILABLE / 503, then healthy: the SDK retries (~1 s)
    provider = make_provider(EXPORTERS[transport](receiver))
    try:
        sent = emit_traces(provider, n_traces=5)
        assert provider.force_flush(30_000)
    finally:
        provider.shutdown()
    assert receiver.wait_for(sent.count, timeout=10)
    assert receiver.count == sent.count and receiver.complete_traces()
    stats = receiver.stats()
    assert stats["rejected_requests"] == 1 and stats["requests"] >= 2


def test_slow_backend_holds_requests_and_stop_interrupts_it() -> None:
    rx = OtlpReceiver(grpc_enabled=False).start()
    exporter = HttpSpanExporter(endpoint=rx.otlp_http_endpoint, timeout=10)
    held: threading.Thread | None = None
    try:
        rx.simulate(delay_s=0.3)
        span = TracerProvider().get_tracer("t").start_span("slow")
        span.end()
        assert exporter.export([span]) is SpanExportResult.SUCCESS  # type: ignore[list-item]
        assert rx.count == 1  # a short delay ends in an answer
        rx.simulate(delay_s=3_600)  # far beyond every wait below: only stop() can end it
        held = threading.Thread(target=exporter.export, args=([span],), name="held-export")
        held.start()
        assert rx.wait_for_requests(2, timeout=10)
        assert rx.count == 1  # the second request arrived and is held, not accepted
    finally:
        stopper = threading.Thread(target=rx.stop, name="stop", daemon=True)
        stopper.start()
        stopper.join(30)
        assert not stopper.is_alive()  # stop() ended the hour-long hold instead of waiting it out
        if held is not None:
            assert rx.count == 2  # ... by releasing the held request, which was then accepted
            held.join(15)
            assert not held.is_alive()
        exporter.shutdown()


def test_stop_leaves_no_threads_behind() -> None:
    before = set(threading.enumerate())
    with OtlpReceiver() as rx:
        exporter = HttpSpanExporter(endpoint=rx.otlp_http_endpoint)  # keeps its connection alive
        span = TracerProvider().get_tracer("t").start_span("x")
        span.end()
        assert exporter.export([span]) is SpanExportResult.SUCCESS  # type: ignore[list-item]
        assert rx.wait_for(1, timeout=5)
    leftover = [
        t for t in threading.enumerate() if t not in before and t.name.startswith(("otlp-rx", "Thread"))
    ]
    exporter.shutdown()
    assert leftover == []


# -- Phoenix, a real backend ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def phoenix() -> Iterator[PhoenixServer]:
    if not phoenix_installed():
        pytest.skip("Phoenix is not installed: run scripts/install_phoenix.sh (creates .phoenix/venv)")
    with PhoenixServer() as px:
        yield px


PHOENIX_EXPORTERS: dict[str, Callable[[PhoenixServer], SpanExporter]] = {
    "grpc": lambda px: GrpcSpanExporter(endpoint=px.otlp_grpc_endpoint, insecure=True),
    "http": lambda px: HttpSpanExporter(endpoint=px.otlp_http_endpoint),
}


@pytest.mark.phoenix
@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_phoenix_receives_whole_traces(phoenix: PhoenixServer, transport: str) -> None:
    project = f"nanoservices-{transport}"
    provider = make_provider(PHOENIX_EXPORTERS[transport](phoenix), **{PHOENIX_PROJECT_ATTRIBUTE: project})
    try:
        sent = emit_traces(provider, n_traces=20)
        assert provider.force_flush(30_000)
    finally:
        provider.shutdown()

    spans = phoenix.wait_for_spans(sent.count, timeout=60, project=project)
    assert len(spans) == sent.count, phoenix.log_tail()
    assert {s["span_id"]: s["trace_id"] for s in spans} == sent.spans
    assert missing_parents(spans) == {}
    assert {s["span_id"] for s in spans if not s["parent_span_id"]} == sent.roots
    root = next(s for s in spans if s["span_id"] in sent.roots)
    assert root["name"] == "GET /index" and root["project"] == project
    assert root["attributes"]["service.name"] == "karyon"  # only because we also put it on the span
    assert "service.version" not in root["attributes"]  # resource attributes are not kept
    assert {s["span_kind"] for s in spans} == {"UNKNOWN"}  # OTel span kind is not kept
    assert {s["status_code"] for s in spans} == {"OK", "UNSET", "ERROR"} - {"OK"}
    assert any(s["events"] == ["sent"] for s in spans)
    leaf = next(s for s in spans if s["name"] == "lookup")
    assert leaf["attributes"]["hops"] == [1, 2]
    paged = phoenix.spans(project, page_size=7)  # 20 pages: the cursor walk must neither skip nor repeat
    assert sorted(s["span_id"] for s in paged) == sorted(s["span_id"] for s in spans)


@pytest.mark.phoenix
def test_phoenix_default_project_and_all_projects(phoenix: PhoenixServer) -> None:
    """Spans without openinference.project.name land in "default"; spans() with no project sees all."""
    provider = make_provider(PHOENIX_EXPORTERS["http"](phoenix))
    try:
        sent = emit_traces(provider, n_traces=2)
        assert provider.force_flush(30_000)
    finally:
        provider.shutdown()
    default = phoenix.wait_for_spans(sent.count, timeout=60, project="default")
    assert {s["span_id"] for s in default} == set(sent.spans)
    everything = phoenix.spans()
    by_project = {p: len(phoenix.spans(p)) for p in phoenix.projects()}
    assert len(everything) == sum(by_project.values())
    assert by_project["default"] == sent.count
