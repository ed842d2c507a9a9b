"""The data plane between hosts: length-prefixed frames over direct TCP connections, acked in bulk.

Ray stays the control plane; a Ray actor call carries ~600 batches/s between two actors with one in
flight, a socket ~11,700 (docs: DESIGN.md), so batches travel here. Pure asyncio, no Ray.

One connection per host pair and direction, opened on the first delivery. Wire format (big-endian):
  connecting side, once: MAGIC | version u16 | token length u16 | token | source u32 | destination u32
  then per frame:        payload length u32 | payload
  receiving side:        u64 count of frames handed to on_batch so far (cumulative: one ack, many frames)
A receiver that meets a bad handshake, a frame over its bound or an on_batch that raises closes that
connection only and counts it. A sender whose connection fails or closes marks that destination dead:
its frames not yet acked, and every later one, fail with HostDied; no reconnect (the supervisor decides).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import socket
import struct
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import cast

from nanoservices.runtime.host import HostDied, HostStopped

MAGIC = b"NSDP"
VERSION = 1
MAX_TOKEN = 1024
DEFAULT_MAX_FRAME = 64 * 1024 * 1024
_HELLO = struct.Struct("!4sHH")  # magic, version, token length; the token and two u32 follow
_ENDS = struct.Struct("!II")  # source host, destination host
_LENGTH = struct.Struct("!I")
_ACK = struct.Struct("!Q")
# Sent instead of an ack by a host that has stopped and counted its last message: the sender counts
# what it has not had acked as lost because the destination stopped, not because it died.
STOPPED = 2**64 - 1
# Below this a frame's header and payload are joined: one send, one TCP segment. Above it the copy
# costs more than a second send (Python 3.11's writelines writes each piece in turn).
_JOIN_BELOW = 64 * 1024
REFUSALS = ("refused_token", "malformed", "oversized", "handshake_timeout", "misdirected")
COUNTERS = REFUSALS

OnBatch = Callable[[int, bytes], None]


def _nodelay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _check_ip(ip: str) -> None:
    try:
        parsed = ipaddress.ip_address(ip)
    except ValueError:
        raise ValueError(f"transport listen ip {ip!r} is not an IP address; pass the node IP") from None
    if parsed.is_unspecified:
        message = "would listen on every interface; pass the node IP (127.0.0.1 on a laptop)"
        raise ValueError(f"transport listen ip {ip!r} {message}")


class _Incoming(asyncio.Protocol):
    """One accepted connection: check the handshake, then hand each frame to on_batch and ack."""

    def __init__(self, owner: SocketTransport) -> None:
        self._owner = owner
        self._transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._source = -1  # the peer's host index once its handshake is accepted
        self._delivered = 0
        self._done = False  # closed by this side, already counted
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's is one without subclassing it
        self._transport = transport
        if self._owner._closed:  # accepted just before close()
            self.shut()
            return
        _nodelay(transport)
        self._owner._incoming.add(self)
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._owner.handshake_timeout, self._refuse, "handshake_timeout")

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner._incoming.discard(self)
        if self._timer is not None:
            self._timer.cancel()
        if not self._done and (self._source < 0 or self._buf):  # ended inside the handshake or a frame
            self._owner._counts["malformed"] += 1
        self._done = True

    def pause_writing(self) -> None:  # a peer that reads no acks stops being read
        assert self._transport is not None
        self._transport.pause_reading()

    def resume_writing(self) -> None:
        assert self._transport is not None
        self._transport.resume_reading()

    def shut(self) -> None:
        self._done = True
        if self._transport is not None:
            self._transport.abort()

    def data_received(self, data: bytes) -> None:
        if self._done:
            return
        buf = self._buf
        src: bytes | bytearray
        if self._source < 0:
            buf += data
            if not self._handshake():
                return
            src = buf
        elif buf:
            buf += data
            src = buf
        else:
            src = data  # the usual case: frames straight from the read, no copy into the buffer
        used = self._frames(src)
        if used < 0:
            return
        if src is buf:
            del buf[:used]
        elif used < len(data):
            buf += memoryview(data)[used:]

    def _handshake(self) -> bool:
        buf = self._buf
        if len(buf) < _HELLO.size:
            return False
        magic, version, token_size = _HELLO.unpack_from(buf)
        if magic != MAGIC or version != VERSION or token_size > MAX_TOKEN:
            self._refuse("malformed")
            return False
        end = _HELLO.size + token_size + _ENDS.size
        if len(buf) < end:
            return False
        if not hmac.compare_digest(bytes(buf[_HELLO.size : end - _ENDS.size]), self._owner._token):
            self._refuse("refused_token")
            return False
        source, destination = _ENDS.unpack_from(buf, end - _ENDS.size)
        if destination != self._owner.index:  # a stale address now reused by another host
            self._refuse("misdirected")
            return False
        assert self._timer is not None
        self._timer.cancel()
        self._source = source
        del buf[:end]
        self._owner.dial_ahead(source)  # it will be answered: open the way back now, not on the first reply
        return True

    def _frames(self, src: bytes | bytearray) -> int:
        """Hand over every whole frame in src; return the bytes used, or -1 if the connection was closed."""
        owner = self._owner
        limit = owner.max_frame
        on_batch = owner._on_batch
        source = self._source
        end = len(src)
        pos = count = 0
        with memoryview(src) as view:
            try:
                while end - pos >= 4:
                    (size,) = _LENGTH.unpack_from(view, pos)
                    if size > limit:
                        self._fail(count, "oversized")
                        return -1
                    stop = pos + 4 + size
                    if stop > end:
                        break
                    on_batch(source, view[pos + 4 : stop].tobytes())
                    count += 1
                    pos = stop
            except HostDied as refusal:  # the host stopped or is being killed: it takes no more
                self._stop_taking(count, isinstance(refusal, HostStopped))
                return -1
            except Exception:  # the receiver could not decode this frame: this connection ends here
                self._fail(count, "malformed")
                return -1
        if count:
            self._ack(count)
        return pos

    def _ack(self, count: int) -> None:
        assert self._transport is not None
        self._delivered += count
        self._owner._frames_received += count
        self._transport.write(_ACK.pack(self._delivered))

    def _stop_taking(self, count: int, stopped: bool) -> None:
        """Close without counting an offence: what on_batch took is acked, then (if the host
        stopped rather than died) the STOPPED mark tells the sender why the rest is lost."""
        if count:
            self._ack(count)
        assert self._transport is not None
        if stopped:
            self._transport.write(_ACK.pack(STOPPED))
        self._done = True
        self._transport.close()

    def _fail(self, count: int, counter: str) -> None:
        if count:
            self._ack(count)  # what on_batch took is acked; close() sends it before closing
        self._refuse(counter)

    def _refuse(self, counter: str) -> None:
        if self._done:
            return
        self._done = True
        self._owner._counts[counter] += 1
        assert self._transport is not None
        self._transport.close()


class _Outgoing(asyncio.Protocol):
    """This host's connection to one destination: frames out, cumulative acks back."""

    def __init__(self, owner: SocketTransport, dest: int) -> None:
        self._owner = owner
        self.dest = dest
        self._transport: asyncio.Transport | None = None
        self._waiting: deque[asyncio.Future[None]] = deque()  # unacked frames, oldest first
        self._early: list[bytes] = []  # frames delivered while connecting
        self._acked = 0
        self._acks = bytearray()
        self._dead = False

    def send(self, data: bytes, future: asyncio.Future[None]) -> None:
        self._waiting.append(future)
        transport = self._transport
        size = len(data)
        if transport is None:
            self._early.append(_LENGTH.pack(size) + data)
        elif size < _JOIN_BELOW:
            transport.write(_LENGTH.pack(size) + data)
        else:
            transport.writelines((_LENGTH.pack(size), data))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's is one without subclassing it
        if self._dead:  # left or closed while connecting
            transport.abort()
            return
        self._transport = transport
        _nodelay(transport)
        owner = self._owner
        token = owner._token
        hello = _HELLO.pack(MAGIC, VERSION, len(token)) + token + _ENDS.pack(owner.index, self.dest)
        transport.write(b"".join((hello, *self._early)))
        self._early = []

    def data_received(self, data: bytes) -> None:
        acks = self._acks
        stopped = False
        if not acks and len(data) == _ACK.size:
            (total,) = _ACK.unpack(data)
        else:
            acks += data
            usable = len(acks) - len(acks) % _ACK.size
            if not usable:
                return
            (total,) = _ACK.unpack_from(acks, usable - _ACK.size)
            if total == STOPPED and usable > _ACK.size:  # the ack before the mark still counts
                stopped = True
                (total,) = _ACK.unpack_from(acks, usable - 2 * _ACK.size)
            del acks[:usable]
        if total == STOPPED:
            stopped, total = True, self._acked
        self._take_ack(total)
        if stopped:
            self.die(f"host {self.dest} has stopped", HostStopped)

    def _take_ack(self, total: int) -> None:
        waiting = self._waiting
        newly = total - self._acked
        if newly < 0 or newly > len(waiting):
            self._owner._counts["malformed"] += 1
            self.die(f"host {self.dest}: acked {total} frames of {self._acked + len(waiting)} sent")
            return
        self._acked = total
        self._owner._frames_acked += newly
        for _ in range(newly):
            future = waiting.popleft()
            if not future.done():  # a caller may have cancelled its wait
                future.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.die(f"host {self.dest}: connection closed" + (f" ({exc})" if exc else ""))

    def die(self, reason: str, error: type[HostDied] = HostDied) -> None:
        if self._dead:
            return
        self._dead = True
        self._owner._lost(self)
        if self._transport is not None:
            self._transport.abort()
        waiting = self._waiting
        while waiting:
            future = waiting.popleft()
            if not future.done():
                future.set_exception(error(reason))


class SocketTransport:
    """One host's end of the data plane: listens for its peers' frames and sends its own.

    `deliver` returns a future rather than being a coroutine, so a caller that wraps it with
    ensure_future makes no task per frame. Memory is bounded by the caller's frames in flight: a
    delivery resolves only once acked, so the hot path never awaits drain.
    """

    def __init__(
        self,
        index: int,
        token: bytes,
        on_batch: OnBatch,
        ip: str,
        max_frame: int = DEFAULT_MAX_FRAME,
        *,
        handshake_timeout: float = 5.0,
        connect_timeout: float = 10.0,
    ) -> None:
        _check_ip(ip)
        if not 0 < len(token) <= MAX_TOKEN:
            raise ValueError(f"transport token must be 1..{MAX_TOKEN} bytes, got {len(token)}")
        if not 0 <= max_frame < 2**32:
            raise ValueError(f"transport max_frame must be 0..{2**32 - 1} bytes, got {max_frame}")
        self.index = index
        self.ip = ip
        self.max_frame = max_frame
        self.handshake_timeout = handshake_timeout
        self.connect_timeout = connect_timeout
        self._token = bytes(token)
        self._on_batch = on_batch
        self._counts = dict.fromkeys(COUNTERS, 0)
        self._frames_received = 0
        self._frames_acked = 0
        self._peers: dict[int, tuple[str, int]] = {}
        self._out: dict[int, _Outgoing] = {}
        self._dead: set[int] = set()
        self._incoming: set[_Incoming] = set()
        self._connecting: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self.address: tuple[str, int] | None = None  # once started

    def __repr__(self) -> str:  # never the token
        return f"SocketTransport(index={self.index}, ip={self.ip!r})"

    @property
    def counters(self) -> dict[str, int]:
        """Refusals by reason, and frames handed to on_batch here / acked to this host's deliveries."""
        return {**self._counts, "frames_received": self._frames_received, "frames_acked": self._frames_acked}

    async def start(self) -> tuple[str, int]:
        self._loop = asyncio.get_running_loop()
        self._server = await self._loop.create_server(lambda: _Incoming(self), self.ip, 0)
        host, port = self._server.sockets[0].getsockname()[:2]
        self.address = (host, port)
        return host, port

    def update_peers(self, addresses: Mapping[int, tuple[str, int]]) -> None:
        """The run's membership. A host removed or moved loses its connection and pending frames;
        a host given a new address is a new incarnation and no longer counted dead."""
        new = dict(addresses)
        old = self._peers
        for dest, conn in list(self._out.items()):
            if new.get(dest) != old.get(dest):
                del self._out[dest]
                conn.die(f"host {dest} left the run")
        for dest, address in new.items():
            if old.get(dest) != address:
                self._dead.discard(dest)
        self._peers = new

    def deliver(self, dest: int, data: bytes) -> asyncio.Future[None]:
        """Send one frame; the future resolves when dest's on_batch has taken it, or raises HostDied."""
        assert self._loop is not None, "start() the transport first"
        future = self._loop.create_future()
        if len(data) > self.max_frame:
            future.set_exception(
                ValueError(f"a frame of {len(data)} bytes is over max_frame {self.max_frame}")
            )
            return future
        conn = self._out.get(dest)
        if conn is None:
            conn = self._open(dest, future)
            if conn is None:
                return future
        conn.send(data, future)
        return future

    def _open(self, dest: int, future: asyncio.Future[None]) -> _Outgoing | None:
        assert self._loop is not None
        address = self._peers.get(dest)
        if self._closed:
            reason = "this transport is closed"
        elif dest in self._dead:
            reason = f"host {dest} is dead"
        elif address is None:
            reason = f"host {dest} is not in the run"
        else:
            return self._dial(dest, address)[0]
        future.set_exception(HostDied(reason))
        return None

    def _dial(self, dest: int, address: tuple[str, int]) -> tuple[_Outgoing, asyncio.Task[None]]:
        assert self._loop is not None
        conn = _Outgoing(self, dest)
        self._out[dest] = conn
        task = self._loop.create_task(self._connect(conn, *address))
        self._connecting.add(task)
        task.add_done_callback(self._connecting.discard)
        return conn, task

    async def connect(self, dests: Iterable[int]) -> None:
        """Open the connections to these hosts now, before the traffic: otherwise the first
        requests pay for them (at one actor per instance, 260 connects and handshakes between 65
        processes on 2 cores, in the run's first second)."""
        await asyncio.gather(*filter(None, map(self.dial_ahead, dests)))

    def dial_ahead(self, dest: int) -> asyncio.Task[None] | None:
        """Connect to dest before anything is sent there (its requests, or the answers to a host
        that connected to this one), unless already connected or it cannot be."""
        address = self._peers.get(dest)
        if self._closed or address is None or dest == self.index or dest in self._out or dest in self._dead:
            return None
        return self._dial(dest, address)[1]

    async def _connect(self, conn: _Outgoing, host: str, port: int) -> None:
        assert self._loop is not None
        try:
            await asyncio.wait_for(
                self._loop.create_connection(lambda: conn, host, port), self.connect_timeout
            )
        except (OSError, asyncio.TimeoutError) as exc:
            conn.die(f"host {conn.dest}: cannot connect to {host}:{port} ({exc or 'timed out'})")

    def _lost(self, conn: _Outgoing) -> None:
        if self._out.get(conn.dest) is conn:
            del self._out[conn.dest]
            self._dead.add(conn.dest)

    async def close(self) -> None:
        """Stop listening and drop every connection; deliveries not yet acked raise HostDied."""
        if self._closed:
            return
        self._closed = True
        if self._server is not None:
            self._server.close()
        for task in list(self._connecting):
            task.cancel()
        for conn in list(self._out.values()):
            conn.die("this transport is closed")
        self._out.clear()
        for incoming in list(self._incoming):
            incoming.shut()
        if self._server is not None:
            await self._server.wait_closed()
