"""Proof that nothing went missing, from counts taken at both ends.

Each host counts its own side of every hop: messages it handed to the transport and those the
transport reported lost (the caller), messages and requests that arrived and the answers it sent
back (the callee). A message that vanished between two hosts shows as a difference between the
two ends, which no single host's bookkeeping can hide. Messages between instances of one host are
its self-hop ("A->A"): queued by the sender, taken off the queue by the receiving instance's turn,
each counted. Entry requests (the traffic sources') must
end completed, failed or in flight, and what is in flight at shutdown must be held by the callee.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_PROBLEM_LINES = 5


@dataclass(frozen=True)
class Hop:
    """One direction between two hosts (host -1 is the supervisor; source == target: between the
    instances of one host), as both ends counted it."""

    source: int
    target: int
    sent: int = 0  # by the source
    lost: Mapping[str, int] = field(default_factory=dict)  # by the source: undelivered, by reason
    in_flight: int = 0  # by the source: its entry requests to the target still out at shutdown
    received: int = 0  # by the target
    requests: int = 0  # by the target: of the messages received, requests
    answered: int = 0  # by the target: responses it sent back

    @property
    def lost_total(self) -> int:
        return sum(self.lost.values())

    @property
    def unaccounted(self) -> int:
        """Sent but neither received nor reported lost (negative: received more than was sent)."""
        return self.sent - self.received - self.lost_total

    @property
    def held(self) -> int:
        """Requests the target received and never answered."""
        return self.requests - self.answered

    def to_json(self) -> dict[str, Any]:
        return {
            "from": self.source,
            "to": self.target,
            "sent": self.sent,
            "received": self.received,
            "requests": self.requests,
            "answered": self.answered,
            "lost": dict(self.lost),
            "in_flight": self.in_flight,
        }


def hops_from(counts: Mapping[str, Mapping[str, Any]]) -> list[Hop]:
    """Hops from the summed host counters, keyed "A->B"."""
    hops = []
    for pair, figures in counts.items():
        source, target = (int(end) for end in pair.split("->"))
        hops.append(
            Hop(
                source=source,
                target=target,
                sent=int(figures.get("sent", 0)),
                lost=dict(figures.get("lost", {})),
                in_flight=int(figures.get("in_flight", 0)),
                received=int(figures.get("received", 0)),
                requests=int(figures.get("requests", 0)),
                answered=int(figures.get("answered", 0)),
            )
        )
    return sorted(hops, key=lambda h: (h.source, h.target))


@dataclass(frozen=True)
class Accounting:
    hops: list[Hop]
    problems: list[str]  # one line each: what disagrees, by how much, where
    unchecked_hosts: tuple[int, ...] = ()  # hosts whose counts died with them

    @property
    def ok(self) -> bool:
        return not self.problems


def reconcile(
    hops: list[Hop],
    issued: int,
    ended: int,
    in_flight: int,
    unchecked_hosts: Iterable[int] = (),
) -> Accounting:
    """Check the entry-request equation and every hop whose two ends both reported."""
    unchecked = tuple(sorted(set(unchecked_hosts)))
    problems = []
    difference = issued - ended - in_flight
    if difference:
        problems.append(
            f"entry requests: {abs(difference):,} {'more' if difference < 0 else 'fewer'} ended or in flight "
            f"than were issued ({issued:,} issued, {ended:,} ended, {in_flight:,} in flight)"
        )
    for hop in hops:
        if hop.source in unchecked or hop.target in unchecked:
            continue
        where = f"host {hop.source} -> host {hop.target}"
        if hop.source == hop.target:
            where += " (within the host)"
        if hop.unaccounted > 0:
            problems.append(f"{where}: {hop.unaccounted:,} messages sent but neither received nor lost")
        elif hop.unaccounted < 0:
            problems.append(f"{where}: {-hop.unaccounted:,} messages received that were never sent")
        if hop.source != hop.target and hop.in_flight > max(hop.held, 0):
            problems.append(
                f"{where}: {hop.in_flight:,} requests in flight at shutdown, but host {hop.target} "
                f"holds {max(hop.held, 0):,}"
            )
    return Accounting(hops, problems, unchecked)
