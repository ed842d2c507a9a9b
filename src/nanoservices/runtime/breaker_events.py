"""Circuit breaker transitions on their way from the hosts to events.jsonl.

A host keeps its transitions in a bounded list (they are rare: a breaker changes state a few times
a minute at most, so the per-request path never sees this). The supervisor fetches them with the
live-progress poll and with the host's final counts, whichever comes first. A fetch does not empty
the list: each transition is numbered, the supervisor says the last number it has recorded, and
the host forgets only those. So an answer lost on the way (the poll gave up on a slow host) is
sent again, and a transition sent twice (in a poll answer and in the final counts) is recorded once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # a host never builds an Event: it need not import the scenario package
    from nanoservices.scenario.events import Event

LIMIT = 10_000  # transitions a host keeps unconfirmed; beyond, it counts them as dropped
FINAL_KEY = "breaker_events"  # where a host's final counts carry them (popped before they are summed)

# (number, at: seconds since the traffic started, caller service, its version, caller instance,
# dependency service, old state, new state)
Transition = tuple[int, float, str, str, str, str, str, str]


class BreakerLog:
    """One host's transitions not yet confirmed by the supervisor, oldest first."""

    __slots__ = ("_kept", "_last", "dropped", "limit")

    def __init__(self, limit: int = LIMIT) -> None:
        self._kept: list[Transition] = []
        self._last = 0  # the number of the last transition kept
        self.limit = limit
        self.dropped = 0

    def add(
        self, at: float, service: str, version: str, instance: str, dependency: str, old: str, new: str
    ) -> None:
        if len(self._kept) >= self.limit:
            self.dropped += 1
            return
        self._last += 1
        self._kept.append((self._last, at, service, version, instance, dependency, old, new))

    def since(self, confirmed: int) -> list[Transition]:
        """Forget the transitions numbered up to `confirmed` (the supervisor has them); the rest."""
        kept = self._kept
        if kept and kept[0][0] <= confirmed:
            kept = self._kept = [t for t in kept if t[0] > confirmed]
        return list(kept)


def pop_final(counts: dict[str, object]) -> tuple[int, list[Transition]]:
    """Take a host's breaker transitions out of its final counts (so the rest can be summed)."""
    final = counts.pop(FINAL_KEY, None)
    if final is None:
        return -1, []
    host, transitions = final  # type: ignore[misc]  # (int, list) as HostCore.final_counts puts it
    return int(host), list(transitions)


class BreakerInbox:
    """The supervisor's side: per host, the last transition recorded, so none is recorded twice."""

    def __init__(self) -> None:
        self._confirmed: dict[int, int] = {}

    def confirmed(self, host: int) -> int:
        return self._confirmed.get(host, 0)

    def take(self, host: int, transitions: Iterable[Transition]) -> list[Event]:
        """The events of the transitions not recorded before, in the host's order."""
        last = self._confirmed.get(host, 0)
        events = []
        for transition in transitions:
            if transition[0] > last:
                last = transition[0]
                events.append(to_event(transition))
        self._confirmed[host] = last
        return events


def to_event(transition: Transition) -> Event:
    """`breaker-open` (`-half-open`, `-closed`): the caller's service, version and instance, and
    `dependency`, `from`, `to` (closed, open, half_open)."""
    from nanoservices.scenario.events import Event, EventKind

    _n, at, service, version, instance, dependency, old, new = transition
    kind = EventKind(f"breaker-{new.replace('_', '-')}")
    details = {"dependency": dependency, "from": old, "to": new}
    return Event(at, kind, service, (version,), (instance,), details)
