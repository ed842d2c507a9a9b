"""Runs a scenario's actions on the run's clock: each at its time, deploys in the background so a
later action (a rollback, a chaos kill) is not held up by a deploy's waits."""

from __future__ import annotations

import asyncio
import contextlib

from nanoservices.scenario.actions import Deploy, Rollback, Scenario
from nanoservices.scenario.asgard import Asgard, Fleet

SUPPORTED = (Deploy, Rollback)


def unsupported(scenario: Scenario) -> list[str]:
    """Actions this version validates but cannot run yet, by their place in the file."""
    return [
        f"{action.origin or type(action).__name__}: {type(action).__name__.lower()} is not supported yet by "
        "the runtime; remove it (deploy and rollback are)"
        for action in scenario.actions
        if not isinstance(action, SUPPORTED)
    ]


async def run_timeline(scenario: Scenario, asgard: Asgard, fleet: Fleet) -> None:
    running: dict[str, asyncio.Task[object]] = {}
    try:
        for action in scenario.actions:
            if not await fleet.wait(action.at - fleet.now()):
                break
            if isinstance(action, Deploy):
                running[action.service] = asyncio.get_running_loop().create_task(asgard.deploy(action))
            elif isinstance(action, Rollback):
                deploying = running.pop(action.service, None)
                if deploying is not None and not deploying.done():
                    deploying.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await deploying
                await asgard.rollback(action.service)
        if running:
            await asyncio.gather(*running.values(), return_exceptions=True)
    finally:
        for task in running.values():
            task.cancel()
