"""The graph spigo's Eureka discovery settles on, predicted from the rules alone.

This reproduces BEHAVIOUR.md section 7 (Eureka scoping, replication and the NameDrop zone filter)
without running anything, so it serves as a test oracle for both the pure rules and the real
Ray run's graph:

- an instance registers with, and polls, the registries of its `registry_scope`: every region's
  ("all": global instances and those depending on `eureka`), its own region's ("region":
  cross-zone instances) or its own zone's ("zone");
- a registry replicates registrations to the other zones of its region, never across regions,
  so every registry of a region holds what was registered anywhere in that region;
- a poll for a dependency service returns every instance of it held by the polled registries;
- the poller keeps an instance only if its own package is cross-zone or both zone names are equal
  (region ignored; `*` never matches), and never keeps itself.

Instances are indexed by (region, service, zone), so the cost follows the number of edges
produced rather than the square of the instance count.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from nanoservices.geography import ANY
from nanoservices.packages.base import behaviour_for
from nanoservices.plan import DeploymentPlan, InstanceSpec

Edge = tuple[str, str]
# region -> service -> zone -> instances registered in that region's registries
_Index = dict[str, dict[str, dict[str, list[InstanceSpec]]]]


def expected_nodes(plan: DeploymentPlan, short: Callable[[InstanceSpec], str] | None = None) -> set[str]:
    """Every instance registers, so every instance is a graph node (registries are not)."""
    name = short or _default_short
    return {name(spec) for spec in plan.instances}


def expected_edges(plan: DeploymentPlan, short: Callable[[InstanceSpec], str] | None = None) -> set[Edge]:
    """(source, target) graph names of every route discovery creates once each instance has polled.

    `short` maps an instance to its graph name (default: `arch.region.zone.instance`); pass a
    reducing function to predict spigo's -f graph, where self-loops can appear.
    """
    name = short or _default_short
    regions = _registry_regions(plan)
    index = _index(plan.instances, regions)
    cross_zone = _cross_zone_by_package({spec.package for spec in plan.instances})
    edges: set[Edge] = set()
    for spec in plan.instances:
        source = name(spec)
        for target in _discovered(spec, index, regions, cross_zone[spec.package]):
            edges.add((source, name(target)))
    return edges


def _default_short(spec: InstanceSpec) -> str:
    return spec.node


def _registry_regions(plan: DeploymentPlan) -> list[str]:
    """Regions that have registries, in creation order."""
    return list(dict.fromkeys(r.region for r in plan.registries))


def _scope_regions(spec: InstanceSpec, regions: list[str]) -> Iterable[str]:
    """Regions whose registries hold this instance and answer its polls (replication is regional)."""
    if spec.registry_scope == "all":
        return regions
    return (spec.region,) if spec.region in regions else ()


def _index(instances: Iterable[InstanceSpec], regions: list[str]) -> _Index:
    index: _Index = {region: {} for region in regions}
    for spec in instances:
        for region in _scope_regions(spec, regions):
            index[region].setdefault(spec.service, {}).setdefault(spec.zone, []).append(spec)
    return index


def _discovered(
    spec: InstanceSpec, index: _Index, regions: list[str], cross_zone: bool
) -> Iterable[InstanceSpec]:
    """Instances of spec's dependencies that its polls return and its zone filter accepts."""
    seen: set[str] = set()
    for region in _scope_regions(spec, regions):
        for service in spec.dependencies:
            by_zone = index[region].get(service, {})
            if cross_zone:
                groups: Iterable[list[InstanceSpec]] = by_zone.values()
            elif spec.zone == ANY:
                groups = ()
            else:
                groups = (by_zone.get(spec.zone, []),)
            for group in groups:
                for target in group:
                    if target.name != spec.name and target.name not in seen:
                        seen.add(target.name)
                        yield target


def _cross_zone_by_package(packages: Iterable[str]) -> dict[str, bool]:
    return {package: behaviour_for(package).cross_zone for package in packages}
