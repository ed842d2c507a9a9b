"""Hystrix's breaker and Ribbon's blackout and zone-aware choice, driven by scripted outcomes on
a clock the test moves: no Ray, no event loop, no sleeps."""

from __future__ import annotations

import random

from nanoservices.packages.base import Peer
from nanoservices.runtime.resilience import CLOSED, HALF_OPEN, MIN_REQUESTS, OPEN, Blackouts, Breaker, choose


def test_the_breaker_stays_closed_below_20_requests_whatever_their_errors() -> None:
    breaker = Breaker()
    breaker.roll(0.0)
    changes = [breaker.failed(0.1) for _ in range(19)]
    assert changes == [None] * 19 and breaker.state == CLOSED and breaker.allow(0.0)


def test_the_breaker_opens_at_half_errors_over_20_half_opens_after_5s_and_closes_on_a_success() -> None:
    breaker = Breaker()
    breaker.roll(0.0)
    outcomes = [breaker.ok() for _ in range(10)] + [breaker.failed(1.0) for _ in range(9)]
    assert outcomes == [None] * 19
    assert breaker.failed(1.0) == OPEN  # the 20th request, the 10th error: 50 %
    assert not breaker.allow(5.9)  # short-circuited
    assert breaker.roll(5.9) is None and breaker.state == OPEN
    assert breaker.roll(6.0) == HALF_OPEN
    assert breaker.allow(6.0) and not breaker.allow(6.0)  # one trial only
    assert breaker.failed(6.1) == OPEN  # the trial failed: open again for 5 s
    assert breaker.roll(11.0) is None and breaker.state == OPEN
    assert breaker.allow(11.1) and breaker.state == HALF_OPEN  # a request after the sleep is the trial
    assert not breaker.allow(11.1)
    assert breaker.ok() == CLOSED
    assert breaker.allow(0.0) and [breaker.failed(12.0) for _ in range(19)] == [None] * 19  # window reset


def test_errors_older_than_the_10s_window_do_not_count() -> None:
    breaker = Breaker()
    breaker.roll(0.0)
    for _ in range(15):
        breaker.failed(0.5)
    breaker.roll(10.5)  # the bucket of those errors has left the window
    assert [breaker.failed(10.6) for _ in range(15)] == [None] * 15
    for _ in range(4):
        breaker.ok()
    assert breaker.failed(10.7) == OPEN  # 16 errors of 20 in this window


def test_a_server_is_blacked_out_after_3_consecutive_failures_and_a_success_clears_it() -> None:
    out = Blackouts()
    assert [out.failure("s1", 0.0), out.failure("s1", 0.0)] == [False, False]
    out.success("s1")
    assert [out.failure("s1", 1.0) for _ in range(3)] == [False, False, True]
    assert out.out("s1", 10.9) and not out.out("s1", 11.0)
    assert out.failure("s1", 11.0) is True and out.until["s1"] == 31.0  # 4th: 20 s
    out.success("s1")
    assert not out.out("s1", 12.0) and out.failing == {}


def peers(*where: tuple[str, str]) -> list[Peer]:
    return [Peer(name, "svc", "pkg", "r", zone) for name, zone in where]


def test_zone_aware_choice_prefers_the_callers_zone_and_avoids_a_failing_one() -> None:
    servers = peers(("a1", "zoneA"), ("a2", "zoneA"), ("b1", "zoneB"), ("c1", "zoneC"))
    out = Blackouts()
    rng = random.Random(1)
    assert {choose(servers, ("a1",), "zoneA", out, 0.0, rng) for _ in range(20)} == {"a2"}
    out.failure("a2", 0.0)  # every zoneA server left is failing: go elsewhere
    assert {choose(servers, ("a1",), "zoneA", out, 0.0, rng) for _ in range(40)} == {"b1", "c1"}
    for _ in range(3):
        out.failure("b1", 0.0)  # blacked out
    assert {choose(servers, ("a1",), "zoneA", out, 0.0, rng) for _ in range(20)} == {"c1"}
    assert choose(servers, ("a1", "a2", "b1", "c1"), "zoneA", out, 0.0, rng) is None


def test_a_trial_that_never_ends_lets_the_next_one_through_5s_later() -> None:
    breaker = Breaker()
    breaker.roll(0.0)
    assert [breaker.failed(1.0) for _ in range(MIN_REQUESTS)][-1] == OPEN
    assert breaker.allow(6.0) and breaker.state == HALF_OPEN  # the trial, never answered
    assert not breaker.allow(10.9)
    assert breaker.allow(11.0) and breaker.state == HALF_OPEN
