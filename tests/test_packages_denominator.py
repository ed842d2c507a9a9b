"""denominator: one request per tick to a random route, a third each of three request shapes."""

from __future__ import annotations

from collections import Counter

from fakes import FakeNetwork, Scripted, make_spec
from nanoservices.messages import Kind
from nanoservices.packages.base import BehaviourSettings

TICKS = 3000


def _denominator(routes: int = 3, seed: str = "test") -> tuple[FakeNetwork, str, list[Scripted]]:
    net = FakeNetwork(BehaviourSettings(request_interval=0.25), seed=seed)
    dns = make_spec("www", "denominator", region="*", zone="*", dependencies=("elb",))
    net.add(dns)
    specs = [make_spec("elb", "elb", i) for i in range(routes)]
    stubs = [net.add(spec, Scripted) for spec in specs]
    net.set_routes(dns.name, specs)
    net.start_all()
    return net, dns.name, stubs


def _shape(kind: Kind, payload: str) -> str:
    if kind == Kind.PUT:
        return "put"
    return "why?" if payload == "why?" else "old key"


def test_ticks_at_the_configured_interval() -> None:
    net, dns, _ = _denominator()
    assert [interval for interval, _ in net.timers[dns]] == [0.25]


def test_request_mix_is_a_third_each_and_routes_are_uniform() -> None:
    net, dns, stubs = _denominator()
    net.tick(dns, TICKS)
    requests = [m for s in stubs for m in s.received]
    assert len(requests) == TICKS == net.issued[dns]
    shapes = Counter(_shape(m.kind, m.payload) for m in requests)
    assert set(shapes) == {"why?", "old key", "put"}
    assert all(0.28 * TICKS < n < 0.39 * TICKS for n in shapes.values()), shapes
    assert all(0.28 * TICKS < len(s.received) < 0.39 * TICKS for s in stubs)


def test_put_keys_follow_spigo_and_reads_only_ask_for_earlier_keys() -> None:
    net, dns, stubs = _denominator(routes=1)
    net.tick(dns, 300)
    requests = stubs[0].received
    puts = [m.payload for m in requests if m.kind == Kind.PUT]
    assert puts[:4] == ["Why11 me", "Why24 me", "Why39 me", "Why416 me"]
    written = 0
    for m in requests:
        if m.kind == Kind.PUT:
            written += 1
        elif m.payload != "why?":  # an earlier key: q < w, where w is one more than the writes so far
            q, square = _split(m.payload)
            assert 0 <= q <= written and square == q * q


def _split(key: str) -> tuple[int, int]:
    """Why<q><q*q> back into q and q*q (q is the shortest prefix whose square follows it)."""
    digits = key[3:]
    for cut in range(1, len(digits)):
        q = int(digits[:cut])
        if digits[cut:] == str(q * q):
            return q, q * q
    raise AssertionError(f"not a Why key: {key}")


def test_no_routes_no_traffic_and_every_denominator_chats() -> None:
    net = FakeNetwork()
    lonely = make_spec("dns", "denominator", 0, region="*", zone="*")
    other = make_spec("dns", "denominator", 1, region="*", zone="*")
    net.add(lonely)
    net.add(other)
    net.start_all()
    assert set(net.timers) == {lonely.name, other.name}  # not only the last one created
    net.tick(lonely.name, 10)
    assert net.issued[lonely.name] == 0
