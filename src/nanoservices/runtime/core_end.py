"""The run core's heavier steps, apart so runtime/core.py stays the sequence: live figures, a
zone's loss (laptop and cluster mode), shutdown with accounting, and an abandoned start-up.
Each builds on the core's tables and its Cluster; none knows Ray."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nanoservices.chaos import ZoneLoss, kill_hosts
from nanoservices.outputs.eureka import eureka_totals
from nanoservices.outputs.records import ExitReason
from nanoservices.packages import capabilities
from nanoservices.plan import InstanceSpec
from nanoservices.result import RunResult, not_started
from nanoservices.runtime import affected
from nanoservices.runtime import live as live_figures
from nanoservices.runtime.breaker_events import pop_final
from nanoservices.runtime.core import DRAIN_GRACE, SPAN_FLUSH_BOUND
from nanoservices.runtime.stats import add_stats

if TYPE_CHECKING:
    from nanoservices.runtime.core import RunCore

FILE_FLOWS = ("zipkin", "spigo")  # flow kinds written as files by the driver's side
LIVE_ASK_ALL_EVERY = 5  # live progress asks every host one round in 5, the traffic sources' hosts each round


class LiveFigures:
    """The live progress display's figures: each running host's counts (those answering within a
    timeout), the hosts still running, the final counts of hosts that left, and the clocks. Once
    the run shuts down the hosts are not asked any more ("stopping"): the summary counts."""

    def __init__(self, core: RunCore) -> None:
        self.core = core
        self.round = 0
        self.sources: set[int] = set()  # hosts whose live figures showed requests issued

    async def ask(self, timeout: float, started_at: float) -> dict[str, object]:
        core = self.core
        running = sorted(core.live_indexes())
        stopping = core.shutting_down or core.traffic_over
        asking = bool(core.run_started) and not stopping
        self.round += 1
        # Every host one round in LIVE_ASK_ALL_EVERY; in between only the traffic sources' (spans
        # move on every host, so a traced run asks everyone). Breaker transitions wait on a host
        # until it is asked.
        if not self.sources:
            self.sources.update(i for i in running if core.is_source(i))
        everyone = core.config.tracing is not None or not self.round % LIVE_ASK_ALL_EVERY
        hosts = running if everyone else [i for i in running if i in self.sources]
        asks = {
            asyncio.ensure_future(core.cluster.live(i, core.breakers.confirmed(i))): i
            for i in hosts
            if asking
        }
        done: set[asyncio.Future[Any]] = set()
        if asks:
            done, late = await asyncio.wait(asks, timeout=timeout)
            for ask in late:
                ask.cancel()  # its breaker transitions stay on the host: the next poll gets them
        answered: dict[int, dict[str, int]] = {}
        breakers = []
        for ask in done:
            if not ask.cancelled() and ask.exception() is None:
                host = asks[ask]
                answered[host], transitions = ask.result()
                breakers.append((host, transitions))
        core.record_breakers(sorted(breakers))
        self.sources.update(i for i, counts in answered.items() if counts.get("issued"))
        now = core.cluster.now()
        for host, counts in answered.items():  # what is known of a host whose counts die later
            core.lost.seen(host, now - core.run_started, counts)
        finals = [*core.killed_counts, *core.retired_counts]
        return {
            "at": now - started_at,
            "elapsed": now - core.ticking if core.ticking else 0.0,  # of traffic, as -d counts it
            "duration": core.config.duration,
            "stopping": stopping,
            "live": running,
            "asked": len(asks),
            "answered": answered,
            "ended": live_figures.total(
                [*(live_figures.from_final(c) for c in finals), core.lost.last_figures()]
            ),
        }


async def open_fsm(core: RunCore) -> str | None:
    """The fsm controller's opening moves (runtime/fsm.py), timed up to the hosts' counts
    reaching what was sent. The progress line, or None when the run has no pirates."""
    pirates = capabilities.pirates(core.plan)
    if not pirates:
        return None
    from nanoservices.runtime import fsm
    from nanoservices.runtime.bulk import paused_gc
    from nanoservices.runtime.host import CONTROL_PLANE

    started = core.cluster.now()
    with paused_gc():
        opening = fsm.opening(pirates, core.host_of, core.config.seed)
    for i, sent in opening.sent.items():
        core.control_sent[f"{CONTROL_PLANE}->{i}"] = {"sent": sent}
    calls = [
        core.cluster.deliver_counted(i, CONTROL_PLANE, b, core.config.duration)
        for i, b in opening.batches.items()
    ]
    bound = fsm.delivery_bound(opening.total)
    gathered = asyncio.gather(*calls, return_exceptions=True)
    try:
        answers = await asyncio.wait_for(gathered, bound)
        replies = [a for a in answers if isinstance(a, tuple)]
        delivered, finished = (
            sum(n for n, _ in replies),
            max((at for _, at in replies), default=core.cluster.now()),
        )
    except asyncio.TimeoutError:
        asks = asyncio.gather(
            *(core.cluster.delivered_from(i, CONTROL_PLANE) for i in opening.batches),
            return_exceptions=True,
        )
        try:
            counts = await asyncio.wait_for(asks, SPAN_FLUSH_BOUND)
        except asyncio.TimeoutError:
            counts = []  # hosts too stuck to answer: nothing counted as delivered
        delivered, finished = sum(n for n in counts if isinstance(n, int)), core.cluster.now()
    outcome = fsm.Delivered(
        len(pirates), len(opening.batches), opening.total, delivered, fsm.elapsed(started, finished)
    )
    core.fsm = outcome.to_json()
    return outcome.progress(core.config.duration)


async def lose(core: RunCore, hosts: Mapping[int, Sequence[InstanceSpec]]) -> ZoneLoss:
    """Laptop mode: freeze (counts kept), kill. Cluster mode (zones are machines): the zone's
    machines go, with every host on them and no freeze, so their counts die with them; a machine
    the run cannot lose (the head, the supervisor's) is spared, and only the zone's hosts there
    are killed."""
    from nanoservices.runtime.machines import describe, hosts_lost, machine_loss
    from nanoservices.runtime.sources import spare_the_harness

    cluster = core.cluster
    if not cluster.zoned():
        losses = await kill_hosts(core, hosts)
        core.lost_hosts(losses)
        return ZoneLoss(losses, f"freeze, then {cluster.kill_method} (laptop mode: counts collected first)")
    running = core.running()
    node_of = {host: core.node_of(host) for host, _ in running}
    loss = machine_loss(hosts, node_of, node_of, cluster.protected_nodes())
    dying: dict[int, list[InstanceSpec]] = {host: [] for host in loss.hosts}
    for host, spec in running:
        if host in dying:
            dying[host].append(spec)
    await spare_the_harness(core, dying, hosts)  # source workers there are counted, not lost
    core.killed.update(dying)  # on purpose: their watchers must not report them as died
    outcomes, registries = await cluster.remove_nodes(loss.removed) if loss.removed else ({}, [])
    core.lost_registries.update(registries)  # crashed: nothing deregisters from them any more
    removed = tuple(node for node in loss.removed if outcomes[node] is None)
    staying = set(dying) - set(hosts_lost(hosts, node_of, node_of, removed))
    core.killed -= staying  # on a node that could not be removed: not the zone's, so it runs on
    dying = {host: specs for host, specs in dying.items() if host not in staying}
    losses = await kill_hosts(core, dying, collect=False)
    core.lost_hosts(losses)
    return ZoneLoss(losses, describe(loss, outcomes, off_network=cluster.off_network()), removed)


async def _stop_unstarted(core: RunCore) -> None:
    """A deploy the run's end cut short may leave new hosts that never started: no traffic
    reached them, so nothing to count; they go, deregistered and recorded done."""
    unstarted = sorted(core.unstarted)
    core.unstarted.clear()
    core.retired.update(unstarted)
    for host in unstarted:
        core.cluster.kill(host)
    specs = tuple(spec for host in unstarted for spec in core.host_specs[host])
    if specs:
        with contextlib.suppress(Exception):  # a registry gone with its machine: the records are lost
            await core._forget_instances(specs, ExitReason.NORMAL)


async def shut_down(core: RunCore) -> RunResult:
    """Stop every live host in order (traffic, drain, final counts), sum the counts, write the
    graph and flows, ask the registries, kill everything: the run's result."""
    cluster, config = core.cluster, core.config
    await _stop_unstarted(core)
    indexes = sorted(core.live_indexes())
    core.shutting_down = True  # from here a host's death shows as its stop_all failing
    await cluster.stop_traffic(indexes)
    await cluster.drain(indexes, config.request_timeout + DRAIN_GRACE)
    results = await cluster.stop_all(indexes, SPAN_FLUSH_BOUND)
    totals: dict[str, object] = {"hops": dict(core.control_sent)}
    finals = [*core.lost.finals(indexes, results), *core.killed_counts, *core.retired_counts]
    core.record_breakers([pop_final(r) for r in finals])  # before the event spans close: events too
    for event in affected.loss_effects(core.losses, [affected.pop_lost(r) for r in finals], core.now()):
        core.record_event(event)  # what each kill did, now that every host has told
    flow_parts: list[bytes] = []
    for result in [*finals, *core.closing_counts()]:
        if isinstance(result, dict):
            part = result.pop("flow_part", None)
            if part:
                flow_parts.append(part)
            add_stats(totals, result)
    graph = await cluster.write_graph()
    answers = await cluster.lease_counts(SPAN_FLUSH_BOUND)
    eureka = eureka_totals(
        [(f"{spec.region}/{spec.zone}", a) for spec, a in zip(core.plan.registries, answers, strict=True)],
        core.run_started,
    )
    await cluster.kill_all()
    specs_of = core.host_specs.__getitem__
    return core.result(
        stats=totals,
        graph=graph,
        eureka=eureka,
        host_memory_bytes=core.host_memory,
        placement=core.placement,
        instances_killed=sum(len(specs_of(i)) for i in core.killed),
        instances_uncounted=sum(len(specs_of(i)) for i in core.died),
        hosts_died={str(i): e for i, e in core.died.items()},
        unchecked_hosts=sorted(core.lost.reasons),
        counts_lost=core.lost.report(specs_of, core.is_source),
        flow_files=_write_flows(core, flow_parts),
        deploys=[o.to_json() for o in core.asgard.outcomes] if core.asgard is not None else [],
        timeline_error=core.timeline_error,
        incidents=core.incidents,
    )


async def abandon_start_up(core: RunCore, timings: dict[str, float]) -> RunResult:
    """Stopped before traffic: nothing ran, so no counts to collect. Write the graph of what
    registered so far, then kill everything at once."""
    core.say("interrupted during start-up: stopping every actor")
    core.shutting_down = True
    try:
        graph = await core.cluster.write_graph()
    except Exception:  # Edda could not write: an empty graph, so every file is still there
        graph = empty_graph(core.plan.arch, core.config)
    await core.cluster.kill_all()
    result = not_started(core.plan.arch, len(core.plan.instances), len(core.host_specs), graph)
    result.timings = timings
    return result


def empty_graph(arch: str, config: Any) -> dict[str, Any]:
    from nanoservices.outputs.graph_json import write_graph_json

    if config.out_dir is None:
        return {"files": [], "nodes": 0, "edges": 0, "forgets": 0, "done": 0}
    path = Path(str(config.out_dir)) / "graph.json"
    counts = write_graph_json(path, arch, config.args, [], reduce=config.reduce_names)
    return {"files": [str(path)], **counts}


def _write_flows(core: RunCore, parts: list[bytes]) -> list[str]:
    tracing = core.config.tracing
    kinds = {kind for kind in (tracing.flows if tracing is not None else ()) if kind in FILE_FLOWS}
    if not kinds or core.config.out_dir is None:
        return []
    from nanoservices.tracing import write_flows

    return write_flows(Path(str(core.config.out_dir)), kinds, parts)
