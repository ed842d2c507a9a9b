"""The Cluster (runtime/cluster.py) of an in-process run: the same HostCores and registry tables
as a Ray run, in one event loop. A killed host is marked dead, and deliveries to it fail as they
do after `ray.kill`. On simulated time (`simulate()`), waiting `s` seconds is `s / interval`
traffic ticks, each settled, so deploys and chaos are exact and fast in tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

from nanoservices.config import RunConfig
from nanoservices.model.behaviour import VersionBehaviour
from nanoservices.outputs.records import DoneRecord, ExitReason, GraphRecord
from nanoservices.plan import DeploymentPlan
from nanoservices.registry import Change, Entry, RegistryState, Shares, lease_counts
from nanoservices.runtime.affected import Sample
from nanoservices.runtime.breaker_events import Transition
from nanoservices.runtime.delays import RESOLUTION
from nanoservices.runtime.host import HostCore, HostDied, HostSetup
from nanoservices.runtime.placement import placement_of
from nanoservices.runtime.sources import spread
from nanoservices.runtime.windows import Served


class LocalPeers:
    def __init__(self, plan: DeploymentPlan, hosts: Sequence[HostCore]) -> None:
        self.hosts = hosts
        self.registries = [RegistryState(r.name) for r in plan.registries]
        self.region_peers = [
            [j for j, other in enumerate(plan.registries) if other.region == r.region and j != i]
            for i, r in enumerate(plan.registries)
        ]
        self.records: list[GraphRecord] = []
        self.dead: set[int] = set()

    async def deliver(self, source: int, host: int, data: bytes) -> None:
        if host in self.dead:
            raise HostDied(f"host {host} is dead")
        self.hosts[host].deliver(source, data)

    async def register(self, registry: int, entries: list[Entry]) -> None:
        changed = self.registries[registry].register(entries)
        for peer in self.region_peers[registry]:
            self.registries[peer].register(changed)

    async def deregister(self, registry: int, names: list[str]) -> None:
        changed = self.registries[registry].deregister(names)
        for peer in self.region_peers[registry]:
            self.registries[peer].deregister(changed)

    async def renew(self, registry: int, names: list[str], lease: float) -> None:
        self.registries[registry].renew(names, lease)
        for peer in self.region_peers[registry]:  # heartbeats replicate, as registrations do
            self.registries[peer].renew(names, lease)

    def evict(self) -> list[str]:
        """One round of every registry's eviction timer (a test drives it with its clock)."""
        return [name for registry in self.registries for name in registry.evict()]

    async def poll(
        self, registry: int, services: list[str], since: int, wait: float = 0.0
    ) -> tuple[int, list[Change], dict[str, Shares]]:
        """At once: in process, the test drives polls and nothing else could change the table."""
        return self.registries[registry].poll(services, since)

    async def record(self, records: list[GraphRecord]) -> None:
        self.records.extend(records)

    def set_status(self, names: list[str], status: str) -> None:
        for registry in self.registries:  # what replication within each region amounts to
            registry.set_status(names, status)

    def set_shares(self, service: str, shares: Shares) -> None:
        for registry in self.registries:
            registry.set_shares(service, shares)


class LocalCluster:
    kill_method = "in-process"

    def __init__(
        self,
        plan: DeploymentPlan,
        config: RunConfig,
        clock: Callable[[], float] | None = None,
        make_host: Callable[[HostSetup], HostCore] | None = None,
    ) -> None:
        self.plan, self.config = plan, config
        self.clock = clock  # the hosts' clock; None: their own (wall time)
        self.make_host = make_host or self._host
        self.hosts: list[HostCore] = []
        self.peers = LocalPeers(plan, self.hosts)  # the peers share the hosts list
        self.placement: dict[str, int] = {}  # one table every host reads, so growing it reaches all
        self.simulated = False
        self.t = 0.0  # simulated seconds since the traffic started
        self.ticks = 0
        self._tick_lock: asyncio.Lock | None = None

    def build(self, setups: list[HostSetup]) -> list[HostCore]:
        """New hosts, wired to the peers and the shared placement (not registered yet)."""
        added = [self.make_host(setup) for setup in setups]
        self.hosts.extend(added)
        self.placement.update(placement_of(setups))
        for host in added:
            host.wire(self.placement, self.peers)
        return added

    def _host(self, setup: HostSetup) -> HostCore:
        return HostCore(setup) if self.clock is None else HostCore(setup, clock=self.clock)

    def simulate(self, clock: Callable[[], float] | None = None) -> None:
        """From now on every host, and every host a deploy adds, lives on simulated time (or on
        `clock`, a test's own); waiting ticks the traffic sources."""
        self.simulated = True
        self.clock = clock or self.sim_clock
        for host in self.hosts:
            host.clock = self.clock

    def sim_clock(self) -> float:
        return self.t

    def live_hosts(self) -> list[HostCore]:
        return [h for i, h in enumerate(self.hosts) if i not in self.peers.dead]

    async def settle(self, max_turns: int = 10_000) -> None:
        """Let the loop run until no host has a message queued, in transit or a reply delayed."""
        idle = False
        for _ in range(max_turns):
            live = self.live_hosts()
            if not any(h.busy() for h in live):
                if idle:
                    return
                # A request to a known-dead host fails with a call_soon that busy() cannot see:
                # one more turn lets it run (what it sends makes a host busy again).
                idle = True
                await asyncio.sleep(0)
                continue
            idle = False
            # Only replies waiting out their service time: sleep until a slot ends, do not spin.
            await asyncio.sleep(0 if any(h.moving() for h in live) else RESOLUTION)
        raise RuntimeError("messages still moving after the turn limit")

    # --- time ----------------------------------------------------------------------------------
    def now(self) -> float:
        if self.clock is not None:
            return self.clock()
        return self.hosts[0].clock() if self.hosts else 0.0

    async def wait(self, seconds: float, until: asyncio.Event) -> bool:
        """On simulated time: tick by tick, one waiter ticking at a time (the run's sequence and
        its timeline wait on the same clock)."""
        if not self.simulated:
            if seconds > 0:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(until.wait(), timeout=seconds)
            return until.is_set()
        step = self.config.behaviour_settings.request_interval
        target = self.ticks + max(0, round(seconds / step))
        if self._tick_lock is None:
            self._tick_lock = asyncio.Lock()
        while not until.is_set() and self.ticks < target:
            async with self._tick_lock:
                if not until.is_set() and self.ticks < target:
                    await self._tick(step)
        return until.is_set()

    async def _tick(self, step: float) -> None:
        self.ticks += 1
        self.t = self.ticks * step  # not a running sum: 80 ticks of 0.05 s are 4.0 s, not 3.99...
        for host in self.live_hosts():
            for instance in host.instances.values():
                if instance.is_traffic_source and instance.running:
                    instance.behaviour.tick()  # type: ignore[attr-defined]
        await self.settle()
        for host in self.hosts:
            host.expire_due(self.t)
        poll = self.config.poll_interval
        if poll > 0 and int(self.t / poll + 1e-9) > int((self.t - step) / poll + 1e-9):
            await self.poll(range(len(self.hosts)))  # every host polls Eureka once per poll interval
        if int(self.t + 1e-9) > int(self.t - step + 1e-9) and self.on_second is not None:
            self.on_second()  # once a second, as a Ray run's live-progress poll

    on_second: Callable[[], object] | None = None

    # --- start-up ------------------------------------------------------------------------------
    def setups(self, setups: list[HostSetup]) -> list[HostSetup]:
        """In one process a source needs no workers; --sources N asks for them (runtime/sources.py)."""
        return spread(setups, self.config.sources or 1)

    async def create(self, setups: list[HostSetup]) -> None:
        if not self.hosts:
            self.build(setups)
        await asyncio.gather(*(h.register_all() for h in self.hosts))

    async def discover(self) -> None:
        await self.poll(range(len(self.hosts)))

    async def where(self) -> tuple[int, list[tuple[str, str]]]:
        return 0, [("", "")] * len(self.hosts)

    def watch(self, hosts: Sequence[int], died: Callable[[int, str], Coroutine[Any, Any, None]]) -> None:
        """In process a host dies only when a test says so (LocalRun.die)."""

    async def start(
        self, hosts: Sequence[int], poll: float, run_started: float, duration: float | None
    ) -> None:
        for i in hosts:
            self.hosts[i].start_instances(poll, background=False, started_at=run_started)
            if self.simulated:
                self.hosts[i].stop_traffic()  # the simulated clock ticks the sources itself

    async def add_hosts(self, setups: list[HostSetup], status: str, live: Sequence[int]) -> None:
        for host in self.build(setups):
            await host.register_all(status)
            await host.poll_once()

    # --- host operations -----------------------------------------------------------------------
    async def live(self, host: int, confirmed: int) -> tuple[dict[str, int], list[Transition]]:
        core = self.hosts[host]
        return core.live_counts(), core.breaker_transitions(confirmed)

    async def served(self, host: int, service: str, version: str, since: int) -> Served:
        return self.hosts[host].served(service, version, since)

    async def stop_instance(self, host: int, name: str, reason: ExitReason) -> bool:
        return await self.hosts[host].stop_instance(name, reason)

    async def stop_traffic(self, hosts: Sequence[int]) -> None:
        for i in hosts:
            self.hosts[i].stop_traffic()

    async def drain(self, hosts: Sequence[int], seconds: float) -> None:
        await self.settle()

    async def stop_all(self, hosts: Sequence[int], bound: float) -> list[object]:
        return list(await asyncio.gather(*(self.hosts[i].stop_all() for i in hosts), return_exceptions=True))

    async def freeze(self, host: int, bound: float) -> dict[str, object] | None:
        return self.hosts[host].freeze()

    def kill(self, host: int) -> None:
        self.peers.dead.add(host)

    async def poll(self, hosts: Sequence[int] | range) -> None:
        await asyncio.gather(*(self.hosts[i].poll_once() for i in hosts if i not in self.peers.dead))

    async def set_profiles(self, host: int, profiles: Mapping[str, VersionBehaviour | None]) -> Sample | None:
        return self.hosts[host].set_profiles(profiles)

    async def set_partition(self, host: int, blocked: frozenset[int]) -> Sample | None:
        return self.hosts[host].set_partition(blocked)

    async def cut_links(
        self, blocked: Mapping[int, frozenset[int]], node_of: Mapping[int, str]
    ) -> tuple[Mapping[int, frozenset[int]], str]:
        return blocked, ""

    async def deliver_counted(self, host: int, source: int, batch: Any, duration: float) -> tuple[int, float]:
        core = self.hosts[host]
        core.deliver(source, batch)
        if duration == 0:
            core.stop_traffic()
        return core.stats.hop_received.get(source, 0), self.now()

    async def delivered_from(self, host: int, source: int) -> int:
        return self.hosts[host].stats.hop_received.get(source, 0)

    # --- registries and Edda -------------------------------------------------------------------
    async def deregister(self, registry: int, names: list[str]) -> None:
        await self.peers.deregister(registry, names)

    async def set_status(self, registry: int, names: list[str], status: str) -> None:
        """On the registry and its region's peers: what replication amounts to."""
        for r in [registry, *self.peers.region_peers[registry]]:
            self.peers.registries[r].set_status(names, status)

    async def set_shares(self, registry: int, service: str, shares: dict[str, float]) -> None:
        self.peers.registries[registry].set_shares(service, shares)

    async def lease_counts(self, bound: float) -> list[dict[str, Any] | None]:
        return [lease_counts(state) for state in self.peers.registries]

    async def record(self, records: list[DoneRecord]) -> None:
        await self.peers.record(list(records))

    async def write_graph(self) -> dict[str, Any]:
        from nanoservices.outputs.graph_json import graph_counts

        return {"files": [], **graph_counts(self.peers.records, self.config.reduce_names)}

    # --- machines: one process, no machines to lose -----------------------------------------------
    def zoned(self) -> bool:
        return False

    def protected_nodes(self) -> set[str]:
        return set()

    async def remove_nodes(self, nodes: Sequence[str]) -> tuple[dict[str, str | None], list[int]]:
        return {node: "in process: no machines" for node in nodes}, []

    def off_network(self) -> bool:
        return False

    async def kill_all(self) -> None:
        """Nothing to kill in process: the hosts stay for a test to inspect."""
