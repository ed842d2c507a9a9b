"""Data-plane benchmark (issue 9): Ray actor calls vs SocketTransport vs pyzmq between two Ray actors.

One node, two actors on loopback; 200-byte payloads, 1 and 16 deliveries in flight, each case ~2.5 s
after a warm-up. Every delivery waits for the receiver's ack (Ray: the call's return; SocketTransport:
its cumulative ack; zmq: one DEALER/ROUTER ack message per payload). The receiver counts what it got
and the sender's total must match. Case (c) is skipped, with a line saying so, without pyzmq
(`pip install pyzmq`). Run: `.venv/bin/python scripts/bench_transport.py`. A measurement, not a test.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

import ray

SRC = str(Path(__file__).resolve().parents[1] / "src")
PAYLOAD = b"x" * 200
SECONDS = 2.5
WARMUP = 200
IN_FLIGHT = (1, 16)


async def window(send: Callable[[], Awaitable[Any]], in_flight: int, seconds: float) -> tuple[int, float]:
    """Keep in_flight deliveries outstanding for `seconds`; return (deliveries, messages per second)."""
    for _ in range(WARMUP):
        await send()
    pending: deque[Awaitable[Any]] = deque()
    sent = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        if len(pending) >= in_flight:
            await pending.popleft()
        pending.append(send())
        sent += 1
    while pending:
        await pending.popleft()
    return WARMUP + sent, sent / (time.perf_counter() - start)


@ray.remote(num_cpus=0)
class Receiver:
    def __init__(self, src: str, token: bytes) -> None:
        sys.path.insert(0, src)  # this worktree's package, not whichever the venv has installed
        self.token = token
        self.received = 0
        self.transport: Any = None
        self.router: Any = None
        self.serving: asyncio.Task[None] | None = None

    def take_count(self) -> int:
        received, self.received = self.received, 0
        return received

    async def deliver(self, data: bytes) -> None:
        self.received += 1

    def on_batch(self, source: int, data: bytes) -> None:
        self.received += 1

    async def listen_transport(self) -> tuple[str, int]:
        from nanoservices.runtime.transport import SocketTransport

        self.transport = SocketTransport(1, self.token, self.on_batch, "127.0.0.1")
        return await self.transport.start()

    async def listen_zmq(self) -> str:
        import zmq
        import zmq.asyncio

        self.router = zmq.asyncio.Context.instance().socket(zmq.ROUTER)
        self.router.bind("tcp://127.0.0.1:*")
        self.serving = asyncio.get_running_loop().create_task(self._serve_zmq())
        return self.router.getsockopt(zmq.LAST_ENDPOINT).decode()

    async def _serve_zmq(self) -> None:
        router = self.router
        while True:
            identity, _data = await router.recv_multipart()
            self.received += 1
            router.send_multipart([identity, b"k"])

    async def close(self) -> None:
        if self.transport is not None:
            await self.transport.close()
        if self.serving is not None:
            self.serving.cancel()
            self.router.close(linger=0)


@ray.remote(num_cpus=0)
class Sender:
    def __init__(self, src: str, token: bytes) -> None:
        sys.path.insert(0, src)
        self.token = token

    async def ray_calls(self, receiver: Any, in_flight: int) -> tuple[int, float]:
        return await window(lambda: receiver.deliver.remote(PAYLOAD), in_flight, SECONDS)

    async def transport(self, address: tuple[str, int], in_flight: int) -> tuple[int, float]:
        from nanoservices.runtime.transport import SocketTransport

        transport = SocketTransport(0, self.token, lambda source, data: None, "127.0.0.1")
        await transport.start()
        transport.update_peers({1: tuple(address)})
        try:
            return await window(lambda: transport.deliver(1, PAYLOAD), in_flight, SECONDS)
        finally:
            await transport.close()

    async def zmq(self, endpoint: str, in_flight: int) -> tuple[int, float]:
        import zmq
        import zmq.asyncio

        dealer = zmq.asyncio.Context.instance().socket(zmq.DEALER)
        dealer.connect(endpoint)
        loop = asyncio.get_running_loop()
        waiting: deque[asyncio.Future[None]] = deque()  # acks come back in order

        def send() -> asyncio.Future[None]:
            future = loop.create_future()
            waiting.append(future)
            dealer.send(PAYLOAD)
            return future

        async def read_acks() -> None:
            while True:
                await dealer.recv()
                waiting.popleft().set_result(None)

        reading = loop.create_task(read_acks())
        try:
            return await window(send, in_flight, SECONDS)
        finally:
            reading.cancel()
            dealer.close(linger=0)


def main() -> None:
    try:
        import zmq
    except ImportError:
        zmq = None
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    ray.init(address="local", include_dashboard=False, log_to_driver=False)
    try:
        token = secrets.token_bytes(32)
        receiver, sender = Receiver.remote(SRC, token), Sender.remote(SRC, token)
        address = ray.get(receiver.listen_transport.remote())
        endpoint = ray.get(receiver.listen_zmq.remote()) if zmq is not None else ""
        cases: list[tuple[str, Callable[[int], Any]]] = [
            ("ray calls", lambda n: sender.ray_calls.remote(receiver, n)),
            ("SocketTransport", lambda n: sender.transport.remote(address, n)),
        ]
        if zmq is not None:
            cases.append(("pyzmq", lambda n: sender.zmq.remote(endpoint, n)))
        rates: dict[tuple[str, int], float] = {}
        for in_flight in IN_FLIGHT:
            for name, start in cases:
                sent, rate = ray.get(start(in_flight))
                received = ray.get(receiver.take_count.remote())
                check = "ok" if received == sent else f"MISMATCH: receiver counted {received:,}"
                print(f"in flight {in_flight:>2}  {name:<16} {rate:>9,.0f} msgs/s  ({sent:,} sent, {check})")
                rates[name, in_flight] = rate
        ray.get(receiver.close.remote())
        if zmq is None:
            print("pyzmq: skipped, not installed (pip install pyzmq)")
        for in_flight in IN_FLIGHT:
            ray_rate, ours = rates["ray calls", in_flight], rates["SocketTransport", in_flight]
            line = f"in flight {in_flight:>2}  SocketTransport / ray calls {ours / ray_rate:5.1f}x"
            if ("pyzmq", in_flight) in rates:
                zmq_rate = rates["pyzmq", in_flight]
                line += f"  pyzmq / ray calls {zmq_rate / ray_rate:5.1f}x"
                line += f"  SocketTransport / pyzmq {ours / zmq_rate:4.2f}x"
            print(line)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
