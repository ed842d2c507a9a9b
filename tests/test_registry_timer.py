"""The eviction timer a Eureka server runs (registry.EvictionTimer, which the Ray actor drives on its
event loop): the first heartbeat sets its period, each round forwards the period's heartbeats and
evicts, and a round woken late judges leases as of when it was due. The fake-clock version of the
Ray test with real 1.5 s leases (tests/test_registry_actor.py): every time here is exact."""

from __future__ import annotations

from nanoservices.registry import EXPIRY_PERIODS, EvictionTimer, RegistryState

NAMES = [f"a.r.zoneA.svc{i:02d}" for i in range(10)]
LEASE = 1.5  # the Ray test's: the timer runs every 0.5 s


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def server(name: str, clock: Clock) -> RegistryState:
    state = RegistryState(name, clock=clock)
    state.register([(n, "svc", i, "v1", "UP") for i, n in enumerate(NAMES)])
    return state


def test_the_timer_runs_every_third_of_the_lease_from_the_first_heartbeat() -> None:
    state = server("zoneA", Clock())
    timer = EvictionTimer(state, LEASE, now=8.0)
    assert timer.interval == LEASE / EXPIRY_PERIODS == 0.5
    assert (timer.wait(8.0), timer.wait(8.25), timer.wait(9.0)) == (0.5, 0.25, 0.0)
    timer.fire(8.75)
    assert timer.wait(8.75) == 0.5  # the next round a period after this one, late or not


def test_the_unrenewed_lease_goes_on_both_servers_in_the_round_after_it_ran_out() -> None:
    """Two servers of a region, as the Ray test wires them: heartbeats go to the first, which
    forwards them to the second once a round, and the first forwarded one starts the second's
    timer. svc09 was renewed at 0 only: on the first its lease holds until 1.5, so the round at
    1.5 keeps it and the round at 2.0 evicts it; the second heard that heartbeat at 0.5, so it
    evicts svc09 a round later. The rest stay on both."""
    clock = Clock()
    first, second = server("zoneA", clock), server("zoneB", clock)
    first.renew(NAMES, LEASE)
    timer_a = EvictionTimer(first, LEASE, clock.t)
    timer_a.heard(NAMES)
    timer_b: EvictionTimer | None = None
    evicted: dict[float, tuple[list[str], list[str]]] = {}
    for step in range(1, 8):
        clock.t = step * timer_a.interval
        forward, gone_a = timer_a.fire(clock.t)
        gone_b: list[str] = []
        if timer_b is not None:
            gone_b = timer_b.fire(clock.t)[1]
        if forward:  # replicate_renew on the peer
            timer_b = timer_b or EvictionTimer(second, LEASE, clock.t)
            second.renew(forward, LEASE)
        first.renew(NAMES[:9], LEASE)  # a host's heartbeat for the rest, once a period
        timer_a.heard(NAMES[:9])
        evicted[clock.t] = (gone_a, gone_b)

    assert evicted == {
        0.5: ([], []),
        1.0: ([], []),
        1.5: ([], []),  # exactly at its end a lease still holds
        2.0: ([NAMES[9]], []),
        2.5: ([], [NAMES[9]]),
        3.0: ([], []),
        3.5: ([], []),
    }
    for state, when in ((first, 2.0), (second, 2.5)):
        assert sorted(state.statuses("svc")) == NAMES[:9]
        assert (state.evicted, state.held_back, state.rounds) == (1, 0, [(when, 1)])


def test_each_round_forwards_the_heartbeats_heard_since_the_last_once_and_sorted() -> None:
    clock = Clock()
    state = server("zoneA", clock)
    timer = EvictionTimer(state, LEASE, clock.t)
    timer.heard([NAMES[3], NAMES[1]])
    timer.heard([NAMES[1]])
    assert timer.fire(0.5)[0] == [NAMES[1], NAMES[3]]
    assert timer.fire(1.0)[0] == []


def test_a_round_woken_late_judges_leases_as_of_when_it_was_due() -> None:
    """Leases renewed at 0 hold until 1.5. The round due at 1.5 wakes at 1.7 on a busy machine: as
    of 1.5 nothing had expired, so nothing goes for the delay (at 1.7 all had); the round due at
    2.2 evicts."""
    clock = Clock()
    state = server("zoneA", clock)
    state.renew(NAMES, LEASE)
    timer = EvictionTimer(state, LEASE, clock.t)
    clock.t = 1.0
    assert timer.fire(1.0) == ([], [])  # due at 0.5, woken 0.5 s late: judged as of 0.5
    assert timer.due == 1.5
    clock.t = 1.7
    assert timer.fire(1.7) == ([], [])
    assert timer.due == 2.2
    clock.t = 2.2
    assert timer.fire(2.2)[1] == NAMES[:2]  # all expired; the cap: 15 % of 10 online, by name
