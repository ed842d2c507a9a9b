"""staash: reads walk the storage classes in priority order, writes go to one member of each."""

from __future__ import annotations

from fakes import FakeNetwork, Scripted, make_spec
from nanoservices.messages import Kind, Status
from nanoservices.packages.staash import Staash

CLASSES = [
    ("cache", "cache"),
    ("vol", "volume"),
    ("cass", "priamCassandra"),
    ("riak", "riak"),
    ("db", "store"),
]


def _staash(
    with_classes: list[tuple[str, str]], per_class: int = 2
) -> tuple[FakeNetwork, str, dict[str, list]]:
    """A staash in front of Scripted stand-ins that answer "" (not found) unless told otherwise."""
    net = FakeNetwork()
    me = make_spec("subscriber", "staash", 3, dependencies=tuple(s for s, _ in with_classes))
    net.add(me)
    stubs: dict[str, list[Scripted]] = {}
    specs = []
    for service, package in with_classes:
        for i in range(per_class):
            spec = make_spec(service, package, i)
            stub = net.add(spec, Scripted)
            stub.default = ("", Status.OK)
            stubs.setdefault(service, []).append(stub)
            specs.append(spec)
    net.set_routes(me.name, specs)
    net.start_all()
    return net, me.name, stubs


def _gets(stubs: list[Scripted]) -> int:
    return sum(1 for s in stubs for m in s.received if m.kind == Kind.GET_REQUEST)


def test_classes_in_priority_order_with_riak_beside_cassandra() -> None:
    net, me, _ = _staash(list(reversed(CLASSES)))
    staash = net.behaviours[me]
    assert isinstance(staash, Staash)
    kinds = [{n.split(".")[-1] for n in members} for _, members in staash.classes]
    assert kinds == [{"cache"}, {"volume"}, {"priamCassandra", "riak"}, {"store"}]


def test_get_is_answered_by_the_first_class_that_has_the_key() -> None:
    net, me, stubs = _staash(CLASSES)
    for stub in stubs["cache"]:
        stub.answers["why?"] = ("cached", Status.OK)
    assert net.ask(me, Kind.GET_REQUEST, "why?").payload == "cached"
    assert _gets(stubs["cache"]) == 1
    assert all(_gets(stubs[s]) == 0 for s in ("vol", "cass", "riak", "db"))


def test_get_falls_through_not_found_to_the_next_class() -> None:
    net, me, stubs = _staash(CLASSES)
    for stub in stubs["db"]:
        stub.answers["Why11"] = ("me", Status.OK)
    response = net.ask(me, Kind.GET_REQUEST, "Why11")
    assert (response.status, response.payload) == (Status.OK, "me")
    # cache, volume, the cassandra/riak class (one member of it) and store were each asked once
    assert [_gets(stubs["cache"]), _gets(stubs["vol"]), _gets(stubs["cass"]) + _gets(stubs["riak"])] == [
        1,
        1,
        1,
    ]
    assert _gets(stubs["db"]) == 1


def test_get_not_found_anywhere_ends_with_an_empty_ok() -> None:
    net, me, stubs = _staash(CLASSES)
    response = net.ask(me, Kind.GET_REQUEST, "Why99")
    assert (response.kind, response.status, response.payload) == (Kind.GET_RESPONSE, Status.OK, "")
    assert sum(_gets(s) for s in stubs.values()) == 4  # one per class; riak shares cassandra's


def test_failures_fall_through_and_the_last_one_is_reported_when_nobody_answered() -> None:
    net, me, stubs = _staash([("cache", "cache"), ("db", "store")], per_class=1)
    stubs["cache"][0].default = ("", Status.TIMEOUT)
    stubs["db"][0].answers["k"] = ("v", Status.OK)
    assert net.ask(me, Kind.GET_REQUEST, "k").payload == "v"
    net.kill(stubs["db"][0].ctx.spec.name)
    assert net.ask(me, Kind.GET_REQUEST, "k").status == Status.DEAD_INSTANCE
    # one class said "not found", the other failed: the answer is "not found"
    stubs["cache"][0].default = ("", Status.OK)
    assert (net.ask(me, Kind.GET_REQUEST, "k").status, net.unanswered()) == (Status.OK, [])


def test_no_storage_at_all_is_no_route() -> None:
    net, me, _ = _staash([])
    assert net.ask(me, Kind.GET_REQUEST, "why?").status == Status.NO_ROUTE
    assert net.ask(me, Kind.PUT, "Why11 me").status == Status.NO_ROUTE


def test_put_goes_to_one_member_of_each_class_and_is_acked_after_all() -> None:
    net, me, stubs = _staash(CLASSES)
    response = net.ask(me, Kind.PUT, "Why11 me")
    assert (response.kind, response.status) == (Kind.PUT_RESPONSE, Status.OK)
    puts = {s: [m.payload for st in stubs[s] for m in st.received if m.kind == Kind.PUT] for s in stubs}
    assert puts["vol"] == ["subscriber03/Why11 me"]  # volumes get the key under my instance label
    assert puts["cache"] == puts["db"] == ["Why11 me"]
    assert len(puts["cass"]) + len(puts["riak"]) == 1


def test_put_reports_the_first_failure_once_every_copy_answered() -> None:
    net, me, stubs = _staash([("cache", "cache"), ("cass", "priamCassandra"), ("db", "store")], per_class=1)
    stubs["cass"][0].default = ("", Status.TIMEOUT)
    net.kill(stubs["db"][0].ctx.spec.name)
    outcomes = []
    net.call("client", me, Kind.PUT, "Why11 me", outcomes.append)
    net.run_until_idle()
    assert [o.status for o in outcomes] == [Status.TIMEOUT]
    assert len(stubs["cache"][0].received) == 1  # the healthy copy was still written
