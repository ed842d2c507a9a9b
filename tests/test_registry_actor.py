"""The Eureka actor wires its eviction timer, on Ray: the first heartbeat starts it, heartbeats
replicate to the region's peer, and the lease nobody renews is evicted on both servers while the
renewed ones stay. Waits on the registries' counts, never on a sleep. The timer's rounds, exactly
and on a fake clock, are tests/test_registry_timer.py's."""

from __future__ import annotations

import time

import ray

from nanoservices.runtime.registry_actor import Registry

NAMES = [f"a.r.zoneA.svc{i:02d}" for i in range(10)]
BOUND = 60.0  # seconds: a hang guard, not a timing assertion


def test_the_eviction_timer_drops_the_unrenewed_lease_on_every_server(ray_local: object) -> None:
    first, second = Registry.remote("zoneA"), Registry.remote("zoneB")  # type: ignore[attr-defined]
    ray.get([first.wire.remote([second]), second.wire.remote([first])])
    ray.get(first.register.remote([(name, "svc", i, "v1", "UP") for i, name in enumerate(NAMES)]))
    ray.get(first.renew.remote(NAMES, 1.5))  # leases of 1.5 s: the timer runs every 0.5 s
    give_up = time.monotonic() + BOUND
    while ray.get([first.online_count.remote(), second.online_count.remote()]) != [9, 9]:
        assert time.monotonic() < give_up, "svc09's lease never expired"
        ray.get(first.renew.remote(NAMES[:9], 1.5))  # a host's heartbeat for the rest
    for registry in (first, second):
        _, changes, _ = ray.get(registry.poll.remote(["svc"], 0))
        assert sorted(name for name, _, _, routable, _ in changes if not routable) == [NAMES[9]]
        assert ray.get(registry.lease_counts.remote())["evicted"] >= 1  # by the timer, not a deregister
    for registry in (first, second):
        ray.kill(registry)
