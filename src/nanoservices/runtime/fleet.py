"""The Ray side of a deploy (scenario.asgard.Fleet): new server groups are new Ray actors, statuses
and traffic shares go to the Eureka actors, retired groups are stopped, counted and killed.

It works on the supervisor's own tables (hosts, which host runs which instance, registries), so
hosts added mid-run are shut down, counted and watched like the ones the run started with.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import ray

from nanoservices.chaos import HostLoss, Kill, ZoneLoss, kill_hosts, kill_instance
from nanoservices.outputs.records import ExitReason
from nanoservices.plan import Growth, InstanceSpec
from nanoservices.registry import STARTING
from nanoservices.runtime import netfaults
from nanoservices.runtime.host import registries_in_scope
from nanoservices.runtime.machines import describe, hosts_lost, machine_loss, protected_nodes
from nanoservices.runtime.placement import host_setups
from nanoservices.runtime.sources import spare_the_harness
from nanoservices.runtime.zones import uses_zones
from nanoservices.scenario.actions import VersionBehaviour
from nanoservices.scenario.events import Event
from nanoservices.scenario.judge import Window
from nanoservices.scenario.simian import Applied

if TYPE_CHECKING:
    from nanoservices.runtime.supervisor import Supervisor


class RayFleet:
    def __init__(
        self, supervisor: Supervisor, run_started: float, versions: dict[tuple[str, str], Any]
    ) -> None:
        self._sup = supervisor
        self._started = run_started
        self._growth = Growth(supervisor.plan.instances)
        self._versions = versions  # (service, version) -> scenario VersionBehaviour
        self.ended = asyncio.Event()  # the run's traffic phase is over: deploys stop waiting
        self.seed = supervisor.config.seed
        self.incidents: list[dict[str, object]] = []
        self._gone: set[str] = set()  # instances stopped inside a host that still runs

    def now(self) -> float:
        return time.time() - self._started

    async def wait(self, seconds: float) -> bool:
        if seconds > 0:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.ended.wait(), timeout=seconds)
        return not self.ended.is_set()

    def emit(self, event: Event) -> None:
        self._sup.record_event(event)

    def _by_registry(self, specs: Sequence[InstanceSpec]) -> dict[int, list[str]]:
        per_registry: dict[int, list[str]] = {}
        for spec in specs:
            for r in registries_in_scope(spec, self._sup.plan.registries):
                per_registry.setdefault(r, []).append(spec.name)
        return per_registry

    async def start_group(self, like: Sequence[InstanceSpec], version: str) -> list[InstanceSpec]:
        sup = self._sup
        specs = [self._growth.like(spec, version) for spec in like]
        behaviour = self._versions.get((specs[0].service, version)) if specs else None
        if behaviour is not None:  # the version's profile; what it leaves out stays as the architecture says
            specs = [replace(spec, profile=behaviour.over(spec.profile)) for spec in specs]
        setups = host_setups(sup.plan, sup.config, specs, first=len(sup.hosts))
        await sup.add_hosts(setups, STARTING)
        return specs

    async def set_status(self, specs: Sequence[InstanceSpec], status: str) -> None:
        registries, lost = self._sup.registries, self._sup.lost_registries
        await asyncio.gather(
            *(
                registries[r].set_status.remote(names, status)
                for r, names in self._by_registry(specs).items()
                if r not in lost
            )
        )

    async def set_shares(self, service: str, shares: dict[str, float]) -> None:
        lost = self._sup.lost_registries
        await asyncio.gather(
            *(
                r.set_shares.remote(service, shares)
                for i, r in enumerate(self._sup.registries)
                if i not in lost
            )
        )

    async def refresh(self) -> None:
        await asyncio.gather(*(h.poll_once.remote() for h in self._sup.live_hosts()), return_exceptions=True)

    async def stop_group(self, specs: Sequence[InstanceSpec], reason: ExitReason) -> None:
        self._gone.update(s.name for s in specs)
        await self._sup.retire(specs, reason)

    async def window(self, service: str, version: str, since: float) -> Window:
        return await self._sup.served(service, version, since)

    # --- scenario.simian.ChaosFleet ------------------------------------------------------------
    def running(self) -> list[tuple[int, InstanceSpec]]:
        live = self._sup.live_indexes()
        return [
            (i, spec)
            for i, specs in enumerate(self._sup.host_specs)
            if i in live
            for spec in specs
            if spec.name not in self._gone
        ]

    async def kill(self, spec: InstanceSpec) -> Kill:
        sup = self._sup
        host = sup.host_index(spec.name)
        kill = await kill_instance(sup, spec, host, alone=len(sup.host_specs[host]) == 1)
        self._gone.add(spec.name)
        sup.killed(kill, self.now())
        return kill

    async def lose(self, hosts: Mapping[int, Sequence[InstanceSpec]]) -> ZoneLoss:
        """Laptop mode: freeze (counts kept), ray.kill. Cluster mode (zones are Ray nodes): the
        zone's machines go (runtime.node_kill), with every host on them and no freeze, so their
        counts die with them (unchecked hosts); a node the run cannot lose (the head, the
        supervisor's) is spared, and only the zone's host actors there are ray.killed."""
        sup = self._sup
        if not uses_zones(ray.cluster_resources()):
            losses = await kill_hosts(sup, hosts)
            self._lost(losses)
            return ZoneLoss(losses, "freeze, then ray.kill (laptop mode: counts collected first)")
        running = self.running()
        node_of = {host: sup.node_of(host) for host, _ in running}
        loss = machine_loss(hosts, node_of, node_of, protected_nodes(ray.nodes(), sup.own_node))
        dying: dict[int, list[InstanceSpec]] = {host: [] for host in loss.hosts}
        for host, spec in running:
            if host in dying:
                dying[host].append(spec)
        await spare_the_harness(sup, dying, hosts)  # source workers there are counted, not lost
        outcomes = await sup.remove_nodes(loss.removed, dying)
        removed = tuple(node for node in loss.removed if outcomes[node] is None)
        staying = set(dying) - set(hosts_lost(hosts, node_of, node_of, removed))
        sup.spare(staying)  # on a node that could not be removed: not the zone's, so it runs on
        dying = {host: specs for host, specs in dying.items() if host not in staying}
        losses = await kill_hosts(sup, dying, collect=False)  # Ray is told they are gone
        self._lost(losses)
        method = describe(loss, outcomes, off_network=netfaults.cluster() is not None)
        return ZoneLoss(losses, method, removed)

    def _lost(self, losses: list[HostLoss]) -> None:
        self._gone.update(name for loss in losses for name in loss.instances)
        self._sup.lost_hosts(losses)

    async def set_profiles(self, profiles: Mapping[str, VersionBehaviour | None]) -> Applied:
        sup = self._sup
        by_host: dict[int, dict[str, VersionBehaviour | None]] = {}
        for name, profile in profiles.items():
            by_host.setdefault(sup.host_index(name), {})[name] = profile
        return await self._on_hosts({h: sup.hosts[h].set_profiles.remote for h in by_host}, by_host)

    async def set_partitions(self, blocked: Mapping[int, frozenset[int]]) -> Applied:
        method = ""
        if (net := netfaults.cluster()) is not None:  # real links cut at the netns cluster's switch
            node_of = {h: self._sup.node_of(h) for h in blocked}
            blocked, method = await netfaults.set_partitions(blocked, node_of, net)
        applied = await self._on_hosts({h: self._sup.hosts[h].set_partition.remote for h in blocked}, blocked)
        return applied._replace(method=method)

    async def _on_hosts(self, calls: Mapping[int, Any], arguments: Mapping[int, Any]) -> Applied:
        """Each host's call with its argument; which hosts took it, which did not and why."""
        live = self._sup.live_indexes()
        failed = {h: "not running" for h in calls if h not in live}
        asked = [h for h in calls if h in live]
        answers = await asyncio.gather(*(calls[h](arguments[h]) for h in asked), return_exceptions=True)
        failed.update(
            {h: type(a).__name__ for h, a in zip(asked, answers, strict=True) if isinstance(a, BaseException)}
        )
        return Applied(tuple(sorted(h for h in asked if h not in failed)), failed)
