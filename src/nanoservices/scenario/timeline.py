"""Runs a scenario's actions on the run's clock: each at its time, deploys in the background so a
later action (a rollback, a chaos kill) is not held up by a deploy's waits. An incident (latency,
errors, partition) is two steps, its start at `at` and its end at `until`; at one instant ends
come before starts, so back-to-back windows hand over cleanly."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from nanoservices.load import Burst
from nanoservices.scenario import kinds
from nanoservices.scenario.actions import (
    Action,
    Deploy,
    ErrorIncident,
    Gorilla,
    Incident,
    Kong,
    LatencyIncident,
    Load,
    Monkey,
    Partition,
    Rollback,
    Scenario,
)
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
    return scenario is not None and any(isinstance(a, CHAOS) for a in scenario.actions)


def without_chaos(scenario: Scenario) -> Scenario:
    """--no-chaos: the deploys still run, the Simian Army does not."""
    kept = tuple(a for a in scenario.actions if not isinstance(a, CHAOS))
    return Scenario(scenario.duration, kept, scenario.versions, scenario.source)


def steps(scenario: Scenario) -> list[Action | End]:
    """The actions and the ends of incidents, by time; ends first at a tie, then file order."""
    timed: list[tuple[float, int, int, Action | End]] = []
    for n, action in enumerate(scenario.actions):
        timed.append((action.at, 1, n, action))
        if isinstance(action, LatencyIncident | ErrorIncident | Partition) or (
            isinstance(action, Load) and isinstance(action.shape, Burst)
        ):
            timed.append((action.until, 0, n, End(action)))
    return [step for *_, step in sorted(timed, key=lambda t: t[:3])]


async def run_timeline(
    scenario: Scenario, asgard: Asgard, fleet: Fleet, simian: Simian | None = None
) -> None:
    running: dict[str, asyncio.Task[object]] = {}
    try:
        for step in steps(scenario):
            if not await fleet.wait(step.at - fleet.now()):
                break
            if isinstance(step, Deploy):
                running[step.service] = asyncio.get_running_loop().create_task(asgard.deploy(step))
            elif isinstance(step, Rollback):
                deploying = running.pop(step.service, None)
                if deploying is not None and not deploying.done():
                    deploying.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await deploying
                await asgard.rollback(step.service)
            elif isinstance(step, Load):  # the sources have the schedule already: only the event
                fleet.emit(load_event(step, fleet.now()))
            elif isinstance(step, End) and isinstance(step.incident, Load):
                ended = step.incident.service
                fleet.emit(Event(fleet.now(), EventKind.LOAD_END, ended, details={"shape": "burst"}))
            elif simian is None:
                raise RuntimeError(f"{type(step).__name__} needs a runtime with chaos (a ChaosFleet)")
            elif isinstance(step, Monkey):
                await simian.monkey(step)
            elif isinstance(step, Gorilla | Kong):
                await simian.lose(step)
            elif isinstance(step, End):
                await simian.end(step.incident)
            else:
                await simian.start(step)
        if running:
            await asyncio.gather(*running.values(), return_exceptions=True)
    finally:
        for task in running.values():
            task.cancel()
        # Each cancelled deploy records how it ended (unfinished, interrupted) before the timeline ends.
        await asyncio.gather(*running.values(), return_exceptions=True)
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
