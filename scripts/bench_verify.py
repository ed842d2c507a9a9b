"""Time and peak memory of `nanoservices verify` over a 100,000-trace run (issue 21's last acceptance item).

    .venv/bin/python scripts/bench_verify.py [--traces 100000] [--spans 10] [--workers 8]

1. Writes a synthetic run's expected record (4 host files, `--spans` spans per trace, the format of
   nanoservices.tracing.expected) into a temporary run directory.
2. Starts a Zipkin v2 stand-in in a child process: GET /api/v2/trace/{id} computes the trace's spans from
   its id (trace i is `5eed` + i in hex), so the server holds nothing per trace.
3. Runs the real CLI, `nanoservices verify DIR --backend zipkin --url URL --wait 0`, in a child process and
   prints its wall time, its peak RSS (the child's ru_maxrss) and its verdict line.

`--record-cost` instead times the writing side: the hosts' record sink (tracing.expected.ExpectedSink)
fed SpanRecord batches of 1,024 as a lane thread feeds it, in µs per span (that thread's CPU, off the
event loop).

A measurement, not a test: the machine may be shared, so compare figures taken in one session.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SERVICES = ("www-elb", "wwwproxy", "www", "homepage", "login", "subscriber", "cassSubscriber")
PREFIX = "5eed"


def trace_id(i: int) -> str:
    return f"{PREFIX}{i:028x}"


def spans_of(i: int, count: int) -> list[tuple[str, str, str, str, str, int]]:
    """(span_id, parent_id, service, name, kind, status code) of trace i: a chain of calls."""
    out = []
    for j in range(count):
        service = SERVICES[j // 2 % len(SERVICES)]
        parent = f"{i:08x}{j - 1:08x}" if j else ""
        kind = "SERVER" if j % 2 == 0 else "CLIENT"
        out.append((f"{i:08x}{j:08x}", parent, service, f"GET /{service}", kind, 200))
    return out


def write_record(run_dir: Path, traces: int, per_trace: int, hosts: int = 4) -> int:
    directory = run_dir / "expected"
    directory.mkdir(parents=True)
    files = [open(directory / f"host-{h}.jsonl", "w") for h in range(hosts)]  # noqa: SIM115
    t0 = 1_800_000_000_000_000_000
    for i in range(traces):
        lines = []
        for span_id, parent, service, name, kind, status in spans_of(i, per_trace):
            attributes = {"http.request.method": "GET", "http.response.status_code": status}
            fields = [trace_id(i), span_id, parent, service, name, kind, 0, t0, t0 + 1000, attributes]
            lines.append(json.dumps(fields, separators=(",", ":")) + "\n")
        files[i % hosts].write("".join(lines))
    for f in files:
        f.close()
    return sum(f.stat().st_size for f in directory.iterdir())


class _Zipkin(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # as Go servers do: no 40 ms delayed-ACK stall per keep-alive reply
    per_trace = 10

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        wanted = self.path.rsplit("/", 1)[-1]
        body = b"trace not found"
        status = 404
        if self.path.startswith("/api/v2/trace/") and wanted.startswith(PREFIX):
            i = int(wanted[len(PREFIX) :], 16)
            spans = [
                {
                    "traceId": wanted,
                    "id": span_id,
                    **({"parentId": parent} if parent else {}),
                    "name": name.lower(),
                    "kind": kind,
                    "timestamp": 1_800_000_000_000_000,
                    "duration": 1,
                    "localEndpoint": {"serviceName": service.lower()},
                    "tags": {"http.request.method": "GET", "http.response.status_code": str(code)},
                }
                for span_id, parent, service, name, kind, code in spans_of(i, self.per_trace)
            ]
            body, status = json.dumps(spans).encode(), 200
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def serve(per_trace: int) -> None:
    _Zipkin.per_trace = per_trace
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Zipkin)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


def record_cost(spans: int = 200_000, batch: int = 1_024) -> None:
    from nanoservices.tracing.expected import ExpectedSink
    from nanoservices.tracing.records import SpanRecord

    attributes = {
        "peer.service": "subscriber", "server.address": "10.0.1.7", "server.port": 8080,
        "nanoservices.message.kind": "GET_REQUEST", "http.request.method": "GET",
        "http.response.status_code": 200,
    }  # fmt: skip
    records = [
        SpanRecord(
            f"{i:032x}",
            f"{i:016x}",
            f"{i + 1:016x}",
            1_800_000_000_000_000_000,
            1_800_000_000_000_100_000,
            "netflixoss.us-east-1.zoneA..homepage..homepage00..node",
            "homepage",
            "GET /subscriber",
            "CLIENT",
            False,
            "",
            attributes,
        )
        for i in range(batch)
    ]
    with tempfile.TemporaryDirectory(prefix="bench-record-") as tmp:
        sink = ExpectedSink(tmp, "host-0")
        started = time.process_time()
        for _ in range(spans // batch):
            sink(records)
        cpu = time.process_time() - started
        size = (Path(tmp) / "expected" / "host-0.jsonl").stat().st_size
    done = spans // batch * batch
    print(f"record sink: {done:,} spans in batches of {batch:,}: {cpu / done * 1e6:.2f} µs CPU per span, "
          f"{size / done:.0f} bytes per span")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=100_000)
    parser.add_argument("--spans", type=int, default=10)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--record-cost", action="store_true", help="time the record sink instead")
    parser.add_argument("--serve", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.record_cost:
        record_cost()
        return
    if args.serve:
        serve(args.serve)
        return
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as tmp:
        run_dir = Path(tmp)
        started = time.perf_counter()
        size = write_record(run_dir, args.traces, args.spans)
        print(f"record: {args.traces:,} traces x {args.spans} spans, {size / 1e6:.1f} MB "
              f"(written in {time.perf_counter() - started:.1f}s)")  # fmt: skip
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(args.spans)], stdout=subprocess.PIPE, text=True
        )
        try:
            assert server.stdout is not None
            url = f"http://127.0.0.1:{server.stdout.readline().strip()}"
            cli = Path(sys.executable).with_name("nanoservices")
            command = [str(cli), "verify", str(run_dir), "--backend", "zipkin", "--url", url, "--wait", "0",
                       "--workers", str(args.workers)]  # fmt: skip
            started = time.perf_counter()
            with tempfile.TemporaryFile("w+") as out:
                verifier = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=os.environ)
                _, status, usage = os.wait4(verifier.pid, 0)  # this child's own rusage: its peak RSS
                wall = time.perf_counter() - started
                out.seek(0)
                output = out.read()
        finally:
            server.terminate()
            server.wait()
        print(f"verify: exit {os.waitstatus_to_exitcode(status)}, {wall:.1f}s wall, "
              f"{args.traces / wall:,.0f} traces/s, peak RSS {usage.ru_maxrss / 1024:.0f} MB, "
              f"CPU {usage.ru_utime + usage.ru_stime:.1f}s")  # fmt: skip
        print(output.splitlines()[0] if output else "(no output)")


if __name__ == "__main__":
    main()
