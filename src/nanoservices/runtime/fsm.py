"""The fsm controller's side of a run, kept free of Ray: how many pirates share a host, the opening
moves as one encoded batch per host, and what spigo's "Delivered" line reports.

spigo's fsm (tooling/fsm) times its loops that hand every pirate its opening messages over
unbuffered channels, so a send returns once the pirate has taken the message: "Delivered N messages
in X" is the time from the first send to the last one taken. Here the clock starts before the
moves are drawn and stops at the time the last host reports handing its last move to its pirate;
the supervisor waits (bounded) for every host's count and reports what they counted. N counts
the moves: two NameDrops, a GoldCoin and a Chat per pirate. spigo's N also counts
its Hello (the pirate's name and controller), which a host here has from its plan, so N is 4 per
pirate here and 5 in spigo.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from nanoservices.builtin import FSM
from nanoservices.messages import encode_rows
from nanoservices.packages.pirate import opening_moves

MOVES_PER_PIRATE = 4  # two NameDrops, a GoldCoin, a Chat
CONTROLLER = "fsm"  # the sender of the opening moves, as spigo's fsm
# Seconds the supervisor waits for the opening moves to be delivered: a fixed allowance plus one
# per 20,000 messages, so a host that hangs ends the wait instead of the run.
DELIVERY_BOUND, DELIVERY_PER_SECOND = 30.0, 20_000


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def instances_per_host(arch: str, scale: int, given: int | None, cpus: int | None = None) -> int:
    """-K as given; without it one instance per Ray actor, except fsm: a Ray actor per pirate
    would be 100,000 processes, so its pirates are packed into one host per CPU."""
    if given is not None:
        return given
    if arch != FSM:
        return 1
    return max(1, math.ceil(scale / (cpus or available_cpus())))


@dataclass(frozen=True)
class Opening:
    """The opening moves, encoded once per destination host, and how many each batch holds."""

    batches: dict[int, bytes]
    sent: dict[int, int]

    @property
    def total(self) -> int:
        return sum(self.sent.values())


def opening(pirates: Sequence[str], host_of: Mapping[str, int], seed: int) -> Opening:
    """Every pirate's moves (packages/pirate.py draws them), grouped by the host that runs it,
    each already in the wire layout of messages.encode_batch (one allocation per move)."""
    rows: dict[int, list[tuple[int, str, str, str, int, str, int, str]]] = {}
    moves = opening_moves(pirates, random.Random(f"{seed}:fsm"))
    for i in range(0, len(moves), MOVES_PER_PIRATE):  # a pirate's moves are together
        host = host_of[moves[i][0]]
        batch = rows.get(host)
        if batch is None:
            batch = rows[host] = []
        batch += [
            (kind, CONTROLLER, to, payload, 0, "", 0, "")
            for to, kind, payload in moves[i : i + MOVES_PER_PIRATE]
        ]
    return Opening(
        batches={host: encode_rows(batch) for host, batch in rows.items()},
        sent={host: len(batch) for host, batch in rows.items()},
    )


def elapsed(started: float, finished: float) -> float:
    """From the supervisor's first send to the last host's delivery, both epoch seconds; hosts on
    other machines may disagree on the clock by a little, never below zero."""
    return max(0.0, finished - started)


def delivery_bound(messages: int) -> float:
    return DELIVERY_BOUND + messages / DELIVERY_PER_SECOND


@dataclass(frozen=True)
class Delivered:
    """What the hosts counted of the opening moves, and how long delivering them took."""

    pirates: int
    hosts: int
    sent: int
    delivered: int
    seconds: float

    def to_json(self) -> dict[str, float]:
        return {"sent": self.sent, "delivered": self.delivered, "seconds": self.seconds}

    def progress(self, duration: float) -> str:
        """The supervisor's progress line once the opening moves are in (-d 0: nothing else runs)."""
        line = (
            f"fsm: {self.delivered:,} of {self.sent:,} opening moves delivered to {self.pirates:,} pirates "
            f"on {self.hosts:,} hosts in {go_duration(self.seconds)}"
        )
        if duration <= 0:
            return line + "; -d 0: no time to talk, shutting down"
        return line + f"; they talk amongst themselves for {duration:g} s"


def delivered_line(sent: int, delivered: int, seconds: float) -> str:
    """spigo's line; when some moves were not delivered (a host died), it says how many."""
    line = f"fsm: Delivered {delivered} messages in {go_duration(seconds)}"
    if delivered != sent:
        line += f" ({sent - delivered} of the {sent} sent were not delivered)"
    return line


def go_duration(seconds: float) -> str:
    """Go's time.Duration printing of `seconds` rounded to the millisecond (microsecond below
    one): 1.234s, 850ms, 2m3.5s, 12µs."""
    sign, nanos = ("-" if seconds < 0 else ""), round(abs(seconds) * 1e9)
    unit = 1_000_000 if nanos >= 1_000_000 else 1_000
    nanos = (nanos + unit // 2) // unit * unit  # halves away from zero, as Go's Duration.Round
    if nanos == 0:
        return "0s"
    if nanos < 1_000_000_000:
        value, suffix = (nanos / 1_000_000, "ms") if nanos >= 1_000_000 else (nanos / 1_000, "µs")
        return f"{sign}{_trim(value)}{suffix}"
    hours, rest = divmod(nanos, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    text = f"{_trim(rest / 1e9)}s"
    if hours or minutes:
        text = f"{minutes}m{text}"
    if hours:
        text = f"{hours}h{text}"
    return sign + text


def _trim(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")
