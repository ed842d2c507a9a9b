"""Zones and regions as Ray resources: in cluster mode a node type per availability zone carries
`zone:<az>` and `region:<region>` resources, and each host asks for a sliver of its own. With no
such resources (laptop mode) zones stay labels and Ray places hosts freely."""

from __future__ import annotations

from collections.abc import Mapping

from nanoservices.geography import ANY
from nanoservices.plan import DeploymentPlan

SLIVER = 0.001  # of a zone resource per actor: placement only, never a capacity limit


def zone_resource(region: str, zone: str) -> str:
    """`us-east-1` + `zoneA` is AWS's availability zone `us-east-1a`."""
    return f"zone:{region}{zone[-1].lower()}"


def region_resource(region: str) -> str:
    return f"region:{region}"


def placement_resource(region: str, zone: str) -> str | None:
    if region == ANY:
        return None
    return region_resource(region) if zone == ANY else zone_resource(region, zone)


def uses_zones(cluster: Mapping[str, float]) -> bool:
    return any(key.startswith("zone:") for key in cluster)


def missing_locations(plan: DeploymentPlan, cluster: Mapping[str, float]) -> list[str]:
    """Resources the plan needs that a zoned cluster lacks (empty when zones are not in use)."""
    if not uses_zones(cluster):
        return []
    wanted = {placement_resource(s.region, s.zone) for s in plan.instances}
    wanted |= {zone_resource(r.region, r.zone) for r in plan.registries}
    return sorted(key for key in wanted if key is not None and key not in cluster)


def actor_resources(region: str, zone: str, cluster: Mapping[str, float]) -> dict[str, float]:
    key = placement_resource(region, zone)
    if key is None or not uses_zones(cluster):
        return {}
    return {key: SLIVER}
