"""A scenario's top-level `capacity:` mapping, folded into its `versions:` profiles.

Why: capacity is most often given per service (`staash: {workers: 8}`), for whichever version it
runs; `service@version` gives one version its own. Each becomes the `capacity` of that version's
profile, so it reaches instances by the same path as `versions:` (at start, in deploys, under
incidents). A bare service name means the version it starts with.
"""

from __future__ import annotations

from typing import Any

from nanoservices.plan import DeploymentPlan
from nanoservices.problems import Problem
from nanoservices.scenario.checks import json_path
from nanoservices.scenario.schema import CapacitySpec, VersionProfile
from nanoservices.scenario.world import World


def with_capacities(
    capacities: dict[Any, CapacitySpec | None],
    profiles: dict[Any, VersionProfile | None],
    plan: DeploymentPlan,
    source: str,
    problems: list[Problem],
) -> dict[Any, VersionProfile | None]:
    """`profiles` with each capacity laid in, keyed service@version; problems for bad keys."""
    world = World.of(plan)
    merged = dict(profiles)
    for key, spec in capacities.items():
        where = json_path(("capacity", key))
        if not isinstance(key, str) or not key:
            problems.append(Problem(source, where, "key should be a service or service@version, e.g. staash"))
            continue
        service, sep, _version = key.partition("@")
        unknown = world.unknown_service(service)
        if unknown:
            problems.append(
                Problem(source, where, f"{unknown}; capacity is given per service of the architecture")
            )
            continue
        if spec is None:
            continue  # its own problems are reported already
        full = key if sep else f"{service}@{world.services[service]}"
        profile = merged.get(full)
        if profile is not None and profile.capacity is not None:
            problems.append(
                Problem(source, where, f"capacity of {full} is also given under versions; keep one of them")
            )
            continue
        base = profile if profile is not None else VersionProfile()
        merged[full] = base.model_copy(update={"capacity": spec})
    return merged
