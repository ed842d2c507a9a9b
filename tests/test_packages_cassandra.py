"""priamCassandra and riak: ring ownership, forwarding to the owner, two-level replication."""

from __future__ import annotations

from fakes import FakeNetwork, make_spec, plan_for
from nanoservices.messages import Kind, Status
from nanoservices.naming import REGION, ZONE, field
from nanoservices.packages.priam_cassandra import PriamCassandra
from nanoservices.plan import ring_owner


def _cassandra(net: FakeNetwork) -> dict[str, PriamCassandra]:
    return {n: b for n, b in net.behaviours.items() if isinstance(b, PriamCassandra)}


def _key_owned_by(ring: tuple[tuple[str, int], ...], owner: str) -> str:
    return next(k for k in (f"Why{i}{i * i}" for i in range(1, 200)) if ring_owner(ring, k) == owner)


def _where(name: str) -> tuple[str, str]:
    return field(name, REGION), field(name, ZONE)


def _ring_pair(net: FakeNetwork) -> tuple[str, str, tuple[tuple[str, int], ...]]:
    """The two members of us-east-1 zoneA's ring: (token 0 member, token 2^31-1 member, ring)."""
    first = next(n for n in _cassandra(net) if _where(n) == ("us-east-1", "zoneA"))
    ring = net.contexts[first].spec.ring
    return ring[0][0], ring[1][0], ring


def test_owner_answers_reads_and_stores_writes_itself() -> None:
    net = FakeNetwork.from_plan(plan_for("netflixoss"))
    low, high, ring = _ring_pair(net)
    for owner in (low, high):
        key = _key_owned_by(ring, owner)
        assert net.ask(owner, Kind.PUT, f"{key} me").status == Status.OK
        assert _cassandra(net)[owner].data[key] == "me"
        assert net.ask(owner, Kind.GET_REQUEST, key).payload == "me"
    assert net.ask(low, Kind.GET_REQUEST, "why?").payload == "because..."
    assert net.unanswered() == []


def test_non_owner_forwards_to_the_owner_and_relays_its_answer() -> None:
    net = FakeNetwork.from_plan(plan_for("netflixoss"))
    low, high, ring = _ring_pair(net)
    key = _key_owned_by(ring, high)
    put = net.ask(low, Kind.PUT, f"{key} there")
    assert (put.status, put.sender) == (Status.OK, low)
    assert key not in _cassandra(net)[low].data and _cassandra(net)[high].data[key] == "there"
    get = net.ask(low, Kind.GET_REQUEST, key)
    assert (get.payload, get.sender) == ("there", low)
    forwarded = [m for m in net.sent(Kind.GET_REQUEST, sender=low) if m.payload == key]
    assert [m.target for m in forwarded] == [high]


def test_unknown_owner_is_no_route() -> None:
    net = FakeNetwork.from_plan(plan_for("netflixoss"))
    low, high, ring = _ring_pair(net)
    net.set_routes(low, [])
    key = _key_owned_by(ring, high)
    assert net.ask(low, Kind.GET_REQUEST, key).status == Status.NO_ROUTE
    assert net.ask(low, Kind.PUT, f"{key} v").status == Status.NO_ROUTE


def test_write_replicates_to_one_node_in_each_other_zone_of_the_region() -> None:
    net = FakeNetwork.from_plan(plan_for("netflixoss"))
    low, _, ring = _ring_pair(net)
    key = _key_owned_by(ring, low)
    net.ask(low, Kind.PUT, f"{key} me")
    copies = net.sent(Kind.REPLICATE, sender=low)
    assert sorted(_where(m.target) for m in copies) == [("us-east-1", "zoneB"), ("us-east-1", "zoneC")]
    # same-region copies are not copied again; each zone's owner ends up with the value
    assert 2 <= len(net.sent(Kind.REPLICATE)) <= 4
    owners = {ring_owner(c.ctx.spec.ring, key) for c in _cassandra(net).values()}
    assert len(owners) == 3 and all(_cassandra(net)[o].data.get(key) == "me" for o in owners)


def test_cross_region_write_reaches_every_zone_owner_of_both_regions() -> None:
    net = FakeNetwork.from_plan(plan_for("netflixoss", regions=2))
    assert net.settings.regions == 2
    low, _, ring = _ring_pair(net)
    key = _key_owned_by(ring, low)
    net.ask(low, Kind.PUT, f"{key} far")
    first = sorted(_where(m.target) for m in net.sent(Kind.REPLICATE, sender=low))
    assert [w for w in first if w[0] == "us-east-1"] == [("us-east-1", "zoneB"), ("us-east-1", "zoneC")]
    remote = [w for w in first if w[0] == "us-west-2"]
    assert len(remote) == 1
    # the remote receiver copies it once more to the two other zones of its region
    receiver = next(
        m.target for m in net.sent(Kind.REPLICATE, sender=low) if _where(m.target)[0] == "us-west-2"
    )
    again = sorted(
        _where(m.target) for m in net.sent(Kind.REPLICATE, sender=receiver) if m.payload == f"{key} far"
    )
    expected = sorted(("us-west-2", z) for z in ("zoneA", "zoneB", "zoneC") if z != _where(receiver)[1])
    assert [w for w in again if w in expected] == expected
    owners = {ring_owner(c.ctx.spec.ring, key) for c in _cassandra(net).values()}
    assert len(owners) == 6
    assert all(_cassandra(net)[o].data.get(key) == "far" for o in owners)


def test_riak_without_a_ring_stores_everything_locally() -> None:
    net = FakeNetwork()
    nodes = [make_spec("riak", "riak", i, zone=z) for i, z in enumerate(("zoneA", "zoneB"))]
    for spec in nodes:
        net.add(spec)
        net.set_routes(spec.name, nodes)
    net.start_all()
    assert net.ask(nodes[0].name, Kind.PUT, "Why11 me").status == Status.OK
    assert [m.target for m in net.sent(Kind.REPLICATE)] == [nodes[1].name]
    for spec in nodes:
        assert net.ask(spec.name, Kind.GET_REQUEST, "Why11").payload == "me"
    assert net.ask(nodes[0].name, Kind.PUT, "only-one-word").status == Status.OK
