"""Which Ray nodes a zone's loss takes down, and whether a process really is the node's raylet.
Pure (no Ray), so the rules that decide what gets killed are tested without a cluster.

In cluster mode a zone's hosts run on the zone's nodes: Chaos Gorilla (Kong) removes those nodes
as a machine loss would, every host on them dying with them. Nodes the run cannot lose (the head,
where the GCS runs; the supervisor's, with Edda and the driver) are spared: there only the zone's
own host actors are killed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass

HEAD_RESOURCE = "node:__internal_head__"  # Ray's marker resource of the head node


@dataclass(frozen=True)
class MachineLoss:
    removed: tuple[str, ...]  # nodes whose raylet is killed, every process on them with it
    spared: tuple[str, ...]  # nodes of the zone that must stay: the zone's hosts there are ray.killed
    hosts: tuple[int, ...]  # every host that dies: the zone's, and any other on a removed node


def machine_loss(
    zone_hosts: Iterable[int], node_of: Mapping[int, str], running: Iterable[int], protected: Set[str]
) -> MachineLoss:
    """The zone's nodes ("" is a host whose node is unknown: it is killed alone), split into those
    removed and those spared, and the hosts that go if every removal succeeds."""
    zone = set(zone_hosts)
    nodes = {node_of.get(h, "") for h in zone} - {""}
    removed = sorted(nodes - protected)
    return MachineLoss(
        tuple(removed), tuple(sorted(nodes & protected)), hosts_lost(zone, node_of, running, removed)
    )


def hosts_lost(
    zone_hosts: Iterable[int], node_of: Mapping[int, str], running: Iterable[int], removed: Iterable[str]
) -> tuple[int, ...]:
    """The zone's hosts, plus every running host of a removed node (a cross-zone host placed there
    goes with the machine; on a node that stayed up it keeps running)."""
    gone = set(removed)
    return tuple(sorted(set(zone_hosts) | {h for h in running if node_of.get(h, "") in gone}))


def protected_nodes(nodes: Sequence[Mapping[str, object]], own: str) -> set[str]:
    """The head node (from `ray.nodes()` rows) and the caller's own node."""
    heads = set()
    for node in nodes:
        resources = node.get("Resources")
        if isinstance(resources, Mapping) and HEAD_RESOURCE in resources:
            heads.add(str(node["NodeID"]))
    return heads | {own}


def raylet_refusal(node_id: str, here: str, comm: str, cmdline: Sequence[str]) -> str | None:
    """Why a process must not be killed as node `node_id`'s raylet (None: it is that raylet).
    `here` is the node the asking worker runs on, `comm`/`cmdline` its parent's /proc entries."""
    if here != node_id:
        return f"running on node {here}, not {node_id}"
    if comm != "raylet":
        return f"the parent process is {comm!r}, not a raylet"
    if f"--node_id={node_id}" not in cmdline:
        return "the parent raylet belongs to another node"
    return None


def stat_parent(stat: str) -> int:
    """The parent pid in a /proc/<pid>/stat line (the command name may hold spaces and ')')."""
    return int(stat.rsplit(")", 1)[1].split()[1])


def describe(loss: MachineLoss, outcomes: Mapping[str, str | None], off_network: bool = False) -> str:
    """The event's `method`: which raylets were killed (or, on a netns cluster, which machines were
    taken off the network first), which nodes could not be removed and why."""
    killed = [n for n in loss.removed if outcomes.get(n) is None]
    if off_network:
        parts = [
            f"node {n} taken off the network at the switch (frames dropped both ways: peers time out),"
            " then every process in its namespace SIGKILLed"
            for n in killed
        ]
    else:
        parts = [f"raylet of node {n} killed, every process on it with it" for n in killed]
    parts += [f"node {n} not removed ({outcomes[n]})" for n in loss.removed if outcomes.get(n) is not None]
    parts += [f"node {n} runs the head or the supervisor, not removed" for n in loss.spared]
    if len(killed) < len(loss.removed) or loss.spared:
        parts.append("ray.kill of the zone's host actors there")
    return "; ".join(parts) + " (cluster mode: no freeze, counts die with the hosts)"
