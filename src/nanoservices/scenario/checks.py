"""The rules that need the plan, the run's duration or several entries, and the typed result.

Each entry becomes its actions (an `every:` entry one per occurrence) while its problems are
collected: its times here, its action by its kind's checker (scenario/kinds.py names it: deploys
in deploy_checks.py, loads in load_checks.py, the others in entry_checks.py); the cross-entry
rules (deploy order, rollbacks, overlapping incidents) then run over the actions in time order.
Paths point at the key to fix.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from nanoservices.model.distributions import ErrorRate
from nanoservices.model.quantities import seconds_text as secs
from nanoservices.model.quantities import version as parse_version
from nanoservices.plan import DeploymentPlan
from nanoservices.problems import Problem
from nanoservices.scenario import actions as a
from nanoservices.scenario import kinds
from nanoservices.scenario.kinds import KEYS, ONCE, WINDOWED
from nanoservices.scenario.schema import EntrySpec, VersionProfile
from nanoservices.scenario.world import World

MAX_OCCURRENCES = 10_000  # per `every:` entry; more is a typo for a longer interval


@dataclass
class Checked:
    source: str
    plan: DeploymentPlan
    duration: float
    raw_entries: list[Any]
    problems: list[Problem] = field(default_factory=list)

    def add(self, where: str, message: str) -> None:
        self.problems.append(Problem(self.source, where, message))

    def end_text(self) -> str:
        return f"the end of the run ({secs(self.duration)})"


def build(
    checked: Checked, entries: list[EntrySpec | None], profiles: dict[Any, VersionProfile | None]
) -> a.Scenario | None:
    world = World.of(checked.plan)
    versions = _versions(checked, world, profiles)
    found: list[a.Action] = []
    for i, entry in enumerate(entries):
        if entry is not None:
            found += _entry(checked, world, i, entry)
    ordered = sorted(found, key=lambda action: action.at)  # stable: ties keep file order
    _deploy_order(checked, world, ordered, _unchecked_deploys(checked, entries))
    _overlaps(checked, ordered)
    if checked.problems:
        return None
    return a.Scenario(checked.duration, tuple(ordered), versions, checked.source)


def _versions(
    checked: Checked, world: World, profiles: dict[Any, VersionProfile | None]
) -> dict[tuple[str, str], a.VersionBehaviour]:
    result = {}
    for key, profile in profiles.items():
        where = json_path(("versions", key))
        service, sep, version = key.partition("@") if isinstance(key, str) else ("", "", "")
        if not sep:
            checked.add(where, f"key {key!r} should be service@version, e.g. homepage@v2")
            continue
        try:
            parse_version(version)
        except ValueError as exc:
            checked.add(where, str(exc))
            continue
        problem = world.unknown_service(service)
        if problem:
            checked.add(where, f"{problem}; a version profile needs a service of the architecture")
            continue
        if profile is not None:
            latency = profile.latency.to_model() if profile.latency is not None else None
            errors = ErrorRate(profile.errors) if profile.errors is not None else None
            capacity = profile.capacity.to_capacity() if profile.capacity is not None else None
            result[(service, version)] = a.VersionBehaviour(latency, errors, capacity)
    return result


def _entry(checked: Checked, world: World, i: int, entry: EntrySpec) -> list[a.Action]:
    where = f"$.timeline[{i}]"
    names = entry.actions()
    if not names:
        checked.add(where, f"no action; give one of {', '.join(KEYS)}")
        return []
    if len(names) > 1:
        checked.add(where, f"{len(names)} actions ({', '.join(names)}) in one entry; give each its own entry")
        return []
    kind = names[0]
    times = _times(checked, where, entry, kind)
    make = kinds.BY_KEY[kind].checker(checked, world, f"{where}.{kind}", entry, _short_form(checked, i, kind))
    if times is None or make is None:
        return []
    made = []
    for at in times:
        until = min(at + entry.for_, checked.duration) if entry.for_ is not None else checked.duration
        made.append(make(at, until, where))
    return made


def _short_form(checked: Checked, i: int, kind: str) -> bool:
    raw = checked.raw_entries[i]
    return isinstance(raw, dict) and isinstance(raw.get(kind), str)


def _times(checked: Checked, where: str, entry: EntrySpec, kind: str) -> list[float] | None:
    ok = True
    if entry.for_ is not None:
        if kind not in WINDOWED:
            checked.add(
                f"{where}.for",
                f"for applies only to {', '.join(WINDOWED[:-1])} and {WINDOWED[-1]}; {kind} is instant, "
                "remove it",
            )
            ok = False
        elif entry.for_ <= 0:
            checked.add(f"{where}.for", "for must be more than 0s")
            ok = False
    if entry.at is None and entry.every is None:
        checked.add(where, "missing 'at' or 'every'; say when, e.g. at: 5s")
        return None
    if entry.at is not None and entry.every is not None:
        checked.add(where, "both at and every; use at for once, every for a schedule")
        return None
    if entry.at is not None:
        for key, value in (("from", entry.from_), ("until", entry.until)):
            if value is not None:
                checked.add(f"{where}.{key}", f"{key} applies only with every; remove it or use every")
                ok = False
        if entry.at >= checked.duration:
            checked.add(
                f"{where}.at",
                f"at {secs(entry.at)} is at or after {checked.end_text()}; "
                "use an earlier time or run longer (-d)",
            )
            ok = False
        return [entry.at] if ok else None
    return _occurrences(checked, where, entry, kind) if ok else None


def _occurrences(checked: Checked, where: str, entry: EntrySpec, kind: str) -> list[float] | None:
    every = entry.every or 0.0
    if kind in ONCE:
        checked.add(f"{where}.every", f"a {kind} happens once; use at instead of every")
        return None
    if every <= 0:
        checked.add(f"{where}.every", "every must be more than 0s")
        return None
    start = entry.from_ if entry.from_ is not None else every
    end = min(entry.until, checked.duration) if entry.until is not None else checked.duration
    if entry.from_ is not None and start >= checked.duration:
        checked.add(
            f"{where}.from", f"from {secs(start)} is at or after {checked.end_text()}; use an earlier time"
        )
        return None
    if entry.until is not None and entry.until <= start:
        checked.add(
            f"{where}.until", f"until {secs(entry.until)} is not after the first time ({secs(start)})"
        )
        return None
    count = math.ceil((end - start) / every) if end > start else 0
    if count > MAX_OCCURRENCES:
        checked.add(
            f"{where}.every",
            f"every {secs(every)} gives {count:,} occurrences, more than {MAX_OCCURRENCES:,}; "
            "use a longer interval",
        )
        return None
    times = [t for t in (start + k * every for k in range(count + 1)) if t < end]
    if not times:
        checked.add(
            f"{where}.every",
            f"every {secs(every)} first fires at {secs(start)}, at or after {checked.end_text()}; "
            "use a shorter interval or from",
        )
        return None
    return times


def _unchecked_deploys(checked: Checked, entries: list[EntrySpec | None]) -> set[str] | None:
    """Services whose deploy entries failed their shape checks; None if any such deploy names none."""
    services: set[str] = set()
    for raw, entry in zip(checked.raw_entries, entries, strict=True):
        if entry is None and isinstance(raw, dict) and "deploy" in raw:
            deploy = raw["deploy"]
            service = deploy.get("service") if isinstance(deploy, dict) else None
            if not isinstance(service, str):
                return None
            services.add(service)
    return services


def _deploy_order(
    checked: Checked, world: World, ordered: list[a.Action], unchecked: set[str] | None
) -> None:
    """Versions already running, deploys still under way, and rollbacks with nothing to undo."""
    running: dict[str, str | None] = dict(world.services)  # None: depends on a canary's verdict
    previous: dict[str, list[str | None]] = {}
    busy: dict[str, a.Deploy] = {}
    for action in ordered:
        if isinstance(action, a.Deploy):
            service = action.service
            if running.get(service) == action.version:
                checked.add(
                    f"{action.origin}.deploy.version",
                    f"{service} already runs {action.version} at {secs(action.at)}; deploy another version",
                )
            earlier = busy.get(service)
            if earlier is not None and action.at < earlier.at + earlier.known_duration:
                checked.add(
                    f"{action.origin}.deploy",
                    f"starts at {secs(action.at)} while the deploy of {service} at {earlier.origin} "
                    f"is still running (until at least {secs(earlier.at + earlier.known_duration)}); "
                    "start it later",
                )
            busy[service] = action
            previous.setdefault(service, []).append(running.get(service))
            running[service] = None if isinstance(action.strategy, a.Canary) else action.version
        elif isinstance(action, a.Rollback):
            stack = previous.get(action.service)
            if stack:
                running[action.service] = stack.pop()
            elif unchecked is not None and action.service not in unchecked:
                checked.add(
                    f"{action.origin}.rollback",
                    f"no earlier deploy of {action.service} to roll back; "
                    "deploy it first or remove the rollback",
                )


def _overlaps(checked: Checked, ordered: list[a.Action]) -> None:
    """Two incidents of one kind on one target at once: which one would the run apply?"""
    last: dict[tuple[str, object], a.Incident] = {}
    reported: set[tuple[str, str]] = set()
    for action in ordered:
        if not kinds.of(action).incident:
            continue
        assert isinstance(action, a.LatencyIncident | a.ErrorIncident | a.Partition)
        kind = kinds.of(action).key
        key: tuple[str, object]
        if isinstance(action, a.Partition):
            key, what = (kind, frozenset(action.sides)), "partition between the same sides"
        else:
            key, what = (kind, action.target), f"{kind} incident on {action.target}"
        earlier = last.get(key)
        if (
            earlier is not None
            and action.at < earlier.until
            and (earlier.origin, action.origin) not in reported
        ):
            reported.add((earlier.origin, action.origin))
            if earlier.origin == action.origin:
                checked.add(
                    f"{action.origin}.for", f"each {what} overlaps the next; make for shorter than every"
                )
            else:
                checked.add(
                    f"{action.origin}.{kind}",
                    f"overlaps the {what} at {earlier.origin} ({secs(earlier.at)}-{secs(earlier.until)}); "
                    "merge them or move one",
                )
        if earlier is None or action.until > earlier.until:
            last[key] = action


def json_path(loc: tuple[int | str, ...], base: str = "$") -> str:
    """`$.timeline[2].deploy`, with keys that are not plain names quoted as JSON strings."""
    path = base
    for part in loc:
        if isinstance(part, int) and not isinstance(part, bool):
            path += f"[{part}]"
        elif str(part).replace("-", "_").isidentifier():
            path += f".{part}"
        else:
            path += f"[{json.dumps(str(part))}]"
    return path
