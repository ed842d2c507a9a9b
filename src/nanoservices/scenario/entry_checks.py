"""The timeline actions that pick a target (monkey, latency, errors, rollback) or a place
(gorilla's zone, kong's region, a partition's sides): each entry's checker makes a `Maker` of its
typed action, or adds its problems and gives None. scenario/kinds.py names each kind's checker.

No import of the schema or of checks.py at run time: kinds.py imports these checkers, and the
schema imports kinds.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from nanoservices.scenario import actions as a

if TYPE_CHECKING:
    from nanoservices.scenario.checks import Checked
    from nanoservices.scenario.schema import EntrySpec, TargetSpec
    from nanoservices.scenario.world import World

Maker = Callable[[float, float, str], a.Action]  # (at, until, origin) -> one occurrence's action
Checker = Callable[["Checked", "World", str, "EntrySpec", bool], "Maker | None"]  # (..., where, entry, short)


def _target(checked: Checked, world: World, where: str, spec: TargetSpec, short: bool) -> a.Target | None:
    if spec.service is not None and spec.package is not None:
        checked.add(where, "give service or package, not both")
        return None
    if spec.service is None and spec.package is None:
        checked.add(where, "give service or package, e.g. service: homepage")
        return None
    if spec.service is not None:
        problem = world.unknown_service(spec.service)
        if problem:
            checked.add(where if short else f"{where}.service", problem)
            return None
        return a.Target(service=spec.service)
    assert spec.package is not None
    problem = world.unknown_package(spec.package)
    if problem:
        checked.add(f"{where}.package", problem)
        return None
    return a.Target(package=spec.package)


def rollback_action(
    checked: Checked, world: World, where: str, entry: EntrySpec, short: bool
) -> Maker | None:
    assert entry.rollback is not None
    service = entry.rollback.service
    problem = world.unknown_service(service)
    if problem:
        checked.add(where if short else f"{where}.service", problem)
        return None
    return lambda at, _until, origin: a.Rollback(at=at, service=service, origin=origin)


def monkey_action(checked: Checked, world: World, where: str, entry: EntrySpec, short: bool) -> Maker | None:
    assert entry.monkey is not None
    target = _target(checked, world, where, entry.monkey, short)
    if target is None:
        return None
    return lambda at, _until, origin: a.Monkey(at=at, target=target, origin=origin)


def gorilla_action(
    checked: Checked, world: World, where: str, entry: EntrySpec, _short: bool
) -> Maker | None:
    text = entry.gorilla or ""
    if "/" not in text and text in world.regions:
        checked.add(
            where, f"{text!r} is a region; gorilla takes a zone such as {text}/zoneB (kong takes a region)"
        )
        return None
    problem = world.unknown_zone(text)
    if problem:
        checked.add(where, problem)
        return None
    zone = _location(text)
    outage = entry.for_ is not None  # without `for` the zone never comes back
    return lambda at, until, origin: a.Gorilla(
        at=at, zone=zone, until=until if outage else 0.0, origin=origin
    )


def kong_action(checked: Checked, world: World, where: str, entry: EntrySpec, _short: bool) -> Maker | None:
    text = entry.kong or ""
    if "/" in text:
        region = text.partition("/")[0]
        example = region if region in world.regions else world.regions[0] if world.regions else "us-east-1"
        checked.add(where, f"kong takes a whole region such as {example}; for one zone use gorilla")
        return None
    problem = world.unknown_region(text)
    if problem:
        checked.add(where, problem)
        return None
    outage = entry.for_ is not None
    return lambda at, until, origin: a.Kong(at=at, region=text, until=until if outage else 0.0, origin=origin)


def latency_action(checked: Checked, world: World, where: str, entry: EntrySpec, short: bool) -> Maker | None:
    spec = entry.latency
    assert spec is not None and spec.add is not None
    target = _target(checked, world, where, spec, short)
    if target is None:
        return None
    add = spec.add.to_model()
    return lambda at, until, origin: a.LatencyIncident(
        at=at, until=until, target=target, add=add, origin=origin
    )


def errors_action(checked: Checked, world: World, where: str, entry: EntrySpec, short: bool) -> Maker | None:
    spec = entry.errors
    assert spec is not None and spec.rate is not None
    target = _target(checked, world, where, spec, short)
    if target is None:
        return None
    rate = spec.rate
    return lambda at, until, origin: a.ErrorIncident(
        at=at, until=until, target=target, rate=rate, origin=origin
    )


def partition_action(
    checked: Checked, world: World, where: str, entry: EntrySpec, _short: bool
) -> Maker | None:
    texts = entry.partition or []
    if len(texts) < 2:
        checked.add(where, "a partition needs at least two sides, e.g. [us-east-1/zoneA, us-east-1/zoneC]")
        return None
    before = len(checked.problems)
    sides: list[a.Location] = []
    for j, text in enumerate(texts):
        problem = world.unknown_zone(text) if "/" in text else world.unknown_region(text)
        if problem:
            checked.add(f"{where}[{j}]", problem)
            continue
        side = _location(text)
        clash = next((s for s in sides if s == side or _inside(side, s) or _inside(s, side)), None)
        if clash is not None:
            what = "is listed twice" if clash == side else f"overlaps {clash}, also listed"
            checked.add(f"{where}[{j}]", f"{text} {what}; give each side once, without overlap")
            continue
        sides.append(side)
    if len(checked.problems) > before:
        return None
    frozen = tuple(sides)
    return lambda at, until, origin: a.Partition(at=at, until=until, sides=frozen, origin=origin)


def _location(text: str) -> a.Location:
    region, _, zone = text.partition("/")
    return a.Location(region, zone)


def _inside(inner: a.Location, outer: a.Location) -> bool:
    return not outer.zone and inner.zone != "" and inner.region == outer.region
