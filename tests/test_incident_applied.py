"""An incident's change that does not take hold on a host (it raised, or the host is gone) is said
so in events.jsonl and in the summary, host by host; failed lease renewals are counted. In process,
on simulated time (LocalFleet): the Simian code a Ray run uses."""

from __future__ import annotations

import asyncio
from pathlib import Path

from nanoservices.architecture import load_architecture
from nanoservices.config import RunConfig
from nanoservices.plan import expand
from nanoservices.runtime.local import LocalFleet, LocalRun
from nanoservices.scenario.asgard import Asgard
from nanoservices.scenario.events import EventKind
from nanoservices.scenario.simian import Simian
from nanoservices.scenario.timeline import run_timeline
from nanoservices.scenario.validate import parse_scenario
from nanoservices.summary import RunSummary, summarise

ARCHITECTURES = Path(__file__).resolve().parents[1] / "architectures"
LATENCY = """
timeline:
  - at: 1s
    for: 2s
    latency: {service: homepage, add: 100ms}
"""


def test_an_incident_that_fails_on_one_host_names_the_hosts_it_applied_on_and_the_one_it_did_not(
    tmp_path: Path,
) -> None:
    plan = expand(load_architecture(ARCHITECTURES / "netflixoss_arch.json"), 100, 1)
    run = LocalRun(plan, RunConfig(arch="netflixoss", instances_per_host=1, rate=20.0, out_dir=tmp_path))
    fleet = LocalFleet(run)
    homepage_hosts = sorted(run.host_of(s.name) for s in plan.instances if s.service == "homepage")
    broken = homepage_hosts[0]

    def refuses(profiles: object) -> int:
        raise ConnectionError("the host did not answer")

    run.hosts[broken].set_profiles = refuses  # type: ignore[method-assign]
    scenario = parse_scenario(LATENCY, "test.yaml", plan, 4.0)

    async def play() -> RunSummary:
        await run.start()
        await run_timeline(scenario, Asgard.of_plan(fleet, plan.instances), fleet, Simian(fleet))
        await fleet.wait(4.0 - fleet.now())
        return summarise(plan, run.config, await run.finish(), 0.0)

    summary = asyncio.run(play())
    start, end = (e for e in fleet.events if e.kind in (EventKind.INCIDENT_START, EventKind.INCIDENT_END))
    for event in (start, end):
        assert event.details["applied_hosts"] == homepage_hosts[1:]
        assert event.details["failed_hosts"] == {str(broken): "ConnectionError"}
    (incident,) = summary.incidents_failed
    assert incident["failed_hosts"] == {str(broken): "ConnectionError"}
    assert incident["end_failed_hosts"] == {str(broken): "ConnectionError"}
    assert (
        f"  latency homepage at 1.0 s: not applied on host {broken} (ConnectionError); applied on "
        f"{len(homepage_hosts) - 1} hosts; its end not applied on host {broken} (ConnectionError)"
    ) in summary.lines()


def test_failed_lease_renewals_are_counted_and_reported(tmp_path: Path) -> None:
    plan = expand(load_architecture(ARCHITECTURES / "lamp_arch.json"), 100, 1)
    run = LocalRun(plan, RunConfig(arch=plan.arch, instances_per_host=100, out_dir=tmp_path))

    async def play() -> RunSummary:
        await run.start()
        host = run.hosts[0]
        leases = sum(len(instances) for instances in host._leases.values())

        async def unreachable(registry: int, names: list[str], lease: float) -> None:
            raise ConnectionError("registry gone with its zone")

        run.peers.renew = unreachable  # type: ignore[method-assign]
        await host.renew_once()
        assert host.stats.renewals_failed == leases > 0
        return summarise(plan, run.config, await run.finish(), 0.0)

    summary = asyncio.run(play())
    renewals = summary.clients["renewals_failed"]
    assert renewals > 0
    (line,) = summary.client_lines()
    assert line.endswith(f", {renewals:,} lease renewals failed (a registry did not answer)")
