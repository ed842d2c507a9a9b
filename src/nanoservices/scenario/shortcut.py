"""`--deploy homepage@v2[:strategy]`: the common deploy without writing a scenario file.

Red/black by default, at a third of the run so there is traffic before and after it. A canary has
more to fit (its group starts, the judge's window, the rest of the new version starts, the old group
is kept, and the run before it adds nothing to the judge's comparison of the two groups side by
side): it starts at a tenth of the run with the default share, a judge window long enough for
twice the judge's minimum sample at the asked rate (the default window if longer, up to a third of
the run), and keeps the old group a fifteenth of the run (at most the default keep). Measured with
`run netflixoss -K 100 -d 15 --deploy homepage@v2:canary --no-chaos` on a 2-core machine at load
average 100: the canary group UP 2.2 s after the deploy at 1.5 s, 32 canary requests in its 7 s
window (40 estimated), the rest of v2 UP 2.8 s after the verdict, promoted at 14.97 s.
"""

from __future__ import annotations

import math
from collections import Counter

from nanoservices.model.quantities import seconds_text as secs
from nanoservices.model.quantities import version as parse_version
from nanoservices.packages.base import behaviour_for
from nanoservices.plan import DeploymentPlan
from nanoservices.problems import InputError, Problem
from nanoservices.scenario import actions as a
from nanoservices.scenario.judge import MIN_REQUESTS
from nanoservices.scenario.schema import STRATEGIES
from nanoservices.scenario.world import World

FLAG = "--deploy"
# The canary's requests fall short of the estimate: callers route to its group only after their
# next Eureka poll, and a busy machine does not reach the asked rate (the run: 18 canary
# requests in 5 s against 28.5 estimated). Size the window for twice the minimum.
SAMPLE_MARGIN = 2.0


def parse_deploy_shortcut(
    text: str, duration: float, plan: DeploymentPlan | None = None, rate: float | None = None
) -> a.Deploy:
    """The deploy `text` asks for; with `plan`, its service is checked too, and with `rate` (each
    traffic source's requests per second) a canary's window is sized for its minimum sample."""
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
    if strategy == "canary":
        at = duration / 10
        canary = _canary(text, duration, at, plan, rate)
        return a.Deploy(at=at, service=service, version=version, strategy=canary, origin=FLAG)
    at = duration / 3
    return a.Deploy(at=at, service=service, version=version, strategy=_strategy(strategy), origin=FLAG)


def _canary(
    text: str, duration: float, at: float, plan: DeploymentPlan | None, rate: float | None
) -> a.Canary:
    share = a.DEFAULT_CANARY_SHARE
    after = min(a.DEFAULT_JUDGE_AFTER, duration / 3)
    if plan is not None and rate is not None:
        service = text.partition("@")[0]
        reaching = requests_per_second(plan, service, rate)
        if reaching <= 0:
            problem = (
                f"{text!r}: no traffic source reaches {service}, so its canary's judge would have "
                "nothing to compare; deploy it with :redblack"
            )
            raise InputError([Problem(FLAG, "", problem)])
        needed = canary_window(reaching * share)
        if at + needed > duration:
            raise InputError([Problem(FLAG, "", _too_short(text, service, reaching, share, at, needed))])
        after = max(after, needed)
    return a.Canary(share, a.Judge(after=after), keep=min(a.DEFAULT_KEEP, duration / 15))


def canary_window(canary_rate: float) -> float:
    """Whole seconds in which a canary taking `canary_rate` (> 0) requests/s gets SAMPLE_MARGIN
    times the judge's minimum sample."""
    return float(math.ceil(SAMPLE_MARGIN * MIN_REQUESTS / canary_rate))


def requests_per_second(plan: DeploymentPlan, service: str, rate: float) -> float:
    """An estimate of the requests per second reaching `service`: each traffic source sends `rate`,
    and a caller passes each request to one instance of its dependencies picked uniformly (the
    rule of the sources and the forwarding packages), so a dependency gets the share its instances
    are of the caller's dependency instances. Loops (a ring calling itself) add nothing."""
    counts = Counter(spec.service for spec in plan.instances)
    dependencies = {spec.service: spec.dependencies for spec in plan.instances}
    sources = {spec.service for spec in plan.instances if behaviour_for(spec.package).generates_traffic}

    def into(target: str, path: frozenset[str]) -> float:
        flow = rate * counts[target] if target in sources else 0.0
        for caller, deps in dependencies.items():
            if target in deps and caller not in path and caller != target:
                reachable = sum(counts[d] for d in deps if d in counts)
                flow += into(caller, path | {target}) * counts[target] / reachable
        return flow

    return into(service, frozenset())


def _too_short(text: str, service: str, reaching: float, share: float, at: float, needed: float) -> str:
    return (
        f"{text!r}: the canary's {share:.0%} of {service}'s ~{reaching:.3g} requests/s needs a "
        f"{secs(needed)} judge window for {SAMPLE_MARGIN:g}x the judge's minimum of {MIN_REQUESTS} "
        f"requests, and from {secs(at)} that ends after the run; "
        f"run longer (-d {secs(math.ceil(needed / 0.9))}) or raise --rate"
    )


def _strategy(name: str) -> a.Strategy:
    if name == "rolling":
        return a.Rolling()
    if name == "highlander":
        return a.Highlander()
    return a.RedBlack()
