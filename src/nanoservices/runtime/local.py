"""An in-process runtime: the same HostCores and registry tables as a Ray run, in one event loop.

Used by tests to check host logic (discovery, packing, chaos, accounting) exactly and fast, and
handy in a notebook to explore an architecture without starting Ray. Delivery failures are
simulated by marking hosts dead, as `ray.kill` would make them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from nanoservices.config import RunConfig
from nanoservices.outputs.records import GraphRecord
from nanoservices.plan import DeploymentPlan
from nanoservices.registry import Change, RegistryState
from nanoservices.runtime.host import HostCore, HostDied
from nanoservices.runtime.instance import InstanceRuntime
from nanoservices.runtime.placement import host_setups, placement_of


class LocalPeers:
    def __init__(self, plan: DeploymentPlan, hosts: Sequence[HostCore]) -> None:
        self.hosts = hosts
        self.registries = [RegistryState(r.name) for r in plan.registries]
        self._region_peers = [
            [j for j, other in enumerate(plan.registries) if other.region == r.region and j != i]
            for i, r in enumerate(plan.registries)
        ]
        self.records: list[GraphRecord] = []
        self.dead: set[int] = set()

    async def deliver(self, host: int, data: bytes) -> None:
        if host in self.dead:
            raise HostDied(f"host {host} is dead")
        self.hosts[host].deliver(data)

    async def register(self, registry: int, entries: list[tuple[str, str, int]]) -> None:
        changed = self.registries[registry].register(entries)
        for peer in self._region_peers[registry]:
            self.registries[peer].register(changed)

    async def deregister(self, registry: int, names: list[str]) -> None:
        changed = self.registries[registry].deregister(names)
        for peer in self._region_peers[registry]:
            self.registries[peer].deregister(changed)

    async def poll(self, registry: int, services: list[str], since: int) -> tuple[int, list[Change]]:
        return self.registries[registry].poll(services, since)

    async def record(self, records: list[GraphRecord]) -> None:
        self.records.extend(records)


class LocalRun:
    """A whole run's hosts in this process; drive it step by step from a coroutine."""

    def __init__(self, plan: DeploymentPlan, config: RunConfig) -> None:
        self.plan = plan
        self.config = config
        setups = host_setups(plan, config)
        self.placements = [setup.specs for setup in setups]
        self.hosts = [HostCore(setup) for setup in setups]
        self.peers = LocalPeers(plan, self.hosts)
        placement = placement_of(setups)
        for host in self.hosts:
            host.wire(placement, self.peers)

    def instance(self, name: str) -> InstanceRuntime:
        for host in self.hosts:
            if name in host.instances:
                return host.instances[name]
        raise KeyError(name)

    def host_of(self, name: str) -> int:
        return next(i for i, host in enumerate(self.hosts) if name in host.instances)

    async def start(self, traffic_timers: bool = False) -> None:
        """Register, discover, start; without traffic timers a test ticks the sources itself."""
        await asyncio.gather(*(h.register_all() for h in self.hosts))
        await self.poll()
        for host in self.hosts:
            host.start_instances(self.config.poll_interval, background=False)
            if not traffic_timers:
                host.stop_traffic()

    async def poll(self) -> None:
        await asyncio.gather(*(h.poll_once() for i, h in enumerate(self.hosts) if i not in self.peers.dead))

    async def settle(self, max_turns: int = 10_000) -> None:
        """Let the loop run until no host has a message queued or in transit."""
        for _ in range(max_turns):
            if not any(h.busy() for i, h in enumerate(self.hosts) if i not in self.peers.dead):
                return
            await asyncio.sleep(0)
        raise RuntimeError("messages still moving after the turn limit")

    async def kill_host(self, index: int) -> None:
        """What chaos monkey's ray.kill does: the host is gone, its instances deregistered."""
        self.peers.dead.add(index)
        for name, instance in self.hosts[index].instances.items():
            instance.running = False
            for registry in range(len(self.plan.registries)):
                await self.peers.deregister(registry, [name])
