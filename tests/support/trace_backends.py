"""Stand-ins for the query APIs of Zipkin, Jaeger and Tempo, serving spans a test produced, on 127.0.0.1.

No Zipkin, Jaeger or Tempo server installs here, so `nanoservices verify`'s adapters are tested against
these. Each answers its project's published trace-by-id response, as documented:

- Zipkin v2, GET /api/v2/trace/{traceId} (zipkin-api zipkin2-api.yaml): a JSON list of spans with
  traceId/id/parentId as lower-hex, name and localEndpoint.serviceName lower-cased (as Zipkin stores
  them), kind only for CLIENT/SERVER/PRODUCER/CONSUMER, timestamp/duration in microseconds, tags as
  strings with the OTel status as `otel.status_code` and `error` (the Collector's zipkin translation);
  404 when the trace is unknown.
- Jaeger UI/query API, GET /api/traces/{traceID}: {"data": [{traceID, spans: [{spanID, operationName,
  references: [{refType: CHILD_OF, ...}], startTime, duration, tags: [{key, type, value}], processID}],
  processes: {p1: {serviceName, tags}}}], "total", "limit", "offset", "errors"}; span.kind and error as
  tags; 404 with errors [{code: 404, msg: "trace not found"}].
- Jaeger api_v3, GET /api/v3/traces/{trace_id}: {"result": OTLP JSON TracesData} (resourceSpans,
  hex ids, enum names); 404 with {"error": {"httpCode": 404, "message": "trace not found"}}.
- Tempo, GET /api/traces/{traceID} with Accept: application/json: {"batches": [ResourceSpans]} marshalled
  by jsonpb, so ids are base64 and 64-bit times are strings; 404 when not found.

`lookup(trace_id)` supplies the spans (SpanRecords from tests/support/otlp_receiver.py), so a store can
be an OtlpReceiver's traces or spans computed on the fly (the 100,000-trace benchmark).
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from support.otlp_receiver import SpanRecord

Lookup = Callable[[str], Sequence[SpanRecord] | None]
KINDS = ("zipkin", "jaeger-v2", "jaeger", "tempo")


def _zipkin_tag(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return json.dumps(value)
    return str(value)


def zipkin_v2(spans: Sequence[SpanRecord]) -> list[dict[str, Any]]:
    out = []
    for s in spans:
        tags = {k: _zipkin_tag(v) for k, v in s.attributes.items()}
        if s.status_code == "ERROR":
            tags["otel.status_code"] = "ERROR"
            tags["error"] = ""
        span: dict[str, Any] = {
            "traceId": s.trace_id,
            "id": s.span_id,
            "name": s.name.lower(),
            "timestamp": s.start_time_unix_nano // 1000,
            "duration": max(1, (s.end_time_unix_nano - s.start_time_unix_nano) // 1000),
            "localEndpoint": {"serviceName": str(s.resource.get("service.name", "")).lower()},
            "tags": tags,
        }
        if s.parent_span_id:
            span["parentId"] = s.parent_span_id
        if s.kind in ("CLIENT", "SERVER", "PRODUCER", "CONSUMER"):
            span["kind"] = s.kind
        out.append(span)
    return out


def _jaeger_tag(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "type": "bool", "value": value}
    if isinstance(value, int):
        return {"key": key, "type": "int64", "value": value}
    if isinstance(value, float):
        return {"key": key, "type": "float64", "value": value}
    return {"key": key, "type": "string", "value": value if isinstance(value, str) else json.dumps(value)}


def jaeger_v2(trace_id: str, spans: Sequence[SpanRecord]) -> dict[str, Any]:
    processes: dict[str, dict[str, Any]] = {}
    ids: dict[str, str] = {}
    out = []
    for s in spans:
        service = str(s.resource.get("service.name", ""))
        if service not in ids:
            ids[service] = f"p{len(ids) + 1}"
            processes[ids[service]] = {"serviceName": service, "tags": []}
        tags = [_jaeger_tag(k, v) for k, v in s.attributes.items()]
        if s.kind not in ("INTERNAL", "UNSPECIFIED"):
            tags.append(_jaeger_tag("span.kind", s.kind.lower()))
        if s.status_code == "ERROR":
            tags += [_jaeger_tag("otel.status_code", "ERROR"), _jaeger_tag("error", True)]
        refs = (
            [{"refType": "CHILD_OF", "traceID": trace_id, "spanID": s.parent_span_id}]
            if s.parent_span_id
            else []
        )
        out.append(
            {
                "traceID": trace_id,
                "spanID": s.span_id,
                "flags": 1,
                "operationName": s.name,
                "references": refs,
                "startTime": s.start_time_unix_nano // 1000,
                "duration": (s.end_time_unix_nano - s.start_time_unix_nano) // 1000,
                "tags": tags,
                "logs": [],
                "processID": ids[service],
                "warnings": None,
            }
        )
    trace = {"traceID": trace_id, "spans": out, "processes": processes, "warnings": None}
    return {"data": [trace], "total": 0, "limit": 0, "offset": 0, "errors": None}


def _any_value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list):
        return {"arrayValue": {"values": [_any_value(v) for v in value]}}
    return {"stringValue": str(value)}


def _attributes(values: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": _any_value(v)} for k, v in values.items()]


def resource_spans(spans: Sequence[SpanRecord], encode_id: Callable[[str], str]) -> list[dict[str, Any]]:
    """OTLP JSON ResourceSpans, one per resource, ids through `encode_id` (hex or base64)."""
    groups: dict[int, tuple[SpanRecord, list[SpanRecord]]] = {}
    for s in spans:
        groups.setdefault(id(s.resource), (s, []))[1].append(s)
    out = []
    for first, members in groups.values():
        otlp = []
        for s in members:
            span: dict[str, Any] = {
                "traceId": encode_id(s.trace_id),
                "spanId": encode_id(s.span_id),
                "name": s.name,
                "kind": f"SPAN_KIND_{s.kind}",
                "startTimeUnixNano": str(s.start_time_unix_nano),
                "endTimeUnixNano": str(s.end_time_unix_nano),
                "attributes": _attributes(s.attributes),
                "status": {"code": f"STATUS_CODE_{s.status_code}"} if s.status_code != "UNSET" else {},
            }
            if s.parent_span_id:
                span["parentSpanId"] = encode_id(s.parent_span_id)
            otlp.append(span)
        out.append(
            {
                "resource": {"attributes": _attributes(dict(first.resource))},
                "scopeSpans": [{"scope": {"name": first.scope}, "spans": otlp}],
            }
        )
    return out


def _base64(hex_id: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_id)).decode()


def response(kind: str, trace_id: str, spans: Sequence[SpanRecord] | None) -> tuple[int, Any]:
    """(HTTP status, JSON body) of `kind`'s trace-by-id endpoint."""
    if kind == "zipkin":
        return (200, zipkin_v2(spans)) if spans else (404, None)
    if kind == "jaeger-v2":
        if not spans:
            return 404, {"data": None, "total": 0, "limit": 0, "offset": 0,
                         "errors": [{"code": 404, "msg": "trace not found"}]}  # fmt: skip
        return 200, jaeger_v2(trace_id, spans)
    if kind == "jaeger":
        if not spans:
            return 404, {"error": {"httpCode": 404, "message": "trace not found"}}
        return 200, {"result": {"resourceSpans": resource_spans(spans, str)}}
    if kind == "tempo":
        return (200, {"batches": resource_spans(spans, _base64)}) if spans else (404, None)
    raise ValueError(kind)


_PATHS = {
    "zipkin": "/api/v2/trace/",
    "jaeger-v2": "/api/traces/",
    "jaeger": "/api/v3/traces/",
    "tempo": "/api/traces/",
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # as Go servers do: no 40 ms delayed-ACK stall per keep-alive reply
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: thousands of reads."""

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        backend = self.server.backend
        backend.count()
        if backend.garbage:
            self._send(200, b"<html><body>502 Bad Gateway</body></html>", "text/html")
            return
        path = self.path.split("?", 1)[0]
        prefix = _PATHS[backend.kind]
        if not path.startswith(prefix):
            self._send(404, b"404 page not found\n", "text/plain")
            return
        trace_id = path[len(prefix) :].lower()
        status, body = response(backend.kind, trace_id, backend.lookup(trace_id))
        if body is None:
            self._send(status, b"trace not found\n", "text/plain")
        else:
            self._send(status, json.dumps(body).encode(), "application/json")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, backend: FakeBackend) -> None:
        self.backend = backend
        super().__init__(("127.0.0.1", 0), _Handler)


class FakeBackend:
    """One backend kind's trace-by-id API on a free loopback port; `garbage=True` answers HTML instead."""

    def __init__(self, kind: str, lookup: Lookup, garbage: bool = False) -> None:
        self.kind = kind
        self.lookup = lookup
        self.garbage = garbage
        self.requests = 0
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def count(self) -> None:
        with self._lock:
            self.requests += 1

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeBackend:
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
