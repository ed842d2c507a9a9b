"""The `deploy:` timeline action: its strategy's options, its canary judge and whether the
judgement comes before the run ends.

Why apart from checks.py: a deploy is the one action with sub-options per strategy and a judge
with rules of its own; the other actions are a target or a place (entry_checks.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nanoservices.model.quantities import seconds_text as secs
from nanoservices.scenario import actions as a
from nanoservices.scenario.entry_checks import Maker

if TYPE_CHECKING:
    from nanoservices.scenario.checks import Checked
    from nanoservices.scenario.schema import DeploySpec, EntrySpec, JudgeSpec
    from nanoservices.scenario.world import World

OPTIONS = {"keep": ("redblack", "canary"), "steps": ("rolling",), "share": ("canary",), "judge": ("canary",)}


def deploy_action(checked: Checked, world: World, where: str, entry: EntrySpec, _short: bool) -> Maker | None:
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

    def make(at: float, _until: float, origin: str) -> a.Action:
        deploy = a.Deploy(at=at, service=spec.service, version=spec.version, strategy=strategy, origin=origin)
        _judge_fits(checked, origin, deploy, spec)
        return deploy

    return make


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
    judge = _judge(checked, f"{where}.judge", spec.judge)
    return a.Canary(share, judge, keep) if judge else None


def _judge(checked: Checked, where: str, spec: JudgeSpec | None) -> a.Judge | None:
    """The judge the entry asks for: a.Judge's defaults for what it leaves out (all without judge:)."""
    default = a.Judge()

    def given(key: str) -> Any:
        value = getattr(spec, key) if spec is not None else None
        return getattr(default, key) if value is None else value

    judge = a.Judge(
        after=given("after"),
        interval=given("interval"),
        max_error_increase=given("max_error_increase"),
        max_p99_ratio=given("max_p99_ratio"),
        min_p99_increase=given("min_p99_increase"),
        pass_score=given("pass_score"),
        marginal_score=given("marginal_score"),
        inconclusive=given("inconclusive"),
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


def _judge_fits(checked: Checked, where: str, deploy: a.Deploy, spec: DeploySpec | None) -> None:
    """A canary's final judgement must come before the run ends."""
    if not isinstance(deploy.strategy, a.Canary):
        return
    verdict = deploy.at + deploy.strategy.judge.after
    if verdict > checked.duration:
        given = spec is not None and spec.judge is not None and spec.judge.after is not None
        checked.add(
            f"{where}.deploy.judge.after" if given else f"{where}.deploy",
            f"the canary's judgement at {secs(verdict)} "
            f"({secs(deploy.at)} + {secs(deploy.strategy.judge.after)}) "
            f"comes after {checked.end_text()}; deploy earlier or shorten judge.after",
        )
