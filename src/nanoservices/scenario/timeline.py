"""Runs a scenario's actions on the run's clock: each at its time, deploys in the background so a
later action (a rollback, a chaos kill) is not held up by a deploy's waits. An incident (latency,
errors, partition) is two steps, its start at `at` and its end at `until`; at one instant ends
come before starts, so back-to-back windows hand over cleanly. What each kind does is a method of
`Steps`, named by its row of scenario/kinds.py."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from nanoservices.scenario import kinds
from nanoservices.scenario.actions import Action, Deploy, Incident, Load, Rollback, Scenario
from nanoservices.scenario.asgard import Asgard, Fleet
from nanoservices.scenario.events import Event, EventKind
from nanoservices.scenario.load_events import load_event
from nanoservices.scenario.simian import Simian

CHAOS = kinds.CHAOS  # the Simian Army's actions: --no-chaos drops them


@dataclass(frozen=True)
class End:
    """The end of an incident's window (or of a load burst)."""

    incident: Incident | Load

    @property
    def at(self) -> float:
        return self.incident.until


def has_chaos(scenario: Scenario | None) -> bool:
    """A scenario with Simian Army actions replaces --chaos's single kill at half time."""
    return scenario is not None and any(kinds.of(a).chaos for a in scenario.actions)


def without_chaos(scenario: Scenario) -> Scenario:
    """--no-chaos: the deploys still run, the Simian Army does not."""
    kept = tuple(a for a in scenario.actions if not kinds.of(a).chaos)
    return Scenario(scenario.duration, kept, scenario.versions, scenario.source)


def steps(scenario: Scenario) -> list[Action | End]:
    """The actions and the ends of their windows, by time; ends first at a tie, then file order. A
    kind with an ender has an end when its window has a length (a load has one only as a burst)."""
    timed: list[tuple[float, int, int, Action | End]] = []
    for n, action in enumerate(scenario.actions):
        timed.append((action.at, 1, n, action))
        if kinds.of(action).ender and getattr(action, "until", 0.0) > action.at:
            timed.append((action.until, 0, n, End(action)))  # type: ignore[union-attr, arg-type]
    return [step for *_, step in sorted(timed, key=lambda t: t[:3])]


class Steps:
    """What the timeline does for each kind at its time and at its window's end: kinds.Kind.runner
    and .ender name the method, of the Simian Army for a chaos kind, else of this class. Deploys
    run as tasks of their own (`running`, by service)."""

    def __init__(self, asgard: Asgard, fleet: Fleet, simian: Simian | None) -> None:
        self.asgard = asgard
        self.fleet = fleet
        self.simian = simian
        self.running: dict[str, asyncio.Task[object]] = {}

    async def run(self, step: Action | End) -> None:
        action = step.incident if isinstance(step, End) else step
        kind = kinds.of(action)
        if kind.chaos and self.simian is None:
            raise RuntimeError(f"{type(action).__name__} needs a runtime with chaos (a ChaosFleet)")
        name = kind.ender if step is not action else kind.runner
        runner = getattr(self.simian if kind.chaos else self, name)
        await runner(action)

    async def deploy(self, step: Deploy) -> None:
        self.running[step.service] = asyncio.get_running_loop().create_task(self.asgard.deploy(step))

    async def rollback(self, step: Rollback) -> None:
        deploying = self.running.pop(step.service, None)
        if deploying is not None and not deploying.done():
            deploying.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await deploying
        await self.asgard.rollback(step.service)

    async def load(self, step: Load) -> None:
        """The sources have the schedule already: only the event."""
        self.fleet.emit(load_event(step, self.fleet.now()))

    async def load_end(self, step: Load) -> None:
        self.fleet.emit(Event(self.fleet.now(), EventKind.LOAD_END, step.service, details={"shape": "burst"}))


async def run_timeline(
    scenario: Scenario, asgard: Asgard, fleet: Fleet, simian: Simian | None = None
) -> None:
    run = Steps(asgard, fleet, simian)
    try:
        for step in steps(scenario):
            if not await fleet.wait(step.at - fleet.now()):
                break
            await run.run(step)
        if run.running:
            await asyncio.gather(*run.running.values(), return_exceptions=True)
    finally:
        for task in run.running.values():
            task.cancel()
        # Each cancelled deploy records how it ended (unfinished, interrupted) before the timeline ends.
        await asyncio.gather(*run.running.values(), return_exceptions=True)
        if simian is not None:
            await simian.end_all()


async def stop_timeline(timeline: asyncio.Task[None], asgard: Asgard, how: str, bound: float) -> None:
    """The run ends (`how`: asgard.UNFINISHED at -d, asgard.INTERRUPTED on a stop) and its fleet's
    clock has stopped: deploys under way end so at once, with their phase, and nothing of theirs
    runs on past the run's end; a chaos action under way completes, incidents in force end. Raises
    what the timeline raised; asyncio.TimeoutError (the timeline cancelled) after `bound` s."""
    asgard.end(how)
    done, _ = await asyncio.wait({timeline}, timeout=bound)
    if not done:
        timeline.cancel()
        raise asyncio.TimeoutError
    timeline.result()
