"""Deployment plans: an architecture, a scale and a region count expanded into instance specs.

The rules are spigo's (integer-division scaling, zone rotation by global index, cross-zone and
global instances, per-zone address counters), so node names match its outputs exactly.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from nanoservices.geography import ANY, HOSTS_PER_PREFIX, REGIONS, ZONES, address, prefix_for
from nanoservices.model.ring import RING_SIZE, TokenRing, ring_owner  # noqa: F401  (old import path)
from nanoservices.naming import full_name, instance_label, node_name
from nanoservices.problems import InputError, Problem

if TYPE_CHECKING:  # only annotations: the plan is built from an architecture
    from nanoservices.architecture import Architecture
    from nanoservices.model.behaviour import VersionBehaviour

# Measured cost of one InstanceSpec plus its share of the plan's indexes, with headroom.
PLAN_BYTES_PER_INSTANCE = 2_048


@dataclass(frozen=True, slots=True)
class InstanceSpec:
    name: str  # nine-field full name
    node: str  # graph name, arch.region.zone.instance
    service: str
    package: str
    region: str  # a region name, or "*" for global instances
    zone: str  # a zone name, or "*" for cross-zone and global instances
    ip: str
    dependencies: tuple[str, ...]  # service names, without the `eureka` marker
    cross_region: bool  # depends on `eureka`: registers with and sees every region
    version: str = "v1"
    ring: tuple[tuple[str, int], ...] = ()  # priamCassandra: (member full name, token), sorted by token
    profile: VersionBehaviour | None = None  # service time and error rate per request served; None: none
    source_worker: int = -1  # a traffic source's worker index (runtime/sources.py); -1: not a worker

    @property
    def registry_scope(self) -> str:
        """Which Eureka servers this instance registers with and polls: all, region or zone."""
        if self.region == ANY or self.cross_region:
            return "all"
        return "region" if self.zone == ANY else "zone"

    @property
    def location(self) -> tuple[str, str]:
        return (self.region, self.zone)


@dataclass(frozen=True, slots=True)
class RegistrySpec:
    """One Eureka server; spigo names them like instances of a service `eureka`."""

    name: str
    region: str
    zone: str


@dataclass(frozen=True)
class DeploymentPlan:
    arch: str
    scale: int
    regions: int
    instances: tuple[InstanceSpec, ...]
    registries: tuple[RegistrySpec, ...]
    victim: str = ""
    by_name: dict[str, InstanceSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {spec.name: spec for spec in self.instances})

    @property
    def root(self) -> InstanceSpec | None:
        """spigo's traffic root: the last instance created."""
        return self.instances[-1] if self.instances else None

    def zones(self) -> list[tuple[str, str]]:
        """Every (region, zone) with a registry, in creation order."""
        return [(r.region, r.zone) for r in self.registries]


def region_count_problems(architecture: Architecture, regions: int, source: str) -> list[Problem]:
    problems = []
    if regions < 1:
        problems.append(Problem(source, "--regions", f"must be at least 1, got {regions}"))
        return problems
    for i, service in enumerate(architecture.services):
        wanted = service.regions * regions
        if wanted > len(REGIONS):
            problems.append(
                Problem(
                    source,
                    f"$.services[{i}].regions",
                    f"service {service.name!r} needs {wanted} regions "
                    f"({service.regions} x --regions {regions}) but {len(REGIONS)} region names are known; "
                    "lower --regions or the service's regions",
                )
            )
    return problems


def planned_instance_count(architecture: Architecture, scale: int, regions: int) -> int:
    """The instance count expand() would produce, computed without allocating anything."""
    total = 0
    for service in architecture.services:
        if service.regions == 0:
            total += 1
        else:
            total += service.regions * regions * max(1, service.count * scale // 100)
    return total


def memory_limit_instances() -> int:
    """How many instance specs fit in half of this machine's physical memory."""
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        physical = 8 << 30
    return physical // 2 // PLAN_BYTES_PER_INSTANCE


def plan_problems(architecture: Architecture, scale: int, regions: int, source: str) -> list[Problem]:
    """Why expand() would refuse these flags, found without allocating the plan."""
    problems = []
    if scale < 1:
        problems.append(Problem(source, "--scale", f"must be a percentage of at least 1, got {scale}"))
    problems += region_count_problems(architecture, regions, source)
    if problems:
        return problems
    count = planned_instance_count(architecture, scale, regions)
    limit = memory_limit_instances()
    if count > limit:
        problems.append(
            Problem(
                source,
                "--scale",
                f"the plan has {count:,} instances, more than the {limit:,} this machine's memory can plan; "
                "lower --scale or --regions",
            )
        )
        return problems
    for prefix, used in _addresses_per_prefix(architecture, scale, regions).items():
        if used > HOSTS_PER_PREFIX:
            problems.append(
                Problem(
                    source,
                    "--scale",
                    f"{used:,} instances would share the address block {prefix}0.0/16, which holds "
                    f"{HOSTS_PER_PREFIX:,}; lower --scale",
                )
            )
    return problems


def _addresses_per_prefix(architecture: Architecture, scale: int, regions: int) -> dict[str, int]:
    """How many addresses each /16 block would hand out, counted the way _instances() allocates them."""
    used: dict[str, int] = {}
    for service in architecture.services:
        if service.regions == 0:
            where = [(prefix_for(ANY, ANY), 1)]
        else:
            count = service.count * scale // 100
            where = []
            for r in range(service.regions * regions):
                if count == 0:
                    where.append((prefix_for(REGIONS[r], ANY), 1))
                    continue
                first, stop = r * count, (r + 1) * count
                for z, zone in enumerate(ZONES):
                    # global indexes i in [first, stop) with i % 3 == z
                    start = first + (z - first) % len(ZONES)
                    members = max(0, (stop - start + len(ZONES) - 1) // len(ZONES))
                    where.append((prefix_for(REGIONS[r], zone), members))
        for prefix, members in where:
            used[prefix] = used.get(prefix, 0) + members
    return used


def expand(architecture: Architecture, scale: int = 100, regions: int = 1) -> DeploymentPlan:
    problems = plan_problems(
        architecture, scale, regions, architecture.name or architecture.arch or "architecture"
    )
    if problems:
        raise InputError(problems)
    return DeploymentPlan(
        arch=architecture.name,
        scale=scale,
        regions=regions,
        instances=tuple(_instances(architecture, scale, regions)),
        registries=tuple(_registries(architecture.name, max(regions, _widest(architecture, regions)))),
        victim=architecture.victim,
    )


def _widest(architecture: Architecture, regions: int) -> int:
    return max((s.regions * regions for s in architecture.services), default=regions)


def _registries(arch: str, regions: int) -> Iterator[RegistrySpec]:
    for r in range(regions):
        for z, zone in enumerate(ZONES):
            label = instance_label("eureka", r * len(ZONES) + z)
            yield RegistrySpec(full_name(arch, REGIONS[r], zone, label, "eureka", "eureka"), REGIONS[r], zone)


class _AddressBook:
    """spigo's DHCP: a counter per (region, zone) prefix, starting at .0.1."""

    def __init__(self) -> None:
        self._used: dict[str, int] = {}

    def next(self, region: str, zone: str) -> str:
        prefix = prefix_for(region, zone)
        serial = self._used.get(prefix, 0) + 1
        if serial > HOSTS_PER_PREFIX:
            raise InputError(
                [
                    Problem(
                        f"{region}/{zone}",
                        "--scale",
                        f"more than {HOSTS_PER_PREFIX:,} instances in one zone; lower --scale",
                    )
                ]
            )
        self._used[prefix] = serial
        return address(prefix, serial)


def _instances(architecture: Architecture, scale: int, regions: int) -> Iterator[InstanceSpec]:
    # here, not at the top: a host unpickles specs (importing this module) and needs no lookups
    from nanoservices.packages.capabilities import keeps_ring

    arch = architecture.name
    addresses = _AddressBook()
    for service in architecture.services:
        deps = service.depends_on
        profile = service.profile()  # one shared frozen value per service

        def make(
            region: str, zone: str, index: int, service=service, deps=deps, profile=profile
        ) -> InstanceSpec:
            label = instance_label(service.name, index)
            return InstanceSpec(
                name=full_name(arch, region, zone, label, service.name, service.package),
                node=node_name(arch, region, zone, label),
                service=service.name,
                package=service.package,
                region=region,
                zone=zone,
                ip=addresses.next(region, zone),
                dependencies=deps,
                cross_region=service.cross_region,
                version=service.version,
                profile=profile,
            )

        if service.regions == 0:
            yield make(ANY, ANY, 0)
            continue
        count = service.count * scale // 100
        for r in range(service.regions * regions):
            region = REGIONS[r]
            if count == 0:
                yield make(region, ANY, 0)
                continue
            members = [make(region, ZONES[i % len(ZONES)], i) for i in range(r * count, (r + 1) * count)]
            if keeps_ring(service.package):
                members = _with_rings(members)
            yield from members


def _with_rings(members: list[InstanceSpec]) -> list[InstanceSpec]:
    """One token ring per region and zone; tokens evenly spaced in name order (spigo: map order)."""
    groups: dict[tuple[str, str], list[InstanceSpec]] = {}
    for spec in members:
        groups.setdefault(spec.location, []).append(spec)
    rings = {}
    for location, group in groups.items():
        step = RING_SIZE // len(group)
        rings[location] = tuple(
            (spec.name, j * step) for j, spec in enumerate(sorted(group, key=lambda s: s.name))
        )
    return [_replace_ring(spec, rings[spec.location]) for spec in members]


def _replace_ring(spec: InstanceSpec, ring: tuple[tuple[str, int], ...]) -> InstanceSpec:
    from dataclasses import replace

    return replace(spec, ring=ring)


class Growth:
    """Names and addresses for instances a deploy adds: spigo-style names continuing each service's
    numbering (homepage27 after homepage26) and the next free address of the zone, so every name
    and IP in a run stays unique."""

    def __init__(self, instances: Sequence[InstanceSpec]) -> None:
        self._next: dict[str, int] = {}
        self._serials: dict[str, int] = {}
        for spec in instances:
            self._note(spec)

    def _note(self, spec: InstanceSpec) -> None:
        label = spec.name.split(".")[4]
        index = int(label[len(spec.service) :] or 0)
        self._next[spec.service] = max(self._next.get(spec.service, 0), index + 1)
        prefix = prefix_for(spec.region, spec.zone)
        high, low = (int(part) for part in spec.ip.split(".")[2:4])
        self._serials[prefix] = max(self._serials.get(prefix, 0), high * 256 + low)

    def like(self, spec: InstanceSpec, version: str) -> InstanceSpec:
        """A new instance of the spec's service, where it runs, at `version`."""
        index = self._next.get(spec.service, 0)
        label = instance_label(spec.service, index)
        arch = spec.name.split(".")[0]
        prefix = prefix_for(spec.region, spec.zone)
        serial = self._serials.get(prefix, 0) + 1
        grown = replace(
            spec,
            name=full_name(arch, spec.region, spec.zone, label, spec.service, spec.package),
            node=node_name(arch, spec.region, spec.zone, label),
            ip=address(prefix, serial),
            version=version,
        )
        self._note(grown)
        return grown
