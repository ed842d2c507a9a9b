"""The fake network itself: it must catch the contract breaches the behaviour tests rely on it to."""

from __future__ import annotations

import pytest

from fakes import ContractError, FakeNetwork, Scripted, make_spec, plan_for, visible_dependencies
from nanoservices.messages import Kind, Message, Status
from nanoservices.packages.base import Behaviour


class _Twice(Behaviour):
    def on_message(self, msg: Message) -> None:
        self.ctx.reply(msg, "once")
        self.ctx.reply(msg, "twice")


class _Never(Behaviour):
    def on_message(self, msg: Message) -> None:
        pass


def test_answering_twice_is_a_contract_error() -> None:
    net = FakeNetwork()
    spec = make_spec("bad", "karyon")
    net.add(spec, _Twice)
    with pytest.raises(ContractError):
        net.ask(spec.name, Kind.GET_REQUEST, "why?")


def test_a_request_never_answered_is_visible() -> None:
    net = FakeNetwork()
    spec = make_spec("silent", "karyon")
    net.add(spec, _Never)
    net.call("client", spec.name, Kind.GET_REQUEST, "why?", lambda _: None)
    net.run_until_idle()
    assert [m.payload for m in net.unanswered()] == ["why?"] and net.outstanding_calls() == 1


def test_dead_and_unknown_targets_fail_requests_and_swallow_one_way_messages() -> None:
    net = FakeNetwork()
    spec = make_spec("gone", "store")
    stub = net.add(spec, Scripted)
    net.kill(spec.name)
    assert net.ask(spec.name, Kind.GET_REQUEST, "why?").status == Status.DEAD_INSTANCE
    assert net.ask("nobody", Kind.PUT, "k v").status == Status.DEAD_INSTANCE
    net.contexts[spec.name].send(spec.name, Kind.REPLICATE, "k v")
    net.run_until_idle()
    assert stub.received == []


def test_simple_discovery_rule_on_netflixoss() -> None:
    plan = plan_for("netflixoss")
    by_service: dict[str, list] = {}
    for spec in plan.instances:
        by_service.setdefault(spec.service, []).append(spec)
    zuul = by_service["wwwproxy"][0]
    seen = visible_dependencies(zuul, plan.instances)
    assert seen and all(s.zone == zuul.zone and s.service in ("login", "homepage") for s in seen)
    staash = by_service["subscriber"][0]
    assert {s.service for s in visible_dependencies(staash, plan.instances)} == {
        "cassSubscriber",
        "evcacheSubscriber",
    }
    cass = by_service["cassSubscriber"][0]
    assert len(visible_dependencies(cass, plan.instances)) == len(by_service["cassSubscriber"]) - 1
