"""Exported spans per second, end to end (CLI run -> Ray hosts -> OTLP -> in-process receiver), at K=1
and packed, next to the Ray call ceiling measured in the same session on the same machine.

    .venv/bin/python scripts/bench_spans.py [--arch netflixoss] [--duration 10] [--rate 2000]

Targets (the issue): K=1 >= 80% of the Ray call ceiling; packed >= 20,000 spans/s exported, none
dropped, on 2 cores. One line per figure, each with the command that produced it.

How the figures are taken:
- spans/s (traffic window): receiver count growth between the CLI's "traffic running" and "shutting
  down" progress lines, over that wall time; this is what the backend saw while load was on.
- spans/s (run): spans exported / traffic seconds, including what was flushed after traffic stopped.
- Ray call ceiling: one async actor keeps a window of one-message calls in flight to another actor
  (no batching), calls completed per second. A remote hop at K=1 is a request call plus a response
  call and makes two spans, so the call ceiling is also the K=1 span ceiling.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.otlp_receiver import OtlpReceiver  # noqa: E402  (tests/ is not a package on sys.path)

CLI = Path(sys.executable).with_name("nanoservices")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # loopback only
    return env


def untraced_requests(arch: str, per_host: int, duration: float, rate: float) -> tuple[float, str]:
    """Requests/s the same run issues with tracing off: the simulation's own ceiling on this machine."""
    with tempfile.TemporaryDirectory() as tmp:
        command = [
            str(CLI),
            "run",
            arch,
            "-d",
            str(duration),
            "-K",
            str(per_host),
            "--rate",
            str(rate),
            "--no-chaos",
            "--max-in-flight",
            "0",
        ]
        subprocess.run(
            [*command, "--out", f"{tmp}/out"], capture_output=True, timeout=900, env=_env(), check=True
        )
        summary = json.loads(Path(f"{tmp}/out/summary.json").read_text())
        return summary["requests_issued"] / duration, " ".join(command)


def run_cli(arch: str, per_host: int, duration: float, rate: float, protocol: str) -> dict[str, Any]:
    """One CLI run exporting to a fresh receiver; returns the figures for one output line."""
    with OtlpReceiver() as receiver, tempfile.TemporaryDirectory() as tmp:
        port = receiver.grpc_port if protocol == "grpc" else receiver.http_port
        command = [
            str(CLI), "run", arch, "-d", str(duration), "-K", str(per_host), "--rate", str(rate),
            "--no-chaos", "--max-in-flight", "0",
            "--otlp-endpoint", f"http://127.0.0.1:{port}", "--otlp-protocol", protocol,
        ]  # fmt: skip
        marks: dict[str, tuple[float, int]] = {}
        process = subprocess.Popen(
            [*command, "--out", f"{tmp}/out"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        stdout: list[str] = []
        reader = threading.Thread(target=lambda: stdout.extend(process.stdout or []), daemon=True)
        reader.start()
        for line in process.stderr or []:  # progress lines: mark the traffic window as it happens
            if "traffic running" in line:
                marks["start"] = (time.monotonic(), receiver.count)
            elif "shutting down" in line:
                marks["stop"] = (time.monotonic(), receiver.count)
        process.wait(timeout=900)
        reader.join(10)
        if process.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{''.join(stdout)}")
        summary = json.loads(Path(f"{tmp}/out/summary.json").read_text())
        spans = summary["spans"]
        [(_, counts)] = spans["exporters"].items()
        dropped = sum(counts["dropped"].values())
        receiver.wait_for(counts["exported"], timeout=10)
        window = None
        if "start" in marks and "stop" in marks:
            (t0, c0), (t1, c1) = marks["start"], marks["stop"]
            window = (c1 - c0) / (t1 - t0)
        return {
            "command": " ".join(command),
            "created": spans["created"],
            "exported": counts["exported"],
            "dropped": dropped,
            "reasons": counts["dropped"],
            "received": receiver.count,
            "window_rate": window,
            "run_rate": counts["exported"] / duration,
            "hosts": summary["hosts"],
            "requests": summary["requests_issued"],
        }


_CEILING_CODE = """
import asyncio, json, sys, time, ray
ray.init(address="local", include_dashboard=False, log_to_driver=False, logging_level="ERROR", num_cpus=2)

@ray.remote
class Sink:
    async def deliver(self, data: bytes) -> None:
        return None

@ray.remote
class Source:
    def __init__(self, sink) -> None:
        self.sink = sink
    async def run(self, seconds: float, window: int) -> tuple[int, float]:
        await self.sink.deliver.remote(b"")  # warm the connection
        done, pending = 0, set()
        start = time.monotonic()
        deadline = start + seconds
        while time.monotonic() < deadline:
            while len(pending) < window:
                pending.add(asyncio.ensure_future(self.sink.deliver.remote(b"x" * 100)))
            finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            done += len(finished)
        await asyncio.gather(*pending)
        return done + len(pending), time.monotonic() - start

sink = Sink.remote()
source = Source.remote(sink)
calls, elapsed = ray.get(source.run.remote(float(sys.argv[1]), int(sys.argv[2])))
print(json.dumps({"calls_per_s": calls / elapsed}))
ray.shutdown()
"""


def ray_ceiling(seconds: float, window: int) -> dict[str, Any]:
    """Measured in its own process (its own embedded Ray on loopback), shut down at the end."""
    command = [sys.executable, "-c", _CEILING_CODE, str(seconds), str(window)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=_env())
    if done.returncode != 0:
        raise SystemExit(f"Ray ceiling run failed:\n{done.stderr[-2000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures["command"] = f"python -c <two async actors, {window} one-message calls in flight, {seconds:g} s>"
    return figures


def _line(label: str, r: dict[str, Any]) -> str:
    window = f"{r['window_rate']:,.0f}" if r["window_rate"] is not None else "n/a"
    reasons = ", ".join(f"{k} {v:,}" for k, v in r["reasons"].items()) or "none"
    return (
        f"{label}: {window} spans/s exported during traffic, {r['run_rate']:,.0f} spans/s over the run "
        f"({r['created']:,} created, {r['exported']:,} exported, {r['dropped']:,} dropped [{reasons}], "
        f"{r['received']:,} received; {r['hosts']} hosts, {r['requests']:,} requests)  $ {r['command']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default="netflixoss")
    parser.add_argument("--duration", type=float, default=10.0, help="traffic seconds per run")
    parser.add_argument("--rate", type=float, default=1500.0, help="packed: requests/s per denominator")
    parser.add_argument("--k1-rate", type=float, default=300.0, help="K=1: requests/s per denominator")
    parser.add_argument("--protocol", default="grpc", choices=["grpc", "http/protobuf"])
    parser.add_argument("--ceiling-seconds", type=float, default=5.0)
    parser.add_argument("--ceiling-window", type=int, default=64)
    parser.add_argument("--skip-k1", action="store_true", help="only the packed run and the ceiling")
    args = parser.parse_args()

    ceiling = ray_ceiling(args.ceiling_seconds, args.ceiling_window)
    print(
        f"Ray call ceiling: {ceiling['calls_per_s']:,.0f} one-message calls/s  $ {ceiling['command']}",
        flush=True,
    )
    packed = run_cli(args.arch, 100, args.duration, args.rate, args.protocol)
    print(_line("packed (K=100)", packed), flush=True)
    baseline, command = untraced_requests(args.arch, 100, args.duration, args.rate)
    traced = packed["requests"] / args.duration
    print(
        f"  untraced packed: {baseline:,.0f} requests/s issued vs {traced:,.0f} traced "
        f"({packed['created'] / max(packed['requests'], 1):.1f} spans per request)  $ {command}",
        flush=True,
    )
    verdict = packed["window_rate"] is not None and packed["window_rate"] >= 20_000 and packed["dropped"] == 0
    print(f"  packed target >= 20,000 spans/s, none dropped: {'met' if verdict else 'NOT met'}", flush=True)
    if not args.skip_k1:
        k1 = run_cli(args.arch, 1, args.duration, args.k1_rate, args.protocol)
        print(_line("K=1", k1), flush=True)
        share = (k1["window_rate"] or 0) / ceiling["calls_per_s"]
        print(f"  K=1 / Ray call ceiling: {share:.0%} (target >= 80%)", flush=True)


if __name__ == "__main__":
    main()
