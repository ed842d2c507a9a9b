"""The socket data plane on loopback: framing, refusals counted at the receiver, dead peers at the sender.

Wire bytes are built here from the documented format (module docstring of runtime/transport.py), not
from the module's own encoders, so a change of format fails these tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import struct
from collections.abc import Awaitable, Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanoservices.runtime.host import HostDied, HostStopped
from nanoservices.runtime.transport import SocketTransport, _Incoming

TOKEN = b"per-run secret 0123456789abcdef"
LOOPBACK = "127.0.0.1"


def counted(**nonzero: int) -> dict[str, int]:
    zero = ("refused_token", "malformed", "oversized", "handshake_timeout", "misdirected")
    return dict.fromkeys(zero, 0) | {"frames_received": 0, "frames_acked": 0} | nonzero


def hello(token: bytes = TOKEN, source: int = 7, dest: int = 1, version: int = 1) -> bytes:
    return b"NSDP" + struct.pack("!HH", version, len(token)) + token + struct.pack("!II", source, dest)


def frame(payload: bytes) -> bytes:
    return struct.pack("!I", len(payload)) + payload


class Host:
    """A started transport and what its on_batch received."""

    def __init__(self, index: int, token: bytes = TOKEN, **options: object) -> None:
        self.got: list[tuple[int, bytes]] = []
        self.transport = SocketTransport(index, token, self.receive, LOOPBACK, **options)  # type: ignore[arg-type]
        self.address: tuple[str, int] = ("", 0)

    def receive(self, source: int, data: bytes) -> None:
        if data.startswith(b"bad"):
            raise ValueError("cannot decode")
        if data.startswith(b"stop"):
            raise HostStopped("counted its last message")
        if data.startswith(b"dying"):
            raise HostDied("being killed")
        self.got.append((source, data))

    async def start(self) -> Host:
        self.address = await self.transport.start()
        return self


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 30))


async def outcomes(futures: list[asyncio.Future[None]]) -> list[str]:
    results = await asyncio.gather(*futures, return_exceptions=True)
    return ["ok" if r is None else type(r).__name__ for r in results]


async def raw_exchange(port: int, data: bytes) -> bytes:
    """Send data, half-close, and read until the transport closes the connection."""
    reader, writer = await asyncio.open_connection(LOOPBACK, port)
    writer.write(data)
    await writer.drain()
    writer.write_eof()
    try:
        answer = await reader.read()
    except ConnectionResetError:  # refused with our bytes still unread: the kernel resets
        answer = b""
    await close_writer(writer)
    return answer


async def close_writer(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionResetError):
        await writer.wait_closed()


def test_frames_of_every_size_arrive_intact_in_order_and_counted_at_both_ends() -> None:
    bound = 100_000
    rng = random.Random("frames")
    sizes = [0, 1, 200, 65_535, 65_536, bound - 1, bound, 0, *(rng.randrange(bound) for _ in range(40))]
    payloads = [rng.randbytes(n) for n in sizes]

    async def scenario() -> None:
        a, b = await Host(0).start(), await Host(1, max_frame=bound).start()
        a.transport.update_peers({1: b.address})
        assert await outcomes([a.transport.deliver(1, p) for p in payloads]) == ["ok"] * len(payloads)
        await a.transport.deliver(1, b"after the pipelined run")  # the same connection, still open
        assert b.got == [(0, p) for p in [*payloads, b"after the pipelined run"]]
        assert a.transport.counters == counted(frames_acked=len(payloads) + 1)
        assert b.transport.counters == counted(frames_received=len(payloads) + 1)
        await a.transport.close()
        await b.transport.close()

    run(scenario)


def test_wrong_token_is_refused_and_the_server_serves_a_good_client_after() -> None:
    async def scenario() -> None:
        b = await Host(1).start()
        intruder, good = await Host(0, token=b"guessed").start(), await Host(2).start()
        intruder.transport.update_peers({1: b.address})
        good.transport.update_peers({1: b.address})
        assert await outcomes([intruder.transport.deliver(1, b"x")]) == ["HostDied"]
        assert b.transport.counters == counted(refused_token=1)
        await good.transport.deliver(1, b"hello")
        assert b.got == [(2, b"hello")]
        assert b.transport.counters == counted(refused_token=1, frames_received=1)
        for host in (b, intruder, good):
            await host.transport.close()

    run(scenario)


def test_frame_over_the_receivers_bound_closes_that_connection_only() -> None:
    async def scenario() -> None:
        b = await Host(1, max_frame=1000).start()
        big, small = await Host(0).start(), await Host(2).start()
        for sender in (big, small):
            sender.transport.update_peers({1: b.address})
        await small.transport.deliver(1, b"first")
        assert await outcomes([big.transport.deliver(1, b"x" * 1001)]) == ["HostDied"]
        assert b.transport.counters == counted(oversized=1, frames_received=1)
        await small.transport.deliver(1, b"second")  # the connection opened before the refusal
        assert b.got == [(2, b"first"), (2, b"second")]
        for host in (b, big, small):
            await host.transport.close()

    run(scenario)


def test_a_frame_over_the_senders_own_bound_is_a_caller_error_not_a_dead_host() -> None:
    async def scenario() -> None:
        a, b = await Host(0, max_frame=10).start(), await Host(1).start()
        a.transport.update_peers({1: b.address})
        with pytest.raises(ValueError, match=r"^a frame of 11 bytes is over max_frame 10$"):
            await a.transport.deliver(1, b"x" * 11)
        await a.transport.deliver(1, b"x" * 10)
        assert b.got == [(0, b"x" * 10)]
        await a.transport.close()
        await b.transport.close()

    run(scenario)


RANDOM = random.Random("garbage").randbytes(300)
BAD_CLIENTS = {
    "http request": (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "malformed"),
    "random bytes": (RANDOM if not RANDOM.startswith(b"NSDP") else b"X" + RANDOM, "malformed"),
    "unknown version": (hello(version=2), "malformed"),
    "token length over the limit": (b"NSDP" + struct.pack("!HH", 1, 5000), "malformed"),
    "truncated header": (hello()[:7], "malformed"),
    "truncated token": (hello()[:-9], "malformed"),
    "wrong token": (hello(token=b"x" * len(TOKEN)), "refused_token"),
    "another host's address": (hello(dest=9), "misdirected"),
    "truncated frame after a valid handshake": (hello() + b"\x00\x00\x00\x10abc", "malformed"),
    "length over the bound after a valid handshake": (hello() + b"\xff\xff\xff\xff", "oversized"),
    "garbage after a valid handshake": (hello() + RANDOM, "oversized"),
}


@pytest.mark.parametrize("case", list(BAD_CLIENTS))
def test_bad_client_is_counted_and_everyone_else_still_served(case: str) -> None:
    data, counter = BAD_CLIENTS[case]
    if case == "garbage after a valid handshake":
        assert struct.unpack("!I", RANDOM[:4])[0] > 1_000_000  # so it reads as an oversized length

    async def scenario() -> None:
        b = await Host(1, max_frame=1_000_000).start()
        before, after = await Host(0).start(), await Host(2).start()
        for sender in (before, after):
            sender.transport.update_peers({1: b.address})
        await before.transport.deliver(1, b"before")
        assert await raw_exchange(b.address[1], data) == b""
        assert b.transport.counters == counted(frames_received=1, **{counter: 1})
        await before.transport.deliver(1, b"same connection")
        await after.transport.deliver(1, b"new connection")
        assert b.got == [(0, b"before"), (0, b"same connection"), (2, b"new connection")]
        for host in (b, before, after):
            await host.transport.close()

    run(scenario)


def test_a_valid_raw_client_gets_cumulative_acks() -> None:
    async def scenario() -> None:
        b = await Host(1).start()
        answer = await raw_exchange(b.address[1], hello() + frame(b"one") + frame(b"") + frame(b"three"))
        acks = [struct.unpack("!Q", answer[i : i + 8])[0] for i in range(0, len(answer), 8)]
        assert acks[-1] == 3 and acks == sorted(set(acks))
        assert b.got == [(7, b"one"), (7, b""), (7, b"three")]
        assert b.transport.counters == counted(frames_received=3)
        await b.transport.close()

    run(scenario)


def test_silent_client_is_closed_by_the_handshake_timeout() -> None:
    async def scenario() -> None:
        b = await Host(1, handshake_timeout=0.05).start()
        reader, writer = await asyncio.open_connection(LOOPBACK, b.address[1])
        writer.write(hello()[:10])
        assert await reader.read() == b""  # no EOF sent from here: only the timeout ends it
        assert b.transport.counters == counted(handshake_timeout=1)
        await close_writer(writer)
        await b.transport.close()

    run(scenario)


def test_receiver_that_fails_to_decode_acks_what_it_took_and_closes() -> None:
    async def scenario() -> None:
        a, b, c = await Host(0).start(), await Host(1).start(), await Host(2).start()
        a.transport.update_peers({1: b.address})
        c.transport.update_peers({1: b.address})
        sent = [a.transport.deliver(1, p) for p in (b"ok1", b"bad frame", b"ok2")]
        assert await outcomes(sent) == ["ok", "HostDied", "HostDied"]
        assert b.got == [(0, b"ok1")]
        assert b.transport.counters == counted(malformed=1, frames_received=1)
        assert a.transport.counters == counted(frames_acked=1)
        await c.transport.deliver(1, b"from c")
        assert b.got == [(0, b"ok1"), (2, b"from c")]
        for host in (a, b, c):
            await host.transport.close()

    run(scenario)


@pytest.mark.parametrize(("refusal", "error"), [(b"stop", "HostStopped"), (b"dying", "HostDied")])
def test_a_host_that_stops_taking_messages_refuses_without_counting_an_offence(
    refusal: bytes, error: str
) -> None:
    """HostCore refuses batches once it has stopped (or is being killed) so the sender counts them
    lost; the sender learns which, and the receiver counts no malformed frame."""

    async def scenario() -> None:
        a, b = await Host(0).start(), await Host(1).start()
        a.transport.update_peers({1: b.address})
        sent = [a.transport.deliver(1, p) for p in (b"ok1", refusal, b"ok2")]
        assert await outcomes(sent) == ["ok", error, error]
        assert b.got == [(0, b"ok1")]
        assert b.transport.counters == counted(frames_received=1)
        assert a.transport.counters == counted(frames_acked=1)
        for host in (a, b):
            await host.transport.close()

    run(scenario)


def test_receiver_closed_with_frames_unacked_fails_every_pending_and_later_delivery() -> None:
    async def scenario() -> None:
        a, b = await Host(0).start(), await Host(1).start()
        a.transport.update_peers({1: b.address})
        await a.transport.deliver(1, b"connected")
        pending = [a.transport.deliver(1, bytes(200)) for _ in range(16)]
        await b.transport.close()  # before its loop turn reads them
        assert await outcomes(pending) == ["HostDied"] * 16
        later = a.transport.deliver(1, b"later")
        assert later.done()
        assert await outcomes([later]) == ["HostDied"]
        assert b.got == [(0, b"connected")]
        await a.transport.close()

    run(scenario)


def test_peer_dying_mid_batch_is_not_reconnected() -> None:
    async def scenario() -> None:
        accepted: list[int] = []
        frames = [bytes([n]) * 300 for n in range(8)]
        expected = len(hello(source=0, dest=1)) + sum(len(frame(f)) for f in frames)

        async def takes_all_then_dies(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted.append(len(await reader.readexactly(expected)))
            await close_writer(writer)

        server = await asyncio.start_server(takes_all_then_dies, LOOPBACK, 0)
        a = await Host(0).start()
        a.transport.update_peers({1: server.sockets[0].getsockname()[:2]})
        assert await outcomes([a.transport.deliver(1, f) for f in frames]) == ["HostDied"] * 8
        later = a.transport.deliver(1, b"later")
        assert later.done()
        assert await outcomes([later]) == ["HostDied"]
        assert accepted == [expected]
        server.close()
        await server.wait_closed()
        await a.transport.close()

    run(scenario)


def test_refused_connection_marks_the_host_dead() -> None:
    async def scenario() -> None:
        a, gone = await Host(0).start(), await Host(1).start()
        a.transport.update_peers({1: gone.address})
        await gone.transport.close()
        pending = [a.transport.deliver(1, b"x"), a.transport.deliver(1, b"y")]
        assert await outcomes(pending) == ["HostDied"] * 2
        later = a.transport.deliver(1, b"z")
        assert later.done() and isinstance(later.exception(), HostDied)
        await a.transport.close()

    run(scenario)


def test_host_joining_mid_run_is_reachable_and_unknown_hosts_are_not() -> None:
    async def scenario() -> None:
        a, b = await Host(0).start(), await Host(1).start()
        a.transport.update_peers({1: b.address})
        await a.transport.deliver(1, b"to b")
        with pytest.raises(HostDied, match=r"^host 2 is not in the run$"):
            await a.transport.deliver(2, b"too early")
        c = await Host(2).start()
        a.transport.update_peers({1: b.address, 2: c.address})
        await asyncio.gather(a.transport.deliver(2, b"to c"), a.transport.deliver(1, b"to b again"))
        assert b.got == [(0, b"to b"), (0, b"to b again")]
        assert c.got == [(0, b"to c")]
        for host in (a, b, c):
            await host.transport.close()

    run(scenario)


def test_removed_host_fails_pending_and_later_deliveries() -> None:
    async def scenario() -> None:
        read = asyncio.Event()

        async def never_acks(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readexactly(len(hello(source=0, dest=1)) + len(frame(b"pending")))
            read.set()
            await reader.read()
            await close_writer(writer)

        server = await asyncio.start_server(never_acks, LOOPBACK, 0)
        a = await Host(0).start()
        a.transport.update_peers({1: server.sockets[0].getsockname()[:2]})
        pending = a.transport.deliver(1, b"pending")
        await read.wait()
        a.transport.update_peers({})
        assert await outcomes([pending]) == ["HostDied"]
        with pytest.raises(HostDied, match=r"^host 1 is not in the run$"):
            await a.transport.deliver(1, b"later")
        await a.transport.close()
        server.close()
        await server.wait_closed()

    run(scenario)


def test_close_fails_pending_deliveries_and_refuses_new_ones() -> None:
    async def scenario() -> None:
        a, b = await Host(0).start(), await Host(1).start()
        a.transport.update_peers({1: b.address})
        pending = [a.transport.deliver(1, b"x") for _ in range(4)]
        await a.transport.close()
        assert await outcomes(pending) == ["HostDied"] * 4
        with pytest.raises(HostDied, match=r"^this transport is closed$"):
            await a.transport.deliver(1, b"after close")
        await b.transport.close()

    run(scenario)


@pytest.mark.parametrize("ip", ["0.0.0.0", "::", "", "localhost"])
def test_listening_on_every_interface_or_a_name_is_refused(ip: str) -> None:
    with pytest.raises(ValueError, match=r"^transport listen ip .* pass the node IP"):
        SocketTransport(0, TOKEN, lambda source, data: None, ip)


def test_empty_token_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^transport token must be 1\.\.1024 bytes, got 0$"):
        SocketTransport(0, b"", lambda source, data: None, LOOPBACK)


class FakeTransport(asyncio.Transport):
    """Records what the receiving side writes, so a test can cut the input anywhere."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: object = None) -> object:
        return default


@settings(max_examples=60, deadline=None)
@given(
    payloads=st.lists(st.binary(max_size=300), max_size=20),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=30),
)
def test_frames_survive_any_split_of_the_byte_stream(payloads: list[bytes], cuts: list[int]) -> None:
    stream = hello() + b"".join(frame(p) for p in payloads)
    points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    chunks = [stream[i:j] for i, j in itertools.pairwise(points) if j > i]

    async def scenario() -> tuple[list[tuple[int, bytes]], FakeTransport, dict[str, int]]:
        host = Host(1)
        wire = FakeTransport()
        receiver = _Incoming(host.transport)
        receiver.connection_made(wire)
        for chunk in chunks:
            receiver.data_received(chunk)
        receiver.connection_lost(None)
        return host.got, wire, host.transport.counters

    got, wire, counters = asyncio.run(scenario())
    assert got == [(7, p) for p in payloads]
    acks = [struct.unpack("!Q", a)[0] for a in wire.written]
    assert len(acks) <= len(chunks)  # cumulative: at most one ack per read, however many frames
    assert acks == sorted(set(acks)) and (acks[-1] if acks else 0) == len(payloads)
    assert not wire.closed
    assert counters == counted(frames_received=len(payloads))
