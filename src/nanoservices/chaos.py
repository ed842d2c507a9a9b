"""Chaos monkey: a seeded, reproducible victim of the architecture's victim service, and the one
kill sequence every runtime shares."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from nanoservices.outputs.records import ExitReason
from nanoservices.plan import DeploymentPlan, InstanceSpec


def pick_victim(plan: DeploymentPlan, seed: int) -> InstanceSpec | None:
    candidates = sorted((s for s in plan.instances if s.service == plan.victim), key=lambda s: s.name)
    if not plan.victim or not candidates:
        return None
    return random.Random(f"{seed}:chaos-monkey").choice(candidates)


class HostControl(Protocol):
    """What chaos needs from a runtime: the run core (runtime/core.py) provides it over either
    cluster, so a kill is the same sequence of steps in a Ray run and in process."""

    kill_method: str  # how a lone host is killed, as the summary names it ("ray.kill", "in-process")

    async def freeze_host(self, host: int) -> dict[str, object] | None:
        """Silence the host and return its counts; None when they could not be collected."""
        ...

    def kill_host(self, host: int) -> None: ...

    async def stop_instance(self, host: int, name: str, reason: ExitReason) -> bool: ...

    async def forget(
        self, specs: Sequence[InstanceSpec], reason: ExitReason, deregister: bool = False
    ) -> None:
        """Record why instances that cannot say it themselves are done; with `deregister`, also
        take them out of discovery. A crashed instance is not deregistered: its lease expires."""
        ...


@dataclass(frozen=True)
class Kill:
    instance: str
    host: int
    method: str  # control.kill_method for a lone host, "cancel" inside a shared one
    counts: dict[str, object] | None = None  # a killed host's last counts; None if they died with it

    @property
    def counts_lost(self) -> bool:
        return self.method != "cancel" and self.counts is None


async def kill_instance(
    control: HostControl, victim: InstanceSpec, host: int, alone: bool, deregister: bool = False
) -> Kill:
    """Chaos monkey's kill. A lone instance dies with its host, as a machine would: its counts are
    collected first (they would die with the process), then the host is killed and its instance
    recorded as done; it stays registered until its lease expires (Eureka's eviction), unless
    `deregister`. In a shared host only the instance stops (and deregisters, as a graceful stop)."""
    if not alone:
        await control.stop_instance(host, victim.name, ExitReason.CHAOS)
        return Kill(victim.name, host, "cancel")
    counts = await control.freeze_host(host)
    control.kill_host(host)
    await control.forget((victim,), ExitReason.CHAOS, deregister)
    return Kill(victim.name, host, control.kill_method, counts)


@dataclass(frozen=True)
class HostLoss:
    """A host that died with its instances (Chaos Gorilla, Kong)."""

    host: int
    instances: tuple[str, ...]
    counts: dict[str, object] | None  # None: they died with it (cluster mode: the machine is gone)


@dataclass(frozen=True)
class ZoneLoss:
    """What a Chaos Gorilla or Kong did: the hosts lost, how (the event's `method`), and the Ray
    nodes removed with them (cluster mode; none in laptop mode)."""

    losses: list[HostLoss]
    method: str
    nodes: tuple[str, ...] = ()


async def kill_hosts(
    control: HostControl, hosts: Mapping[int, Sequence[InstanceSpec]], collect: bool = True
) -> list[HostLoss]:
    """Every host at once, as a zone's machines go: frozen first when `collect` (its counts kept,
    laptop mode), killed, then its running instances deregistered and recorded done by chaos."""
    counts: list[dict[str, object] | None] = (
        list(await asyncio.gather(*(control.freeze_host(h) for h in hosts)))
        if collect
        else [None] * len(hosts)
    )
    for host in hosts:
        control.kill_host(host)
    await control.forget(tuple(s for specs in hosts.values() for s in specs), ExitReason.CHAOS)
    return [
        HostLoss(host, tuple(s.name for s in specs), part)
        for (host, specs), part in zip(hosts.items(), counts, strict=True)
    ]
