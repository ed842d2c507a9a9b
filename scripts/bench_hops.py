"""CPU per hop, untraced (issue 16 item 3): packed netflixoss (`-K 100`, no tracing) at a high rate.

    .venv/bin/python scripts/bench_hops.py [--rate 3000] [--duration 10] [--rounds 1]

What is measured, per run:
- CPU: utime + stime (from /proc/PID/stat) of every process of the run: the CLI driver and all its
  descendants, which are Ray's gcs, raylet, dashboard and agents, the supervisor, Edda, the Eureka
  registries and the hosts. Sampled when the CLI prints "traffic running" and again at "shutting
  down", and every 0.2 s between: the traffic window only (start-up and the outputs are left out).
  A process that started inside the window counts from zero; one that exited keeps its last sample.
- hops: from the run's own two-ended accounting (summary.json "hops", messages received on every
  hop, between hosts and within one). A hop here is one call: a request and its response, so
  hops = messages / 2 (netflixoss sends no one-way messages). The accounting covers the whole run,
  and traffic flows only in the window and the drain after it (at most a request timeout), so the
  figure slightly favours neither side.
- CPU µs per hop = CPU seconds in the window / hops; requests/s = requests issued / window seconds.

Then, unless --no-frames: the data plane's own cost per frame, with asyncio's event loop and with
uvloop's (which Ray gives every host when uvloop is installed, unless RAY_USE_UVLOOP=0): two
processes, one SocketTransport each, FRAMES frames of two netflixoss-sized messages, one in flight;
CPU (time.process_time) of each side per frame. A hop that crosses hosts costs about one frame at
each end at moderate load (frames then carry 1-2 messages).

Target (the issue): <= 15 µs per hop. A measurement, not a test; the machine may be shared, so
compare figures taken in one session (RAY_USE_UVLOOP=0 in the environment runs the hosts on
asyncio's loop, for a before/after of uvloop on the same script).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from proc_cpu import tree_cpu  # scripts/ is on sys.path: the script's folder

CLI = Path(sys.executable).with_name("nanoservices")
FRAMES = 20_000
TOKEN = b"bench-hops-token-0123456789abcdef"
ROOT = Path(__file__).resolve().parents[1]


class WindowSampler(threading.Thread):
    """CPU of a process tree over the traffic window: sampled at its start, every SAMPLE seconds
    (a process that exits inside the window keeps its last figure) and at its end."""

    SAMPLE = 0.2

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.names: dict[int, str] = {}
        self.window: tuple[float, float] | None = None
        self._stop_at = threading.Event()

    def _sample(self) -> None:
        for pid, seconds in tree_cpu(self.root).items():
            if pid not in self.names:
                self.names[pid] = _name(pid)
            self.last[pid] = seconds

    def run(self) -> None:
        started = time.monotonic()
        self.first = tree_cpu(self.root)
        while not self._stop_at.wait(self.SAMPLE):
            self._sample()
        self._sample()
        self.window = (started, time.monotonic())

    def finish(self) -> None:
        self._stop_at.set()
        self.join()

    @property
    def used(self) -> dict[int, float]:
        return {pid: seconds - self.first.get(pid, 0.0) for pid, seconds in self.last.items()}


def _name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            parts = cmdline.read(300).split(b"\0")
    except OSError:
        return "?"
    first = parts[0].decode(errors="replace").strip()
    if not first:  # a retitled process (setproctitle) may leave its argv blank: its short name
        try:
            return Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            return "?"
    if first.startswith("ray::"):  # an actor's title: ray::<name>:<Class>.<method now running>
        return first.split()[0].rsplit(".", 1)[0] if "." in first else first.split()[0]
    if "python" in first and len(parts) > 1:
        return Path(parts[1].decode(errors="replace")).name
    return Path(first).name


def one_run(rate: float, duration: float, per_host: int, extra: list[str]) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="bench-hops-") as tmp:
        command = [
            str(CLI), "run", "netflixoss", "-K", str(per_host), "-d", f"{duration:g}", "--rate", f"{rate:g}",
            "--no-chaos", "--max-in-flight", "0", *extra,
        ]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env["PYTHONPATH"] = str(ROOT / "src")  # this checkout, in the driver and Ray's workers
        process = subprocess.Popen(
            [*command, "--out", f"{tmp}/out"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        stdout: list[str] = []
        reader = threading.Thread(target=lambda: stdout.extend(process.stdout or []), daemon=True)
        reader.start()
        sampler = WindowSampler(process.pid)
        for line in process.stderr or []:
            if "traffic running" in line and not sampler.is_alive():
                sampler.start()
            elif "shutting down" in line and sampler.is_alive():
                sampler.finish()
        process.wait(timeout=900)
        reader.join(10)
        if process.returncode != 0 or sampler.window is None:
            raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{''.join(stdout)[-3000:]}")
        summary = json.loads(Path(f"{tmp}/out/summary.json").read_text())
    t0, t1 = sampler.window
    used, names = sampler.used, sampler.names
    window = t1 - t0
    messages = sum(h["received"] for h in summary["hops"] if h["from"] >= 0)
    within = sum(h["received"] for h in summary["hops"] if h["from"] == h["to"])
    if not within and summary.get("messages_delivered", 0) > messages:  # a run that counts no self-hops
        within = summary["messages_delivered"] - messages
        messages = summary["messages_delivered"]
    cpu = sum(used.values())
    busiest = max(used, key=lambda pid: used[pid])
    return {
        "command": " ".join(command),
        "window": window,
        "cpu": cpu,
        "requests": summary["requests_issued"],
        "failed": summary["requests_failed_total"],
        "messages": messages,
        "within": within,
        "hops": messages / 2,
        "accounted": summary["accounted"],
        "busiest": f"{names.get(busiest, '?')} {used[busiest] / cpu:.0%}",
        "top": sorted(((s, names.get(p, "?")) for p, s in used.items()), reverse=True)[:6],
    }


def _loop(kind: str) -> asyncio.AbstractEventLoop:
    if kind == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def _frame_receiver(kind: str, addresses: Any, cpu: Any) -> None:
    from nanoservices.messages import decode_batch
    from nanoservices.runtime.transport import SocketTransport

    loop = _loop(kind)
    got = [0]
    done = asyncio.Event()

    def on_batch(_source: int, data: bytes) -> None:
        got[0] += 1
        decode_batch(data)
        if got[0] == FRAMES:
            done.set()

    async def serve() -> None:
        transport = SocketTransport(1, TOKEN, on_batch, "127.0.0.1")
        addresses.put(await transport.start())
        started = time.process_time()
        await done.wait()
        cpu.put(time.process_time() - started)
        await transport.close()

    loop.run_until_complete(serve())


def _frame_sender(kind: str, address: tuple[str, int], cpu: Any) -> None:
    from nanoservices.messages import Kind, Message, encode_batch
    from nanoservices.runtime.transport import SocketTransport

    loop = _loop(kind)
    caller, callee = (
        "netflixoss.us-east-1.zoneA..zuul00...zuul.zuul",
        "netflixoss.us-east-1.zoneB..homepage01...homepage.karyon",
    )
    batch = [
        Message(kind=Kind.GET_REQUEST, sender=caller, target=callee, request_id=i, reply_to=caller)
        for i in range(2)
    ]

    async def send() -> None:
        transport = SocketTransport(0, TOKEN, lambda _s, _d: None, "127.0.0.1")
        await transport.start()
        transport.update_peers({1: address})
        await transport.deliver(1, encode_batch(batch))  # connected
        started = time.process_time()
        for _ in range(FRAMES - 1):
            await transport.deliver(1, encode_batch(batch))
        cpu.put(time.process_time() - started)
        await transport.close()

    loop.run_until_complete(send())


def frame_cost(kind: str) -> tuple[float, float]:
    """CPU µs per frame at the sending and at the receiving end, on `kind`'s event loop."""
    context = multiprocessing.get_context("spawn")
    addresses, sender_cpu, receiver_cpu = context.Queue(), context.Queue(), context.Queue()
    receiver = context.Process(target=_frame_receiver, args=(kind, addresses, receiver_cpu))
    receiver.start()
    sender = context.Process(target=_frame_sender, args=(kind, tuple(addresses.get(timeout=60)), sender_cpu))
    sender.start()
    sent, received = sender_cpu.get(timeout=300), receiver_cpu.get(timeout=300)
    sender.join()
    receiver.join()
    return sent / FRAMES * 1e6, received / FRAMES * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=3000.0, help="requests/s asked of www")
    parser.add_argument("--duration", type=float, default=10.0, help="traffic seconds")
    parser.add_argument("-K", "--per-host", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--no-frames", action="store_true", help="skip the per-frame asyncio/uvloop figures")
    parser.add_argument("extra", nargs="*", help="more `run` flags, after --")
    args = parser.parse_args()
    for round_ in range(1, args.rounds + 1):
        r = one_run(args.rate, args.duration, args.per_host, args.extra)
        per_hop = r["cpu"] / r["hops"] * 1e6 if r["hops"] else float("inf")
        top = ", ".join(f"{name} {seconds:.1f} s" for seconds, name in r["top"])
        print(
            f"round {round_}: {per_hop:.1f} µs CPU per hop (target <= 15), "
            f"{r['requests'] / r['window']:,.0f} requests/s ({r['failed']:,} failed), "
            f"{r['hops']:,.0f} hops ({r['messages']:,} messages, {r['within']:,} within hosts, "
            f"{r['messages'] / max(r['requests'], 1):.1f} per request), {r['cpu']:.1f} CPU s over "
            f"{r['window']:.1f} s of traffic, accounted {r['accounted']}; busiest: {r['busiest']}",
            flush=True,
        )
        print(f"  CPU by process: {top}", flush=True)
        print(f"  $ {r['command']}", flush=True)
    if not args.no_frames:
        for kind in ("asyncio", "uvloop"):
            sent, received = frame_cost(kind)
            print(
                f"data plane on {kind}: {sent:.1f} µs CPU per frame sending + {received:.1f} µs receiving "
                f"= {sent + received:.1f} µs ({FRAMES:,} frames of 2 messages, one in flight, two processes)",
                flush=True,
            )


if __name__ == "__main__":
    main()
