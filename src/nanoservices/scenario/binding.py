"""A run's scenario from its flags: the `--scenario` file and any `--deploy` shortcuts, checked
against the plan before Ray starts (every problem at once, one line each)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from nanoservices.model.distributions import ErrorRate, Fixed
from nanoservices.model.quantities import seconds_text
from nanoservices.packages.capabilities import deployable, deployable_packages
from nanoservices.plan import DeploymentPlan
from nanoservices.problems import InputError, Problem
from nanoservices.scenario.actions import (
    Action,
    Deploy,
    ErrorIncident,
    Gorilla,
    Kong,
    LatencyIncident,
    Monkey,
    Partition,
    Scenario,
    VersionBehaviour,
)


def run_scenario(
    file: Path | None,
    deploys: Sequence[str],
    plan: DeploymentPlan,
    duration: float,
    rate: float | None = None,  # each traffic source's requests/s: sizes a --deploy canary's window
) -> Scenario | None:
    if file is None and not deploys:
        return None
    from nanoservices.scenario.shortcut import parse_deploy_shortcut
    from nanoservices.scenario.validate import load_scenario

    problems: list[Problem] = []
    scenario = Scenario(duration)
    if file is not None:
        try:
            scenario = load_scenario(file, plan, duration)
        except InputError as exc:
            problems += exc.problems
    extra = []
    for text in deploys:
        try:
            extra.append(parse_deploy_shortcut(text, duration, plan, rate))
        except InputError as exc:
            problems += exc.problems
    scenario = scenario.with_actions(extra)
    source = str(file) if file is not None else "--deploy"
    packages = {s.service: s.package for s in plan.instances}
    for action in scenario.actions:
        package = packages.get(action.service) if isinstance(action, Deploy) else None
        if package is not None and not deployable(package):
            where = action.origin
            problems.append(
                Problem(
                    source,
                    where,
                    f"{action.service} is a {package}: deploys are of "
                    f"stateless services ({', '.join(deployable_packages())}); pick one of those",
                )
            )
    if problems:
        raise InputError(problems)
    return scenario


def with_running_profiles(
    plan: DeploymentPlan, scenario: Scenario | None
) -> tuple[DeploymentPlan, Scenario | None]:
    """A `versions:` profile of the version a service starts with applies from the run's start: the
    plan's instances of it serve with that profile over the architecture's.

    A deploy grows its new group from the running instances' specs and lays the new version's
    profile over theirs, so every other version of such a service gets a profile in which nothing is
    left to inherit (no latency is `0s`, no errors rate 0): what a version leaves out is still the
    architecture's, never the starting version's."""
    if scenario is None:
        return plan, None
    first = {spec.service: (spec.version, spec.profile) for spec in reversed(plan.instances)}
    started = {service for service, version in scenario.versions if first.get(service, ("",))[0] == version}
    if not started:
        return plan, scenario
    instances = tuple(
        replace(spec, profile=scenario.versions[spec.service, spec.version].over(spec.profile))
        if (spec.service, spec.version) in scenario.versions
        else spec
        for spec in plan.instances
    )
    keys = {*scenario.versions, *((a.service, a.version) for a in scenario.actions if isinstance(a, Deploy))}
    versions = dict(scenario.versions)
    for service, version in keys:
        if service in started:
            own = versions.get((service, version), VersionBehaviour()).over(first[service][1])
            versions[service, version] = VersionBehaviour(
                own.latency if own.latency is not None else Fixed(0.0),
                own.errors if own.errors is not None else ErrorRate(0.0),
                own.capacity,
            )
    return (
        replace(plan, instances=instances),
        Scenario(scenario.duration, scenario.actions, versions, scenario.source),
    )


def skipped_chaos(scenario: Scenario | None) -> list[dict[str, object]]:
    """What --no-chaos leaves out of `scenario`: each Simian Army action's kind, target and time, for
    the one progress line and summary.json's `skipped_actions` (nothing is dropped without a word)."""
    from nanoservices.scenario.timeline import CHAOS

    if scenario is None:
        return []
    skipped: list[dict[str, object]] = []
    for action in scenario.actions:
        if not isinstance(action, CHAOS):
            continue
        record: dict[str, object] = {"kind": _KINDS[type(action)], "target": _target(action), "at": action.at}
        if isinstance(action, LatencyIncident | ErrorIncident | Partition):
            record["until"] = action.until
        record["origin"] = action.origin
        skipped.append(record)
    return skipped


def skipped_line(skipped: Sequence[dict[str, object]], source: str) -> str:
    """`--no-chaos: skipped 2 chaos actions of x.yaml: gorilla us-east-1/zoneB at 18s, ...`."""
    parts = []
    for record in skipped:
        when = f"at {seconds_text(float(str(record['at'])))}"
        if "until" in record:
            when = f"{seconds_text(float(str(record['at'])))}-{seconds_text(float(str(record['until'])))}"
        parts.append(f"{record['kind']} {record['target']} {when}")
    noun = "action" if len(skipped) == 1 else "actions"
    return f"--no-chaos: skipped {len(skipped)} chaos {noun} of {source}: {', '.join(parts)}"


_KINDS: dict[type, str] = {
    Monkey: "monkey",
    Gorilla: "gorilla",
    Kong: "kong",
    LatencyIncident: "latency",
    ErrorIncident: "errors",
    Partition: "partition",
}


def _target(action: Action) -> str:
    if isinstance(action, Gorilla):
        return str(action.zone)
    if isinstance(action, Kong):
        return action.region
    if isinstance(action, Partition):
        return " | ".join(str(side) for side in action.sides)
    if isinstance(action, Monkey | LatencyIncident | ErrorIncident):
        return str(action.target)
    return ""
