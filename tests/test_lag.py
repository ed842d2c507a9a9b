"""Simulator lag: per-second probes, episodes across hosts, and the probe loop on virtual time."""

from __future__ import annotations

import asyncio

import pytest

from nanoservices.runtime.lag import LagEpisode, LagProbe, affected_share, episodes, probe_loop
from support import virtual_time


def test_probe_closes_seconds_with_p99_and_worst() -> None:
    probe = LagProbe()
    for i in range(20):
        probe.record(10 + i * 0.05, 0.001)
    probe.record(10.99, 0.2)
    probe.record(11.0, 0.0)  # opens second 11, closes 10
    taken = probe.take()
    assert list(taken) == [10]
    p99, worst = taken[10]
    assert worst == pytest.approx(0.2)
    assert p99 == pytest.approx(0.2)  # 21 samples: the p99 is the highest
    assert probe.take() == {}
    assert list(probe.flush()) == [11]


def test_episodes_join_consecutive_seconds_across_hosts() -> None:
    quiet = (0.001, 0.002)
    busy = (0.05, 0.3)
    per_host = {
        "h0": {1: quiet, 2: busy, 3: quiet, 4: quiet, 7: busy},
        "h1": {1: quiet, 2: quiet, 3: (0.03, 0.1), 4: quiet},
    }
    assert episodes(per_host) == [
        LagEpisode(start=2, end=4, worst=0.3, hosts=("h0", "h1")),
        LagEpisode(start=7, end=8, worst=0.3, hosts=("h0",)),
    ]
    assert affected_share(episodes(per_host), 10) == pytest.approx(0.3)


def test_the_share_counts_only_the_traffic_seconds_of_an_episode() -> None:
    """A red/black at -K 1 lagged from second 2 to the hosts' shutdown (episode 2-27) in a run of
    24.34 s of traffic: the share is 22.34 / 24.34, not all of it."""
    episode = LagEpisode(start=2, end=27, worst=0.6, hosts=("h0",))
    assert affected_share([episode], 24.34) == pytest.approx(22.34 / 24.34)
    assert affected_share([LagEpisode(start=30, end=31, worst=0.1, hosts=("h0",))], 24.34) == 0.0


def test_quiet_hosts_make_no_episode() -> None:
    assert episodes({"h0": {s: (0.001, 0.019) for s in range(30)}}) == []


def test_probe_loop_measures_a_blocked_loop() -> None:
    """A callback that blocks the loop for 0.3 s of (virtual) time shows as a 0.3 s late probe."""
    probe = LagProbe()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.create_task(probe_loop(probe, loop.time, interval=0.05))
        await asyncio.sleep(1.02)
        jump = loop._selector  # type: ignore[attr-defined]  # the virtual clock's selector
        jump.now += 0.3  # the loop was busy for 0.3 s: every timer due meanwhile fires late
        await asyncio.sleep(1.0)
        task.cancel()

    virtual_time.run(main())
    worst = max(w for _, w in probe.flush().values())
    assert worst == pytest.approx(0.3, abs=0.05)
