"""A `versions:` profile of the version a service starts with (`homepage@v1`) applies from the run's
start, in process on simulated time; a version deployed later still layers its own profile over the
architecture's, not over the starting version's. Before, such a profile was accepted and ignored."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from nanoservices.architecture import load_architecture
from nanoservices.config import RunConfig
from nanoservices.outputs import histogram
from nanoservices.outputs.series import series_rows
from nanoservices.plan import expand
from nanoservices.runtime.local import LocalFleet, LocalRun
from nanoservices.scenario.asgard import Asgard
from nanoservices.scenario.binding import with_running_profiles
from nanoservices.scenario.distributions import ErrorRate, Fixed
from nanoservices.scenario.simian import Simian
from nanoservices.scenario.timeline import run_timeline
from nanoservices.scenario.validate import parse_scenario

ARCHITECTURES = Path(__file__).resolve().parents[1] / "architectures"
DURATION = 12.0
SCENARIO = """
versions:
  homepage@v1: {latency: 50ms}
  homepage@v3: {errors: 0.5}
timeline:
  - at: 6s
    deploy: {service: homepage, version: v2, strategy: redblack, keep: 1s}
"""


def play(text: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The series rows of homepage by (second, version): the slowest and fastest bucket bounds."""
    base = expand(load_architecture(ARCHITECTURES / "netflixoss_arch.json"), 100, 1)
    plan, scenario = with_running_profiles(base, parse_scenario(text, "t.yaml", base, DURATION))
    assert scenario is not None
    config = RunConfig(arch="netflixoss", instances_per_host=100, rate=20.0, seed=3)

    async def run() -> tuple[dict[str, Any], dict[str, Any]]:
        local = LocalRun(plan, config)
        fleet = LocalFleet(local, dict(scenario.versions))
        await local.start()
        await run_timeline(scenario, Asgard.of_plan(fleet, plan.instances), fleet, Simian(fleet))
        await fleet.wait(DURATION - fleet.now())
        profiles = {
            instance.spec.version: instance.profile
            for host in local.hosts
            for instance in host.instances.values()
            if instance.spec.service == "homepage"
        }
        return await local.finish(), profiles

    result, profiles = asyncio.run(run())
    return result, profiles


def test_the_starting_versions_profile_applies_from_the_start() -> None:
    result, profiles = play(SCENARIO)
    assert profiles["v1"].latency == Fixed(0.05)  # type: ignore[union-attr]
    # v2 has no profile: nothing of v1's 50 ms; the architecture gives homepage none either
    assert profiles["v2"].latency == Fixed(0.0) and profiles["v2"].errors == ErrorRate(0.0)  # type: ignore[union-attr]
    slow = 0.05 * (1 - histogram.RELATIVE_ERROR)
    fastest: dict[tuple[int, str], float] = {}
    for second, service, version, _zone, row in series_rows(result.stats["series"]):
        if service == "homepage" and row["h"]:
            key = (second, version)
            fastest[key] = min(fastest.get(key, 1.0), *(histogram.upper_bound(int(b)) for b in row["h"]))
    v1 = [s for s, v in fastest if v == "v1"]
    v2 = [s for s, v in fastest if v == "v2"]
    assert v1 and min(v1) == 0 and v2
    assert all(fastest[s, "v1"] >= slow for s in v1)  # every v1 reply took the 50 ms, from second 0
    assert all(fastest[s, "v2"] < slow for s in v2)


def test_without_a_starting_profile_nothing_changes() -> None:
    base = expand(load_architecture(ARCHITECTURES / "netflixoss_arch.json"), 100, 1)
    text = SCENARIO.replace("homepage@v1", "homepage@v4")
    scenario = parse_scenario(text, "t.yaml", base, DURATION)
    assert with_running_profiles(base, scenario) == (base, scenario)
    assert with_running_profiles(base, None) == (base, None)
