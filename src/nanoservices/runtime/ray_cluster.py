"""The Cluster (runtime/cluster.py) of a Ray run: hosts, Eureka registries and Edda are Ray
actors; a killed host is `ray.kill`ed; a zone's machines go by runtime/node_kill.py; partitions
on a netns cluster are cut at its switch (runtime/netfaults.py). Every call the run core makes
becomes the actor calls here, and nothing else does."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

import ray

from nanoservices.config import RunConfig
from nanoservices.geography import ANY
from nanoservices.model.behaviour import VersionBehaviour
from nanoservices.outputs.records import DoneRecord, ExitReason
from nanoservices.plan import DeploymentPlan
from nanoservices.runtime import netfaults
from nanoservices.runtime import sources as source_workers
from nanoservices.runtime.affected import Sample
from nanoservices.runtime.breaker_events import Transition
from nanoservices.runtime.edda import Edda
from nanoservices.runtime.host import HostSetup
from nanoservices.runtime.placement import placement_of
from nanoservices.runtime.ray_host import Host
from nanoservices.runtime.registry_actor import Registry
from nanoservices.runtime.windows import Served
from nanoservices.runtime.zones import actor_resources, uses_zones


class RayCluster:
    kill_method = "ray.kill"

    def __init__(self, plan: DeploymentPlan, config: RunConfig, local_node: Any = None) -> None:
        self.plan, self.config = plan, config
        self.local_node = local_node  # scheduling strategy pinning Edda next to the driver
        self.hosts: list[Any] = []
        self.registries: list[Any] = []
        self.registry_nodes: list[str] = []  # the Ray node each Eureka server runs on
        self.edda: Any = None
        self.own_node = ""  # the Ray node of the supervisor, Edda and the driver: never removed
        self.source_nodes: list[str] = []  # Ray nodes the traffic source workers go to in turn
        self.addresses: dict[int, tuple[str, int]] | None = None  # where hosts listen (socket data plane)
        self.token: bytes | None = None
        self.host_of: dict[str, int] = {}
        self._watchers: list[asyncio.Task[None]] = []

    # --- time ----------------------------------------------------------------------------------
    def now(self) -> float:
        return time.time()

    async def wait(self, seconds: float, until: asyncio.Event) -> bool:
        if seconds > 0:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(until.wait(), timeout=seconds)
        return until.is_set()

    # --- start-up ------------------------------------------------------------------------------
    def setups(self, setups: list[HostSetup]) -> list[HostSetup]:
        """Traffic source workers: one per node in turn, the first beside the supervisor."""
        self.own_node = ray.get_runtime_context().get_node_id()
        self.source_nodes = source_workers.alive_nodes(self.own_node)
        count = source_workers.count_for(self.config.sources, self.source_nodes, ray.cluster_resources())
        return source_workers.spread(setups, count)

    async def create(self, setups: list[HostSetup]) -> None:
        plan = self.plan
        self.edda = Edda.options(name="edda", scheduling_strategy=self.local_node).remote()
        cluster = ray.cluster_resources()
        self.registries = [
            Registry.options(
                name=f"eureka:{r.name}", resources=actor_resources(r.region, r.zone, cluster)
            ).remote(r.name)
            for r in plan.registries
        ]
        wired = [
            self.registries[i].wire.remote(
                [self.registries[j] for j, o in enumerate(plan.registries) if o.region == r.region and j != i]
            )
            for i, r in enumerate(plan.registries)
        ]
        self.hosts = self._spawn(setups, cluster)
        self.host_of = placement_of(setups)
        await asyncio.gather(*wired)  # before any host registers: replication needs peers
        self.registry_nodes = list(await asyncio.gather(*(r.node.remote() for r in self.registries)))
        # Serialised once, not once per host: the handles of every host, registry and Edda.
        wiring = ray.put((self.host_of, self.hosts, self.registries, self.edda))
        # The data plane's per-run secret reaches hosts only as a call argument: never a command
        # line, file or log. Each host listens and registers as soon as it is up.
        token = self.token = secrets.token_bytes(32) if self.config.transport == "socket" else None
        addresses = await asyncio.gather(*(host.join.remote(wiring, token) for host in self.hosts))
        if token is not None:
            self.addresses = dict(enumerate(addresses))

    def _spawn(self, setups: list[HostSetup], cluster: dict[str, float]) -> list[Any]:
        return [
            Host.options(name=f"host:{setup.index}", **self._where(setup, cluster)).remote(
                setup, self.config.tracing
            )
            for setup in setups
        ]

    def _where(self, setup: HostSetup, cluster: dict[str, float]) -> dict[str, Any]:
        """A zone's hosts go to its nodes. Hosts of no zone (spigo's `*`: global denominators and
        DNS, a region's cross-zone load balancers) run beside the supervisor in a zoned cluster, a
        node no gorilla removes. Traffic source workers are spread one per node (runtime/sources.py)."""
        pinned = source_workers.worker_where(setup, self.source_nodes)
        if pinned is not None:
            return pinned
        region, zone = setup.specs[0].location
        if zone == ANY and uses_zones(cluster) and self.local_node is not None:
            return {"scheduling_strategy": self.local_node}
        return {"resources": actor_resources(region, zone, cluster)}

    async def discover(self) -> None:
        await asyncio.gather(*(h.discover.remote(self.addresses) for h in self.hosts))

    async def where(self) -> tuple[int, list[tuple[str, str]]]:
        where = await asyncio.gather(*(h.where.remote() for h in self.hosts))
        ips = {str(n["NodeID"]): str(n["NodeManagerAddress"]) for n in ray.nodes()}  # the node's address
        return sum(memory for memory, _ in where), [(node, ips.get(node, "")) for _, node in where]

    def watch(self, hosts: Sequence[int], died: Callable[[int, str], Coroutine[Any, Any, None]]) -> None:
        loop = asyncio.get_running_loop()
        self._watchers += [loop.create_task(self._watch(i, died)) for i in hosts]

    async def _watch(self, index: int, died: Callable[[int, str], Coroutine[Any, Any, None]]) -> None:
        """A host's serve() only returns when it stops; an error means it died."""
        try:
            await self.hosts[index].serve.remote()
        except Exception as error:
            await died(index, type(error).__name__)

    async def start(
        self, hosts: Sequence[int], poll: float, run_started: float, duration: float | None
    ) -> None:
        args = (poll, run_started) if duration is None else (poll, run_started, duration)
        await asyncio.gather(*(self.hosts[i].start.remote(*args) for i in hosts))

    async def add_hosts(self, setups: list[HostSetup], status: str, live: Sequence[int]) -> None:
        first = len(self.hosts)
        handles = self._spawn(setups, ray.cluster_resources())
        self.hosts = [*self.hosts, *handles]
        added = placement_of(setups)
        self.host_of.update(added)
        wiring = ray.put((self.host_of, self.hosts, self.registries, self.edda))
        addresses = await asyncio.gather(*(h.join.remote(wiring, self.token, status) for h in handles))
        if self.addresses is not None:
            self.addresses.update({first + i: a for i, a in enumerate(addresses)})
        await asyncio.gather(
            *(self.hosts[i].grow.remote(added, self.hosts, self.addresses) for i in live),
            return_exceptions=True,
        )
        await asyncio.gather(*(h.discover.remote(self.addresses) for h in handles))

    # --- host operations -----------------------------------------------------------------------
    async def live(self, host: int, confirmed: int) -> tuple[dict[str, int], list[Transition]]:
        return await self.hosts[host].live.remote(confirmed)  # type: ignore[no-any-return]

    async def served(self, host: int, service: str, version: str, since: int) -> Served:
        return await self.hosts[host].served.remote(service, version, since)  # type: ignore[no-any-return]

    async def stop_instance(self, host: int, name: str, reason: ExitReason) -> bool:
        return await self.hosts[host].stop_instance.remote(name, reason)  # type: ignore[no-any-return]

    async def stop_traffic(self, hosts: Sequence[int]) -> None:
        await asyncio.gather(*(self.hosts[i].stop_traffic.remote() for i in hosts), return_exceptions=True)

    async def drain(self, hosts: Sequence[int], seconds: float) -> None:
        await asyncio.gather(*(self.hosts[i].drain.remote(seconds) for i in hosts), return_exceptions=True)

    async def stop_all(self, hosts: Sequence[int], bound: float) -> list[object]:
        return list(
            await asyncio.gather(
                *(self.hosts[i].stop_all.remote(bound) for i in hosts), return_exceptions=True
            )
        )

    async def freeze(self, host: int, bound: float) -> dict[str, object] | None:
        try:  # what the host counted dies with it unless collected first
            return await asyncio.wait_for(self.hosts[host].freeze.remote(bound), bound + 5)  # type: ignore[no-any-return]
        except (asyncio.TimeoutError, ray.exceptions.RayError):
            return None

    def kill(self, host: int) -> None:
        ray.kill(self.hosts[host], no_restart=True)

    async def poll(self, hosts: Sequence[int]) -> None:
        await asyncio.gather(*(self.hosts[i].poll_once.remote() for i in hosts), return_exceptions=True)

    async def set_profiles(self, host: int, profiles: Mapping[str, VersionBehaviour | None]) -> Sample | None:
        return await self.hosts[host].set_profiles.remote(dict(profiles))  # type: ignore[no-any-return]

    async def set_partition(self, host: int, blocked: frozenset[int]) -> Sample | None:
        return await self.hosts[host].set_partition.remote(blocked)  # type: ignore[no-any-return]

    async def cut_links(
        self, blocked: Mapping[int, frozenset[int]], node_of: Mapping[int, str]
    ) -> tuple[Mapping[int, frozenset[int]], str]:
        if (net := netfaults.cluster()) is None:
            return blocked, ""
        return await netfaults.set_partitions(blocked, dict(node_of), net)  # type: ignore[no-any-return]

    async def deliver_counted(self, host: int, source: int, batch: Any, duration: float) -> tuple[int, float]:
        return await self.hosts[host].deliver_counted.remote(source, batch, duration)  # type: ignore[no-any-return]

    async def delivered_from(self, host: int, source: int) -> int:
        return await self.hosts[host].delivered_from.remote(source)  # type: ignore[no-any-return]

    # --- registries and Edda -------------------------------------------------------------------
    async def deregister(self, registry: int, names: list[str]) -> None:
        await self.registries[registry].deregister.remote(names)

    async def set_status(self, registry: int, names: list[str], status: str) -> None:
        await self.registries[registry].set_status.remote(names, status)

    async def set_shares(self, registry: int, service: str, shares: dict[str, float]) -> None:
        await self.registries[registry].set_shares.remote(service, shares)

    async def lease_counts(self, bound: float) -> list[dict[str, Any] | None]:
        """Every registry's evictions (one on a lost machine does not answer: None)."""
        asks = asyncio.gather(*(r.lease_counts.remote() for r in self.registries), return_exceptions=True)
        try:
            answers = await asyncio.wait_for(asks, bound)
        except asyncio.TimeoutError:
            answers = [None] * len(self.registries)
        return [a if isinstance(a, dict) else None for a in answers]

    async def record(self, records: list[DoneRecord]) -> None:
        await self.edda.record.remote(records)

    async def write_graph(self) -> dict[str, Any]:
        if self.edda is None:
            raise RuntimeError("no Edda: the run stopped before it was created")
        config = self.config
        return await self.edda.write.remote(  # type: ignore[no-any-return]
            str(config.out_dir), self.plan.arch, config.args, config.graphml, config.reduce_names
        )

    # --- machines ------------------------------------------------------------------------------
    def zoned(self) -> bool:
        return uses_zones(ray.cluster_resources())

    def protected_nodes(self) -> set[str]:
        from nanoservices.runtime.machines import protected_nodes

        return protected_nodes(ray.nodes(), self.own_node)

    async def remove_nodes(self, nodes: Sequence[str]) -> tuple[dict[str, str | None], list[int]]:
        from nanoservices.runtime.node_kill import remove_nodes

        outcomes = await remove_nodes(nodes)
        lost = [i for i, node in enumerate(self.registry_nodes) if outcomes.get(node, "") is None]
        for i in lost:
            ray.kill(self.registries[i], no_restart=True)  # Ray is told: calls to it fail at once
        return outcomes, lost

    def off_network(self) -> bool:
        return netfaults.cluster() is not None

    async def kill_all(self) -> None:
        for watcher in self._watchers:
            watcher.cancel()
        for actor in [*self.hosts, *self.registries, self.edda]:
            if actor is not None:
                ray.kill(actor, no_restart=True)
