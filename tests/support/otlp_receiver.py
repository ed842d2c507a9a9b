"""A fast in-process OTLP trace receiver (gRPC and HTTP/protobuf) for tests.

Why: a real backend (Phoenix) is slow to start and slow to query; tests that count tens of thousands
of spans, or that need a backend that misbehaves on purpose (slow, UNAVAILABLE / 503), want something
in-process that absorbs spans as fast as the SDK can export them and can be inspected directly.

Absorbing is cheap: a request is parsed (upb protobuf, in C) and its spans counted; the per-span Python
records are only built when a test asks for them (`spans()`, `traces()`, ...).

    with OtlpReceiver() as rx:
        exporter = OTLPSpanExporter(endpoint=rx.otlp_grpc_endpoint, insecure=True)   # grpc exporter
        exporter = OTLPSpanExporter(endpoint=rx.otlp_http_endpoint)                   # http exporter
        ...
        assert rx.wait_for(5000, timeout=10), rx.count
        assert rx.missing_parents() == {}

Both servers bind 127.0.0.1 on a free port; `stop()` (or leaving the `with`) shuts down every server
and connection thread they started.
"""

from __future__ import annotations

import contextlib
import gzip
import socket
import threading
import time
import zlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1 import trace_pb2

__all__ = ["OtlpReceiver", "SpanRecord", "missing_parents"]

# Proto enums as short names, looked up once ("SPAN_KIND_SERVER" -> "SERVER", "STATUS_CODE_ERROR" -> "ERROR").
_KIND_NAMES = {v.number: v.name.removeprefix("SPAN_KIND_") for v in trace_pb2.Span.SpanKind.DESCRIPTOR.values}
_STATUS_NAMES = {
    v.number: v.name.removeprefix("STATUS_CODE_") for v in trace_pb2.Status.StatusCode.DESCRIPTOR.values
}
_EMPTY_RESPONSE = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()


@dataclass(frozen=True, slots=True)
class SpanRecord:
    """One received span, flattened to what tests assert on.

    `resource` is shared (the same dict object) by all spans of one ResourceSpans: treat it as read-only.
    """

    trace_id: str  # 32 hex chars
    span_id: str  # 16 hex chars
    parent_span_id: str  # 16 hex chars, or "" for a root span
    name: str
    kind: str  # "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER" or "UNSPECIFIED"
    status_code: str  # "UNSET", "OK" or "ERROR"
    resource: Mapping[str, Any]
    attributes: dict[str, Any]
    events: tuple[str, ...]
    scope: str = ""
    start_time_unix_nano: int = 0
    end_time_unix_nano: int = 0


def _any_value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [_any_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    return getattr(value, which)


def _attributes(kvs: Iterable[KeyValue]) -> dict[str, Any]:
    return {kv.key: _any_value(kv.value) for kv in kvs}


def _count_spans(request: trace_service_pb2.ExportTraceServiceRequest) -> int:
    return sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)


def _records(request: trace_service_pb2.ExportTraceServiceRequest) -> Iterable[SpanRecord]:
    for rs in request.resource_spans:
        resource = _attributes(rs.resource.attributes)
        for ss in rs.scope_spans:
            scope = ss.scope.name
            for s in ss.spans:
                yield SpanRecord(
                    trace_id=s.trace_id.hex(),
                    span_id=s.span_id.hex(),
                    parent_span_id=s.parent_span_id.hex(),
                    name=s.name,
                    kind=_KIND_NAMES.get(s.kind, str(s.kind)),
                    status_code=_STATUS_NAMES.get(s.status.code, str(s.status.code)),
                    resource=resource,
                    attributes=_attributes(s.attributes),
                    events=tuple(e.name for e in s.events),
                    scope=scope,
                    start_time_unix_nano=s.start_time_unix_nano,
                    end_time_unix_nano=s.end_time_unix_nano,
                )


def _field(span: SpanRecord | Mapping[str, Any], name: str) -> str:
    return span[name] if isinstance(span, Mapping) else getattr(span, name)


def missing_parents(spans: Iterable[SpanRecord | Mapping[str, Any]]) -> dict[str, set[str]]:
    """Trace id -> parent span ids referenced in that trace but not received; {} means every trace is whole.

    Accepts SpanRecords or dicts with trace_id / span_id / parent_span_id keys (what PhoenixServer returns),
    so one check serves both the in-process receiver and the real backend.
    """
    present: dict[str, set[str]] = defaultdict(set)
    wanted: dict[str, set[str]] = defaultdict(set)
    for span in spans:
        trace_id = _field(span, "trace_id")
        present[trace_id].add(_field(span, "span_id"))
        parent = _field(span, "parent_span_id")
        if parent:
            wanted[trace_id].add(parent)
    missing = {t: parents - present[t] for t, parents in wanted.items()}
    return {t: m for t, m in missing.items() if m}


@dataclass
class _Behaviour:
    """How the receiver answers: the knobs for testing an exporter against a slow or failing backend."""

    delay_s: float = 0.0
    fail_remaining: int = 0  # requests still to reject; -1 rejects forever
    retryable: bool = True  # UNAVAILABLE / 503 (the SDK retries) or INVALID_ARGUMENT / 400 (it drops)


@dataclass
class _Stats:
    requests: int = 0
    rejected_requests: int = 0
    rejected_spans: int = 0
    by_transport: dict[str, int] = field(default_factory=lambda: {"grpc": 0, "http": 0})


class OtlpReceiver:
    """In-process OTLP/gRPC + OTLP/HTTP(protobuf) trace receiver on 127.0.0.1, for tests.

    Why a class with a lock and a condition: exports arrive on server threads while the test thread
    waits; `wait_for` blocks on the condition instead of sleeping.
    """

    def __init__(
        self,
        *,
        grpc_enabled: bool = True,
        http_enabled: bool = True,
        grpc_workers: int = 4,
        host: str = "127.0.0.1",
    ) -> None:
        self.host = host  # another loopback-only address, or a test network's (tests/support/netns.py)
        self._grpc_enabled = grpc_enabled
        self._http_enabled = http_enabled
        self._grpc_workers = grpc_workers
        self._cond = threading.Condition()
        self._pending: list[trace_service_pb2.ExportTraceServiceRequest] = []
        self._records: list[SpanRecord] = []
        self._count = 0
        self._stats = _Stats()
        self._behaviour = _Behaviour()
        self._stopping = threading.Event()
        self._grpc_server: grpc.Server | None = None
        self._http_server: _OtlpHttpServer | None = None
        self._http_thread: threading.Thread | None = None
        self.grpc_port: int | None = None
        self.http_port: int | None = None

    # -- lifecycle -----------------------------------------------------------------------------------------

    def start(self) -> OtlpReceiver:
        """Bind both servers to free ports on 127.0.0.1 and start serving."""
        self._stopping.clear()
        try:
            if self._grpc_enabled:
                server = grpc.server(
                    ThreadPoolExecutor(max_workers=self._grpc_workers, thread_name_prefix="otlp-rx-grpc"),
                    options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)],
                )
                trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_TraceService(self), server)
                self.grpc_port = server.add_insecure_port(f"{self.host}:0")
                server.start()
                self._grpc_server = server
            if self._http_enabled:
                http_server = _OtlpHttpServer((self.host, 0), _OtlpHttpHandler, self)
                self.http_port = http_server.server_address[1]
                self._http_server = http_server
                self._http_thread = threading.Thread(
                    target=http_server.serve_forever,
                    kwargs={"poll_interval": 0.1},
                    name="otlp-rx-http",
                    daemon=True,
                )
                self._http_thread.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, grace_s: float = 2.0) -> None:
        """Stop both servers and every connection thread; idempotent."""
        self._stopping.set()  # wakes simulated delays so in-flight requests finish at once
        with self._cond:
            self._cond.notify_all()
        if self._grpc_server is not None:
            self._grpc_server.stop(grace=grace_s).wait(grace_s + 1.0)
            self._grpc_server = None
        if self._http_server is not None:
            self._http_server.shutdown()  # stops serve_forever
            self._http_server.close_connections()  # unblocks keep-alive handler threads
            self._http_server.server_close()  # joins handler threads
            self._http_server = None
        if self._http_thread is not None:
            self._http_thread.join(grace_s)
            self._http_thread = None

    def __enter__(self) -> OtlpReceiver:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- endpoints -----------------------------------------------------------------------------------------

    @property
    def otlp_grpc_endpoint(self) -> str:
        """For `opentelemetry.exporter.otlp.proto.grpc...OTLPSpanExporter(endpoint=..., insecure=True)`."""
        if self.grpc_port is None:
            raise RuntimeError("gRPC receiver not running")
        return f"http://{self.host}:{self.grpc_port}"

    @property
    def otlp_http_endpoint(self) -> str:
        """Full traces URL, for `opentelemetry.exporter.otlp.proto.http...OTLPSpanExporter(endpoint=...)`."""
        if self.http_port is None:
            raise RuntimeError("HTTP receiver not running")
        return f"http://{self.host}:{self.http_port}/v1/traces"

    # -- misbehaviour --------------------------------------------------------------------------------------

    def simulate(self, *, delay_s: float = 0.0, fail: int = 0, retryable: bool = True) -> None:
        """Make the backend slow and/or failing, for tests of retry and drop accounting.

        delay_s: hold every request this long before answering (interrupted by stop()).
        fail: reject the next `fail` requests (-1: all of them, until simulate() is called again).
        retryable: reject with gRPC UNAVAILABLE / HTTP 503 (the SDK retries with backoff) if True,
            else with INVALID_ARGUMENT / HTTP 400 (the SDK drops the batch at once).
        Rejected requests are not stored; they are counted in `stats()`.
        """
        with self._cond:
            self._behaviour = _Behaviour(delay_s=delay_s, fail_remaining=fail, retryable=retryable)

    def _admit(
        self, request: trace_service_pb2.ExportTraceServiceRequest, transport: str
    ) -> tuple[bool, bool]:
        """Store the request unless told to fail it; returns (accepted, retryable)."""
        with self._cond:
            self._stats.requests += 1
            self._stats.by_transport[transport] += 1
            self._cond.notify_all()
            behaviour = self._behaviour
        if behaviour.delay_s > 0:
            self._stopping.wait(behaviour.delay_s)
        n = _count_spans(request)
        with self._cond:
            if self._behaviour.fail_remaining != 0:
                if self._behaviour.fail_remaining > 0:
                    self._behaviour.fail_remaining -= 1
                self._stats.rejected_requests += 1
                self._stats.rejected_spans += n
                return False, self._behaviour.retryable
            self._pending.append(request)
            self._count += n
            self._cond.notify_all()
        return True, True

    # -- inspection ----------------------------------------------------------------------------------------

    @property
    def count(self) -> int:
        """Spans accepted so far."""
        with self._cond:
            return self._count

    def stats(self) -> dict[str, int]:
        """Request counters: requests (arrived), rejected_requests, rejected_spans, grpc_/http_requests."""
        with self._cond:
            s = self._stats
            return {
                "requests": s.requests,
                "rejected_requests": s.rejected_requests,
                "rejected_spans": s.rejected_spans,
                "grpc_requests": s.by_transport["grpc"],
                "http_requests": s.by_transport["http"],
            }

    def wait_for(self, count: int, timeout: float) -> bool:
        """Block until at least `count` spans were accepted (True) or `timeout` seconds passed (False)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._count < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stopping.is_set():
                    return self._count >= count
                self._cond.wait(remaining)
            return True

    def wait_for_requests(self, count: int, timeout: float) -> bool:
        """Block until at least `count` export requests arrived (accepted, rejected or still delayed)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._stats.requests < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stopping.is_set():
                    return self._stats.requests >= count
                self._cond.wait(remaining)
            return True

    def spans(self) -> list[SpanRecord]:
        """Every accepted span, in arrival order (records are built here, on demand, and cached)."""
        with self._cond:
            pending, self._pending = self._pending, []
            for request in pending:
                self._records.extend(_records(request))
            return list(self._records)

    def traces(self) -> dict[str, list[SpanRecord]]:
        """Accepted spans grouped by trace id."""
        grouped: dict[str, list[SpanRecord]] = defaultdict(list)
        for span in self.spans():
            grouped[span.trace_id].append(span)
        return dict(grouped)

    def missing_parents(self) -> dict[str, set[str]]:
        """Trace id -> parent ids not received; {} when every trace arrived whole."""
        return missing_parents(self.spans())

    def complete_traces(self) -> bool:
        """True when every parent_span_id of every span is present in the same trace."""
        return not self.missing_parents()

    def clear(self) -> None:
        """Forget accepted spans and counters (the servers keep running)."""
        with self._cond:
            self._pending.clear()
            self._records.clear()
            self._count = 0
            self._stats = _Stats()


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, receiver: OtlpReceiver) -> None:
        self._receiver = receiver

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        accepted, retryable = self._receiver._admit(request, "grpc")
        if not accepted:
            code = grpc.StatusCode.UNAVAILABLE if retryable else grpc.StatusCode.INVALID_ARGUMENT
            context.abort(code, "simulated backend failure")
        return trace_service_pb2.ExportTraceServiceResponse()


class _OtlpHttpServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its receiver and can close idle keep-alive connections on stop."""

    daemon_threads = False  # so server_close() joins the handler threads
    block_on_close = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], receiver: OtlpReceiver
    ) -> None:
        self.receiver = receiver
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        super().__init__(address, handler)

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self._conn_lock:
            if alive:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def close_connections(self) -> None:
        with self._conn_lock:
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _OtlpHttpHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the SDK's requests.Session reuses connections
    server: _OtlpHttpServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging: at thousands of requests it drowns test output."""

    def _reply(self, status: int, body: bytes = b"", content_type: str = "application/x-protobuf") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.split("?", 1)[0] != "/v1/traces":
            self._reply(404, b"only /v1/traces", "text/plain")
            return
        content_type = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip()
        if content_type != "application/x-protobuf":
            self._reply(415, b"only application/x-protobuf", "text/plain")
            return
        encoding = (self.headers.get("Content-Encoding") or "").strip().lower()
        try:
            if encoding == "gzip":
                body = gzip.decompress(body)
            elif encoding == "deflate":
                body = zlib.decompress(body)
            request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
        except Exception as exc:  # malformed payloads are the sender's bug: answer 400, keep serving
            self._reply(400, f"bad request: {exc}".encode(), "text/plain")
            return
        accepted, retryable = self.server.receiver._admit(request, "http")
        if accepted:
            self._reply(200, _EMPTY_RESPONSE)
        else:
            self._reply(503 if retryable else 400, b"simulated backend failure", "text/plain")
