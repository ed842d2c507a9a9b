"""Span cost, side by side in one run: the bare OpenTelemetry SDK floor, the `sdk` span path and the `fast`
span path of packed netflixoss, each into the same kind of counting OTLP gRPC receiver.

    .venv/bin/python scripts/bench_spans.py [--duration 15] [--rate 6000] [--py-spy 10]

Figures, one line each with the command behind it:
- spans/s received: the receiver's count growth over the traffic window, divided by its length. For a run,
  the window is from the CLI's "traffic running" progress line to its "shutting down" line; for the floor,
  from its first span to the last one exported (its shutdown done).
- CPU µs per exported span: utime+stime from /proc/<pid>/stat of every process of the run (the CLI driver
  and everything under it: Ray's gcs_server, raylet, workers and their helpers; for the floor its one
  process), sampled at the start and at the end of the traffic window only, divided by the spans received
  in the window. The receiver runs in this script's process and is not counted (it is the backend).
- failed requests and dropped spans, from the run's summary.json.

Targets (issue 16, this 2-core machine): fast path <= 25 µs per span and <= 0.25x the floor measured in the
same run, >= 80,000 spans/s received, 0 dropped, < 1 % failed requests.

`--py-spy N` also records the busiest process of the fast run for N seconds (py-spy must be on PATH or in
the venv) and prints where its time goes (samples of the thread holding the GIL: its Python work): the
functions most often on top of the stack, and the share of samples under each of a few entry points.

An untraced run at the same rate gives CPU per request without spans; a traced run's CPU per request above
it, per span, is what tracing itself costs (its spans' share of the whole).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from proc_cpu import process_name, tree_cpu  # noqa: E402  (scripts/ is on sys.path: the script's folder)
from support.otlp_receiver import OtlpReceiver  # noqa: E402  (tests/ is not a package on sys.path)

CLI = Path(sys.executable).with_name("nanoservices")

_FLOOR_CODE = """
import json, os, sys, time
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

def cpu():
    fields = open("/proc/self/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

n = int(sys.argv[2])
provider = TracerProvider(resource=Resource({"service.name": "floor"}), shutdown_on_exit=False)
# A queue that holds the whole run: the floor is the SDK's cost per exported span, not its drops.
provider.add_span_processor(
    BatchSpanProcessor(OTLPSpanExporter(endpoint=sys.argv[1], insecure=True), max_queue_size=2 * n + 10)
)
tracer = provider.get_tracer("floor")
attributes = {"peer.service": "elb", "server.address": "54.198.0.11", "server.port": 8080,
              "nanoservices.message.kind": "GET_REQUEST", "http.request.method": "GET", "http.route": "/elb"}
c0, t0 = cpu(), time.monotonic()
for _ in range(n):
    with tracer.start_as_current_span("GET /www", attributes=attributes):
        with tracer.start_as_current_span("GET /elb", attributes=attributes):
            pass
provider.shutdown()
print(json.dumps({"cpu_s": cpu() - c0, "wall_s": time.monotonic() - t0, "spans": 2 * n}))
"""


_EXPORT_CODE = """
import json, os, sys, time
from nanoservices.messages import Kind, Message, Status
from nanoservices.plan import InstanceSpec
from nanoservices.tracing import HostTracing, TracingSettings
from nanoservices.tracing.host import EncodedOtlp, otlp_exporter

def cpu():
    fields = open("/proc/self/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

def spec(name, ip):
    f = name.split(".")
    return InstanceSpec(name=name, node=".".join([*f[:3], f[4]]), service=f[7], package=f[8], region=f[1],
                        zone=f[2], ip=ip, dependencies=(), cross_region=False)

endpoint, n, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
endpoints = TracingSettings.from_options([endpoint], "grpc", None, [], {}).endpoints
settings = TracingSettings(endpoints=endpoints, queue_size=4 * n)  # holds the run: cost, not drops
tracing = HostTracing(settings, "host-0")
www = spec("lamp.*.*..www00...www.denominator", "54.198.0.10")
elb = spec("lamp.us-east-1.*..webserver-elb00...webserver-elb.elb", "54.198.0.11")
ips = {www.name: www.ip, elb.name: elb.ip}
caller, callee = tracing.spans_for(www, 1, ips.__getitem__), tracing.spans_for(elb, 1, ips.__getitem__)
batch, inline = [], None
if mode == "inline":  # no export threads: the producer encodes and sends each batch itself
    inline = EncodedOtlp(otlp_exporter(endpoints[0], 5.0))
    caller._append = callee._append = batch.append
c0, t0 = cpu(), time.monotonic()
for i in range(n):
    msg = Message(kind=Kind.GET_REQUEST, sender=www.name, target=elb.name, request_id=i, reply_to=www.name)
    client = caller.client(None, msg, 10.0)
    server = callee.server(msg, 10.0)
    callee.end(server, Status.OK, 10.5)
    caller.end(client, Status.OK, 11.0)
    if inline is not None and len(batch) >= 1024:
        inline.export(batch)
        batch.clear()
if inline is not None and batch:
    inline.export(batch)
producer = time.monotonic() - t0
counts = tracing.shutdown(10)["exporters"]
assert all(not c["dropped"] for c in counts.values()), counts
print(json.dumps({"cpu_s": cpu() - c0, "producer_s": producer, "spans": 2 * n}))
"""


_INPROCESS_CODE = """
import asyncio, json, os, sys
from pathlib import Path
from nanoservices.architecture import load_architecture
from nanoservices.config import RunConfig
from nanoservices.plan import expand
from nanoservices.runtime.host import HostCore, HostSetup
from nanoservices.runtime.local import LocalRun
from nanoservices.tracing import HostTracing, TracingSettings

def cpu():
    fields = open("/proc/self/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

endpoint, ticks, path, arch_dir = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
settings = None
if path != "none":
    endpoints = TracingSettings.from_options([endpoint], "grpc", None, [], {}).endpoints
    settings = TracingSettings(endpoints=endpoints, span_path=path, queue_size=1_000_000)
tracings = []

class Run(LocalRun):
    def _host(self, setup: HostSetup) -> HostCore:
        tracing = HostTracing(settings, f"host-{setup.index}") if settings is not None else None
        tracings.append(tracing)
        return HostCore(setup, tracing=tracing, clock=lambda: 5000.0)

async def go():
    plan = expand(load_architecture(Path(arch_dir) / "netflixoss_arch.json"), 100, 1)
    run = Run(plan, RunConfig(arch=plan.arch, seed=7, instances_per_host=100, tracing=settings, chaos=False))
    await run.start()
    sources = [s.name for s in plan.instances if s.package == "denominator"]
    c0 = cpu()
    for _ in range(ticks):
        for name in sources:
            run.instance(name).behaviour.tick()
        await run.settle()
    stats = await run.stop()
    created = sum(t.shutdown(10)["created"] for t in tracings if t is not None)
    return cpu() - c0, created, stats["requests_issued"]

used, created, issued = asyncio.run(go())
print(json.dumps({"cpu_s": used, "spans": created, "requests": issued}))
"""


def in_process(ticks: int, rounds: int) -> dict[str, list[dict[str, float]]]:
    """The same seeded in-process netflixoss workload (LocalRun, no Ray: the span path's cost without
    Ray's noise) untraced, on the sdk path and on the fast path, in interleaved rounds."""
    out: dict[str, list[dict[str, float]]] = {"none": [], "sdk": [], "fast": []}
    for _ in range(rounds):
        for path in out:
            with OtlpReceiver() as receiver:
                command = [
                    sys.executable, "-c", _INPROCESS_CODE, receiver.otlp_grpc_endpoint, str(ticks), path,
                    str(REPO / "architectures"),
                ]  # fmt: skip
                done = subprocess.run(command, capture_output=True, text=True, timeout=900, env=_env())
                if done.returncode != 0:
                    raise SystemExit(f"in-process run failed:\n{done.stderr[-2000:]}")
                figures = json.loads(done.stdout.strip().splitlines()[-1])
                receiver.wait_for(figures["spans"], timeout=30)
                figures["received"] = receiver.count
                out[path].append(figures)
    return out


def thread_vs_inline(pairs: int) -> dict[str, dict[str, float]]:
    """The fast path's span hooks and export in one process: export threads vs encoding and sending on
    the producer's own thread. CPU per span (the process) and the producer's wall time per span."""
    out = {}
    for mode in ("thread", "inline"):
        with OtlpReceiver() as receiver:
            command = [sys.executable, "-c", _EXPORT_CODE, receiver.otlp_grpc_endpoint, str(pairs), mode]
            done = subprocess.run(command, capture_output=True, text=True, timeout=900, env=_env())
            if done.returncode != 0:
                raise SystemExit(f"export run failed:\n{done.stderr[-2000:]}")
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            receiver.wait_for(figures["spans"], timeout=30)
            out[mode] = {
                "us_per_span": figures["cpu_s"] / figures["spans"] * 1e6,
                "producer_us": figures["producer_s"] / figures["spans"] * 1e6,
                "received": receiver.count,
            }
    return out


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # loopback only
    return env


def floor(pairs: int) -> dict[str, Any]:
    """The bare SDK in one process: `pairs` x 2 nested spans, 6 attributes, BatchSpanProcessor, OTLP gRPC."""
    with OtlpReceiver() as receiver:
        command = [sys.executable, "-c", _FLOOR_CODE, receiver.otlp_grpc_endpoint, str(pairs)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=900, env=_env())
        if done.returncode != 0:
            raise SystemExit(f"floor run failed:\n{done.stderr[-2000:]}")
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        receiver.wait_for(figures["spans"], timeout=30)
        received = receiver.count
    return {
        "received": received,
        "spans_per_s": received / figures["wall_s"],
        "us_per_span": figures["cpu_s"] / max(received, 1) * 1e6,
        "command": f"python -c <SDK floor: {pairs:,} x 2 nested spans, 6 attributes, BatchSpanProcessor + "
        "OTLPSpanExporter(grpc)>",
    }


def run_cli(args: argparse.Namespace, path: str, profile: float = 0.0) -> dict[str, Any]:
    """One CLI run on span path `path` ("none": untraced) into a fresh receiver; CPU of its process tree
    over the traffic window."""
    with OtlpReceiver() as receiver, tempfile.TemporaryDirectory() as tmp:
        command = [
            str(CLI), "run", args.arch, "-d", str(args.duration), "-K", "100", "--rate", str(args.rate),
            "--no-chaos", "--max-in-flight", str(args.max_in_flight),
        ]  # fmt: skip
        if path != "none":
            command += ["--otlp-endpoint", receiver.otlp_grpc_endpoint, "--span-path", path]
        process = subprocess.Popen(
            [*command, "--out", f"{tmp}/out"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        marks: dict[str, tuple[float, int, dict[int, float]]] = {}
        stdout: list[str] = []
        reader = threading.Thread(target=lambda: stdout.extend(process.stdout or []), daemon=True)
        reader.start()
        profiler: threading.Thread | None = None
        hot: dict[str, Any] = {}
        names: dict[int, str] = {}
        errors: list[str] = []
        for line in process.stderr or []:  # progress lines: the traffic window as it happens
            errors.append(line)
            if "traffic running" in line and "start" not in marks:
                marks["start"] = (time.monotonic(), receiver.count, tree_cpu(process.pid))
                if profile:
                    profiler = threading.Thread(
                        target=_profile, args=(process.pid, profile, hot), daemon=True
                    )
                    profiler.start()
            elif "shutting down" in line and "stop" not in marks:
                marks["stop"] = (time.monotonic(), receiver.count, tree_cpu(process.pid))
                names = {pid: process_name(pid) for pid in marks["stop"][2]}
        process.wait(timeout=900)
        reader.join(10)
        if profiler is not None:
            profiler.join(profile + 60)
        if process.returncode != 0 or "start" not in marks or "stop" not in marks:
            raise SystemExit(f"{' '.join(command)} failed:\n{''.join(stdout + errors)[-3000:]}")
        summary = json.loads(Path(f"{tmp}/out/summary.json").read_text())
    (t0, n0, cpu0), (t1, n1, cpu1) = marks["start"], marks["stop"]
    per_process = {pid: cpu1[pid] - cpu0.get(pid, 0.0) for pid in cpu1}
    cpu = sum(per_process.values())
    busiest = max(per_process, key=per_process.__getitem__)
    received = n1 - n0
    spans = summary.get("spans") or {"created": 0, "exporters": {"none": {"dropped": {}}}}
    # the OTLP lane; a record sink (verify's expected record, "record:expected") runs too and is in the CPU
    [(_, counts)] = [(n, c) for n, c in spans["exporters"].items() if not n.startswith("record:")]
    issued = max(summary["requests_issued"], 1)
    return {
        "us_per_request": cpu / issued * 1e6,
        "spans_per_request": spans["created"] / issued,
        "command": " ".join(command),
        "spans_per_s": received / (t1 - t0),
        "us_per_span": cpu / max(received, 1) * 1e6,
        "cpu_s": cpu,
        "window_s": t1 - t0,
        "processes": len(per_process),
        "busiest": (busiest, per_process[busiest] / cpu if cpu else 0.0, names.get(busiest, "?")),
        "top": [
            (pid, used, names.get(pid, "?").split("  ")[0][:40])
            for pid, used in sorted(per_process.items(), key=lambda kv: -kv[1])[:8]
        ],
        "created": spans["created"],
        "dropped": sum(counts["dropped"].values()),
        "failed_share": summary["requests_failed_total"] / issued,
        "requests_per_s": summary["requests_issued"] / args.duration,
        "profile": hot,
    }


def _profile(root: int, seconds: float, out: dict[str, Any]) -> None:
    """py-spy the process of `root`'s tree that used the most CPU over one second, for `seconds`."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    time.sleep(2.0)  # past the first second of traffic
    before = tree_cpu(root)
    time.sleep(1.0)
    after = tree_cpu(root)
    pid = max(after, key=lambda p: after[p] - before.get(p, 0.0))
    with tempfile.TemporaryDirectory() as tmp:
        raw = f"{tmp}/stacks.txt"
        done = subprocess.run(
            [py_spy, "record", "-p", str(pid), "-d", str(int(seconds)), "-r", "200", "--format", "raw",
             "-o", raw, "--nonblocking", "--gil"],
            capture_output=True, text=True, timeout=seconds + 60,
        )  # fmt: skip
        if done.returncode != 0 or not Path(raw).exists():
            out["error"] = (done.stderr or done.stdout)[-500:]
            return
        out.update(_summarise_stacks(Path(raw).read_text(), pid))


_ENTRY_POINTS = {  # substrings of a frame: samples under it
    "span hooks (tracing/records.py)": "records.py",
    "SDK spans (opentelemetry/sdk/trace)": "sdk/trace/__init__.py",
    "OTLP encoding (record_encode.py / otlp_encode.py)": "_encode.py",
    "gRPC export (grpc/)": "grpc/",
    "transport (runtime/transport.py)": "transport.py",
    "host (runtime/host.py)": "runtime/host.py",
    "instances (runtime/instance.py)": "instance.py",
    "behaviours (packages/)": "packages/",
    "msgpack codec (messages.py)": "messages.py",
    "asyncio event loop": "asyncio/",
}


def _summarise_stacks(text: str, pid: int) -> dict[str, Any]:
    leaves: Counter[str] = Counter()
    under: Counter[str] = Counter()
    total = 0
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        leaves[frames[-1]] += count
        for label, needle in _ENTRY_POINTS.items():
            if any(needle in frame for frame in frames):
                under[label] += count
    return {
        "pid": pid,
        "cmdline": process_name(pid),
        "samples": total,
        "leaves": leaves.most_common(15),
        "under": under,
    }


def _top(r: dict[str, Any]) -> str:
    return "  CPU-s by process: " + ", ".join(f"{cmd or pid} {used:.2f}" for pid, used, cmd in r["top"])


def _run_line(label: str, r: dict[str, Any], floor_us: float, untraced: dict[str, Any] | None) -> str:
    pid, share, cmd = r["busiest"]
    overhead = ""
    if untraced is not None and r["spans_per_request"]:
        extra = (r["us_per_request"] - untraced["us_per_request"]) / r["spans_per_request"]
        overhead = f"; tracing's own share {extra:.1f} µs per span over the untraced run's CPU per request"
    return (
        f"{label}: {r['spans_per_s']:,.0f} spans/s received, {r['us_per_span']:.1f} µs CPU per exported span "
        f"({r['us_per_span'] / floor_us:.2f}x the floor; {r['cpu_s']:.1f} CPU-s over {r['window_s']:.1f} s, "
        f"{r['processes']} processes; busiest pid {pid} {share:.0%}: {cmd}); {r['created']:,} spans created, "
        f"{r['dropped']:,} dropped; {r['requests_per_s']:,.0f} requests/s, {r['failed_share']:.2%} failed, "
        f"{r['us_per_request']:.0f} µs CPU per request{overhead}  $ {r['command']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default="netflixoss")
    parser.add_argument("--duration", type=float, default=15.0, help="traffic seconds per run")
    parser.add_argument("--rate", type=float, default=6000.0, help="requests/s per denominator")
    parser.add_argument(
        "--max-in-flight", type=int, default=256, help="per traffic source (the run's flag; 0: open loop)"
    )
    parser.add_argument("--floor-pairs", type=int, default=100_000, help="nested span pairs of the SDK floor")
    parser.add_argument("--py-spy", type=float, default=0.0, help="profile the fast run's busiest process")
    parser.add_argument("--skip-sdk", action="store_true", help="only the floor and the fast path")
    parser.add_argument("--skip-thread", action="store_true", help="skip the export thread vs inline figures")
    parser.add_argument(
        "--in-process-ticks", type=int, default=4000, help="ticks of the in-process comparison (0: skip it)"
    )
    parser.add_argument("--skip-floor", action="store_true", help="skip the SDK floor (then no ratio to it)")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)

    if not args.skip_thread:
        modes = thread_vs_inline(args.floor_pairs)
        for mode, f in modes.items():
            print(
                f"fast path hooks + OTLP export, {mode}: {f['us_per_span']:.2f} µs CPU per span, the "
                f"producer busy {f['producer_us']:.2f} µs per span ({f['received']:,} received)  $ "
                f"python -c <{args.floor_pairs:,} client/server pairs through FastSpans, export {mode}>",
                flush=True,
            )

    if args.in_process_ticks:
        rounds = in_process(args.in_process_ticks, 3)
        for path in ("sdk", "fast"):
            costs = [
                (r["cpu_s"] - untraced_r["cpu_s"]) / r["spans"] * 1e6
                for r, untraced_r in zip(rounds[path], rounds["none"], strict=True)
            ]
            per_request = [r["cpu_s"] / r["requests"] * 1e6 for r in rounds[path]]
            untraced_us = [r["cpu_s"] / r["requests"] * 1e6 for r in rounds["none"]]
            listed = ", ".join(f"{c:.1f}" for c in costs)
            median = statistics.median
            print(
                f"in-process {path} path: its spans cost {median(costs):.1f} µs CPU each (rounds: {listed}; "
                f"CPU per request {median(per_request):.0f} µs vs {median(untraced_us):.0f} untraced; "
                f"{rounds[path][0]['spans']:,} spans a round, all received)  $ python -c <LocalRun "
                f"netflixoss -K 100, {args.in_process_ticks} ticks, untraced/sdk/fast interleaved, 3 rounds>",
                flush=True,
            )
    base: dict[str, Any] = {"us_per_span": float("nan")}
    if not args.skip_floor:
        base = floor(args.floor_pairs)
        print(
            f"bare SDK floor: {base['spans_per_s']:,.0f} spans/s received, {base['us_per_span']:.1f} µs CPU "
            f"per exported span ({base['received']:,} received)  $ {base['command']}",
            flush=True,
        )
    untraced = run_cli(args, "none")
    print(
        f"untraced: {untraced['us_per_request']:.0f} µs CPU per request ({untraced['processes']} processes), "
        f"{untraced['requests_per_s']:,.0f} requests/s, {untraced['failed_share']:.2%} failed  "
        f"$ {untraced['command']}\n{_top(untraced)}",
        flush=True,
    )
    if not args.skip_sdk:
        sdk = run_cli(args, "sdk")
        print(_run_line("sdk span path", sdk, base["us_per_span"], untraced) + "\n" + _top(sdk), flush=True)
    fast = run_cli(args, "fast", args.py_spy)
    print(_run_line("fast span path", fast, base["us_per_span"], untraced) + "\n" + _top(fast), flush=True)
    print(f"load average after: {os.getloadavg()[0]:.1f}", flush=True)
    met = (
        fast["us_per_span"] <= 25
        and fast["us_per_span"] <= 0.25 * base["us_per_span"]
        and fast["spans_per_s"] >= 80_000
        and fast["dropped"] == 0
        and fast["failed_share"] < 0.01
    )
    print(
        "  target (<= 25 µs/span, <= 0.25x the floor, >= 80,000 spans/s, 0 dropped, < 1 % failed): "
        f"{'met' if met else 'NOT met'}",
        flush=True,
    )
    hot = fast["profile"]
    if hot.get("error"):
        print(f"  py-spy failed: {hot['error']}", flush=True)
    elif hot:
        print(f"  py-spy, busiest process pid {hot['pid']} ({hot['cmdline']}), {hot['samples']:,} samples:")
        for label, count in hot["under"].most_common():
            print(f"    {count / hot['samples']:6.1%} under {label}")
        print("  most often on top of the stack:")
        for frame, count in hot["leaves"]:
            print(f"    {count / hot['samples']:6.1%} {frame}")


if __name__ == "__main__":
    main()
