"""A host's side of service discovery (Eureka's client): registering its instances, renewing their
leases, polling the registries for the services they call, and applying what changed to their
routes. A mixin of HostCore (runtime/host.py), kept apart because none of it is on the per-message
path; it uses only the host attributes declared below.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from nanoservices.outputs.records import GraphRecord, NodeRecord
from nanoservices.plan import InstanceSpec, RegistrySpec
from nanoservices.registry import EXPIRY_PERIODS, UP, Change, Entry, Shares
from nanoservices.runtime.bulk import paused_gc

if TYPE_CHECKING:
    from nanoservices.runtime.host import Peers
    from nanoservices.runtime.instance import InstanceRuntime
    from nanoservices.runtime.stats import HostStats

PollAnswer = tuple[int, list[Change], dict[str, Shares]]  # (stamp, changes, shares) of a registry
WATCH_WAIT = 30.0  # seconds a poll waits for a change (Eureka clients fetch every 30 s)


def registries_in_scope(spec: InstanceSpec, registries: Sequence[RegistrySpec]) -> list[int]:
    """spigo's rule: global and eureka-dependent instances see every registry, cross-zone ones
    their region's, the rest their own zone's."""
    scope = spec.registry_scope
    if scope == "all":
        return list(range(len(registries)))
    if scope == "region":
        return [i for i, r in enumerate(registries) if r.region == spec.region]
    return [i for i, r in enumerate(registries) if (r.region, r.zone) == spec.location]


class HostDiscovery:
    """Registration, leases and polls of one host's instances (HostCore's discovery half)."""

    # HostCore's attributes this half uses
    index: int
    _seed: int
    instances: dict[str, InstanceRuntime]
    registries: Sequence[RegistrySpec]
    peers: Peers | None
    placement: dict[str, int]
    shares: dict[str, Shares]
    stats: HostStats
    clock: Callable[[], float]
    lease_renewal: float
    _records: list[GraphRecord]
    _background: list[asyncio.Task[None]]
    _watch: dict[int, dict[str, list[InstanceRuntime]]]
    _since: dict[int, int]
    _leases: dict[int, list[InstanceRuntime]]
    _renewing: bool
    _started: bool

    async def flush_records(self) -> None:
        if self._records and self.peers is not None:
            records, self._records = self._records, []
            await self.peers.record(records)

    def _watch_list(self) -> dict[int, dict[str, list[InstanceRuntime]]]:
        """registry index -> service -> the local instances that poll it for that service."""
        watch: dict[int, dict[str, list[InstanceRuntime]]] = {}
        for instance in self.instances.values():
            for registry in registries_in_scope(instance.spec, self.registries):
                services = watch.setdefault(registry, {})
                for service in instance.spec.dependencies:
                    services.setdefault(service, []).append(instance)
        return {r: s for r, s in watch.items() if s}

    async def register_all(self, status: str = UP) -> None:
        """Register every instance with the registries of its scope, in plan order: UP at the
        run's start, STARTING for a server group a deploy adds."""
        assert self.peers is not None
        per_registry: dict[int, list[Entry]] = {}
        now = self.clock()
        with paused_gc():
            for instance in self.instances.values():
                spec = instance.spec
                self._records.append(NodeRecord(spec.name, spec.package, spec.ip, now))
                if spec.source_worker > 0:  # a traffic source's extra worker: a caller only
                    continue  # (runtime/sources.py)
                entry = (spec.name, spec.service, self.index, spec.version, status)
                for registry in registries_in_scope(spec, self.registries):
                    per_registry.setdefault(registry, []).append(entry)
        # Node records travel to Edda alongside the registrations, not after them: one round trip.
        await asyncio.gather(
            *(self._register_leased(r, entries) for r, entries in per_registry.items()), self.flush_records()
        )

    async def _register_leased(self, registry: int, entries: list[Entry]) -> None:
        """Register, then the first heartbeat: it tells the registry how long the leases last, so
        a host that dies before its first renewal period still expires."""
        assert self.peers is not None
        await self.peers.register(registry, entries)
        await self.peers.renew(registry, [e[0] for e in entries], EXPIRY_PERIODS * self.lease_renewal)

    def _lease_list(self) -> dict[int, list[InstanceRuntime]]:
        """registry index -> the local instances registered with it, renewed in one call."""
        leases: dict[int, list[InstanceRuntime]] = {}
        for instance in self.instances.values():
            if instance.spec.source_worker > 0:  # never registered: nothing to renew
                continue
            for registry in registries_in_scope(instance.spec, self.registries):
                leases.setdefault(registry, []).append(instance)
        return leases

    async def renew_once(self) -> None:
        """One heartbeat per registry for all of this host's running instances."""
        assert self.peers is not None
        lease = EXPIRY_PERIODS * self.lease_renewal
        calls = []
        started = self._started
        for registry, instances in self._leases.items():
            # Before the traffic starts nothing runs yet, but every lease must hold through a slow
            # start-up; afterwards a stopped instance has deregistered and is not renewed.
            names = [i.name for i in instances if i.running or not started]
            if names:
                calls.append((len(names), self.peers.renew(registry, names, lease)))
        # a registry gone with its zone's machine fails its call; the others are still renewed
        answers = await asyncio.gather(*(call for _, call in calls), return_exceptions=True)
        for (leases, _), answer in zip(calls, answers, strict=True):
            if isinstance(answer, BaseException):  # counted: the summary says how many were not renewed
                self.stats.renewals_failed += leases

    def start_renewals(self) -> None:
        """Heartbeats every renewal period from now on (once: registration and start both ask)."""
        if self._leases and not self._renewing:
            self._renewing = True
            self._background.append(asyncio.get_running_loop().create_task(self._renew_loop()))

    async def _renew_loop(self) -> None:
        while True:
            await asyncio.sleep(self.lease_renewal)
            await self.renew_once()

    async def poll_once(self) -> None:
        assert self.peers is not None
        registries = list(self._watch)
        answers = await asyncio.gather(
            *(self.peers.poll(r, list(self._watch[r]), self._since[r]) for r in registries),
            return_exceptions=True,  # a registry gone with its zone's machine: what the others say
        )
        changed: dict[str, InstanceRuntime] = {}
        for registry, answer in zip(registries, answers, strict=True):
            if not isinstance(answer, BaseException):
                self._apply(registry, answer, changed)
        self._routes_changed(changed)
        await self.flush_records()

    def hosts_called(self) -> set[int]:
        """The other hosts running an instance one of this host's instances has a route to."""
        placement = self.placement
        called = {placement.get(name, -1) for i in self.instances.values() for name in i.routes}
        return called - {-1, self.index}

    def _apply(self, registry: int, answer: PollAnswer, changed: dict[str, InstanceRuntime]) -> None:
        """One registry's answer: the instances whose routes it changed go into `changed`."""
        stamp, changes, shares = answer
        self._since[registry] = stamp
        watchers = self._watch[registry]
        for service, split in shares.items():
            if split:
                self.shares[service] = split
            else:
                self.shares.pop(service, None)
        for name, service, _host, routable, version in changes:
            for instance in watchers.get(service, ()):
                if instance.learn(name, routable, version):
                    changed[instance.name] = instance

    @staticmethod
    def _routes_changed(changed: dict[str, InstanceRuntime]) -> None:
        for instance in changed.values():
            if instance.running:
                instance.behaviour.on_routes_changed()

    async def _poll_loop(self, interval: float) -> None:
        """Eureka's poll, one loop per registry in scope, each host at its own phase (as Eureka
        clients' timers drift apart: 65 hosts polling in the same instant made a burst of registry
        calls every second)."""
        phase = interval * random.Random(f"{self._seed}:poll:{self.index}").random()
        await asyncio.gather(*(self._watch_registry(r, interval, phase) for r in self._watch))

    async def _watch_registry(self, registry: int, interval: float, phase: float) -> None:
        """A long poll: the registry answers when something this host watches changed, or after
        WATCH_WAIT with nothing. A view is never staler than `interval` (the next poll goes out
        `interval` after an answer and a change waiting for it is answered at once), yet a quiet
        registry costs one call per WATCH_WAIT instead of one per interval: at one actor per
        instance, 65 polls a second were a quarter of a 2-core machine."""
        assert self.peers is not None
        await asyncio.sleep(phase)
        services = list(self._watch[registry])
        while True:
            try:
                answer = await self.peers.poll(registry, services, self._since[registry], WATCH_WAIT)
            except Exception:  # a registry lost with its node: keep the last view, ask again
                self.stats.polls_failed += 1
            else:
                changed: dict[str, InstanceRuntime] = {}
                self._apply(registry, answer, changed)
                self._routes_changed(changed)
                await self.flush_records()
            await asyncio.sleep(interval)
