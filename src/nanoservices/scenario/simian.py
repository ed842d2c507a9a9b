"""The Simian Army on the run's clock: Chaos Monkey, Gorilla and Kong kill; latency and error
incidents change how the target's instances serve for a window; a partition cuts hosts of one
side off from the others'. Every action is an Event with the instances it touched, and a record
the summary's phases are computed from.

No Ray here, as for deploys (scenario/asgard.py): the Ray fleet and the in-process one implement
`ChaosFleet`. Incidents in force are kept as a set and every instance's profile (every host's
partition) is recomputed from that set at each start and end, so two incidents overlapping on one
instance compose and ending one leaves the other in force.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

from nanoservices.chaos import Kill, ZoneLoss
from nanoservices.plan import InstanceSpec
from nanoservices.scenario import kinds, recovery
from nanoservices.scenario.actions import (
    ErrorIncident,
    Gorilla,
    Incident,
    Kong,
    LatencyIncident,
    Location,
    Monkey,
    Partition,
    Target,
    VersionBehaviour,
)
from nanoservices.scenario.asgard import Fleet
from nanoservices.scenario.distributions import Added, ErrorRate, LatencyModel
from nanoservices.scenario.events import Event, EventKind

Running = Sequence[tuple[int, InstanceSpec]]  # (host index, instance) of every running instance


class Applied(NamedTuple):
    """Where an incident's change (profiles, partition) took hold, and where not and why: an event
    must not claim an effect on a host it never reached."""

    hosts: tuple[int, ...] = ()
    failed: Mapping[int, str] = {}
    method: str = ""  # how, when not the usual way (a netns cluster cuts partitions at its switch)
    # When the change ended an incident: what it did, {"affected": n, "trace_ids": [...]} (affected.py)
    effects: Mapping[str, object] = {}

    def details(self) -> dict[str, object]:
        method = {"method": self.method} if self.method else {}
        return {
            "applied_hosts": list(self.hosts),
            "failed_hosts": {str(h): w for h, w in sorted(self.failed.items())},
            **method,
            **self.effects,
        }


class ChaosFleet(Fleet, Protocol):
    """What the Simian Army needs from a runtime, beyond what deploys need."""

    seed: int
    incidents: list[dict[str, object]]  # what happened when, for the summary's phases

    def running(self) -> list[tuple[int, InstanceSpec]]:
        """Every instance still running, with its host, in a stable order."""
        ...

    async def kill(self, spec: InstanceSpec) -> Kill:
        """Chaos Monkey's kill of one instance (nanoservices.chaos.kill_instance)."""
        ...

    async def lose(self, hosts: Mapping[int, Sequence[InstanceSpec]]) -> ZoneLoss:
        """These hosts die at once with their instances (and, in cluster mode, with any other on
        their machines); how it was done, for the event."""
        ...

    async def set_profiles(self, profiles: Mapping[str, VersionBehaviour | None]) -> Applied:
        """How these instances serve from now on; the hosts it took hold on, and those it failed on."""
        ...

    async def set_partitions(self, blocked: Mapping[int, frozenset[int]]) -> Applied:
        """Each host's set of hosts it cannot reach (empty: none); where it took hold."""
        ...


Served = tuple[LatencyModel | None, ErrorRate | None]  # how an instance serves: its latency, its errors


class Effect(NamedTuple):
    """What an incident kind does to how an instance serves, and what its events say of it."""

    apply: Callable[[Any, LatencyModel | None, ErrorRate | None], Served]
    details: Callable[[Any], dict[str, object]]


def _slower(incident: LatencyIncident, latency: LatencyModel | None, errors: ErrorRate | None) -> Served:
    return Added(latency, incident.add), errors


def _failing(incident: ErrorIncident, latency: LatencyModel | None, errors: ErrorRate | None) -> Served:
    own = errors.rate if errors is not None else 0.0
    return latency, ErrorRate(1 - (1 - own) * (1 - incident.rate))


# By the kind's key (scenario/kinds.py): every kind the timeline runs with `incident_start`.
EFFECTS: dict[str, Effect] = {
    "latency": Effect(_slower, lambda incident: {"add": repr(incident.add)}),
    "errors": Effect(_failing, lambda incident: {"rate": incident.rate}),
}


def with_incidents(
    base: VersionBehaviour | None, incidents: Sequence[LatencyIncident | ErrorIncident]
) -> VersionBehaviour | None:
    """An instance's own profile under the incidents in force on it: latency adds to its service
    time, an error rate fails requests independently of its own errors."""
    latency = base.latency if base is not None else None
    errors = base.errors if base is not None else None
    for incident in incidents:
        latency, errors = EFFECTS[kinds.of(incident).key].apply(incident, latency, errors)
    capacity = base.capacity if base is not None else None  # incidents leave the capacity as it is
    if latency is None and errors is None and capacity is None:
        return None
    return VersionBehaviour(latency=latency, errors=errors, capacity=capacity)


def blocked_hosts(partitions: Sequence[Partition], running: Running) -> dict[int, frozenset[int]]:
    """Per host, the hosts the partitions in force cut it off from: those of every other side."""
    blocked: dict[int, set[int]] = {host: set() for host, _ in running}
    for partition in partitions:
        sides = [{h for h, s in running if side.contains(s)} for side in partition.sides]
        for i, side in enumerate(sides):
            others = set().union(*(other for j, other in enumerate(sides) if j != i))
            for host in side:
                blocked[host] |= others - side
    return {host: frozenset(hosts) for host, hosts in blocked.items()}


def monkey_victim(
    seed: int, occurrence: int, target: Target, running: Running
) -> tuple[int, InstanceSpec] | None:
    """A seeded choice among the target's running instances, reproducible with --seed."""
    candidates = sorted(((h, s) for h, s in running if target.matches(s)), key=lambda hs: hs[1].name)
    if not candidates:
        return None
    return random.Random(f"{seed}:monkey:{occurrence}").choice(candidates)


class Simian:
    def __init__(self, fleet: ChaosFleet) -> None:
        self.fleet = fleet
        self._monkeys = 0
        self._in_force: list[Incident] = []  # in start order, partitions too: end_all ends them so
        self._active: list[LatencyIncident | ErrorIncident] = []
        self._partitions: list[Partition] = []
        self._touched: dict[int, tuple[InstanceSpec, ...]] = {}  # id(incident) -> instances it changed
        self._records_of: dict[tuple[str, str], dict[str, object]] = {}  # windows in force: their record
        self._outages: dict[str, tuple[EventKind, list[InstanceSpec], float]] = {}  # place -> its loss

    def _event(self, kind: EventKind, service: str, instances: Sequence[str], **details: object) -> None:
        self.fleet.emit(Event(self.fleet.now(), kind, service, (), tuple(instances), details))

    def _record(
        self,
        kind: str,
        target: str,
        at: float,
        until: float | None,
        instances: int,
        applied: Applied | None = None,
    ) -> None:
        """What the phases are computed from: when it took effect (the run's clock, not the file's),
        and for an incident's change, the hosts it failed to reach (the summary names them)."""
        record: dict[str, object] = {
            "kind": kind, "target": target, "at": round(at, 3), "until": until, "instances": instances,
        }  # fmt: skip
        if applied is not None:
            record.update(applied.details())
        self.fleet.incidents.append(record)
        self._records_of[kind, target] = record

    def _ended(self, kind: str, target: str, applied: Applied | None = None) -> None:
        record = self._records_of.pop((kind, target), None)
        if record is not None:
            record["until"] = round(self.fleet.now(), 3)
            if applied is not None and applied.failed:  # the end did not take hold there: still in force
                record["end_failed_hosts"] = applied.details()["failed_hosts"]

    async def monkey(self, action: Monkey) -> None:
        occurrence, self._monkeys = self._monkeys, self._monkeys + 1
        at = self.fleet.now()
        chosen = monkey_victim(self.fleet.seed, occurrence, action.target, self.fleet.running())
        if chosen is None:
            self._event(EventKind.CHAOS_MONKEY, action.target.service, (), target=str(action.target),
                        outcome="no running instance")  # fmt: skip
            return
        host, victim = chosen
        kill = await self.fleet.kill(victim)
        self._event(EventKind.CHAOS_MONKEY, victim.service, (victim.name,), target=str(action.target),
                    host=host, method=kill.method, occurrence=occurrence)  # fmt: skip
        self._record("monkey", victim.name, at, None, 1)

    async def gorilla(self, action: Gorilla) -> None:
        """Every host of the zone dies at once."""
        await self._lose(action.zone, EventKind.GORILLA)

    async def kong(self, action: Kong) -> None:
        """Every host of the region dies at once."""
        await self._lose(Location(action.region), EventKind.KONG)

    async def _lose(self, location: Location, kind: EventKind) -> None:
        at = self.fleet.now()
        hosts: dict[int, list[InstanceSpec]] = {}
        for host, spec in self.fleet.running():
            if location.contains(spec):
                hosts.setdefault(host, []).append(spec)
        lost = await self.fleet.lose(hosts) if hosts else ZoneLoss([], "none")
        losses = lost.losses
        instances = sorted(name for loss in losses for name in loss.instances)
        self._event(kind, "", instances, location=str(location), hosts=len(losses), method=lost.method,
                    lost_hosts=sorted(loss.host for loss in losses), nodes=list(lost.nodes),
                    counts_lost=sum(1 for loss in losses if loss.counts is None))  # fmt: skip
        self._record(kind.value, str(location), at, None, len(instances))
        died = [s for specs in hosts.values() for s in specs if s.name in instances]
        self._outages[str(location)] = (kind, died, at)

    async def recover(self, action: Gorilla | Kong) -> None:
        """Its `for:` window ends: the place's Auto Scaling Groups relaunch what it lost (recovery.py)."""
        place = str(action.zone if isinstance(action, Gorilla) else Location(action.region))
        if place in self._outages:
            kind, lost, since = self._outages.pop(place)
            await recovery.recover(self.fleet, kind, place, lost, since)
            self._ended(kind.value, place)

    async def incident_start(self, incident: LatencyIncident | ErrorIncident) -> None:
        self._in_force.append(incident)
        self._active.append(incident)
        touched = tuple(s for _, s in self.fleet.running() if incident.target.matches(s))
        self._touched[id(incident)] = touched
        applied = await self._reprofile(touched)
        self._event(EventKind.INCIDENT_START, incident.target.service, [s.name for s in touched],
                    **_incident_details(incident), **applied.details())  # fmt: skip
        self._record(str(_incident_details(incident)["incident"]), str(incident.target), self.fleet.now(),
                     incident.until, len(touched), applied)  # fmt: skip

    async def incident_end(self, incident: LatencyIncident | ErrorIncident) -> None:
        if incident not in self._active:
            return
        self._active.remove(incident)
        self._in_force.remove(incident)
        touched = self._touched.pop(id(incident), ())
        running = {s.name for _, s in self.fleet.running()}
        applied = await self._reprofile(tuple(s for s in touched if s.name in running))
        self._event(EventKind.INCIDENT_END, incident.target.service, [s.name for s in touched],
                    **_incident_details(incident), **applied.details())  # fmt: skip
        self._ended(str(_incident_details(incident)["incident"]), str(incident.target), applied)

    async def partition_start(self, partition: Partition) -> None:
        self._in_force.append(partition)
        self._partitions.append(partition)
        await self._partition(partition, EventKind.PARTITION_START)

    async def partition_end(self, partition: Partition) -> None:
        if partition not in self._partitions:
            return
        self._partitions.remove(partition)
        self._in_force.remove(partition)
        await self._partition(partition, EventKind.PARTITION_END)

    async def end_all(self) -> None:
        """The run's traffic is over: what is still in force ends now, in start order (events say so)."""
        for incident in list(self._in_force):
            await getattr(self, kinds.of(incident).ender)(incident)

    async def _reprofile(self, specs: Sequence[InstanceSpec]) -> Applied:
        profiles = {
            spec.name: with_incidents(spec.profile, [i for i in self._active if i.target.matches(spec)])
            for spec in specs
        }
        return await self.fleet.set_profiles(profiles)

    async def _partition(self, partition: Partition, kind: EventKind) -> None:
        running = self.fleet.running()
        applied = await self.fleet.set_partitions(blocked_hosts(self._partitions, running))
        sides = [str(side) for side in partition.sides]
        inside = sorted(s.name for _, s in running if any(side.contains(s) for side in partition.sides))
        self._event(kind, "", inside, sides=sides, **applied.details())
        if kind is EventKind.PARTITION_START:
            self._record(
                "partition", " | ".join(sides), self.fleet.now(), partition.until, len(inside), applied
            )
        else:
            self._ended("partition", " | ".join(sides), applied)


def _incident_details(incident: LatencyIncident | ErrorIncident) -> dict[str, object]:
    key = kinds.of(incident).key
    return {"incident": key, "target": str(incident.target), **EFFECTS[key].details(incident)}
