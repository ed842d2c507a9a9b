"""End to end on netflixoss: every request the denominator issues ends exactly once."""

from __future__ import annotations

from collections import Counter

from fakes import FakeNetwork, plan_for
from nanoservices.messages import Kind, Status

TICKS = 300


def _run(net: FakeNetwork, dns: str, ticks: int) -> Counter[Status]:
    net.tick(dns, ticks)
    return Counter({status: n for (caller, status), n in net.outcomes.items() if caller == dns})


def _denominator(net: FakeNetwork) -> str:
    return next(n for n, ctx in net.contexts.items() if ctx.spec.package == "denominator")


def test_every_request_ends_once_on_a_healthy_netflixoss() -> None:
    net = FakeNetwork.from_plan(plan_for("netflixoss"))
    dns = _denominator(net)
    outcomes = _run(net, dns, TICKS)
    assert net.issued[dns] == TICKS == sum(outcomes.values())
    assert outcomes == {Status.OK: TICKS}
    assert net.unanswered() == [] and net.outstanding_calls() == 0
    answers = Counter(m.payload for m in net.delivered if m.kind == Kind.GET_RESPONSE and m.target == dns)
    assert answers["because..."] > 0 and answers["me"] > 0  # seed data and earlier writes come back
    # the request went all the way down: elb -> zuul -> karyon -> staash -> storage
    packages = {net.contexts[m.target].spec.package for m in net.delivered if m.is_request}
    assert packages == {"elb", "zuul", "karyon", "staash", "priamCassandra", "store"}


def test_every_request_ends_once_with_a_killed_homepage() -> None:
    net = FakeNetwork.from_plan(plan_for("netflixoss"))
    dns = _denominator(net)
    victim = next(n for n, ctx in net.contexts.items() if ctx.spec.service == "homepage")
    _run(net, dns, TICKS // 3)
    net.kill(victim)
    outcomes = _run(net, dns, TICKS - TICKS // 3)
    assert net.issued[dns] == TICKS == outcomes[Status.OK] + outcomes[Status.DEAD_INSTANCE]
    assert outcomes[Status.DEAD_INSTANCE] > 0
    assert net.unanswered() == [] and net.outstanding_calls() == 0


def test_a_kill_while_requests_are_in_flight_still_ends_them() -> None:
    net = FakeNetwork.from_plan(plan_for("netflixoss"))
    dns = _denominator(net)
    victims = [n for n, ctx in net.contexts.items() if ctx.spec.service in ("homepage", "subscriber")]
    victims = victims[::2] + victims[1::2]  # mix the tiers: kill some of each
    for round_ in range(30):
        for _, tick in net.timers[dns]:
            for _ in range(10):
                tick()
        net.step(7)  # stop half-way through the hops
        net.kill(victims[round_])
        net.run_until_idle()
    outcomes = Counter({s: n for (c, s), n in net.outcomes.items() if c == dns})
    assert sum(outcomes.values()) == net.issued[dns] == 300
    assert outcomes[Status.DEAD_INSTANCE] > 0
    assert net.unanswered() == [] and net.outstanding_calls() == 0


def test_two_regions_with_forgotten_instances_end_every_request() -> None:
    net = FakeNetwork.from_plan(plan_for("netflixoss", regions=2))
    dns = _denominator(net)
    for name, ctx in list(net.contexts.items()):
        if ctx.spec.service == "homepage" and ctx.spec.region == "us-west-2":
            net.kill(name, forget=True)
    outcomes = _run(net, dns, TICKS)
    assert net.issued[dns] == TICKS == sum(outcomes.values())
    assert set(outcomes) <= {Status.OK, Status.NO_ROUTE}  # forgotten, so never called while dead
    crossed = [m for m in net.sent(Kind.REPLICATE) if m.sender.split(".")[1] != m.target.split(".")[1]]
    assert crossed  # cassandra writes reached the other region
