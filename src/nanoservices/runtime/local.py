"""An in-process runtime: the same HostCores and registry tables as a Ray run, in one event loop.

Used by tests to check host logic (discovery, packing, chaos, accounting) exactly and fast, and
handy in a notebook to explore an architecture without starting Ray. Chaos goes through the same
kill sequence as the Ray supervisor (nanoservices.chaos); a killed host is marked dead, and
deliveries to it fail as they do after `ray.kill`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from nanoservices.chaos import HostLoss, Kill, ZoneLoss, kill_hosts, kill_instance
from nanoservices.config import RunConfig
from nanoservices.outputs.records import DoneRecord, ExitReason, GraphRecord
from nanoservices.plan import DeploymentPlan, Growth, InstanceSpec
from nanoservices.registry import STARTING, Change, Entry, RegistryState, Shares, lease_counts
from nanoservices.runtime.breaker_events import BreakerInbox, Transition, pop_final
from nanoservices.runtime.delays import RESOLUTION
from nanoservices.runtime.host import HostCore, HostDied, HostSetup, registries_in_scope
from nanoservices.runtime.instance import InstanceRuntime
from nanoservices.runtime.lost_counts import LostCounts
from nanoservices.runtime.placement import host_setups, placement_of
from nanoservices.runtime.sources import spread
from nanoservices.runtime.stats import add_stats
from nanoservices.scenario.actions import VersionBehaviour
from nanoservices.scenario.events import Event
from nanoservices.scenario.judge import Window
from nanoservices.scenario.simian import Applied


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

    async def deliver(self, source: int, host: int, data: bytes) -> None:
        if host in self.dead:
            raise HostDied(f"host {host} is dead")
        self.hosts[host].deliver(source, data)

    async def register(self, registry: int, entries: list[Entry]) -> None:
        changed = self.registries[registry].register(entries)
        for peer in self._region_peers[registry]:
            self.registries[peer].register(changed)

    async def deregister(self, registry: int, names: list[str]) -> None:
        changed = self.registries[registry].deregister(names)
        for peer in self._region_peers[registry]:
            self.registries[peer].deregister(changed)

    async def renew(self, registry: int, names: list[str], lease: float) -> None:
        self.registries[registry].renew(names, lease)
        for peer in self._region_peers[registry]:  # heartbeats replicate, as registrations do
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


class LocalRun:
    """A whole run's hosts in this process; drive it step by step from a coroutine."""

    def __init__(
        self, plan: DeploymentPlan, config: RunConfig, clock: Callable[[], float] | None = None
    ) -> None:
        self.plan = plan
        self.config = config
        self._clock = clock
        # In one process a source needs no workers; --sources N asks for them (runtime/sources.py).
        setups = spread(host_setups(plan, config), config.sources or 1)
        self.placements = [setup.specs for setup in setups]
        self.hosts = [self._host(setup) for setup in setups]
        self.peers = LocalPeers(plan, self.hosts)
        self.placement = placement_of(setups)  # one table every host reads, so growing it reaches all
        for host in self.hosts:
            host.wire(self.placement, self.peers)
        self.killed_counts: list[dict[str, object]] = []
        self.chaos_events: list[dict[str, object]] = []  # monkey kills, as the supervisor lists them
        self.incidents: list[dict[str, object]] = []  # the Simian Army's, for the summary's phases
        self.started_at = 0.0
        self.events: list[Event] = []  # breaker transitions (and a LocalFleet's events), in arrival order
        self._breakers = BreakerInbox()
        self.lost = LostCounts()  # hosts whose counts died with them, and every host's last live figures

    def _host(self, setup: HostSetup) -> HostCore:
        return HostCore(setup) if self._clock is None else HostCore(setup, clock=self._clock)

    async def add_hosts(self, setups: list[HostSetup], status: str) -> None:
        """A deploy's new server group, as the Ray supervisor adds it: new hosts, registered with
        `status`, discovering, started on the run's clock."""
        added = [self._host(setup) for setup in setups]
        self.hosts.extend(added)  # the peers share this list
        self.placement.update(placement_of(setups))
        for host in added:
            host.wire(self.placement, self.peers)
            await host.register_all(status)
            await host.poll_once()
            host.start_instances(self.config.poll_interval, background=False, started_at=self.started_at)

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
        started_at = self.started_at = self.hosts[0].clock()  # one second 0 for every host's series
        for host in self.hosts:
            host.start_instances(self.config.poll_interval, background=False, started_at=started_at)
            if not traffic_timers:
                host.stop_traffic()

    async def poll(self) -> None:
        await asyncio.gather(*(h.poll_once() for i, h in enumerate(self.hosts) if i not in self.peers.dead))

    async def settle(self, max_turns: int = 10_000) -> None:
        """Let the loop run until no host has a message queued, in transit or a reply delayed."""
        idle = False
        for _ in range(max_turns):
            live = [h for i, h in enumerate(self.hosts) if i not in self.peers.dead]
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

    async def chaos_kill(self, name: str) -> Kill:
        """Chaos monkey's kill of one instance, by the same steps as a Ray run's supervisor."""
        host = self.host_of(name)
        spec = self.hosts[host].instances[name].spec
        kill = await kill_instance(self, spec, host, alone=len(self.hosts[host].instances) == 1)
        if kill.counts is not None:
            self.killed_counts.append(kill.counts)
        self.chaos_events.append(
            {"event": "chaos-monkey", "instance": name, "at": self.hosts[0].clock(), "method": kill.method}
        )
        return kill

    async def lose_hosts(self, hosts: Mapping[int, Sequence[InstanceSpec]]) -> list[HostLoss]:
        """Chaos Gorilla or Kong: these hosts die at once, their counts collected first."""
        losses = await kill_hosts(self, hosts)
        self.killed_counts += [loss.counts for loss in losses if loss.counts is not None]
        return losses

    def collect_breakers(self) -> int:
        """What a Ray run's live poll does for breakers: each live host's transitions since the
        last one recorded, as events. How many were new."""
        new = 0
        for i, host in enumerate(self.hosts):
            if i not in self.peers.dead:
                new += self._take_breakers(i, host.breaker_transitions(self._breakers.confirmed(i)))
        return new

    def _take_breakers(self, host: int, transitions: list[Transition]) -> int:
        events = self._breakers.take(host, transitions)
        self.events += events
        return len(events)

    def live(self) -> None:
        """What a Ray run's live-progress poll keeps: every running host's figures as of now."""
        for i, host in enumerate(self.hosts):
            if i not in self.peers.dead:
                self.lost.seen(i, host.clock() - self.started_at, host.live_counts())

    def die(self, host: int, reason: str) -> None:
        """The host dies as under kill -9: nothing collected, deliveries to it fail from now on."""
        self.peers.dead.add(host)
        self.lost.lose(host, reason)

    async def stop(self) -> dict[str, object]:
        """Stop every live host as a Ray run's shutdown does; the run's summed counts (a host whose
        final counts fail is reported as lost, as in a Ray run)."""
        indexes = [i for i in range(len(self.hosts)) if i not in self.peers.dead]
        results = await asyncio.gather(*(self.hosts[i].stop_all() for i in indexes), return_exceptions=True)
        totals: dict[str, object] = {}
        for counts in [*self.lost.finals(indexes, results), *self.killed_counts]:
            self._take_breakers(*pop_final(counts))
            add_stats(totals, counts)
        return totals

    async def finish(self) -> dict[str, object]:
        """Stop, and hand back what a Ray run's supervisor hands back, for `summarise`."""
        from nanoservices.outputs.eureka import eureka_totals
        from nanoservices.outputs.graph_json import graph_counts

        stats = await self.stop()
        dead = sorted(self.peers.dead)
        return {
            "arch": self.plan.arch,
            "hosts": len(self.hosts),
            "instances_planned": len(self.plan.instances),
            "instances_killed": sum(len(self.hosts[i].instances) for i in dead if i not in self.lost),
            "instances_uncounted": sum(len(self.hosts[i].instances) for i in dead if i in self.lost),
            "hosts_died": {str(h): why for h, why in self.lost.reasons.items() if h in self.peers.dead},
            "unchecked_hosts": sorted(self.lost.reasons),
            "counts_lost": self.lost.report(
                lambda i: [x.spec for x in self.hosts[i].instances.values()],
                lambda i: any(x.is_traffic_source for x in self.hosts[i].instances.values()),
            ),
            "stats": stats,
            "graph": {"files": [], **graph_counts(self.peers.records, self.config.reduce_names)},
            "flow_files": [],
            "events": self.chaos_events,
            "incidents": self.incidents,
            "eureka": eureka_totals(
                [
                    (f"{spec.region}/{spec.zone}", lease_counts(state))
                    for spec, state in zip(self.plan.registries, self.peers.registries, strict=True)
                ],
                self.started_at,
            ),
        }

    # --- HostControl (nanoservices.chaos) ------------------------------------------------------
    kill_method = "in-process"

    async def freeze_host(self, host: int) -> dict[str, object] | None:
        return self.hosts[host].freeze()

    def kill_host(self, host: int) -> None:
        self.peers.dead.add(host)

    async def stop_instance(self, host: int, name: str, reason: ExitReason) -> bool:
        return await self.hosts[host].stop_instance(name, reason)

    async def forget(
        self, specs: Sequence[InstanceSpec], reason: ExitReason, deregister: bool = False
    ) -> None:
        for spec in specs if deregister else ():
            for registry in registries_in_scope(spec, self.plan.registries):
                await self.peers.deregister(registry, [spec.name])
        now = self.hosts[0].clock()
        await self.peers.record([DoneRecord(s.name, reason, now) for s in specs])


class LocalFleet:
    """scenario.asgard.Fleet for an in-process run on simulated time: waiting `s` seconds is
    `s * rate` traffic ticks, each settled, so deploys are exact and fast in tests."""

    def __init__(
        self, run: LocalRun, versions: dict[tuple[str, str], VersionBehaviour] | None = None
    ) -> None:
        self.run = run
        self.t = 0.0  # simulated seconds since the traffic started
        self.events = run.events  # the timeline's events and the hosts' breaker transitions, one list
        self.ticks = 0
        self._growth = Growth(run.plan.instances)
        self._versions = versions or {}
        self._sources = [s.name for s in run.plan.instances if s.package == "denominator"]
        self.stopped: list[tuple[str, ExitReason]] = []
        self.seed = run.config.seed
        self.incidents = run.incidents
        run._clock = self.clock  # every host, and every host a deploy adds, lives on simulated time
        for host in run.hosts:
            host.clock = self.clock

    def now(self) -> float:
        return self.t

    def clock(self) -> float:
        """The hosts' clock: the run's simulated time."""
        return self.t

    async def wait(self, seconds: float) -> bool:
        step = self.run.config.behaviour_settings.request_interval
        for _ in range(max(0, round(seconds / step))):
            self.ticks += 1
            self.t = self.ticks * step  # not a running sum: 80 ticks of 0.05 s are 4.0 s, not 3.99...
            for name in self._sources:
                self.run.instance(name).behaviour.tick()  # type: ignore[attr-defined]
            await self.run.settle()
            for host in self.run.hosts:
                host.expire_due(self.t)
            poll = self.run.config.poll_interval
            if poll > 0 and int(self.t / poll + 1e-9) > int((self.t - step) / poll + 1e-9):
                await self.run.poll()  # every host polls Eureka once per poll interval, as in a Ray run
            if int(self.t + 1e-9) > int(self.t - step + 1e-9):
                self.run.collect_breakers()  # once a second, as a Ray run's live-progress poll
        return True

    def emit(self, event: Event) -> None:
        self.events.append(event)

    async def start_group(self, like: Sequence[InstanceSpec], version: str) -> list[InstanceSpec]:
        from dataclasses import replace

        specs = [self._growth.like(spec, version) for spec in like]
        behaviour = self._versions.get((specs[0].service, version))
        if behaviour is not None:
            specs = [replace(spec, profile=behaviour.over(spec.profile)) for spec in specs]
        run = self.run
        await run.add_hosts(host_setups(run.plan, run.config, specs, first=len(run.hosts)), STARTING)
        return specs

    async def set_status(self, specs: Sequence[InstanceSpec], status: str) -> None:
        self.run.peers.set_status([s.name for s in specs], status)

    async def set_shares(self, service: str, shares: dict[str, float]) -> None:
        self.run.peers.set_shares(service, shares)

    async def refresh(self) -> None:
        await self.run.poll()

    async def stop_group(self, specs: Sequence[InstanceSpec], reason: ExitReason) -> None:
        for spec in specs:
            await self.run.hosts[self.run.host_of(spec.name)].stop_instance(spec.name, reason)
            self.stopped.append((spec.name, reason))

    async def window(self, service: str, version: str, since: float) -> Window:
        requests = errors = 0
        latency: dict[int, int] = {}
        for host in self.run.hosts:
            n, e, h = host.served(service, version, int(since))
            requests, errors = requests + n, errors + e
            for bucket, count in h.items():
                latency[bucket] = latency.get(bucket, 0) + count
        return Window(requests, errors, latency)

    # --- scenario.simian.ChaosFleet ------------------------------------------------------------
    def running(self) -> list[tuple[int, InstanceSpec]]:
        dead = self.run.peers.dead
        return [
            (i, instance.spec)
            for i, host in enumerate(self.run.hosts)
            if i not in dead
            for instance in host.instances.values()
            if instance.running
        ]

    async def kill(self, spec: InstanceSpec) -> Kill:
        return await self.run.chaos_kill(spec.name)

    async def lose(self, hosts: Mapping[int, Sequence[InstanceSpec]]) -> ZoneLoss:
        return ZoneLoss(await self.run.lose_hosts(hosts), "in-process: frozen, counted, marked dead")

    async def set_profiles(self, profiles: Mapping[str, VersionBehaviour | None]) -> Applied:
        by_host: dict[int, dict[str, VersionBehaviour | None]] = {}
        for name, profile in profiles.items():
            by_host.setdefault(self.run.host_of(name), {})[name] = profile
        return self._on_hosts(by_host, lambda host, part: host.set_profiles(part))

    async def set_partitions(self, blocked: Mapping[int, frozenset[int]]) -> Applied:
        return self._on_hosts(blocked, lambda host, hosts: host.set_partition(hosts))

    def _on_hosts(self, parts: Mapping[int, Any], call: Callable[[HostCore, Any], object]) -> Applied:
        """As the Ray fleet: which hosts took the change, which did not (dead, or it raised) and why."""
        failed: dict[int, str] = {}
        for index, part in parts.items():
            if index in self.run.peers.dead:
                failed[index] = "not running"
                continue
            try:
                call(self.run.hosts[index], part)
            except Exception as error:  # a host that cannot take it: said so, not skipped silently
                failed[index] = type(error).__name__
        return Applied(tuple(sorted(h for h in parts if h not in failed)), failed)
