"""A zone (or region) coming back at the end of a gorilla's (kong's) outage window, as a real one
does: its Auto Scaling Groups relaunch the instances it lost, the same services at the same
versions in the same place, which register STARTING, go UP and are discovered, as a deploy's new
group is (scenario/asgard.py). Without `for:` a gorilla never ends and nothing comes back.

No Ray here: it drives the Simian Army's fleet (simian.ChaosFleet) through the Fleet protocol."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from nanoservices.plan import InstanceSpec
from nanoservices.registry import UP
from nanoservices.scenario.events import Event, EventKind

if TYPE_CHECKING:
    from nanoservices.scenario.simian import ChaosFleet

RECOVERED = {EventKind.GORILLA: EventKind.GORILLA_RECOVERED, EventKind.KONG: EventKind.KONG_RECOVERED}


def groups_of(lost: Sequence[InstanceSpec]) -> list[list[InstanceSpec]]:
    """The lost instances by (service, version), in the order they were lost: one Auto Scaling
    Group each, as `start_group` starts one service's version at a time."""
    groups: dict[tuple[str, str], list[InstanceSpec]] = {}
    for spec in lost:
        groups.setdefault((spec.service, spec.version), []).append(spec)
    return list(groups.values())


async def relaunch(fleet: ChaosFleet, lost: Sequence[InstanceSpec]) -> list[InstanceSpec]:
    """New instances for the lost ones, registered STARTING, then UP, then every caller polls
    Eureka: the zone takes traffic again from here. One group at a time: each adds hosts."""
    started: list[InstanceSpec] = []
    for group in groups_of(lost):
        started += await fleet.start_group(group, group[0].version)
    if started:
        await fleet.set_status(started, UP)
        await fleet.refresh()
    return started


async def recover(
    fleet: ChaosFleet, kind: EventKind, location: str, lost: Sequence[InstanceSpec], since: float
) -> list[InstanceSpec]:
    """The outage of `location` (lost by a `kind` at `since`) ends: relaunch, then the event that
    says so with what was lost and what replaced it."""
    started = await relaunch(fleet, lost)
    fleet.emit(
        Event(
            fleet.now(),
            RECOVERED[kind],
            "",
            tuple(sorted({s.version for s in started})),
            tuple(s.name for s in started),
            {
                "location": location,
                "replaced": sorted(s.name for s in lost),
                "relaunched": len(started),
                "outage_seconds": round(fleet.now() - since, 3),
            },
        )
    )
    return started
