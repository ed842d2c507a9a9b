"""The run's sequence, written once for every runtime: start-up in dependency order, the scenario
timeline (Asgard's deploys, the Simian Army), chaos monkey at half time, the fsm's opening moves,
live figures, the end at -d, and shutdown in order. It talks only to a Cluster
(runtime/cluster.py): Ray actors or HostCores in this process, so it runs under pytest without Ray.

The core is also the runtime the scenario sees (scenario.asgard.Fleet, scenario.simian.ChaosFleet)
and the one chaos kills through (chaos.HostControl)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from nanoservices.chaos import HostLoss, Kill, ZoneLoss, kill_instance, pick_victim
from nanoservices.config import RunConfig
from nanoservices.model.behaviour import VersionBehaviour
from nanoservices.outputs.records import DoneRecord, ExitReason
from nanoservices.packages.base import behaviour_for
from nanoservices.plan import DeploymentPlan, Growth, InstanceSpec
from nanoservices.registry import STARTING
from nanoservices.result import RunResult
from nanoservices.runtime import affected
from nanoservices.runtime.breaker_events import BreakerInbox, Transition
from nanoservices.runtime.cluster import Cluster
from nanoservices.runtime.discovery import registries_in_scope
from nanoservices.runtime.host import HostSetup
from nanoservices.runtime.lost_counts import LostCounts
from nanoservices.runtime.placement import host_setups, placement_of
from nanoservices.runtime.windows import Served, window_of
from nanoservices.scenario.actions import Scenario
from nanoservices.scenario.asgard import Asgard
from nanoservices.scenario.events import Event, EventBus, EventKind
from nanoservices.scenario.judge import Window
from nanoservices.scenario.simian import Applied

DRAIN_GRACE = 0.5  # seconds beyond the request timeout to let issued requests finish
SPAN_FLUSH_BOUND = 10.0  # seconds a host may spend flushing spans at shutdown


class RunCore:
    def __init__(
        self,
        plan: DeploymentPlan,
        config: RunConfig,
        cluster: Cluster,
        scenario: Scenario | None = None,
        bus: EventBus | None = None,
        say: Callable[[str], None] | None = None,
        closing_counts: Callable[[], list[dict[str, object]]] | None = None,
    ) -> None:
        self.plan, self.config, self.cluster, self.scenario = plan, config, cluster, scenario
        self.bus = bus if bus is not None else EventBus()  # events.jsonl, progress lines, spans...
        self.say = say or (lambda line: None)  # a progress line that is no event's
        # At shutdown, after the last event: the listeners' own counts (event spans), to account
        self.closing_counts = closing_counts or list
        self.seed = config.seed
        self.incidents: list[dict[str, object]] = []  # the Simian Army's, for the summary's phases
        self.events: list[Event] = []  # chaos kills, for the result
        self.losses: list[Event] = []  # every kill's event: its effects are told at the end (affected.py)
        self.host_specs: list[tuple[InstanceSpec, ...]] = []
        self.host_of: dict[str, int] = {}  # instance full name -> host index
        self.killed: set[int] = set()  # hosts chaos killed on purpose
        self.died: dict[int, str] = {}  # hosts that died outside chaos, with the error
        self.retired: set[int] = set()  # hosts stopped because their server group was replaced
        self.unstarted: set[int] = set()  # a deploy's new hosts not yet started (none routes to them)
        self.lost_registries: set[int] = set()  # Eureka servers gone with their machine
        self.gone: set[str] = set()  # instances stopped inside a host that still runs
        self.killed_counts: list[dict[str, object]] = []  # final counts of hosts chaos killed
        self.retired_counts: list[dict[str, object]] = []
        self.lost = LostCounts()  # hosts whose counts died with them, and every host's last figures
        self.breakers = BreakerInbox()
        self.control_sent: dict[str, dict[str, int]] = {}  # hop counts of what the core sent
        self.node_of_host: list[str] = []  # the machine each first host runs on
        self.placement: list[dict[str, object]] = []
        self.host_memory = 0
        self.run_started = 0.0
        self.ticking = 0.0  # when the traffic sources began to tick: -d counts from here
        self.shutting_down = False
        self.traffic_over = False
        self.fsm: dict[str, float] | None = None
        self.stopping = asyncio.Event()  # a stop (Ctrl-C, an API caller)
        self.ended = asyncio.Event()  # the traffic phase is over: deploys stop waiting
        self.asgard: Asgard | None = None
        self.timeline_error = ""
        self._growth = Growth(plan.instances)
        self.versions = dict(scenario.versions) if scenario is not None else {}

    # --- the run -------------------------------------------------------------------------------
    def stop(self) -> None:
        self.stopping.set()

    async def run(self, began: float | None = None) -> RunResult:
        """The whole run; its timings count from `began` (the command's start), by default now."""
        from nanoservices.runtime import core_end

        timings: dict[str, float] = {}
        cluster, config = self.cluster, self.config
        began = cluster.now() if began is None else began
        try:
            plan = self.plan
            self.say(
                f"starting {len(plan.instances):,} instances and {len(plan.registries)} Eureka registries"
            )
            setups = cluster.setups(host_setups(self.plan, config))
            self.adopt(setups)
            if not await self._unless_stopped(cluster.create(setups)):
                return await core_end.abandon_start_up(self, timings)
            timings["registered"] = cluster.now() - began
            self.say(f"{len(self.host_specs):,} hosts up, every instance registered")
            if not await self._unless_stopped(cluster.discover()):
                return await core_end.abandon_start_up(self, timings)
            timings["discovered"] = cluster.now() - began
            self.say("all instances registered and discovered")
            self.host_memory, where = await cluster.where()
            self.node_of_host = [node for node, _ in where]
            self.placement = [
                {
                    "host": i,
                    "location": "/".join(specs[0].location),
                    "node": node,
                    "ip": ip,
                    "instances": len(specs),
                }
                for i, (specs, (node, ip)) in enumerate(zip(self.host_specs, where, strict=True))
            ]
            cluster.watch(range(len(self.host_specs)), self._host_died)
            self.run_started = cluster.now()  # every host's series count from here
            # The servers first, then the hosts of traffic sources: a source's first requests must
            # not find their servers not yet started.
            sources = [i for i in range(len(self.host_specs)) if self.is_source(i)]
            servers = [i for i in range(len(self.host_specs)) if i not in sources]
            await cluster.start(servers, config.poll_interval, self.run_started, None)
            await cluster.start(sources, config.poll_interval, self.run_started, config.duration)
            self.ticking = cluster.now()
            opened = await core_end.open_fsm(self)
            timings["traffic_started"] = cluster.now() - began
            self.say(opened or f"traffic running for {config.duration:g} s")
            timeline = self._start_timeline()
            if (
                not await cluster.wait(config.duration / 2, self.stopping)
                and config.chaos
                and not self._scenario_chaos
            ):
                await self._chaos_monkey()
            await cluster.wait(config.duration - (cluster.now() - self.ticking), self.stopping)
            timings["run_seconds"] = cluster.now() - self.run_started
            self.traffic_over = True  # the run ends here, at -d or the stop, whatever a deploy does
            await self._stop_sources()
            timings["traffic_stopped"] = cluster.now() - began
            await self._end_timeline(timeline)
            self.say("shutting down")
            result = await core_end.shut_down(self)
        except BaseException:
            self.shutting_down = True
            await cluster.kill_all()
            raise
        result.timings = timings
        result.fsm = self.fsm
        result.interrupted = self.stopping.is_set()
        return result

    def adopt(self, setups: list[HostSetup]) -> None:
        """The first hosts: which instances each runs."""
        self.host_specs = [tuple(setup.specs) for setup in setups]
        self.host_of = placement_of(setups)

    async def _unless_stopped(self, step: Awaitable[object]) -> bool:
        """Run a start-up step unless a stop comes first; True when the step finished."""
        work = asyncio.ensure_future(step)
        stop = asyncio.ensure_future(self.stopping.wait())
        await asyncio.wait({work, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if work.done():
            work.result()  # a failed step raises here
            return True
        work.cancel()
        with contextlib.suppress(BaseException):
            await work
        return False

    def is_source(self, host: int) -> bool:
        return any(_sends_traffic(spec) for spec in self.host_specs[host])

    def live_indexes(self) -> set[int]:
        gone = self.killed | self.retired | set(self.died)
        return {i for i in range(len(self.host_specs)) if i not in gone}

    def record_event(self, event: Event) -> None:
        """An event to every listener (scenario.events.EventBus); a kill is also kept, for the
        result and for its effects at the end."""
        if event.kind in affected.LOSSES:
            self.losses.append(event)
        if event.kind is EventKind.CHAOS_MONKEY and event.instances:
            self.events.append(event)
        self.bus.emit(event)

    def record_breakers(self, batches: Sequence[tuple[int, list[Transition]]]) -> int:
        """The hosts' new breaker transitions as events, and one progress line for them all.
        How many were new."""
        states: Counter[str] = Counter()
        for host, transitions in batches:
            for event in self.breakers.take(host, transitions):
                self.record_event(event)  # quiet on the console: one line says them all, below
                states[str(event.details["to"])] += 1
        if states:
            counted = ", ".join(f"{state} {n:,}" for state, n in sorted(states.items()))
            self.say(f"circuit breakers: {counted}")
        return sum(states.values())

    async def _host_died(self, index: int, error: str) -> None:
        if index not in self.killed and not self.shutting_down:
            self.died[index] = error
            self.lost.lose(index, f"died ({error})")
            await self._forget_instances(self.host_specs[index], ExitReason.FAILURE)

    @property
    def _scenario_chaos(self) -> bool:
        from nanoservices.scenario.timeline import has_chaos

        return has_chaos(self.scenario)

    def _start_timeline(self) -> asyncio.Task[None] | None:
        scenario = self.scenario
        if scenario is None or not scenario.actions:
            return None
        from nanoservices.scenario.simian import Simian
        from nanoservices.scenario.timeline import run_timeline, without_chaos

        if not self.config.chaos:
            scenario = without_chaos(scenario)
        self.asgard = Asgard.of_plan(self, self.plan.instances)
        return asyncio.get_running_loop().create_task(run_timeline(scenario, self.asgard, self, Simian(self)))

    async def _end_timeline(self, timeline: asyncio.Task[None] | None) -> None:
        """Deploys under way end where they stand: `unfinished` at -d, `interrupted` on a stop."""
        if timeline is None or self.asgard is None:
            return
        from nanoservices.scenario.asgard import INTERRUPTED, UNFINISHED
        from nanoservices.scenario.timeline import stop_timeline

        self.ended.set()
        how = INTERRUPTED if self.stopping.is_set() else UNFINISHED
        try:
            await stop_timeline(timeline, self.asgard, how, self.config.request_timeout + SPAN_FLUSH_BOUND)
        except asyncio.TimeoutError:
            self.timeline_error = "the timeline did not finish in time"
        except Exception as error:  # a fault in a deploy: the run still shuts down and says so
            self.timeline_error = f"{type(error).__name__}: {error}"
        if self.timeline_error:
            self.say(f"timeline failed: {self.timeline_error}")

    async def _chaos_monkey(self) -> None:
        victim = pick_victim(self.plan, self.config.seed)
        if victim is not None:
            await self.monkey(victim, "--chaos")

    async def monkey(self, victim: InstanceSpec, by: str) -> Kill:
        """Chaos Monkey's kill of one instance outside the timeline (--chaos at half time): the
        kill, its event, its counts."""
        kill = await self.kill(victim)
        event = Event(
            self.now(), EventKind.CHAOS_MONKEY, victim.service, (victim.version,), (victim.name,),
            {"method": kill.method, "by": by, "host": kill.host},
        )  # fmt: skip
        self.record_event(event)
        return kill

    def _count_kill(self, kill: Kill) -> None:
        if kill.counts is not None:
            self.killed_counts.append(kill.counts)
        elif kill.counts_lost:
            self.lost.lose(kill.host, "killed by chaos before its counts were collected")

    async def _stop_sources(self) -> None:
        """Stop the traffic sources' timers, on their hosts only: a deploy's new hosts may still
        be starting, and a call to one waits until its process is up."""
        live = self.live_indexes() - self.unstarted
        await self.cluster.stop_traffic([i for i in sorted(live) if self.is_source(i)])

    # --- scenario.asgard.Fleet -----------------------------------------------------------------
    def now(self) -> float:
        return self.cluster.now() - self.run_started

    async def wait(self, seconds: float) -> bool:
        return not await self.cluster.wait(seconds, self.ended)

    def emit(self, event: Event) -> None:
        self.record_event(event)

    async def start_group(self, like: Sequence[InstanceSpec], version: str) -> list[InstanceSpec]:
        specs = [self._growth.like(spec, version) for spec in like]
        behaviour = self.versions.get((specs[0].service, version)) if specs else None
        if behaviour is not None:  # the version's profile; what it leaves out stays as the architecture says
            specs = [replace(spec, profile=behaviour.over(spec.profile)) for spec in specs]
        await self.add_hosts(host_setups(self.plan, self.config, specs, first=len(self.host_specs)), STARTING)
        return specs

    async def add_hosts(self, setups: list[HostSetup], status: str) -> None:
        """A deploy's new server group: new hosts wired like the first ones, registered with
        `status`, announced to every host running, started on the run's clock."""
        first = len(self.host_specs)
        started = range(first, first + len(setups))
        live = sorted(self.live_indexes())
        self.unstarted.update(started)  # until their start call is sent: the run may end first
        self.host_specs += [tuple(setup.specs) for setup in setups]
        self.host_of.update(placement_of(setups))
        await self.cluster.add_hosts(setups, status, live)
        self.unstarted.difference_update(started)
        await self.cluster.start(list(started), self.config.poll_interval, self.run_started, None)
        self.cluster.watch(started, self._host_died)

    def _by_registry(self, specs: Sequence[InstanceSpec]) -> dict[int, list[str]]:
        per_registry: dict[int, list[str]] = {}
        for spec in specs:
            for r in registries_in_scope(spec, self.plan.registries):
                if r not in self.lost_registries:
                    per_registry.setdefault(r, []).append(spec.name)
        return per_registry

    async def set_status(self, specs: Sequence[InstanceSpec], status: str) -> None:
        await asyncio.gather(
            *(self.cluster.set_status(r, names, status) for r, names in self._by_registry(specs).items())
        )

    async def set_shares(self, service: str, shares: dict[str, float]) -> None:
        registries = [r for r in range(len(self.plan.registries)) if r not in self.lost_registries]
        await asyncio.gather(*(self.cluster.set_shares(r, service, shares) for r in registries))

    async def refresh(self) -> None:
        await self.cluster.poll(sorted(self.live_indexes() - self.unstarted))

    async def stop_group(self, specs: Sequence[InstanceSpec], reason: ExitReason) -> None:
        """Stop a replaced group's instances; a host left with none running is stopped, counted
        and killed."""
        self.gone.update(s.name for s in specs)
        by_host: dict[int, list[str]] = {}
        for spec in specs:
            by_host.setdefault(self.host_of[spec.name], []).append(spec.name)
        await asyncio.gather(
            *(self.cluster.stop_instance(h, n, reason) for h, names in by_host.items() for n in names),
            return_exceptions=True,
        )
        emptied = [h for h, names in by_host.items() if len(names) == len(self.host_specs[h])]
        self.retired.update(emptied)
        results = await self.cluster.stop_all(emptied, SPAN_FLUSH_BOUND)
        self.retired_counts += self.lost.finals(emptied, results, "final counts failed when retired")
        for host in emptied:
            self.cluster.kill(host)

    async def window(self, service: str, version: str, since: float) -> Window:
        """What the service's instances of `version` served since `since` seconds into the run."""
        hosts = {
            self.host_of[s.name]
            for specs in self.host_specs
            for s in specs
            if (s.service, s.version) == (service, version)
        }
        live = self.live_indexes()
        parts: list[Served | BaseException] = await asyncio.gather(
            *(self.cluster.served(h, service, version, int(since)) for h in sorted(hosts) if h in live),
            return_exceptions=True,
        )
        return window_of(parts)

    # --- scenario.simian.ChaosFleet --------------------------------------------------------------
    def running(self) -> list[tuple[int, InstanceSpec]]:
        live = self.live_indexes()
        return [
            (i, spec)
            for i, specs in enumerate(self.host_specs)
            if i in live
            for spec in specs
            if spec.name not in self.gone
        ]

    async def kill(self, spec: InstanceSpec) -> Kill:
        host = self.host_of[spec.name]
        kill = await kill_instance(self, spec, host, alone=len(self.host_specs[host]) == 1)
        self.gone.add(spec.name)
        self._count_kill(kill)
        return kill

    async def lose(self, hosts: Mapping[int, Sequence[InstanceSpec]]) -> ZoneLoss:
        from nanoservices.runtime import core_end

        return await core_end.lose(self, hosts)

    def lost_hosts(self, losses: list[HostLoss]) -> None:
        self.gone.update(name for loss in losses for name in loss.instances)
        for loss in losses:
            if loss.counts is not None:
                self.killed_counts.append(loss.counts)
            else:
                self.lost.lose(loss.host, "lost with its machine (counts die with the hosts)")

    async def set_profiles(self, profiles: Mapping[str, VersionBehaviour | None]) -> Applied:
        by_host: dict[int, dict[str, VersionBehaviour | None]] = {}
        for name, profile in profiles.items():
            by_host.setdefault(self.host_of[name], {})[name] = profile
        return await self._on_hosts(by_host, self.cluster.set_profiles)

    async def set_partitions(self, blocked: Mapping[int, frozenset[int]]) -> Applied:
        node_of = {h: self.node_of(h) for h in blocked}
        left, method = await self.cluster.cut_links(blocked, node_of)
        applied = await self._on_hosts(left, self.cluster.set_partition)
        return applied._replace(method=method)

    async def _on_hosts(
        self, parts: Mapping[int, Any], call: Callable[[int, Any], Awaitable[object]]
    ) -> Applied:
        """Each host's call with its part; which hosts took it, which did not and why."""
        live = self.live_indexes()
        failed = {h: "not running" for h in parts if h not in live}
        asked = [h for h in parts if h in live]
        answers = await asyncio.gather(*(call(h, parts[h]) for h in asked), return_exceptions=True)
        failed.update(
            {h: type(a).__name__ for h, a in zip(asked, answers, strict=True) if isinstance(a, BaseException)}
        )
        samples = [a for a in answers if isinstance(a, tuple)]  # an incident's end: what it did (affected.py)
        effects = affected.merge(samples) if samples else {}
        return Applied(tuple(sorted(h for h in asked if h not in failed)), failed, effects=effects)

    def node_of(self, host: int) -> str:
        """The machine a host runs on ("" for one added after start-up, not looked up)."""
        return self.node_of_host[host] if host < len(self.node_of_host) else ""

    # --- chaos.HostControl ---------------------------------------------------------------------
    @property
    def kill_method(self) -> str:
        return self.cluster.kill_method

    async def freeze_host(self, host: int) -> dict[str, object] | None:
        self.killed.add(host)
        return await self.cluster.freeze(host, SPAN_FLUSH_BOUND)

    def kill_host(self, host: int) -> None:
        self.killed.add(host)  # on purpose: its watcher must not report it as died
        self.cluster.kill(host)

    async def stop_instance(self, host: int, name: str, reason: ExitReason) -> bool:
        return await self.cluster.stop_instance(host, name, reason)

    async def forget(
        self, specs: Sequence[InstanceSpec], reason: ExitReason, deregister: bool = False
    ) -> None:
        if deregister:
            await self._forget_instances(specs, reason)
        else:  # crashed: its leases expire on the registries' eviction timers
            await self.cluster.record([DoneRecord(s.name, reason, self.cluster.now()) for s in specs])

    async def _forget_instances(self, specs: Sequence[InstanceSpec], reason: ExitReason) -> None:
        """What the instances of a dead host cannot do themselves: deregister, record done."""
        now = self.cluster.now()
        await asyncio.gather(
            *(self.cluster.deregister(r, names) for r, names in self._by_registry(specs).items())
        )
        await self.cluster.record([DoneRecord(s.name, reason, now) for s in specs])

    def result(self, **fields: Any) -> RunResult:
        """The run's result: the one place it is built (runtime/core_end.py fills the counts)."""
        return RunResult(
            self.plan.arch, len(self.host_specs), len(self.plan.instances), events=list(self.events), **fields
        )


def _sends_traffic(spec: InstanceSpec) -> bool:
    return bool(behaviour_for(spec.package).generates_traffic)
