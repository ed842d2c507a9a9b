"""store, cache and volume: answer reads, take writes, replicate to peers of their own package."""

from __future__ import annotations

import pytest

from fakes import FakeNetwork, make_spec
from nanoservices.messages import Kind, Status
from nanoservices.packages.store import Store


@pytest.mark.parametrize("package", ["store", "cache", "volume"])
def test_get_put_and_seed_data(package: str) -> None:
    net = FakeNetwork()
    spec = make_spec("db", package)
    net.add(spec)
    net.start_all()
    assert net.ask(spec.name, Kind.GET_REQUEST, "why?").payload == "because..."
    assert net.ask(spec.name, Kind.GET_REQUEST, "Why11").payload == ""
    put = net.ask(spec.name, Kind.PUT, "Why11 me")
    assert (put.kind, put.status) == (Kind.PUT_RESPONSE, Status.OK)
    assert net.ask(spec.name, Kind.GET_REQUEST, "Why11").payload == "me"
    assert net.ask(spec.name, Kind.PUT, "malformed").status == Status.OK  # acked, not stored


def test_self_dependent_store_replicates_each_write_to_its_peers_once() -> None:
    net = FakeNetwork()
    mysql = [make_spec("mysql", "store", i, dependencies=("mysql", "cache")) for i in range(3)]
    cache = make_spec("cache", "cache")
    for spec in [*mysql, cache]:
        net.add(spec)
    for spec in mysql:
        net.set_routes(spec.name, [*mysql, cache])
    net.start_all()
    net.ask(mysql[0].name, Kind.PUT, "Why24 you")
    replicas = net.sent(Kind.REPLICATE)
    assert sorted(m.target for m in replicas) == [mysql[1].name, mysql[2].name]  # not the cache
    for spec in mysql:
        store = net.behaviours[spec.name]
        assert isinstance(store, Store) and store.data["Why24"] == "you"
    assert "Why24" not in net.behaviours[cache.name].data  # type: ignore[attr-defined]
