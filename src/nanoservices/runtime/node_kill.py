"""A machine loss in cluster mode: a one-off actor pinned to the node SIGKILLs its own raylet, then
every other process that raylet started (the workers: our hosts and the zone's Eureka server; its
agents), then itself. Nothing shuts down politely and nothing reports: Ray learns of the loss as
it would of a dead machine, and the supervisor tells it the node's actors are gone.

Only the asking worker's parent is ever killed, after checking it is that node's raylet, and only
that raylet's children with it: never a process found by name."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Sequence
from typing import Any

import ray

from nanoservices.runtime.machines import raylet_refusal, stat_parent

KILL_BOUND = 15.0  # seconds for the killer to start on the node and be seen dying with it


def _children(parent: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    if stat_parent(stat.read()) == parent:
                        found.append(int(entry))
            except (OSError, ValueError, IndexError):  # it exited meanwhile
                continue
    return found


def _refusal(node_id: str, raylet: int) -> str | None:
    """Why process `raylet` (this worker's parent) is not node `node_id`'s raylet (None: it is)."""
    if raylet <= 1:
        return "the parent raylet is gone"
    try:
        with open(f"/proc/{raylet}/comm") as comm, open(f"/proc/{raylet}/cmdline") as cmdline:
            name, args = comm.read().strip(), cmdline.read().split("\0")
    except OSError as error:
        return f"cannot read the parent process: {error}"
    return raylet_refusal(node_id, ray.get_runtime_context().get_node_id(), name, args)


@ray.remote(num_cpus=0, max_restarts=0)
class RayletKiller:
    def aim(self, node_id: str) -> str | None:
        """Up on the node, and its parent is the node's raylet (None), or why not."""
        return _refusal(node_id, os.getppid())

    def fire(self, node_id: str) -> str:
        """Kill this node; returns only to say why it did not (the caller sees this actor die)."""
        raylet = os.getppid()  # read once: the checked process is the one killed
        refusal = _refusal(node_id, raylet)
        if refusal is not None:
            return refusal
        others = [pid for pid in _children(raylet) if pid != os.getpid()]
        os.kill(raylet, signal.SIGKILL)  # first, so it sees none of its workers die
        for pid in others:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
        os.kill(os.getpid(), signal.SIGKILL)
        return "still running after SIGKILL"  # not reached


async def remove_nodes(nodes: Sequence[str], bound: float = KILL_BOUND) -> dict[str, str | None]:
    """Every node at once; per node None when it was removed, else why not. On a netns cluster
    the machine goes off the network first (runtime.netfaults), so no reset reaches its peers."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from nanoservices.runtime import netfaults

    if netfaults.cluster() is not None:
        return await netfaults.take_off_network(nodes)

    killers = [
        RayletKiller.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n, soft=False)).remote()
        for n in nodes
    ]
    outcomes = await asyncio.gather(*(_remove(k, n, bound) for k, n in zip(killers, nodes, strict=True)))
    return dict(zip(nodes, outcomes, strict=True))


async def _remove(killer: Any, node: str, bound: float) -> str | None:
    """Aim (the killer is up and its parent checked), then fire: a killer dying after it was
    aimed is the node going down with it."""
    aimed = False
    try:
        refusal = await asyncio.wait_for(killer.aim.remote(node), bound)
        if refusal is None:
            aimed = True
            refusal = await asyncio.wait_for(killer.fire.remote(node), bound)
    except ray.exceptions.RayTaskError as error:  # the killer raised: the node is untouched
        refusal = f"the killer failed: {error.cause!r}"
    except ray.exceptions.RayActorError as error:
        if aimed:
            return None
        refusal = f"the killer died before it was aimed: {type(error).__name__}"
    except asyncio.TimeoutError:
        refusal = f"no answer from the killer within {bound:g} s"
    ray.kill(killer, no_restart=True)
    return refusal
