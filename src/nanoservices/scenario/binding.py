"""A run's scenario from its flags: the `--scenario` file and any `--deploy` shortcuts, checked
against the plan before Ray starts (every problem at once, one line each)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from nanoservices.plan import DeploymentPlan
from nanoservices.problems import InputError, Problem
from nanoservices.scenario.actions import Deploy, Scenario

# Deploys start new instances beside the old; a data store's new instances would hold none of
# its data (and priamCassandra's ring names its members), so deploys are of stateless services.
STATEFUL = frozenset({"priamCassandra", "riak", "store", "cache", "volume", "denominator", "pirate"})


def run_scenario(
    file: Path | None, deploys: Sequence[str], plan: DeploymentPlan, duration: float
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
            extra.append(parse_deploy_shortcut(text, duration, plan))
        except InputError as exc:
            problems += exc.problems
    scenario = scenario.with_actions(extra)
    source = str(file) if file is not None else "--deploy"
    packages = {s.service: s.package for s in plan.instances}
    for action in scenario.actions:
        if isinstance(action, Deploy) and packages.get(action.service) in STATEFUL:
            where = action.origin
            problems.append(
                Problem(
                    source,
                    where,
                    f"{action.service} is a {packages[action.service]}: deploys are of "
                    "stateless services (elb, zuul, karyon, monolith, staash); pick one of those",
                )
            )
    if problems:
        raise InputError(problems)
    return scenario
