"""Which host runs which instances, and whether that many hosts fit in the cluster's memory."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from nanoservices.plan import DeploymentPlan, InstanceSpec

if TYPE_CHECKING:
    from nanoservices.config import RunConfig
    from nanoservices.runtime.host import HostSetup

MIB = 1 << 20
HOST_MEMORY = 60 * MIB  # one Ray actor worker process: 52-58 MiB PSS measured here for a host
FIXED_ACTORS = 2  # supervisor and Edda; registries are counted per zone


def assign_hosts(specs: Sequence[InstanceSpec], per_host: int) -> list[tuple[InstanceSpec, ...]]:
    """Up to per_host instances of one location (region, zone) per host, in plan order.

    Global and cross-zone instances have locations of their own (`*` zones), so a host never
    spans zones and chaos gorilla can take a zone's hosts away together."""
    open_hosts: dict[tuple[str, str], list[InstanceSpec]] = {}
    hosts: list[list[InstanceSpec]] = []
    for spec in specs:
        current = open_hosts.get(spec.location)
        if current is None or len(current) >= per_host:
            current = []
            open_hosts[spec.location] = current
            hosts.append(current)
        current.append(spec)
    return [tuple(h) for h in hosts]


def host_count(plan: DeploymentPlan, per_host: int) -> int:
    sizes: dict[tuple[str, str], int] = {}
    for spec in plan.instances:
        sizes[spec.location] = sizes.get(spec.location, 0) + 1
    return sum(math.ceil(n / per_host) for n in sizes.values())


def memory_needed(plan: DeploymentPlan, per_host: int) -> int:
    return (host_count(plan, per_host) + len(plan.registries) + FIXED_ACTORS) * HOST_MEMORY


def smallest_fitting_per_host(plan: DeploymentPlan, available: float) -> int | None:
    """The smallest --instances-per-host whose hosts fit in `available` bytes, if any does."""
    largest = max(1, len(plan.instances))
    low, high = 1, largest
    if memory_needed(plan, high) > available:
        return None
    while low < high:
        middle = (low + high) // 2
        if memory_needed(plan, middle) <= available:
            high = middle
        else:
            low = middle + 1
    return low


def host_setups(
    plan: DeploymentPlan, config: RunConfig, specs: Sequence[InstanceSpec] | None = None, first: int = 0
) -> list[HostSetup]:
    """One HostSetup per host of the run, for Ray hosts and in-process ones alike; for instances a
    deploy adds (`specs`), new hosts numbered from `first`: a running host never changes."""
    from nanoservices.runtime.host import CALLS_PER_DESTINATION, FRAMES_PER_DESTINATION, HostSetup

    settings = config.behaviour_settings
    in_flight = FRAMES_PER_DESTINATION if config.transport == "socket" else CALLS_PER_DESTINATION
    specs = plan.instances if specs is None else specs
    everyone = plan.instances if specs is plan.instances else (*plan.instances, *specs)
    addresses = {spec.name: spec.ip for spec in everyone} if config.tracing is not None else None
    return [
        HostSetup(
            first + i,
            group,
            plan.registries,
            settings,
            config.seed,
            config.request_timeout,
            config.max_in_flight,
            addresses=addresses,
            batches_in_flight=in_flight,
            lease_renewal=config.lease_renewal,
            retries=config.retries,
            retry_timeouts=config.retry_timeouts,
            try_timeout=config.try_timeout,
            timeouts=tuple(sorted(config.timeouts.items())),
        )
        for i, group in enumerate(assign_hosts(specs, config.instances_per_host))
    ]


def placement_of(setups: list[HostSetup]) -> dict[str, int]:
    """Instance full name -> index of the host that runs it."""
    return {spec.name: setup.index for setup in setups for spec in setup.specs}
