"""Asgard: creates the registries, Edda and the hosts, wires discovery, starts traffic, runs chaos
monkey at half time, and shuts everything down in order. A Ray actor, so that in cluster mode the
orchestration lives inside the cluster, next to what it orchestrates."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Mapping, Sequence
from pathlib import Path
from typing import Any

import ray

from nanoservices.chaos import HostLoss, Kill, kill_instance, pick_victim
from nanoservices.config import RunConfig
from nanoservices.geography import ANY
from nanoservices.outputs.eureka import eureka_totals
from nanoservices.outputs.records import DoneRecord, ExitReason
from nanoservices.packages.base import behaviour_for
from nanoservices.plan import DeploymentPlan, InstanceSpec
from nanoservices.runtime import sources as source_workers
from nanoservices.runtime.breaker_events import BreakerInbox, Transition, pop_final
from nanoservices.runtime.edda import Edda
from nanoservices.runtime.host import CONTROL_PLANE, HostSetup, registries_in_scope
from nanoservices.runtime.lost_counts import LostCounts
from nanoservices.runtime.placement import host_setups, placement_of
from nanoservices.runtime.ray_host import Host
from nanoservices.runtime.registry_actor import Registry
from nanoservices.runtime.stats import add_stats
from nanoservices.runtime.zones import actor_resources, uses_zones
from nanoservices.scenario.actions import Scenario
from nanoservices.scenario.asgard import Asgard
from nanoservices.scenario.events import Event, EventKind, EventLog, console_line
from nanoservices.scenario.judge import Window

DRAIN_GRACE = 0.5  # seconds beyond the request timeout to let issued requests finish
FILE_FLOWS = ("zipkin", "spigo")  # flow kinds written as files by the driver's side
SPAN_FLUSH_BOUND = 10.0  # seconds a host may spend flushing spans at shutdown
LIVE_ASK_ALL_EVERY = 5  # live progress asks every host one round in 5, the traffic sources' hosts each round


@ray.remote(num_cpus=0, enable_task_events=False)
class Supervisor:
    def __init__(
        self,
        plan: DeploymentPlan,
        config: RunConfig,
        started_at: float,
        local_node: Any = None,
        scenario: Scenario | None = None,
    ) -> None:
        self.local_node = local_node  # scheduling strategy pinning Edda next to the driver
        self.plan = plan
        self.config = config
        self.started_at = started_at
        self._stop = asyncio.Event()
        self._hosts: list[Any] = []
        self._host_specs: list[tuple[InstanceSpec, ...]] = []
        self._registries: list[Any] = []
        self._registry_nodes: list[str] = []  # the Ray node each Eureka server runs on
        self.lost_registries: set[int] = set()  # Eureka servers gone with their node (cluster mode)
        self.own_node = ""  # the Ray node of the supervisor, Edda and the driver: never removed
        self._edda: Any = None
        self._killed: set[int] = set()  # hosts chaos monkey killed on purpose
        self._died: dict[int, str] = {}  # hosts that died outside chaos, with the error
        self._events: list[dict[str, object]] = []
        self._shutting_down = False
        self._traffic_over = False  # -d reached (or a stop): the live figures are final from here
        self._ticking = 0.0  # when the traffic sources began to tick: -d counts from here
        self._progress: list[str] = []
        self._host_memory = 0
        self._host_of: dict[str, int] = {}  # instance full name -> host index
        self._placement: list[dict[str, object]] = []
        self._killed_counts: list[dict[str, object]] = []  # final counts of hosts chaos killed
        self._lost = LostCounts()  # hosts whose counts died with them, and every host's last live figures
        self._addresses: dict[int, tuple[str, int]] | None = None  # where hosts listen (socket data plane)
        self._token: bytes | None = None
        self.scenario = scenario
        self._event_log: EventLog | None = None
        self._retired: set[int] = set()  # hosts stopped because their server group was replaced
        self._retired_counts: list[dict[str, object]] = []
        self._unstarted: set[int] = set()  # a deploy's new hosts not yet started (none routes to them)
        self._watchers: list[asyncio.Task[None]] = []
        self._run_started = 0.0
        self._asgard: Asgard | None = None
        self._fleet: Any = None  # runtime.fleet.RayFleet once the timeline starts
        self._timeline_error = ""
        self._event_tracing: Any = None  # tracing.HostTracing for event spans, made on the first event
        self._event_tracer: Any = None
        self._control_sent: dict[str, dict[str, int]] = {}  # hop counts of what the supervisor sent
        self._live_round = 0
        self._live_sources: set[int] = set()  # hosts whose live figures showed requests issued
        self._breakers = BreakerInbox()  # breaker transitions recorded so far, per host
        self._source_nodes: list[str] = []  # Ray nodes the traffic source workers go to in turn

    def progress(self) -> list[str]:
        """Lines describing what happened since the run began (the driver prints the new ones)."""
        return self._progress

    async def live(self, timeout: float = 0.5) -> dict[str, object]:
        """The live progress display's figures: each running host's counts (those answering within
        `timeout`), the hosts still running, the final counts of hosts that left, and the clocks.
        Once the run shuts down the hosts are not asked any more ("stopping"): the summary counts."""
        from nanoservices.runtime import live

        gone = self._killed | self._retired | set(self._died)
        running = [i for i in range(len(self._hosts)) if i not in gone]
        stopping = self._shutting_down or self._traffic_over
        asking = self._run_started and not stopping
        self._live_round += 1
        # Every host one round in LIVE_ASK_ALL_EVERY; in between only those whose figures move:
        # the traffic sources' (spans move on every host, so a traced run asks everyone). At one
        # actor per instance, asking all 65 hosts every second was 65 Ray calls a second on a
        # machine with none to spare. Breaker transitions wait on a host until it is asked.
        everyone = self.config.tracing is not None or not self._live_round % LIVE_ASK_ALL_EVERY
        asking_hosts = running if everyone else [i for i in running if i in self._live_sources]
        confirmed = self._breakers.confirmed
        asks = {
            asyncio.ensure_future(self._hosts[i].live.remote(confirmed(i))): i for i in asking_hosts if asking
        }
        done: set[asyncio.Future[Any]] = set()
        if asks:
            done, late = await asyncio.wait(asks, timeout=timeout)
            for ask in late:
                ask.cancel()  # its breaker transitions stay on the host: the next poll gets them
        answered = {}
        breakers = []
        for ask in done:
            if not ask.cancelled() and ask.exception() is None:
                host = asks[ask]
                answered[host], transitions = ask.result()
                breakers.append((host, transitions))
        self._record_breakers(sorted(breakers))
        self._live_sources.update(i for i, counts in answered.items() if counts.get("issued"))
        now = time.time()
        for host, counts in answered.items():  # what is known of a host whose counts die later
            self._lost.seen(host, now - self._run_started, counts)
        return {
            "at": now - self.started_at,
            "elapsed": now - self._ticking if self._ticking else 0.0,  # of traffic, as -d counts it
            "duration": self.config.duration,
            "stopping": stopping,
            "live": running,
            "asked": len(asks),
            "answered": answered,
            "ended": live.total(
                [
                    *(live.from_final(c) for c in [*self._killed_counts, *self._retired_counts]),
                    self._lost.last_figures(),  # a host that died: its last figures, not zero
                ]
            ),
        }

    def _say(self, line: str) -> None:
        self._progress.append(f"[{time.time() - self.started_at:6.1f}s] {line}")

    def stop(self) -> None:
        """Ctrl-C or an API caller: end the run early, but still shut down in order."""
        self._stop.set()

    async def run(self) -> dict[str, object]:
        timings: dict[str, float] = {}
        try:
            plan = self.plan
            self._open_event_log()  # first: a run stopped during start-up still leaves the file
            self._say(
                f"starting {len(plan.instances):,} instances and {len(plan.registries)} Eureka registries"
            )
            if not await self._unless_stopped(self._create()):
                return await self._abandon_start_up(timings)
            timings["registered"] = time.time() - self.started_at
            self._say(f"{len(self._hosts):,} hosts (Ray actors) up, every instance registered")
            discover = asyncio.gather(*(h.discover.remote(self._addresses) for h in self._hosts))
            if not await self._unless_stopped(discover):
                return await self._abandon_start_up(timings)
            timings["discovered"] = time.time() - self.started_at
            self._say("all instances registered and discovered")
            where = await asyncio.gather(*(h.where.remote() for h in self._hosts))
            self._host_memory = sum(memory for memory, _ in where)
            ips = {str(n["NodeID"]): str(n["NodeManagerAddress"]) for n in ray.nodes()}  # the node's address
            self._placement = [
                {
                    "host": i,
                    "location": "/".join(specs[0].location),
                    "node": node,
                    "ip": ips.get(node, ""),
                    "instances": len(specs),
                }
                for i, (specs, (_, node)) in enumerate(zip(self._host_specs, where, strict=True))
            ]
            self._watch(range(len(self._hosts)))
            run_started = self._run_started = time.time()  # every host's series count from here
            poll = self.config.poll_interval
            # The servers first, then the hosts of traffic sources: a source's first requests must
            # not find their servers not yet started (at one actor per instance, starting 65 hosts
            # takes the best part of a second).
            sources = [i for i, specs in enumerate(self._host_specs) if _sends_traffic(specs)]
            self._live_sources.update(sources)  # the first rounds need not ask everyone to find them
            servers = [h for i, h in enumerate(self._hosts) if i not in sources]
            await asyncio.gather(*(h.start.remote(poll, run_started) for h in servers))
            duration = self.config.duration  # the sources' hosts stop their traffic at -d themselves
            await asyncio.gather(*(self._hosts[i].start.remote(poll, run_started, duration) for i in sources))
            ticking = self._ticking = time.time()  # the sources tick from here: -d seconds of traffic
            opened = await self._open_fsm()
            timings["traffic_started"] = time.time() - self.started_at
            self._say(opened or f"traffic running for {self.config.duration:g} s")
            timeline = self._start_timeline(run_started)
            half = self.config.duration / 2
            if not await self._sleep_or_stop(half) and self.config.chaos and not self._scenario_chaos:
                await self._chaos_monkey()
            await self._sleep_or_stop(self.config.duration - (time.time() - ticking))
            timings["run_seconds"] = time.time() - run_started
            # The run ends here, at -d (or the stop): no traffic after it, whatever a deploy is doing.
            self._traffic_over = True
            await self._stop_sources()
            timings["traffic_stopped"] = time.time() - self.started_at
            await self._end_timeline(timeline)
            self._say("shutting down")
            summary = await self._shutdown()
            for watcher in self._watchers:
                watcher.cancel()
        except BaseException:
            await self._kill_all()
            raise
        summary["timings"] = timings
        summary["fsm"] = self._fsm
        summary["interrupted"] = self._stop.is_set()
        return summary

    async def _unless_stopped(self, step: Awaitable[object]) -> bool:
        """Run a start-up step unless a stop comes first (Ctrl-C must not wait for 65 processes to
        start). True when the step finished."""
        work = asyncio.ensure_future(step)
        stop = asyncio.ensure_future(self._stop.wait())
        await asyncio.wait({work, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if work.done():
            work.result()  # a failed step raises here
            return True
        work.cancel()
        with contextlib.suppress(BaseException):
            await work
        return False

    async def _abandon_start_up(self, timings: dict[str, float]) -> dict[str, object]:
        """Stopped before traffic: nothing ran, so no counts to collect. Write the graph of what
        registered so far, then kill everything at once."""
        self._say("interrupted during start-up: stopping every actor")
        out = str(self.config.out_dir)
        graph: dict[str, object] | None = None
        if self._edda is not None:
            with contextlib.suppress(ray.exceptions.RayError):
                graph = await self._edda.write.remote(
                    out, self.plan.arch, self.config.args, self.config.graphml, self.config.reduce_names
                )
        if graph is None:  # Edda could not write: an empty graph, so every file is still there
            from nanoservices.outputs.graph_json import write_graph_json

            path = Path(out) / "graph.json"
            counts = write_graph_json(
                path, self.plan.arch, self.config.args, [], reduce=self.config.reduce_names
            )
            graph = {"files": [str(path)], **counts}
        if self._event_log is not None:
            self._event_log.close()
        await self._kill_all()
        return {
            "arch": self.plan.arch,
            "hosts": len(self._hosts),
            "host_memory_bytes": 0,
            "placement": [],
            "instances_planned": len(self.plan.instances),
            "instances_killed": 0,
            "hosts_died": {},
            "unchecked_hosts": [],
            "stats": {},
            "graph": graph,
            "flow_files": [],
            "events": self._events,
            "timings": timings,
            "interrupted": True,
            "phase": "start-up",
        }

    async def _create(self) -> None:
        plan, config = self.plan, self.config
        self._edda = Edda.options(name="edda", scheduling_strategy=self.local_node).remote()
        cluster = ray.cluster_resources()
        self._registries = [
            Registry.options(
                name=f"eureka:{r.name}", resources=actor_resources(r.region, r.zone, cluster)
            ).remote(r.name)
            for r in plan.registries
        ]
        registries_wired = []
        for i, registry in enumerate(plan.registries):
            peers = [
                self._registries[j]
                for j, other in enumerate(plan.registries)
                if other.region == registry.region and j != i
            ]
            registries_wired.append(self._registries[i].wire.remote(peers))
        # Traffic source workers: one per node in turn, the first beside the supervisor.
        self._source_nodes = source_workers.alive_nodes(ray.get_runtime_context().get_node_id())
        count = source_workers.count_for(config.sources, self._source_nodes, cluster)
        setups = source_workers.spread(host_setups(plan, config), count)
        self._host_specs = [tuple(setup.specs) for setup in setups]
        self._hosts = self._spawn(setups, cluster)
        self._host_of = placement_of(setups)
        await asyncio.gather(*registries_wired)  # before any host registers: replication needs peers
        self._registry_nodes = list(await asyncio.gather(*(r.node.remote() for r in self._registries)))
        self.own_node = ray.get_runtime_context().get_node_id()
        # Serialised once, not once per host: the handles of every host, registry and Edda.
        wiring = ray.put((self._host_of, self._hosts, self._registries, self._edda))
        # The data plane's per-run secret reaches hosts only as a call argument: never a command
        # line, file or log. Each host listens and registers as soon as it is up.
        token = self._token = secrets.token_bytes(32) if config.transport == "socket" else None
        addresses = await asyncio.gather(*(host.join.remote(wiring, token) for host in self._hosts))
        if token is not None:
            self._addresses = dict(enumerate(addresses))

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
        node no gorilla removes: as an ELB spans a region's zones, a zone's loss must not take them
        (nor the traffic source). Kong, losing their region, kills a region's ones there.
        Traffic source workers are the exception: spread one per node (runtime/sources.py)."""
        pinned = source_workers.worker_where(setup, self._source_nodes)
        if pinned is not None:
            return pinned
        region, zone = setup.specs[0].location
        if zone == ANY and uses_zones(cluster) and self.local_node is not None:
            return {"scheduling_strategy": self.local_node}
        return {"resources": actor_resources(region, zone, cluster)}

    def _watch(self, indexes: range) -> None:
        loop = asyncio.get_running_loop()
        self._watchers += [loop.create_task(self._watch_host(i, self._hosts[i])) for i in indexes]

    # --- the scenario timeline: deploys (nanoservices.scenario.asgard) -------------------------
    @property
    def hosts(self) -> list[Any]:
        return self._hosts

    @property
    def registries(self) -> list[Any]:
        return self._registries

    def _open_event_log(self) -> None:
        """events.jsonl in every run, empty when nothing happened: the ground truth is always there."""
        self._event_log = EventLog(Path(str(self.config.out_dir)))

    def record_event(self, event: Event, say: bool = True) -> None:
        """Every timeline event: to events.jsonl at once (valid if the run is cut short), to the
        progress lines (unless `say` is False), and, in a traced run, as a span of service `asgard`
        so a backend shows deploys and chaos beside the traces they affect."""
        if self._event_log is not None:
            self._event_log(event)
        if self.config.tracing is not None:
            self._event_span(event)
        if not say:
            return
        self._say(console_line(event))

    def _record_breakers(self, batches: Sequence[tuple[int, list[Transition]]]) -> None:
        """The hosts' new breaker transitions as events, and one progress line for them all (a
        broken dependency can flip thousands of callers' breakers at once)."""
        states: Counter[str] = Counter()
        for host, transitions in batches:
            for event in self._breakers.take(host, transitions):
                self.record_event(event, say=False)
                states[str(event.details["to"])] += 1
        if states:
            counted = ", ".join(f"{state} {n:,}" for state, n in sorted(states.items()))
            self._say(f"circuit breakers: {counted}")

    def _event_span(self, event: Event) -> None:
        if self._event_tracing is None:
            from nanoservices.plan import InstanceSpec as Spec
            from nanoservices.tracing import HostTracing

            self._event_tracing = HostTracing(self.config.tracing, host_label="asgard")
            asgard = Spec(
                name=f"{self.plan.arch}.*.*..asgard00...asgard.asgard",
                node="asgard",
                service="asgard",
                package="asgard",
                region="*",
                zone="*",
                ip="",
                dependencies=(),
                cross_region=True,
            )
            self._event_tracer = self._event_tracing.tracer_for(asgard)
        name = f"{event.kind.value} {event.service}".strip()
        attributes: dict[str, Any] = {"nanoservices.event": event.kind.value, "peer.service": event.service}
        if event.versions:
            attributes["nanoservices.versions"] = list(event.versions)
        if event.instances:
            attributes["nanoservices.instances"] = list(event.instances)
        at = int((self._run_started + event.at) * 1e9)
        span = self._event_tracer.start_span(name, attributes=attributes, start_time=at)
        span.end(end_time=at)

    def _event_span_counts(self) -> list[dict[str, object]]:
        """The event spans' counts (and flow part), so span accounting covers them too."""
        if self._event_tracing is None:
            return []
        tracing = self._event_tracing
        return [{"spans": tracing.shutdown(SPAN_FLUSH_BOUND), "flow_part": tracing.flow_part()}]

    @property
    def _scenario_chaos(self) -> bool:
        """The scenario has Simian Army actions: they replace --chaos's single kill at half time."""
        from nanoservices.scenario.timeline import has_chaos

        return has_chaos(self.scenario)

    def _start_timeline(self, run_started: float) -> asyncio.Task[None] | None:
        scenario = self.scenario
        if scenario is None or not scenario.actions:
            return None
        from nanoservices.runtime.fleet import RayFleet
        from nanoservices.scenario.simian import Simian
        from nanoservices.scenario.timeline import run_timeline, without_chaos

        if not self.config.chaos:
            scenario = without_chaos(scenario)
        self._fleet = RayFleet(self, run_started, dict(scenario.versions))
        self._asgard = Asgard.of_plan(self._fleet, self.plan.instances)
        timeline = run_timeline(scenario, self._asgard, self._fleet, Simian(self._fleet))
        return asyncio.get_running_loop().create_task(timeline)

    # what the Ray fleet's chaos reads and records (runtime/fleet.py)
    @property
    def host_specs(self) -> list[tuple[InstanceSpec, ...]]:
        return self._host_specs

    def host_index(self, name: str) -> int:
        return self._host_of[name]

    def node_of(self, host: int) -> str:
        """The Ray node a host runs on ("" for one added after start-up, not looked up)."""
        return str(self._placement[host]["node"]) if host < len(self._placement) else ""

    async def remove_nodes(
        self, nodes: Sequence[str], hosts: Mapping[int, Sequence[InstanceSpec]]
    ) -> dict[str, str | None]:
        """Chaos Gorilla (Kong) in cluster mode: these machines go with `hosts` and the Eureka
        servers on them. Per node None when it was removed, else why not."""
        self._killed.update(hosts)  # on purpose: their watchers must not report them as died
        if not nodes:
            return {}
        from nanoservices.runtime.node_kill import remove_nodes

        outcomes = await remove_nodes(nodes)
        for i, node in enumerate(self._registry_nodes):
            if outcomes.get(node, "") is None:
                self.lost_registries.add(i)  # crashed: nothing deregisters from it any more
                ray.kill(self._registries[i], no_restart=True)  # Ray is told: calls to it fail at once
        return outcomes

    def spare(self, hosts: set[int]) -> None:
        """Hosts marked for a node that was not removed after all: they still run."""
        self._killed -= hosts

    def live_indexes(self) -> set[int]:
        gone = self._killed | self._retired | set(self._died)
        return {i for i in range(len(self._hosts)) if i not in gone}

    def killed(self, kill: Kill, at: float) -> None:
        """A Chaos Monkey kill of the timeline, listed and counted as the half-time one is."""
        self._events.append(
            {"event": "chaos-monkey", "instance": kill.instance, "at": at, "method": kill.method}
        )
        if kill.counts is not None:
            self._killed_counts.append(kill.counts)
        elif kill.counts_lost:
            self._lost.lose(kill.host, "killed by chaos before its counts were collected")

    def lost_hosts(self, losses: list[HostLoss]) -> None:
        for loss in losses:
            if loss.counts is not None:
                self._killed_counts.append(loss.counts)
            else:
                self._lost.lose(loss.host, "lost with its machine (counts die with the hosts)")

    async def _end_timeline(self, timeline: asyncio.Task[None] | None) -> None:
        """The traffic is over: deploys under way end where they stand, `unfinished` at -d or
        `interrupted` on a stop, with their phase (scenario.timeline.stop_timeline)."""
        if timeline is None:
            return
        from nanoservices.scenario.asgard import INTERRUPTED, UNFINISHED
        from nanoservices.scenario.timeline import stop_timeline

        self._fleet.ended.set()
        how = INTERRUPTED if self._stop.is_set() else UNFINISHED
        try:
            await stop_timeline(timeline, self._asgard, how, self.config.request_timeout + SPAN_FLUSH_BOUND)
        except asyncio.TimeoutError:
            self._timeline_error = "the timeline did not finish in time"
        except Exception as error:  # a fault in a deploy: the run still shuts down and says so
            self._timeline_error = f"{type(error).__name__}: {error}"
        if self._timeline_error:
            self._say(f"timeline failed: {self._timeline_error}")

    async def add_hosts(self, setups: list[HostSetup], status: str) -> None:
        """A deploy's new server group: new host actors, wired like the first ones, registered with
        `status`, started on the run's clock, and announced to every host already running."""
        first = len(self._hosts)
        handles = self._spawn(setups, ray.cluster_resources())
        self._hosts = [*self._hosts, *handles]
        started = range(first, len(self._hosts))
        self._unstarted.update(started)  # until their start call is sent: the run may end first
        self._host_specs += [tuple(setup.specs) for setup in setups]
        added = placement_of(setups)
        self._host_of.update(added)
        wiring = ray.put((self._host_of, self._hosts, self._registries, self._edda))
        addresses = await asyncio.gather(*(h.join.remote(wiring, self._token, status) for h in handles))
        if self._addresses is not None:
            self._addresses.update({first + i: a for i, a in enumerate(addresses)})
        live = self.live_hosts()
        await asyncio.gather(
            *(h.grow.remote(added, self._hosts, self._addresses) for h in live if h not in handles),
            return_exceptions=True,
        )
        await asyncio.gather(*(h.discover.remote(self._addresses) for h in handles))
        starts = [h.start.remote(self.config.poll_interval, self._run_started) for h in handles]
        self._unstarted.difference_update(started)
        await asyncio.gather(*starts)
        self._watch(started)

    def live_hosts(self) -> list[Any]:
        return self._live_hosts()

    async def retire(self, specs: Sequence[InstanceSpec], reason: ExitReason) -> None:
        """Stop a replaced group's instances (deregistered, done with `reason`); a host left with
        no running instance is stopped, counted and killed."""
        by_host: dict[int, list[str]] = {}
        for spec in specs:
            by_host.setdefault(self._host_of[spec.name], []).append(spec.name)
        await asyncio.gather(
            *(self._hosts[h].stop_instance.remote(n, reason) for h, names in by_host.items() for n in names),
            return_exceptions=True,
        )
        emptied = [h for h, names in by_host.items() if len(names) == len(self._host_specs[h])]
        for host in emptied:
            self._retired.add(host)
        results = await asyncio.gather(
            *(self._hosts[h].stop_all.remote(SPAN_FLUSH_BOUND) for h in emptied), return_exceptions=True
        )
        self._retired_counts += self._lost.finals(emptied, results, "final counts failed when retired")
        for host in emptied:
            ray.kill(self._hosts[host], no_restart=True)

    async def served(self, service: str, version: str, since: float) -> Window:
        """What the service's instances of `version` served since `since` seconds into the run."""
        hosts = {
            self._host_of[s.name]
            for specs in self._host_specs
            for s in specs
            if s.service == service and s.version == version
        }
        live = [h for h in hosts if h not in self._killed and h not in self._died and h not in self._retired]
        parts = await asyncio.gather(
            *(self._hosts[h].served.remote(service, version, int(since)) for h in live),
            return_exceptions=True,
        )
        requests = errors = 0
        latency: dict[int, int] = {}
        for part in parts:
            if isinstance(part, tuple):
                requests += part[0]
                errors += part[1]
                for bucket, n in part[2].items():
                    latency[bucket] = latency.get(bucket, 0) + n
        return Window(requests, errors, latency)

    async def _sleep_or_stop(self, seconds: float) -> bool:
        """Wait for the run clock; True when a stop was requested meanwhile."""
        if seconds > 0:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=seconds)
        return self._stop.is_set()

    _fsm: dict[str, float] | None = None  # the opening moves' delivery, once _open_fsm sent them

    async def _open_fsm(self) -> str | None:
        """The fsm controller's opening moves: pirates get buddies, gold and a chat interval. Timed
        as spigo times them (runtime/fsm.py), up to the hosts' counts reaching what was sent.
        Returns the progress line, or None when the run has no pirates."""
        pirates = [s.name for s in self.plan.instances if s.package == "pirate"]
        if not pirates:
            return None
        from nanoservices.runtime import fsm
        from nanoservices.runtime.bulk import paused_gc

        started = time.time()
        with paused_gc():
            opening = fsm.opening(pirates, self._host_of, self.config.seed)
        for i, sent in opening.sent.items():
            self._control_sent[f"{CONTROL_PLANE}->{i}"] = {"sent": sent}
        calls = [
            self._hosts[i].deliver_counted.remote(CONTROL_PLANE, b, self.config.duration)
            for i, b in opening.batches.items()
        ]
        bound = fsm.delivery_bound(opening.total)
        delivered, finished = await self._count_delivered(calls, list(opening.batches), bound)
        outcome = fsm.Delivered(
            len(pirates), len(opening.batches), opening.total, delivered, fsm.elapsed(started, finished)
        )
        self._fsm = outcome.to_json()
        return outcome.progress(self.config.duration)

    async def _count_delivered(self, calls: list[Any], hosts: list[int], bound: float) -> tuple[int, float]:
        """The hosts' own counts of what reached their pirates once every delivery call returned,
        and when the last host finished (or the bound passed: then each host is asked what it
        has delivered so far, and the time is now)."""
        gathered = asyncio.gather(*calls, return_exceptions=True)
        try:
            answers = await asyncio.wait_for(gathered, bound)
        except asyncio.TimeoutError:
            asks = [self._hosts[i].delivered_from.remote(CONTROL_PLANE) for i in hosts]
            try:
                answered = asyncio.gather(*asks, return_exceptions=True)
                counts = await asyncio.wait_for(answered, SPAN_FLUSH_BOUND)
            except asyncio.TimeoutError:
                counts = []  # hosts too stuck to answer: nothing counted as delivered
            return sum(n for n in counts if isinstance(n, int)), time.time()
        replies = [a for a in answers if isinstance(a, tuple)]
        return sum(n for n, _ in replies), max((at for _, at in replies), default=time.time())

    async def _chaos_monkey(self) -> None:
        victim = pick_victim(self.plan, self.config.seed)
        if victim is None:
            return
        index = self._host_of[victim.name]
        at = time.time() - self.started_at
        kill = await kill_instance(self, victim, index, alone=len(self._host_specs[index]) == 1)
        self._events.append(
            {"event": "chaos-monkey", "instance": victim.name, "at": at, "method": kill.method}
        )
        self.record_event(
            Event(
                time.time() - self._run_started,
                EventKind.CHAOS_MONKEY,
                victim.service,
                (victim.version,),
                (victim.name,),
                {"method": kill.method, "by": "--chaos"},
            )
        )
        if kill.counts is not None:
            self._killed_counts.append(kill.counts)
        elif kill.counts_lost:
            self._lost.lose(index, "killed by chaos before its counts were collected")

    # --- HostControl (nanoservices.chaos) ------------------------------------------------------
    kill_method = "ray.kill"

    async def freeze_host(self, host: int) -> dict[str, object] | None:
        self._killed.add(host)
        try:  # what the host counted dies with it unless collected first
            freeze = self._hosts[host].freeze.remote(SPAN_FLUSH_BOUND)
            return await asyncio.wait_for(freeze, SPAN_FLUSH_BOUND + 5)
        except (asyncio.TimeoutError, ray.exceptions.RayError):
            return None

    def kill_host(self, host: int) -> None:
        self._killed.add(host)  # on purpose: its watcher must not report it as died
        ray.kill(self._hosts[host], no_restart=True)

    async def stop_instance(self, host: int, name: str, reason: ExitReason) -> bool:
        return await self._hosts[host].stop_instance.remote(name, reason)

    async def forget(
        self, specs: tuple[InstanceSpec, ...], reason: ExitReason, deregister: bool = False
    ) -> None:
        if deregister:
            await self._forget_instances(specs, reason)
        else:  # crashed: its leases expire on the registries' eviction timers
            await self._edda.record.remote([DoneRecord(s.name, reason, time.time()) for s in specs])

    async def _forget_instances(self, specs: tuple[InstanceSpec, ...], reason: ExitReason) -> None:
        """What the instances of a dead host cannot do themselves: deregister, record done."""
        now = time.time()
        per_registry: dict[int, list[str]] = {}
        for spec in specs:
            for r in registries_in_scope(spec, self.plan.registries):
                if r not in self.lost_registries:
                    per_registry.setdefault(r, []).append(spec.name)
        await asyncio.gather(
            *(self._registries[r].deregister.remote(names) for r, names in per_registry.items())
        )
        await self._edda.record.remote([DoneRecord(s.name, reason, now) for s in specs])

    async def _watch_host(self, index: int, host: Any) -> None:
        """A host's serve() only returns when it stops; an error means it died."""
        try:
            await host.serve.remote()
        except Exception as error:
            if index not in self._killed and not self._shutting_down:
                self._died[index] = type(error).__name__
                self._lost.lose(index, f"died ({type(error).__name__})")
                await self._forget_instances(self._host_specs[index], ExitReason.FAILURE)

    def _live_hosts(self) -> list[Any]:
        gone = self._killed | self._retired
        return [h for i, h in enumerate(self._hosts) if i not in gone and i not in self._died]

    async def _stop_sources(self) -> None:
        """Stop the traffic sources' timers, on their hosts only: a deploy's new hosts may still be
        starting, and a call to one waits until its process is up (84 s once, at -K 1)."""
        gone = self._killed | self._retired | set(self._died) | self._unstarted
        sources = [h for i, h in enumerate(self._hosts) if i not in gone and self._is_source(i)]
        await asyncio.gather(*(h.stop_traffic.remote() for h in sources), return_exceptions=True)

    async def _stop_unstarted(self) -> None:
        """A deploy the run's end cut short may leave new hosts that never started: no traffic
        reached them (they never went UP), so there is nothing to count; they go, and their
        instances are deregistered and recorded done."""
        unstarted = sorted(self._unstarted)
        self._unstarted.clear()
        self._retired.update(unstarted)
        for host in unstarted:
            ray.kill(self._hosts[host], no_restart=True)
        specs = tuple(spec for host in unstarted for spec in self._host_specs[host])
        if specs:
            with contextlib.suppress(ray.exceptions.RayError):
                await self._forget_instances(specs, ExitReason.NORMAL)

    async def _shutdown(self) -> dict[str, object]:
        await self._stop_unstarted()
        gone = self._killed | self._retired | set(self._died)
        indexes = [i for i in range(len(self._hosts)) if i not in gone]
        live = [self._hosts[i] for i in indexes]
        self._shutting_down = True  # from here a host's death shows as its stop_all failing
        await asyncio.gather(*(h.stop_traffic.remote() for h in live), return_exceptions=True)
        await asyncio.gather(
            *(h.drain.remote(self.config.request_timeout + DRAIN_GRACE) for h in live), return_exceptions=True
        )
        results = await asyncio.gather(
            *(h.stop_all.remote(SPAN_FLUSH_BOUND) for h in live), return_exceptions=True
        )
        totals: dict[str, object] = {"hops": dict(self._control_sent)}
        flow_parts: list[bytes] = []
        finals = [*self._lost.finals(indexes, results), *self._killed_counts, *self._retired_counts]
        # Before the event spans' tracing shuts down: breaker transitions are events too.
        self._record_breakers([pop_final(r) for r in finals])
        for result in [*finals, *self._event_span_counts()]:
            if isinstance(result, dict):
                part = result.pop("flow_part", None)
                if part:
                    flow_parts.append(part)
                add_stats(totals, result)
        flow_files = self._write_flows(flow_parts)
        killed_instances = sum(len(self._host_specs[i]) for i in self._killed)
        out = str(self.config.out_dir)
        graph = await self._edda.write.remote(
            out, self.plan.arch, self.config.args, self.config.graphml, self.config.reduce_names
        )
        eureka = await self._lease_counts()
        await self._kill_all()
        return {
            "arch": self.plan.arch,
            "hosts": len(self._hosts),
            "eureka": eureka,
            "host_memory_bytes": self._host_memory,
            "placement": self._placement,
            "instances_planned": len(self.plan.instances),
            "instances_killed": killed_instances,
            "hosts_died": {str(i): e for i, e in self._died.items()},
            "unchecked_hosts": sorted(self._lost.reasons),
            "counts_lost": self._lost.report(lambda i: self._host_specs[i], self._is_source),
            "instances_uncounted": sum(len(self._host_specs[i]) for i in self._died),
            "stats": totals,
            "graph": graph,
            "flow_files": flow_files,
            "events": self._events,
            "deploys": [o.to_json() for o in self._asgard.outcomes] if self._asgard is not None else [],
            "timeline_error": self._timeline_error,
            "incidents": self._fleet.incidents if self._fleet is not None else [],
        }

    async def _lease_counts(self) -> dict[str, object]:
        """Every registry's evictions (a registry on a lost machine does not answer: listed so)."""
        asks = asyncio.gather(*(r.lease_counts.remote() for r in self._registries), return_exceptions=True)
        try:
            answers = await asyncio.wait_for(asks, SPAN_FLUSH_BOUND)
        except asyncio.TimeoutError:
            answers = [None] * len(self._registries)
        return eureka_totals(
            [
                (f"{spec.region}/{spec.zone}", answer if isinstance(answer, dict) else None)
                for spec, answer in zip(self.plan.registries, answers, strict=True)
            ],
            self._run_started,
        )

    def _write_flows(self, parts: list[bytes]) -> list[str]:
        tracing = self.config.tracing
        kinds = {kind for kind in (tracing.flows if tracing is not None else ()) if kind in FILE_FLOWS}
        if not kinds:
            return []
        from nanoservices.tracing import write_flows

        return write_flows(Path(str(self.config.out_dir)), kinds, parts)

    async def _kill_all(self) -> None:
        self._shutting_down = True
        for actor in [*self._hosts, *self._registries, self._edda]:
            if actor is not None:
                ray.kill(actor, no_restart=True)

    def _is_source(self, host: int) -> bool:
        return _sends_traffic(self._host_specs[host])


def _sends_traffic(specs: Sequence[InstanceSpec]) -> bool:
    return any(behaviour_for(spec.package).generates_traffic for spec in specs)
