"""Eureka: one registry per zone, holding its region's registrations, answering incremental polls.

The state is a plain class so discovery rules are testable without Ray; runtime/registry_actor.py
wraps it. A change is stamped with the registry's own counter, so a poll says "what changed since
stamp s" instead of comparing clocks across processes.

Each registration carries its software version and a status, as Eureka's do: callers route only
to UP instances. A deploy registers a new server group as STARTING, marks it UP, and takes the old
group OUT_OF_SERVICE; traffic shares between the versions of a service (a canary's 10 %) travel
with the polls too, as a weighted load balancer in front of the groups would apply them.

Registrations are leases, as Eureka's are: a host renews its instances' leases every renewal
period, and the eviction timer drops leases not renewed for EXPIRY_PERIODS periods. A crashed
instance therefore stays routable until its lease runs out; a stopped one deregisters at once.
Self-preservation, as Eureka's eviction limit: one round evicts at most SELF_PRESERVATION of the
online leases (`n - int(n * 0.85)`), the longest-unrenewed first; the rest wait for the next
round. A lost zone (a third of the leases) therefore drains over a few rounds instead of never,
and a registry that lost touch with everyone still keeps 85 % after one round.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

STARTING, UP, OUT_OF_SERVICE, DOWN = "STARTING", "UP", "OUT_OF_SERVICE", "DOWN"
STATUSES = (STARTING, UP, OUT_OF_SERVICE, DOWN)
EXPIRY_PERIODS = 3  # Eureka: a 90 s lease duration for a 30 s renewal interval
SELF_PRESERVATION = 0.15  # Eureka's renewal-percent threshold of 0.85


@dataclass(slots=True)
class Registration:
    name: str  # instance full name
    service: str
    host: int  # index of the host actor running it
    online: bool  # registered (False once deregistered)
    stamp: int  # registry counter at the last change
    version: str = "v1"
    status: str = UP
    renewed: float = 0.0  # registry clock at the registration or last renewal
    lease: float = 0.0  # how long a renewal holds; 0: until the first renewal says
    evicted: bool = False  # offline because its lease ran out, not because it deregistered

    @property
    def routable(self) -> bool:
        return self.online and self.status == UP


# What a poll returns per changed instance: (full name, service, host index, routable, version)
Change = tuple[str, str, int, bool, str]
# (name, service, host, version, status) as hosts register their instances
Entry = tuple[str, str, int, str, str]
Shares = dict[str, float]  # version -> share of the service's traffic, summing to 1


class RegistryState:
    """One Eureka server's table. Registrations replicate to the peers of the region (the caller
    delivers them); unlike spigo, deregistrations replicate too, so a stopped instance is forgotten
    in every zone and not only in the one it registered with."""

    def __init__(
        self, name: str, clock: Callable[[], float] = time.time, self_preservation: float = SELF_PRESERVATION
    ) -> None:
        self.name = name
        self.clock = clock
        self.self_preservation = self_preservation
        self.stamp = 0
        self.on_change: Callable[[], None] | None = None  # told after each change (a waiting poll)
        self.evicted = 0  # leases expired and dropped
        self.revived = 0  # evicted instances whose heartbeat came after all (alive, but late)
        self._held_back: set[str] = set()  # leases expired but kept by the cap, at least one round
        self.rounds: list[tuple[float, int]] = []  # (clock, leases evicted) of each round that evicted
        self._by_name: dict[str, Registration] = {}
        self._by_service: dict[str, list[Registration]] = {}
        self._shares: dict[str, tuple[Shares, int]] = {}  # service -> (shares, stamp)

    def _bump(self) -> None:
        self.stamp += 1
        if self.on_change is not None:
            self.on_change()

    def register(self, entries: Iterable[Entry]) -> list[Entry]:
        """Add entries; returns the ones that were new, back online, or changed status."""
        changed = []
        for entry in entries:
            name, service, host, version, status = entry
            known = self._by_name.get(name)
            if known is not None and known.online and known.status == status:
                continue
            self._bump()
            now = self.clock()
            if known is None:
                reg = Registration(name, service, host, True, self.stamp, version, status, now)
                self._by_name[name] = reg
                self._by_service.setdefault(service, []).append(reg)
            else:
                known.online, known.host, known.stamp, known.status = True, host, self.stamp, status
                known.renewed, known.evicted = now, False
            changed.append(entry)
        return changed

    def set_status(self, names: Iterable[str], status: str) -> list[str]:
        """Eureka's status override (Asgard's "disable"/"enable"); returns the names that changed."""
        changed = []
        for name in names:
            reg = self._by_name.get(name)
            if reg is None or not reg.online or reg.status == status:
                continue
            self._bump()
            reg.status, reg.stamp = status, self.stamp
            changed.append(name)
        return changed

    def deregister(self, names: Iterable[str]) -> list[str]:
        """Mark instances offline; returns the names that were online."""
        changed = []
        for name in names:
            reg = self._by_name.get(name)
            if reg is None or not reg.online:
                continue
            self._bump()
            reg.online, reg.stamp, reg.evicted = False, self.stamp, False
            changed.append(name)
        return changed

    def renew(self, names: Iterable[str], lease: float) -> int:
        """One host's heartbeat for its instances: each lease holds `lease` seconds from now.
        Deregistered names stay down. An evicted one is alive after all (its heartbeats came
        late: a busy machine): it is back, with the status it had, as a Eureka client answered
        404 registers again and the server keeps its status override. Returns how many leases
        were renewed."""
        now = self.clock()
        renewed = 0
        by_name = self._by_name
        for name in names:
            reg = by_name.get(name)
            if reg is None:
                continue
            if not reg.online:
                if not reg.evicted:
                    continue
                self._bump()
                reg.online, reg.evicted, reg.stamp = True, False, self.stamp
                self.revived += 1
            reg.renewed, reg.lease = now, lease
            renewed += 1
        return renewed

    def evict(self, compensation: float = 0.0) -> list[str]:
        """The eviction timer's round: deregister leases past their duration, at most the
        self-preservation share of the online leases, the longest-unrenewed (then by name) first."""
        now = self.clock()
        online = [reg for reg in self._by_name.values() if reg.online]
        due = now - compensation  # Eureka's: a timer that ran late judges leases as of when it was due
        expired = [reg for reg in online if reg.lease and due > reg.renewed + reg.lease]
        if not expired:
            return []
        limit = len(online) - int(len(online) * (1 - self.self_preservation))
        expired.sort(key=lambda reg: (reg.renewed, reg.name))
        self._held_back.update(reg.name for reg in expired[limit:])
        if limit <= 0:
            return []
        evicted = self.deregister(reg.name for reg in expired[:limit])
        for name in evicted:
            self._by_name[name].evicted = True
        self.evicted += len(evicted)
        self.rounds.append((now, len(evicted)))
        return evicted

    @property
    def held_back(self) -> int:
        """Leases that expired but waited at least one round because of the cap."""
        return len(self._held_back)

    def set_shares(self, service: str, shares: Mapping[str, float]) -> bool:
        """How the service's traffic splits between its versions; empty: evenly over instances."""
        current = self._shares.get(service)
        if current is not None and current[0] == dict(shares):
            return False
        self._bump()
        self._shares[service] = (dict(shares), self.stamp)
        return True

    def poll(self, services: Iterable[str], since: int) -> tuple[int, list[Change], dict[str, Shares]]:
        """Everything about these services that changed after stamp `since` (0: everything)."""
        changes: list[Change] = []
        shares: dict[str, Shares] = {}
        for service in services:
            for reg in self._by_service.get(service, ()):
                if reg.stamp > since:
                    changes.append((reg.name, reg.service, reg.host, reg.routable, reg.version))
            split = self._shares.get(service)
            if split is not None and split[1] > since:
                shares[service] = split[0]
        return self.stamp, changes, shares

    def online_count(self) -> int:
        return sum(1 for reg in self._by_name.values() if reg.online)

    def statuses(self, service: str) -> dict[str, tuple[str, str]]:
        """name -> (version, status) of the service's online instances (for events and tests)."""
        return {r.name: (r.version, r.status) for r in self._by_service.get(service, ()) if r.online}


class EvictionTimer:
    """Eureka's eviction timer for one server, without the event loop (runtime/registry_actor.py
    sleeps between rounds): started by the first heartbeat, whose lease says the period (a third of
    it), each round sends the period's heartbeats on to the peers in bulk and evicts. A round woken
    late judges leases as of when it was due, as Eureka's compensation does."""

    def __init__(self, state: RegistryState, lease: float, now: float) -> None:
        self.state = state
        self.lease = lease  # what the forwarded heartbeats renew for on the peers
        self.interval = lease / EXPIRY_PERIODS
        self.due = now + self.interval
        self._unreplicated: set[str] = set()  # heartbeats not yet copied to the peers

    def heard(self, names: Iterable[str]) -> None:
        """Heartbeats this server took itself: they go to the peers with the next round."""
        self._unreplicated.update(names)

    def wait(self, now: float) -> float:
        """Seconds until the next round is due."""
        return max(self.due - now, 0.0)

    def fire(self, now: float) -> tuple[list[str], list[str]]:
        """One round at `now`: (the heartbeats to forward, sorted; the names evicted)."""
        late = max(now - self.due, 0.0)
        self.due = now + self.interval
        forward, self._unreplicated = sorted(self._unreplicated), set()
        return forward, self.state.evict(late)


def lease_counts(state: RegistryState) -> dict[str, object]:
    """One server's evictions: totals and each round's (clock, count), for the run summary."""
    return {
        "registry": state.name,
        "evicted": state.evicted,
        "held_back": state.held_back,
        "revived": state.revived,
        "rounds": [list(r) for r in state.rounds],
    }
