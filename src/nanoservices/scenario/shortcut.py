"""`--deploy homepage@v2[:strategy]`: the common deploy without writing a scenario file.

Red/black by default, at a third of the run so there is traffic before and after it; a canary
gets the default share and a judge window that ends by two thirds of the run.
"""

from __future__ import annotations

from nanoservices.plan import DeploymentPlan
from nanoservices.problems import InputError, Problem
from nanoservices.scenario import actions as a
from nanoservices.scenario.quantities import version as parse_version
from nanoservices.scenario.schema import STRATEGIES
from nanoservices.scenario.world import World

FLAG = "--deploy"


def parse_deploy_shortcut(text: str, duration: float, plan: DeploymentPlan | None = None) -> a.Deploy:
    """The deploy `text` asks for; with `plan`, its service is checked too."""
    target, _, strategy = text.partition(":")
    service, at_sign, version = target.partition("@")
    problems = []
    if not at_sign or not service:
        problems.append(f"{text!r} should be service@version[:strategy], e.g. homepage@v2:canary")
    else:
        try:
            parse_version(version)
        except ValueError as exc:
            problems.append(f"{text!r}: {exc}")
        unknown = World.of(plan).unknown_service(service) if plan is not None else None
        if unknown:
            problems.append(f"{text!r}: {unknown}")
    strategy = strategy or "redblack"
    if strategy not in STRATEGIES:
        problems.append(
            f"{text!r}: unknown strategy {strategy!r}; use redblack, rolling, canary or highlander"
        )
    if not duration > 0:
        problems.append(f"{text!r}: a deploy needs a run longer than 0s")
    if problems:
        raise InputError([Problem(FLAG, "", p) for p in problems])
    at = duration / 3
    return a.Deploy(at=at, service=service, version=version, strategy=_strategy(strategy, at), origin=FLAG)


def _strategy(name: str, at: float) -> a.Strategy:
    if name == "canary":
        return a.Canary(judge=a.Judge(after=min(a.DEFAULT_JUDGE_AFTER, at)))
    if name == "rolling":
        return a.Rolling()
    if name == "highlander":
        return a.Highlander()
    return a.RedBlack()
