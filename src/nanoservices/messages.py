"""The one message type every simulated instance exchanges, and its msgpack codec.

Kinds are spigo's "impositions". A message is a plain slotted object rather than a pydantic model:
it is created for every hop, so it must cost as little as possible.
"""

from __future__ import annotations

from enum import IntEnum

import msgpack


class Kind(IntEnum):
    HELLO = 0
    NAME_DROP = 1
    CHAT = 2
    GOLD_COIN = 3
    INFORM = 4
    GET_REQUEST = 5
    GET_RESPONSE = 6
    PUT = 7
    REPLICATE = 8
    FORGET = 9
    DELETE = 10
    GOODBYE = 11
    PUT_RESPONSE = 12  # nanoservices: writes are acknowledged, so every request ends explicitly


class Status(IntEnum):
    """How a response ended. Everything but OK counts as a failed request, by this reason."""

    OK = 0
    NO_ROUTE = 1  # the callee knew no instance to pass the request on to
    DEAD_INSTANCE = 2  # the target's host actor is gone (killed by chaos, or crashed)
    STOPPED = 3  # the target instance has stopped, its host is still alive
    TIMEOUT = 4  # no answer within the request timeout
    SHUTDOWN = 5  # the run ended while the request was in flight
    ERROR = 6  # the service answered with an error (its profile's error rate)
    SHORT_CIRCUITED = 7  # the caller's circuit breaker for the dependency was open: never sent
    REJECTED = 8  # the server's workers and queue were full (capacity): answered at once, HTTP 503


REQUEST_KINDS = frozenset({Kind.GET_REQUEST, Kind.PUT})
RESPONSE_KINDS = frozenset({Kind.GET_RESPONSE, Kind.PUT_RESPONSE})
RESPONSE_FOR = {Kind.GET_REQUEST: Kind.GET_RESPONSE, Kind.PUT: Kind.PUT_RESPONSE}


class Message:
    """One hop. `request_id` pairs a response with the request that the `reply_to` instance sent."""

    # `received` and `served_with` are set by the receiving instance only (its clock when the
    # request arrived, for the service time; the profile it serves the request with, the one in
    # force then); they never travel and are not part of equality.
    __slots__ = (
        "kind",
        "payload",
        "received",
        "reply_to",
        "request_id",
        "sender",
        "served_with",
        "status",
        "target",
        "trace",
    )

    def __init__(
        self,
        *,
        kind: Kind,
        sender: str,
        target: str,
        payload: str = "",
        request_id: int = 0,
        reply_to: str = "",
        status: Status = Status.OK,
        trace: str = "",
    ) -> None:
        self.kind = kind
        self.sender = sender
        self.target = target
        self.payload = payload
        self.request_id = request_id
        self.reply_to = reply_to
        self.status = status
        self.trace = trace  # W3C traceparent of the span that sent it, "" when untraced

    @property
    def is_request(self) -> bool:
        return self.kind in REQUEST_KINDS

    @property
    def is_response(self) -> bool:
        return self.kind in RESPONSE_KINDS

    def __repr__(self) -> str:
        return (
            f"Message({self.kind.name} {self.sender} -> {self.target} {self.payload!r} "
            f"req={self.request_id} status={self.status.name})"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Message) and _fields(self) == _fields(other)

    __hash__ = None  # type: ignore[assignment]  # mutable value object


def _fields(m: Message) -> tuple[object, ...]:
    return (m.kind, m.sender, m.target, m.payload, m.request_id, m.reply_to, m.status, m.trace)


# One packer per process, reused: packb makes a Packer per call (a fifth of a small batch's cost).
# Hosts encode on their event loop's thread only.
_PACK = msgpack.Packer(use_bin_type=True).pack


def encode_batch(batch: list[Message]) -> bytes:
    """Messages for one destination host, packed into one frame (or Ray call argument)."""
    return _PACK(
        [(m.kind, m.sender, m.target, m.payload, m.request_id, m.reply_to, m.status, m.trace) for m in batch]
    )


def encode_rows(rows: list[tuple[int, str, str, str, int, str, int, str]]) -> bytes:
    """encode_batch's bytes from messages already in its field order (kind, sender, target,
    payload, request_id, reply_to, status, trace): the fsm controller's 400,000 opening moves."""
    return msgpack.packb(rows, use_bin_type=True)


# Wire values to enum members by dict: Kind(n) costs a call per message; an unknown value still
# fails (KeyError), and the transport drops the frame as malformed.
_KINDS = {int(k): k for k in Kind}
_STATUSES = {int(s): s for s in Status}


def decode_batch(data: bytes) -> list[Message]:
    """A frame's messages; built slot by slot (object.__new__), a third cheaper than __init__'s
    keyword arguments for the millions a run decodes."""
    kinds, statuses, new = _KINDS, _STATUSES, object.__new__
    out = []
    add = out.append
    for kind, sender, target, payload, request_id, reply_to, status, trace in msgpack.unpackb(
        data, raw=False, use_list=False
    ):
        msg = new(Message)
        msg.kind = kinds[kind]
        msg.sender = sender
        msg.target = target
        msg.payload = payload
        msg.request_id = request_id
        msg.reply_to = reply_to
        msg.status = statuses[status]
        msg.trace = trace
        add(msg)
    return out
