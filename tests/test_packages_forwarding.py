"""elb, zuul, karyon and monolith: forward to a random route, or answer when there is none."""

from __future__ import annotations

from collections import Counter

import pytest

from fakes import FakeNetwork, Scripted, make_spec
from nanoservices.messages import Kind, Status

FORWARDERS = ["elb", "zuul", "karyon", "monolith"]


def _forwarder_with_backends(package: str, backends: int = 3) -> tuple[FakeNetwork, str, list[Scripted]]:
    net = FakeNetwork()
    front = make_spec("front", package, dependencies=("back",))
    net.add(front)
    specs = [make_spec("back", "karyon", i) for i in range(backends)]
    stubs = [net.add(spec, Scripted) for spec in specs]
    bystander = net.add(make_spec("other", "karyon"), Scripted)  # exists but is not a route
    net.set_routes(front.name, specs)
    net.start_all()
    return net, front.name, [*stubs, bystander]


@pytest.mark.parametrize("package", FORWARDERS)
def test_forwards_to_routes_only_and_relays_the_answer(package: str) -> None:
    net, front, stubs = _forwarder_with_backends(package)
    *backends, bystander = stubs
    answers = Counter()
    for _ in range(90):
        response = net.ask(front, Kind.GET_REQUEST, "why?")
        assert response.status == Status.OK
        assert response.sender == front  # relayed by the forwarder, not answered around it
        answers[response.payload] += 1
    assert set(answers) == {b.ctx.spec.name for b in backends}
    assert all(count > 10 for count in answers.values())
    assert bystander.received == []
    assert sum(len(b.received) for b in backends) == 90
    assert net.unanswered() == [] and net.outstanding_calls() == 0


@pytest.mark.parametrize("package", FORWARDERS)
def test_forwarded_failure_reaches_the_requester(package: str) -> None:
    net, front, stubs = _forwarder_with_backends(package, backends=1)
    stubs[0].default = ("", Status.TIMEOUT)
    assert net.ask(front, Kind.PUT, "k v").status == Status.TIMEOUT
    net.kill(stubs[0].ctx.spec.name)
    response = net.ask(front, Kind.PUT, "k v")
    assert (response.kind, response.status) == (Kind.PUT_RESPONSE, Status.DEAD_INSTANCE)


@pytest.mark.parametrize("package", FORWARDERS)
def test_no_route_fails_instead_of_dropping(package: str) -> None:
    net = FakeNetwork()
    front = make_spec("front", package, dependencies=("back",))
    net.add(front)
    net.start_all()
    for kind in (Kind.GET_REQUEST, Kind.PUT):
        assert net.ask(front.name, kind, "why?").status == Status.NO_ROUTE


@pytest.mark.parametrize("package", FORWARDERS)
def test_leaf_answers_gets_and_acks_puts(package: str) -> None:
    net = FakeNetwork()
    leaf = make_spec("leaf", package, 7)
    net.add(leaf)
    net.start_all()
    got = net.ask(leaf.name, Kind.GET_REQUEST, "why?")
    assert (got.kind, got.status, got.payload) == (Kind.GET_RESPONSE, Status.OK, "leaf07")
    put = net.ask(leaf.name, Kind.PUT, "Why11 me")
    assert (put.kind, put.status) == (Kind.PUT_RESPONSE, Status.OK)


def test_replicate_is_ignored() -> None:
    net, front, stubs = _forwarder_with_backends("elb")
    net.contexts[front].send(front, Kind.REPLICATE, "k v")
    net.run_until_idle()
    assert all(s.received == [] for s in stubs)
