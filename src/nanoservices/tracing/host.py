"""One host process's tracing: a TracerProvider per instance (its own Resource), one shared
CountingSpanProcessor, one lane per exporter (OTLP endpoints, console, the flow collector)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.sdk.version import __version__ as sdk_version
from opentelemetry.trace import Tracer

from nanoservices.geography import ANY
from nanoservices.plan import InstanceSpec
from nanoservices.tracing.otlp_encode import encode_request
from nanoservices.tracing.processor import CountingSpanProcessor, Lane
from nanoservices.tracing.settings import OtlpEndpoint, TracingSettings
from nanoservices.tracing.zipkin import ZipkinCollector

FLOWS_EXPORTER = "flows"  # the in-memory Zipkin collector behind --flows zipkin/spigo
CONSOLE_EXPORTER = "console"
SCOPE = "nanoservices"
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


def _console_line(span: ReadableSpan) -> str:
    return span.to_json(indent=None) + os.linesep


class FastGrpcExporter(GrpcExporter):
    """The SDK's gRPC exporter (channel, retries, timeout) fed by our encoder: the bytes are parsed
    back by upb (C), which costs far less than the SDK building the request object by object."""

    def _translate_data(self, data: Sequence[ReadableSpan]) -> ExportTraceServiceRequest:
        return ExportTraceServiceRequest.FromString(encode_request(data))


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


def otlp_exporter(endpoint: OtlpEndpoint, timeout_s: float) -> SpanExporter:
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
    """The host process's OpenTelemetry side: `tracer_for` per instance, `shutdown` once at the end."""

    def __init__(self, settings: TracingSettings, host_label: str) -> None:
        self.settings = settings
        self.host_label = host_label
        _quiet_exporter_logs()
        self._collector = ZipkinCollector() if settings.flows & {"zipkin", "spigo"} else None
        exporters: list[tuple[str, SpanExporter]] = [
            (endpoint.name, otlp_exporter(endpoint, settings.export_timeout_s))
            for endpoint in settings.endpoints
        ]
        if self._collector is not None:
            exporters.append((FLOWS_EXPORTER, self._collector))
        if "console" in settings.flows:
            exporters.append((CONSOLE_EXPORTER, ConsoleSpanExporter(out=sys.stderr, formatter=_console_line)))
        self.processor = CountingSpanProcessor(
            [
                Lane(
                    name, exporter, settings.queue_size, settings.max_export_batch, settings.schedule_delay_s
                )
                for name, exporter in exporters
            ]
        )
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
        if spec.region != ANY:
            attributes["cloud.region"] = spec.region
        if spec.zone != ANY:
            attributes["cloud.availability_zone"] = spec.zone
        if spec.ip:
            attributes["host.ip"] = [spec.ip]
        return Resource(attributes)

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
