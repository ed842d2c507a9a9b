"""How many spans/s the in-process OTLP test receiver absorbs, over gRPC and HTTP.

Why: tests that count high span volumes must know whether the receiver or the SDK is the bottleneck.
Three figures per transport, all in one process (as in the tests, so they share the GIL):
  pipeline  - tracer -> BatchSpanProcessor -> OTLP exporter -> receiver (what a test sees)
  exporter  - pre-built spans pushed through exporter.export() in 512-span batches (encoding + transport)
  raw       - pre-serialised 512-span requests posted straight at the receiver (its own ceiling)
and how fast spans() turns stored requests into SpanRecords (done lazily, off the ingest path).

    .venv/bin/python scripts/bench_receiver.py [--spans 50000]
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

import grpc
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.otlp_receiver import OtlpReceiver  # found through the path above

BATCH = 512
RESOURCE = Resource.create({"service.name": "bench", "service.instance.id": "bench00"})


def make_exporter(transport: str, rx: OtlpReceiver) -> SpanExporter:
    if transport == "grpc":
        return GrpcSpanExporter(endpoint=rx.otlp_grpc_endpoint, insecure=True)
    return HttpSpanExporter(endpoint=rx.otlp_http_endpoint)


def prebuilt_spans(n: int) -> list[ReadableSpan]:
    """Finished spans in 10-span traces with a few attributes, like a hop's SERVER/CLIENT spans."""
    tracer = TracerProvider(resource=RESOURCE).get_tracer("bench")
    spans: list[ReadableSpan] = []
    while len(spans) < n:
        with tracer.start_as_current_span("root", attributes={"k": "v", "n": 1}) as root:
            spans.append(root)  # type: ignore[arg-type]
            for _ in range(9):
                child = tracer.start_span("child", attributes={"k": "v", "n": 2})
                child.end()
                spans.append(child)  # type: ignore[arg-type]
    return spans[:n]


def timed(rx: OtlpReceiver, n: int, work: Callable[[], None]) -> float:
    rx.clear()
    t0 = time.perf_counter()
    work()
    if not rx.wait_for(n, timeout=120):
        raise SystemExit(f"receiver got {rx.count} of {n} spans")
    return n / (time.perf_counter() - t0)


def bench_pipeline(transport: str, n: int) -> float:
    with OtlpReceiver() as rx:
        provider = TracerProvider(resource=RESOURCE)
        provider.add_span_processor(
            BatchSpanProcessor(make_exporter(transport, rx), max_queue_size=n, max_export_batch_size=BATCH)
        )
        tracer = provider.get_tracer("bench")

        def work() -> None:
            for _ in range(n // 10):
                with tracer.start_as_current_span("root", attributes={"k": "v", "n": 1}):
                    for _ in range(9):
                        with tracer.start_as_current_span("child", attributes={"k": "v", "n": 2}):
                            pass
            provider.force_flush(120_000)

        try:
            return timed(rx, n // 10 * 10, work)
        finally:
            provider.shutdown()


def bench_exporter(transport: str, spans: Sequence[ReadableSpan]) -> float:
    with OtlpReceiver() as rx:
        exporter = make_exporter(transport, rx)

        def work() -> None:
            for i in range(0, len(spans), BATCH):
                exporter.export(spans[i : i + BATCH])

        try:
            return timed(rx, len(spans), work)
        finally:
            exporter.shutdown()


def bench_raw(transport: str, spans: Sequence[ReadableSpan]) -> float:
    bodies = [encode_spans(spans[i : i + BATCH]) for i in range(0, len(spans), BATCH)]
    with OtlpReceiver() as rx:
        if transport == "grpc":
            channel = grpc.insecure_channel(f"127.0.0.1:{rx.grpc_port}")
            stub = trace_service_pb2_grpc.TraceServiceStub(channel)

            def work() -> None:
                for body in bodies:
                    stub.Export(body, timeout=30)

            try:
                return timed(rx, len(spans), work)
            finally:
                channel.close()
        payloads = [b.SerializeToString() for b in bodies]

        def post_all() -> None:
            for payload in payloads:
                req = urllib.request.Request(
                    rx.otlp_http_endpoint, data=payload, headers={"Content-Type": "application/x-protobuf"}
                )
                with urllib.request.urlopen(req, timeout=30) as resp:
                    resp.read()

        return timed(rx, len(spans), post_all)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spans", type=int, default=50_000)
    args = parser.parse_args()
    spans = prebuilt_spans(args.spans)
    print(f"{'transport':<10}{'pipeline':>12}{'exporter':>12}{'raw':>12}   spans/s, {args.spans} spans")
    bench_pipeline("grpc", 5_000)  # warm-up: the first gRPC channel and BSP thread start cost ~3x otherwise
    for transport in ("grpc", "http"):
        p = bench_pipeline(transport, args.spans)
        e = bench_exporter(transport, spans)
        r = bench_raw(transport, spans)
        print(f"{transport:<10}{p:>12,.0f}{e:>12,.0f}{r:>12,.0f}")
    with OtlpReceiver() as rx:  # records are built lazily, on the first spans() call: how fast is that?
        exporter = make_exporter("http", rx)
        for i in range(0, len(spans), BATCH):
            exporter.export(spans[i : i + BATCH])
        exporter.shutdown()
        rx.wait_for(len(spans), timeout=60)
        t0 = time.perf_counter()
        n = len(rx.spans())
        print(f"spans() builds {n / (time.perf_counter() - t0):,.0f} SpanRecords/s")


if __name__ == "__main__":
    main()
