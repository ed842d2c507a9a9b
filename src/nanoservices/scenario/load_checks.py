"""The `load:` timeline action: the rules that need the plan and the entry, and the typed action.

Why apart from checks.py: traffic shapes are their own small language (a step, a ramp, a diurnal
wave, a burst for a while) with their own rules: one shape per entry, a ramp or wave that takes
time, `for` only on a burst, and a service that sends traffic (a denominator) to shape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from nanoservices.load import Burst, Diurnal, Ramp, Shape, Step
from nanoservices.packages.base import behaviour_for
from nanoservices.scenario import actions as a

if TYPE_CHECKING:  # not at run time: kinds.py imports this checker, and the schema imports kinds.py
    from nanoservices.scenario.checks import Checked
    from nanoservices.scenario.schema import EntrySpec
    from nanoservices.scenario.world import World

SHAPES = ("rate", "ramp", "diurnal", "burst")
NAMES = {"rate": "step (rate:)", "ramp": "ramp", "diurnal": "diurnal wave"}
Maker = Callable[[float, float, str], a.Action]


def traffic_sources(checked: Checked) -> list[str]:
    """The plan's services whose instances send traffic (denominators), in plan order."""
    found: dict[str, None] = {}
    for spec in checked.plan.instances:
        if behaviour_for(spec.package).generates_traffic:
            found.setdefault(spec.service)
    return list(found)


def load_action(checked: Checked, world: World, where: str, entry: EntrySpec, _short: bool) -> Maker | None:
    spec = entry.load
    assert spec is not None
    ok = True
    sources = traffic_sources(checked)
    if spec.service not in sources:
        problem = world.unknown_service(spec.service)
        if problem is None:
            problem = f"{spec.service} sends no traffic of its own"
        checked.add(
            f"{where}.service",
            f"{problem}; a load action shapes a traffic source: {', '.join(sources) or 'none here'}",
        )
        ok = False
    given = [name for name in SHAPES if getattr(spec, name) is not None]
    if len(given) != 1:
        shown = ", ".join(given) if given else "none"
        checked.add(where, f"give exactly one of rate, ramp, diurnal, burst (got {shown})")
        return None
    kind = given[0]
    if entry.for_ is not None and kind != "burst":
        checked.add(
            f"{where.rsplit('.', 1)[0]}.for",
            f"for applies to a burst only; a {NAMES[kind]} lasts until the next change, remove for",
        )
        ok = False
    shape: Shape
    if spec.ramp is not None:
        if not spec.ramp.over or spec.ramp.over <= 0:
            checked.add(
                f"{where}.ramp.over", "a ramp takes time: give over more than 0s, or use rate: for a step"
            )
            ok = False
        shape = Ramp(spec.ramp.to, spec.ramp.over or 0.0)
    elif spec.diurnal is not None:
        wave = spec.diurnal
        if not wave.period or wave.period <= 0:
            checked.add(f"{where}.diurnal.period", "give a period more than 0s, such as 60s")
            ok = False
        if wave.min > wave.max:
            checked.add(f"{where}.diurnal", f"min {wave.min:g} is above max {wave.max:g}; swap them")
            ok = False
        shape = Diurnal(wave.min, wave.max, wave.period or 0.0)
    elif spec.burst is not None:
        shape = Burst(spec.burst, 0.0)  # its length is the entry's for (to the end of the run without)
    else:
        shape = Step(spec.rate or 0.0)
    if not ok:
        return None
    service = spec.service
    return lambda at, until, origin: a.Load(at=at, service=service, shape=shape, until=until, origin=origin)
