"""A traced run in process (LocalRun, no Ray): netflixoss packed into hosts, its denominators ticked a fixed
number of times, every span kept in memory with the instance's resource (service.name), on the real clock.

Then `write_expected` writes the run's expected record as a host would (the SDK adapter of
nanoservices.tracing.expected), and `export` sends the same spans over OTLP with the SDK's exporter.
`host_traced_run` is the same run through the hosts' own HostTracing and its record sink instead."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer

from nanoservices.architecture import load_architecture
from nanoservices.config import RunConfig
from nanoservices.plan import DeploymentPlan, InstanceSpec, expand
from nanoservices.runtime.host import HostCore, HostSetup
from nanoservices.runtime.local import LocalRun
from nanoservices.tracing import HostTracing, OtlpEndpoint, TracingSettings
from nanoservices.tracing.expected import ExpectedSink, ExpectedSpanExporter

ARCHITECTURES = Path(__file__).resolve().parents[2] / "architectures"
BATCH = 512


class MemoryTracing:
    """What HostTracing gives an instance (a tracer whose spans carry its service), into memory."""

    def __init__(self, extra_resource: dict[str, str] | None = None) -> None:
        self.exporter = InMemorySpanExporter()
        self.processor = SimpleSpanProcessor(self.exporter)
        self.extra = dict(extra_resource or {})

    def tracer_for(self, spec: InstanceSpec) -> Tracer:
        resource = Resource({**self.extra, "service.name": spec.service, "service.instance.id": spec.name})
        provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        provider.add_span_processor(self.processor)
        return provider.get_tracer("nanoservices")


def traced_run(
    ticks: int, arch: str = "netflixoss", extra_resource: dict[str, str] | None = None
) -> list[ReadableSpan]:
    """Every span of a packed netflixoss run whose denominators each send `ticks` requests."""
    tracing = MemoryTracing(extra_resource)

    class TracedRun(LocalRun):
        def _host(self, setup: HostSetup) -> HostCore:
            return HostCore(setup, tracing=tracing, clock=time.time)

    async def go() -> None:
        plan = expand(load_architecture(ARCHITECTURES / f"{arch}_arch.json"), 100, 1)
        run = TracedRun(plan, RunConfig(arch=plan.arch, seed=7, instances_per_host=100, chaos=False))
        await tick_sources(run, plan, ticks)

    asyncio.run(go())
    return list(tracing.exporter.get_finished_spans())


def write_expected(spans: Sequence[ReadableSpan], out: Path, hosts: int = 2) -> None:
    """The record as `hosts` host processes would write it: each its share, in batches."""
    exporters = [ExpectedSpanExporter(out, f"host-{i}") for i in range(hosts)]
    for start in range(0, len(spans), BATCH):
        exporter = exporters[(start // BATCH) % hosts]
        assert exporter.export(spans[start : start + BATCH]) is SpanExportResult.SUCCESS
    for exporter in exporters:
        exporter.shutdown()


def export(spans: Sequence[ReadableSpan], endpoint: str, protocol: str = "http/protobuf") -> None:
    """Send every span with the SDK's OTLP exporter, in batches; each batch must be accepted."""
    exporter = (
        HttpExporter(endpoint=endpoint, timeout=10)
        if protocol == "http/protobuf"
        else GrpcExporter(endpoint=endpoint, insecure=True, timeout=10)
    )
    try:
        for start in range(0, len(spans), BATCH):
            assert exporter.export(spans[start : start + BATCH]) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()


def host_traced_run(
    ticks: int, out: Path, endpoint: OtlpEndpoint, resource: tuple[tuple[str, str], ...] = ()
) -> int:
    """The same run through each host's real HostTracing (the default span path), exporting to `endpoint`,
    with the expected record written by its record sink, as a traced run's hosts do. Returns the spans
    created; every one must have been exported and recorded."""
    settings = TracingSettings(endpoints=(endpoint,), resource_attributes=resource)
    tracings: list[HostTracing] = []

    class TracedRun(LocalRun):
        def _host(self, setup: HostSetup) -> HostCore:
            tracing = HostTracing(settings, f"host-{setup.index}")
            tracing.add_record_sink("expected", ExpectedSink(out, f"host-{setup.index}"))
            tracings.append(tracing)
            return HostCore(setup, tracing=tracing, clock=time.time)

    async def go() -> None:
        plan = expand(load_architecture(ARCHITECTURES / "netflixoss_arch.json"), 100, 1)
        config = RunConfig(arch=plan.arch, seed=7, instances_per_host=100, chaos=False, tracing=settings)
        run = TracedRun(plan, config)
        await tick_sources(run, plan, ticks)

    asyncio.run(go())
    created = 0
    for tracing in tracings:
        result = tracing.shutdown(10)
        assert all(c == {"exported": result["created"], "dropped": {}} for c in result["exporters"].values())
        created += result["created"]
    return created


async def tick_sources(run: LocalRun, plan: DeploymentPlan, ticks: int) -> None:
    """Start the run, tick every traffic source `ticks` times (each settled), and finish it."""
    await run.start()
    sources = [s.name for s in plan.instances if s.package == "denominator"]
    for _ in range(ticks):
        for name in sources:
            run.instance(name).behaviour.tick()  # type: ignore[attr-defined]
        await run.settle()
    await run.finish()
