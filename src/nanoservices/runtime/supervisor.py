"""Asgard: creates the registries, Edda and the hosts, wires discovery, starts traffic, runs chaos
monkey at half time, and shuts everything down in order. A Ray actor, so that in cluster mode the
orchestration lives inside the cluster, next to what it orchestrates."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import ray

from nanoservices.chaos import kill_instance, pick_victim
from nanoservices.config import RunConfig
from nanoservices.outputs.records import DoneRecord, ExitReason
from nanoservices.plan import DeploymentPlan, InstanceSpec
from nanoservices.runtime.edda import Edda
from nanoservices.runtime.host import CONTROL_PLANE, registries_in_scope
from nanoservices.runtime.placement import host_setups, placement_of
from nanoservices.runtime.ray_host import Host
from nanoservices.runtime.registry_actor import Registry
from nanoservices.runtime.stats import add_stats
from nanoservices.runtime.zones import actor_resources

DRAIN_GRACE = 0.5  # seconds beyond the request timeout to let issued requests finish
FILE_FLOWS = ("zipkin", "spigo")  # flow kinds written as files by the driver's side
SPAN_FLUSH_BOUND = 10.0  # seconds a host may spend flushing spans at shutdown


@ray.remote(num_cpus=0)
class Supervisor:
    def __init__(
        self, plan: DeploymentPlan, config: RunConfig, started_at: float, local_node: Any = None
    ) -> None:
        self.local_node = local_node  # scheduling strategy pinning Edda next to the driver
        self.plan = plan
        self.config = config
        self.started_at = started_at
        self._stop = asyncio.Event()
        self._hosts: list[Any] = []
        self._host_specs: list[tuple[InstanceSpec, ...]] = []
        self._registries: list[Any] = []
        self._edda: Any = None
        self._killed: set[int] = set()  # hosts chaos monkey killed on purpose
        self._died: dict[int, str] = {}  # hosts that died outside chaos, with the error
        self._events: list[dict[str, object]] = []
        self._shutting_down = False
        self._progress: list[str] = []
        self._host_memory = 0
        self._host_of: dict[str, int] = {}  # instance full name -> host index
        self._placement: list[dict[str, object]] = []
        self._killed_counts: list[dict[str, object]] = []  # final counts of hosts chaos killed
        self._counts_lost: set[int] = set()  # hosts whose counts died with them
        self._addresses: dict[int, tuple[str, int]] | None = None  # where hosts listen (socket data plane)
        self._control_sent: dict[str, dict[str, int]] = {}  # hop counts of what the supervisor sent

    def progress(self) -> list[str]:
        """Lines describing what happened since the run began (the driver prints the new ones)."""
        return self._progress

    def _say(self, line: str) -> None:
        self._progress.append(f"[{time.time() - self.started_at:6.1f}s] {line}")

    def stop(self) -> None:
        """Ctrl-C or an API caller: end the run early, but still shut down in order."""
        self._stop.set()

    async def run(self) -> dict[str, object]:
        timings: dict[str, float] = {}
        try:
            plan = self.plan
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
            self._placement = [
                {"host": i, "location": "/".join(specs[0].location), "node": node, "instances": len(specs)}
                for i, (specs, (_, node)) in enumerate(zip(self._host_specs, where, strict=True))
            ]
            loop = asyncio.get_running_loop()
            watchers = [loop.create_task(self._watch_host(i, h)) for i, h in enumerate(self._hosts)]
            run_started = time.time()  # traffic sources start ticking as their hosts start
            await asyncio.gather(*(h.start.remote(self.config.poll_interval) for h in self._hosts))
            opened = await self._open_fsm()
            timings["traffic_started"] = time.time() - self.started_at
            self._say(opened or f"traffic running for {self.config.duration:g} s")
            half = self.config.duration / 2
            if not await self._sleep_or_stop(half) and self.config.chaos:
                await self._chaos_monkey()
            await self._sleep_or_stop(self.config.duration - (time.time() - run_started))
            timings["run_seconds"] = time.time() - run_started
            self._say("shutting down")
            summary = await self._shutdown()
            for watcher in watchers:
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
        graph: dict[str, object] = {"files": [], "nodes": 0, "edges": 0, "forgets": 0, "done": 0}
        if self._edda is not None:
            with contextlib.suppress(ray.exceptions.RayError):
                graph = await self._edda.write.remote(
                    out, self.plan.arch, self.config.args, self.config.graphml, self.config.reduce_names
                )
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
        setups = host_setups(plan, config)
        self._host_specs = [tuple(setup.specs) for setup in setups]
        self._hosts = [
            Host.options(
                name=f"host:{setup.index}", resources=actor_resources(*setup.specs[0].location, cluster)
            ).remote(setup, config.tracing)
            for setup in setups
        ]
        self._host_of = placement_of(setups)
        await asyncio.gather(*registries_wired)  # before any host registers: replication needs peers
        # Serialised once, not once per host: the handles of every host, registry and Edda.
        wiring = ray.put((self._host_of, self._hosts, self._registries, self._edda))
        # The data plane's per-run secret reaches hosts only as a call argument: never a command
        # line, file or log. Each host listens and registers as soon as it is up.
        token = secrets.token_bytes(32) if config.transport == "socket" else None
        addresses = await asyncio.gather(*(host.join.remote(wiring, token) for host in self._hosts))
        if token is not None:
            self._addresses = dict(enumerate(addresses))

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
        calls = [self._hosts[i].deliver_counted.remote(CONTROL_PLANE, b) for i, b in opening.batches.items()]
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
        if kill.counts is not None:
            self._killed_counts.append(kill.counts)
        elif kill.counts_lost:
            self._counts_lost.add(index)

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
        ray.kill(self._hosts[host], no_restart=True)

    async def stop_instance(self, host: int, name: str, reason: ExitReason) -> bool:
        return await self._hosts[host].stop_instance.remote(name, reason)

    async def forget(self, specs: tuple[InstanceSpec, ...], reason: ExitReason) -> None:
        await self._forget_instances(specs, reason)

    async def _forget_instances(self, specs: tuple[InstanceSpec, ...], reason: ExitReason) -> None:
        """What the instances of a dead host cannot do themselves: deregister, record done."""
        now = time.time()
        per_registry: dict[int, list[str]] = {}
        for spec in specs:
            for r in registries_in_scope(spec, self.plan.registries):
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
                self._counts_lost.add(index)
                await self._forget_instances(self._host_specs[index], ExitReason.FAILURE)

    def _live_hosts(self) -> list[Any]:
        return [h for i, h in enumerate(self._hosts) if i not in self._killed and i not in self._died]

    async def _shutdown(self) -> dict[str, object]:
        live = self._live_hosts()
        self._shutting_down = True
        await asyncio.gather(*(h.stop_traffic.remote() for h in live), return_exceptions=True)
        await asyncio.gather(
            *(h.drain.remote(self.config.request_timeout + DRAIN_GRACE) for h in live), return_exceptions=True
        )
        results = await asyncio.gather(
            *(h.stop_all.remote(SPAN_FLUSH_BOUND) for h in live), return_exceptions=True
        )
        totals: dict[str, object] = {"hops": dict(self._control_sent)}
        flow_parts: list[bytes] = []
        for result in [*results, *self._killed_counts]:
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
        await self._kill_all()
        return {
            "arch": self.plan.arch,
            "hosts": len(self._hosts),
            "host_memory_bytes": self._host_memory,
            "placement": self._placement,
            "instances_planned": len(self.plan.instances),
            "instances_killed": killed_instances,
            "hosts_died": {str(i): e for i, e in self._died.items()},
            "unchecked_hosts": sorted(self._counts_lost),
            "instances_uncounted": sum(len(self._host_specs[i]) for i in self._died),
            "stats": totals,
            "graph": graph,
            "flow_files": flow_files,
            "events": self._events,
        }

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
