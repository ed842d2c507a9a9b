"""The rules that need the plan, the run's duration or several entries, and the typed result.

Each entry becomes its actions (an `every:` entry one per occurrence) while its problems are
collected; the cross-entry rules (deploy order, rollbacks, overlapping incidents) then run over
the actions in time order. Paths point at the key to fix.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nanoservices.plan import DeploymentPlan
from nanoservices.problems import Problem
from nanoservices.scenario import actions as a
from nanoservices.scenario.distributions import ErrorRate
from nanoservices.scenario.kinds import KEYS, ONCE, WINDOWED
from nanoservices.scenario.load_checks import load_action
from nanoservices.scenario.quantities import seconds_text as secs
from nanoservices.scenario.quantities import version as parse_version
from nanoservices.scenario.schema import DeploySpec, EntrySpec, JudgeSpec, TargetSpec, VersionProfile
from nanoservices.scenario.world import World

MAX_OCCURRENCES = 10_000  # per `every:` entry; more is a typo for a longer interval
OPTIONS = {"keep": ("redblack", "canary"), "steps": ("rolling",), "share": ("canary",), "judge": ("canary",)}


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
    make = _ACTIONS[kind](checked, world, f"{where}.{kind}", entry, _short_form(checked, i, kind))
    if times is None or make is None:
        return []
    made = []
    for at in times:
        until = min(at + entry.for_, checked.duration) if entry.for_ is not None else checked.duration
        made.append(make(at, until, where))
    if isinstance(made[0], a.Deploy) and isinstance(made[0].strategy, a.Canary):
        _judge_fits(checked, where, made[0], entry.deploy)
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
                f"for applies only to latency, errors and partition; {kind} is instant, remove it",
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


Maker = Callable[[float, float, str], a.Action]


def _deploy(checked: Checked, world: World, where: str, entry: EntrySpec, _short: bool) -> Maker | None:
    spec = entry.deploy
    assert spec is not None
    before = len(checked.problems)
    problem = world.unknown_service(spec.service)
    if problem:
        checked.add(f"{where}.service", problem)
    for key, strategies in OPTIONS.items():
        if getattr(spec, key) is not None and spec.strategy not in strategies:
            checked.add(
                f"{where}.{key}",
                f"{key} applies only to strategy {' or '.join(strategies)}; remove it or change the strategy",
            )
    strategy = _strategy(checked, where, spec)
    if strategy is None or len(checked.problems) > before:
        return None
    return lambda at, _until, origin: a.Deploy(
        at=at, service=spec.service, version=spec.version, strategy=strategy, origin=origin
    )


def _strategy(checked: Checked, where: str, spec: DeploySpec) -> a.Strategy | None:
    keep = spec.keep if spec.keep is not None else a.DEFAULT_KEEP
    if spec.strategy == "redblack":
        return a.RedBlack(keep)
    if spec.strategy == "highlander":
        return a.Highlander()
    if spec.strategy == "rolling":
        steps = tuple(spec.steps) if spec.steps is not None else a.DEFAULT_STEPS
        if not steps:
            checked.add(f"{where}.steps", "no steps; give e.g. [25%, 50%, 100%]")
            return None
        for j in range(1, len(steps)):
            if steps[j] <= steps[j - 1]:
                checked.add(
                    f"{where}.steps[{j}]",
                    f"steps must increase: {steps[j]:.0%} is not above {steps[j - 1]:.0%}",
                )
                return None
        if steps[-1] != 1:
            checked.add(
                f"{where}.steps[{len(steps) - 1}]",
                f"the last step must be 100% so every instance is replaced, got {steps[-1]:.0%}",
            )
            return None
        return a.Rolling(steps)
    share = spec.share if spec.share is not None else a.DEFAULT_CANARY_SHARE
    if share >= 1:
        checked.add(
            f"{where}.share",
            "a canary takes part of the traffic, not 100%; give less, or use strategy redblack",
        )
        return None
    judge = _judge(checked, f"{where}.judge", spec.judge or JudgeSpec())
    return a.Canary(share, judge, keep) if judge else None


def _judge(checked: Checked, where: str, spec: JudgeSpec) -> a.Judge | None:
    default = a.Judge()
    judge = a.Judge(
        after=spec.after if spec.after is not None else default.after,
        interval=spec.interval,
        max_error_increase=_given(spec.max_error_increase, default.max_error_increase),
        max_p99_ratio=_given(spec.max_p99_ratio, default.max_p99_ratio),
        min_p99_increase=_given(spec.min_p99_increase, default.min_p99_increase),
        pass_score=_given(spec.pass_score, default.pass_score),
        marginal_score=_given(spec.marginal_score, default.marginal_score),
        inconclusive=spec.inconclusive or default.inconclusive,
    )
    before = len(checked.problems)
    if judge.after <= 0:
        checked.add(f"{where}.after", "after must be more than 0s: the judge needs canary traffic to compare")
    if judge.interval is not None and not 0 < judge.interval <= judge.after:
        checked.add(
            f"{where}.interval", f"interval must be more than 0s and at most after ({secs(judge.after)})"
        )
    if judge.max_p99_ratio < 1:
        checked.add(
            f"{where}.max_p99_ratio", f"max_p99_ratio {judge.max_p99_ratio:g} is below 1; use 1 or more"
        )
    for key in ("pass_score", "marginal_score"):
        if not 0 <= getattr(judge, key) <= 100:
            checked.add(f"{where}.{key}", f"{key} {getattr(judge, key):g} is outside 0-100")
    if judge.marginal_score > judge.pass_score:
        checked.add(
            f"{where}.marginal_score",
            f"marginal_score {judge.marginal_score:g} is above pass_score {judge.pass_score:g}; lower it",
        )
    return judge if len(checked.problems) == before else None


def _given(value: float | None, default: float) -> float:
    return default if value is None else value


def _judge_fits(checked: Checked, where: str, deploy: a.Deploy, spec: DeploySpec | None) -> None:
    assert isinstance(deploy.strategy, a.Canary)
    verdict = deploy.at + deploy.strategy.judge.after
    if verdict > checked.duration:
        given = spec is not None and spec.judge is not None and spec.judge.after is not None
        checked.add(
            f"{where}.deploy.judge.after" if given else f"{where}.deploy",
            f"the canary's judgement at {secs(verdict)} "
            f"({secs(deploy.at)} + {secs(deploy.strategy.judge.after)}) "
            f"comes after {checked.end_text()}; deploy earlier or shorten judge.after",
        )


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


def _rollback(checked: Checked, world: World, where: str, entry: EntrySpec, short: bool) -> Maker | None:
    assert entry.rollback is not None
    service = entry.rollback.service
    problem = world.unknown_service(service)
    if problem:
        checked.add(where if short else f"{where}.service", problem)
        return None
    return lambda at, _until, origin: a.Rollback(at=at, service=service, origin=origin)


def _monkey(checked: Checked, world: World, where: str, entry: EntrySpec, short: bool) -> Maker | None:
    assert entry.monkey is not None
    target = _target(checked, world, where, entry.monkey, short)
    if target is None:
        return None
    return lambda at, _until, origin: a.Monkey(at=at, target=target, origin=origin)


def _gorilla(checked: Checked, world: World, where: str, entry: EntrySpec, _short: bool) -> Maker | None:
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
    return lambda at, _until, origin: a.Gorilla(at=at, zone=zone, origin=origin)


def _kong(checked: Checked, world: World, where: str, entry: EntrySpec, _short: bool) -> Maker | None:
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
    return lambda at, _until, origin: a.Kong(at=at, region=text, origin=origin)


def _latency(checked: Checked, world: World, where: str, entry: EntrySpec, short: bool) -> Maker | None:
    spec = entry.latency
    assert spec is not None and spec.add is not None
    target = _target(checked, world, where, spec, short)
    if target is None:
        return None
    add = spec.add.to_model()
    return lambda at, until, origin: a.LatencyIncident(
        at=at, until=until, target=target, add=add, origin=origin
    )


def _errors(checked: Checked, world: World, where: str, entry: EntrySpec, short: bool) -> Maker | None:
    spec = entry.errors
    assert spec is not None and spec.rate is not None
    target = _target(checked, world, where, spec, short)
    if target is None:
        return None
    rate = spec.rate
    return lambda at, until, origin: a.ErrorIncident(
        at=at, until=until, target=target, rate=rate, origin=origin
    )


def _partition(checked: Checked, world: World, where: str, entry: EntrySpec, _short: bool) -> Maker | None:
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


_ACTIONS: dict[str, Callable[[Checked, World, str, EntrySpec, bool], Maker | None]] = {
    "deploy": _deploy,
    "rollback": _rollback,
    "monkey": _monkey,
    "gorilla": _gorilla,
    "kong": _kong,
    "latency": _latency,
    "errors": _errors,
    "partition": _partition,
    "load": load_action,
}


def _location(text: str) -> a.Location:
    region, _, zone = text.partition("/")
    return a.Location(region, zone)


def _inside(inner: a.Location, outer: a.Location) -> bool:
    return not outer.zone and inner.zone != "" and inner.region == outer.region


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
        if isinstance(action, a.LatencyIncident | a.ErrorIncident):
            kind = "latency" if isinstance(action, a.LatencyIncident) else "errors"
            key: tuple[str, object] = (kind, action.target)
            what = f"{kind} incident on {action.target}"
        elif isinstance(action, a.Partition):
            kind, key, what = (
                "partition",
                ("partition", frozenset(action.sides)),
                "partition between the same sides",
            )
        else:
            continue
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
