"""Traffic sources that scale out: an entry service's traffic made by source workers, one per node
(cluster) or per core (laptop), each a host of its own, sharing the asked rate.

One denominator made every root span, first-hop CLIENT span and tick of a run, so its one process
bounded how far a cluster could scale the load. Here each denominator of the plan becomes N
workers. Worker 0 keeps the planned name (so Eureka, chaos and scenarios see the same `www`);
worker k > 0 differs only in the process field (`…www00..source<k>.www.denominator`), which the
graph's node names (arch.region.zone.instance) leave out: the graph keeps spigo's one www node,
while replies still route to the worker that sent the request. Only worker 0 registers with
Eureka (the others are callers, never discoverable copies). Each worker ticks at rate/N, and
--max-in-flight is split: each worker may hold ceil(M/N) requests outstanding, so a run holds
about as many as with one source. Pure logic, no Ray (worker_where imports it only when asked).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from nanoservices.naming import PROCESS
from nanoservices.packages.base import behaviour_for

if TYPE_CHECKING:
    from nanoservices.chaos import HostLoss
    from nanoservices.plan import InstanceSpec
    from nanoservices.runtime.host import HostCore, HostSetup

WORKER_ATTRIBUTE = "nanoservices.source.worker"  # resource attribute: the worker's index
COUNTS_KEY = "sources"  # a worker host's per-worker figures in its counts (summed by name)


def default_count(nodes: int, cpus: float) -> int:
    """One worker per node in a cluster of several nodes, else one per core of the one machine."""
    if nodes > 1:
        return nodes
    return max(1, int(cpus))


def worker_name(name: str, k: int) -> str:
    """Worker k's full name: worker 0 keeps the plan's; the others set the process field."""
    if k == 0:
        return name
    parts = name.split(".")
    parts[PROCESS] = f"source{k}"
    return ".".join(parts)


def workers_of(spec: InstanceSpec, count: int) -> list[InstanceSpec]:
    """The `count` workers standing in for one source instance (itself, unchanged, when 1)."""
    if count <= 1:
        return [spec]
    return [replace(spec, name=worker_name(spec.name, k), source_worker=k) for k in range(count)]


def split_in_flight(max_in_flight: int, count: int) -> int:
    """Each worker's share of --max-in-flight (0, no limit, stays 0)."""
    return 0 if max_in_flight <= 0 else math.ceil(max_in_flight / count)


def spread(setups: Sequence[HostSetup], count: int) -> list[HostSetup]:
    """The run's hosts with each source instance taken out of its host and run as `count` workers,
    each alone on a host of its own, ticking at 1/count of the rate. Hosts are renumbered in order
    (a worker's hosts where its source's host was), so indexes stay 0..n-1."""
    if count <= 1 or not any(_splits(s, setup) for setup in setups for s in setup.specs):
        return list(setups)
    out: list[HostSetup] = []
    addresses = None
    for setup in setups:
        if setup.addresses is not None and addresses is None:
            addresses = dict(setup.addresses)
        rest = [s for s in setup.specs if not _splits(s, setup)]
        if rest:
            out.append(replace(setup, specs=tuple(rest)))
        settings = replace(setup.settings, request_interval=setup.settings.request_interval * count)
        in_flight = split_in_flight(setup.max_in_flight, count)
        for spec in setup.specs:
            if not _splits(spec, setup):
                continue
            for worker in workers_of(spec, count):
                if addresses is not None:
                    addresses[worker.name] = worker.ip
                out.append(replace(setup, specs=(worker,), settings=settings, max_in_flight=in_flight))
    return [
        replace(s, index=i, addresses=addresses if addresses is not None else s.addresses)
        for i, s in enumerate(out)
    ]


def _splits(spec: InstanceSpec, setup: HostSetup) -> bool:
    """A source split into workers: a rate source (denominator) at a steady (or Poisson) rate. One
    the scenario's `load:` actions shape keeps one worker: its schedule's rates are the source's own."""
    return behaviour_for(spec.package).rate_source and setup.settings.schedule(spec.service) is None


def worker_of(setup: HostSetup) -> int:
    """The worker index a host runs, -1 for any other host."""
    return setup.specs[0].source_worker if len(setup.specs) == 1 else -1


def node_for(worker: int, nodes: Sequence[str]) -> str | None:
    """The node worker k runs on: the alive nodes in turn; None on one machine (place as usual)."""
    if worker < 0 or len(nodes) < 2:
        return None
    return nodes[worker % len(nodes)]


def worker_where(setup: HostSetup, nodes: Sequence[str]) -> dict[str, Any] | None:
    """Ray actor options pinning a worker host to its node, None for other hosts (and on one node)."""
    node = node_for(worker_of(setup), nodes)
    if node is None:
        return None
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return {"scheduling_strategy": NodeAffinitySchedulingStrategy(node_id=node, soft=False)}


def worker_counts(host: HostCore) -> dict[str, Any]:
    """A worker host's own figures under COUNTS_KEY, keyed by the worker's name (so summing every
    host's counts keeps them apart); empty for other hosts. A worker host runs only its worker, so
    the host's source figures are the worker's."""
    if len(host.instances) != 1:
        return {}
    (instance,) = host.instances.values()
    k = instance.spec.source_worker
    if k < 0:
        return {}
    stats = host.stats
    return {
        COUNTS_KEY: {
            instance.name: {
                "worker": k,
                "host": host.index,
                "issued": stats.requests_issued,
                "seconds": stats.source_seconds,
                "ticks_skipped": stats.ticks_skipped,
                "ticks_throttled": stats.ticks_throttled,
                "max_in_flight": host.max_in_flight,
            }
        }
    }


def worker_rows(
    counts: Mapping[str, Mapping[str, Any]], placement: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """summary.json's `sources`: each worker, where it ran and its achieved rate, by index."""
    nodes = {int(p["host"]): str(p.get("node", "")) for p in placement}
    rows = []
    for name, c in counts.items():
        seconds = float(c["seconds"])
        rows.append(
            {
                "worker": int(c["worker"]),
                "name": name,
                "host": int(c["host"]),
                "node": nodes.get(int(c["host"]), ""),
                "issued": int(c["issued"]),
                "seconds": round(seconds, 3),
                "rate": round(int(c["issued"]) / seconds, 1) if seconds > 0 else 0.0,
                "ticks_skipped": int(c["ticks_skipped"]),
                "ticks_throttled": int(c["ticks_throttled"]),
                "max_in_flight": int(c["max_in_flight"]),
            }
        )
    return sorted(rows, key=lambda r: (r["name"].split(".")[4], r["worker"]))


def worker_lines(rows: Sequence[Mapping[str, Any]], asked: float) -> list[str]:
    """The summary's lines naming the workers, where they ran and what each achieved."""
    if not rows:
        return []
    share = asked / len(rows)
    out = [f"  traffic sources: {len(rows)} workers, {share:,.0f} requests/s asked of each"]
    for r in rows:
        where = f"node {r['node'][:12]}" if r["node"] else "in-process"
        out.append(
            f"    worker {r['worker']} {r['name']} (host {r['host']}, {where}): "
            f"{r['rate']:,.0f} requests/s, {r['issued']:,} issued"
        )
    return out


def limit_phrase(rows: Sequence[Mapping[str, Any]]) -> str:
    """Which worker held the rate back most and by what (for the 'cannot hold the rate' line)."""
    worst = max(rows, key=lambda r: r["ticks_skipped"] + r["ticks_throttled"], default=None)
    if worst is None or not (worst["ticks_skipped"] or worst["ticks_throttled"]):
        return ""
    return (
        f"most held back: worker {worst['worker']} of {worst['name'].split('.')[4]} (host {worst['host']}), "
        f"{worst['ticks_throttled']:,} ticks skipped at its --max-in-flight share of "
        f"{worst['max_in_flight']}, {worst['ticks_skipped']:,} its host could not run"
    )


def count_for(asked: int | None, nodes: Sequence[str], cluster: Mapping[str, float]) -> int:
    """--sources as given, else default_count of this cluster (Ray's CPU count on one node)."""
    return asked if asked is not None else default_count(len(nodes), float(cluster.get("CPU", 1)))


def alive_nodes(first: str) -> list[str]:
    """The Ray cluster's alive node ids in the order workers take them: `first` (the supervisor's,
    a node no gorilla removes: worker 0, the one Eureka knows, runs where www always ran), then
    the others sorted."""
    import ray

    others = sorted(str(n["NodeID"]) for n in ray.nodes() if n.get("Alive") and str(n["NodeID"]) != first)
    return [first, *others]


class MachineControl(Protocol):
    """What spare_the_harness needs of the Ray supervisor."""

    async def freeze_host(self, host: int) -> dict[str, object] | None: ...

    def kill_host(self, host: int) -> None: ...

    def lost_hosts(self, losses: list[HostLoss]) -> None: ...


async def spare_the_harness(
    control: MachineControl, dying: dict[int, list[InstanceSpec]], zone_hosts: Collection[int]
) -> None:
    """A machine about to go (Chaos Gorilla in cluster mode) may run a source worker: the load's
    harness, not the zone's system, so it leaves `dying`, its counts collected and its actor
    killed first (no done record: the other workers keep www running). Without this the worker's
    entry requests would die uncounted and the run could not be accounted for."""
    from nanoservices.chaos import HostLoss

    harness = [
        h for h, specs in dying.items() if h not in zone_hosts and any(s.source_worker >= 0 for s in specs)
    ]
    for host in harness:
        specs = dying.pop(host)
        counts = await control.freeze_host(host)
        control.kill_host(host)
        control.lost_hosts([HostLoss(host, tuple(s.name for s in specs), counts)])
