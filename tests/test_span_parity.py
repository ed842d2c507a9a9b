"""The fast span path makes the same spans as the SDK path, proven on the OTLP bytes each path sends.

One seeded in-process run (LocalRun, no Ray) of netflixoss at one instance per host, a homepage instance's
host killed part-way (failed tries, retries on the next server, error statuses and events), is run once per
span path. Each host's HostTracing exports over OTLP gRPC to a capturing server that keeps the raw request
bytes; they are parsed with opentelemetry-proto and compared span by span: resource, scope, name, kind,
attributes, status, events, flags and the parent link (as the parent's own description, recursively), ids
and timestamps aside. A second test sends the fast path over gRPC and HTTP/protobuf at once and parses
both as ExportTraceServiceRequest.
"""

from __future__ import annotations

import asyncio
import base64
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from nanoservices.architecture import load_architecture
from nanoservices.config import RunConfig
from nanoservices.messages import Kind, Message, Status
from nanoservices.plan import InstanceSpec, expand
from nanoservices.runtime.host import HostCore, HostSetup
from nanoservices.runtime.local import LocalRun
from nanoservices.tracing import HostTracing, TracingSettings
from nanoservices.tracing.ids import trace_id
from nanoservices.tracing.records import SpanRecord
from nanoservices.tracing.settings import OtlpEndpoint

ARCHITECTURES = Path(__file__).resolve().parents[1] / "architectures"
SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
TICKS = 120


class Capture:
    """An OTLP trace receiver that keeps every request's raw bytes (gRPC and HTTP/protobuf)."""

    def __init__(self) -> None:
        self.grpc_bodies: list[bytes] = []
        self.http_bodies: list[tuple[str, bytes]] = []  # (content type, body)
        self._lock = threading.Lock()
        self._grpc = grpc.server(thread_pool=_pool())
        handler = grpc.unary_unary_rpc_method_handler(self._export)  # no (de)serialisers: raw bytes
        self._grpc.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(SERVICE, {"Export": handler}),)
        )
        self.grpc_port = self._grpc.add_insecure_port("127.0.0.1:0")
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with capture._lock:
                    capture.http_bodies.append((self.headers["Content-Type"], body))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http_port = self._http.server_address[1]
        self._http_thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    def _export(self, request: bytes, context: Any) -> bytes:
        with self._lock:
            self.grpc_bodies.append(request)
        return b""  # an empty ExportTraceServiceResponse

    def __enter__(self) -> Capture:
        self._grpc.start()
        self._http_thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._grpc.stop(0)
        self._http.shutdown()
        self._http.server_close()


def _pool() -> Any:
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=4)


def settings(capture: Capture, path: str, http: bool = False) -> TracingSettings:
    endpoints = [OtlpEndpoint(url=f"http://127.0.0.1:{capture.grpc_port}", protocol="grpc")]
    if http:
        endpoints.append(
            OtlpEndpoint(url=f"http://127.0.0.1:{capture.http_port}/v1/traces", protocol="http/protobuf")
        )
    return TracingSettings(endpoints=tuple(endpoints), span_path=path)  # type: ignore[arg-type]


def seeded_run(path: str, capture: Capture) -> int:
    """netflixoss at -K 1, seed 7, TICKS requests per denominator, a homepage instance killed at tick 20;
    returns the spans created (every host's tracing shut down, so all were sent)."""
    tracings: list[HostTracing] = []
    chosen = settings(capture, path)

    class TracedRun(LocalRun):
        def _host(self, setup: HostSetup) -> HostCore:
            tracing = HostTracing(chosen, f"host-{setup.index}")
            tracings.append(tracing)
            return HostCore(setup, tracing=tracing, clock=lambda: 5000.0)

    async def go() -> None:
        plan = expand(load_architecture(ARCHITECTURES / "netflixoss_arch.json"), 100, 1)
        run = TracedRun(
            plan, RunConfig(arch=plan.arch, seed=7, retries=1, instances_per_host=1, tracing=chosen)
        )
        await run.start()
        sources = [s.name for s in plan.instances if s.package == "denominator"]
        victim = sorted(s.name for s in plan.instances if s.service == "homepage")[0]
        for tick in range(TICKS):
            if tick == 20:
                await run.chaos_kill(victim)
            for name in sources:
                run.instance(name).behaviour.tick()  # type: ignore[attr-defined]
            await run.settle()
        await run.finish()

    asyncio.run(go())
    created = 0
    for tracing in tracings:
        result = tracing.shutdown(10)
        [counts] = result["exporters"].values()
        assert counts == {"exported": result["created"], "dropped": {}}
        created += result["created"]
    return created


def _sorted_attributes(described: dict[str, Any], field: str = "attributes") -> None:
    if field in described:
        described[field] = sorted(described[field], key=lambda kv: kv["key"])


def described_spans(bodies: list[bytes]) -> dict[str, tuple[dict[str, Any], str]]:
    """span id -> (the span's fields as a dict, ids and timestamps removed; its parent's span id)."""
    spans: dict[str, tuple[dict[str, Any], str]] = {}
    for body in bodies:
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            resource = MessageToDict(resource_spans.resource)
            _sorted_attributes(resource)
            for scope_spans in resource_spans.scope_spans:
                scope = MessageToDict(scope_spans.scope)
                for span in scope_spans.spans:
                    fields = MessageToDict(span)
                    span_id = base64.b64decode(fields.pop("spanId")).hex()
                    parent = base64.b64decode(fields.pop("parentSpanId", "")).hex()
                    for key in ("traceId", "startTimeUnixNano", "endTimeUnixNano"):
                        fields.pop(key)
                    for event in fields.get("events", []):
                        event.pop("timeUnixNano")
                        _sorted_attributes(event)
                    _sorted_attributes(fields)
                    fields["resource"] = resource
                    fields["scope"] = scope
                    assert span_id not in spans, "a span id sent twice"
                    spans[span_id] = (fields, parent)
    return spans


def signatures(spans: dict[str, tuple[dict[str, Any], str]]) -> Counter[str]:
    """Each span as text: its fields and, recursively, its parent's (a lost parent is 'missing')."""
    memo: dict[str, str] = {}

    def signature(span_id: str) -> str:
        if span_id not in memo:
            fields, parent = spans[span_id]
            above = "" if not parent else signature(parent) if parent in spans else "missing"
            memo[span_id] = f"{sorted(fields.items())!r} <- {above}"
        return memo[span_id]

    return Counter(signature(span_id) for span_id in spans)


@pytest.fixture(scope="module")
def both_paths() -> dict[str, tuple[int, dict[str, tuple[dict[str, Any], str]]]]:
    out = {}
    for path in ("sdk", "fast"):
        with Capture() as capture:
            created = seeded_run(path, capture)
            out[path] = (created, described_spans(capture.grpc_bodies))
    return out


def test_both_paths_send_every_span_they_made(both_paths: dict[str, Any]) -> None:
    for created, spans in both_paths.values():
        assert created == len(spans) > 1_500
    assert both_paths["sdk"][0] == both_paths["fast"][0]


def test_both_paths_make_the_same_spans_field_by_field(both_paths: dict[str, Any]) -> None:
    sdk = signatures(both_paths["sdk"][1])
    fast = signatures(both_paths["fast"][1])
    assert sdk == fast
    assert not any(text.endswith("missing") for text in fast)  # every parent link resolves


def test_the_run_covers_errors_retries_one_way_messages_and_remote_parents(
    both_paths: dict[str, Any],
) -> None:
    spans = [fields for fields, _ in both_paths["fast"][1].values()]
    attributes = [{kv["key"]: kv["value"] for kv in s.get("attributes", [])} for s in spans]
    assert any(a.get("nanoservices.retry") == {"boolValue": True} for a in attributes)
    errors = [s for s in spans if s["status"].get("code") == "STATUS_CODE_ERROR"]
    assert errors and all(s["events"][0]["name"] == "exception" for s in errors)
    assert {s["kind"] for s in spans} == {"SPAN_KIND_CLIENT", "SPAN_KIND_SERVER"}
    assert {s["flags"] for s in spans} == {0x100, 0x300}  # local and remote parents
    assert len({s["resource"]["attributes"][0]["value"]["stringValue"] for s in spans}) > 1


def spec(name: str, ip: str) -> InstanceSpec:
    fields = name.split(".")
    return InstanceSpec(
        name=name, node=".".join([*fields[:3], fields[4]]), service=fields[7], package=fields[8],
        region=fields[1], zone=fields[2], ip=ip, dependencies=(), cross_region=False,
    )  # fmt: skip


@pytest.fixture
def capture() -> Iterator[Capture]:
    with Capture() as rx:
        yield rx


def test_grpc_and_http_payloads_parse_as_export_trace_service_requests(capture: Capture) -> None:
    tracing = HostTracing(settings(capture, "fast", http=True), "host-0")
    seen: list[SpanRecord] = []
    tracing.add_record_sink("expected", seen.extend)
    www = spec("lamp.*.*..www00...www.denominator", "54.198.0.10")
    elb = spec("lamp.us-east-1.*..webserver-elb00...webserver-elb.elb", "54.198.0.11")
    ips = {www.name: www.ip, elb.name: elb.ip}
    client_side = tracing.spans_for(www, 7, ips.__getitem__)
    server_side = tracing.spans_for(elb, 7, ips.__getitem__)
    for n in range(3_000):
        msg = Message(
            kind=Kind.GET_REQUEST, sender=www.name, target=elb.name, request_id=n, reply_to=www.name
        )
        client = client_side.client(None, msg, 10.0 + n)
        server = server_side.server(msg, 10.0 + n)
        outcome = Status.OK if n % 7 else Status.TIMEOUT
        server_side.end(server, outcome, 10.5 + n)
        client_side.end(client, outcome, 11.0 + n)
    result = tracing.shutdown(10)
    assert result["created"] == 6_000
    assert {name: c["exported"] for name, c in result["exporters"].items()} == dict.fromkeys(
        result["exporters"], 6_000
    )
    grpc_ids = set(described_spans(capture.grpc_bodies))
    assert len(grpc_ids) == 6_000
    assert {t for t, _ in capture.http_bodies} == {"application/x-protobuf"}
    http_spans = described_spans([body for _, body in capture.http_bodies])
    assert set(http_spans) == grpc_ids
    assert {r.span_id for r in seen} == grpc_ids  # the record sink saw the same spans
    timed_out = [r for r in seen if r.error]
    assert {r.status_message for r in timed_out} == {"timeout"}
    assert {r.attributes["http.response.status_code"] for r in timed_out} == {504}
    assert {(r.kind, r.service) for r in seen} == {("CLIENT", "www"), ("SERVER", "webserver-elb")}
    # Trace ids are derived from the seed, the run id, the root's instance and its trace count.
    roots = sorted((r.start_ns, r.trace_id) for r in seen if r.kind == "CLIENT")
    run_id = tracing.settings.run_id
    assert [t for _, t in roots] == [trace_id(7, www.name, n + 1, run_id) for n in range(3_000)]
