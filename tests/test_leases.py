"""Eureka leases: renewals keep instances, the eviction timer drops the unrenewed after three
periods, self-preservation caps each round so a mass expiry drains over rounds, and a crashed
host's instances stay routable until then. Time is a fake clock the tests move; nothing sleeps."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from nanoservices.architecture import load_architecture
from nanoservices.config import RunConfig
from nanoservices.outputs.records import DoneRecord, ExitReason
from nanoservices.plan import expand
from nanoservices.registry import EXPIRY_PERIODS, RegistryState
from nanoservices.runtime.local import LocalRun
from nanoservices.runtime.stats import add_stats

ARCHITECTURES = Path(__file__).resolve().parents[1] / "architectures"


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def table(clock: Clock, n: int) -> RegistryState:
    state = RegistryState("zoneA", clock=clock)
    state.register([(f"a.r.zoneA.svc{i:02d}", "svc", i, "v1", "UP") for i in range(n)])
    state.renew([f"a.r.zoneA.svc{i:02d}" for i in range(n)], EXPIRY_PERIODS * 1.0)
    return state


def test_renewed_leases_stay_and_unrenewed_go_after_three_periods() -> None:
    clock = Clock()
    state = table(clock, 10)
    everyone = [f"a.r.zoneA.svc{i:02d}" for i in range(10)]
    evictions = []
    for _ in range(6):  # six periods of heartbeats from everyone but svc09
        clock.t += 1.0
        state.renew(everyone[:9], 3.0)
        evictions.append(state.evict())
    assert evictions == [[], [], [], ["a.r.zoneA.svc09"], [], []]
    assert "a.r.zoneA.svc09" not in state.statuses("svc")
    assert sorted(state.statuses("svc")) == everyone[:9]
    assert state.evicted == 1


def test_a_lease_expires_only_past_three_periods() -> None:
    clock = Clock()
    state = table(clock, 10)
    clock.t += 3.0
    state.renew([f"a.r.zoneA.svc{i:02d}" for i in range(9)], 3.0)
    assert state.evict() == []  # exactly three periods: still held
    clock.t += 0.001
    assert state.evict() == ["a.r.zoneA.svc09"]
    _, changes, _ = state.poll(["svc"], 0)
    assert [c for c in changes if not c[3]] == [("a.r.zoneA.svc09", "svc", 9, False, "v1")]


def test_self_preservation_caps_each_round_at_15_percent_and_a_lost_zone_drains_over_rounds() -> None:
    """A zone's worth of leases (7 of 20) expires at once: each round evicts at most
    n - int(n * 0.85) of the n online, the longest-unrenewed first, and the rest wait."""
    clock = Clock()
    state = table(clock, 20)
    names = [f"a.r.zoneA.svc{i:02d}" for i in range(20)]
    clock.t += 1.0
    state.renew(names[:13] + names[16:], 3.0)  # svc13-15 last renewed at 1000, svc16-19 at 1001
    clock.t += 0.5
    state.renew(names[:13], 3.0)  # svc16-19 go silent half a period later
    clock.t += 2.6  # 1004.1: all seven past three periods, svc13-15 the longest-unrenewed
    rounds = []
    for _ in range(4):  # eviction rounds one period apart; the 13 live ones keep renewing
        rounds.append(state.evict())
        clock.t += 1.0
        state.renew(names[:13], 3.0)
    # 20 online: 20 - 17 = 3; 17 online: 17 - int(14.45) = 3; 14 online: 14 - int(11.9) = 3
    assert rounds == [names[13:16], names[16:19], names[19:20], []]
    assert [n for _, n in state.rounds] == [3, 3, 1]
    assert [t for t, _ in state.rounds] == [1004.1, 1005.1, 1006.1]
    assert state.evicted == 7 and state.held_back == 4  # svc16-19 waited; svc19 for two rounds
    assert sorted(state.statuses("svc")) == names[:13]


def test_a_registry_that_lost_touch_with_everyone_keeps_85_percent_after_a_round() -> None:
    clock = Clock()
    state = table(clock, 20)
    clock.t += 3.5  # nobody renewed
    assert len(state.evict()) == 3
    assert state.online_count() == 17 and state.held_back == 17


def test_an_expiry_within_15_percent_goes_in_one_round() -> None:
    clock = Clock()
    state = table(clock, 20)
    clock.t += 3.5
    state.renew([f"a.r.zoneA.svc{i:02d}" for i in range(17)], 3.0)  # 3 of 20 silent: 15 %, not more
    assert state.evict() == ["a.r.zoneA.svc17", "a.r.zoneA.svc18", "a.r.zoneA.svc19"]
    assert state.held_back == 0


def test_no_self_preservation_margin_means_no_eviction() -> None:
    clock = Clock()
    state = RegistryState("zoneA", clock=clock, self_preservation=0.0)
    state.register([("a.r.zoneA.svc00", "svc", 0, "v1", "UP")])
    state.renew(["a.r.zoneA.svc00"], 3.0)
    clock.t += 3.5
    assert state.evict() == [] and state.held_back == 1 and state.rounds == []


def test_deregistered_instances_are_not_brought_back_by_a_heartbeat() -> None:
    clock = Clock()
    state = table(clock, 3)
    state.deregister(["a.r.zoneA.svc01"])
    assert state.renew(["a.r.zoneA.svc00", "a.r.zoneA.svc01"], 3.0) == 1
    assert sorted(state.statuses("svc")) == ["a.r.zoneA.svc00", "a.r.zoneA.svc02"]


def test_a_killed_hosts_instance_stays_routable_until_its_lease_expires() -> None:
    plan = expand(load_architecture(ARCHITECTURES / "netflixoss_arch.json"), 100, 1)
    victim = next(s.name for s in plan.instances if s.service == "homepage")
    config = RunConfig(arch=plan.arch, request_timeout=5.0, retries=0, lease_renewal=1.0, chaos=True)
    clock = Clock()

    def failed(run: LocalRun) -> int:
        totals: dict[str, object] = {}
        for i, host in enumerate(run.hosts):
            if i not in run.peers.dead:
                add_stats(totals, host.counts())
        return Counter(totals.get("requests_failed", {}))["dead_instance"]  # type: ignore[arg-type]

    async def period(run: LocalRun, ticks: int) -> int:
        """One renewal period: heartbeats from the live hosts, an eviction round, a poll, traffic."""
        clock.t += 1.0
        await asyncio.gather(*(h.renew_once() for i, h in enumerate(run.hosts) if i not in run.peers.dead))
        run.peers.evict()
        await run.poll()
        sources = [s.name for s in plan.instances if s.package == "denominator"]
        for _ in range(ticks):
            for name in sources:
                run.instance(name).behaviour.tick()  # type: ignore[attr-defined]
            await run.settle()
        return failed(run)

    async def scenario() -> tuple[LocalRun, list[int], list[bool], dict[str, object]]:
        run = LocalRun(plan, config, clock=clock)
        for registry in run.peers.registries:
            registry.clock = clock
        await run.start()
        assert await period(run, 50) == 0
        await run.chaos_kill(victim)
        seen, routable = [], []
        for _ in range(5):
            seen.append(await period(run, 100))
            routable.append(any(victim in run.peers.registries[r].statuses("homepage") for r in range(3)))
        return run, seen, routable, await run.finish()

    run, seen, routable, result = asyncio.run(scenario())
    # Periods 1-3 after the kill: the lease holds, callers keep choosing the victim and failing;
    # period 4 is past three periods: evicted before the poll, so nobody fails any more.
    assert routable == [True, True, True, False, False]
    assert seen[0] > 0 and seen[0] < seen[1] < seen[2]
    assert seen[2] == seen[3] == seen[4]
    done = [r.exit for r in run.peers.records if isinstance(r, DoneRecord) and r.name == victim]
    assert done == [ExitReason.CHAOS]
    # Every registry evicted its own replica of the lease, in the round 5 s into the traffic
    zones = [f"{r.region}/{r.zone}" for r in plan.registries]
    assert result.eureka == {
        "evicted": 3,
        "held_back": 0,
        "revived": 0,
        "per_registry": dict.fromkeys(zones, 1),
        "unanswered": [],
        "evictions": [
            {"at": 5.0, "registry": r.name, "zone": zone, "count": 1}
            for r, zone in sorted(zip(plan.registries, zones, strict=True), key=lambda rz: rz[1])
        ],
    }


def test_leases_are_renewed_through_a_slow_start_up() -> None:
    """Before the traffic starts no instance is running yet, but each registered one is alive:
    its host must keep renewing, or a start-up longer than a lease (one actor per instance takes
    about a minute here) lets live instances expire."""
    plan = expand(load_architecture(ARCHITECTURES / "lamp_arch.json"), 100, 1)
    clock = Clock()

    async def scenario() -> dict[str, float]:
        run = LocalRun(plan, RunConfig(arch=plan.arch, lease_renewal=1.0), clock=clock)
        for registry in run.peers.registries:
            registry.clock = clock
        await asyncio.gather(*(h.register_all() for h in run.hosts))
        clock.t += 10.0  # a long start-up: nothing has started yet
        await asyncio.gather(*(h.renew_once() for h in run.hosts))
        registry = run.peers.registries[0]
        return {name: registry._by_name[name].renewed for name in registry._by_name}

    renewed = asyncio.run(scenario())
    assert renewed and set(renewed.values()) == {clock.t}


def test_a_traffic_source_counts_the_seconds_it_ticked() -> None:
    """The summary's achieved rate divides by these seconds: from each source's start to its stop,
    not the run's clock, which also holds the hosts' start-up."""
    plan = expand(load_architecture(ARCHITECTURES / "netflixoss_arch.json"), 100, 1)
    sources = sum(1 for s in plan.instances if s.package == "denominator")
    clock = Clock()

    async def scenario() -> float:
        run = LocalRun(plan, RunConfig(arch=plan.arch), clock=clock)
        await run.start(traffic_timers=True)
        clock.t += 7.5
        for host in run.hosts:
            host.stop_traffic()
        clock.t += 2.0  # after the stop: not ticking
        for host in run.hosts:
            host.stop_traffic()
        return sum(host.stats.source_seconds for host in run.hosts)

    assert sources >= 1 and asyncio.run(scenario()) == 7.5 * sources


def test_an_instance_evicted_alive_is_back_at_its_next_heartbeat_with_its_status() -> None:
    """Heartbeats late on a busy machine: the lease ran out, the instance did not. Its next
    heartbeat brings it back (Eureka's client registers again on a 404; the server kept its status
    override), and a poll says so; an instance that deregistered stays down."""
    clock = Clock()
    state = table(clock, 10)
    state.set_status(["a.r.zoneA.svc08"], "OUT_OF_SERVICE")
    clock.t += 3.5
    state.renew([f"a.r.zoneA.svc{i:02d}" for i in range(8)], 3.0)
    assert state.evict() == ["a.r.zoneA.svc08", "a.r.zoneA.svc09"]
    stamp, _, _ = state.poll(["svc"], 0)
    state.deregister(["a.r.zoneA.svc00"])
    assert state.renew(["a.r.zoneA.svc00", "a.r.zoneA.svc08", "a.r.zoneA.svc09"], 3.0) == 2
    assert state.revived == 2
    assert state.statuses("svc")["a.r.zoneA.svc08"] == ("v1", "OUT_OF_SERVICE")
    _, changes, _ = state.poll(["svc"], stamp)
    assert sorted(c[0::3] for c in changes) == [
        ("a.r.zoneA.svc00", False),
        ("a.r.zoneA.svc08", False),  # back, but still out of service: not routable
        ("a.r.zoneA.svc09", True),
    ]
    clock.t += 3.5  # the revived leases expire like any other
    assert state.evict() == ["a.r.zoneA.svc01", "a.r.zoneA.svc02"]  # the cap: 2 of 9 online


def test_a_late_eviction_timer_judges_leases_as_of_when_it_was_due() -> None:
    """The machine was busy: the timer woke 0.8 s late, and so did the heartbeats. Eureka's
    compensation: what had not expired when the round was due is not evicted for the delay."""
    clock = Clock()
    state = table(clock, 10)
    clock.t += 3.5
    assert state.evict(compensation=0.8) == []
    due_at_3_1 = state.evict(compensation=0.4)  # expired then: the cap of 2 go
    assert due_at_3_1 == ["a.r.zoneA.svc00", "a.r.zoneA.svc01"]
