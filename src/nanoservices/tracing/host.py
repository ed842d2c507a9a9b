"""One host process's tracing: one lane per exporter (OTLP endpoints, console, the flow collector, record
sinks), each with its own bounded queue, thread and counts, behind one of two span paths:

- `fast` (the default): instances make compact records (tracing/records.py) that one intake deque takes;
  lanes encode them straight to OTLP protobuf (tracing/record_encode.py) or Zipkin, off the event loop.
- `sdk`: an OpenTelemetry SDK span object per span, a TracerProvider per instance (its own Resource), one
  shared CountingSpanProcessor.

Either way the export surface is the SDK's: its OTLP gRPC and HTTP/protobuf exporters (transport, timeout,
retries) send bytes from our encoders, configured from the OTEL_* variables (tracing/settings.py). Spans made
through the SDK API (`tracer_for`: the supervisor's deploy-event spans) join the same lanes on both paths.

Record sinks (`add_record_sink`) receive every finished span of the host as `SpanRecord` batches on a lane
thread of their own, whichever the path: how verify's expected record can be written without touching the
per-message path.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.sdk.version import __version__ as sdk_version
from opentelemetry.trace import Tracer

from nanoservices.geography import ANY
from nanoservices.plan import InstanceSpec
from nanoservices.runtime.spans import SdkSpans, SpanHooks
from nanoservices.tracing.ids import IdSource
from nanoservices.tracing.otlp_encode import encode_request
from nanoservices.tracing.processor import CountingSpanProcessor, Lane, RecordProcessor
from nanoservices.tracing.record_encode import encode_items
from nanoservices.tracing.records import FastSpans, InstanceBlock, SpanRecord, record_json, view_of
from nanoservices.tracing.settings import OtlpEndpoint, TracingSettings
from nanoservices.tracing.zipkin import ZipkinCollector

FLOWS_EXPORTER = "flows"  # the in-memory Zipkin collector behind --flows zipkin/spigo
CONSOLE_EXPORTER = "console"
EXPECTED_RECORD = "record:expected"  # a record sink's lane: counted apart from exports (runtime/live.py)
SCOPE = "nanoservices"
PUMP_EVERY_S = 0.05  # the fast path hands its intake to the lanes this often
_EXPORTER_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
)


class _FirstErrorOnly(logging.Filter):
    """A down backend would log a line per batch and retry; the run summary counts the drops, so
    one error line per exporter logger and process says what went wrong, and the rest is quiet."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = False

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR or self.seen:
            return False
        self.seen = True
        record.msg = f"{record.msg} (further export errors are counted in the run summary)"
        return True


def _quiet_exporter_logs() -> None:
    for name in _EXPORTER_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _FirstErrorOnly) for f in logger.filters):
            logger.addFilter(_FirstErrorOnly())


RecordSink = Callable[[list[SpanRecord]], None]
_EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def _serialize(request: bytes | ExportTraceServiceRequest) -> bytes:
    return request if type(request) is bytes else request.SerializeToString()  # type: ignore[union-attr]


class _RawTraceStub:
    """The trace service stub, sending requests that are already bytes as they are."""

    def __init__(self, channel: Any) -> None:
        self.Export = channel.unary_unary(
            _EXPORT_METHOD,
            request_serializer=_serialize,
            response_deserializer=ExportTraceServiceResponse.FromString,
        )


class _Encoded:
    """A batch encoded as an ExportTraceServiceRequest, with its span count (for the SDK's metrics)."""

    __slots__ = ("count", "payload")

    def __init__(self, payload: bytes, count: int) -> None:
        self.payload = payload
        self.count = count


class FastGrpcExporter(GrpcExporter):
    """The SDK's gRPC exporter (channel, retries, timeout, reconnects) sending bytes from our encoders
    as they are: no request object is built, parsed or serialised again."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if getattr(self, "_channel", None) is not None and hasattr(self, "_stub"):
            self._stub = _RawTraceStub  # also what a reconnect builds
            self._client = _RawTraceStub(self._channel)

    def _translate_data(self, data: Any) -> Any:
        payload = data.payload if type(data) is _Encoded else encode_request(data)
        if type(getattr(self, "_client", None)) is _RawTraceStub:
            return payload
        return ExportTraceServiceRequest.FromString(payload)  # an SDK whose internals moved

    def _count_data(self, data: Any) -> int:
        return data.count if type(data) is _Encoded else len(data)

    def export_encoded(self, payload: bytes, count: int) -> bool:
        return self._export(_Encoded(payload, count)) is SpanExportResult.SUCCESS  # type: ignore[arg-type]


class FastHttpExporter(HttpExporter):
    """The SDK's HTTP exporter (session, retries, timeout) sending bytes from our encoder."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        client = getattr(self, "_client", None)
        if client is None or self._shutdown:  # an SDK whose internals moved: its own path still works
            return super().export(spans)
        return (
            SpanExportResult.SUCCESS
            if client.export(encode_request(spans)).success
            else SpanExportResult.FAILURE
        )

    def export_encoded(self, payload: bytes, count: int) -> bool:
        client = getattr(self, "_client", None)
        if client is None or self._shutdown:
            return False
        return bool(client.export(payload).success)


class EncodedOtlp(SpanExporter):
    """A fast-path lane's OTLP exporter: records (and SDK spans) encoded here, on the lane's thread."""

    def __init__(self, exporter: FastGrpcExporter | FastHttpExporter) -> None:
        self.exporter = exporter

    def export(self, items: Sequence[Any]) -> SpanExportResult:
        ok = self.exporter.export_encoded(encode_items(items), len(items))
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self.exporter.shutdown()


class ConsoleLines(SpanExporter):
    """One JSON line per span on stderr: the SDK's ConsoleSpanExporter format, for records too."""

    def export(self, items: Sequence[Any]) -> SpanExportResult:
        lines = [record_json(i) if type(i) is list else i.to_json(indent=None) for i in items]
        sys.stderr.write("".join(line + os.linesep for line in lines))
        sys.stderr.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


class SinkExporter(SpanExporter):
    """A record sink as a lane's exporter: batches of SpanRecord views, made on the lane's thread."""

    def __init__(self, sink: RecordSink) -> None:
        self.sink = sink

    def export(self, items: Sequence[Any]) -> SpanExportResult:
        self.sink([view_of(i) for i in items])
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def otlp_exporter(endpoint: OtlpEndpoint, timeout_s: float) -> FastGrpcExporter | FastHttpExporter:
    """An SDK OTLP exporter with an explicit timeout (retries included), so a down or slow backend
    costs at most that per batch."""
    headers = dict(endpoint.headers)
    if endpoint.protocol == "grpc":
        return FastGrpcExporter(
            endpoint=endpoint.url,
            insecure=endpoint.url.startswith("http://"),
            headers=headers or None,
            timeout=timeout_s,
        )
    return FastHttpExporter(endpoint=endpoint.url, headers=headers or None, timeout=timeout_s)


class HostTracing:
    """The host process's tracing: `spans_for` (span hooks) or `tracer_for` (SDK API) per instance,
    `add_record_sink` before the run, `shutdown` once at the end."""

    def __init__(self, settings: TracingSettings, host_label: str) -> None:
        self.settings = settings
        self.host_label = host_label
        self.fast = settings.span_path == "fast"
        _quiet_exporter_logs()
        self._collector = ZipkinCollector() if settings.flows & {"zipkin", "spigo"} else None
        exporters: list[tuple[str, SpanExporter]] = []
        for endpoint in settings.endpoints:
            otlp = otlp_exporter(endpoint, settings.export_timeout_s)
            exporters.append((endpoint.name, EncodedOtlp(otlp) if self.fast else otlp))
        if self._collector is not None:
            exporters.append((FLOWS_EXPORTER, self._collector))
        if "console" in settings.flows:
            exporters.append((CONSOLE_EXPORTER, ConsoleLines()))
        lanes = [self._lane(name, exporter) for name, exporter in exporters]
        self.processor = (
            RecordProcessor(lanes, min(PUMP_EVERY_S, settings.schedule_delay_s))
            if self.fast
            else CountingSpanProcessor(lanes)
        )
        if settings.expected_dir is not None:  # what each trace should hold, for `nanoservices verify`
            from nanoservices.tracing.expected import ExpectedSink

            self.add_record_sink(EXPECTED_RECORD, ExpectedSink(settings.expected_dir, host_label))
        self._ids: IdSource | None = None  # made with the run's seed by the first spans_for
        self._base: dict[str, Any] = {
            "telemetry.sdk.language": "python",
            "telemetry.sdk.name": "opentelemetry",
            "telemetry.sdk.version": sdk_version,
            **dict(settings.resource_attributes),
            "deployment.environment.name": settings.environment,
            "deployment.environment": settings.environment,  # the pre-1.27 semconv name, still widely read
            "cloud.provider": "aws",  # simulated, as spigo's names and addresses are
            "nanoservices.host": host_label,
        }

    def resource_for(self, spec: InstanceSpec) -> Resource:
        attributes = dict(self._base)
        attributes["service.name"] = spec.service
        attributes["service.instance.id"] = spec.name
        attributes["service.version"] = spec.version
        attributes["service.namespace"] = spec.name.split(".", 1)[0]  # the architecture
        attributes["nanoservices.package"] = spec.package
        if spec.source_worker >= 0:  # which traffic source worker sent it (runtime/sources.py)
            attributes["nanoservices.source.worker"] = spec.source_worker
        if spec.region != ANY:
            attributes["cloud.region"] = spec.region
        if spec.zone != ANY:
            attributes["cloud.availability_zone"] = spec.zone
        if spec.ip:
            attributes["host.ip"] = [spec.ip]
        return Resource(attributes)

    def _lane(self, name: str, exporter: SpanExporter) -> Lane:
        settings = self.settings
        return Lane(name, exporter, settings.queue_size, settings.max_export_batch, settings.schedule_delay_s)

    def add_record_sink(self, name: str, sink: RecordSink) -> None:
        """Hand every span this host finishes to `sink`, in batches of SpanRecord, on a lane thread of its
        own (off the event loop), on either span path. Its counts appear under `name` among the
        exporters; a sink that raises has that batch counted as export_failed. Add it before the first
        span ends."""
        self.processor.add_lane(self._lane(name, SinkExporter(sink)))

    def spans_for(self, spec: InstanceSpec, seed: int, ip_of: Callable[[str], str]) -> SpanHooks:
        """An instance's span hooks (runtime/spans.py): records on the fast path, SDK spans on the sdk path.
        `seed` is the run's: the fast path derives its ids from it (tracing/ids.py)."""
        if not self.fast:
            return SdkSpans(self.tracer_for(spec), spec.service, ip_of)
        if self._ids is None:
            self._ids = IdSource(seed, self.host_label, self.settings.run_id)
        block = InstanceBlock(spec, self.resource_for(spec).attributes, SCOPE)
        return FastSpans(block, self._ids, self.processor.append, ip_of)  # type: ignore[attr-defined]

    def tracer_for(self, spec: InstanceSpec) -> Tracer:
        """A tracer from a new TracerProvider (so spans carry this instance's resource), feeding the
        host's one processor. No atexit hook per provider: the host shuts the processor down."""
        provider = TracerProvider(
            sampler=ALWAYS_ON,
            resource=self.resource_for(spec),
            shutdown_on_exit=False,
            active_span_processor=self.processor,  # type: ignore[arg-type]  # duck-typed by the SDK
        )
        return provider.get_tracer(SCOPE)

    def shutdown(self, timeout: float | None = None) -> dict[str, Any]:
        """Flush within `timeout` seconds (default and ceiling: the settings' bound) and return
        {"created": n, "exporters": {name: {"exported": n, "dropped": {reason: n}}}}. Never raises,
        never hangs; calling it again returns the same counts."""
        bound = (
            self.settings.shutdown_timeout_s
            if timeout is None
            else min(timeout, self.settings.shutdown_timeout_s)
        )
        return self.processor.shutdown_within(max(bound, 0.0))

    def so_far(self) -> dict[str, Any]:
        """Per exporter, spans exported and dropped up to now (the live progress display)."""
        return self.processor.so_far()

    def flow_part(self) -> bytes:
        """This host's Zipkin v2 spans for the file flows, as bytes for the driver (b"" without flows).
        Shuts tracing down first if that has not happened yet, so nothing is half-collected."""
        if self._collector is None:
            return b""
        self.shutdown()
        return self._collector.part()
