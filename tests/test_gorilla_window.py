"""The gorilla run's failure window on simulated time: the fake-clock version of
tests/test_gorilla_run.py (two real CLI runs, judged in real seconds). A Chaos Gorilla takes zoneB
of netflixoss 5 s into the traffic; users see failures only from the gorilla until Eureka evicted
the zone's leases (self-preservation drains them over rounds), plus one poll for the callers to
learn it, plus one request timeout for the requests already sent.

In process (LocalRun, LocalFleet) every host, registry and eviction timer reads the fleet's
simulated clock, so the rounds and the window are exact. Callers black a failing server out for
10 s (Ribbon's): without the eviction, failures would come back at 15 s; the run lasts 22 s."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

from nanoservices.architecture import load_architecture
from nanoservices.config import RunConfig
from nanoservices.outputs.eureka import last_eviction
from nanoservices.plan import DeploymentPlan, expand
from nanoservices.registry import EXPIRY_PERIODS, SELF_PRESERVATION, EvictionTimer
from nanoservices.runtime.local import LocalFleet, LocalRun
from nanoservices.scenario.asgard import Asgard
from nanoservices.scenario.simian import Simian
from nanoservices.scenario.timeline import run_timeline
from nanoservices.scenario.validate import parse_scenario
from nanoservices.summary import RunSummary, summarise

ARCHITECTURES = Path(__file__).resolve().parents[1] / "architectures"
RATE = 20.0  # requests/s from the denominator: a tick is 0.05 s
DURATION = 22.0
POLL, TIMEOUT, RENEWAL = 0.5, 2.0, 1.0  # -u, --request-timeout, --lease-renewal: the Ray test's
ZONES = ("us-east-1/zoneA", "us-east-1/zoneB", "us-east-1/zoneC")
GORILLA = """
timeline:
  - at: 5s
    gorilla: us-east-1/zoneB
"""


class LeasedFleet(LocalFleet):
    """LocalFleet plus what a Ray run's hosts and registries do on their own timers: every host's
    heartbeat each renewal period, and each registry's eviction round (registry.EvictionTimer, the
    Registry actor's own rounds), both on the simulated clock, once per tick when due."""

    def __init__(self, run: LocalRun) -> None:
        super().__init__(run)
        for registry in run.peers.registries:
            registry.clock = self.clock
        lease = EXPIRY_PERIODS * run.config.lease_renewal
        self.timers = [EvictionTimer(registry, lease, 0.0) for registry in run.peers.registries]
        self.next_heartbeat = run.config.lease_renewal

    async def wait(self, seconds: float) -> bool:
        tick = self.run.config.behaviour_settings.request_interval
        for _ in range(max(0, round(seconds / tick))):
            await super().wait(tick)
            now = self.now()
            if now + 1e-9 >= self.next_heartbeat:
                self.next_heartbeat += self.run.config.lease_renewal
                live = [h for i, h in enumerate(self.run.hosts) if i not in self.run.peers.dead]
                await asyncio.gather(*(host.renew_once() for host in live))
            for timer in self.timers:
                if timer.wait(now) < 1e-9:
                    timer.fire(now)
        return True


def netflixoss() -> DeploymentPlan:
    return expand(load_architecture(ARCHITECTURES / "netflixoss_arch.json"), 100, 1)


def plan_instances() -> list[str]:
    return [s.name for s in netflixoss().instances]


def capped_rounds(online: int, expired: int, first: float) -> dict[float, int]:
    """Eureka's eviction limit worked by hand: each round at most `n - int(n * 0.85)` of the n
    online leases (registry.SELF_PRESERVATION), one round a renewal period."""
    rounds, at = {}, first
    while expired:
        count = min(expired, online - int(online * (1 - SELF_PRESERVATION)))
        rounds[at] = count
        online, expired, at = online - count, expired - count, at + RENEWAL
    return rounds


def gorilla_run(tmp_path: Path) -> RunSummary:
    plan = netflixoss()
    config = RunConfig(
        arch="netflixoss",
        rate=RATE,
        seed=11,
        poll_interval=POLL,
        request_timeout=TIMEOUT,
        lease_renewal=RENEWAL,
        retries=0,  # every failure the zone causes reaches the user: the window is not vacuous
        out_dir=tmp_path,
    )
    scenario = parse_scenario(GORILLA, "gorilla.yaml", plan, DURATION)

    async def play() -> RunSummary:
        run = LocalRun(plan, config)
        fleet = LeasedFleet(run)
        await run.start()
        await run_timeline(scenario, Asgard.of_plan(fleet, plan.instances), fleet, Simian(fleet))
        await fleet.wait(DURATION - fleet.now())
        return summarise(plan, config, await run.finish(), 0.0)

    return asyncio.run(play())


def test_a_gorilla_fails_requests_only_until_its_zone_is_evicted_on_simulated_time(tmp_path: Path) -> None:
    summary = gorilla_run(tmp_path)
    assert summary.accounted, summary.accounting_problems
    (gorilla,) = summary.phases
    assert (gorilla["kind"], gorilla["at"]) == ("gorilla", 5.0)
    eureka = summary.eureka
    zone_leases = gorilla["instances"]
    # Every registry evicted its replica of each lost lease (in process, as in a Ray run on one
    # machine, the zone's Eureka server outlives its zone).
    assert eureka["per_registry"] == dict.fromkeys(ZONES, zone_leases)
    assert eureka["revived"] == 0  # no live instance's heartbeat came late: the clock is exact
    # The zone's last heartbeat was at 5.0, in the tick before the gorilla's; its leases hold for
    # three periods, so the first round past 8.0 evicts (9.0). Self-preservation caps each round at
    # 15 % of the online leases, so the rest go in the next rounds, one a second.
    rounds: dict[float, int] = {}
    for eviction in eureka["evictions"]:
        if eviction["zone"] == ZONES[0]:
            rounds[eviction["at"]] = eviction["count"]
    assert rounds == capped_rounds(len(plan_instances()), zone_leases, first=9.0)
    assert len(rounds) > 1  # the cap held some back: the window is the drain, not one round
    last = last_eviction(eureka)
    assert last == max(rounds)

    window = (math.floor(gorilla["at"]), math.floor(last + POLL + TIMEOUT))
    failed = {second: n for second, _, n in summary.entry_seconds if n}
    assert failed, "the gorilla failed no request: the window check would be vacuous"
    assert min(failed) == window[0]  # failures start with the gorilla...
    assert [
        s for s in failed if not window[0] <= s <= window[1]
    ] == []  # ...and end by eviction + poll + timeout
    assert sum(failed.values()) == summary.requests_failed_total
