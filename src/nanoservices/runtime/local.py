"""An in-process run: the run core (runtime/core.py) over a LocalCluster, driven step by step.

Used by tests to check host logic (discovery, packing, chaos, accounting) exactly and fast, and
handy in a notebook to explore an architecture without starting Ray. Chaos goes through the same
core as a Ray run; a killed host is marked dead, and deliveries to it fail as after `ray.kill`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence

from nanoservices.chaos import HostLoss, Kill
from nanoservices.config import RunConfig
from nanoservices.model.behaviour import VersionBehaviour
from nanoservices.outputs.records import ExitReason
from nanoservices.plan import DeploymentPlan, InstanceSpec
from nanoservices.result import RunResult
from nanoservices.runtime.affected import pop_lost
from nanoservices.runtime.breaker_events import pop_final
from nanoservices.runtime.core import RunCore
from nanoservices.runtime.host import HostCore, HostSetup
from nanoservices.runtime.instance import InstanceRuntime
from nanoservices.runtime.local_cluster import LocalCluster, LocalPeers
from nanoservices.runtime.lost_counts import LostCounts
from nanoservices.runtime.placement import host_setups
from nanoservices.runtime.stats import add_stats
from nanoservices.scenario.actions import Scenario
from nanoservices.scenario.events import Event, EventBus

__all__ = ["LocalCluster", "LocalFleet", "LocalPeers", "LocalRun"]


class LocalRun:
    """A whole run's hosts in this process; drive it step by step from a coroutine."""

    def __init__(
        self,
        plan: DeploymentPlan,
        config: RunConfig,
        clock: Callable[[], float] | None = None,
        scenario: Scenario | None = None,
    ) -> None:
        self.plan = plan
        self.config = config
        self._clock = clock
        self.cluster = LocalCluster(plan, config, clock, make_host=lambda setup: self._host(setup))
        self.events: list[Event] = []  # every event emitted (breakers, the timeline's), in order
        self.core = RunCore(plan, config, self.cluster, scenario, EventBus([self.events.append]))
        setups = self.cluster.setups(host_setups(plan, config))
        self.core.adopt(setups)
        self.cluster.build(setups)
        self.cluster.on_second = self.collect_breakers

    def _host(self, setup: HostSetup) -> HostCore:
        """A new host (a test makes traced ones by overriding this)."""
        return HostCore(setup) if self._clock is None else HostCore(setup, clock=self._clock)

    def use_clock(self, clock: Callable[[], float]) -> None:
        """Every host, and every host a deploy adds, lives on `clock` from now on."""
        self._clock = clock
        self.cluster.simulate(clock)

    @property
    def hosts(self) -> list[HostCore]:
        return self.cluster.hosts

    @property
    def peers(self) -> LocalPeers:
        return self.cluster.peers

    @property
    def placements(self) -> list[tuple[InstanceSpec, ...]]:
        return self.core.host_specs

    @property
    def started_at(self) -> float:
        return self.core.run_started

    @property
    def lost(self) -> LostCounts:
        return self.core.lost

    @property
    def incidents(self) -> list[dict[str, object]]:
        return self.core.incidents

    @property
    def killed_counts(self) -> list[dict[str, object]]:
        return self.core.killed_counts

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
        started_at = self.core.run_started = self.hosts[0].clock()  # one second 0 for every host's series
        for host in self.hosts:
            host.start_instances(self.config.poll_interval, background=False, started_at=started_at)
            if not traffic_timers:
                host.stop_traffic()

    async def run(self) -> RunResult:
        """The whole run, as a Ray run does it, on simulated time."""
        self.use_clock(self.cluster.sim_clock)
        return await self.core.run()

    async def poll(self) -> None:
        await self.cluster.poll(range(len(self.hosts)))

    async def settle(self, max_turns: int = 10_000) -> None:
        await self.cluster.settle(max_turns)

    async def chaos_kill(self, name: str) -> Kill:
        """Chaos monkey's kill of one instance, by the same steps as a Ray run's half-time kill."""
        return await self.core.monkey(self.instance(name).spec, "--chaos")

    async def lose_hosts(self, hosts: Mapping[int, Sequence[InstanceSpec]]) -> list[HostLoss]:
        """Chaos Gorilla or Kong: these hosts die at once, their counts collected first."""
        return (await self.core.lose(hosts)).losses

    def collect_breakers(self) -> int:
        """What a Ray run's live poll does for breakers: each live host's transitions since the
        last one recorded, as events. How many were new."""
        confirmed = self.core.breakers.confirmed
        return self.core.record_breakers(
            [
                (i, host.breaker_transitions(confirmed(i)))
                for i, host in enumerate(self.hosts)
                if i not in self.peers.dead
            ]
        )

    def live(self) -> None:
        """What a Ray run's live-progress poll keeps: every running host's figures as of now."""
        for i, host in enumerate(self.hosts):
            if i not in self.peers.dead:
                self.lost.seen(i, host.clock() - self.started_at, host.live_counts())

    def die(self, host: int, reason: str) -> None:
        """The host dies as under kill -9: nothing collected, deliveries to it fail from now on."""
        self.peers.dead.add(host)
        self.core.died[host] = reason
        self.lost.lose(host, reason)

    async def stop(self) -> dict[str, object]:
        """Stop every live host as a Ray run's shutdown does; the run's summed counts (a host whose
        final counts fail is reported as lost, as in a Ray run)."""
        indexes = [i for i in range(len(self.hosts)) if i not in self.peers.dead]
        results = await self.cluster.stop_all(indexes, 0.0)
        totals: dict[str, object] = {}
        finals = [*self.lost.finals(indexes, results), *self.killed_counts]
        self.core.record_breakers([pop_final(counts) for counts in finals])
        for counts in finals:
            pop_lost(counts)  # kills' effects (runtime/affected.py): not summed
            add_stats(totals, counts)
        return totals

    async def finish(self) -> RunResult:
        """Shut down as a Ray run's end does, and hand back its result, for `summarise`."""
        from nanoservices.runtime.core_end import shut_down

        return await shut_down(self.core)


class LocalFleet:
    """The scenario's view of a LocalRun (scenario.asgard.Fleet, scenario.simian.ChaosFleet) on
    simulated time: the run core itself, with the clock and the events a test reads."""

    def __init__(
        self, run: LocalRun, versions: dict[tuple[str, str], VersionBehaviour] | None = None
    ) -> None:
        self.run = run
        self.core = run.core
        self.core.versions.update(versions or {})
        self.events = run.events  # the timeline's events and the hosts' breaker transitions, one list
        self.seed = run.config.seed
        self.incidents = run.incidents
        self.ended = self.core.ended
        self.stopped: list[tuple[str, ExitReason]] = []
        run.use_clock(self.clock)

    @property
    def t(self) -> float:
        return self.run.cluster.t

    @property
    def ticks(self) -> int:
        return self.run.cluster.ticks

    def now(self) -> float:
        """Seconds of simulated time (the traffic's, when the fleet came before the start)."""
        return self.clock()

    def clock(self) -> float:
        return self.run.cluster.t

    async def wait(self, seconds: float) -> bool:
        return await self.core.wait(seconds)

    def emit(self, event: Event) -> None:
        self.core.emit(event)

    async def start_group(self, like: Sequence[InstanceSpec], version: str) -> list[InstanceSpec]:
        return await self.core.start_group(like, version)

    async def set_status(self, specs: Sequence[InstanceSpec], status: str) -> None:
        await self.core.set_status(specs, status)

    async def set_shares(self, service: str, shares: dict[str, float]) -> None:
        await self.core.set_shares(service, shares)

    async def refresh(self) -> None:
        await self.core.refresh()

    async def stop_group(self, specs: Sequence[InstanceSpec], reason: ExitReason) -> None:
        await self.core.stop_group(specs, reason)
        self.stopped += [(spec.name, reason) for spec in specs]

    async def window(self, service: str, version: str, since: float) -> object:
        return await self.core.window(service, version, since)

    def running(self) -> list[tuple[int, InstanceSpec]]:
        return self.core.running()

    async def kill(self, spec: InstanceSpec) -> Kill:
        return await self.core.kill(spec)

    async def lose(self, hosts: Mapping[int, Sequence[InstanceSpec]]) -> object:
        return await self.core.lose(hosts)

    async def set_profiles(self, profiles: Mapping[str, VersionBehaviour | None]) -> object:
        return await self.core.set_profiles(profiles)

    async def set_partitions(self, blocked: Mapping[int, frozenset[int]]) -> object:
        return await self.core.set_partitions(blocked)
