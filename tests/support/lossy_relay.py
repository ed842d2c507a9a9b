"""A lossy OTLP/HTTP relay for tests: between an exporter and a backend, it drops exactly one span in
every `drop_every` (1 %: every 100th span it relays) and rewrites one attribute on every `rewrite_every`-th
span it keeps, and remembers which, so a test can hold `nanoservices verify` to exactly those spans.

    with OtlpReceiver() as backend, LossyRelay(backend.otlp_http_endpoint) as relay:
        exporter = OTLPSpanExporter(endpoint=relay.endpoint)    # the SDK's OTLP/HTTP exporter
        ...
        relay.dropped      # {(trace_id, span_id): service}
        relay.rewritten    # {(trace_id, span_id): service}
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import requests
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

REWRITTEN_VALUE = "rewritten-by-relay"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # as Go servers do: no 40 ms delayed-ACK stall per keep-alive reply
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
        forwarded = self.server.relay.mangle(request).SerializeToString()
        answer = requests.post(
            self.server.relay.upstream,
            data=forwarded,
            headers={"Content-Type": "application/x-protobuf"},
            timeout=10,
        )
        self.send_response(answer.status_code)
        self.send_header("Content-Type", answer.headers.get("Content-Type", "application/x-protobuf"))
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, relay: LossyRelay) -> None:
        self.relay = relay
        super().__init__(("127.0.0.1", 0), _Handler)


class LossyRelay:
    def __init__(
        self, upstream: str, drop_every: int = 100, rewrite_every: int = 250, attribute: str = "peer.service"
    ) -> None:
        self.upstream = upstream
        self.drop_every = drop_every
        self.rewrite_every = rewrite_every
        self.attribute = attribute
        self.seen = 0
        self.kept = 0
        self.dropped: dict[tuple[str, str], str] = {}
        self.rewritten: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def mangle(
        self, request: trace_service_pb2.ExportTraceServiceRequest
    ) -> trace_service_pb2.ExportTraceServiceRequest:
        """Drop every drop_every-th span; rewrite `attribute` on each rewrite_every-th kept span having it."""
        with self._lock:
            for rs in request.resource_spans:
                service = next((kv.value.string_value for kv in rs.resource.attributes
                                if kv.key == "service.name"), "")  # fmt: skip
                for ss in rs.scope_spans:
                    keep = []
                    for span in ss.spans:
                        self.seen += 1
                        key = (span.trace_id.hex(), span.span_id.hex())
                        if self.seen % self.drop_every == 0:
                            self.dropped[key] = service
                            continue
                        attribute = next((kv for kv in span.attributes if kv.key == self.attribute), None)
                        if attribute is not None:
                            self.kept += 1
                            if self.kept % self.rewrite_every == 0:
                                attribute.value.string_value = REWRITTEN_VALUE
                                self.rewritten[key] = service
                        keep.append(span)
                    del ss.spans[:]
                    ss.spans.extend(keep)
        return request

    @property
    def endpoint(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1/traces"

    def __enter__(self) -> LossyRelay:
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
