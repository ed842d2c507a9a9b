"""HostTracing with the real SDK against the in-process OTLP receiver: exact counts, bounded shutdown,
and every span accounted for (created == exported + dropped) when the backend is down or slow."""

from __future__ import annotations

import socket
from collections.abc import Iterator, Sequence

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, Tracer

from nanoservices.messages import Kind, Message, Status
from nanoservices.plan import InstanceSpec
from nanoservices.tracing import HostTracing, TracingSettings
from nanoservices.tracing.processor import CountingSpanProcessor, Lane
from support.otlp_receiver import OtlpReceiver


def spec(i: int, zone: str = "zoneA", service: str = "web") -> InstanceSpec:
    return InstanceSpec(
        name=f"lamp.us-east-1.{zone}..{service}{i:02d}...{service}.monolith",
        node=f"lamp.us-east-1.{zone}.{service}{i:02d}",
        service=service,
        package="monolith",
        region="us-east-1",
        zone=zone,
        ip=f"54.198.0.{i}",
        dependencies=(),
        cross_region=False,
    )


def make_spans(tracers: Sequence[Tracer], hops: int) -> int:
    """`hops` client/server pairs, each server a child of its client (as the runtime makes them)."""
    for n in range(hops):
        client = tracers[n % len(tracers)].start_span("GET /web", kind=SpanKind.CLIENT)
        server = tracers[(n + 1) % len(tracers)].start_span(
            "GET /web", context=trace.set_span_in_context(client), kind=SpanKind.SERVER
        )
        server.end()
        client.end()
    return 2 * hops


def accounted(result: dict[str, object]) -> None:
    created = result["created"]
    for name, counts in result["exporters"].items():  # type: ignore[attr-defined]
        assert counts["exported"] + sum(counts["dropped"].values()) == created, (name, result)


def closed_port() -> int:
    """A port nothing listens on: bound, then closed, so a connection is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as rx:
        yield rx


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_counts_are_exact_and_resources_per_instance(receiver: OtlpReceiver, protocol: str) -> None:
    url = receiver.otlp_grpc_endpoint if protocol == "grpc" else f"http://127.0.0.1:{receiver.http_port}"
    settings = TracingSettings.from_options(
        [url], protocol, "x-test=1", [], {"OTEL_RESOURCE_ATTRIBUTES": "team=sre"}
    )
    assert settings is not None
    tracing = HostTracing(settings, "host-7")
    specs = [spec(1), spec(2, zone="zoneB", service="db"), spec(3)]
    created = make_spans([tracing.tracer_for(s) for s in specs], 2_500)

    result = tracing.shutdown(10)

    name = settings.endpoints[0].name
    assert result == {"created": created, "exporters": {name: {"exported": created, "dropped": {}}}}
    assert receiver.wait_for(created, timeout=10)
    assert receiver.count == created
    assert receiver.missing_parents() == {}
    resources = {r.resource["service.instance.id"]: r.resource for r in receiver.spans()}
    assert set(resources) == {s.name for s in specs}
    db = resources[specs[1].name]
    assert db["service.name"] == "db"
    assert db["service.version"] == "v1"
    assert db["cloud.region"] == "us-east-1"
    assert db["cloud.availability_zone"] == "zoneB"
    assert db["cloud.provider"] == "aws"
    assert db["host.ip"] == ["54.198.0.2"]
    assert db["deployment.environment.name"] == "nanoservices"
    assert db["nanoservices.package"] == "monolith"
    assert db["nanoservices.host"] == "host-7"
    assert db["team"] == "sre"
    assert {r.kind for r in receiver.spans()} == {"CLIENT", "SERVER"}


def test_global_instance_has_no_zone_or_region() -> None:
    tracing = HostTracing(TracingSettings(flows=frozenset({"zipkin"})), "host-0")
    global_spec = InstanceSpec(
        name="lamp.*.*..www00...www.denominator",
        node="lamp.*.*.www00",
        service="www",
        package="denominator",
        region="*",
        zone="*",
        ip="54.198.0.10",
        dependencies=(),
        cross_region=True,
    )
    attributes = tracing.resource_for(global_spec).attributes
    assert "cloud.availability_zone" not in attributes
    assert "cloud.region" not in attributes
    assert attributes["service.name"] == "www"
    tracing.shutdown(1)


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_closed_port_drops_everything_counted_and_shutdown_stops_the_lane(protocol: str) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    settings = TracingSettings.from_options([url], protocol, None, [], {})
    assert settings is not None
    tracing = HostTracing(settings, "host-0")
    created = make_spans([tracing.tracer_for(spec(1))], 3_000)

    result = tracing.shutdown()

    # Returned with its export thread ended, not left retrying against the closed port.
    assert [lane.name for lane in tracing.processor.lanes if lane.alive] == []
    counts = result["exporters"][settings.endpoints[0].name]
    assert counts["exported"] == 0
    assert sum(counts["dropped"].values()) == created
    assert set(counts["dropped"]) <= {"export_failed", "backend_down", "shutdown_timeout"}


def test_slow_backend_fills_the_queue_and_drops_are_counted(receiver: OtlpReceiver) -> None:
    receiver.simulate(delay_s=0.3)
    settings = TracingSettings(
        endpoints=TracingSettings.from_options([receiver.otlp_grpc_endpoint], "grpc", None, [], {}).endpoints,  # type: ignore[union-attr]
        queue_size=200,
        max_export_batch=50,
        shutdown_timeout_s=5,
    )
    tracing = HostTracing(settings, "host-0")
    created = make_spans([tracing.tracer_for(spec(1))], 2_000)

    result = tracing.shutdown()

    accounted(result)
    counts = result["exporters"][settings.endpoints[0].name]
    assert counts["dropped"].get("queue_full", 0) > 0
    assert counts["exported"] > 0
    assert receiver.count >= counts["exported"]
    assert created == result["created"]


def test_stuck_backend_cannot_hold_shutdown_beyond_its_bound(receiver: OtlpReceiver) -> None:
    receiver.simulate(delay_s=3_600)  # answers only when the receiver stops (at the fixture's end)
    endpoints = TracingSettings.from_options([receiver.otlp_grpc_endpoint], "grpc", None, [], {}).endpoints  # type: ignore[union-attr]
    tracing = HostTracing(
        TracingSettings(endpoints=endpoints, export_timeout_s=30, shutdown_timeout_s=2), "h"
    )
    created = make_spans([tracing.tracer_for(spec(1))], 500)
    assert receiver.wait_for_requests(1, timeout=10)  # an export is now in flight and stuck

    result = tracing.shutdown()

    # Shutdown returned while the backend still held the request: it did not wait for the answer,
    # and (dropped as shutdown_timeout, not export_failed) nor for the 30 s export timeout.
    assert receiver.count == 0
    assert [lane.name for lane in tracing.processor.lanes if lane.alive] == []  # the stuck export was cut
    accounted(result)
    counts = result["exporters"][endpoints[0].name]
    assert counts["exported"] == 0
    assert counts["dropped"] == {"shutdown_timeout": created}


def test_spans_ended_after_shutdown_are_counted_as_dropped() -> None:
    tracing = HostTracing(TracingSettings(flows=frozenset({"zipkin"})), "host-0")
    tracer = tracing.tracer_for(spec(1))
    make_spans([tracer], 10)
    first = tracing.shutdown(5)
    assert first["exporters"]["flows"] == {"exported": 20, "dropped": {}}
    make_spans([tracer], 1)
    again = tracing.shutdown(5)
    assert again["created"] == 22
    assert again["exporters"]["flows"] == {"exported": 20, "dropped": {"after_shutdown": 2}}


class _Raising(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        raise RuntimeError("backend exploded")

    def shutdown(self) -> None:
        pass


def test_an_exporter_that_raises_only_produces_counted_drops() -> None:
    processor = CountingSpanProcessor([Lane("bad", _Raising(), capacity=1_000, batch=10, delay_s=0.05)])
    provider = TracerProvider(shutdown_on_exit=False, active_span_processor=processor)  # type: ignore[arg-type]
    created = make_spans([provider.get_tracer("test")], 50)
    result = processor.shutdown_within(5)
    assert result["created"] == created
    counts = result["exporters"]["bad"]
    assert counts["exported"] == 0
    assert sum(counts["dropped"].values()) == created
    assert counts["dropped"].get("export_failed", 0) >= 10


def test_console_flow_prints_one_json_line_per_span_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    tracing = HostTracing(TracingSettings(flows=frozenset({"console"})), "host-0")
    created = make_spans([tracing.tracer_for(spec(1))], 3)
    result = tracing.shutdown(5)
    assert result["exporters"]["console"] == {"exported": created, "dropped": {}}
    err = capsys.readouterr().err
    assert len([line for line in err.splitlines() if line.startswith("{")]) == created
    assert tracing.flow_part() == b""


def test_export_threads_are_stopped_after_shutdown(receiver: OtlpReceiver) -> None:
    settings = TracingSettings.from_options(
        [receiver.otlp_grpc_endpoint], "grpc", None, ["zipkin", "console"], {}
    )
    assert settings is not None
    tracing = HostTracing(settings, "host-0")
    make_spans([tracing.tracer_for(spec(1))], 5)
    tracing.shutdown(5)
    assert [lane.name for lane in tracing.processor.lanes if lane.alive] == []


def make_records(tracing: HostTracing, specs: Sequence[InstanceSpec], hops: int) -> int:
    """`hops` client/server pairs through the instances' span hooks (records on the fast path)."""
    ips = {s.name: s.ip for s in specs}
    hooks = [tracing.spans_for(s, 1, ips.__getitem__) for s in specs]
    for n in range(hops):
        caller, callee = specs[n % len(specs)], specs[(n + 1) % len(specs)]
        msg = Message(kind=Kind.GET_REQUEST, sender=caller.name, target=callee.name, request_id=n)
        client = hooks[n % len(specs)].client(None, msg, 100.0 + n)
        server = hooks[(n + 1) % len(specs)].server(msg, 100.0 + n)
        hooks[(n + 1) % len(specs)].end(server, Status.OK, 100.5 + n)
        hooks[n % len(specs)].end(client, Status.OK, 101.0 + n)
    return 2 * hops


@pytest.mark.parametrize("path", ["fast", "sdk"])
@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_span_hooks_on_either_path_are_counted_exactly_with_the_configured_resource(
    receiver: OtlpReceiver, protocol: str, path: str
) -> None:
    url = receiver.otlp_grpc_endpoint if protocol == "grpc" else f"http://127.0.0.1:{receiver.http_port}"
    environ = {"OTEL_RESOURCE_ATTRIBUTES": "team=sre"}
    settings = TracingSettings.from_options([url], protocol, "x-test=1", [], environ, path)
    assert settings is not None
    tracing = HostTracing(settings, "host-7")
    specs = [spec(1), spec(2, zone="zoneB", service="db")]
    created = make_records(tracing, specs, 2_500)

    result = tracing.shutdown(10)

    name = settings.endpoints[0].name
    assert result == {"created": created, "exporters": {name: {"exported": created, "dropped": {}}}}
    assert receiver.wait_for(created, timeout=10) and receiver.count == created
    assert receiver.missing_parents() == {}
    resources = {r.resource["service.instance.id"]: r.resource for r in receiver.spans()}
    assert resources[specs[1].name] == dict(tracing.resource_for(specs[1]).attributes) | {
        "host.ip": ["54.198.0.2"]
    }
    assert resources[specs[1].name]["team"] == "sre"


def test_fast_records_fill_a_slow_backends_queue_and_the_drops_are_counted(receiver: OtlpReceiver) -> None:
    receiver.simulate(delay_s=0.3)
    endpoints = TracingSettings.from_options([receiver.otlp_grpc_endpoint], "grpc", None, [], {}).endpoints  # type: ignore[union-attr]
    settings = TracingSettings(endpoints=endpoints, queue_size=200, max_export_batch=50, shutdown_timeout_s=5)
    tracing = HostTracing(settings, "host-0")
    created = make_records(tracing, [spec(1), spec(2)], 2_000)

    result = tracing.shutdown()

    accounted(result)
    counts = result["exporters"][endpoints[0].name]
    assert counts["dropped"].get("queue_full", 0) > 0
    assert 0 < counts["exported"] <= receiver.count
    assert created == result["created"]


def test_fast_records_to_a_closed_port_are_all_counted_as_dropped() -> None:
    settings = TracingSettings.from_options([f"http://127.0.0.1:{closed_port()}"], "grpc", None, [], {})
    assert settings is not None
    tracing = HostTracing(settings, "host-0")
    created = make_records(tracing, [spec(1), spec(2)], 1_000)
    result = tracing.shutdown()
    counts = result["exporters"][settings.endpoints[0].name]
    assert result["created"] == created
    assert counts["exported"] == 0 and sum(counts["dropped"].values()) == created
    assert [lane.name for lane in tracing.processor.lanes if lane.alive] == []
